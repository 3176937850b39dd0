"""What the HTTP and worker sections share: gateways of their own under a root folder (SQLite or
a fresh PostgreSQL schema), the `gateway` console script, waiting on a server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

# benchmarks/ is on the path (run.py and `python benchmarks/sections` put it there).
from run import gateway_env

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_POSTGRES = os.environ.get(
    "GATEWAY_BENCH_POSTGRES_URL",
    os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)


def gateway_command() -> list[str]:
    script = Path(sys.executable).parent / "gateway"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from gateway.cli import main; main()"]


def postgres_available(url: str) -> bool:
    try:
        import psycopg

        with psycopg.connect(url, connect_timeout=2):
            return True
    except Exception:
        return False


def fresh_postgres(url: str) -> str:
    """A new schema in the server's database for one measured gateway (dropped by `drop`)."""
    import psycopg

    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    return f"{url}?options=-csearch_path%3D{schema}"


def drop_postgres(schema_url: str) -> None:
    import psycopg

    base, _, options = schema_url.partition("?options=-csearch_path%3D")
    if not options:
        return
    with psycopg.connect(base, autocommit=True) as connection:
        connection.execute(f'DROP SCHEMA IF EXISTS "{options}" CASCADE')


def env_for(root: Path, name: str, database_url: str | None = None) -> dict[str, str]:
    """The process environment of a gateway of its own under root/name: this one's without its
    GATEWAY_* variables, and run.py's gateway_env (the folders, the frozen clock, the key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env["PYTHONPATH"] = str(REPO)
    env.update(gateway_env(root, name, database_url))
    return env


def run_gateway(env: dict[str, str], *args: str | Path, log: Path) -> None:
    with log.open("ab") as out:
        subprocess.run(
            [*gateway_command(), *(str(a) for a in args)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=True,
        )


def start_gateway(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    process = subprocess.Popen(
        [*gateway_command(), *args], env=env, stdout=out, stderr=subprocess.STDOUT
    )
    out.close()
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    import signal

    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_healthy(base: str, server: subprocess.Popen[bytes], seconds: float = 120) -> None:
    import httpx

    until = time.monotonic() + seconds
    while time.monotonic() < until:
        if server.poll() is not None:
            raise SystemExit(f"gateway serve exited with {server.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise SystemExit(f"gateway serve did not answer /healthz within {seconds:g} s")


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def machine() -> dict[str, Any]:
    import platform

    return {"cpus": os.cpu_count(), "python": platform.python_version()}
