"""The kill -9 drills: the real `gateway` console script in a subprocess, killed with SIGKILL
mid-way and started again, against SQLite and (when a server answers) PostgreSQL.

A drill waits on what it can see (rows in the database), never on a sleep; every wait has a
timeout, so a drill that goes wrong fails instead of hanging.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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

GATEWAY = Path(sys.executable).parent / "gateway"
# Demo "now": the roster's 2026 coverage holds whatever day the drill runs.
FROZEN_TIME = "2026-11-23T15:00:00Z"
WAIT = 180.0  # seconds: the bound of every wait (a loaded 2-core machine is slow, not stuck)
POLL = 0.02


@dataclass
class Gateway:
    """A gateway of its own under `root`: database, fax spool, maildir, mail batches, feed."""

    root: Path
    database_url: str
    extra_env: dict[str, str] = field(default_factory=dict)
    _engine: Engine | None = None

    @property
    def env(self) -> dict[str, str]:
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith("GATEWAY_") and name != "PYTHONPATH"
        }
        env.update(
            {
                "PYTHONPATH": str(REPO_ROOT),  # the worktree's gateway package, not another
                "GATEWAY_DATABASE_URL": self.database_url,
                **outbound_folders(self.root),
                "GATEWAY_FROZEN_TIME": FROZEN_TIME,
                "GATEWAY_LOG_LEVEL": "WARNING",
                "COLUMNS": "200",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, *args: str | Path) -> subprocess.Popen[bytes]:
        log = (self.root / "logs").joinpath(f"{time.monotonic_ns()}.log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(GATEWAY), *(str(a) for a in args)],
                env=self.env,
                cwd=self.root,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        process.log = log  # type: ignore[attr-defined]
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
        if self._engine is not None:
            self._engine.dispose()


def output_of(process: subprocess.Popen[bytes]) -> str:
    return process.log.read_text(errors="replace")  # type: ignore[attr-defined]


def kill_when(process: subprocess.Popen[bytes], ready: Callable[[], bool], what: str) -> None:
    """SIGKILL `process` as soon as `ready()` holds. Fails when the process ends first (the
    drill's batch was too small to be caught mid-way) or `ready` never holds."""
    wait_until(ready, what, process)
    os.kill(process.pid, signal.SIGKILL)
    code = process.wait(timeout=WAIT)
    assert code == -signal.SIGKILL, f"exit {code} instead of a kill:\n{output_of(process)}"


def wait_until(ready: Callable[[], bool], what: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT
    while not ready():
        if process.poll() is not None:
            pytest.fail(f"the process ended before {what}:\n{output_of(process)}")
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            pytest.fail(f"no {what} within {WAIT} s:\n{output_of(process)}")
        time.sleep(POLL)


@pytest.fixture(params=["sqlite", "postgresql"])
def gateways(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., Gateway]]:
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
        made.append(Gateway(root, url, dict(extra_env)))
        return made[-1]

    yield make
    for gateway in made:
        gateway.close()
