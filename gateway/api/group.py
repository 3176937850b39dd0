"""Group commit of intake requests (issue 19 item 3): the X12 real-time requests of one process,
taken together into one database transaction by one writer thread.

Why: a request to `/x12/278` opens about eight write transactions of its own (two control
numbers, the case, its answer for replays, the audit record), each a turn of this process's
SQLite write lock, a BEGIN IMMEDIATE and a COMMIT; fifty clients at once queue on that lock in
as many threads, and a second `gateway serve` process waits in SQLite's busy handler, whose
sleeps were the p99. Here the requests waiting at a moment are run one after the other in one
batch of the case store (`SqlCaseStore.batch`, gateway/store/batch.py: each unit of work still
all or nothing), their audit records are written in that same transaction, and each request is
answered only when that transaction has committed. So:

- a case, its events, its jobs and its audit record commit together, or none of them do;
- a crash before the commit loses the whole group, none of which was answered: each client
  sends again and is answered as new (nothing was stored) -- nothing lost, nothing doubled;
- a unit that fails (a conflict, a refusal) fails alone: its own rows are dropped, its failure
  is audited in the group's transaction, and the others commit;
- a commit that fails answers every request of its group with that error, and their audit
  records are then written on their own, as failures.

On PostgreSQL, and without a SQL store that batches (an in-memory store in a test), each request
runs on its own in the thread pool, its audit record written right after it. PAS $submit runs
that way too (`grouped=False`): its cost is mostly profile checks and reading the bundle in
Python, before a few store writes, and in one writer thread it took turns with everything else
where the pool's threads overlap their store work (SQLite's C code, without the GIL) with each
other's Python; measured under load, grouped PAS answered half as many requests a second for
about the same CPU per request.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlalchemy import insert
from starlette.concurrency import run_in_threadpool

from gateway import audit
from gateway.audit.models import AuditRow
from gateway.store.db import writing

try:
    import fcntl
except ImportError:  # not on Windows: there the processes wait in SQLite's busy handler
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger("gateway.api")

T = TypeVar("T")

# Requests taken into one transaction at most: enough that fifty clients' requests go in two or
# three groups, few enough that a group holds the write lock for tens of milliseconds only.
MAX_GROUP = 32
# The writer thread ends after this long with nothing to do (a new request starts it again), so
# an app that is dropped (a test's) leaves no thread behind.
IDLE_SECONDS = 2.0
# The batch's own commit threshold, above any group: the group commits once, at its end.
_NO_THRESHOLD = 1_000_000


@dataclass
class Unit(Generic[T]):
    """One request's work in a group, what it answered and the audit records it wrote."""

    work: Callable[[list[dict[str, Any]]], T]
    future: Future[T] = field(default_factory=Future)
    audit_rows: list[dict[str, Any]] = field(default_factory=list)
    result: Any = None
    error: BaseException | None = None
    # Its work has committed already (only its audit records go in the group): a failed group
    # commit writes them alone as they are, not as failures.
    done: bool = False


