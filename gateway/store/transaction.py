"""The SQL case store's unit of work: `SqlCaseTransaction` implements the case service's
CaseTransaction over one SQLAlchemy session (gateway.store.repository opens them, one a
database transaction; gateway.store.batch many to one).

The hot statements are built once per dialect with bound parameters (SQLAlchemy Core on the
tables, not ORM unit-of-work flushes): their compiled form is cached, so a case costs the
execution of a few statements, not their construction and compilation.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Text, bindparam, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gateway.domain.case import Case, CaseStatus, Determination
from gateway.service.store import (
    CaseEvent,
    CaseRecord,
    JobSpec,
    PlannerReads,
    Replay,
)
from gateway.store.lookup import (
    NPI_ROLES,
    lookup_rows,
    member_case_ids,
    submitter_trace_case_ids,
)
from gateway.store.lookup import index_case as _reindex_case
from gateway.store.models import (
    CaseEventRow,
    CaseLookupRow,
    CaseRow,
    CounterRow,
    OutboxJobRow,
    ReplayRow,
)
from gateway.store.reads import SessionReads

if TYPE_CHECKING:
    from gateway.partners.principal import Principal

_AWAITING = (CaseStatus.PENDED.value, CaseStatus.HELD.value)


class _Statements:
    """The intake's statements for one dialect, built once (their compiled form is cached)."""

    def __init__(self, postgres: bool):
        if postgres:  # the PostgreSQL dialect (and its drivers' modules) only on PostgreSQL
            from sqlalchemy.dialects.postgresql import insert as pg_insert
        upsert: Any = pg_insert if postgres else sqlite_insert
        counters, replays = CounterRow.__table__, ReplayRow.__table__
        self.next_number = (
            upsert(counters)
            .values(name=bindparam("name"), value=1)
            .on_conflict_do_update(index_elements=["name"], set_={"value": counters.c.value + 1})
            .returning(counters.c.value)
        )
        self.remember = (
            upsert(replays)
            .values(
                key=bindparam("key"),
                case_ids=bindparam("case_ids", type_=replays.c.case_ids.type),
                response=bindparam("response"),
                created_at=bindparam("created_at", type_=replays.c.created_at.type),
            )
            .on_conflict_do_nothing(index_elements=["key"])
            # SQLAlchemy 2.1 keeps an INSERT's rowcount only when asked: without it psycopg's
            # is gone (-1, true) and a key stored first by another process looked new.
            .execution_options(preserve_rowcount=True)
        )
        self.replay = select(replays.c.case_ids, replays.c.response).where(
            replays.c.key == bindparam("key")
        )
        # The rendered answer a replay gets, kept once: a prepared statement, not the ORM's
        # bulk UPDATE built and compiled on every $submit (names other than the columns').
        self.keep_answer = (
            update(ReplayRow.__table__)  # type: ignore[arg-type]  # a Table, typed FromClause
            .where(replays.c.key == bindparam("replay_key"), replays.c.response.is_(None))
            .values(response=bindparam("answer"))
        )
        self.counter_value = select(counters.c.value).where(counters.c.name == bindparam("name"))
        # A batch's counters, written once per group: the value its last unit reached.
        set_value = upsert(counters).values(name=bindparam("name"), value=bindparam("value"))
        self.set_counter = set_value.on_conflict_do_update(
            index_elements=["name"], set_={"value": set_value.excluded.value}
        )
        self.insert_replay = insert(replays)
        self.insert_case = insert(CaseRow.__table__)
        # SQLite, in a batch: a new case's JSON columns bound as the JSON text pydantic wrote
        # (case_text_rows), the case's encoded once for both columns it fills.
        self.insert_case_text = insert(CaseRow.__table__).values(
            case_json=bindparam("case_json", type_=Text()),
            original_json=bindparam("original_json", type_=Text()),
            determination_json=bindparam("determination_json", type_=Text()),
        )
        self.insert_event = insert(CaseEventRow.__table__)
        self.insert_lookup = insert(CaseLookupRow.__table__)
        # A key already stored is skipped (a re-stored determination makes no second job).
        self.insert_jobs = upsert(OutboxJobRow.__table__).on_conflict_do_nothing(
            index_elements=["idempotency_key"]
        )


