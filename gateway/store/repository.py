"""The case store on SQLAlchemy: `SqlCaseStore` implements the case service's port
(gateway.service.store.CaseStore) over SQLite and PostgreSQL.

One unit of work is one database transaction: writes take `writing` (one writer at a time per
SQLite file, concurrent on PostgreSQL), a stored case about to change is read `FOR UPDATE` on
PostgreSQL, counters are one upsert, replay keys are `INSERT ... ON CONFLICT DO NOTHING`, and a
unique key stored concurrently surfaces as the port's StoreConflict, not as a driver error.

In a batch (`SqlCaseStore.batch()`, `gateway submit` of a batch file) the units of work of one
thread share one database transaction, committed every `size` units: the commit and the
transaction's start are paid once per group, not once per case. Each unit is still all or
nothing: on SQLite its rows wait in memory and the group writes them with one executemany per
table (`_BufferedTransaction`), on PostgreSQL it runs inside a SAVEPOINT of its own. A crash
loses the uncommitted group whole, and a rerun of the file answers what committed as replays
(their replay keys) and stores the rest (issue 19).

The hot statements are built once per dialect with bound parameters (SQLAlchemy Core on the
tables, not ORM unit-of-work flushes): their compiled form is cached, so a case costs the
execution of a few statements, not their construction and compilation.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, Text, bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain.case import Case, CaseStatus, Determination
from gateway.service.store import (
    CaseEvent,
    CaseRecord,
    JobSpec,
    PlannerReads,
    Replay,
    StoreConflict,
)
from gateway.store import outbox
from gateway.store.db import make_engine, session_factory, upgrade, writing, writing_lock
from gateway.store.lookup import index_case as _reindex_case
from gateway.store.lookup import (
    lookup_rows,
    member_case_ids,
    submitter_trace_case_ids,
)
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
BATCH_SIZE = 200  # units of work per database transaction in a batch


class _Statements:
    """The intake's statements for one dialect, built once (their compiled form is cached)."""

    def __init__(self, postgres: bool):
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
        self.counter_value = select(counters.c.value).where(counters.c.name == bindparam("name"))
        # A batch's counters, written once per group: the value its last unit reached.
        set_value = upsert(counters).values(name=bindparam("name"), value=bindparam("value"))
        self.set_counter = set_value.on_conflict_do_update(
            index_elements=["name"], set_={"value": set_value.excluded.value}
        )
        self.insert_replay = insert(replays)
        self.insert_case = insert(CaseRow.__table__)
        # SQLite, in a batch: a new case's JSON, serialised once for both columns it fills
        # (the JSON type would encode the same dict twice). The text is the JSON type's own:
        # json.dumps with its defaults.
        self.insert_case_text = insert(CaseRow.__table__).values(
            case_json=bindparam("case_json", type_=Text()),
            original_json=bindparam("original_json", type_=Text()),
        )
        self.insert_event = insert(CaseEventRow.__table__)
        self.insert_lookup = insert(CaseLookupRow.__table__)
        # A key already stored is skipped (a re-stored determination makes no second job).
        self.insert_jobs = upsert(OutboxJobRow.__table__).on_conflict_do_nothing(
            index_elements=["idempotency_key"]
        )


@cache
def _statements(postgres: bool) -> _Statements:
    return _Statements(postgres)


class _BatchReads(SessionReads):
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


def _case_rows(
    case: Case, determination: Determination, at: datetime
) -> tuple[dict[str, Any], list[dict[str, object]]]:
    """A new case's row and its lookup rows (gateway.store.lookup), as bound parameters."""
    assert case.id is not None
    case_json = case.model_dump(mode="json")
    member_key = case.member.member_id.upper()
    values: dict[str, Any] = dict(
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
        case_json=case_json,
        original_json=case_json,
        determination_json=determination.model_dump(mode="json"),
        created_at=at,
        updated_at=at,
    )
    return values, lookup_rows(case.id, member_key, case_json, at)


