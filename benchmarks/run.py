"""Throughput and latency of the gateway, measured side by side in one run (not a test).

    .venv/bin/python benchmarks/run.py [--transactions 10000] [--json benchmarks/results.json]

See benchmarks/README.md for what each number means. Everything runs against a temporary
directory (SQLite databases, fax spool, maildir, member mail, payer feed) that is removed at the
end (--keep leaves it); the PostgreSQL part (--postgres-url, skipped when no server answers)
creates databases of its own on that server and drops them. The HTTP part starts `gateway serve`
on 127.0.0.1 on a free port, with authentication off, and stops it afterwards. pytest never
collects this folder.

More sections plug in as modules of benchmarks/sections/ (see its __init__.py): each has
`run(args) -> dict` and `markdown(result) -> str`, and may add options with
`add_arguments(parser)`; run.py calls them in name order after its own parts.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import platform
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from workload import (  # noqa: E402
    pas_bundles,
    realtime_interchanges,
    unique_bundle,
    write_batch,
)

FROZEN = "2026-11-23T15:00:00Z"  # the demo roster covers 2026: review "as of" a fixed moment
TOKEN_SECRET = "benchmark-only-token-signing-secret-0123456789"
LETTER_KINDS = ("fax", "member_mail", "provider_mail")


def gateway_env(root: Path, name: str, database_url: str | None = None) -> dict[str, str]:
    """GATEWAY_* variables for a gateway of its own under root/name (its own SQLite database
    unless `database_url` names another)."""
    base = root / name
    base.mkdir(parents=True, exist_ok=True)
    return {
        "GATEWAY_DATABASE_URL": database_url or f"sqlite:///{base / 'gateway.db'}",
        "GATEWAY_FAX_GATEWAY": "spool",
        "GATEWAY_FAX_SPOOL": str(base / "fax"),
        "GATEWAY_MAIL_DIR": str(base / "mail"),
        "GATEWAY_MEMBER_MAIL_DIR": str(base / "member-mail"),
        "GATEWAY_PAYER_FEED_DIR": str(base / "payer-feed"),
        "GATEWAY_X12_MAILBOX_DIR": str(base / "x12-mailbox"),
        "GATEWAY_FROZEN_TIME": FROZEN,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_DISPATCH_IN_PROCESS": "false",
        # The signing key would otherwise be made under the repository's var/.
        "GATEWAY_TOKEN_SECRET": TOKEN_SECRET,
    }


def use_env(env: dict[str, str]) -> None:
    from gateway.settings import get_settings

    os.environ.update(env)
    os.environ.pop("GATEWAY_SMTP_URL", None)
    get_settings.cache_clear()


def rss_mb() -> float:
    """Resident set size now (Linux /proc), in MiB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1024 * 1024 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / scale


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


# ---------------------------------------------------------------- (a, e) intake of the batch


