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
table (gateway.store.batch), on PostgreSQL it runs inside a SAVEPOINT of its own. A crash
loses the uncommitted group whole, and a rerun of the file answers what committed as replays
(their replay keys) and stores the rest (issue 19).

The unit of work itself is gateway.store.transaction (its hot statements built once per
dialect); the batch is gateway.store.batch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.service.store import JobSpec, StoreConflict
from gateway.store import outbox
from gateway.store.batch import Batch
from gateway.store.db import (
    immediate,
    make_engine,
    session_factory,
    upgrade,
    writing,
    writing_lock,
)
from gateway.store.transaction import SqlCaseTransaction

BATCH_SIZE = 200  # units of work per database transaction in a batch


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
        batch: Batch | None = getattr(self._local, "batch", None)
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
        batch: Batch | None = getattr(self._local, "batch", None)
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
        # On SQLite the group's transaction begins IMMEDIATE: begun deferred, it would read
        # (a counter, a replay key) on a snapshot, and its first write would find another
        # process's commit since (a `gateway worker` claiming jobs) and fail "database is
        # locked" at once, with no busy handler to wait in.
        with writing_lock(self.sessions), self.sessions(bind=immediate(self.engine)) as session:
            batch = Batch(session, size, postgres=self._postgres, sessions=self.sessions)
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
