"""The outbox: jobs stored with their case, claimed by dispatchers under a lease.

Claiming is one UPDATE ... WHERE id IN (SELECT ... LIMIT n) RETURNING statement (a dispatcher
lane takes a few jobs at a time). On PostgreSQL the inner select takes the rows FOR UPDATE SKIP
LOCKED, so concurrent workers each get a different job without waiting on each other (DESIGN.md
decision 5), and the outer WHERE repeats the due condition as a compare-and-set on state and
locked_until; SQLite runs one writer at a time, each claim one statement. A
claim sets state `sending` and a lease (`locked_until`); a worker that dies mid-delivery leaves
the lease to expire and the job is claimed again: no job is lost, and none is delivered twice at
the same time. Completion is conditional on still holding the lease.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, true, union_all, update
from sqlalchemy.orm import Session

# What a job is, is the case service's word (gateway.service.store); the outbox stores it.
from gateway.service.store import JobSpec
from gateway.store.models import OutboxJobRow, utcnow

STATES = ("queued", "sending", "delivered", "dead")
_jobs = OutboxJobRow.__table__


class JobNotFound(LookupError):
    pass


class JobNotDead(ValueError):
    pass


@dataclass(frozen=True)
class ClaimedJob:
    """An outbox job as a dispatcher holds it: leased to `locked_by` until `locked_until`."""

    id: int
    case_id: str | None
    kind: str
    idempotency_key: str
    payload: dict[str, Any]
    attempts: int
    locked_by: str
    locked_until: datetime


def enqueue(
    session: Session, case_id: str | None, specs: Iterable[JobSpec], *, now: datetime | None = None
) -> int:
    """Add jobs in the caller's transaction; a key already stored is skipped. Returns how many
    were new (a re-stored determination makes none)."""
    now = now or utcnow()
    session.flush()  # the case row first: outbox_jobs.case_id references it
    rows = [
        {
            "case_id": case_id,
            "kind": spec.kind,
            "idempotency_key": spec.idempotency_key,
            "payload": spec.payload,
            "state": "queued",
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
            "updated_at": now,
        }
        for spec in specs
    ]
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    if dialect in ("sqlite", "postgresql"):
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        # One multi-row statement: a determination's jobs go in together (the intake hot path).
        statement = (
            insert(_jobs)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["idempotency_key"])
            # SQLAlchemy 2.1 keeps an INSERT's rowcount only when asked (else psycopg's is -1):
            # the count is of the jobs this call added, a replayed key's not among them.
            .execution_options(preserve_rowcount=True)
        )
        return max(session.execute(statement).rowcount or 0, 0)
    added = 0
    for values in rows:
        exists = session.scalar(
            select(_jobs.c.id).where(_jobs.c.idempotency_key == values["idempotency_key"])
        )
        if exists is None:
            session.execute(_jobs.insert().values(**values))
            added += 1
    return added


def _due(now: datetime) -> Any:
    return or_(
        and_(_jobs.c.state == "queued", _jobs.c.next_attempt_at <= now),
        and_(
            _jobs.c.state == "sending",
            or_(_jobs.c.locked_until.is_(None), _jobs.c.locked_until < now),
        ),
    )


def _of_kinds(kinds: Collection[str] | None, exclude: Collection[str] | None) -> Any:
    condition = and_(true())
    if kinds is not None:
        condition = and_(condition, _jobs.c.kind.in_(list(kinds)))
    if exclude:
        condition = and_(condition, _jobs.c.kind.not_in(list(exclude)))
    return condition


def claim_next(
    session: Session,
    worker_id: str,
    *,
    now: datetime,
    lease: timedelta,
    kinds: Collection[str] | None = None,
    exclude_kinds: Collection[str] | None = None,
) -> ClaimedJob | None:
    """Lease the next due job to `worker_id` (commit right after, then deliver); `kinds` and
    `exclude_kinds` keep a channel's dispatcher lane to its own jobs."""
    jobs = claim_batch(
        session, worker_id, now=now, lease=lease, limit=1, kinds=kinds, exclude_kinds=exclude_kinds
    )
    return jobs[0] if jobs else None


