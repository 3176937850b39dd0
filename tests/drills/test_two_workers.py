"""Drill: two `gateway worker` processes on one database deliver each outbound job exactly once
(issue 19 item 5).

On PostgreSQL the workers claim disjoint batches (FOR UPDATE SKIP LOCKED); on SQLite they take
turns as the one writer (the busy timeout and BEGIN IMMEDIATE). Both workers are up before the
first job is stored, so they race for every one of them; each worker's log names the jobs it
delivered (job ids only, never what a letter says).
"""

from __future__ import annotations

import json
import re
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from benchmarks.workload import write_batch
from gateway.store.db import upgrade
from gateway.store.models import OutboxJobRow
from tests.drills.conftest import SETTLE_POLL, WAIT, Gateway, output_of, wait_until

# Some 30 jobs (fax, member mail, payer feed): enough for both workers to win some of the
# race, few enough that the drill spends its time racing rather than rendering letters.
TRANSACTIONS = 12
DELIVERED = re.compile(r"job (\d+) \([a-z_]+, case [^)]*\) delivered")


def test_two_workers_deliver_each_job_exactly_once(
    gateways: Callable[..., Gateway], tmp_path: Path
) -> None:
    gateway = gateways(
        "two-workers", GATEWAY_LOG_LEVEL="INFO", GATEWAY_DISPATCH_INTERVAL_SECONDS="0.1"
    )
    # The schema is in place before the workers start (each would otherwise migrate an empty
    # PostgreSQL schema at the same moment as the other); as `gateway db upgrade` does it,
    # without a process of its own.
    upgrade(gateway.engine)
    workers = [gateway.start("worker") for _ in range(2)]
    for worker in workers:
        wait_until(lambda w=worker: "started" in output_of(w), "worker start", worker)

    batch = tmp_path / "batch.x12"
    write_batch(batch, TRANSACTIONS)
    gateway.run("submit", batch, "--out", tmp_path / "out", "--no-dispatch")
    wait_until(
        lambda: (
            gateway.count("SELECT count(*) FROM outbox_jobs WHERE state IN ('queued', 'sending')")
            == 0
        ),
        "job left to deliver",
        workers[0],
        every=SETTLE_POLL,
    )
    for worker in workers:
        worker.send_signal(signal.SIGTERM)
    for worker in workers:
        assert worker.wait(timeout=WAIT) == 0, output_of(worker)

    jobs = gateway.rows(
        select(
            OutboxJobRow.id,
            OutboxJobRow.kind,
            OutboxJobRow.idempotency_key,
            OutboxJobRow.state,
            OutboxJobRow.attempts,
        )
    )
    assert Counter(job.state for job in jobs) == {"delivered": len(jobs)}
    # Claimed once each: a second claim would have counted a second attempt.
    assert {job.attempts for job in jobs} == {1}
    by_worker = [[int(n) for n in DELIVERED.findall(output_of(worker))] for worker in workers]
    assert all(by_worker), "both workers delivered jobs"
    assert sorted(by_worker[0] + by_worker[1]) == sorted(job.id for job in jobs)

    def keys(kind: str) -> list[str]:
        return sorted(job.idempotency_key for job in jobs if job.kind == kind)

    # What landed: one spooled fax per fax job, one feed line per payer-feed job.
    spooled = [json.loads(p.read_text()) for p in (gateway.root / "fax").glob("fx-*/job.json")]
    assert sorted(fax["idempotency_key"] for fax in spooled) == keys("fax")
    lines = [
        json.loads(line)
        for path in (gateway.root / "payer-feed").glob("*/*.jsonl")
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    assert sorted(line["idempotency_key"] for line in lines) == keys("payer_feed")
