"""Peer-to-peer scheduling and reconsideration over the case service (issue 12, items 1 and 3).

Slots come from the reviewers' hours (mappings/reviewers.yaml) less the bookings; a booking, its
case event and the provider's confirmation commit in one transaction, and the database's unique
(reviewer, slot) pair refuses a double booking that raced past the check. The reviewer's outcome
goes through the case service like any determination: an approval (on a denied case, after the
denial is re-opened) through `Core.decide`, so letters, the payer feed and notifications are
planned as always. The rules are gateway.domain.peer_to_peer's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.domain.case import Case, CaseStatus, Determination
from gateway.domain.peer_to_peer import (
    History,
    Mode,
    Outcome,
    PostDecisionRefused,
    Reviewer,
    check_zone,
    free_slots,
    in_zone,
    outcome_problem,
    peer_to_peer_mode,
    requesting_provider_zone,
    slot_problem,
    spoken_time,
)
from gateway.domain.policy import PlanPolicy
from gateway.domain.reviewer import InvalidDecision, ReviewerDecision
from gateway.service.core import Core, StoredCase
from gateway.service.transitions import CaseNotFound, InvalidTransition
from gateway.store.db import writing
from gateway.store.models import CaseEventRow, CaseRow, PeerToPeerBookingRow
from gateway.store.outbox import JobSpec

log = logging.getLogger("gateway.store.peer_to_peer")

# (case, its current determination, the appointment) -> the confirmation jobs.
Confirmations = Callable[[Case, Determination, dict[str, Any]], Sequence[JobSpec]]

__all__ = [
    "BookingNotFound",
    "PeerToPeer",
    "PostDecisionRefused",
    "SlotRefused",
    "SlotTaken",
]


# Subclasses of the case service's errors, so the audit counts them as the caller's (refused).
class SlotTaken(InvalidTransition):
    """The reviewer's slot is booked already (409)."""


class SlotRefused(InvalidDecision):
    """Not a slot that can be booked: in the past, outside the reviewer's hours (422)."""


class BookingNotFound(CaseNotFound):
    """No such booking on this case (404)."""


@dataclass(frozen=True)
class _Context:
    case: Case
    determination: Determination
    plan: PlanPolicy
    line_of_business: str
    history: History


