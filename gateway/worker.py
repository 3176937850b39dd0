"""The outbox dispatcher (`gateway worker`, or in-process under `gateway serve`).

Each pass: call the clock hook (the core's `expire_holds`), then claim due jobs one at a time,
deliver each outside any database transaction, and record the outcome. Delivery is at least
once (a worker killed after delivering but before recording leaves a lease that expires, and the
job goes again with the same idempotency key); failures retry with exponential backoff and
jitter; a job that keeps failing is parked `dead` with its last error until `retry(job_id)`.
Logs name job ids and case ids only, never what a letter or notice says (no PHI in logs).
"""

from __future__ import annotations

import logging
import os
import random
import signal
import socket
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from gateway.notify.deliver import Deliverer, OutboxJob, PermanentDeliveryError
from gateway.settings import Settings, get_settings
from gateway.store import outbox
from gateway.store.db import writing
from gateway.store.models import CaseRow, utcnow

log = logging.getLogger("gateway.worker")

Deliver = Callable[[OutboxJob, "dict[str, Any] | None"], "dict[str, Any]"]


def default_worker_id() -> str:
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def describe_error(exc: BaseException) -> str:
    """The error as stored in last_error: no field values (they may be a member's)."""
    if isinstance(exc, ValidationError):
        places = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        return f"ValidationError at {', '.join(places)}"[:1000]
    if isinstance(exc, StatementError):  # its message quotes the statement's parameters
        return f"{type(exc).__name__}: {type(exc.orig).__name__}"
    return f"{type(exc).__name__}: {exc}"[:1000]


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings | None = None,
        *,
        deliver: Deliver | None = None,
        worker_id: str | None = None,
        lease_seconds: float | None = None,
        backoff_base: float = 30.0,
        backoff_cap: float = 3600.0,
        jitter: float = 0.2,
        max_attempts: int = 8,
        max_jobs_per_pass: int = 100,
        clock_tick: Callable[[datetime], object] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.sessions = sessions
        self.settings = settings or get_settings()
        self.deliver: Deliver = deliver or Deliverer(self.settings, clock=clock)
        self.worker_id = worker_id or default_worker_id()
        self.lease = timedelta(
            seconds=self.settings.job_lease_seconds if lease_seconds is None else lease_seconds
        )
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.jitter = jitter
        self.max_attempts = max_attempts
        self.max_jobs_per_pass = max_jobs_per_pass
        self.clock_tick = clock_tick
        self.clock = clock

    def backoff(self, attempts: int) -> timedelta:
        """base * 2^(attempts-1), capped, plus up to `jitter` of it so retries spread out."""
        delay = min(self.backoff_cap, self.backoff_base * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=delay * (1 + self.jitter * random.random()))

    def run_once(self, now: datetime | None = None) -> int:
        """One pass over the due jobs; how many were delivered. `now` pins the clock (tests)."""
        at = now or self.clock()
        if self.clock_tick is not None:
            try:
                self.clock_tick(at)
            except Exception as exc:
                log.error("clock tick failed (%s); dispatching anyway", describe_error(exc))
        delivered = 0
        for _ in range(self.max_jobs_per_pass):
            at = now or self.clock()
            with writing(self.sessions) as session:
                job = outbox.claim_next(session, self.worker_id, now=at, lease=self.lease)
            if job is None:
                break
            if self._deliver_one(job, now):
                delivered += 1
        return delivered

    def _deliver_one(self, job: outbox.ClaimedJob, now: datetime | None) -> bool:
        try:
            case_json = None
            if job.case_id:
                with self.sessions() as session:
                    case_json = session.scalar(
                        select(CaseRow.case_json).where(CaseRow.id == job.case_id)
                    )
            result = self.deliver(job, case_json)
        except Exception as exc:  # a kill (BaseException) leaves the lease to expire instead
            self._record_failure(job, exc, now)
            return False
        at = now or self.clock()
        with writing(self.sessions) as session:
            held = outbox.complete(session, job.id, self.worker_id, result or {}, now=at)
        if held:
            log.info("job %s (%s, case %s) delivered", job.id, job.kind, job.case_id)
        else:
            log.warning("job %s delivered after its lease expired", job.id)
        return True

    def _record_failure(self, job: outbox.ClaimedJob, exc: Exception, now: datetime | None) -> None:
        at = now or self.clock()
        error = describe_error(exc)
        permanent = isinstance(exc, PermanentDeliveryError)
        dead = permanent or job.attempts >= self.max_attempts
        retry_at = None if dead else at + self.backoff(job.attempts)
        with writing(self.sessions) as session:
            outbox.fail(session, job.id, self.worker_id, error, now=at, retry_at=retry_at)
        if dead:
            log.error(
                "job %s (%s, case %s) dead after %s attempts: %s",
                job.id,
                job.kind,
                job.case_id,
                job.attempts,
                type(exc).__name__,
            )
        else:
            log.warning(
                "job %s (%s, case %s) attempt %s failed (%s); next at %s",
                job.id,
                job.kind,
                job.case_id,
                job.attempts,
                type(exc).__name__,
                retry_at.isoformat() if retry_at else None,
            )

    def retry(self, job_id: int, now: datetime | None = None) -> dict[str, Any]:
        """Put a dead job back in the queue (raises outbox.JobNotFound / JobNotDead)."""
        with writing(self.sessions) as session:
            return outbox.retry(session, job_id, now=now or self.clock())

    def run_forever(self, stop_event: threading.Event, interval: float | None = None) -> None:
        """Pass after pass until `stop_event` is set; sleeps only when a pass found nothing."""
        wait = self.settings.dispatch_interval_seconds if interval is None else interval
        log.info("dispatcher %s started", self.worker_id)
        while not stop_event.is_set():
            try:
                delivered = self.run_once()
            except Exception as exc:  # the store is away: try again after the interval
                log.error("dispatch pass failed: %s", describe_error(exc))
                delivered = 0
            if delivered == 0:
                stop_event.wait(wait)
        log.info("dispatcher %s stopped", self.worker_id)


def run_worker(
    settings: Settings | None = None,
    *,
    stop_event: threading.Event | None = None,
    clock_tick: Callable[[datetime], object] | None = None,
) -> None:
    """`gateway worker`: dispatch until SIGINT/SIGTERM (a stop finishes the job in hand)."""
    from gateway.store.db import make_engine, session_factory, upgrade

    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    upgrade(engine)
    stop = stop_event or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
    Dispatcher(session_factory(engine), settings, clock_tick=clock_tick).run_forever(stop)
    engine.dispose()
