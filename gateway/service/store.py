"""The case store, a port: what the case service keeps and finds, one transaction at a time.

The service never sees a session or a row. It opens a unit of work (`store.transaction()` to
write, `store.read()` to look), and asks the transaction in its own terms: a stored case
(locked when it is about to change), a new case with its determination, its status event and
outbound jobs, the next number of a counter, a replay key. Everything one unit of work writes
commits together or not at all (DESIGN.md decision 5: a case, its events and its jobs).

Two implementations: `gateway.store.repository.SqlCaseStore` (SQLite and PostgreSQL, the one
`gateway.wiring` builds) and `gateway.service.memory_store.InMemoryCaseStore`, the double the
service's own tests run on in milliseconds. Job planners see a narrower view still
(`PlannerReads`), never the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from gateway.domain.case import Case, CaseStatus, Determination, StoredCase

if TYPE_CHECKING:
    from gateway.partners.principal import Principal


class StoreConflict(Exception):
    """A write lost a race: a key it stores (a replay key, a request identity) was stored by a
    concurrent transaction first. The unit of work is rolled back."""


class JobSpec(Protocol):
    """One outbound delivery to store (gateway.notify.jobs.JobSpec is the usual one)."""

    @property
    def kind(self) -> str: ...

    @property
    def idempotency_key(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SubscriptionRecord:
    id: str
    submitter_id: str | None
    resource: dict[str, Any]


@dataclass(frozen=True)
class PartnerContact:
    """The enabled partner a case was submitted by, and where it asked to be called."""

    partner_id: str
    callback_url: str | None
    email_notices: bool = True


class PlannerReads(Protocol):
    """What a job planner may see of the store while a determination is being stored: the
    active subscriptions of a submitter, the next event number of one, who a partner is now."""

    def active_subscriptions(self, submitter_id: str | None) -> list[SubscriptionRecord]:
        """The active subscriptions a submitter holds (none for an unknown submitter)."""

    def next_subscription_event(self, subscription_id: str) -> int:
        """Count one more event on the subscription and return its number (1, 2, ...)."""

    def partner(self, partner_id: str | None) -> Principal | None:
        """The principal a stored partner id acts as now (None when unknown or disabled)."""

    def submitting_partner(self, submitter_id: str | None) -> PartnerContact | None:
        """The enabled partner a case's submitter id names: the owner of that X12 sender id
        (ISA06), or the partner of that id; None when neither."""

    def next_number(self, name: str) -> int:
        """The next value of a store counter (the series CaseService.next_number keeps)."""


@dataclass
class Replay:
    """What is stored under a replay key: the cases a request made and, once rendered, what
    was answered (for a request identity: its business content's fingerprint as JSON)."""

    case_ids: list[str]
    response: str | None


@dataclass
class CaseRecord:
    """A stored case as one unit of work sees it. The JSON is parsed only when asked for:
    a reference check needs the submitter and the parties, not a whole model."""

    id: str
    status: str
    submitter_id: str | None
    member_key: str | None
    related_case_id: str | None
    prior_case_id: str | None
    case_json: dict[str, Any]
    original_json: dict[str, Any]
    determination_json: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    # The clocks the store keeps beside the determination (the list of work, the hold clock).
    due_by: datetime | None = None
    hold_due: datetime | None = None

    def case(self) -> Case:
        return Case.model_validate(self.case_json)

    def original(self) -> Case:
        """The case as first submitted (a hold past its date is decided on it)."""
        return Case.model_validate(self.original_json)

    def determination(self) -> Determination | None:
        if self.determination_json is None:
            return None
        return Determination.model_validate(self.determination_json)

    def stored(
        self, events: list[dict[str, Any]] | None = None, children: list[str] | None = None
    ) -> StoredCase:
        return StoredCase(
            self.case(),
            self.determination(),
            CaseStatus(self.status),
            self.created_at,
            self.updated_at,
            events=list(events or []),
            children=list(children or []),
        )


@dataclass
class CaseEvent:
    """One status change: who, when, why (the case's history)."""

    at: datetime
    actor: str
    from_status: str | None
    to_status: str
    reason: str
    detail: dict[str, Any] | None = field(default=None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "actor": self.actor,
            "from_status": self.from_status,
            "to_status": self.to_status,
            "reason": self.reason,
            "detail": self.detail,
        }


class CaseTransaction(Protocol):
    """One unit of work over the store."""

    # -- counters and replay keys -----------------------------------------------------------

    def next_number(self, name: str) -> int:
        """A counter that never repeats, across restarts and processes."""

    def remember(
        self, key: str, case_ids: list[str], response: str | None, *, at: datetime
    ) -> bool:
        """Store a replay key unless it exists; True when this call stored it."""

    def replay(self, key: str) -> Replay | None: ...

    def keep_answer(self, key: str, response: str) -> None:
        """Store the answer under a replay key that has none yet (the first rendered wins)."""

    # -- cases -------------------------------------------------------------------------------

    def case(self, case_id: str, *, lock: bool = False) -> CaseRecord | None:
        """A stored case; `lock` holds it against concurrent changes until the commit."""

    def insert_case(self, case: Case, determination: Determination, *, at: datetime) -> None:
        """A new case (numbered: `case.id` set) with its determination; as first submitted."""

    def update_case(
        self, record: CaseRecord, case: Case, determination: Determination, *, at: datetime
    ) -> None:
        """A stored case's new content and determination (the record is updated in step)."""

    def add_event(self, case_id: str, event: CaseEvent) -> None: ...

    def events(self, case_id: str) -> list[CaseEvent]:
        """A case's history, oldest first."""

    def enqueue(self, case_id: str | None, jobs: Sequence[JobSpec], *, at: datetime) -> None:
        """Outbound jobs, each stored once per idempotency key."""

    def reads(self) -> PlannerReads:
        """The job planners' view of this unit of work."""

    # -- lookups -----------------------------------------------------------------------------

    def children(self, case_id: str) -> list[str]:
        """Ids of the supportive cases split from a primary case, in order."""

    def awaiting_primary(self, case_id: str) -> list[CaseRecord]:
        """The pended or held supportive cases of a primary case."""

    def successors(self, case_ids: Collection[str]) -> list[str]:
        """Ids of the cases whose prior case is one of `case_ids`, oldest first."""

    def by_submitter_trace(self, submitter_id: str, trace_number: str) -> list[str]:
        """Cases a submitter sent under its own trace number, newest first (at most 5)."""

    def member_cases(
        self, member_key: str, npi: str, claim_identifiers: Collection[str], limit: int
    ) -> list[CaseRecord]:
        """A member's cases naming this NPI as a party (and one of the claim identifiers as a
        trace number, when given), newest first, at most `limit`."""

    def holds_due(self, now: datetime) -> list[str]:
        """Ids of held cases whose hold date is past."""

    def by_status(self, status: str | None, limit: int) -> list[CaseRecord]:
        """Cases (of one status, or all), the earliest due-by time first, then the oldest."""


class CaseStore(Protocol):
    def transaction(self) -> AbstractContextManager[CaseTransaction]:
        """A unit of work that commits on a clean exit and rolls back on an exception; a lost
        race on a unique key raises StoreConflict."""

    def read(self) -> AbstractContextManager[CaseTransaction]:
        """A unit of work to look in: it takes no writer's turn and commits nothing."""

    def batch(self, size: int = 200) -> AbstractContextManager[None]:
        """Many units of work of this thread committed together, `size` at a time (a batch
        file's cases): each unit is still all or nothing, and a crash loses at most the group
        not yet committed, whole (a rerun answers the rest from their replay keys). Reads in
        the batch see its writes. Nested batches join the outer one."""


@runtime_checkable
class SharedDatabase(Protocol):
    """A store whose database the rest of the gateway keeps its own tables in (partners,
    audit, subscriptions, the outbox listing): the SQL store is one, the in-memory double not.
    Typed loosely here: the case service never touches what these are."""

    @property
    def engine(self) -> Any: ...

    @property
    def sessions(self) -> Any: ...

    def enqueue_in(
        self, session: Any, case_id: str | None, jobs: Sequence[JobSpec], *, at: datetime
    ) -> None:
        """Outbound jobs in a transaction the caller holds on `sessions`."""