def _sqlite_candidates(
    now: datetime,
    limit: int,
    kinds: Collection[str] | None,
    exclude_kinds: Collection[str] | None,
) -> Any:
    """The ids claim_batch takes on SQLite: the first `limit` queued jobs due and the first
    `limit` expired leases, each read in the order of ix_outbox_state_next, then the first
    `limit` of both. Asked as one OR, SQLite reads every due job and sorts them all for each
    claim: with a backlog of 24,000 jobs, 23 ms a claim instead of well under one."""
    of_kinds = _of_kinds(kinds, exclude_kinds)
    order = (_jobs.c.next_attempt_at, _jobs.c.id)
    queued = (
        select(_jobs.c.id, _jobs.c.next_attempt_at)
        .where(_jobs.c.state == "queued", _jobs.c.next_attempt_at <= now, of_kinds)
        .order_by(*order)
        .limit(limit)
        .subquery()
    )
    leased = (
        select(_jobs.c.id, _jobs.c.next_attempt_at)
        .where(
            _jobs.c.state == "sending",
            or_(_jobs.c.locked_until.is_(None), _jobs.c.locked_until < now),
            of_kinds,
        )
        .order_by(*order)
        .limit(limit)
        .subquery()
    )
    both = union_all(
        select(queued.c.id, queued.c.next_attempt_at),
        select(leased.c.id, leased.c.next_attempt_at),
    ).subquery()
    return (
        select(both.c.id).order_by(both.c.next_attempt_at, both.c.id).limit(limit)
    ).scalar_subquery()


def claim_batch(
    session: Session,
    worker_id: str,
    *,
    now: datetime,
    lease: timedelta,
    limit: int,
    kinds: Collection[str] | None = None,
    exclude_kinds: Collection[str] | None = None,
) -> list[ClaimedJob]:
    """Lease up to `limit` due jobs to `worker_id` in one statement, oldest due first (commit
    right after, then deliver them in that order). On PostgreSQL rows another worker is
    claiming are skipped, not waited for, so concurrent workers take disjoint batches."""
    due = and_(_due(now), _of_kinds(kinds, exclude_kinds))
    candidates = (
        select(_jobs.c.id)
        .where(due)
        .order_by(_jobs.c.next_attempt_at, _jobs.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)  # PostgreSQL; SQLite has one writer anyway
    )
    if session.get_bind().dialect.name == "postgresql":
        # ANY(ARRAY(...)): an init plan, run once. Under IN (...) the planner may rescan the
        # subquery for each row it joins, and each rescan locks (and claims) LIMIT more rows.
        # The due condition again: a compare-and-set, still due when the write happens.
        chosen: Any = and_(_jobs.c.id == func.any(func.array(candidates.scalar_subquery())), due)
    else:
        # One writer, one statement: the rows the subquery chose are due when they are
        # written. Repeated here, the due condition would make SQLite read the rows through
        # the OR of the index instead of by id.
        chosen = _jobs.c.id.in_(_sqlite_candidates(now, limit, kinds, exclude_kinds))
    locked_until = now + lease
    statement = (
        update(_jobs)
        .where(chosen)
        .values(
            state="sending",
            locked_by=worker_id,
            locked_until=locked_until,
            attempts=_jobs.c.attempts + 1,
            updated_at=now,
        )
        .returning(
            _jobs.c.id,
            _jobs.c.case_id,
            _jobs.c.kind,
            _jobs.c.idempotency_key,
            _jobs.c.payload,
            _jobs.c.attempts,
            _jobs.c.next_attempt_at,
        )
    )
    rows = sorted(session.execute(statement).all(), key=lambda row: (row.next_attempt_at, row.id))
    return [
        ClaimedJob(
            id=row.id,
            case_id=row.case_id,
            kind=row.kind,
            idempotency_key=row.idempotency_key,
            payload=row.payload,
            attempts=row.attempts,
            locked_by=worker_id,
            locked_until=locked_until,
        )
        for row in rows
    ]


def release(session: Session, job_id: int, worker_id: str, *, now: datetime) -> bool:
    """Give back a claimed job that was not tried (its lane paused, or too little of its lease
    was left): due again at once, the claim's attempt not counted."""
    statement = (
        update(_jobs)
        .where(_held_by(job_id, worker_id))
        .values(
            state="queued",
            attempts=_jobs.c.attempts - 1,
            locked_by=None,
            locked_until=None,
            updated_at=now,
        )
    )
    return (session.execute(statement).rowcount or 0) == 1


