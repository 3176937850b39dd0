"""Throughput and latency of the gateway, measured side by side in one run (not a test).

    .venv/bin/python benchmarks/run.py [--transactions 10000] [--json benchmarks/results.json]

See benchmarks/README.md for what each number means. Everything runs against a temporary
directory (SQLite databases, fax spool, maildir, member mail, payer feed) that is removed at the
end (--keep leaves it). The HTTP part starts `gateway serve` on 127.0.0.1 on a free port, with
authentication off, and stops it afterwards. pytest never collects this folder.
"""

from __future__ import annotations

import argparse
import importlib
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
sys.path.insert(0, str(HERE))

from workload import (  # noqa: E402
    pas_bundles,
    realtime_interchanges,
    unique_bundle,
    write_batch,
)

FROZEN = "2026-11-23T15:00:00Z"  # the demo roster covers 2026: review "as of" a fixed moment
LETTER_KINDS = ("fax", "member_mail", "provider_mail")


def gateway_env(root: Path, name: str) -> dict[str, str]:
    """GATEWAY_* variables for a gateway of its own under root/name."""
    base = root / name
    base.mkdir(parents=True, exist_ok=True)
    return {
        "GATEWAY_DATABASE_URL": f"sqlite:///{base / 'gateway.db'}",
        "GATEWAY_FAX_GATEWAY": "spool",
        "GATEWAY_FAX_SPOOL": str(base / "fax"),
        "GATEWAY_MAIL_DIR": str(base / "mail"),
        "GATEWAY_MEMBER_MAIL_DIR": str(base / "member-mail"),
        "GATEWAY_PAYER_FEED_DIR": str(base / "payer-feed"),
        "GATEWAY_FROZEN_TIME": FROZEN,
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_DISPATCH_IN_PROCESS": "false",
        # The signing key would otherwise be made under the repository's var/.
        "GATEWAY_TOKEN_SECRET": "benchmark-only-token-signing-secret-0123456789",
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
    batch: Path, transactions: int, root: Path, name: str, heap: bool = False
) -> dict[str, Any]:
    """Run child_intake in a subprocess, so its peak RSS is the batch's and nothing else's."""
    env = {**os.environ, **gateway_env(root, name)}
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
        assert answer is not None
        observed = observe_fhir(answer.resource())
        what = (
            f"OperationOutcome {answer.status}"
            if answer.is_outcome
            else "response, reviewAction "
            + ",".join(dict.fromkeys(a or "?" for a in observed.get("items") or []))
        )
        g, p = statistics.median(gateway_ms), statistics.median(parse_ms)
        out[name] = {
            "answer": what,
            "rounds": rounds,
            "gateway_ms_median": round(g, 2),
            "fhir_resources_ms_median": round(p, 2),
            "ratio": round(g / p, 2),
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


# ---------------------------------------------------------------- report


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
        "| bundle | answer | gateway $submit | Bundle.model_validate | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for name, row in results["pas"].items():
        lines.append(
            f"| {name} | {row['answer']} | {row['gateway_ms_median']} | "
            f"{row['fhir_resources_ms_median']} | {row['ratio']} |"
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
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--heap", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--child-intake", nargs=2, metavar=("BATCH", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
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
        say("worker ...")
        results["worker"] = worker(root, "batch", args.worker_jobs)
        say("PAS $submit in-process ...")
        results["pas"] = pas(root, args.pas_rounds)
        say("HTTP ...")
        results["http"] = http(root, args.http_requests, args.concurrency, args.http_deadline)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        table = markdown(results)
        args.markdown.write_text(table)
        print(table)
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