def _event_row(case_id: str, event: CaseEvent) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "at": event.at,
        "actor": event.actor,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "reason": event.reason,
        "detail": event.detail,
    }


def _job_rows(case_id: str | None, jobs: Sequence[JobSpec], at: datetime) -> list[dict[str, Any]]:
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
        self._sql = _statements(postgres)
        self._remembered = remembered  # a batch's planner reads, kept for its group
        self._numbers = numbers  # a batch's counters on PostgreSQL (see _Batch.next_number)

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
        self.session.execute(
            update(ReplayRow)
            .where(ReplayRow.key == key, ReplayRow.response.is_(None))
            .values(response=response)
        )

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
        values, rows = _case_rows(case, determination, at)
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
        self.session.execute(self._sql.insert_event, _event_row(case_id, event))

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
        self.session.execute(self._sql.insert_jobs, _job_rows(case_id, jobs, at))

    def reads(self) -> PlannerReads:
        if self._remembered is not None:
            return _BatchReads(self.session, self._remembered, self._numbers)
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


class SqlCaseStore:
    """The case store in the gateway's database (built by gateway.wiring from settings).

    `engine` and `sessions` stay public: the routers, the dispatcher and the partners code keep
    their own tables (partners, audit, subscriptions, the outbox listing) in the same database.
    """

    def __init__(self, engine: Engine, *, migrate: bool = True):
        self.engine = engine
        if migrate:
            upgrade(engine)
        self.sessions: sessionmaker[Session] = session_factory(engine)
        self._postgres = engine.dialect.name == "postgresql"
        self._local = threading.local()  # the batch this thread has open, if any

    @classmethod
    def from_url(cls, database_url: str, *, migrate: bool = True) -> SqlCaseStore:
        return cls(make_engine(database_url), migrate=migrate)

    @contextmanager
    def transaction(self) -> Iterator[SqlCaseTransaction]:
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:
            with batch.unit() as tx:
                yield tx
            return
        try:
            with writing(self.sessions) as session:
                yield SqlCaseTransaction(session, postgres=self._postgres)
        except IntegrityError as exc:
            # A unique key (replay key, request identity, case id) stored concurrently.
            raise StoreConflict(str(exc.orig or exc)) from exc

    @contextmanager
    def read(self) -> Iterator[SqlCaseTransaction]:
        batch: _Batch | None = getattr(self._local, "batch", None)
        if batch is not None:  # the batch's own writes, committed or not yet
            batch.written()
            yield SqlCaseTransaction(batch.session, postgres=self._postgres)
            return
        with self.sessions() as session:
            yield SqlCaseTransaction(session, postgres=self._postgres)

    @contextmanager
    def batch(self, size: int = BATCH_SIZE) -> Iterator[None]:
        """Units of work of this thread, `size` to a database transaction (see the module's
        docstring); each unit is still all or nothing. Nested batches join the outer one."""
        if getattr(self._local, "batch", None) is not None:
            yield
            return
        with writing_lock(self.sessions), self.sessions() as session:
            batch = _Batch(session, size, postgres=self._postgres, sessions=self.sessions)
            self._local.batch = batch
            try:
                yield
                batch.commit()
            except BaseException:
                session.rollback()
                raise
            finally:
                self._local.batch = None

    def enqueue_in(
        self, session: Session, case_id: str | None, jobs: Sequence[JobSpec], *, at: datetime
    ) -> None:
        """Outbound jobs in a transaction of the caller's own (a subscription stored with its
        handshake job), once per idempotency key."""
        outbox.enqueue(session, case_id, jobs, now=at)

    def dispose(self) -> None:
        self.engine.dispose()


