"""One-file `gateway submit` processes, each run once a test session and read by every test
that asks (tests/test_startup.py, tests/test_icd10cm.py).

A process is the point of these checks (what a fresh interpreter imports to store one X12
request, whether the compiled X12 map it keeps changes a byte), and each costs a second or more
of CPU; so the first submit (which compiles the map and keeps it) and the second (which reads
the kept map) are started once, whichever xdist worker asks first, under a lock on a file the
workers share, and what they reported is left beside the lock for the others (as
tests/conformance_runs.py does for the conformance suites). Their database is a copy of the
tests' migrated template, the schema `gateway db upgrade` leaves, without a process to make it.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.settings import REPO_ROOT
from tests.conftest import migrated_sqlite_url, outbound_folders

SAMPLE = REPO_ROOT / "samples" / "x12" / "278-act-dd-jane-doe.x12"
# Libraries a one-file X12 submit does not need: the HTTP app and its server (fastapi,
# starlette, uvicorn), the letters (reportlab, jinja2), outbound HTTP and tokens (httpx, jwt,
# cryptography), the PAS models (fhir.resources), migrations (alembic) and the ICD-10-CM tree;
# lxml too once the compiled map is kept.
NOT_NEEDED = (
    "fastapi",
    "starlette",
    "uvicorn",
    "reportlab",
    "jinja2",
    "httpx",
    "jwt",
    "cryptography",
    "fhir.resources",
    "alembic",
    "simple_icd_10_cm",
    "gateway.api",
    "gateway.notify.worker",
    "gateway.fhir.writer",
)
# `python -m gateway ARGS...`, reporting at exit which of the names above it imported.
COMMAND = f"""
import atexit, json, runpy, sys
names = {(*NOT_NEEDED, "lxml")!r}
atexit.register(lambda: print("loaded:", json.dumps([n for n in names if n in sys.modules])))
sys.argv = ["gateway", *sys.argv[1:]]
runpy.run_module("gateway", run_name="__main__", alter_sys=True)
"""


def environment(base: Path, cache: Path) -> dict[str, str]:
    """A gateway of its own under `base` (a migrated SQLite database, the outbound folders),
    keeping compiled maps in `cache`, on the suites' frozen day."""
    base.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "GATEWAY_DATABASE_URL": migrated_sqlite_url(base / "gateway.db"),
        "GATEWAY_FROZEN_TIME": "2026-11-23T15:00:00Z",
        **outbound_folders(base),
        "GATEWAY_CACHE_DIR": str(cache),
    }


@dataclass(frozen=True)
class Submitted:
    """What one `gateway submit --no-dispatch SAMPLE` process imported (of NOT_NEEDED and
    lxml) and the answers it wrote (file name -> bytes)."""

    loaded: tuple[str, ...]
    answers: dict[str, bytes]


def submit(base: Path, cache: Path) -> Submitted:
    """`python -m gateway submit --no-dispatch --out BASE/out SAMPLE`, in a process of its own."""
    env = environment(base, cache)
    out = base / "out"
    ran = subprocess.run(
        [sys.executable, "-c", COMMAND, "submit", "--no-dispatch", "--out", str(out), SAMPLE],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert ran.returncode == 0, ran.stderr[-2000:]
    loaded = json.loads(ran.stdout.rsplit("loaded:", 1)[1])
    return Submitted(tuple(loaded), {p.name: p.read_bytes() for p in sorted(out.iterdir())})


def shared_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's folder every xdist worker sees (each worker's basetemp is one below it)."""
    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "startup"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def kept_map_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's compiled-map cache: empty until the first submit keeps the map there."""
    return shared_folder(tmp_path_factory) / "cache"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed
        yield


_READ: dict[str, Submitted] = {}


def _once(name: str, tmp_path_factory: pytest.TempPathFactory) -> Submitted:
    if name not in _READ:
        shared = shared_folder(tmp_path_factory)
        found = shared / f"{name}.json"
        with _locked(shared / f"{name}.lock"):
            if not found.is_file():
                made = submit(shared / name, kept_map_cache(tmp_path_factory))
                answers = {k: base64.b64encode(v).decode() for k, v in made.answers.items()}
                # Written last: a report on disk is a whole run.
                found.write_text(json.dumps({"loaded": made.loaded, "answers": answers}))
        data = json.loads(found.read_text())
        _READ[name] = Submitted(
            tuple(data["loaded"]),
            {k: base64.b64decode(v) for k, v in data["answers"].items()},
        )
    return _READ[name]


def first_submit(tmp_path_factory: pytest.TempPathFactory) -> Submitted:
    """The session's first submit: no compiled map kept yet, so it compiles and keeps one."""
    return _once("first", tmp_path_factory)


def kept_map_submit(tmp_path_factory: pytest.TempPathFactory) -> Submitted:
    """The session's second submit, on the same cache: it reads the map the first one kept."""
    first_submit(tmp_path_factory)
    return _once("kept", tmp_path_factory)
