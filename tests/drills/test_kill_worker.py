"""Drill: `gateway worker` killed with SIGKILL mid-delivery, again and again, then restarted.

What must hold (issue 18, item 12): every outbound job is delivered exactly once. The outbox
delivers at least once (a killed worker's job is claimed again when its lease runs out), so each
destination must recognise a job it already holds by its key: the drill counts what landed in
the fax spool, the maildir, the member-mail batch and the payer feed, and checks that each job's
key is there once and nothing else is.
"""

from __future__ import annotations

import json
import mailbox
import signal
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

from benchmarks.workload import write_batch
from gateway.notify.email import message_id
from gateway.settings import REPO_ROOT, Settings
from gateway.store.models import OutboxJobRow
from tests.drills.conftest import SETTLE_POLL, WAIT, Gateway, kill_when, output_of, wait_until

# Some 70 jobs of the four destinations: each kill then finds the worker with ten or more
# delivered and more to go, while the drill's time goes to kills and restarts, not letters.
TRANSACTIONS = 20
OPTED_IN_CASES = 6  # canonical cases whose ordering provider takes e-mail notices
KILLS = 2  # kills that must land while the worker holds a job it has claimed
TRIES = 4  # kills tried at most to get them


def opted_in_cases(folder: Path) -> list[Path]:
    """Canonical case files from the sample, each its own request, e-mail notices on."""
    sample = json.loads((REPO_ROOT / "samples" / "cases" / "ddact-her2-negative.json").read_text())
    folder.mkdir()
    paths = []
    for n in range(OPTED_IN_CASES):
        case = dict(sample, request_id=f"CASE-DRILL-{n}")
        case["ordering"] = dict(
            sample["ordering"], email=f"orders-{n}@clinic.example", email_opt_in=True
        )
        path = folder / f"case-{n}.json"
        path.write_text(json.dumps(case))
        paths.append(path)
    return paths


def test_worker_killed_mid_delivery_then_restarted_delivers_every_job_once(
    gateways: Callable[..., Gateway], tmp_path: Path
) -> None:
    # A short lease: the restarted worker claims a killed worker's job again within a second
    # (the spool, maildir and file destinations are local: their time limits can be shorter).
    gateway = gateways(
        "worker",
        GATEWAY_OUTBOX_LEASE_SECONDS="1",
        GATEWAY_FAX_TIMEOUT_SECONDS="0.5",
        GATEWAY_SMTP_TIMEOUT_SECONDS="0.5",
        GATEWAY_SUBSCRIPTION_TIMEOUT_SECONDS="0.5",
        GATEWAY_DISPATCH_INTERVAL_SECONDS="0.1",
    )
    batch = tmp_path / "batch.x12"
    write_batch(batch, TRANSACTIONS)
    gateway.run(
        "submit",
        batch,
        *opted_in_cases(tmp_path / "cases"),
        "--out",
        tmp_path / "out",
        "--no-dispatch",
    )
    queued = Counter(kind for (kind,) in gateway.rows(select(OutboxJobRow.kind)))
    total = sum(queued.values())
    assert {"fax", "email", "member_mail", "payer_feed"} <= set(queued), queued

    def delivered() -> int:
        return gateway.count("SELECT count(*) FROM outbox_jobs WHERE state = 'delivered'")

    def held_by(pid: int) -> int:
        # worker ids are host:pid:random (gateway.notify.worker.default_worker_id)
        return gateway.count(
            "SELECT count(*) FROM outbox_jobs WHERE state = 'sending' AND locked_by LIKE :who",
            who=f"%:{pid}:%",
        )

    step = total // (TRIES + 2)
    target, mid_delivery, tried = step, 0, 0
    while mid_delivery < KILLS and tried < TRIES:
        tried += 1
        worker = gateway.start("worker")
        kill_when(
            worker,
            lambda pid=worker.pid, target=target: delivered() >= target and held_by(pid) > 0,
            f"{target} jobs delivered and one in hand",
        )
        if held_by(worker.pid):  # killed between claiming a job and recording it
            mid_delivery += 1
        target = delivered() + step
    assert mid_delivery >= KILLS, f"{mid_delivery} of {tried} kills landed mid-delivery"
    assert delivered() < total

    worker = gateway.start("worker")
    wait_until(
        lambda: (
            gateway.count("SELECT count(*) FROM outbox_jobs WHERE state IN ('queued', 'sending')")
            == 0
        ),
        "job left to deliver",
        worker,
        every=SETTLE_POLL,
    )
    worker.send_signal(signal.SIGTERM)  # a stop finishes the job in hand, then exits
    assert worker.wait(timeout=WAIT) == 0, output_of(worker)

    jobs = gateway.rows(
        select(
            OutboxJobRow.id,
            OutboxJobRow.kind,
            OutboxJobRow.idempotency_key,
            OutboxJobRow.state,
            OutboxJobRow.attempts,
            OutboxJobRow.result,
        )
    )
    assert len(jobs) == total
    assert Counter(job.state for job in jobs) == {"delivered": total}
    # Each job left in a killed worker's hands was claimed and delivered again.
    assert sum(1 for job in jobs if job.attempts > 1) >= mid_delivery

    def keys(*kinds: str) -> list[str]:
        return [job.idempotency_key for job in jobs if job.kind in kinds]

    root = gateway.root
    # Fax spool: one folder per fax job, named from the job's key and holding that key.
    spooled = [json.loads(p.read_text()) for p in (root / "fax").glob("fx-*/job.json")]
    assert sorted(fax["idempotency_key"] for fax in spooled) == sorted(keys("fax"))
    assert {job.result["fax_id"] for job in jobs if job.kind == "fax"} == {
        fax["fax_id"] for fax in spooled
    }

    # Maildir: one message per e-mail job, its Message-ID derived from the job's key.
    mail_from = Settings.model_fields["mail_from"].default
    messages = list(mailbox.Maildir(root / "mail", create=False))
    assert sorted(message["Message-ID"] for message in messages) == sorted(
        message_id(key, mail_from) for key in keys("email")
    )

    # Member mail: one manifest line and one PDF per letter job.
    manifest = [
        json.loads(line)
        for path in (root / "member-mail").glob("*/manifest.jsonl")
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    letters = [job.id for job in jobs if job.kind in ("member_mail", "provider_mail")]
    assert sorted(entry["job_id"] for entry in manifest) == sorted(letters)
    pdfs = [p.name for p in (root / "member-mail").glob("*/*.pdf") if not p.name.startswith(".")]
    assert sorted(pdfs) == sorted(entry["file"] for entry in manifest)

    # Payer feed: one line per feed job, carrying its key.
    lines = [
        json.loads(line)
        for path in (root / "payer-feed").glob("*/*.jsonl")
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    assert sorted(line["idempotency_key"] for line in lines) == sorted(keys("payer_feed"))