def child_intake(batch: Path, out: Path, heap: bool = False) -> dict[str, Any]:
    """`gateway submit --no-dispatch BATCH`, in this (fresh) process: its time and memory.
    With `heap`, tracemalloc follows the Python heap (slower: not for the throughput numbers)."""
    from rich.console import Console

    from gateway.settings import get_settings
    from gateway.submit import run
    from gateway.wiring import build
    from gateway.x12.intake import REQUEST_GRAMMAR

    REQUEST_GRAMMAR()  # the map and code lists, loaded once per process
    build(get_settings()).core.engine.dispose()  # the schema migrated, the mappings parsed once
    importlib.import_module("gateway.api.app")  # what `run` imports: not the batch's memory
    baseline = rss_mb()
    if heap:
        tracemalloc.start()
    with open(os.devnull, "w") as sink:
        started = time.perf_counter()
        code = run([batch], out, dispatch=False, console=Console(file=sink, width=200))
        seconds = time.perf_counter() - started
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if heap else None
    tracemalloc.stop()
    core = build(get_settings(), migrate=False).core
    from sqlalchemy import func, select

    from gateway.store.models import CaseRow, OutboxJobRow

    with core.sessions() as session:
        cases = session.scalar(select(func.count()).select_from(CaseRow)) or 0
        jobs = dict(
            session.execute(
                select(OutboxJobRow.kind, func.count()).group_by(OutboxJobRow.kind)
            ).all()
        )
    core.engine.dispose()
    ack = next(out.glob("*.999")).read_text()
    ak9 = [s for s in ack.replace("\n", "").split("~") if s.startswith("AK9")]
    responses = next(out.glob("*.278")).read_text().count("ST*278*")
    return {
        "exit_code": code,
        "seconds": round(seconds, 2),
        "cases": cases,
        "jobs": jobs,
        "ak9": ak9,
        "responses": responses,
        "baseline_rss_mb": round(baseline, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "heap_peak_mb": round(heap_peak, 2) if heap_peak is not None else None,
    }


def intake(
    batch: Path,
    transactions: int,
    root: Path,
    name: str,
    heap: bool = False,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Run child_intake in a subprocess, so its peak RSS is the batch's and nothing else's."""
    env = {**os.environ, **gateway_env(root, name, database_url)}
    out = root / name / "out"
    flag = ["--heap"] if heap else []
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child-intake", str(batch), str(out)]
        + flag,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"intake child failed ({proc.returncode}): {proc.stderr[-2000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["transactions"] = transactions
    result["tx_per_s"] = rate(transactions, result["seconds"])
    result["env"] = name
    return result


# ---------------------------------------------------------------- (a) the command, start included


def cli_submit(
    batches: list[Path], root: Path, name: str, database_url: str | None = None
) -> dict[str, Any]:
    """`gateway submit --no-dispatch BATCH` as a user runs it, one process per batch, all
    started together (several: several gateway processes on one database): wall-clock seconds
    from the first start to the last exit, process start and imports included. The schema is
    migrated beforehand (`gateway db upgrade`), as a deployed gateway's is."""
    env = {**os.environ, **gateway_env(root, name, database_url)}
    subprocess.run([*gateway_command(), "db", "upgrade"], env=env, capture_output=True, check=True)
    started = time.perf_counter()
    procs = [
        subprocess.Popen(
            [
                *gateway_command(),
                "submit",
                "--no-dispatch",
                "--out",
                str(root / name / f"out{i}"),
                str(batch),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i, batch in enumerate(batches)
    ]
    ends = []
    for proc in procs:
        _, err = proc.communicate(timeout=3600)
        ends.append(time.perf_counter() - started)
        if proc.returncode != 0:
            raise SystemExit(f"gateway submit failed ({proc.returncode}): {err[-2000:]}")
    seconds = max(ends)
    transactions = sum(_count_transactions(batch) for batch in batches)
    return {
        "processes": len(batches),
        "transactions": transactions,
        "seconds": round(seconds, 2),
        "tx_per_s": rate(transactions, seconds),
        "cases": _count_cases(env["GATEWAY_DATABASE_URL"]),
    }


def _count_cases(database_url: str) -> int:
    from sqlalchemy import create_engine, text

    url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM cases")).scalar_one())
    finally:
        engine.dispose()


class Postgres:
    """Databases of the benchmark's own on a PostgreSQL server, dropped at the end."""

    def __init__(self, url: str):
        self.url = url
        self.made: list[str] = []

    def available(self) -> bool:
        try:
            import psycopg

            with psycopg.connect(self.url, connect_timeout=3):
                return True
        except Exception:  # noqa: BLE001 (no driver, no server: the part is skipped)
            return False

    def database(self, name: str) -> str:
        import psycopg

        db = f"gateway_bench_{os.getpid()}_{name}"
        with psycopg.connect(self.url, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{db}"')
            connection.execute(f'CREATE DATABASE "{db}"')
        self.made.append(db)
        base = self.url.rsplit("/", 1)[0]
        return f"{base}/{db}"

    def drop_all(self) -> None:
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as connection:
            for db in self.made:
                connection.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        self.made.clear()


# ---------------------------------------------------------------- (a) validation alone


def gateway_validation(batch: Path) -> dict[str, Any]:
    """The gateway's own validator over the batch (streamed), without mapping or storing: the
    validation step of the answering engine (gateway.x12.engine), alone."""
    from gateway.x12.envelope import EnvelopeWalker
    from gateway.x12.intake import REQUEST_GRAMMAR, request_implementation
    from gateway.x12.tokens import iter_segments
    from gateway.x12.validate import validate_transaction

    REQUEST_GRAMMAR()
    started = time.perf_counter()
    count = accepted = 0
    walker = EnvelopeWalker()
    gs = None
    with batch.open(encoding="utf-8-sig", errors="replace") as stream:
        for delims, segment in iter_segments(stream):
            if segment.seg_id == "ISA":
                walker = EnvelopeWalker()
                continue
            for event in walker.feed(segment):
                if event.kind == "group":
                    gs = event.segment
                elif event.kind == "transaction" and event.transaction and gs is not None:
                    grammar = REQUEST_GRAMMAR(
                        implementation=request_implementation(event.transaction, gs)
                    )
                    count += 1
                    accepted += validate_transaction(
                        event.transaction.segments, delims, grammar
                    ).accepted
    seconds = time.perf_counter() - started
    return {
        "transactions": count,
        "accepted": accepted,
        "seconds": round(seconds, 2),
        "tx_per_s": rate(count, seconds),
    }


def pyx12_validation(batch: Path, limit: int | None) -> dict[str, Any]:
    """pyx12 4.0.0 with the project's 005010X217 map (gateway/x12/oracle.run_pyx12): the
    whole batch in one call, as pyx12 reads it (into memory)."""
    from workload import write_batch as make

    from gateway.x12.oracle import run_pyx12

    path, count = batch, _count_transactions(batch)
    if limit is not None and limit < count:
        path = batch.with_name(f"pyx12-{limit}.x12")
        make(path, limit)
        count = limit
    text = path.read_text()
    started = time.perf_counter()
    result = run_pyx12(text)
    seconds = time.perf_counter() - started
    return {
        "transactions": count,
        "seconds": round(seconds, 2),
        "tx_per_s": rate(count, seconds),
        "valid": result.valid,
        "findings": len(result.findings),
        "error": result.error,
    }


def _count_transactions(batch: Path) -> int:
    with batch.open() as handle:
        return sum(line.count("ST*278*") for line in handle)


# ---------------------------------------------------------------- (b) the worker


def worker(root: Path, name: str, cap: int) -> dict[str, Any]:
    """Deliver the jobs the intake stored (the first `cap`), as `gateway worker` does."""
    use_env(gateway_env(root, name))
    from sqlalchemy import func, select

    from gateway.notify.deliver import Deliverer
    from gateway.notify.worker import Dispatcher
    from gateway.settings import get_settings
    from gateway.store.models import OutboxJobRow
    from gateway.wiring import build

    settings = get_settings()
    core = build(settings, migrate=False).core
    with core.sessions() as session:
        total = session.scalar(select(func.count()).select_from(OutboxJobRow)) or 0
    deliverer = Deliverer(settings, clock=core.clock)
    spent: Counter[str] = Counter()
    done: Counter[str] = Counter()

    def deliver(job, case_json):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return deliverer(job, case_json)
        finally:
            spent[job.kind] += time.perf_counter() - started
            done[job.kind] += 1

    dispatcher = Dispatcher(core.sessions, settings, deliver=deliver, clock=core.clock)
    started = time.perf_counter()
    delivered = 0
    while (left := cap - sum(done.values())) > 0:
        dispatcher.max_jobs_per_pass = min(100, left)  # stop at the cap, not past it
        before = sum(done.values())
        delivered += dispatcher.run_once()
        if sum(done.values()) == before:
            break  # no job is due
    seconds = time.perf_counter() - started
    core.engine.dispose()
    letters = sum(done[kind] for kind in LETTER_KINDS)
    letter_seconds = sum(spent[kind] for kind in LETTER_KINDS)
    spool = Path(settings.fax_spool)
    return {
        "jobs_stored": total,
        "cap": cap,
        "delivered": delivered,
        "seconds": round(seconds, 2),
        "jobs_per_s": rate(delivered, seconds),
        "letters_pdf": letters,
        "letters_per_s": rate(letters, seconds),
        "letters_per_s_delivery_only": rate(letters, letter_seconds),
        "by_kind": {
            kind: {"jobs": done[kind], "ms_each": round(1000 * spent[kind] / done[kind], 1)}
            for kind in sorted(done)
        },
        "fax_spool_folders": sum(1 for p in spool.iterdir() if p.is_dir()) if spool.exists() else 0,
    }


# ---------------------------------------------------------------- (c) PAS $submit in-process


def pas(root: Path, rounds: int) -> dict[str, Any]:
    """submit_bundle (the $submit route's logic) per bundle, against fhir.resources R4B parsing
    the same bundle alone."""
    use_env(gateway_env(root, "pas"))
    from fhir.resources.R4B.bundle import Bundle

    from gateway.conformance.observe import observe_fhir
    from gateway.fhir.intake import submit_bundle
    from gateway.fhir.memo import forget_resources
    from gateway.settings import get_settings
    from gateway.wiring import build

    settings = get_settings()
    core = build(settings).core  # the outbound jobs, as under `gateway serve`
    out: dict[str, Any] = {}
    n = 0
    for name, bundle in pas_bundles().items():
        for _ in range(3):  # warm-up: first-use caches (code tables, models)
            n += 1
            submit_bundle(core, unique_bundle(bundle, n), submitter_id="bench")
            Bundle.model_validate(bundle)
        gateway_ms: list[float] = []
        fresh_ms: list[float] = []
        parse_ms: list[float] = []
        answer = None
        for _ in range(rounds):
            n += 1
            body = unique_bundle(bundle, n)
            started = time.perf_counter()
            answer = submit_bundle(core, body, submitter_id="bench")
            gateway_ms.append(1000 * (time.perf_counter() - started))
            started = time.perf_counter()
            Bundle.model_validate(body)
            parse_ms.append(1000 * (time.perf_counter() - started))
            # The same with every resource new to the gateway: what it knows of resources by
            # their content (gateway/fhir/memo.py) forgotten first, as for a first submission.
            n += 1
            body = unique_bundle(bundle, n)
            forget_resources()
            started = time.perf_counter()
            submit_bundle(core, body, submitter_id="bench")
            fresh_ms.append(1000 * (time.perf_counter() - started))
        assert answer is not None
        observed = observe_fhir(answer.resource())
        what = (
            f"OperationOutcome {answer.status}"
            if answer.is_outcome
            else "response, reviewAction "
            + ",".join(dict.fromkeys(a or "?" for a in observed.get("items") or []))
        )
        g, p = statistics.median(gateway_ms), statistics.median(parse_ms)
        f = statistics.median(fresh_ms)
        out[name] = {
            "answer": what,
            "rounds": rounds,
            "gateway_ms_median": round(g, 2),
            "gateway_fresh_ms_median": round(f, 2),
            "fhir_resources_ms_median": round(p, 2),
            "ratio": round(g / p, 2),
            "fresh_ratio": round(f / p, 2),
        }
    core.engine.dispose()
    return out


# ---------------------------------------------------------------- (d) HTTP latency


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gateway_command() -> list[str]:
    script = Path(sys.executable).parent / "gateway"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from gateway.cli import main; main()"]


def http(root: Path, requests: int, concurrency: int, deadline: float) -> dict[str, Any]:
    """p50/p99 latency of POST /x12/278 and POST /fhir/Claim/$submit under a bounded load."""
    import httpx

    port = free_port()
    env = {**os.environ, **gateway_env(root, "http"), "GATEWAY_AUTH_ENABLED": "false"}
    log = (root / "http" / "server.log").open("w")
    server = subprocess.Popen(
        [*gateway_command(), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, server)
        interchanges = realtime_interchanges(900_000_001)
        bundles = list(pas_bundles().values())[:3]  # the three that are answered (not refused)
        lock = threading.Lock()
        counter = iter(range(10**9))

        def x12_body() -> tuple[str, bytes, dict[str, str]]:
            with lock:
                data = next(interchanges)
            return "/x12/278", data, {"Content-Type": "application/edi-x12"}

        def pas_body() -> tuple[str, bytes, dict[str, str]]:
            with lock:
                n = next(counter)
            body = unique_bundle(bundles[n % len(bundles)], 500_000 + n)
            return (
                "/fhir/Claim/$submit",
                json.dumps(body).encode(),
                {"Content-Type": "application/fhir+json"},
            )

        results = {}
        for route, make in (("POST /x12/278", x12_body), ("POST /fhir/Claim/$submit", pas_body)):
            with httpx.Client(base_url=base, timeout=30) as client:
                for _ in range(5):  # warm-up
                    path, data, headers = make()
                    client.post(path, content=data, headers=headers)
            results[route] = _load(base, make, requests, concurrency, deadline)
        return {
            "requests_per_route": requests,
            "concurrency": concurrency,
            "server": "gateway serve (uvicorn, 1 process), auth off, dispatcher off",
            "routes": results,
        }
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
        log.close()


def _wait_healthy(base: str, server: subprocess.Popen) -> None:
    import httpx

    until = time.monotonic() + 60
    while time.monotonic() < until:
        if server.poll() is not None:
            raise SystemExit(f"gateway serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit("gateway serve did not answer /healthz within 60 s")


def _load(base: str, make: Any, requests: int, concurrency: int, deadline: float) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    issued = iter(range(requests))
    stop_at = time.monotonic() + deadline

    def client_loop() -> None:
        with httpx.Client(base_url=base, timeout=60) as client:
            while time.monotonic() < stop_at:
                with lock:
                    if next(issued, None) is None:
                        return
                path, data, headers = make()
                started = time.perf_counter()
                try:
                    status = client.post(path, content=data, headers=headers).status_code
                except httpx.HTTPError:
                    status = 0
                elapsed = 1000 * (time.perf_counter() - started)
                with lock:
                    latencies.append(elapsed)
                    statuses[status] += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0

    return {
        "completed": len(ordered),
        "seconds": round(seconds, 2),
        "requests_per_s": rate(len(ordered), seconds),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1], 1) if ordered else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


# ---------------------------------------------------------------- (f) the command; PostgreSQL


def cli_part(root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """The held-out check's way: a batch through `gateway submit --no-dispatch` in a process of
    its own (start-up and imports counted) beside pyx12 validating the same file; and the
    seconds of a one-transaction submit (the median of three, each on a database of its own)."""
    batch = root / "cli.x12"
    write_batch(batch, args.cli_transactions, isa13=820_000_001, first=5_000_001)
    single = root / "one.x12"
    write_batch(single, 1, isa13=830_000_001, first=6_000_001)
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    say(f"gateway submit of {args.cli_transactions} (a process, start included) ...")
    run = cli_submit([batch], root, "cli")
    say("pyx12 on the same batch ...")
    checked = pyx12_validation(batch, None)
    say("gateway submit of one transaction, three times ...")
    singles = [cli_submit([single], root, f"one-{n}")["seconds"] for n in range(3)]
    return {
        "batch": run,
        "pyx12": checked,
        "one_file_seconds": statistics.median(singles),
        "one_file_runs": singles,
    }


def postgres_part(
    root: Path, args: argparse.Namespace, postgres: Postgres, say: Any
) -> dict[str, Any]:
    """Intake on PostgreSQL (the in-process measure, as for SQLite), then the same number of
    transactions through one `gateway submit` process and through two processes at once, each
    with half of them, on one database."""
    n = args.postgres_transactions
    batch = root / "pg.x12"
    write_batch(batch, n, isa13=840_000_001, first=7_000_001)
    say(f"intake of {n} on PostgreSQL ...")
    result = intake(batch, n, root, "pg-intake", database_url=postgres.database("intake"))
    say(f"one gateway submit process, {n} on PostgreSQL ...")
    one = root / "pg-one.x12"
    write_batch(one, n, isa13=850_000_001, first=7_100_001)
    single = cli_submit([one], root, "pg-one", postgres.database("one"))
    say(f"two gateway submit processes, {n // 2} each, one PostgreSQL database ...")
    halves = [root / "pg-a.x12", root / "pg-b.x12"]
    write_batch(halves[0], n // 2, isa13=860_000_001, first=7_200_001)
    write_batch(halves[1], n - n // 2, isa13=870_000_001, first=7_300_001)
    pair = cli_submit(halves, root, "pg-two", postgres.database("two"))
    return {"intake": result, "one_process": single, "two_processes": pair}


def sections() -> list[tuple[str, Any]]:
    """The modules of benchmarks/sections/ (name order), each with run(args) and markdown()."""
    found = []
    folder = HERE / "sections"
    for path in sorted(folder.glob("*.py")) if folder.is_dir() else []:
        if path.name.startswith("_"):
            continue
        spec = importlib.util.spec_from_file_location(f"bench_section_{path.stem}", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        if callable(getattr(module, "run", None)):  # not a helper module (common.py)
            found.append((path.stem, module))
    return found


# ---------------------------------------------------------------- report


def _cli_and_postgres(results: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    if results.get("cli"):
        c = results["cli"]
        lines += [
            "",
            "## The command as a user runs it (process start and imports included)",
            "",
            "| measure | transactions | seconds | tx/s |",
            "|---|---:|---:|---:|",
            f"| pyx12 validation alone | {c['pyx12']['transactions']} | {c['pyx12']['seconds']} "
            f"| {c['pyx12']['tx_per_s']} |",
            f"| `gateway submit --no-dispatch` (a process) | {c['batch']['transactions']} "
            f"| {c['batch']['seconds']} | {c['batch']['tx_per_s']} |",
            "",
            f"Submit / pyx12, start included: **{results['ratios']['cli_vs_pyx12']}x**. "
            f"`gateway submit` of one transaction: **{c['one_file_seconds']} s** "
            f"(median of {', '.join(str(x) for x in c['one_file_runs'])}).",
        ]
    if results.get("postgres"):
        pg = results["postgres"]
        i, one, two = pg["intake"], pg["one_process"], pg["two_processes"]
        lines += [
            "",
            "## PostgreSQL (one server, databases of the benchmark's own)",
            "",
            "| measure | processes | transactions | seconds | tx/s | cases |",
            "|---|---:|---:|---:|---:|---:|",
            f"| intake (as above, in-process) | 1 | {i['transactions']} | {i['seconds']} "
            f"| {i['tx_per_s']} | {i['cases']} |",
            f"| `gateway submit` (start included) | 1 | {one['transactions']} "
            f"| {one['seconds']} | {one['tx_per_s']} | {one['cases']} |",
            f"| `gateway submit`, two at once on one database | 2 | {two['transactions']} "
            f"| {two['seconds']} | {two['tx_per_s']} | {two['cases']} |",
            "",
            f"Intake on PostgreSQL / pyx12: **{results['ratios']['intake_postgres_vs_pyx12']}x**;"
            f" two processes / one: **{results['ratios']['two_processes_vs_one_postgres']}x**.",
        ]
    return lines


def markdown(results: dict[str, Any]) -> str:
    a = results["intake"]
    lines = [
        f"# Benchmark results ({results['when'][:10]})",
        "",
        f"Machine: {results['machine']['cpu']} ({results['machine']['cpus']} CPUs), "
        f"Python {results['machine']['python']}, {results['machine']['platform']}. "
        f"One run, `python benchmarks/run.py --transactions {a['transactions']}`.",
        "",
        "## Batch: validation and intake",
        "",
        "| measure | transactions | seconds | tx/s |",
        "|---|---:|---:|---:|",
    ]
    py = results["pyx12"]
    gv = results["gateway_validation"]
    lines += [
        f"| pyx12 4.0.0 validation alone (project map) | {py['transactions']} | {py['seconds']} "
        f"| {py['tx_per_s']} |",
        f"| gateway validator alone (streamed) | {gv['transactions']} | {gv['seconds']} "
        f"| {gv['tx_per_s']} |",
        f"| gateway intake (`gateway submit --no-dispatch`) | {a['transactions']} "
        f"| {a['seconds']} | {a['tx_per_s']} |",
        "",
        f"Intake / pyx12 validation: **{results['ratios']['intake_vs_pyx12']}x** the throughput "
        f"(the gateway validator alone: {results['ratios']['validator_vs_pyx12']}x). Intake "
        f"stored {a['cases']} cases and {sum(a['jobs'].values())} outbound jobs; 999 "
        f"{', '.join(a['ak9'])}; {a['responses']} responses.",
    ]
    lines += _cli_and_postgres(results)
    lines += [
        "",
        "## Memory (peak RSS of the intake process)",
        "",
        "| batch | baseline RSS (MiB) | peak RSS (MiB) |",
        "|---:|---:|---:|",
    ]
    for run in results["memory"]:
        lines.append(f"| {run['transactions']} | {run['baseline_rss_mb']} | {run['peak_rss_mb']} |")
    if results.get("memory_heap"):
        lines += [
            "",
            "Python heap during intake (tracemalloc peak, separate runs): "
            + ", ".join(
                f"{run['transactions']} transactions {run['heap_peak_mb']} MiB"
                for run in results["memory_heap"]
            )
            + ".",
        ]
    w = results["worker"]
    lines += [
        "",
        "## Worker",
        "",
        f"First {w['delivered']} of {w['jobs_stored']} stored jobs (cap {w['cap']}) in "
        f"{w['seconds']} s: **{w['jobs_per_s']} jobs/s**, **{w['letters_per_s']} letters/s** "
        f"(PDF rendered and spooled; {w['letters_pdf']} letters; "
        f"{w['letters_per_s_delivery_only']}/s counting delivery time only).",
        "",
        "| kind | jobs | ms each |",
        "|---|---:|---:|",
    ]
    for kind, row in w["by_kind"].items():
        lines.append(f"| {kind} | {row['jobs']} | {row['ms_each']} |")
    lines += [
        "",
        "## PAS $submit in-process vs fhir.resources R4B parsing alone (median ms)",
        "",
        "A resubmission repeats the resources of the first (a new Bundle.identifier each time):",
        "the gateway finds what it knows of them by their content. \"New resources\": the same",
        "with that memory cleared before each submission, as for resources it has never seen.",
        "",
        "| bundle | answer | gateway $submit | new resources | Bundle.model_validate | ratio"
        " | ratio, new resources |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, row in results["pas"].items():
        lines.append(
            f"| {name} | {row['answer']} | {row['gateway_ms_median']} | "
            f"{row.get('gateway_fresh_ms_median', '')} | "
            f"{row['fhir_resources_ms_median']} | {row['ratio']} | {row.get('fresh_ratio', '')} |"
        )
    h = results["http"]
    lines += [
        "",
        f"## HTTP ({h['server']}; {h['concurrency']} concurrent clients, "
        f"{h['requests_per_route']} requests per route)",
        "",
        "| route | completed | req/s | p50 ms | p99 ms | max ms | statuses |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for route, row in h["routes"].items():
        lines.append(
            f"| {route} | {row['completed']} | {row['requests_per_s']} | {row['p50_ms']} "
            f"| {row['p99_ms']} | {row['max_ms']} | {row['statuses']} |"
        )
    return "\n".join(lines) + "\n"


def ratios_line(results: dict[str, Any]) -> str:
    """Every ratio of the run on one line (what the issue's checks read)."""
    return "ratios: " + ", ".join(f"{k} {v}x" for k, v in results["ratios"].items())


README_START = "<!-- benchmark table: written by benchmarks/run.py -->"
README_END = "<!-- end of benchmark table -->"


def readme_table(results: dict[str, Any]) -> str:
    """The README's benchmark table (measure, result) from a run's results."""
    py, gv, a = results["pyx12"], results["gateway_validation"], results["intake"]
    r = results["ratios"]
    rows = [
        (
            f"pyx12 4.0.0 validating the {py['transactions']:,}-transaction batch alone",
            f"{py['tx_per_s']:,} tx/s",
        ),
        (
            "the gateway's own validator on the same batch",
            f"{gv['tx_per_s']:,} tx/s ({r['validator_vs_pyx12']}x pyx12)",
        ),
        (
            "the gateway's intake (`gateway submit --no-dispatch`: validate, read, review, store "
            "each case with its jobs, write 999 and responses)",
            f"{a['tx_per_s']:,} tx/s ({r['intake_vs_pyx12']}x pyx12 validating alone)",
        ),
    ]
    if results.get("cli"):
        c = results["cli"]
        rows += [
            (
                f"`gateway submit --no-dispatch` of {c['batch']['transactions']:,} transactions "
                "as a process, start included",
                f"{c['batch']['seconds']} s ({r['cli_vs_pyx12']}x pyx12 on the same file)",
            ),
            ("`gateway submit` of one 278", f"{c['one_file_seconds']} s"),
        ]
    if results.get("postgres"):
        pg = results["postgres"]
        rows += [
            (
                f"intake on PostgreSQL ({pg['intake']['transactions']:,} transactions)",
                f"{pg['intake']['tx_per_s']:,} tx/s ({r['intake_postgres_vs_pyx12']}x pyx12)",
            ),
            (
                "two `gateway submit` processes on one PostgreSQL database",
                f"{pg['two_processes']['tx_per_s']:,} tx/s together "
                f"({r['two_processes_vs_one_postgres']}x one process)",
            ),
        ]
    w = results["worker"]
    rows.append(
        (
            "worker: letters rendered to PDF and spooled",
            f"{w['letters_per_s']} letters/s ({w['jobs_per_s']} jobs/s)",
        )
    )
    first = next(iter(results["pas"].items()), None)
    if first:
        rows.append(
            (
                f"PAS `$submit` in-process vs `Bundle.model_validate` alone ({first[0]})",
                f"{first[1]['gateway_ms_median']} ms vs {first[1]['fhir_resources_ms_median']} ms"
                f" ({first[1]['ratio']}x; {first[1].get('fresh_ratio')}x with new resources)",
            )
        )
    h = results["http"]
    for route, row in h["routes"].items():
        rows.append(
            (
                f"`{route}`, {h['concurrency']} concurrent clients on loopback",
                f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms",
            )
        )
    mem = results["memory"]
    if len(mem) > 1:
        rows.append(
            (
                f"peak RSS, {mem[0]['transactions']:,} vs {mem[-1]['transactions']:,} transactions",
                f"{mem[0]['peak_rss_mb']} vs {mem[-1]['peak_rss_mb']} MiB",
            )
        )
    for section in results.get("sections", {}).values():
        rows += [(label, value) for label, value in section.get("readme_rows", [])]
    lines = ["| measure | result |", "|---|---|"]
    lines += [f"| {label} | {value} |" for label, value in rows]
    return "\n".join(lines)


def update_readme(path: Path, table: str) -> None:
    """Rewrite the table between the README's markers (left alone when it has none)."""
    text = path.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        print(f"{path}: no benchmark table markers, left as it is", file=sys.stderr)
        return
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    path.write_text(f"{head}{README_START}\n{table}\n{README_END}{tail}", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--transactions",
        type=int,
        default=10_000,
        help="transaction sets in the generated 278 batch (default 10000)",
    )
    parser.add_argument(
        "--pyx12-transactions",
        type=int,
        default=None,
        help="validate only this many with pyx12 (default: the whole batch)",
    )
    parser.add_argument(
        "--memory-compare",
        type=int,
        default=1_000,
        help="also run intake on a batch this size, for peak RSS (0: skip)",
    )
    parser.add_argument(
        "--worker-jobs",
        type=int,
        default=2_000,
        help="deliver at most this many jobs in the worker part",
    )
    parser.add_argument("--pas-rounds", type=int, default=30, help="timed rounds per bundle")
    parser.add_argument("--http-requests", type=int, default=400, help="requests per route")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent HTTP clients")
    parser.add_argument(
        "--http-deadline",
        type=float,
        default=300.0,
        help="seconds after which a route's load stops issuing requests",
    )
    parser.add_argument(
        "--json", type=Path, default=HERE / "results.json", help="where the results go (JSON)"
    )
    parser.add_argument(
        "--markdown", type=Path, default=HERE / "RESULTS.md", help="where the Markdown table goes"
    )
    parser.add_argument(
        "--heap-sizes",
        default="500,2000",
        help="batch sizes whose intake runs under tracemalloc (Python heap peak; '' to skip)",
    )
    parser.add_argument(
        "--cli-transactions",
        type=int,
        default=1_000,
        help="a batch this size through `gateway submit --no-dispatch` as a process, start "
        "included, beside pyx12 on it; and one single-transaction file (0: skip)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server the benchmark may create databases on",
    )
    parser.add_argument(
        "--postgres-transactions",
        type=int,
        default=2_000,
        help="batch size of the PostgreSQL part: intake, then one and two gateway processes "
        "on one database (0: skip)",
    )
    parser.add_argument(
        "--readme",
        type=Path,
        default=REPO / "README.md",
        help="the README whose benchmark table is rewritten ('' to leave it)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    for _, section in sections():
        if hasattr(section, "add_arguments"):
            section.add_arguments(parser)
    parser.add_argument("--heap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-intake", nargs=2, metavar=("BATCH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.readme is not None and not str(args.readme):
        args.readme = None
    if args.child_intake:
        batch, out = Path(args.child_intake[0]), Path(args.child_intake[1])
        print(json.dumps(child_intake(batch, out, heap=args.heap)))
        return 0

    root = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    say = lambda text: print(text, file=sys.stderr, flush=True)  # noqa: E731
    try:
        batch = root / "batch.x12"
        size = write_batch(batch, args.transactions)
        say(f"batch: {args.transactions} transactions, {size / 1e6:.1f} MB under {root}")
        results: dict[str, Any] = {
            "when": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "python": platform.python_version(),
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "cpu": _cpu(),
            },
            "batch": {"transactions": args.transactions, "bytes": size},
        }
        say("intake (gateway submit --no-dispatch) ...")
        results["intake"] = intake(batch, args.transactions, root, "batch")
        memory = [results["intake"]]
        if args.memory_compare:
            small = root / "small.x12"
            write_batch(small, args.memory_compare, isa13=800_000_001)
            say(f"intake of {args.memory_compare} for memory ...")
            memory.insert(0, intake(small, args.memory_compare, root, "small"))
        results["memory"] = [
            {k: run[k] for k in ("transactions", "baseline_rss_mb", "peak_rss_mb", "tx_per_s")}
            for run in memory
        ]
        results["memory_heap"] = []
        for size in [int(n) for n in args.heap_sizes.split(",") if n.strip()]:
            path = root / f"heap-{size}.x12"
            write_batch(path, size, isa13=810_000_001 + size)
            say(f"intake of {size} under tracemalloc ...")
            run = intake(path, size, root, f"heap-{size}", heap=True)
            results["memory_heap"].append(
                {"transactions": size, "heap_peak_mb": run["heap_peak_mb"]}
            )
        say("gateway validator alone ...")
        results["gateway_validation"] = gateway_validation(batch)
        say("pyx12 validation alone ...")
        results["pyx12"] = pyx12_validation(batch, args.pyx12_transactions)
        results["ratios"] = {
            "intake_vs_pyx12": round(
                results["intake"]["tx_per_s"] / results["pyx12"]["tx_per_s"], 2
            ),
            "validator_vs_pyx12": round(
                results["gateway_validation"]["tx_per_s"] / results["pyx12"]["tx_per_s"], 2
            ),
        }
        if args.cli_transactions:
            results["cli"] = cli_part(root, args)
            results["ratios"]["cli_vs_pyx12"] = round(
                results["cli"]["batch"]["tx_per_s"] / results["cli"]["pyx12"]["tx_per_s"], 2
            )
        postgres = Postgres(args.postgres_url)
        if args.postgres_transactions and postgres.available():
            try:
                results["postgres"] = postgres_part(root, args, postgres, say)
            finally:
                postgres.drop_all()
            pg = results["postgres"]
            results["ratios"]["intake_postgres_vs_pyx12"] = round(
                pg["intake"]["tx_per_s"] / results["pyx12"]["tx_per_s"], 2
            )
            results["ratios"]["two_processes_vs_one_postgres"] = round(
                pg["two_processes"]["tx_per_s"] / pg["one_process"]["tx_per_s"], 2
            )
        elif args.postgres_transactions:
            say(f"PostgreSQL part skipped: no server answers at {args.postgres_url}")
        say("worker ...")
        results["worker"] = worker(root, "batch", args.worker_jobs)
        say("PAS $submit in-process ...")
        results["pas"] = pas(root, args.pas_rounds)
        say("HTTP ...")
        results["http"] = http(root, args.http_requests, args.concurrency, args.http_deadline)
        args.bench_root, args.bench_batch, args.bench_results = root, batch, results
        extra = ""
        results["sections"] = {}
        for name, section in sections():
            say(f"{name} ...")
            results["sections"][name] = section.run(args)
            extra += "\n" + section.markdown(results["sections"][name])
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        table = markdown(results) + extra
        args.markdown.write_text(table)
        if args.readme:
            update_readme(args.readme, readme_table(results))
        print(table)
        print(ratios_line(results))
    finally:
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    return 0


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    sys.exit(main())