class GroupWriter:
    """The writer of one app (one process): `await writer.run(work)`.

    `work(audit_rows)` runs in the writer thread inside the group's batch; it does what the
    request does with the case service and appends the audit records of the request (as
    `audit.rows` makes them) to `audit_rows`, which are inserted in the group's transaction
    whether the work returned or raised."""

    def __init__(self, store: Any, sessions: Any, *, max_group: int = MAX_GROUP) -> None:
        self.store = store
        self.sessions = sessions  # where an audit record goes when it is not in a group
        self.max_group = max_group
        # Only the SQL store on SQLite groups requests: there one writer at a time is the rule
        # the groups work with. PostgreSQL writes concurrently, and its batches give each unit
        # a SAVEPOINT and each number a transaction of its own, so a group saved next to
        # nothing there and took the pool's parallel connections away (measured: the same CPU
        # per request or more).
        engine = getattr(store, "engine", None)
        self.grouping = (
            callable(getattr(store, "batch", None))
            and engine is not None
            and engine.dialect.name == "sqlite"
        )
        self._turns = _FileTurns.of(store) if self.grouping else None
        self._queue: queue.SimpleQueue[Unit[Any]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    async def run(self, work: Callable[[list[dict[str, Any]]], T], *, grouped: bool = True) -> T:
        """The work's answer once it has committed. `grouped=False`: in the thread pool on its
        own (for work that is mostly Python before it touches the store, which the pool's
        threads overlap with the store's work in C; one writer thread would do it all in turn),
        its audit records committed right after it: in the writer's next group on SQLite, else
        in a transaction of their own."""
        if not self.grouping:
            return await run_in_threadpool(self._alone, work)
        if not grouped:
            return await self._then_audit(work)
        unit: Unit[T] = Unit(work)
        self._queue.put(unit)
        self._ensure_thread()
        return await asyncio.wrap_future(unit.future)

    async def _then_audit(self, work: Callable[[list[dict[str, Any]]], T]) -> T:
        """The work in the thread pool, its audit records then committed in the writer thread's
        next group: on SQLite a transaction of their own per request was a turn at the write
        lock each (BEGIN IMMEDIATE, COMMIT), about a tenth of a PAS request's CPU; in a group,
        one for all the requests waiting. Answered once they have committed, as before."""
        queued: list[Unit[None]] = []

        def run() -> T:
            rows: list[dict[str, Any]] = []
            try:
                return work(rows)
            finally:
                # Queued from the pool's thread: a request given up (its client gone) while
                # the work runs still leaves its audit record.
                if rows:
                    # The records are the unit's from the start: a group that fails before
                    # its units run still has them to write alone.
                    unit: Unit[None] = Unit(lambda _: None, audit_rows=rows, done=True)
                    queued.append(unit)
                    self._queue.put(unit)
                    self._ensure_thread()

        try:
            return await run_in_threadpool(run)
        finally:
            if queued:
                await asyncio.shield(asyncio.wrap_future(queued[0].future))

    def _alone(self, work: Callable[[list[dict[str, Any]]], T]) -> T:
        rows: list[dict[str, Any]] = []
        try:
            return work(rows)
        finally:
            _write_alone(self.sessions, rows, None)

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._serve, name="intake-group-writer", daemon=True
                )
                self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                first = self._queue.get(timeout=IDLE_SECONDS)
            except queue.Empty:
                with self._lock:
                    # A request queued between the timeout and here is still taken.
                    if self._queue.empty():
                        self._thread = None
                        return
                continue
            group = [first]
            while len(group) < self.max_group:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            # A request given up before its turn (its task cancelled) is not run; the others'
            # futures are running from here on and can no longer be cancelled under us.
            group = [unit for unit in group if unit.future.set_running_or_notify_cancel()]
            if group:
                self._commit(group)

    def _commit(self, group: list[Unit[Any]]) -> None:
        try:
            with self._turn(), self.store.batch(_NO_THRESHOLD):
                for unit in group:
                    try:
                        unit.result = unit.work(unit.audit_rows)
                    except Exception as exc:  # this request's failure, answered to it alone
                        unit.error = exc
                rows = [row for unit in group for row in unit.audit_rows]
                if rows:
                    # The batch's session, after the group's buffered rows: the audit records
                    # commit with the cases they record.
                    with self.store.read() as tx:
                        tx.session.execute(insert(AuditRow), rows)
        except Exception as exc:
            log.exception("a group of %d intake requests failed to commit", len(group))
            for unit in group:
                _write_alone(self.sessions, unit.audit_rows, None if unit.done else exc)
                _settle(unit.future, None, None if unit.done else exc)
            return
        except BaseException as exc:  # interpreter shutdown: nothing committed, nothing answered
            for unit in group:
                _settle(unit.future, None, exc)
            raise
        for unit in group:
            _settle(unit.future, unit.result, unit.error)

    @contextmanager
    def _turn(self) -> Iterator[None]:
        if self._turns is None:
            yield
            return
        with self._turns:
            yield


class _FileTurns:
    """Turns at a SQLite file's write lock among the `gateway serve` processes sharing it.

    SQLite makes a writer that finds the lock held sleep and retry in its busy handler, 1 to
    100 ms a try, and two processes' groups taking turns that way waited most of a p99 away.
    An exclusive flock on a file beside the database is waited for in the kernel instead, and
    handed over the moment the other group lets go; the database's own lock is then free (or
    held by a writer that is not a group, which the busy handler still waits for)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    @classmethod
    def of(cls, store: Any) -> _FileTurns | None:
        engine = getattr(store, "engine", None)
        if fcntl is None or engine is None or engine.dialect.name != "sqlite":
            return None
        database = engine.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return None
        return cls(Path(database).with_name(Path(database).name + ".writer-turns"))

    def __enter__(self) -> None:
        assert fcntl is not None
        # Opened for each turn and closed after it: an app that is dropped (a test's) keeps no
        # descriptor open, and closing it lets go of the lock even if unlocking failed.
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(self._fd)
            self._fd = None
            raise

    def __exit__(self, *_: object) -> None:
        assert fcntl is not None and self._fd is not None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            os.close(self._fd)
            self._fd = None


def _settle(future: Future[Any], result: Any, error: BaseException | None) -> None:
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _write_alone(sessions: Any, rows: list[dict[str, Any]], failure: BaseException | None) -> None:
    """Audit records in a transaction of their own; after a failed group commit, as failures
    (what they recorded did not happen)."""
    if not rows:
        return
    if failure is not None:
        rows = [
            {**row, "outcome": audit.SERIOUS_FAILURE, "outcome_desc": type(failure).__name__}
            for row in rows
        ]
    try:
        with writing(sessions) as session:
            session.execute(insert(AuditRow), rows)
    except Exception:
        # The request's answer stands (or its error does) even when its audit record cannot be
        # written; say so loudly, as the guard does for a refusal.
        log.exception("audit record of an intake request failed")
