"""HTTP under load (issue 19 items 3 and 6): `gateway serve --workers N` on loopback, with
authentication, audit and rate limiting on, on SQLite and with two processes on one PostgreSQL.

The X12 partner sends HTTP Basic (the demo clearinghouse), the PAS client a SMART bearer token
it got from /auth/token (the demo EHR); the partners' rate limit is raised above the offered
load, so the limiter counts every request and refuses none. The in-process dispatcher is off
(letters are the worker section's). `--http-clients` (default 50) connections, each a client
that sends its next request when the last is answered (HTTP/1.1 keep-alive), for
`--http-seconds` per route after a warm-up. The load generator is asyncio streams with
pre-built requests, so that it takes as little of the machine's two cores from the server as it
can (`--http-client httpx` uses httpx.AsyncClient instead). Latency is per request as the
client saw it. The server's CPU time per request (its processes' user and system time over the
run, from /proc) is given beside, as the number that moves least when other work shares the
machine.

    run(args) -> dict      markdown(result) -> str
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sections.common import (
    DEFAULT_POSTGRES,
    drop_postgres,
    env_for,
    free_port,
    fresh_postgres,
    postgres_available,
    rate,
    start_gateway,
    stop,
    wait_healthy,
)

CONFIGS = (("sqlite", 1), ("sqlite", 2), ("postgresql", 2))
X12_PARTNER = ("sample-clearinghouse", "demo-clearinghouse-secret-0001")  # samples/partners.yaml
PAS_PARTNER = ("sample-oncology-ehr", "demo-ehr-secret-0001")
ROUTES = ("POST /x12/278", "POST /fhir/Claim/$submit")

Request = tuple[str, bytes, str]  # path, body, content type


def _basic(partner: tuple[str, str]) -> str:
    return "Basic " + base64.b64encode(f"{partner[0]}:{partner[1]}".encode()).decode()


def _token(base: str) -> str:
    import httpx

    answer = httpx.post(
        f"{base}/auth/token",
        data={"grant_type": "client_credentials", "scope": "system/Claim.write"},
        auth=PAS_PARTNER,
        timeout=30,
    )
    answer.raise_for_status()
    return "Bearer " + str(answer.json()["access_token"])


def _requests(route: str, count: int, start: int) -> list[Request]:
    """`count` unique requests for the route (no replay), built before the clock starts."""
    from workload import pas_bundles, realtime_interchanges, unique_bundle

    if route == ROUTES[0]:
        interchanges = realtime_interchanges(start)
        return [("/x12/278", next(interchanges), "application/edi-x12") for _ in range(count)]
    bundles = list(pas_bundles().values())[:3]  # the three that are answered (not refused)
    return [
        (
            "/fhir/Claim/$submit",
            json.dumps(unique_bundle(bundles[n % 3], start + n)).encode(),
            "application/fhir+json",
        )
        for n in range(count)
    ]


async def _raw_client(
    host: str, port: int, authorization: str, work: list[Request], stop_at: float, out: list
) -> None:
    """One keep-alive connection sending requests from `work` until it is empty or time is up;
    (milliseconds, status) of each into `out`."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while work and time.monotonic() < stop_at:
            path, body, content_type = work.pop()
            head = (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: {authorization}"
                f"\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode()
            started = time.perf_counter()
            try:
                writer.write(head + body)
                status_line = await reader.readline()
                status = int(status_line.split()[1])
                length, close = 0, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and "close" in value.lower():
                        close = True
                await reader.readexactly(length)
            except (OSError, asyncio.IncompleteReadError, IndexError, ValueError):
                status, close = 0, True
            out.append((1000 * (time.perf_counter() - started), status))
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    finally:
        writer.close()


async def _httpx_client(
    base: str, authorization: str, work: list[Request], stop_at: float, out: list
) -> None:
    import httpx

    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        while work and time.monotonic() < stop_at:
            path, body, content_type = work.pop()
            headers = {"Authorization": authorization, "Content-Type": content_type}
            started = time.perf_counter()
            try:
                status = (await client.post(path, content=body, headers=headers)).status_code
            except httpx.HTTPError:
                status = 0
            out.append((1000 * (time.perf_counter() - started), status))


def _load(
    port: int, authorization: str, work: list[Request], clients: int, seconds: float, kind: str
) -> dict[str, Any]:
    out: list[tuple[float, int]] = []

    async def main() -> float:
        stop_at = time.monotonic() + seconds
        started = time.perf_counter()
        if kind == "httpx":
            base = f"http://127.0.0.1:{port}"
            tasks = [_httpx_client(base, authorization, work, stop_at, out) for _ in range(clients)]
        else:
            tasks = [
                _raw_client("127.0.0.1", port, authorization, work, stop_at, out)
                for _ in range(clients)
            ]
        await asyncio.gather(*tasks)
        return time.perf_counter() - started

    elapsed = asyncio.run(main())
    ordered = sorted(ms for ms, _ in out)
    statuses = Counter(status for _, status in out)

    def pct(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1) if ordered else 0.0

    return {
        "completed": len(ordered),
        "seconds": round(elapsed, 2),
        "requests_per_s": rate(len(ordered), elapsed),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
        "max_ms": round(ordered[-1], 1) if ordered else 0.0,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def _processes(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's workers), from /proc (Linux)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            continue
        todo += [int(child) for child in children]
    return found


def server_cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) the server's processes have used so far; None off Linux. While
    other work loads the machine, wall-clock rates move with it, CPU per request much less."""
    import os

    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for one in _processes(pid):
        try:
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            if one == pid:
                return None
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def _one(root: Path, backend: str, workers: int, args: Any) -> dict[str, Any]:
    name = f"http-{backend}-{workers}"
    postgres = getattr(args, "postgres_url", None) or DEFAULT_POSTGRES
    url = fresh_postgres(postgres) if backend == "postgresql" else None
    env = env_for(root, name, url)
    env.update(
        {
            "GATEWAY_AUTH_ENABLED": "true",
            "GATEWAY_PARTNERS_SEED": str(
                Path(__file__).resolve().parents[2] / "samples" / "partners.yaml"
            ),
            # On, and above the offered load: every request is counted, none refused.
            "GATEWAY_RATE_LIMIT_PER_SECOND": "100000",
            "GATEWAY_RATE_LIMIT_BURST": "100000",
            "GATEWAY_DISPATCH_IN_PROCESS": "false",
        }
    )
    clients = getattr(args, "http_clients", 50)
    seconds = getattr(args, "http_seconds", 20.0)
    cap = getattr(args, "http_requests", 6000)
    kind = getattr(args, "http_client", "raw")
    port = free_port()
    log = root / name / "server.log"
    server = start_gateway(env, "serve", "--port", str(port), "--workers", str(workers), log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, server)
        results: dict[str, Any] = {}
        for n, route in enumerate(ROUTES):
            authorization = _basic(X12_PARTNER) if n == 0 else _token(base)
            # Enough connections that every process is likely to get some (the kernel hands
            # each to one process), so none meets its first requests in the measured run.
            warm = _requests(route, 20 * workers, 100_000_000 + 10_000_000 * n)
            _load(port, authorization, warm, 4 * workers, 60, kind)
            work = _requests(route, cap, 200_000_000 + 10_000_000 * n)
            work.reverse()  # pop() takes them in order
            cpu_before = server_cpu_seconds(server.pid)
            results[route] = measured = _load(port, authorization, work, clients, seconds, kind)
            cpu_after = server_cpu_seconds(server.pid)
            if cpu_before is not None and cpu_after is not None and measured["completed"]:
                used = 1000 * (cpu_after - cpu_before) / measured["completed"]
                measured["server_cpu_ms_per_request"] = round(used, 2)
        return {"backend": backend, "workers": workers, "routes": results}
    finally:
        stop(server)
        if url:
            drop_postgres(url)


def configs(given: str | None) -> tuple[tuple[str, int], ...]:
    """`sqlite:1,postgresql:2` -> ((sqlite, 1), (postgresql, 2)); CONFIGS when not given."""
    if not given:
        return CONFIGS
    pairs = (item.strip().partition(":") for item in given.split(",") if item.strip())
    return tuple((backend, int(n or "1")) for backend, _, n in pairs)


def run(args: Any) -> dict[str, Any]:
    """Each configuration in turn: SQLite with one and two processes, two on PostgreSQL."""
    postgres = getattr(args, "postgres_url", None) or DEFAULT_POSTGRES
    have_postgres = postgres_available(postgres)
    root = Path(tempfile.mkdtemp(prefix="gateway-bench-http-"))
    try:
        runs = [
            _one(root, backend, workers, args)
            for backend, workers in configs(getattr(args, "http_configs", None))
            if backend == "sqlite" or have_postgres
        ]
    finally:
        if not getattr(args, "keep", False):
            shutil.rmtree(root, ignore_errors=True)
    result: dict[str, Any] = {
        "clients": getattr(args, "http_clients", 50),
        "seconds_per_route": getattr(args, "http_seconds", 20.0),
        "client": getattr(args, "http_client", "raw"),
        "postgresql": have_postgres,
        "runs": runs,
    }
    intake = getattr(args, "intake_tx_per_s", None)
    if intake:
        # Item 3: throughput at least half the in-process intake rate.
        result["intake_tx_per_s"] = intake
        result["best_over_intake"] = {
            route: round(max(r["routes"][route]["requests_per_s"] for r in runs) / intake, 2)
            for route in ROUTES
        }
    return result


def markdown(result: dict[str, Any]) -> str:
    lines = [
        "## HTTP (`gateway serve --workers N`, auth, audit and rate limiting on)",
        "",
        f"{result['clients']} concurrent keep-alive clients on loopback, "
        f"{result['seconds_per_route']:g} s per route ({result['client']} client); the "
        "in-process dispatcher off.",
        "",
        "| database | processes | route | completed | req/s | p50 ms | p90 ms | p99 ms | max ms "
        "| server CPU ms/req | statuses |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in result["runs"]:
        for route, m in r["routes"].items():
            lines.append(
                f"| {r['backend']} | {r['workers']} | {route} | {m['completed']} | "
                f"{m['requests_per_s']} | {m['p50_ms']} | {m['p90_ms']} | {m['p99_ms']} | "
                f"{m['max_ms']} | {m.get('server_cpu_ms_per_request', '-')} | {m['statuses']} |"
            )
    if not result["postgresql"]:
        lines += ["", "No PostgreSQL server answered: its rows are missing."]
    if "best_over_intake" in result:
        for route, ratio in result["best_over_intake"].items():
            lines += [
                "",
                f"{route}: best req/s over the in-process intake rate "
                f"({result['intake_tx_per_s']} tx/s): **{ratio}x**.",
            ]
    return "\n".join(lines) + "\n"