def due_kinds(session: Session, *, now: datetime) -> set[str]:
    """The kinds of job due now (which dispatcher lanes have work)."""
    return set(session.scalars(select(_jobs.c.kind).where(_due(now)).distinct()))


def _held_by(job_id: int, worker_id: str) -> Any:
    return and_(_jobs.c.id == job_id, _jobs.c.state == "sending", _jobs.c.locked_by == worker_id)


def complete(
    session: Session, job_id: int, worker_id: str, result: dict[str, Any], *, now: datetime
) -> bool:
    """Mark delivered; False when the lease was lost (another worker has the job now)."""
    statement = (
        update(_jobs)
        .where(_held_by(job_id, worker_id))
        .values(
            state="delivered",
            result=result,
            delivered_at=now,
            updated_at=now,
            locked_by=None,
            locked_until=None,
            last_error=None,
        )
    )
    return (session.execute(statement).rowcount or 0) == 1


def fail(
    session: Session,
    job_id: int,
    worker_id: str,
    error: str,
    *,
    now: datetime,
    retry_at: datetime | None,
) -> bool:
    """Back to `queued` until `retry_at`, or `dead` when retry_at is None."""
    values: dict[str, Any] = {
        "last_error": error,
        "updated_at": now,
        "locked_by": None,
        "locked_until": None,
    }
    if retry_at is None:
        values["state"] = "dead"
    else:
        values.update(state="queued", next_attempt_at=retry_at)
    statement = update(_jobs).where(_held_by(job_id, worker_id)).values(**values)
    return (session.execute(statement).rowcount or 0) == 1


def retry(session: Session, job_id: int, *, now: datetime | None = None) -> dict[str, Any]:
    """Put a dead job back in the queue with a fresh set of attempts."""
    now = now or utcnow()
    row = session.get(OutboxJobRow, job_id, with_for_update=True)
    if row is None:
        raise JobNotFound(job_id)
    if row.state != "dead":
        raise JobNotDead(f"job {job_id} is {row.state}, not dead")
    row.state = "queued"
    row.attempts = 0
    row.next_attempt_at = now
    row.updated_at = now
    session.flush()
    return job_dict(row)


def dead_reason(state: str, attempts: int, last_error: str | None) -> str | None:
    """Why a dead job stopped: refused outright (retrying cannot help) or out of tries."""
    if state != "dead":
        return None
    error = last_error or "no error recorded"
    if error.startswith("PermanentDeliveryError"):
        return f"not retried: {error.partition(': ')[2] or error}"
    tries = "1 attempt" if attempts == 1 else f"{attempts} attempts"
    return f"gave up after {tries}; last error: {error}"


def job_dict(row: OutboxJobRow) -> dict[str, Any]:
    """A job as the API shows it: no payload (letters' recipients are not for listings)."""

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": row.id,
        "case_id": row.case_id,
        "kind": row.kind,
        "state": row.state,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "dead_reason": dead_reason(row.state, row.attempts, row.last_error),
        "next_attempt_at": iso(row.next_attempt_at),
        "delivered_at": iso(row.delivered_at),
        "created_at": iso(row.created_at),
        "result": row.result,
        # What was sent and to which role (never to whom by name): the letter kind and role.
        "letter": (row.payload or {}).get("letter"),
        "recipient_role": ((row.payload or {}).get("recipient") or {}).get("role")
        or (row.payload or {}).get("role"),
        # What a payer-feed line tells: a determination, or an appeal, an expiry, a follow-up.
        "feed_event": (((row.payload or {}).get("record") or {}).get("event") or "determination")
        if row.kind == "payer_feed"
        else None,
    }


def list_jobs(
    session: Session,
    *,
    state: str | None = None,
    case_id: str | None = None,
    kind: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    query = select(OutboxJobRow).order_by(OutboxJobRow.id).limit(limit)
    if state:
        query = query.where(OutboxJobRow.state == state)
    if case_id:
        query = query.where(OutboxJobRow.case_id == case_id)
    if kind:
        query = query.where(OutboxJobRow.kind == kind)
    return [job_dict(row) for row in session.scalars(query)]


def jobs_for_case(session: Session, case_id: str) -> list[dict[str, Any]]:
    """Every outbound job of a case, oldest first (GET /cases/{id} shows them)."""
    return list_jobs(session, case_id=case_id, limit=10_000)