class PeerToPeer:
    def __init__(self, core: Core, *, confirmations: Confirmations | None = None):
        """`core`: the case service (its ports carry the reviewers); `confirmations`: the
        notify planner of the provider's confirmation (wired by gateway.wiring)."""
        self.core = core
        self.reviewers: dict[str, Reviewer] = {r.id: r for r in core.ports.reviewers}
        self.confirmations = confirmations

    # -- reading ----------------------------------------------------------------------------

    def _context(self, stored: StoredCase) -> _Context:
        determination = stored.determination
        if determination is None or not determination.plan_id:
            raise PostDecisionRefused("NO_PLAN", f"case {stored.case.id} has no plan")
        plan = self.core.ports.plans[determination.plan_id]
        enrollment = self.core.ports.eligibility.enrollment(stored.case.member.member_id)
        lob = enrollment.line_of_business if enrollment else ""
        history = History.from_events(stored.events, stored.case)
        return _Context(stored.case, determination, plan, lob, history)

    def _zone(self, context: _Context, requested: str | None) -> tuple[str, str]:
        if requested:
            return check_zone(requested), "requested"
        return requesting_provider_zone(context.case, context.plan.time_zone), "provider"

    def _booked(self, session: Session) -> set[tuple[str, datetime]]:
        rows = session.execute(
            select(PeerToPeerBookingRow.reviewer_id, PeerToPeerBookingRow.held_start).where(
                PeerToPeerBookingRow.held_start.is_not(None)
            )
        ).all()
        return {(reviewer, start) for reviewer, start in rows if start is not None}

    def slots(self, case_id: str, *, time_zone: str | None, days: int | None) -> dict[str, Any]:
        """Free slots for this case, shown in the provider's zone (or the one asked for)."""
        now = self.core.clock()
        context = self._context(self.core.get(case_id))
        mode, why = peer_to_peer_mode(
            context.determination, context.plan, context.line_of_business, context.history
        )
        zone, source = self._zone(context, time_zone)
        rules = context.plan.peer_to_peer
        horizon = min(days or rules.booking_days, rules.booking_days)
        with self.core.sessions() as session:
            booked = self._booked(session)
        slots = free_slots(
            self.reviewers.values(), plan=context.plan, now=now, days=horizon, booked=booked
        )
        return {
            "case_id": case_id,
            "time_zone": zone,
            "time_zone_source": source,
            "mode": mode.value,
            "mode_reason": why,
            "phone": rules.phone,
            "slot_minutes": rules.slot_minutes,
            "slots": [
                {
                    "reviewer_id": slot.reviewer_id,
                    "reviewer": self.reviewers[slot.reviewer_id].display_name,
                    "specialty": self.reviewers[slot.reviewer_id].specialty,
                    "start": in_zone(slot.start, zone).isoformat(),
                    "end": in_zone(slot.end, zone).isoformat(),
                }
                for slot in slots
            ],
        }

    def bookings(self, case_id: str) -> list[dict[str, Any]]:
        self.core.get(case_id)  # CaseNotFound
        with self.core.sessions() as session:
            rows = session.execute(
                select(PeerToPeerBookingRow)
                .where(PeerToPeerBookingRow.case_id == case_id)
                .order_by(PeerToPeerBookingRow.id)
            ).scalars()
            return [self._view(row) for row in rows]

    def _view(self, row: PeerToPeerBookingRow) -> dict[str, Any]:
        reviewer = self.reviewers.get(row.reviewer_id)
        zone = row.provider_time_zone
        plan_phone = self._phone(row.case_id)
        return {
            "id": row.id,
            "case_id": row.case_id,
            "state": row.state,
            "mode": row.mode,
            "reviewer": {
                "id": row.reviewer_id,
                "name": reviewer.display_name if reviewer else row.reviewer_id,
                "specialty": reviewer.specialty if reviewer else None,
            },
            "start": in_zone(row.slot_start, zone).isoformat(),
            "end": in_zone(row.slot_end, zone).isoformat(),
            "time_zone": zone,
            "when": spoken_time(row.slot_start, zone),
            "phone": plan_phone,
            "outcome": row.outcome,
            "outcome_notes": row.outcome_notes,
            "booked_by": row.booked_by,
        }

    def _phone(self, case_id: str) -> str | None:
        with self.core.sessions() as session:
            plan_id = session.execute(
                select(CaseRow.plan_id).where(CaseRow.id == case_id)
            ).scalar_one_or_none()
        plan = self.core.ports.plans.get(plan_id or "")
        return plan.peer_to_peer.phone if plan else None

    # -- booking ----------------------------------------------------------------------------

    def book(
        self,
        case_id: str,
        *,
        reviewer_id: str,
        start: datetime,
        actor: str,
        time_zone: str | None = None,
    ) -> dict[str, Any]:
        now = self.core.clock()
        context = self._context(self.core.get(case_id))
        mode, why = peer_to_peer_mode(
            context.determination, context.plan, context.line_of_business, context.history
        )
        zone, _ = self._zone(context, time_zone)
        reviewer = self._bookable(reviewer_id, start, context.plan, now)

        def write(session: Session, row: CaseRow) -> PeerToPeerBookingRow:
            if row.status != context.determination.status.value:
                # Decided meanwhile (under the row lock now): what a call can do has changed.
                raise InvalidTransition(f"case {case_id} is {row.status} now: list slots again")
            active = session.execute(
                select(PeerToPeerBookingRow.id).where(
                    PeerToPeerBookingRow.case_id == case_id,
                    PeerToPeerBookingRow.state == "booked",
                )
            ).scalar_one_or_none()
            if active is not None:
                raise InvalidTransition(
                    f"case {case_id} has peer-to-peer booking {active} already: "
                    "reschedule or cancel it"
                )
            booking = PeerToPeerBookingRow(
                case_id=case_id,
                reviewer_id=reviewer.id,
                slot_start=start,
                slot_end=start + timedelta(minutes=context.plan.peer_to_peer.slot_minutes),
                held_start=start,
                state="booked",
                mode=mode.value,
                provider_time_zone=zone,
                booked_by=actor,
                created_at=now,
                updated_at=now,
            )
            session.add(booking)
            session.flush()
            self._event(session, row, booking, "booked", actor, now, f"{why}.")
            self._confirm(session, context, booking, now, rescheduled=False)
            return booking

        booking = self._locked_write(case_id, start, reviewer, write)
        log.info("peer to peer booked", extra={"case_id": case_id, "booking_id": booking.id})
        return self._view(booking)

    def reschedule(
        self,
        case_id: str,
        booking_id: int,
        *,
        start: datetime,
        actor: str,
        reviewer_id: str | None = None,
    ) -> dict[str, Any]:
        now = self.core.clock()
        context = self._context(self.core.get(case_id))
        with self.core.sessions() as session:
            current = self._booking(session, case_id, booking_id)
        reviewer = self._bookable(reviewer_id or current.reviewer_id, start, context.plan, now)

        def write(session: Session, row: CaseRow) -> PeerToPeerBookingRow:
            booking = self._booking(session, case_id, booking_id, state="booked")
            before = spoken_time(booking.slot_start, booking.provider_time_zone)
            booking.reviewer_id = reviewer.id
            booking.slot_start = start
            booking.slot_end = start + timedelta(minutes=context.plan.peer_to_peer.slot_minutes)
            booking.held_start = start
            booking.updated_at = now
            session.flush()
            self._event(session, row, booking, "rescheduled", actor, now, f"moved from {before}.")
            self._confirm(session, context, booking, now, rescheduled=True)
            return booking

        booking = self._locked_write(case_id, start, reviewer, write, moving=booking_id)
        return self._view(booking)

    def cancel(self, case_id: str, booking_id: int, *, actor: str) -> dict[str, Any]:
        now = self.core.clock()
        context = self._context(self.core.get(case_id))

        def write(session: Session, row: CaseRow) -> PeerToPeerBookingRow:
            booking = self._booking(session, case_id, booking_id, state="booked")
            booking.state = "cancelled"
            booking.held_start = None  # the slot is free again
            booking.updated_at = now
            session.flush()
            self._event(session, row, booking, "cancelled", actor, now, "cancelled.")
            self._confirm(session, context, booking, now, rescheduled=False)
            return booking

        with writing(self.core.sessions) as session:
            booking = write(session, self._case_row(session, case_id))
        return self._view(booking)

    def _bookable(
        self, reviewer_id: str, start: datetime, plan: PlanPolicy, now: datetime
    ) -> Reviewer:
        reviewer = self.reviewers.get(reviewer_id)
        problem = slot_problem(reviewer, start, plan=plan, now=now)
        if problem:
            raise SlotRefused(problem)
        assert reviewer is not None  # slot_problem names a missing reviewer
        return reviewer

    def _locked_write(
        self,
        case_id: str,
        start: datetime,
        reviewer: Reviewer,
        write: Callable[[Session, CaseRow], PeerToPeerBookingRow],
        *,
        moving: int | None = None,
    ) -> PeerToPeerBookingRow:
        """`write` under the case's row lock, once the slot is known free (a booking being
        moved, `moving`, does not stand in its own way)."""
        taken = SlotTaken(
            f"{reviewer.display_name} is booked at {start.isoformat()}: choose another slot"
        )
        try:
            with writing(self.core.sessions) as session:
                row = self._case_row(session, case_id)
                holder = session.execute(
                    select(PeerToPeerBookingRow.id).where(
                        PeerToPeerBookingRow.reviewer_id == reviewer.id,
                        PeerToPeerBookingRow.held_start == start,
                        PeerToPeerBookingRow.id != (moving or 0),
                    )
                ).scalar_one_or_none()
                if holder is not None:
                    raise taken
                return write(session, row)
        except IntegrityError as exc:
            # A concurrent booking of the same slot won the race: the unique constraint says so.
            raise taken from exc

    def _case_row(self, session: Session, case_id: str) -> CaseRow:
        query = select(CaseRow).where(CaseRow.id == case_id)
        if self.core.engine.dialect.name == "postgresql":
            query = query.with_for_update()
        row = session.execute(query).scalar_one_or_none()
        if row is None:
            raise CaseNotFound(case_id)
        return row

    @staticmethod
    def _booking(
        session: Session, case_id: str, booking_id: int, state: str | None = None
    ) -> PeerToPeerBookingRow:
        booking = session.get(PeerToPeerBookingRow, booking_id)
        if booking is None or booking.case_id != case_id:
            raise BookingNotFound(f"no peer-to-peer booking {booking_id} on case {case_id}")
        if state and booking.state != state:
            raise InvalidTransition(f"peer-to-peer booking {booking_id} is {booking.state}")
        return booking

    def _event(
        self,
        session: Session,
        row: CaseRow,
        booking: PeerToPeerBookingRow,
        kind: str,
        actor: str,
        now: datetime,
        text: str,
    ) -> None:
        """A peer-to-peer step in the case's history; the status does not change."""
        when = spoken_time(booking.slot_start, booking.provider_time_zone)
        session.execute(
            insert(CaseEventRow).values(
                case_id=row.id,
                at=now,
                actor=actor[:64],
                from_status=row.status,
                to_status=row.status,
                reason=f"Peer to peer {kind}, {when}: {text}",
                detail={
                    "peer_to_peer": kind,
                    "booking_id": booking.id,
                    "reviewer_id": booking.reviewer_id,
                    "slot_start": booking.slot_start.isoformat(),
                    "reason_code": f"PEER_TO_PEER_{kind.upper()}",
                },
            )
        )

    def _confirm(
        self,
        session: Session,
        context: _Context,
        booking: PeerToPeerBookingRow,
        now: datetime,
        *,
        rescheduled: bool,
    ) -> None:
        """The provider's confirmation, stored with the booking (one transaction)."""
        if self.confirmations is None:
            return
        zone = booking.provider_time_zone
        reviewer = self.reviewers[booking.reviewer_id]
        _, why = peer_to_peer_mode(
            context.determination, context.plan, context.line_of_business, context.history
        )
        appointment = {
            "booking_id": booking.id,
            "state": booking.state,
            "rescheduled": rescheduled,
            "when": spoken_time(booking.slot_start, zone),
            "start": in_zone(booking.slot_start, zone).isoformat(),
            "time_zone": zone,
            "phone": context.plan.peer_to_peer.phone,
            "reviewer": reviewer.display_name,
            "specialty": reviewer.specialty,
            "mode": booking.mode,
            "mode_reason": why,
        }
        for job in self.confirmations(context.case, context.determination, appointment):
            self.core.enqueue(session, job, context.case.id, now)

    # -- the reviewer's outcome -------------------------------------------------------------

    def record_outcome(
        self,
        case_id: str,
        booking_id: int,
        *,
        outcome: Outcome,
        reviewer: str,
        rationale: str | None = None,
        guideline: str | None = None,
        notes: str | None = None,
    ) -> tuple[StoredCase, dict[str, Any]]:
        """The reviewer's outcome of a held call. Approved: the case is approved (a denied one
        is re-opened first, then approved: a reversal); upheld: a pended case is denied, a
        denied one stays denied; consultative: the case is unchanged."""
        now = self.core.clock()
        stored = self.core.get(case_id)
        context = self._context(stored)
        with self.core.sessions() as session:
            booking = self._booking(session, case_id, booking_id, state="booked")
        if now < booking.slot_start:
            raise InvalidTransition(
                f"booking {booking_id} is for {booking.slot_start.isoformat()}: its outcome is "
                "recorded once the call has taken place"
            )
        mode, why = peer_to_peer_mode(
            context.determination, context.plan, context.line_of_business, context.history
        )
        if booking.mode == Mode.CONSULTATIVE.value:
            mode = Mode.CONSULTATIVE
        problem = outcome_problem(outcome, mode)
        if problem:
            raise PostDecisionRefused("P2P_CONSULTATIVE_ONLY", f"{problem} ({why})")
        denied = context.determination.status is CaseStatus.DENIED
        kind = outcome.value
        words = f"Peer to peer with {reviewer}: {rationale}" if rationale else None
        decision: ReviewerDecision | None = None
        try:
            # Built before anything changes, so an incomplete denial changes nothing.
            if outcome is Outcome.APPROVED:
                decision = ReviewerDecision(
                    reviewer=reviewer, decision="approve", rationale=words, guideline=guideline
                )
            elif outcome is Outcome.UPHELD and not denied:
                decision = ReviewerDecision(
                    reviewer=reviewer, decision="deny", rationale=words, guideline=guideline
                )
        except ValidationError as exc:
            raise InvalidDecision(
                "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
            ) from exc
        if outcome is Outcome.APPROVED and denied:
            # A reversal: the denial is re-opened (an event of its own), then approved.
            self.core.reconsider(
                case_id, actor=reviewer, reason=rationale or "approved", via="peer_to_peer"
            )
            kind = "approved_after_denial"
        elif outcome is Outcome.UPHELD and denied:
            kind = "upheld_after_denial"
        if decision is not None:
            self.core.decide(case_id, decision)

        with writing(self.core.sessions) as session:
            row = self._case_row(session, case_id)
            held = self._booking(session, case_id, booking_id, state="booked")
            held.state = "completed"
            held.outcome = outcome.value
            held.outcome_notes = notes
            held.updated_at = now
            session.flush()
            self._event(session, row, held, kind, reviewer, now, rationale or outcome.value)
        return self.core.get(case_id), self._view(held)

    # -- reconsideration --------------------------------------------------------------------

    def reconsider(
        self,
        case_id: str,
        *,
        actor: str,
        reason: str,
        facts: dict[str, Any],
        notes: str | None,
    ) -> StoredCase:
        return self.core.reconsider(case_id, actor=actor, reason=reason, facts=facts, notes=notes)
