"""The work list and the worker's clock over due items (issue 12 item 6; gateway.domain.due).

`WorkList` gathers the due items of the cases a reader may see from its sources: the case-state
source (review due under the plan's clock for the member's line of business, hold due, the
provider's answer to an offered alternative, an approval's end) and the peer-to-peer bookings
source, plus whatever `extra_sources` the composition root plugs in (the appeals branch's
`appeal_due_items`: `appeal_due`, `expiry`, `site_of_care_follow_up`).

`escalate` is what the worker's clock does with them: each overdue review, unanswered
alternative and peer-to-peer call left without an outcome gets one `escalation` event on its case
and a warning log line naming the case id, once per item (the event's key says which), however
often the clock ticks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from gateway.domain.alternatives import offer_of, respond_by
from gateway.domain.case import Case, CaseStatus, Determination, StoredCase
from gateway.domain.due import (
    DueItem,
    DueKind,
    DueSource,
    case_state_items,
    due_before,
    priority_of,
    work_list_order,
)
from gateway.service.core import CaseService
from gateway.service.store import CaseEvent
from gateway.store.models import CaseRow, PeerToPeerBookingRow

log = logging.getLogger("gateway.store.work_list")

# Statuses whose cases owe something: a decision, information, an answer, an end date, an
# appeal window (the appeals source reads denials).
OBLIGATION_STATUSES = (
    CaseStatus.PENDED.value,
    CaseStatus.HELD.value,
    CaseStatus.APPROVED.value,
    CaseStatus.MODIFIED.value,
    CaseStatus.PARTIALLY_APPROVED.value,
    CaseStatus.DENIED.value,
)
# What the clock escalates when overdue (a hold past its date is decided by the hold clock).
ESCALATED = frozenset(
    {DueKind.REVIEW_DUE.value, DueKind.ALTERNATIVE_RESPONSE.value, DueKind.PEER_TO_PEER.value}
)
# Where those are found: open cases, and denials with a call booked after them.
ESCALATED_STATUSES = (CaseStatus.PENDED.value, CaseStatus.HELD.value, CaseStatus.DENIED.value)
# The most cases one work list reads (the list is a reviewer's, not an export).
SCAN_LIMIT = 5000


def _stored(row: CaseRow) -> StoredCase:
    determination = (
        Determination.model_validate(row.determination_json) if row.determination_json else None
    )
    return StoredCase(
        Case.model_validate(row.case_json),
        determination,
        CaseStatus(row.status),
        row.created_at,
        row.updated_at,
    )


class CaseStateSource:
    """Due items from each case's own state (gateway.domain.due.case_state_items)."""

    def __init__(self, core: CaseService):
        self.core = core

    def __call__(self, cases: Sequence[StoredCase], before: datetime | None) -> list[DueItem]:
        ports = self.core.ports
        items: list[DueItem] = []
        for stored in cases:
            determination = stored.determination
            if determination is None:
                continue
            plan = ports.plans.get(determination.plan_id or "")
            enrollment = ports.eligibility.enrollment(stored.case.member.member_id)
            lob = enrollment.line_of_business if enrollment else None
            regulation = plan.line_clock(lob) if plan else None
            offer = offer_of(determination)
            items += case_state_items(
                stored,
                plan,
                regulation=regulation.regulation if regulation else None,
                alternative_due=respond_by(offer) if offer else None,
            )
        return due_before(items, before)


