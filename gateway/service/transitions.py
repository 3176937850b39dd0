"""What happens to a stored case later: a reviewer's determination, additional clinical
information, the hold clock, an update or cancel from the requester. Each change re-reads the
case under a row lock (PostgreSQL), records its status event and outbound jobs, and commits once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain.case import Case, CaseStatus, Determination, Program, StoredCase
from gateway.domain.ports import Ports
from gateway.domain.review import review
from gateway.domain.reviewer import (
    ReviewerDecision,
    apply_reviewer_decision,
    cancelled,
    cancelled_line,
    hold_expired,
)
from gateway.store.db import writing
from gateway.store.lookup import index_case
from gateway.store.models import CaseRow


class CaseNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    """The case is not in a state that allows this (e.g. deciding an approved case)."""


class CaseTransitions:
    """Mixed into Core: the transitions of stored cases."""

    # What the transitions use of the case service they are mixed into (gateway.service.core.Core).
    clock: Callable[[], datetime]
    ports: Ports
    sessions: sessionmaker[Session]
    engine: Engine

    if TYPE_CHECKING:

        def _program_for(self, case: Case) -> Program: ...

        def _record(
            self,
            session: Session,
            case: Case,
            determination: Determination,
            previous: str | None,
            actor: str,
            now: datetime,
        ) -> None: ...

        def get(self, case_id: str) -> StoredCase: ...

    def update_case(
        self, case_id: str, update: Case, *, actor: str, now: datetime | None = None
    ) -> StoredCase:
        """A change to a case (PAS claim update, X12 UM02 revision or cancel): re-review it with
        the new content and answer for every item. A denied case cannot be updated: the
        provider asks for reconsideration or appeals instead (DOMAIN.md: Clocks)."""
        now = now or self.clock()

        def change(session: Session, row: CaseRow, case: Case, current: Determination):
            if current.status in (CaseStatus.DENIED, CaseStatus.CANCELLED):
                raise InvalidTransition(
                    f"case {case_id} is {current.status.value} and cannot be updated; "
                    + (
                        "request a reconsideration or file an appeal"
                        if current.status is CaseStatus.DENIED
                        else "submit a new request"
                    )
                )
            revised = update.model_copy(
                deep=True,
                update={
                    "id": case_id,
                    "related_case_id": case.related_case_id,
                    "prior_case_id": case_id,
                },
            )
            revised.program = self._program_for(revised)
            if revised.certification_type == "3" or not revised.active_lines:
                return revised, cancelled(revised, current, now)
            determination = review(revised, self.ports, now)
            determination.lines += [
                cancelled_line(line) for line in revised.service_lines if line.cancelled
            ]
            determination.lines.sort(key=lambda line: line.sequence)
            return revised, determination

        return self._transition(case_id, actor, now, change)

    def _transition(
        self,
        case_id: str,
        actor: str,
        now: datetime,
        change: Callable[[Session, CaseRow, Case, Determination], tuple[Case, Determination]],
    ) -> StoredCase:
        with writing(self.sessions) as session:
            query = select(CaseRow).where(CaseRow.id == case_id)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update()
            row = session.execute(query).scalar_one_or_none()
            if row is None:
                raise CaseNotFound(case_id)
            case = Case.model_validate(row.case_json)
            current = Determination.model_validate(row.determination_json)
            case, determination = change(session, row, case, current)
            previous = row.status
            row.case_json = case.model_dump(mode="json")
            row.determination_json = determination.model_dump(mode="json")
            row.status = determination.status.value
            row.due_by = determination.due_by
            row.hold_due = determination.hold_due
            row.updated_at = now
            # An update may change the parties or the claim identifiers $inquire matches on.
            index_case(session, case_id, row.member_key, row.case_json, row.created_at)
            self._record(session, case, determination, previous, actor, now)
            if determination.status in (CaseStatus.APPROVED, CaseStatus.MODIFIED):
                self._release_supportive(session, case, actor, now)
        return self.get(case_id)

    def _release_supportive(
        self, session: Session, primary: Case, actor: str, now: datetime
    ) -> None:
        """Pended supportive cases follow their primary case once it is approved."""
        rows = session.execute(
            select(CaseRow).where(
                CaseRow.related_case_id == primary.id,
                CaseRow.status.in_([CaseStatus.PENDED.value, CaseStatus.HELD.value]),
            )
        ).scalars()
        for row in list(rows):
            child = Case.model_validate(row.case_json)
            child.facts = child.facts.merged({"primary_case_approved": True}, "core:primary_case")
            determination = review(child, self.ports, now)
            previous = row.status
            row.case_json = child.model_dump(mode="json")
            row.determination_json = determination.model_dump(mode="json")
            row.status = determination.status.value
            row.due_by = determination.due_by
            row.updated_at = now
            self._record(session, child, determination, previous, actor, now)

    def decide(
        self, case_id: str, decision: ReviewerDecision, *, now: datetime | None = None
    ) -> StoredCase:
        """A reviewer's determination on a pended or held case."""
        now = now or self.clock()

        def change(session: Session, row: CaseRow, case: Case, current: Determination):
            if current.status not in (CaseStatus.PENDED, CaseStatus.HELD):
                raise InvalidTransition(
                    f"case {case_id} is {current.status.value}; only pended or held cases "
                    "take a reviewer determination"
                )
            plan = self.ports.plans[current.plan_id] if current.plan_id else None
            if plan is None:
                raise InvalidTransition(f"case {case_id} has no plan to decide under")
            enrollment = self.ports.eligibility.enrollment(case.member.member_id)
            lob = enrollment.line_of_business if enrollment else ""
            return case, apply_reviewer_decision(case, current, decision, plan, lob, now)

        return self._transition(case_id, decision.reviewer, now, change)

    def add_clinical(
        self,
        case_id: str,
        values: dict[str, Any],
        *,
        actor: str,
        notes: str | None = None,
        now: datetime | None = None,
    ) -> StoredCase:
        """Additional clinical information re-runs the review; a hold past its due date is
        decided on the original submission (DOMAIN.md: Pended / hold)."""
        now = now or self.clock()

        def change(session: Session, row: CaseRow, case: Case, current: Determination):
            if current.status not in (CaseStatus.PENDED, CaseStatus.HELD):
                raise InvalidTransition(
                    f"case {case_id} is {current.status.value}: additional information is taken "
                    "only while a case is pended or held"
                )
            if current.status is CaseStatus.HELD and current.hold_due and now > current.hold_due:
                original = Case.model_validate(row.original_json)
                return original, hold_expired(original, current, now)
            case.facts = case.facts.merged(values, f"additional:{actor}")
            if notes:
                case.facts.notes.append(notes)
            case.submission.received_at = now  # the clock restarts on complete information
            return case, review(case, self.ports, now)

        return self._transition(case_id, actor, now, change)

    def expire_holds(self, now: datetime | None = None) -> list[str]:
        """The hold clock: holds past their due date go to review on the original submission."""
        now = now or self.clock()
        with self.sessions() as session:
            due = list(
                session.execute(
                    select(CaseRow.id).where(
                        CaseRow.status == CaseStatus.HELD.value, CaseRow.hold_due < now
                    )
                ).scalars()
            )
        expired = []
        for case_id in due:

            def change(session: Session, row: CaseRow, case: Case, current: Determination):
                if current.status is not CaseStatus.HELD:
                    return case, current
                original = Case.model_validate(row.original_json)
                return original, hold_expired(original, current, now)

            self._transition(case_id, "gateway:clock", now, change)
            expired.append(case_id)
        return expired

    def reconsider(
        self,
        case_id: str,
        *,
        actor: str,
        reason: str,
        facts: dict[str, Any] | None = None,
        notes: str | None = None,
        via: str = "reconsideration",
        now: datetime | None = None,
    ) -> StoredCase:
        """Re-open a denied case for a physician reviewer (denied -> pended, clinical review).

        `via="reconsideration"`: the provider's request with additional clinical information,
        only where the plan's rules allow it (gateway.domain.peer_to_peer); refused with
        PostDecisionRefused naming the rule. `via="peer_to_peer"`: a peer-to-peer reversal,
        which the reviewer's approval follows (the P2P rules were checked at the call)."""
        # Imported here: this method is the one addition to this module for issue 12.
        from gateway.domain.peer_to_peer import (
            P2P_REVERSAL,
            RECONSIDERATION,
            History,
            reconsideration_refusal,
            reopened,
        )
        from gateway.store.models import CaseEventRow

        now = now or self.clock()

        def change(session: Session, row: CaseRow, case: Case, current: Determination):
            plan = self.ports.plans.get(current.plan_id or "")
            if plan is None:
                raise InvalidTransition(f"case {case_id} has no plan to reconsider under")
            if via == "peer_to_peer":
                if current.status is not CaseStatus.DENIED:
                    raise InvalidTransition(f"case {case_id} is {current.status.value}, not denied")
                text = f"Denial reversed after a peer-to-peer conversation: {reason}"
                return case, reopened(case, current, plan, code=P2P_REVERSAL, text=text, now=now)
            enrollment = self.ports.eligibility.enrollment(case.member.member_id)
            lob = enrollment.line_of_business if enrollment else ""
            events = session.execute(
                select(CaseEventRow.detail).where(CaseEventRow.case_id == case_id)
            ).scalars()
            history = History.from_events([{"detail": d} for d in events], case)
            refusal = reconsideration_refusal(case, current, plan, lob, history, now)
            if refusal is not None:
                raise refusal
            if facts:
                case.facts = case.facts.merged(facts, f"reconsideration:{actor}")
            if notes:
                case.facts.notes.append(notes)
            text = (
                f"Reconsideration requested with additional clinical information: {reason}. "
                "The denial is re-opened for a physician reviewer."
            )
            return case, reopened(case, current, plan, code=RECONSIDERATION, text=text, now=now)

        return self._transition(case_id, actor, now, change)
