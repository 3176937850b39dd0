"""The outbox dispatcher: delivery by kind, backoff, dead jobs, races and killed workers."""

from __future__ import annotations

import json
import mailbox
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from gateway.notify.deliver import Deliverer, PermanentDeliveryError
from gateway.notify.fax.spool import SpoolFaxGateway
from gateway.notify.jobs import JobSpec
from gateway.notify.worker import Dispatcher
from gateway.settings import Settings
from gateway.store import outbox
from gateway.store.models import OutboxJobRow

from .conftest import job_rows, store_case
from .factories import MEMBER_LAST, make_case, make_determination

NOW = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)


class Killed(BaseException):
    """A worker killed mid-batch: not an Exception, so nothing in the worker catches it."""


def test_every_kind_is_delivered_end_to_end(settings: Settings, sessions) -> None:
    case = make_case()
    case.facility.fax = None  # type: ignore[union-attr]  # goes by mail instead
    store_case(
        sessions, case, make_determination("approval"), settings=settings, previous_status="pended"
    )
    ticks: list[datetime] = []
    dispatcher = Dispatcher(sessions, settings, clock_tick=ticks.append, clock=lambda: NOW)
    assert dispatcher.run_once() == 5
    assert ticks == [NOW]
    jobs = {j["kind"]: j for j in job_rows(sessions)}
    assert {j["state"] for j in jobs.values()} == {"delivered"}
    fax_id = jobs["fax"]["result"]["fax_id"]
    assert SpoolFaxGateway(settings.fax_spool).status(fax_id) == "queued"
    batch = settings.member_mail_dir / NOW.date().isoformat()
    manifest = [json.loads(x) for x in (batch / "manifest.jsonl").read_text().splitlines()]
    assert sorted(m["recipient"] for m in manifest) == ["facility", "member"]
    assert MEMBER_LAST not in (batch / "manifest.jsonl").read_text()
    assert jobs["provider_mail"]["result"]["fax_problem"] == "unknown"
    assert len(mailbox.Maildir(settings.mail_dir, create=False)) == 1
    feed = settings.payer_feed_dir / "62308" / f"{NOW.date().isoformat()}.jsonl"
    assert json.loads(feed.read_text())["auth_number"] == "AUTH0001"
    # Nothing is due any more.
    assert dispatcher.run_once(now=NOW + timedelta(hours=2)) == 0


def test_failures_back_off_and_park_dead(settings: Settings, any_sessions) -> None:
    sessions = any_sessions
    store_case(
        sessions, make_case(), make_determination("hold"), settings=settings, previous_status="held"
    )  # one fax job; no status change, no e-mail

    def broken(job: Any, case_json: Any) -> dict:
        raise ConnectionError("fax line busy")

    dispatcher = Dispatcher(
        sessions,
        settings,
        deliver=broken,
        backoff_base=10,
        backoff_cap=60,
        jitter=0.5,
        max_attempts=4,
    )
    at = NOW
    delays = []
    for attempt in range(1, 4):
        assert dispatcher.run_once(now=at) == 0
        (job,) = job_rows(sessions)
        assert job["state"] == "queued" and job["attempts"] == attempt
        assert job["last_error"] == "ConnectionError: fax line busy"
        next_at = datetime.fromisoformat(job["next_attempt_at"])
        delays.append((next_at - at).total_seconds())
        assert dispatcher.run_once(now=next_at - timedelta(seconds=1)) == 0  # not due yet
        at = next_at
    # 10 s * 2^(attempts-1), capped at 60 s, plus up to 50 % jitter.
    for delay, base in zip(delays, (10, 20, 40), strict=True):
        assert base <= delay <= base * 1.5
    assert dispatcher.run_once(now=at) == 0
    (job,) = job_rows(sessions)
    assert job["state"] == "dead" and job["attempts"] == 4
    assert dispatcher.run_once(now=at + timedelta(days=1)) == 0
    # retry() puts it back with fresh attempts; it then delivers.
    dispatcher.retry(job["id"], now=at)
    dispatcher.deliver = lambda job, case_json: {"ok": True}
    assert dispatcher.run_once(now=at + timedelta(days=1)) == 1
    assert job_rows(sessions)[0]["state"] == "delivered"
    with pytest.raises(outbox.JobNotDead):
        dispatcher.retry(job["id"])
    with pytest.raises(outbox.JobNotFound):
        dispatcher.retry(9999)


