"""The case store on SQLAlchemy: `SqlCaseStore` implements the case service's port
(gateway.service.store.CaseStore) over SQLite and PostgreSQL.

One unit of work is one database transaction: writes take `writing` (one writer at a time per
SQLite file, concurrent on PostgreSQL), a stored case about to change is read `FOR UPDATE` on
PostgreSQL, counters are one upsert, replay keys are `INSERT ... ON CONFLICT DO NOTHING`, and a
unique key stored concurrently surfaces as the port's StoreConflict, not as a driver error.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, insert, select, update
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
from gateway.store.db import make_engine, session_factory, upgrade, writing
from gateway.store.lookup import index_case, member_case_ids, submitter_trace_case_ids
from gateway.store.models import CaseEventRow, CaseRow, CounterRow, ReplayRow
from gateway.store.reads import SessionReads

_AWAITING = (CaseStatus.PENDED.value, CaseStatus.HELD.value)


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


class SqlCaseTransaction:
    """The port's unit of work over one SQLAlchemy session."""

    def __init__(self, session: Session, *, postgres: bool):
        self.session = session
        self._postgres = postgres
        # INSERT ... ON CONFLICT for this database (both dialects spell it alike).
        self._upsert: Any = pg_insert if postgres else sqlite_insert

    # -- counters and replay keys -----------------------------------------------------------

    def next_number(self, name: str) -> int:
        # One upsert: the row lock it takes (PostgreSQL) or the write lock (SQLite) makes the
        # increment atomic across processes.
        statement = self._upsert(CounterRow).values(name=name, value=1)
        statement = statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": CounterRow.value + 1}
        ).returning(CounterRow.value)
        return int(self.session.execute(statement).scalar_one())

    def remember(
        self, key: str, case_ids: list[str], response: str | None, *, at: datetime
    ) -> bool:
        statement = (
            self._upsert(ReplayRow)
            .values(key=key, case_ids=case_ids, response=response, created_at=at)
            .on_conflict_do_nothing(index_elements=["key"])
        )
        result: Any = self.session.execute(statement)  # a CursorResult: INSERT reports rowcount
        return bool(result.rowcount)

    def replay(self, key: str) -> Replay | None:
        row = self.session.get(ReplayRow, key)
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
        assert case.id is not None
        case_json = case.model_dump(mode="json")
        # Plain INSERT statements, not ORM unit-of-work flushes: intake is the hot path.
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
        self.session.execute(insert(CaseRow).values(**values))
        index_case(self.session, case.id, member_key, case_json, at, new=True)

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
        index_case(self.session, row.id, row.member_key, row.case_json, row.created_at)
        record.status = row.status
        record.case_json = row.case_json
        record.determination_json = row.determination_json
        record.updated_at = at
        record.due_by = row.due_by
        record.hold_due = row.hold_due

    def add_event(self, case_id: str, event: CaseEvent) -> None:
        self.session.execute(
            insert(CaseEventRow).values(
                case_id=case_id,
                at=event.at,
                actor=event.actor,
                from_status=event.from_status,
                to_status=event.to_status,
                reason=event.reason,
                detail=event.detail,
            )
        )

    def events(self, case_id: str) -> list[CaseEvent]:
        rows = self.session.execute(
            select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.id)
        ).scalars()
        return [
            CaseEvent(e.at, e.actor, e.from_status, e.to_status, e.reason, e.detail) for e in rows
        ]

    def enqueue(self, case_id: str | None, jobs: Sequence[JobSpec], *, at: datetime) -> None:
        outbox.enqueue(self.session, case_id, jobs, now=at)

    def reads(self) -> PlannerReads:
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

    @classmethod
    def from_url(cls, database_url: str, *, migrate: bool = True) -> SqlCaseStore:
        return cls(make_engine(database_url), migrate=migrate)

    @contextmanager
    def transaction(self) -> Iterator[SqlCaseTransaction]:
        try:
            with writing(self.sessions) as session:
                yield SqlCaseTransaction(session, postgres=self._postgres)
        except IntegrityError as exc:
            # A unique key (replay key, request identity, case id) stored concurrently.
            raise StoreConflict(str(exc.orig or exc)) from exc

    @contextmanager
    def read(self) -> Iterator[SqlCaseTransaction]:
        with self.sessions() as session:
            yield SqlCaseTransaction(session, postgres=self._postgres)

    def enqueue_in(
        self, session: Session, case_id: str | None, jobs: Sequence[JobSpec], *, at: datetime
    ) -> None:
        """Outbound jobs in a transaction of the caller's own (a subscription stored with its
        handshake job), once per idempotency key."""
        outbox.enqueue(session, case_id, jobs, now=at)

    def dispose(self) -> None:
        self.engine.dispose()
