"""A real `gateway serve` process on a free port, for tests that drive it the way a user does."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

STARTUP_SECONDS = 120  # a generous bound on a loaded 2-core machine; not a speed check


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def clean_environment(**settings: str) -> dict[str, str]:
    """The environment less every GATEWAY_ variable, plus `settings`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    return {**base, **settings}


@contextmanager
def serving(gateway: Path, env: dict[str, str], cwd: Path) -> Iterator[str]:
    """Run `gateway serve` until /healthz answers; yield its base URL; stop it afterwards."""
    port = free_port()
    log = (cwd / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [str(gateway), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        cwd=cwd,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise AssertionError(f"gateway serve exited {process.returncode}: {log.name}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"gateway serve did not answer /healthz: {log.name}")
            time.sleep(0.05)  # a refused connection costs next to nothing; the start is seconds
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
