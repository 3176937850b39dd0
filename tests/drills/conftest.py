"""The kill -9 drills: the real `gateway` command in a process of its own, killed with SIGKILL
mid-way and started again, against SQLite and (when a server answers) PostgreSQL. The
processes are forked from a zygote that imported the gateway once (tests/drills/zygote.py), so a
drill's CPU goes to what it drills, not to importing the gateway twenty times.

A drill waits on what it can see (rows in the database), never on a sleep; every wait has a
timeout, so a drill that goes wrong fails instead of hanging.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.sql import Executable

from gateway.settings import REPO_ROOT
from gateway.store.db import make_engine
from tests.conftest import _fresh_schema_url, migrated_sqlite_url, outbound_folders

# Demo "now": the roster's 2026 coverage holds whatever day the drill runs.
FROZEN_TIME = "2026-11-23T15:00:00Z"
WAIT = 180.0  # seconds: the bound of every wait (a loaded 2-core machine is slow, not stuck)
POLL = 0.02
SETTLE_POLL = 0.2  # seconds between questions while a drill waits for its work to be done


class Forked:
    """A `gateway` process forked by the zygote, seen as subprocess.Popen shows a child: its
    pid, poll(), wait(), send_signal() and kill(); the zygote (its parent) reports its end."""

    def __init__(self, connection: socket.socket, log: Path) -> None:
        self._connection = connection
        self._stream = connection.makefile("rb")
        self.pid = int(json.loads(self._stream.readline())["pid"])
        self.log = log
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self._connection], [], [], 0)[0]:
            self._read_end()
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            if not select.select([self._connection], [], [], timeout)[0]:
                raise subprocess.TimeoutExpired(f"gateway (pid {self.pid})", timeout or 0)
            self._read_end()
        assert self.returncode is not None
        return self.returncode

    def _read_end(self) -> None:
        line = self._stream.readline()
        assert line, f"the zygote went away before process {self.pid} ended"
        self.returncode = int(json.loads(line)["returncode"])
        self._stream.close()
        self._connection.close()

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            os.kill(self.pid, signum)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


@dataclass
class Zygote:
    """The process the drills' gateway processes are forked from (tests/drills/zygote.py)."""

    socket_path: Path
    process: subprocess.Popen[bytes]

    def start(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> Forked:
        connection = socket.socket(socket.AF_UNIX)
        connection.connect(str(self.socket_path))
        request = {"args": args, "env": env, "cwd": str(cwd), "log": str(log)}
        connection.sendall(json.dumps(request).encode() + b"\n")
        return Forked(connection, log)


def base_environment() -> dict[str, str]:
    """This environment less every GATEWAY_ variable, with the worktree's gateway package."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("GATEWAY_") and name != "PYTHONPATH"
    }
    env["PYTHONPATH"] = str(REPO_ROOT)  # the worktree's gateway package, not another
    return env


@pytest.fixture(scope="session")
def zygote() -> Iterator[Zygote]:
    folder = Path(tempfile.mkdtemp(prefix="drill-zygote-"))
    path = folder / "zygote.sock"
    log = (folder / "zygote.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.drills.zygote", str(path)],
        env=base_environment(),
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
    )
    assert process.stdout is not None and process.stdin is not None
    ready = process.stdout.readline()  # the imports done, the socket listening
    assert ready == b"ready\n", (folder / "zygote.log").read_text()
    try:
        yield Zygote(path, process)
    finally:
        process.stdin.close()  # the zygote exits when its stdin closes
        process.wait(timeout=WAIT)
        log.close()
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()


@dataclass
class Gateway:
    """A gateway of its own under `root`: database, fax spool, maildir, mail batches, feed."""

    root: Path
    database_url: str
    zygote: Zygote
    extra_env: dict[str, str] = field(default_factory=dict)
    _engine: Engine | None = None
    _started: list[Forked] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = base_environment()
        env.update(
            {
                "GATEWAY_DATABASE_URL": self.database_url,
                **outbound_folders(self.root),
                "GATEWAY_FROZEN_TIME": FROZEN_TIME,
                "GATEWAY_LOG_LEVEL": "WARNING",
                "COLUMNS": "200",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, *args: str | Path) -> Forked:
        """`gateway ARGS...` started in a process of its own, its output going to a log."""
        log = (self.root / "logs").joinpath(f"{time.monotonic_ns()}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        process = self.zygote.start([str(a) for a in args], self.env, self.root, log)
        self._started.append(process)
        return process

    def run(self, *args: str | Path) -> str:
        """Run a command to its end; its output (fails the drill on a non-zero exit)."""
        process = self.start(*args)
        try:
            code = process.wait(timeout=WAIT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail(f"gateway {' '.join(map(str, args))} did not finish in {WAIT} s")
        output = output_of(process)
        assert code == 0, output
        return output

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.database_url)
        return self._engine

    def rows(self, query: str | Executable, **params: Any) -> list[Any]:
        """Rows of a query (SQL text or a SQLAlchemy statement) on the gateway's database."""
        statement = text(query) if isinstance(query, str) else query
        with self.engine.connect() as connection:
            return list(connection.execute(statement, params))

    def count(self, sql: str, **params: Any) -> int:
        """A count, or -1 while the schema is not there yet (the command is still starting)."""
        try:
            return int(self.rows(sql, **params)[0][0])
        except Exception as exc:  # noqa: BLE001 - no table yet, or SQLite busy mid-commit
            if "no such table" in str(exc) or "does not exist" in str(exc) or "locked" in str(exc):
                return -1
            raise

    def close(self) -> None:
        for process in self._started:  # a drill that failed half-way leaves none running
            if process.poll() is None:
                process.kill()
                process.wait(timeout=WAIT)
        if self._engine is not None:
            self._engine.dispose()


def output_of(process: Forked) -> str:
    return process.log.read_text(errors="replace")


def kill_when(process: Forked, ready: Callable[[], bool], what: str) -> None:
    """SIGKILL `process` as soon as `ready()` holds. Fails when the process ends first (the
    drill's batch was too small to be caught mid-way) or `ready` never holds."""
    wait_until(ready, what, process)
    os.kill(process.pid, signal.SIGKILL)
    code = process.wait(timeout=WAIT)
    assert code == -signal.SIGKILL, f"exit {code} instead of a kill:\n{output_of(process)}"


def wait_until(ready: Callable[[], bool], what: str, process: Forked, every: float = POLL) -> None:
    """Wait for `ready()`, asking every `every` seconds: POLL before a kill, which must land
    mid-way; longer for a wait on the end of the work, where each question (a query through
    SQLAlchemy) costs this process CPU and an answer a little later costs nothing."""
    deadline = time.monotonic() + WAIT
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"the process ended before {what}:\n{output_of(process)}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"no {what} within {WAIT} s:\n{output_of(process)}")
        time.sleep(every)


@pytest.fixture(params=["sqlite", "postgresql"])
def gateways(
    request: pytest.FixtureRequest, tmp_path: Path, zygote: Zygote
) -> Iterator[Callable[..., Gateway]]:
    """Makes gateways, each with a database of its own on the drill's backend."""
    made: list[Gateway] = []

    def make(name: str, **extra_env: str) -> Gateway:
        root = tmp_path / name
        root.mkdir()
        if request.param == "postgresql":
            url = _fresh_schema_url(request.getfixturevalue("postgres_url"))
        else:
            # Migrated already (a copy of the session's template), as `gateway db upgrade`
            # leaves it: the drill's processes do not each start by running the migrations.
            url = migrated_sqlite_url(root / "gateway.db")
        made.append(Gateway(root, url, zygote, dict(extra_env)))
        return made[-1]

    yield make
    for gateway in made:
        gateway.close()
