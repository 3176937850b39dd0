"""A batch of units of work over the SQL case store (`SqlCaseStore.batch()`, issue 19).

The units of work of one thread share one database transaction, committed every `size` units.
Each unit stays all or nothing: on SQLite its rows wait in memory (`BufferedTransaction`) and a
group's are written with one executemany per table when it commits; on PostgreSQL, where other
writers run at the same time, each unit has a SAVEPOINT of its own and numbers are taken in
short transactions of their own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain.case import Case, Determination
from gateway.service.store import (
    CaseEvent,
    CaseRecord,
    JobSpec,
    PlannerReads,
    Replay,
    StoreConflict,
)
from gateway.store.models import UTCDateTime
from gateway.store.transaction import (
    BatchReads,
    SqlCaseTransaction,
    case_text_rows,
    event_row,
    job_rows,
    statements,
)

# (statement, column names) -> the SQL text and, per parameter, (name, bind processor, is a
# UTC time): compiled once per process, as SQLAlchemy's compiled cache would.
_PLANS: dict[tuple[Any, tuple[str, ...]], tuple[str, list[tuple[str, Any, bool]]] | None] = {}


def _raw_plan(
    statement: Any, first: dict[str, Any], session: Session
) -> tuple[str, list[tuple[str, Any, bool]]] | None:
    """How to send `statement` for rows shaped like `first` straight to sqlite3; None when
    SQLAlchemy must (a column default computed per row, a bind name escaped)."""
    key = (statement, tuple(first))
    if key in _PLANS:
        return _PLANS[key]
    dialect = session.get_bind().dialect
    compiled: Any = statement.compile(dialect=dialect, column_keys=list(first))
    plan: tuple[str, list[tuple[str, Any, bool]]] | None = None
    if (
        compiled.positional
        and not compiled.insert_prefetch
        and not compiled.escaped_bind_names
        and set(compiled.positiontup) <= set(first)
    ):
        processors = compiled._bind_processors
        plan = (
            compiled.string,
            [
                (
                    name,
                    processors.get(name),
                    isinstance(compiled.binds[name].type, UTCDateTime),
                )
                for name in compiled.positiontup
            ],
        )
    _PLANS[key] = plan
    return plan


class Rows:
    """What units of work of a batch wrote and the database has not seen yet, by table."""

    def __init__(self) -> None:
        self.counters: dict[str, int] = {}  # a counter's value after the last unit
        self.replays: dict[str, dict[str, Any]] = {}
        self.cases: list[dict[str, Any]] = []
        self.lookups: list[dict[str, object]] = []
        self.events: list[dict[str, Any]] = []
        self.jobs: list[dict[str, Any]] = []

    def take(self, unit: Rows) -> None:
        self.counters.update(unit.counters)
        self.replays.update(unit.replays)
        self.cases += unit.cases
        self.lookups += unit.lookups
        self.events += unit.events
        self.jobs += unit.jobs

    def __bool__(self) -> bool:
        return bool(self.counters or self.replays or self.cases or self.events or self.jobs)


class BufferedTransaction(SqlCaseTransaction):
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

    def __init__(self, batch: Batch):
        super().__init__(batch.session, postgres=False, remembered=batch.remembered)
        self._batch = batch
        self.rows = Rows()
        self.direct = False

    def _go_direct(self) -> None:
        if self.direct:
            return
        self._batch.write_pending()
        self._batch.savepoint = self.session.begin_nested()
        self._batch.write(self.rows)
        self.rows = Rows()
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
        values, rows = case_text_rows(case, determination, at)
        self.rows.cases.append(values)
        self.rows.lookups += rows

    def add_event(self, case_id: str, event: CaseEvent) -> None:
        if self.direct:
            return super().add_event(case_id, event)
        self.rows.events.append(event_row(case_id, event))

    def enqueue(self, case_id: str | None, jobs: Sequence[JobSpec], *, at: datetime) -> None:
        if self.direct:
            return super().enqueue(case_id, jobs, at=at)
        self.rows.jobs += job_rows(case_id, jobs, at)

    def reads(self) -> PlannerReads:
        return BufferedReads(self)

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


class BufferedReads(BatchReads):
    """The planners' view of a buffered unit: counters are the unit's; a subscription's event
    number is counted in the database (the unit goes direct first)."""

    def __init__(self, tx: BufferedTransaction):
        super().__init__(tx.session, tx._batch.remembered)
        self._tx = tx

    def next_number(self, name: str) -> int:
        return self._tx.next_number(name)

    def next_subscription_event(self, subscription_id: str) -> int:
        self._tx._go_direct()
        return super().next_subscription_event(subscription_id)


class Batch:
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
        self.pending = Rows()
        self.absent: set[str] = set()
        self.savepoint: Any = None
        self.open: BufferedTransaction | None = None  # the buffered unit open now
        self._sql = statements(postgres)
        # SQLite: the driver's connection of the group's transaction, looked up once per group
        # (Session.connection() on every read and unit cost more than the read itself).
        self._driver: Any = None
        self._driver_of: Any = None  # the session transaction it was looked up in

    def next_number(self, name: str) -> int:
        """PostgreSQL: a counter's next value in a short transaction of its own, as a sequence
        hands out numbers. Counted inside the group's transaction, the counter's row would stay
        locked until the group commits, and every other gateway process numbering a case
        would wait for it (issue 19 item 6). A group lost in a crash leaves its numbers unused:
        they never repeat."""
        with self.sessions.begin() as own:
            statement = statements(True).next_number
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
        dbapi = self.driver()
        row = dbapi.execute(
            "SELECT case_ids, response FROM replays WHERE key = ?", (key,)
        ).fetchone()
        if row is None:
            return None
        return Replay(list(json.loads(row[0]) or []) if row[0] else [], row[1])

    def write(self, rows: Rows) -> None:
        """Rows in the database, one executemany per table (cases before what refers to them)."""
        sql = self._sql
        execute = self.session.execute if self.postgres else self._executemany
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

    def _executemany(self, statement: Any, rows: list[dict[str, Any]]) -> None:
        """SQLite: one executemany on the driver's cursor, the statement compiled once per
        process and the rows bound by the columns' own bind processors (the JSON and UTC time
        columns), exactly what Session.execute would send. Skipped: SQLAlchemy's per-row
        parameter processing, about a third of the batch write's CPU. A group's rows share
        their few times (a unit's `at`), so each distinct one is converted once."""
        plan = _raw_plan(statement, rows[0], self.session)
        if plan is None:
            self.session.execute(statement, rows)
            return
        sql, columns = plan
        converted: dict[Any, Any] = {}

        def timed(process: Any, value: Any) -> Any:
            # A datetime's text is its instant's: equal values (hash alike) bind alike.
            found = converted.get(value)
            if found is None:
                found = converted[value] = process(value)
            return found

        try:
            params = [
                tuple(
                    row[name]
                    if process is None
                    else (timed(process, row[name]) if time else process(row[name]))
                    for name, process, time in columns
                )
                for row in rows
            ]
        except KeyError:  # rows of other shapes: SQLAlchemy's own way (it says what is amiss)
            self.session.execute(statement, rows)
            return
        # Through Session.connection(), not the cached driver: a SAVEPOINT begun just before
        # (a unit gone direct) is emitted there, and must precede the unit's rows.
        dbapi: Any = self.session.connection().connection.dbapi_connection
        try:
            dbapi.executemany(sql, params)
        except sqlite3.Error as exc:
            # The errors SQLAlchemy would raise (IntegrityError is a StoreConflict upstream).
            raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc

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
        self.pending = Rows()

    def driver(self) -> Any:
        """SQLite: the sqlite3 connection the group's transaction is on (begun if need be)."""
        if self._driver is None or self.session.get_transaction() is not self._driver_of:
            self._driver = self.session.connection().connection.dbapi_connection
            self._driver_of = self.session.get_transaction()
        return self._driver

    def _begin(self) -> None:
        # The group's transaction opened before its first unit: a SAVEPOINT first would be the
        # outermost one (its RELEASE a commit). On SQLite the session's engine begins it
        # IMMEDIATE (the repository's `batch`), taking the write lock now: a reader turned
        # writer could find another process's commit since and fail "database is locked".
        if self.postgres:
            self.session.connection()
        else:
            self.driver()

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
        tx = BufferedTransaction(self)
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
        self.pending = Rows()
        self.absent.clear()

    def commit(self) -> None:
        if self.session.in_transaction():
            self.write_pending()
            self.session.commit()
        self._driver = None  # the next group may be on another of the pool's connections
        # The session outlives the group: what it loaded is read afresh in the next one, as
        # a unit of work outside a batch reads it in a session of its own.
        self.session.expire_all()
        self.units = 0
        self.remembered.clear()
        self.pending = Rows()
        self.absent.clear()
