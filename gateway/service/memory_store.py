"""`InMemoryCaseStore`: the case store port (gateway.service.store) in a process's memory.

The double the case service's tests run on, shipped beside the port so anyone's tests can use
it (STYLE.md: httpx ships its mock transport). Honest where the service relies on the store:
a unit of work is all or nothing (an exception restores what it found), writers take turns, a
replay key is stored once, an outbound job once per idempotency key, counters never repeat,
and every lookup answers in the order the SQL store's does. tests/service/test_case_service.py
runs the same cases on both, so the two cannot drift apart.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gateway.domain.case import Case, CaseStatus, Determination
from gateway.service.store import (
    CaseEvent,
    CaseRecord,
    JobSpec,
    PartnerContact,
    PlannerReads,
    Replay,
    StoreConflict,
    SubscriptionRecord,
)

if TYPE_CHECKING:
    from gateway.partners.principal import Principal

# The parties whose NPI lets a provider inquire about a case (as gateway.store.lookup).
_NPI_ROLES = ("requester", "ordering", "rendering", "facility")
_AWAITING = (CaseStatus.PENDED.value, CaseStatus.HELD.value)


@dataclass(frozen=True)
class StoredJob:
    """An outbound job as the double keeps it."""

    case_id: str | None
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass
class _Subscription:
    record: SubscriptionRecord
    active: bool = True
    events_sent: int = 0


@dataclass
class _State:
    counters: dict[str, int] = field(default_factory=dict)
    replays: dict[str, Replay] = field(default_factory=dict)
    cases: dict[str, CaseRecord] = field(default_factory=dict)
    events: dict[str, list[CaseEvent]] = field(default_factory=dict)
    jobs: dict[str, StoredJob] = field(default_factory=dict)  # by idempotency key, in order
    subscriptions: dict[str, _Subscription] = field(default_factory=dict)


class _Reads:
    """PlannerReads over the double's state."""

    def __init__(self, state: _State, partners: dict[str, Principal]):
        self._state = state
        self._partners = partners

    def active_subscriptions(self, submitter_id: str | None) -> list[SubscriptionRecord]:
        if not submitter_id:
            return []
        return [
            s.record
            for _, s in sorted(self._state.subscriptions.items())
            if s.active and s.record.submitter_id == submitter_id
        ]

    def next_subscription_event(self, subscription_id: str) -> int:
        subscription = self._state.subscriptions[subscription_id]
        subscription.events_sent += 1
        return subscription.events_sent

    def partner(self, partner_id: str | None) -> Principal | None:
        return self._partners.get(partner_id) if partner_id else None

    def submitting_partner(self, submitter_id: str | None) -> PartnerContact | None:
        """The partner whose id or X12 sender id the submitter id is (no callback URLs here)."""
        for principal in self._partners.values():
            if submitter_id and (
                submitter_id == principal.partner_id or submitter_id in principal.sender_ids
            ):
                return PartnerContact(principal.partner_id, None)
        return None

    def next_number(self, name: str) -> int:
        value = self._state.counters.get(name, 0) + 1
        self._state.counters[name] = value
        return value


def _npis(case_json: dict[str, Any]) -> set[str]:
    parties = [case_json.get(role) for role in _NPI_ROLES]
    return {str(p["npi"]) for p in parties if isinstance(p, dict) and p.get("npi")}


def _trace_numbers(case_json: dict[str, Any]) -> set[str]:
    submission = case_json.get("submission") or {}
    return {str(n) for n in submission.get("trace_numbers") or [] if n}