def test_backoff_is_capped(settings: Settings, sessions) -> None:
    dispatcher = Dispatcher(sessions, settings, backoff_base=30, backoff_cap=3600, jitter=0)
    assert dispatcher.backoff(1) == timedelta(seconds=30)
    assert dispatcher.backoff(3) == timedelta(seconds=120)
    assert dispatcher.backoff(20) == timedelta(hours=1)


def test_permanent_failure_is_dead_at_once(settings: Settings, sessions) -> None:
    case = make_case()
    case.member.address = None
    store_case(
        sessions, case, make_determination("denial"), settings=settings, previous_status="pended"
    )
    dispatcher = Dispatcher(sessions, settings)
    assert dispatcher.run_once(now=NOW) == 4
    (dead,) = job_rows(sessions, state="dead")
    assert dead["kind"] == "member_mail" and dead["attempts"] == 1
    assert dead["last_error"] == "PermanentDeliveryError: no mailing address for the member"


def test_errors_recorded_without_member_data(settings: Settings, sessions) -> None:
    case = make_case()
    store_case(
        sessions, case, make_determination("hold"), settings=settings, previous_status="held"
    )
    with sessions.begin() as session:  # a stored case that no longer validates
        session.execute(
            update(OutboxJobRow).values(
                payload={
                    "letter": "hold",
                    "recipient": {"role": "ordering"},
                    "determination": {"status": MEMBER_LAST},
                }
            )
        )
    dispatcher = Dispatcher(sessions, settings, max_attempts=1)
    dispatcher.run_once(now=NOW)
    (job,) = job_rows(sessions)
    assert job["state"] == "dead" and job["last_error"].startswith("ValidationError at ")
    assert MEMBER_LAST not in job["last_error"]


def add_jobs(sessions, count: int) -> list[int]:
    store_case(sessions, make_case(), None)
    specs = [JobSpec("payer_feed", f"PA2025000001:race:{n}", {"n": n}) for n in range(count)]
    with sessions.begin() as session:
        outbox.enqueue(session, "PA2025000001", specs, now=NOW)
    return [j["id"] for j in job_rows(sessions)]


def test_racing_dispatchers_deliver_each_job_exactly_once(settings: Settings, any_sessions) -> None:
    sessions = any_sessions
    ids = add_jobs(sessions, 60)
    delivered: list[tuple[str, int]] = []
    lock = threading.Lock()

    def deliver_as(name: str):
        def deliver(job: Any, case_json: Any) -> dict:
            time.sleep(0.002)  # long enough for the other worker to try the same job
            with lock:
                delivered.append((name, job.id))
            return {"by": name}

        return deliver

    workers = [
        Dispatcher(sessions, settings, deliver=deliver_as(f"w{i}"), worker_id=f"w{i}")
        for i in range(3)
    ]
    barrier = threading.Barrier(len(workers))
    counts: dict[str, int] = {}

    def run(worker: Dispatcher) -> None:
        barrier.wait()
        counts[worker.worker_id] = worker.run_once(now=NOW)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(job_id for _, job_id in delivered) == sorted(ids)  # each once
    assert sum(counts.values()) == len(ids)
    assert len({name for name, _ in delivered}) > 1  # both really raced
    assert {j["state"] for j in job_rows(sessions)} == {"delivered"}


def test_worker_killed_mid_batch_loses_no_job(settings: Settings, any_sessions) -> None:
    sessions = any_sessions
    ids = add_jobs(sessions, 5)
    delivered: list[int] = []

    def dies_on_third(job: Any, case_json: Any) -> dict:
        if job.id == ids[2]:
            raise Killed()
        delivered.append(job.id)
        return {}

    first = Dispatcher(
        sessions, settings, deliver=dies_on_third, worker_id="first", lease_seconds=120
    )
    with pytest.raises(Killed):
        first.run_once(now=NOW)
    states = {j["id"]: j["state"] for j in job_rows(sessions)}
    assert states[ids[2]] == "sending"  # its lease is left behind
    assert delivered == ids[:2]

    def fine(job: Any, case_json: Any) -> dict:
        delivered.append(job.id)
        return {}

    second = Dispatcher(sessions, settings, deliver=fine, worker_id="second", lease_seconds=120)
    assert second.run_once(now=NOW + timedelta(seconds=5)) == 2  # the leased one waits
    assert second.run_once(now=NOW + timedelta(seconds=121)) == 1  # lease expired: taken over
    assert sorted(delivered) == sorted(ids)
    assert {j["state"] for j in job_rows(sessions)} == {"delivered"}