class PeerToPeerSource:
    """Booked peer-to-peer calls of these cases, in the provider's zone as booked."""

    def __init__(self, core: CaseService):
        self.core = core

    def __call__(self, cases: Sequence[StoredCase], before: datetime | None) -> list[DueItem]:
        by_id = {stored.case.id: stored for stored in cases if stored.case.id}
        if not by_id:
            return []
        with self.core.sessions() as session:
            query = select(PeerToPeerBookingRow).where(
                PeerToPeerBookingRow.state == "booked",
                PeerToPeerBookingRow.case_id.in_(sorted(by_id)),
            )
            if before is not None:
                query = query.where(PeerToPeerBookingRow.slot_start < before)
            bookings = list(session.execute(query).scalars())
        items = []
        for booking in bookings:
            stored = by_id[booking.case_id]
            items.append(
                DueItem(
                    case_id=booking.case_id,
                    kind=DueKind.PEER_TO_PEER.value,
                    due_at=booking.slot_start,
                    time_zone=booking.provider_time_zone,
                    status=stored.status.value,
                    program=stored.case.program.value,
                    priority=priority_of(stored),
                    detail=f"peer-to-peer call {booking.id} with {booking.reviewer_id}",
                )
            )
        return items


class WorkList:
    def __init__(self, core: CaseService, extra_sources: Iterable[DueSource] = ()):
        """`extra_sources`: due sources other parts of the gateway add (appeals)."""
        self.core = core
        self.sources: list[DueSource] = [
            CaseStateSource(core),
            PeerToPeerSource(core),
            *extra_sources,
        ]

    def _cases(
        self,
        session: Session,
        where: ColumnElement[bool] | None,
        may_read: Callable[[CaseRow], bool] | None,
        statuses: Sequence[str],
    ) -> list[StoredCase]:
        query = (
            select(CaseRow)
            .where(CaseRow.status.in_(statuses), where if where is not None else true())
            .order_by(CaseRow.created_at)
            .limit(SCAN_LIMIT)
        )
        rows = session.execute(query).scalars()
        return [_stored(row) for row in rows if may_read is None or may_read(row)]

    def items(
        self,
        before: datetime | None,
        *,
        where: ColumnElement[bool] | None = None,
        may_read: Callable[[CaseRow], bool] | None = None,
        limit: int = 200,
        statuses: Sequence[str] = OBLIGATION_STATUSES,
    ) -> list[DueItem]:
        """The due items before `before` of the cases `where` / `may_read` let the reader see
        (the caller's isolation rule), in work-list order."""
        with self.core.sessions() as session:
            cases = self._cases(session, where, may_read, statuses)
        found = [item for source in self.sources for item in source(cases, before)]
        return work_list_order(found)[:limit]

    # -- the worker's clock -----------------------------------------------------------------

    def escalate(self, now: datetime | None = None) -> list[str]:
        """One escalation per overdue item of the kinds the clock acts on: an event on the case
        and a warning naming its id; the event's key keeps the next tick from repeating it."""
        at = now or self.core.clock()
        found = self.items(at, limit=SCAN_LIMIT, statuses=ESCALATED_STATUSES)
        overdue = [item for item in found if item.kind in ESCALATED]
        escalated: list[str] = []
        for item in overdue:
            key = f"{item.kind}:{item.due_at.isoformat()}"
            with self.core.store.transaction() as tx:
                record = tx.case(item.case_id, lock=True)
                if record is None or any(
                    (event.detail or {}).get("escalation_key") == key
                    for event in tx.events(item.case_id)
                ):
                    continue  # escalated on an earlier tick (or by another worker)
                tx.add_event(
                    item.case_id,
                    CaseEvent(
                        at=at,
                        actor="gateway:clock",
                        from_status=record.status,
                        to_status=record.status,
                        reason=f"Overdue: {item.detail or item.kind} was due "
                        f"{item.view()['due_at']} ({item.time_zone}); escalated to the "
                        "program's clinical lead.",
                        detail={
                            "escalation": item.kind,
                            "escalation_key": key,
                            "due_at": item.due_at.isoformat(),
                            "reason_code": "ESCALATED_OVERDUE",
                        },
                    ),
                )
            log.warning(
                "overdue item escalated",
                extra={"case_id": item.case_id, "kind": item.kind, "due_at": item.due_at},
            )
            escalated.append(item.case_id)
        return escalated
