"""The outbox dispatcher (`gateway worker`, or in-process under `gateway serve`).

The clock hook (the core's `expire_holds`) runs every interval. Jobs are delivered in lanes, one
per channel (fax, e-mail, printed mail, payer feed, subscription notifications, X12
follow-ups), each on its own thread and each transport with its own timeout, so one slow or
hung channel delays only itself (issue 18 item 6). A lane claims its due jobs one at a time (on
PostgreSQL several workers skip each other's locked rows), delivers each outside any database
transaction, and records the outcome; under `gateway worker` the lanes that write to this
machine's disk (the fax spool, the mail batch, the payer feed) claim a few at a time, which
has no transport to hang on, and deliver them on two threads, so one letter's fsyncs overlap
the next one's rendering (issue 19 item 5). Delivery is at least
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import StatementError
from sqlalchemy.orm import Session, sessionmaker

from gateway.notify import handshakes
from gateway.notify.deliver import Deliverer, OutboxJob, PermanentDeliveryError
from gateway.settings import Settings, get_settings
from gateway.store import outbox
from gateway.store.db import writing
from gateway.store.models import CaseRow, utcnow

log = logging.getLogger("gateway.notify.worker")

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


@dataclass(frozen=True)
class Lane:
    """One channel's share of the dispatcher: its own thread, its own jobs (issue 18 item 6: a
    hung SMTP relay holds the e-mail lane only; faxes keep going).

    `kinds` None takes every kind no other lane names (an unknown kind still reaches the
    deliverer, which parks it dead). `pause_on_failure`: every job of the lane goes through one
    transport (the relay, the fax gateway), so after a retryable failure the running lane waits
    an interval instead of trying the rest of its queue against a transport that is down.
    """

    name: str
    kinds: tuple[str, ...] | None
    pause_on_failure: bool = False
    # Delivered to files on this machine (the mail batch, the payer feed): nothing remote to
    # hang on. The fax lane is when its gateway is the embedded spool.
    on_disk: bool = False


LANES: tuple[Lane, ...] = (
    Lane("fax", ("fax",), pause_on_failure=True),
    Lane("email", ("email",), pause_on_failure=True),
    Lane("mail", ("provider_mail", "member_mail"), on_disk=True),
    Lane("payer_feed", ("payer_feed",), on_disk=True),
    Lane("subscription", ("subscription",)),  # one endpoint per subscriber: no pause
    Lane("x12_followup", ("x12_followup",)),  # a mailbox and a callback per partner: no pause
    Lane("other", None),
)
_NAMED_KINDS = tuple(kind for lane in LANES for kind in lane.kinds or ())
# Jobs one claim takes in an on-disk lane under `gateway worker`: the claim and the case read
# are one statement each for the group instead of one each per letter (issue 19 item 5). A
# killed worker leaves at most this many leased, delivered again once the lease runs out.
DISK_CLAIM_BATCH = 8
# Threads a claimed group of an on-disk lane is delivered on under `gateway worker`: a letter's
# fsyncs (its file, its folder) wait on the disk with the interpreter free, so the next letter
# renders meanwhile instead of after (issue 19 item 5). Each job is still recorded delivered
# only once its own files are durable.
DISK_THREADS = 2


def lane_of(kind: str) -> Lane:
    return next((lane for lane in LANES if lane.kinds and kind in lane.kinds), LANES[-1])


class Dispatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        settings: Settings | None = None,
        *,
        deliver: Deliver | None = None,
        worker_id: str | None = None,
        lease_seconds: float | None = None,
        backoff_base: float | None = None,
        backoff_cap: float | None = None,
        jitter: float = 0.2,
        max_attempts: int | None = None,
        max_jobs_per_pass: int = 100,
        claim_batch: int = 1,
        disk_claim_batch: int = 1,
        disk_threads: int = 1,
        clock_tick: Callable[[datetime], object] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Lease, backoff and tries come from settings (GATEWAY_OUTBOX_*) unless given."""
        self.sessions = sessions
        self.settings = settings or get_settings()
        self.deliver: Deliver = deliver or Deliverer(self.settings, clock=clock)
        self.worker_id = worker_id or default_worker_id()

        def given(value: Any, default: Any) -> Any:
            return default if value is None else value

        self.lease = timedelta(seconds=given(lease_seconds, self.settings.outbox_lease_seconds))
        self.backoff_base = given(backoff_base, self.settings.outbox_backoff_seconds)
        self.backoff_cap = given(backoff_cap, self.settings.outbox_backoff_cap_seconds)
        self.jitter = jitter
        self.max_attempts = given(max_attempts, self.settings.outbox_max_attempts)
        self.max_jobs_per_pass = max_jobs_per_pass
        self.claim_batch = max(1, claim_batch)
        self.disk_claim_batch = max(1, disk_claim_batch)
        self.disk_threads = max(1, disk_threads)
        self.clock_tick = clock_tick
        self.clock = clock

    def backoff(self, attempts: int) -> timedelta:
        """base * 2^(attempts-1), capped, plus up to `jitter` of it so retries spread out."""
        delay = min(self.backoff_cap, self.backoff_base * 2 ** max(attempts - 1, 0))
        return timedelta(seconds=delay * (1 + self.jitter * random.random()))

    def _tick(self, at: datetime) -> None:
        if self.clock_tick is not None:
            try:
                self.clock_tick(at)
            except Exception as exc:
                log.error("clock tick failed (%s); dispatching anyway", describe_error(exc))

    def run_once(self, now: datetime | None = None) -> int:
        """One pass over the due jobs; how many were delivered. `now` pins the clock (tests).
        The lanes with due jobs run side by side, each on its own thread; the pass ends when
        every lane's has (a kill in one lane is raised here once the others are done)."""
        self._tick(now or self.clock())
        with self.sessions() as session:
            kinds = outbox.due_kinds(session, now=now or self.clock())
        lanes = [lane for lane in LANES if any(lane_of(kind) is lane for kind in kinds)]
        if len(lanes) <= 1:
            return sum(self._pass(lane, now)[0] for lane in lanes)
        counts: dict[str, int] = {}
        failures: list[BaseException] = []

        def run(lane: Lane) -> None:
            try:
                counts[lane.name] = self._pass(lane, now)[0]
            except BaseException as exc:  # handed to the caller's thread
                failures.append(exc)

        threads = [
            threading.Thread(target=run, args=(lane,), name=f"outbox-{lane.name}") for lane in lanes
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if failures:
            raise failures[0]
        return sum(counts.values())

    def _pass(
        self, lane: Lane, now: datetime | None, *, may_pause: bool = False
    ) -> tuple[int, bool]:
        """Deliver the lane's due jobs: (delivered, paused after a failure). Only the running
        dispatcher pauses; run_once tries every due job, as one pass always has."""
        delivered = 0
        exclude = _NAMED_KINDS if lane.kinds is None else None
        left = self.max_jobs_per_pass
        while left > 0:
            at = now or self.clock()
            # One job a claim by default: a killed worker then leaves only the job in hand
            # leased, and a hung transport holds one job, not a batch (`claim_batch` > 1 takes
            # several in one statement, for callers that accept that; `disk_claim_batch` for
            # the lanes that write to this machine's disk only).
            with writing(self.sessions) as session:
                jobs = outbox.claim_batch(
                    session,
                    self.worker_id,
                    now=at,
                    lease=self.lease,
                    limit=min(left, self._claim_limit(lane)),
                    kinds=lane.kinds,
                    exclude_kinds=exclude,
                )
            if not jobs:
                break
            left -= len(jobs)
            cases = self._cases(jobs)
            if self.disk_threads > 1 and len(jobs) > 1 and self._on_disk(lane):
                count, failed = self._deliver_side_by_side(jobs, now, cases)
                delivered += count
                if failed and may_pause and lane.pause_on_failure:
                    log.warning("%s lane pauses until the next pass", lane.name)
                    return delivered, True
                continue
            for index, job in enumerate(jobs):
                if not self._lease_left(job, now):
                    self._release(jobs[index:], now)
                    break
                ok, permanent = self._deliver_one(job, now, cases.get(job.case_id or ""))
                if ok:
                    delivered += 1
                elif may_pause and lane.pause_on_failure and not permanent:
                    log.warning("%s lane pauses until the next pass", lane.name)
                    self._release(jobs[index + 1 :], now)
                    return delivered, True
        return delivered, False

    def _on_disk(self, lane: Lane) -> bool:
        return lane.on_disk or (
            lane.name == "fax" and self.settings.fax_gateway.strip().lower() == "spool"
        )

    def _claim_limit(self, lane: Lane) -> int:
        if self._on_disk(lane):
            return max(self.claim_batch, self.disk_claim_batch)
        return self.claim_batch

    def _deliver_side_by_side(
        self,
        jobs: list[outbox.ClaimedJob],
        now: datetime | None,
        cases: dict[str, dict[str, Any]],
    ) -> tuple[int, bool]:
        """(delivered, a retryable failure among them) for a claimed group of an on-disk lane,
        on `disk_threads` threads; each job checks its lease when its turn comes, as in turn.
        A failure does not hold back the group's other jobs: they write to this machine's disk,
        not through a transport that may be down. The delivered are recorded together, in one
        transaction once every job of the group is durable or failed (a kill before it leaves
        their leases to expire: delivered again under the same keys, as after any kill)."""

        def one(job: outbox.ClaimedJob) -> tuple[str, dict[str, Any] | None]:
            if not self._lease_left(job, now):
                self._release([job], now)
                return "released", None  # not failed: no pause for it
            return self._attempt(job, now, cases.get(job.case_id or ""))

        with ThreadPoolExecutor(self.disk_threads, thread_name_prefix="outbox-disk") as pool:
            outcomes = list(pool.map(one, jobs))  # a kill in one is raised here
        done = [
            (job, result)
            for job, (what, result) in zip(jobs, outcomes, strict=True)
            if what == "delivered"
        ]
        self._record_delivered(done, now)
        return len(done), any(what == "failed" for what, _ in outcomes)

    def _cases(self, jobs: list[outbox.ClaimedJob]) -> dict[str, dict[str, Any]]:
        """The stored cases of a claimed batch, read in one query."""
        ids = {job.case_id for job in jobs if job.case_id}
        if not ids:
            return {}
        with self.sessions() as session:
            rows = session.execute(
                select(CaseRow.id, CaseRow.case_json).where(CaseRow.id.in_(ids))
            ).all()
        return {row.id: row.case_json for row in rows}

    def _lease_left(self, job: outbox.ClaimedJob, now: datetime | None) -> bool:
        """Whether the job's lease outlasts one more delivery (the longest channel timeout):
        a batch's last job must not be sent after its lease lets another worker take it."""
        settings = self.settings
        longest = max(
            settings.smtp_timeout_seconds,
            settings.fax_timeout_seconds,
            settings.subscription_timeout_seconds,
        )
        at = now or self.clock()
        return job.locked_until - at > timedelta(seconds=longest)

    def _release(self, jobs: list[outbox.ClaimedJob], now: datetime | None) -> None:
        if not jobs:
            return
        at = now or self.clock()
        with writing(self.sessions) as session:
            for job in jobs:
                outbox.release(session, job.id, self.worker_id, now=at)

    def _deliver_one(
        self,
        job: outbox.ClaimedJob,
        now: datetime | None,
        case_json: dict[str, Any] | None = None,
    ) -> tuple[bool, bool]:
        """(delivered, failed for good) for one claimed job (its case as read with its batch,
        or read here)."""
        what, result = self._attempt(job, now, case_json)
        if what != "delivered":
            return False, what == "dead"
        self._record_delivered([(job, result)], now)
        return True, False

    def _attempt(
        self, job: outbox.ClaimedJob, now: datetime | None, case_json: dict[str, Any] | None
    ) -> tuple[str, dict[str, Any] | None]:
        """("delivered", its result), or "failed" / "dead" with the failure recorded."""
        try:
            if job.case_id and case_json is None:
                with self.sessions() as session:
                    case_json = session.scalar(
                        select(CaseRow.case_json).where(CaseRow.id == job.case_id)
                    )
            result = self.deliver(job, case_json)
        except Exception as exc:  # a kill (BaseException) leaves the lease to expire instead
            self._record_failure(job, exc, now)
            return ("dead" if isinstance(exc, PermanentDeliveryError) else "failed"), None
        return "delivered", result

    def _record_delivered(
        self, done: list[tuple[outbox.ClaimedJob, dict[str, Any] | None]], now: datetime | None
    ) -> None:
        if not done:
            return
        at = now or self.clock()
        held: list[bool] = []
        with writing(self.sessions) as session:
            for job, result in done:
                held.append(outbox.complete(session, job.id, self.worker_id, result or {}, now=at))
                if held[-1]:  # a handshake delivered: its subscription is active (same commit)
                    handshakes.record(session, job.kind, job.id, job.idempotency_key, "active")
        for (job, _), kept in zip(done, held, strict=True):
            if kept:
                log.info("job %s (%s, case %s) delivered", job.id, job.kind, job.case_id)
            else:
                log.warning("job %s delivered after its lease expired", job.id)

    def _record_failure(self, job: outbox.ClaimedJob, exc: Exception, now: datetime | None) -> None:
        at = now or self.clock()
        error = describe_error(exc)
        permanent = isinstance(exc, PermanentDeliveryError)
        dead = permanent or job.attempts >= self.max_attempts
        retry_at = None if dead else at + self.backoff(job.attempts)
        with writing(self.sessions) as session:
            held = outbox.fail(session, job.id, self.worker_id, error, now=at, retry_at=retry_at)
            if held and dead:  # a handshake failed for good: its subscription is in error
                handshakes.record(session, job.kind, job.id, job.idempotency_key, "error")
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
        """Until `stop_event` is set: each lane on its own thread, pass after pass, sleeping only
        when a pass found nothing (or paused); the clock hook every interval on this thread. A
        stop lets each lane finish the job in hand (bounded by its channel's timeout)."""
        wait = self.settings.dispatch_interval_seconds if interval is None else interval
        log.info("dispatcher %s started", self.worker_id)
        threads = [
            threading.Thread(
                target=self._lane_forever,
                args=(lane, stop_event, wait),
                name=f"outbox-{lane.name}",
                daemon=True,
            )
            for lane in LANES
        ]
        for thread in threads:
            thread.start()
        while not stop_event.is_set():
            self._tick(self.clock())
            stop_event.wait(wait)
        for thread in threads:
            thread.join()
        log.info("dispatcher %s stopped", self.worker_id)

    def _lane_forever(self, lane: Lane, stop_event: threading.Event, wait: float) -> None:
        while not stop_event.is_set():
            try:
                delivered, paused = self._pass(lane, None, may_pause=True)
            except Exception as exc:  # the store is away: try again after the interval
                log.error("%s lane pass failed: %s", lane.name, describe_error(exc))
                delivered, paused = 0, True
            if delivered == 0 or paused:
                stop_event.wait(wait)


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
    Dispatcher(
        session_factory(engine),
        settings,
        clock_tick=clock_tick,
        disk_claim_batch=DISK_CLAIM_BATCH,
        disk_threads=DISK_THREADS,
    ).run_forever(stop)
    engine.dispose()