@cache
def statements(postgres: bool) -> _Statements:
    return _Statements(postgres)


class BatchReads(SessionReads):
    """PlannerReads within a batch: who a partner is and which subscriptions a submitter
    holds are read once per group, not once per case (intake changes neither)."""

    def __init__(
        self,
        session: Session,
        remembered: dict[tuple[str, str | None], Any],
        numbers: Callable[[str], int] | None = None,
    ):
        super().__init__(session)
        self._remembered = remembered
        self._numbers = numbers

    def _once(self, kind: str, key: str | None, read: Any) -> Any:
        if (kind, key) not in self._remembered:
            self._remembered[(kind, key)] = read(key)
        return self._remembered[(kind, key)]

    def active_subscriptions(self, submitter_id: str | None) -> list[Any]:
        return list(self._once("subscriptions", submitter_id, super().active_subscriptions))

    def partner(self, partner_id: str | None) -> Principal | None:
        result: Principal | None = self._once("partner", partner_id, super().partner)
        return result

    def submitting_partner(self, submitter_id: str | None) -> Any:
        return self._once("submitting", submitter_id, super().submitting_partner)

    def next_number(self, name: str) -> int:
        # PostgreSQL: the batch's numbers (a short transaction each), as the unit's own
        # next_number. Counted in the group's transaction, the counter's row would stay locked
        # until the group commits, and the next unit numbering it would wait on itself.
        if self._numbers is not None:
            return self._numbers(name)
        return super().next_number(name)


def _record(row: CaseRow) -> CaseRecord:
    return CaseRecord(
        id=row.id,
        status=row.status,
        submitter_id=row.submitter_id,
        member_key=row.member_key,
        related_case_id=row.related_case_id,
        prior_case_id=row.prior_case_id,
        case_json=row.case_json,
        original_json=row.original_json,
        determination_json=row.determination_json,
        created_at=row.created_at,
        updated_at=row.updated_at,
        due_by=row.due_by,
        hold_due=row.hold_due,
    )


def case_rows(
    case: Case, determination: Determination, at: datetime
) -> tuple[dict[str, Any], list[dict[str, object]]]:
    """A new case's row and its lookup rows (gateway.store.lookup), as bound parameters."""
    assert case.id is not None
    case_json = case.model_dump(mode="json")
    member_key = case.member.member_id.upper()
    values = _case_values(case, determination, at, member_key)
    values["case_json"] = values["original_json"] = case_json
    values["determination_json"] = determination.model_dump(mode="json")
    return values, lookup_rows(case.id, member_key, case_json, at)


# What gateway.store.lookup reads of a case's JSON: its parties' NPIs and its trace numbers.
_LOOKUP_FIELDS: dict[str, Any] = {
    **{role: {"npi"} for role in NPI_ROLES},
    "submission": {"trace_numbers"},
}


def case_text_rows(
    case: Case, determination: Determination, at: datetime
) -> tuple[dict[str, Any], list[dict[str, object]]]:
    """case_rows with the JSON columns as JSON text (`insert_case_text`): pydantic encodes the
    case once for both columns it fills, and the determination, without a dict in between.
    The text is compact rather than json.dumps' spacing; the JSON type reads it back the same."""
    assert case.id is not None
    member_key = case.member.member_id.upper()
    values = _case_values(case, determination, at, member_key)
    values["case_json"] = values["original_json"] = case.model_dump_json()
    values["determination_json"] = determination.model_dump_json()
    parties = case.model_dump(mode="json", include=_LOOKUP_FIELDS)
    return values, lookup_rows(case.id, member_key, parties, at)