class _Transaction:
    def __init__(self, state: _State, partners: dict[str, Principal], *, writes: bool = True):
        self._state = state
        self._partners = partners
        self._writes = writes

    def _writing(self) -> None:
        # A read takes no writer's turn: a write in it is a bug in the caller, said at once.
        if not self._writes:
            raise RuntimeError("a write in a read-only unit of work of the case store")

    # -- counters and replay keys -----------------------------------------------------------

    def next_number(self, name: str) -> int:
        self._writing()
        value = self._state.counters.get(name, 0) + 1
        self._state.counters[name] = value
        return value

    def remember(
        self, key: str, case_ids: list[str], response: str | None, *, at: datetime
    ) -> bool:
        self._writing()
        if key in self._state.replays:
            return False
        self._state.replays[key] = Replay(list(case_ids), response)
        return True

    def replay(self, key: str) -> Replay | None:
        stored = self._state.replays.get(key)
        return copy.deepcopy(stored) if stored is not None else None

    def keep_answer(self, key: str, response: str) -> None:
        self._writing()
        stored = self._state.replays.get(key)
        if stored is not None and stored.response is None:
            stored.response = response

    # -- cases -------------------------------------------------------------------------------

    def case(self, case_id: str, *, lock: bool = False) -> CaseRecord | None:
        # One writer at a time holds the whole store: every case is locked already.
        stored = self._state.cases.get(case_id)
        return copy.deepcopy(stored) if stored is not None else None

    def insert_case(self, case: Case, determination: Determination, *, at: datetime) -> None:
        self._writing()
        assert case.id is not None
        if case.id in self._state.cases:
            raise StoreConflict(f"case {case.id} is stored already")  # as a primary key would
        case_json = case.model_dump(mode="json")
        self._state.cases[case.id] = CaseRecord(
            id=case.id,
            status=determination.status.value,
            submitter_id=case.submission.submitter_id,
            member_key=case.member.member_id.upper(),
            related_case_id=case.related_case_id,
            prior_case_id=case.prior_case_id,
            case_json=case_json,
            original_json=copy.deepcopy(case_json),
            determination_json=determination.model_dump(mode="json"),
            created_at=at,
            updated_at=at,
            due_by=determination.due_by,
            hold_due=determination.hold_due,
        )
        self._state.events[case.id] = []

    def update_case(
        self, record: CaseRecord, case: Case, determination: Determination, *, at: datetime
    ) -> None:
        self._writing()
        stored = self._state.cases[record.id]
        stored.case_json = case.model_dump(mode="json")
        stored.determination_json = determination.model_dump(mode="json")
        stored.status = determination.status.value
        stored.updated_at = at
        stored.due_by = determination.due_by
        stored.hold_due = determination.hold_due
        record.status = stored.status
        record.case_json = copy.deepcopy(stored.case_json)
        record.determination_json = copy.deepcopy(stored.determination_json)
        record.updated_at = at
        record.due_by = stored.due_by
        record.hold_due = stored.hold_due

    def add_event(self, case_id: str, event: CaseEvent) -> None:
        self._writing()
        if case_id not in self._state.cases:
            raise StoreConflict(f"no case {case_id} for the event")  # as a foreign key would
        self._state.events[case_id].append(replace(event))

    def events(self, case_id: str) -> list[CaseEvent]:
        return [replace(event) for event in self._state.events.get(case_id, [])]

    def enqueue(self, case_id: str | None, jobs: Sequence[JobSpec], *, at: datetime) -> None:
        self._writing()
        for job in jobs:
            if job.idempotency_key in self._state.jobs:
                continue
            self._state.jobs[job.idempotency_key] = StoredJob(
                case_id, job.kind, job.idempotency_key, copy.deepcopy(job.payload), at
            )

    def reads(self) -> PlannerReads:
        return _Reads(self._state, self._partners)

    # -- lookups -----------------------------------------------------------------------------

    def _records(self) -> list[CaseRecord]:
        return list(self._state.cases.values())

    def children(self, case_id: str) -> list[str]:
        return sorted(r.id for r in self._records() if r.related_case_id == case_id)

    def awaiting_primary(self, case_id: str) -> list[CaseRecord]:
        return [
            copy.deepcopy(r)
            for r in self._records()
            if r.related_case_id == case_id and r.status in _AWAITING
        ]

    def successors(self, case_ids: Collection[str]) -> list[str]:
        later = [r for r in self._records() if r.prior_case_id in set(case_ids)]
        return [r.id for r in sorted(later, key=lambda r: (r.created_at, r.id))]

    def by_submitter_trace(self, submitter_id: str, trace_number: str) -> list[str]:
        found = [
            r.id
            for r in self._records()
            if r.submitter_id == submitter_id
            and _npis(r.case_json)
            and trace_number in _trace_numbers(r.case_json)
        ]
        return sorted(found, reverse=True)[:5]

    def member_cases(
        self, member_key: str, npi: str, claim_identifiers: Collection[str], limit: int
    ) -> list[CaseRecord]:
        wanted = set(claim_identifiers)
        found = [
            r
            for r in self._records()
            if r.member_key == member_key
            and npi in _npis(r.case_json)
            and (not wanted or wanted & _trace_numbers(r.case_json))
        ]
        found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return [copy.deepcopy(r) for r in found[:limit]]

    def holds_due(self, now: datetime) -> list[str]:
        return [
            r.id
            for r in self._records()
            if r.status == CaseStatus.HELD.value and r.hold_due is not None and r.hold_due < now
        ]

    def by_status(self, status: str | None, limit: int) -> list[CaseRecord]:
        chosen = [r for r in self._records() if not status or r.status == status]

        def urgency(r: CaseRecord) -> tuple[bool, datetime, datetime]:
            return (r.due_by is None, r.due_by or r.created_at, r.created_at)

        return [copy.deepcopy(r) for r in sorted(chosen, key=urgency)[:limit]]


class InMemoryCaseStore:
    """The case store in memory; `partners` are the principals planners may look up."""

    def __init__(self, partners: dict[str, Principal] | None = None):
        self._state = _State()
        self._partners = dict(partners or {})
        # One writer at a time, as SQLite; reentrant so a read inside a write sees it.
        self._lock = threading.RLock()

    @contextmanager
    def transaction(self) -> Iterator[_Transaction]:
        with self._lock:
            before = copy.deepcopy(self._state)
            try:
                yield _Transaction(self._state, self._partners)
            except BaseException:
                self._state = before  # all or nothing, as a rolled-back transaction
                raise

    @contextmanager
    def read(self) -> Iterator[_Transaction]:
        with self._lock:
            yield _Transaction(self._state, self._partners, writes=False)

    @contextmanager
    def batch(self, size: int = 200) -> Iterator[None]:
        """The port's batch: nothing in memory outlives a crash, so each unit of work simply
        commits as it ends (all or nothing, as outside a batch); the batch holds the writer's
        turn, as the SQL store's does."""
        with self._lock:
            yield

    # -- for tests: what is stored ---------------------------------------------------------

    def jobs(self, case_id: str | None = None) -> list[StoredJob]:
        """The outbound jobs stored, oldest first (of one case, when given)."""
        with self._lock:
            return [
                job
                for job in self._state.jobs.values()
                if case_id is None or job.case_id == case_id
            ]

    def subscribe(self, subscription_id: str, submitter_id: str, resource: dict[str, Any]) -> None:
        """An active PAS subscription a planner will find (as the FHIR router stores one)."""
        with self._lock:
            record = SubscriptionRecord(subscription_id, submitter_id, resource)
            self._state.subscriptions[subscription_id] = _Subscription(record)