class _Rows:
    """What units of work of a batch wrote and the database has not seen yet, by table."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}  # a counter's value after the last unit
        self.replays: dict[str, dict[str, Any]] = {}
        self.cases: list[dict[str, Any]] = []
        self.lookups: list[dict[str, object]] = []
        self.events: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []

    def take(self, unit: _Rows) -> None:
        self.counters.update(unit.counters)
        self.replays.update(unit.replays)
        self.cases += unit.cases
        self.lookups += unit.lookups
        self.events += unit.events
        self.jobs += unit.jobs

    def __bool__(self) -> bool:
        return bool(self.counters or self.replays or self.cases or self.events or self.jobs)


class _BufferedTransaction(SqlCaseTransaction):
    """A unit of work of a batch on SQLite, whose rows wait in memory for the group's commit.

    What intake writes (a case and its lookup rows, its event, its jobs, replay keys, counters)
    is kept in the unit's own rows, taken into the group's when the unit ends cleanly, and
    written with one executemany per table when the group commits: a failed unit leaves
    nothing, with no SAVEPOINT to undo. The reads intake makes in the meantime (a replay key,
    a counter) are answered from those rows first. This is exact because the batch holds the
    database's write lock (BEGIN IMMEDIATE) from its first unit to the group's commit: no
    other writer can store a key or count a number in between.

    Anything else (a stored case read or changed, a history, a lookup) needs the database
    as written: the unit then writes the group's rows, opens its SAVEPOINT, writes its own
    and goes on as an ordinary unit of a batch (`direct`).
    """

    def __init__(self, batch: _Batch):
        super().__init__(batch.session, postgres=False, remembered=batch.remembered)
        self._batch = batch
        self.rows = _Rows()
        self.direct = False

    def _go_direct(self) -> None:
        if self.direct:
            return
        self._batch.write_pending()
        self._batch.savepoint = self.session.begin_nested()
        self._batch.write(self.rows)
        self.rows = _Rows()
        self.direct = True

    # -- answered from the rows ----------------------------------------------------------------

    def next_number(self, name: str) -> int:
        if self.direct:
            return super().next_number(name)
        value = self.rows.counters.get(name)
        if value is None:
            value = self._batch.counter(name)
        self.rows.counters[name] = value + 1
        return value + 1

    def _pending_replay(self, key: str) -> dict[str, Any] | None:
        return self.rows.replays.get(key) or self._batch.pending.replays.get(key)

    def replay(self, key: str) -> Replay | None:
        if self.direct:
            return super().replay(key)
        row = self._pending_replay(key)
        if row is not None:
            return Replay(list(row["case_ids"] or []), row["response"])
        if key in self._batch.absent:
            return None
        found = self._batch.stored_replay(key)
        if found is None:
            self._batch.absent.add(key)
        return found

    def remember(
        self, key: str, case_ids: list[str], response: str | None, *, at: datetime
    ) -> bool:
        if self.direct:
            return super().remember(key, case_ids, response, at=at)
        if self.replay(key) is not None:
            return False
        self.rows.replays[key] = {
            "key": key,
            "case_ids": list(case_ids),
            "response": response,
            "created_at": at,
        }
        self._batch.absent.discard(key)
        return True

    def keep_answer(self, key: str, response: str) -> None:
        if not self.direct:
            row = self._pending_replay(key)
            if row is not None:
                if row["response"] is None:
                    row["response"] = response
                return
        self._go_direct()
        super().keep_answer(key, response)

    def insert_case(self, case: Case, determination: Determination, *, at: datetime) -> None:
        if self.direct:
            return super().insert_case(case, determination, at=at)
        values, rows = _case_rows(case, determination, at)
        values["case_json"] = values["original_json"] = json.dumps(values["case_json"])
        self.rows.cases.append(values)
        self.rows.lookups += rows

    def add_event(self, case_id: str, event: CaseEvent) -> None:
        if self.direct:
            return super().add_event(case_id, event)
        self.rows.events.append(_event_row(case_id, event))

    def enqueue(self, case_id: str | None, jobs: Sequence[JobSpec], *, at: datetime) -> None:
        if self.direct:
            return super().enqueue(case_id, jobs, at=at)
        self.rows.jobs += _job_rows(case_id, jobs, at)

    def reads(self) -> PlannerReads:
        return _BufferedReads(self)

    # -- the database as written ---------------------------------------------------------------

    def case(self, case_id: str, *, lock: bool = False) -> CaseRecord | None:
        self._go_direct()
        return super().case(case_id, lock=lock)

    def update_case(
        self, record: CaseRecord, case: Case, determination: Determination, *, at: datetime
    ) -> None:
        self._go_direct()
        super().update_case(record, case, determination, at=at)

    def events(self, case_id: str) -> list[CaseEvent]:
        self._go_direct()
        return super().events(case_id)

    def children(self, case_id: str) -> list[str]:
        self._go_direct()
        return super().children(case_id)

    def awaiting_primary(self, case_id: str) -> list[CaseRecord]:
        self._go_direct()
        return super().awaiting_primary(case_id)

    def successors(self, case_ids: Collection[str]) -> list[str]:
        self._go_direct()
        return super().successors(case_ids)

    def by_submitter_trace(self, submitter_id: str, trace_number: str) -> list[str]:
        self._go_direct()
        return super().by_submitter_trace(submitter_id, trace_number)

    def member_cases(
        self, member_key: str, npi: str, claim_identifiers: Collection[str], limit: int
    ) -> list[CaseRecord]:
        self._go_direct()
        return super().member_cases(member_key, npi, claim_identifiers, limit)

    def holds_due(self, now: datetime) -> list[str]:
        self._go_direct()
        return super().holds_due(now)

    def by_status(self, status: str | None, limit: int) -> list[CaseRecord]:
        self._go_direct()
        return super().by_status(status, limit)


class _BufferedReads(_BatchReads):
    """The planners' view of a buffered unit: counters are the unit's; a subscription's event
    number is counted in the database (the unit goes direct first)."""

    def __init__(self, tx: _BufferedTransaction):
        super().__init__(tx.session, tx._batch.remembered)
        self._tx = tx

    def next_number(self, name: str) -> int:
        return self._tx.next_number(name)

    def next_subscription_event(self, subscription_id: str) -> int:
        self._tx._go_direct()
        return super().next_subscription_event(subscription_id)


class _Batch:
    """One thread's open batch: a session whose transaction holds up to `size` units."""

    def __init__(
        self, session: Session, size: int, *, postgres: bool, sessions: sessionmaker[Session]
    ):
        self.session = session
        self.size = max(1, size)
        self.postgres = postgres
        self.sessions = sessions
        self.units = 0
        self.depth = 0  # units open now (a unit may open another: a counter, say)
        self.remembered: dict[tuple[str, str | None], Any] = {}
        # SQLite: the group's rows not yet written, the replay keys known to be absent from
        # the database, and the savepoint of a unit gone direct.
        self.pending = _Rows()
        self.absent: set[str] = set()
        self.savepoint: Any = None
        self.open: _BufferedTransaction | None = None  # the buffered unit open now
        self._sql = _statements(postgres)

    def next_number(self, name: str) -> int:
        """PostgreSQL: a counter's next value in a short transaction of its own, as a sequence
        hands out numbers. Counted inside the group's transaction, the counter's row would stay
        locked until the group commits, and every other gateway process numbering a case
        would wait for it (issue 19 item 6). A group lost in a crash leaves its numbers unused:
        they never repeat."""
        with self.sessions.begin() as own:
            statement = _statements(True).next_number
            return int(own.execute(statement, {"name": name}).scalar_one())

    def counter(self, name: str) -> int:
        """SQLite: a counter's value as the group has it (read once, then counted here)."""
        value = self.pending.counters.get(name)
        if value is None:
            row = self.session.execute(self._sql.counter_value, {"name": name}).first()
            value = self.pending.counters[name] = int(row.value) if row is not None else 0
        return value

    def stored_replay(self, key: str) -> Replay | None:
        """SQLite: a replay key as the database has it, read on the driver's cursor: the
        lookup every case makes two or three times, without a statement's round through
        SQLAlchemy (the JSON column is plain JSON text)."""
        dbapi: Any = self.session.connection().connection.dbapi_connection
        row = dbapi.execute(
            "SELECT case_ids, response FROM replays WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return Replay(list(json.loads(row[0]) or []) if row[0] else [], row[1])

    def write(self, rows: _Rows) -> None:
        """Rows in the database, one executemany per table (cases before what refers to them)."""
        execute, sql = self.session.execute, self._sql
        if rows.counters:
            execute(sql.set_counter, [{"name": n, "value": v} for n, v in rows.counters.items()])
        if rows.replays:
            execute(sql.insert_replay, list(rows.replays.values()))
        if rows.cases:
            execute(sql.insert_case_text, rows.cases)
        if rows.lookups:
            execute(sql.insert_lookup, rows.lookups)
        if rows.events:
            execute(sql.insert_event, rows.events)
        if rows.jobs:
            execute(sql.insert_jobs, rows.jobs)

    def written(self) -> None:
        """The database as the batch wrote it, an open unit's rows included: that unit goes
        direct (a read, or a unit opened inside it, sees what it wrote, as in one session)."""
        if self.open is not None:
            self.open._go_direct()
        self.write_pending()

    def write_pending(self) -> None:
        """The group's rows written (they commit with it); the database is then as written."""
        if self.pending:
            self.write(self.pending)
        self.pending = _Rows()

    def _begin(self) -> None:
        connection = self.session.connection()
        if self.postgres:
            return
        # pysqlite opens a transaction only before DML, so a SAVEPOINT first would be the
        # outermost one (its RELEASE a commit). IMMEDIATE also takes the write lock now: a
        # reader turned writer may find another writer's commit and fail busy.
        dbapi: Any = connection.connection.dbapi_connection
        if not dbapi.in_transaction:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    @contextmanager
    def unit(self) -> Iterator[SqlCaseTransaction]:
        self._begin()
        if self.postgres or self.depth:
            # A unit inside a unit (or on PostgreSQL, where other writers run concurrently):
            # each with a SAVEPOINT of its own, straight on the database.
            with self._saved_unit() as tx:
                yield tx
        else:
            with self._buffered_unit() as tx:
                yield tx
        self.units += 1
        if self.units >= self.size and not self.depth:
            self.commit()

    @contextmanager
    def _saved_unit(self) -> Iterator[SqlCaseTransaction]:
        self.written()
        self.absent.clear()  # this unit may store keys the buffer does not know of
        savepoint = self.session.begin_nested()
        self.depth += 1
        try:
            yield SqlCaseTransaction(
                self.session,
                postgres=self.postgres,
                remembered=self.remembered,
                numbers=self.next_number if self.postgres else None,
            )
        except IntegrityError as exc:
            savepoint.rollback()
            raise StoreConflict(str(exc.orig or exc)) from exc
        except BaseException:
            savepoint.rollback()
            raise
        finally:
            self.depth -= 1
        savepoint.commit()

    @contextmanager
    def _buffered_unit(self) -> Iterator[SqlCaseTransaction]:
        tx = _BufferedTransaction(self)
        self.depth += 1
        self.open = tx
        try:
            yield tx
        except BaseException as exc:
            if tx.direct:
                self.savepoint.rollback()
                self._after_direct()
            if isinstance(exc, IntegrityError):
                raise StoreConflict(str(exc.orig or exc)) from exc
            raise
        finally:
            self.depth -= 1
            self.open = None
        if tx.direct:
            self.savepoint.commit()
            self._after_direct()
        else:
            self.pending.take(tx.rows)

    def _after_direct(self) -> None:
        # What a unit wrote straight to the database is not in the buffer: counters and
        # absent keys are read afresh.
        self.savepoint = None
        self.pending = _Rows()
        self.absent.clear()

    def commit(self) -> None:
        if self.session.in_transaction():
            self.write_pending()
            self.session.commit()
        # The session outlives the group: what it loaded is read afresh in the next one, as
        # a unit of work outside a batch reads it in a session of its own.
        self.session.expire_all()
        self.units = 0
        self.remembered.clear()
        self.pending = _Rows()
        self.absent.clear()
