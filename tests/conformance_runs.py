"""`gateway conformance run SUITE`, once a test session for each suite, as a user runs it.

The tests of tests/test_conformance_run.py and tests/test_conformance_inferno.py read what one
suite's run left (its output, JUnit and Markdown files, every log record it emitted). A suite is
replayed once however many tests read it and whichever xdist worker runs them: the first test
that needs it runs it in its worker's process, under a lock on a file the workers share, and
leaves what it found beside the lock; a test on another worker reads that. One suite a run, so
the suites themselves spread over the workers (a single run of every suite kept one worker busy
for most of the session).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.conformance.suite import SUITES_DIR
from tests.cli import run_in_process

# Every suite folder, as discover() finds them; the biggest first, so the longest runs start
# early (tests/conftest.py LONG_FIRST puts these tests ahead of the rest).
SUITES = tuple(
    sorted(
        (p.name for p in SUITES_DIR.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda name: (-len(list((SUITES_DIR / name).glob("*.yaml"))), name),
    )
)


@dataclass(frozen=True)
class SuiteRun:
    """What one `gateway conformance run SUITE --junit J --report R` left."""

    suite: str
    exit_code: int
    output: str
    junit: Path
    report: Path
    # Every log record of the run, twice: as the gateway's JSON formatter writes it, and its
    # message alone.
    log_lines: tuple[str, ...]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's folder every xdist worker sees (each worker's basetemp is one below it)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "conformance"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


def _run(suite: str, folder: Path) -> dict:
    from gateway.logs import JsonFormatter

    junit, report = folder / "conformance.xml", folder / "conformance.md"
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": f"sqlite:///{folder / 'unused.db'}",
        "COLUMNS": "300",  # one table row a line, so differences read whole
    }
    root = logging.getLogger()
    collect = _Collect()
    level = root.level
    root.addHandler(collect)
    root.setLevel(logging.DEBUG)
    try:
        ran = run_in_process(
            env, "conformance", "run", suite, "--junit", str(junit), "--report", str(report)
        )
    finally:
        root.removeHandler(collect)
        root.setLevel(level)
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in collect.records]
    lines += [record.getMessage() for record in collect.records]
    return {
        "exit_code": ran.returncode,
        "output": ran.stdout + ran.stderr,
        "junit": str(junit),
        "report": str(report),
        "log_lines": lines,
    }


_READ: dict[str, SuiteRun] = {}


def suite_run(suite: str, tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """The session's run of `suite`: made here if no worker has made it yet."""
    if suite not in _READ:
        shared = _shared_folder(tmp_path_factory)
        found = shared / suite / "run.json"
        with _locked(shared / f"{suite}.lock"):
            if not found.is_file():
                found.parent.mkdir(exist_ok=True)
                # Written last: a run.json is a whole run.
                found.write_text(json.dumps(_run(suite, found.parent)), encoding="utf-8")
        data = json.loads(found.read_text(encoding="utf-8"))
        _READ[suite] = SuiteRun(
            suite,
            data["exit_code"],
            data["output"],
            Path(data["junit"]),
            Path(data["report"]),
            tuple(data["log_lines"]),
        )
    return _READ[suite]
