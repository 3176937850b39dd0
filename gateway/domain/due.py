"""Due items: every open obligation of a case as one thing with a time (issue 12 item 6).

A due item says which case owes what by when: a review due (the plan's clock, per line of
business), a hold's information due, a booked peer-to-peer call, an offered alternative waiting
for the provider's answer, an approval's expiry; other sources (appeals: `appeal_due`,
`expiry`, `site_of_care_follow_up`) add theirs through the same `DueSource` protocol. The work
list (`GET /cases?due_before=...`) lists them and the worker's clock acts on the overdue ones, so
nothing waits silently.

Pure: sources over cases as the store holds them (`StoredCase`); the store-side sources that read
other tables (peer-to-peer bookings) live in gateway/store/work_list.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from gateway.domain.case import CaseStatus, StoredCase, Urgency
from gateway.domain.peer_to_peer import requesting_provider_zone
from gateway.domain.policy import PlanPolicy


class DueKind(StrEnum):
    REVIEW_DUE = "review_due"  # the program must decide (plan clocks, per line of business)
    HOLD_DUE = "hold_due"  # the missing information must arrive
    PEER_TO_PEER = "peer_to_peer"  # a booked call starts
    ALTERNATIVE_RESPONSE = "alternative_response"  # the provider answers an offered alternative
    APPROVAL_EXPIRY = "approval_expiry"  # an approval's period ends
    # Kinds another source adds (gateway.store.appeals on the appeals branch).
    APPEAL_DUE = "appeal_due"
    EXPIRY = "expiry"
    SITE_OF_CARE_FOLLOW_UP = "site_of_care_follow_up"


class Priority(StrEnum):
    """The work list's order: a pending hospital discharge first (issue 13 item 3), then
    expedited cases, then the rest; earliest due within each."""

    DISCHARGE_PENDING = "discharge_pending"
    EXPEDITED = "expedited"
    STANDARD = "standard"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Priority.DISCHARGE_PENDING: 0, Priority.EXPEDITED: 1, Priority.STANDARD: 2}


@dataclass(frozen=True)
class DueItem:
    case_id: str
    kind: str  # a DueKind value, or another source's kind
    due_at: datetime  # aware; shown in `time_zone`
    time_zone: str  # IANA zone of the person who reads the time (the provider's, or the plan's)
    status: str
    program: str
    priority: Priority = Priority.STANDARD
    detail: str | None = None  # one line a reviewer reads (no member data)

    def __post_init__(self) -> None:
        if self.due_at.tzinfo is None:
            raise ValueError("a due item's time carries its offset")

    def overdue(self, now: datetime) -> bool:
        return self.due_at <= now

    def view(self) -> dict[str, Any]:
        """The work list's JSON: the time as ISO 8601 with the offset of `time_zone`."""
        return {
            "case_id": self.case_id,
            "kind": self.kind,
            "due_at": self.due_at.astimezone(ZoneInfo(self.time_zone)).isoformat(),
            "time_zone": self.time_zone,
            "status": self.status,
            "program": self.program,
            "priority": self.priority.value,
            "detail": self.detail,
        }


class DueSource(Protocol):
    """One source of due items over the cases a reader may see: items due before `before`
    (None: all of them). Sources may read more than the cases (a store session, a table) but
    return items of these cases only, so the work list's isolation holds."""

    def __call__(
        self, cases: Sequence[StoredCase], before: datetime | None, /
    ) -> Iterable[DueItem]: ...


def work_list_order(items: Iterable[DueItem]) -> list[DueItem]:
    """Discharge pending, then expedited, then the rest; earliest due first within each."""
    return sorted(items, key=lambda item: (item.priority.rank, item.due_at, item.case_id))


# The fact and its aliases (mappings/codes/facts.yaml) as a request may carry it.
DISCHARGE_FACTS = ("hospital_discharge_pending", "discharge_pending", "hospital_discharge")


def priority_of(stored: StoredCase) -> Priority:
    facts = stored.case.facts.values
    for name in DISCHARGE_FACTS:
        value = facts.get(name)
        if value is True or str(value).strip().lower() in {"true", "yes", "y", "1"}:
            return Priority.DISCHARGE_PENDING
    urgency = stored.determination.urgency if stored.determination else stored.case.urgency
    return Priority.EXPEDITED if urgency is Urgency.URGENT else Priority.STANDARD


def case_zone(stored: StoredCase, plan: PlanPolicy | None) -> str:
    """The zone a due time is read in: the requesting provider's (its address), else the
    plan's."""
    return requesting_provider_zone(stored.case, plan.time_zone if plan else "America/New_York")


def _end_of_day(day: Any, zone: str) -> datetime:
    """An approval valid through `day` ends at midnight after it, in the reader's zone."""
    return datetime.combine(day + timedelta(days=1), time(0), ZoneInfo(zone)).astimezone(UTC)


def case_state_items(
    stored: StoredCase,
    plan: PlanPolicy | None,
    *,
    regulation: str | None = None,
    alternative_due: datetime | None = None,
) -> list[DueItem]:
    """The obligations a case's own state says: a review due while pended, a hold's due date
    while held, the provider's answer to an offered alternative, and an approval's end.
    `regulation`: the line of business's clock named in the detail (CMS-0057-F)."""
    determination = stored.determination
    if determination is None or stored.case.id is None:
        return []
    zone = case_zone(stored, plan)
    case_id, priority = stored.case.id, priority_of(stored)

    def item(kind: DueKind, due_at: datetime, detail: str) -> DueItem:
        return DueItem(
            case_id=case_id,
            kind=kind.value,
            due_at=due_at,
            time_zone=zone,
            status=stored.status.value,
            program=stored.case.program.value,
            priority=priority,
            detail=detail,
        )

    items: list[DueItem] = []
    if stored.status is CaseStatus.PENDED and determination.due_by is not None:
        why = f"{determination.pend_kind.value if determination.pend_kind else 'review'}"
        clock = f" under {regulation}" if regulation else ""
        items.append(item(DueKind.REVIEW_DUE, determination.due_by, f"decision due ({why}){clock}"))
    if stored.status is CaseStatus.HELD and determination.hold_due is not None:
        missing = ", ".join(determination.missing_facts) or "clinical information"
        items.append(item(DueKind.HOLD_DUE, determination.hold_due, f"information due: {missing}"))
        if determination.due_by is not None:
            items.append(item(DueKind.REVIEW_DUE, determination.due_by, "decision due (hold)"))
    if stored.status is CaseStatus.PENDED and alternative_due is not None:
        items.append(
            item(
                DueKind.ALTERNATIVE_RESPONSE,
                alternative_due,
                "the provider's answer to the offered alternative",
            )
        )
    if (
        stored.status in (CaseStatus.APPROVED, CaseStatus.MODIFIED)
        and determination.period_end is not None
    ):
        # Kept minimal: the appeals branch's `expiry` source owns expiry notices and status.
        number = f" {determination.auth_number}" if determination.auth_number else ""
        ends = _end_of_day(determination.period_end, zone)
        detail = f"authorization{number} ends {determination.period_end.isoformat()}"
        items.append(item(DueKind.APPROVAL_EXPIRY, ends, detail))
    return items


def due_before(items: Iterable[DueItem], before: datetime | None) -> list[DueItem]:
    return [item for item in items if before is None or item.due_at < before]