def _case_values(
    case: Case, determination: Determination, at: datetime, member_key: str
) -> dict[str, Any]:
    return dict(
        id=case.id,
        status=determination.status.value,
        program=case.program.value,
        payer_id=case.payer_id,
        plan_id=determination.plan_id,
        channel=case.submission.channel.value,
        submitter_id=case.submission.submitter_id,
        member_key=member_key,
        related_case_id=case.related_case_id,
        prior_case_id=case.prior_case_id,
        due_by=determination.due_by,
        hold_due=determination.hold_due,
        created_at=at,
        updated_at=at,
    )


def event_row(case_id: str, event: CaseEvent) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "at": event.at,
        "actor": event.actor,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "reason": event.reason,
        "detail": event.detail,
    }


def job_rows(case_id: str | None, jobs: Sequence[JobSpec], at: datetime) -> list[dict[str, Any]]:
    return [
        {
            "case_id": case_id,
            "kind": spec.kind,
            "idempotency_key": spec.idempotency_key,
            "payload": spec.payload,
            "state": "queued",
            "attempts": 0,
            "next_attempt_at": at,
            "created_at": at,
            "updated_at": at,
        }
        for spec in jobs
    ]


class SqlCaseTransaction:
    """The port's unit of work over one SQLAlchemy session."""

    def __init__(
        self,
        session: Session,
        *,
        postgres: bool,
        remembered: dict[tuple[str, str | None], Any] | None = None,
        numbers: Callable[[str], int] | None = None,
    ):
        self.session = session
        self._postgres = postgres
        self._sql = statements(postgres)
        self._remembered = remembered  # a batch's planner reads, kept for its group
        self._numbers = numbers  # a batch's counters on PostgreSQL (see Batch.next_number)

    # -- counters and replay keys -----------------------------------------------------------

    def next_number(self, name: str) -> int:
        if self._numbers is not None:
            return self._numbers(name)
        # One upsert: the row lock it takes (PostgreSQL) or the write lock (SQLite) makes the
        # increment atomic across processes.
        return int(self.session.execute(self._sql.next_number, {"name": name}).scalar_one())

    def remember(
        self, key: str, case_ids: list[str], response: str | None, *, at: datetime
    ) -> bool:
        result: Any = self.session.execute(  # a CursorResult: INSERT reports rowcount
            self._sql.remember,
            {"key": key, "case_ids": case_ids, "response": response, "created_at": at},
        )
        return bool(result.rowcount)

    def replay(self, key: str) -> Replay | None:
        row = self.session.execute(self._sql.replay, {"key": key}).first()
        if row is None:
            return None
        return Replay(list(row.case_ids or []), row.response)

    def keep_answer(self, key: str, response: str) -> None:
        self.session.execute(self._sql.keep_answer, {"replay_key": key, "answer": response})

    # -- cases -------------------------------------------------------------------------------

    def case(self, case_id: str, *, lock: bool = False) -> CaseRecord | None:
        if not lock:
            row = self.session.get(CaseRow, case_id)
            return _record(row) if row is not None else None
        query = select(CaseRow).where(CaseRow.id == case_id)
        if self._postgres:
            # SELECT ... FOR UPDATE, read afresh: a row this session saw before the lock may
            # have changed since.
            query = query.with_for_update().execution_options(populate_existing=True)
        row = self.session.execute(query).scalar_one_or_none()
        return _record(row) if row is not None else None

    def insert_case(self, case: Case, determination: Determination, *, at: datetime) -> None:
        values, rows = case_rows(case, determination, at)
        self.session.execute(self._sql.insert_case, values)
        if rows:
            self.session.execute(self._sql.insert_lookup, rows)

    def update_case(
        self, record: CaseRecord, case: Case, determination: Determination, *, at: datetime
    ) -> None:
        row = self.session.get(CaseRow, record.id)
        if row is None:
            raise LookupError(record.id)
        row.case_json = case.model_dump(mode="json")
        row.determination_json = determination.model_dump(mode="json")
        row.status = determination.status.value
        row.due_by = determination.due_by
        row.hold_due = determination.hold_due
        row.updated_at = at
        # An update may change the parties or the claim identifiers $inquire matches on.
        _reindex_case(self.session, row.id, row.member_key, row.case_json, row.created_at)
        record.status = row.status
        record.case_json = row.case_json
        record.determination_json = row.determination_json
        record.updated_at = at
        record.due_by = row.due_by
        record.hold_due = row.hold_due

    def add_event(self, case_id: str, event: CaseEvent) -> None:
        self.session.execute(self._sql.insert_event, event_row(case_id, event))

    def events(self, case_id: str) -> list[CaseEvent]:
        rows = self.session.execute(
            select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.id)
        ).scalars()
        return [
            CaseEvent(e.at, e.actor, e.from_status, e.to_status, e.reason, e.detail) for e in rows
        ]

    def enqueue(self, case_id: str | None, jobs: Sequence[JobSpec], *, at: datetime) -> None:
        if not jobs:
            return
        self.session.flush()  # a case changed through the ORM first: jobs reference it
        # One executemany of the prepared statement (as gateway.store.outbox.enqueue stores
        # them: once per idempotency key), not a statement built for each determination.
        self.session.execute(self._sql.insert_jobs, job_rows(case_id, jobs, at))

    def reads(self) -> PlannerReads:
        if self._remembered is not None:
            return BatchReads(self.session, self._remembered, self._numbers)
        return SessionReads(self.session)

    # -- lookups -----------------------------------------------------------------------------

    def children(self, case_id: str) -> list[str]:
        return list(
            self.session.execute(
                select(CaseRow.id).where(CaseRow.related_case_id == case_id).order_by(CaseRow.id)
            ).scalars()
        )

    def awaiting_primary(self, case_id: str) -> list[CaseRecord]:
        rows = self.session.execute(
            select(CaseRow).where(CaseRow.related_case_id == case_id, CaseRow.status.in_(_AWAITING))
        ).scalars()
        return [_record(row) for row in rows]

    def successors(self, case_ids: Collection[str]) -> list[str]:
        return list(
            self.session.execute(
                select(CaseRow.id)
                .where(CaseRow.prior_case_id.in_(list(case_ids)))
                .order_by(CaseRow.created_at, CaseRow.id)
            ).scalars()
        )

    def by_submitter_trace(self, submitter_id: str, trace_number: str) -> list[str]:
        return submitter_trace_case_ids(self.session, submitter_id, trace_number)

    def member_cases(
        self, member_key: str, npi: str, claim_identifiers: Collection[str], limit: int
    ) -> list[CaseRecord]:
        # Read from the case_lookup index (gateway.store.lookup): one bounded read however
        # many cases the member has (issue 18).
        ids = member_case_ids(self.session, member_key, npi, claim_identifiers, limit)
        rows = {
            row.id: row
            for row in self.session.execute(select(CaseRow).where(CaseRow.id.in_(ids))).scalars()
        }
        return [_record(rows[case_id]) for case_id in ids if case_id in rows]

    def holds_due(self, now: datetime) -> list[str]:
        return list(
            self.session.execute(
                select(CaseRow.id).where(
                    CaseRow.status == CaseStatus.HELD.value, CaseRow.hold_due < now
                )
            ).scalars()
        )

    def by_status(self, status: str | None, limit: int) -> list[CaseRecord]:
        query = select(CaseRow)
        if status:
            query = query.where(CaseRow.status == status)
        query = query.order_by(CaseRow.due_by.is_(None), CaseRow.due_by, CaseRow.created_at)
        return [_record(row) for row in self.session.execute(query.limit(limit)).scalars()]