def test_killed_after_delivering_redelivers_with_the_same_key(settings, sessions) -> None:
    """At least once: the fax goes again, and the gateway's key dedupe keeps it one fax."""
    store_case(
        sessions, make_case(), make_determination("hold"), settings=settings, previous_status="held"
    )
    real = Deliverer(settings)

    def delivers_then_dies(job: Any, case_json: Any) -> dict:
        real(job, case_json)
        raise Killed()

    with pytest.raises(Killed):
        Dispatcher(sessions, settings, deliver=delivers_then_dies).run_once(now=NOW)
    assert (
        Dispatcher(sessions, settings, lease_seconds=60).run_once(now=NOW + timedelta(minutes=10))
        == 1
    )
    assert len(list(settings.fax_spool.iterdir())) == 1
    (job,) = job_rows(sessions)
    assert job["state"] == "delivered" and job["attempts"] == 2


def test_subscription_posts_the_body(settings: Settings, sessions) -> None:
    store_case(sessions, make_case(), None)
    received: list[httpx.Request] = []

    def endpoint(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(200 if len(received) > 1 else 503)

    spec = JobSpec(
        "subscription",
        "PA2025000001:subscription:sub-1:1",
        {
            "endpoint": "https://ehr.example.invalid/notify",
            "body": {"resourceType": "Bundle", "type": "history"},
        },
    )
    with sessions.begin() as session:
        outbox.enqueue(session, "PA2025000001", [spec], now=NOW)
    deliverer = Deliverer(settings, http=httpx.Client(transport=httpx.MockTransport(endpoint)))
    dispatcher = Dispatcher(sessions, settings, deliver=deliverer, backoff_base=1, jitter=0)
    assert dispatcher.run_once(now=NOW) == 0
    assert dispatcher.run_once(now=NOW + timedelta(seconds=2)) == 1
    assert json.loads(received[-1].content) == {"resourceType": "Bundle", "type": "history"}
    assert received[-1].headers["Idempotency-Key"] == spec.idempotency_key


def test_run_forever_stops(settings: Settings, sessions) -> None:
    stop = threading.Event()
    ticks: list[datetime] = []
    dispatcher = Dispatcher(sessions, settings, clock_tick=ticks.append)
    thread = threading.Thread(target=dispatcher.run_forever, args=(stop, 0.01))
    thread.start()
    deadline = time.monotonic() + 10  # a bound on the wait for two ticks, not a speed check
    while len(ticks) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    thread.join(timeout=5)
    assert not thread.is_alive() and len(ticks) >= 2


def test_unknown_kind_is_dead(settings: Settings, sessions) -> None:
    with pytest.raises(PermanentDeliveryError):
        Deliverer(settings)(outbox.ClaimedJob(1, None, "pigeon", "k", {}, 1, "w", NOW), None)


def test_run_worker_starts_and_stops(settings: Settings, sessions) -> None:
    """`gateway worker`: upgrades the store, dispatches, stops when told."""
    from gateway.notify.worker import run_worker

    store_case(
        sessions, make_case(), make_determination("hold"), settings=settings, previous_status="held"
    )
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(settings,), kwargs={"stop_event": stop})
    thread.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and job_rows(sessions)[0]["state"] != "delivered":
        time.sleep(0.05)
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert job_rows(sessions)[0]["state"] == "delivered"


def test_disk_lanes_claim_a_group_and_remote_lanes_one_job(
    settings: Settings, any_sessions
) -> None:
    """Under `gateway worker` (disk_claim_batch) the payer feed, written to this machine's
    disk, takes several jobs a claim; e-mail, behind a relay that may hang, still takes one."""
    sessions = any_sessions
    store_case(sessions, make_case(), None)
    specs = [
        JobSpec(kind, f"PA2025000001:group:{kind}:{n}", {})
        for kind in ("payer_feed", "email")
        for n in range(6)
    ]
    with sessions.begin() as session:
        outbox.enqueue(session, "PA2025000001", specs, now=NOW)
    in_hand: dict[str, list[int]] = {"payer_feed": [], "email": []}
    lock = threading.Lock()

    def deliver(job: Any, case_json: Any) -> dict:
        with lock:
            leased = job_rows(sessions, kind=job.kind, state="sending")
            in_hand[job.kind].append(len(leased))
        return {}

    dispatcher = Dispatcher(sessions, settings, deliver=deliver, disk_claim_batch=4)
    assert dispatcher.run_once(now=NOW) == 12
    assert in_hand["payer_feed"] == [4, 3, 2, 1, 2, 1]  # a group of 4, then the last 2
    assert in_hand["email"] == [1] * 6
    assert {j["state"] for j in job_rows(sessions)} == {"delivered"}


