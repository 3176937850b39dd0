"""The outbox worker (issue 19 items 5 and 6): `gateway worker` processes delivering the jobs a
batch stored, on SQLite and on PostgreSQL, one worker and two.

Each configuration gets a database of its own holding the same jobs (`gateway submit
--no-dispatch` of one generated batch), then K `gateway worker` processes are started and the
database is watched until every job is delivered. The rate is counted from the first delivered
letter to the last (process start-up left out); a letter is a fax or printed-mail job: a PDF
rendered and written (fsync) to the fax spool or the member-mail batch. The worker processes'
CPU time over the same span (Linux /proc/<pid>/stat, every thread) gives letters per
CPU-second, which the machine's other work disturbs far less than the wall clock.

    run(args) -> dict      markdown(result) -> str
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sections.common import (
    DEFAULT_POSTGRES,
    drop_postgres,
    env_for,
    fresh_postgres,
    postgres_available,
    rate,
    run_gateway,
    start_gateway,
    stop,
)

LETTER_KINDS = ("fax", "member_mail", "provider_mail")
CONFIGS = (("sqlite", 1), ("sqlite", 2), ("postgresql", 1), ("postgresql", 2))


def _counts(database_url: str) -> tuple[int, int, int]:
    """(jobs delivered, letters delivered, jobs still to go) in the gateway's database."""
    from sqlalchemy import text

    from gateway.store.db import make_engine

    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT kind, state, count(*) FROM outbox_jobs GROUP BY kind, state")
            ).all()
    finally:
        engine.dispose()
    delivered = sum(n for _, state, n in rows if state == "delivered")
    letters = sum(n for kind, state, n in rows if state == "delivered" and kind in LETTER_KINDS)
    left = sum(n for _, state, n in rows if state in ("queued", "sending"))
    return delivered, letters, left


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a running process so far, all its threads (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _one(
    root: Path, batch: Path, backend: str, workers: int, postgres: str, timeout: float
) -> dict[str, Any]:
    name = f"worker-{backend}-{workers}"
    url = fresh_postgres(postgres) if backend == "postgresql" else None
    env = env_for(root, name, url)
    env["GATEWAY_DISPATCH_INTERVAL_SECONDS"] = "1"
    database_url = env["GATEWAY_DATABASE_URL"]
    log = root / name / "gateway.log"
    try:
        run_gateway(env, "submit", batch, "--out", root / name / "out", "--no-dispatch", log=log)
        _, _, stored = _counts(database_url)
        processes = [start_gateway(env, "worker", log=log) for _ in range(workers)]
        samples: list[tuple[float, int, int, float]] = []
        until = time.monotonic() + timeout
        try:
            while time.monotonic() < until:
                delivered, letters, left = _counts(database_url)
                cpu = sum(_cpu_seconds(p.pid) for p in processes)
                samples.append((time.monotonic(), delivered, letters, cpu))
                if left == 0 or any(p.poll() is not None for p in processes):
                    break
                time.sleep(0.2)
        finally:
            for process in processes:
                stop(process)
        started = next((s for s in samples if s[2] > 0), samples[-1])
        last = samples[-1]
        seconds = last[0] - started[0]
        cpu_seconds = last[3] - started[3]
        return {
            "backend": backend,
            "workers": workers,
            "jobs_stored": stored,
            "jobs_delivered": last[1],
            "letters_delivered": last[2],
            "seconds": round(seconds, 2),
            "jobs_per_s": rate(last[1] - started[1], seconds),
            "letters_per_s": rate(last[2] - started[2], seconds),
            "cpu_seconds": round(cpu_seconds, 2),
            "letters_per_cpu_s": rate(last[2] - started[2], cpu_seconds),
            "all_delivered": last[1] == stored,
        }
    finally:
        if url:
            drop_postgres(url)


def configs(given: str | None) -> tuple[tuple[str, int], ...]:
    """`sqlite:1,postgresql:2` -> ((sqlite, 1), (postgresql, 2)); CONFIGS when not given."""
    if not given:
        return CONFIGS
    pairs = (item.strip().partition(":") for item in given.split(",") if item.strip())
    return tuple((backend, int(n or "1")) for backend, _, n in pairs)


def run(args: Any) -> dict[str, Any]:
    """Every configuration in turn on the same batch (`--worker-transactions`, default 400)."""
    from workload import write_batch

    transactions = getattr(args, "worker_transactions", 400)
    postgres = getattr(args, "postgres_url", None) or DEFAULT_POSTGRES
    timeout = getattr(args, "worker_timeout", 600.0)
    root = Path(tempfile.mkdtemp(prefix="gateway-bench-worker-"))
    try:
        batch = root / "batch.x12"
        write_batch(batch, transactions, isa13=600_000_001)
        have_postgres = postgres_available(postgres)
        runs = [
            _one(root, batch, backend, workers, postgres, timeout)
            for backend, workers in configs(getattr(args, "worker_configs", None))
            if backend == "sqlite" or have_postgres
        ]
    finally:
        if not getattr(args, "keep", False):
            shutil.rmtree(root, ignore_errors=True)
    by = {(r["backend"], r["workers"]): r for r in runs}
    scaling = {
        backend: round(by[(backend, 2)]["letters_per_s"] / by[(backend, 1)]["letters_per_s"], 2)
        for backend in ("sqlite", "postgresql")
        if (backend, 1) in by and (backend, 2) in by and by[(backend, 1)]["letters_per_s"]
    }
    return {
        "transactions": transactions,
        "postgresql": have_postgres,
        "runs": runs,
        "two_workers_over_one": scaling,
        "best_letters_per_s": max((r["letters_per_s"] for r in runs), default=0.0),
    }


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## Worker (`gateway worker` processes)",
        "",
        f"The outbox of a {result['transactions']}-transaction batch, delivered by one and by "
        "two worker processes; rates from the first delivered letter to the last.",
        "",
        "| database | workers | jobs | letters | seconds | jobs/s | letters/s | letters/CPU-s "
        "| all delivered |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["runs"]:
        lines.append(
            f"| {r['backend']} | {r['workers']} | {r['jobs_delivered']} | "
            f"{r['letters_delivered']} | {r['seconds']} | {r['jobs_per_s']} | "
            f"{r['letters_per_s']} | {r.get('letters_per_cpu_s', '')} | "
            f"{'yes' if r['all_delivered'] else 'no'} |"
        )
    if not result["postgresql"]:
        lines += ["", "No PostgreSQL server answered: its rows are missing."]
    for backend, ratio in result["two_workers_over_one"].items():
        lines += ["", f"Two workers over one on {backend}: **{ratio}x** the letters a second."]
    return "\n".join(lines) + "\n"