def test_a_disk_lanes_group_is_delivered_two_at_a_time_each_recorded_after_its_own(
    settings: Settings, any_sessions
) -> None:
    """disk_threads=2 (`gateway worker`): two jobs of an on-disk lane's group are in delivery at
    once (one's fsyncs wait while the other renders); each is recorded delivered only after its
    own delivery returned, and none is left leased."""
    sessions = any_sessions
    store_case(sessions, make_case(), None)
    specs = [JobSpec("payer_feed", f"PA2025000001:pair:{n}", {}) for n in range(4)]
    with sessions.begin() as session:
        outbox.enqueue(session, "PA2025000001", specs, now=NOW)
    together = threading.Barrier(2, timeout=10)
    states_in_delivery: list[str] = []

    def deliver(job: Any, case_json: Any) -> dict:
        together.wait()  # returns only when a second job is in delivery at the same time
        mine = [j for j in job_rows(sessions, kind="payer_feed") if j["id"] == job.id]
        states_in_delivery.append(mine[0]["state"])
        return {}

    dispatcher = Dispatcher(sessions, settings, deliver=deliver, disk_claim_batch=4, disk_threads=2)
    assert dispatcher.run_once(now=NOW) == 4
    assert states_in_delivery == ["sending"] * 4
    assert {j["state"] for j in job_rows(sessions)} == {"delivered"}


def test_a_claim_takes_due_jobs_and_expired_leases_oldest_first_and_nothing_else(
    any_sessions,
) -> None:
    """claim_batch (SQLite asks it as two index reads, PostgreSQL as one OR): queued jobs that
    are due and leases that ran out, of the lane's kinds, oldest due first; never a job not yet
    due, a live lease, another lane's kind or a delivered job."""
    sessions = any_sessions
    store_case(sessions, make_case(), None)
    # (kind, state, due minutes from NOW, lease minutes from NOW)
    plan = [
        ("fax", "queued", -5, None),
        ("fax", "sending", -9, -1),  # lease ran out: claimed again
        ("fax", "sending", -8, 4),  # lease still held
        ("fax", "queued", 3, None),  # not yet due
        ("payer_feed", "queued", -20, None),  # another lane's
        ("fax", "delivered", -30, None),
        ("fax", "queued", -7, None),
        ("fax", "sending", -6, None),  # sending with no lease: claimed again
    ]
    with sessions.begin() as session:
        outbox.enqueue(
            session,
            "PA2025000001",
            [JobSpec(kind, f"PA2025000001:claim:{n}", {}) for n, (kind, *_) in enumerate(plan)],
            now=NOW,
        )
    ids = [row["id"] for row in sorted(job_rows(sessions), key=lambda row: row["id"])]
    with sessions.begin() as session:
        for job_id, (_, state, due, lease) in zip(ids, plan, strict=True):
            session.execute(
                update(OutboxJobRow)
                .where(OutboxJobRow.id == job_id)
                .values(
                    state=state,
                    next_attempt_at=NOW + timedelta(minutes=due),
                    locked_until=None if lease is None else NOW + timedelta(minutes=lease),
                )
            )
    with sessions.begin() as session:
        first = outbox.claim_batch(
            session, "w1", now=NOW, lease=timedelta(minutes=5), limit=3, kinds=["fax"]
        )
    with sessions.begin() as session:
        rest = outbox.claim_batch(
            session, "w2", now=NOW, lease=timedelta(minutes=5), limit=3, kinds=["fax"]
        )
    # Oldest due first: -9 (lease out), -7, -6 (no lease), then -5.
    assert [job.id for job in first] == [ids[1], ids[6], ids[7]]
    assert [job.id for job in rest] == [ids[0]]
    assert all(job.locked_by == "w1" for job in first)
