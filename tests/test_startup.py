"""What a one-file `gateway submit` loads (issue 19 item 2): the real command in a process of its
own, its sys.modules read when it exits. No server, PDF, template, HTTP, token or FHIR model
library is imported to store an X12 request, and the compiled X12 map a process keeps for the
next (gateway/compiled.py) changes no byte of an answer, whether it is there, new or unwritable.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from gateway.settings import REPO_ROOT
from tests.conftest import outbound_folders
from tests.servers import STARTUP_SECONDS, free_port

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
    base.mkdir(parents=True, exist_ok=True)
    return {
        **os.environ,
        "GATEWAY_DATABASE_URL": f"sqlite:///{base / 'gateway.db'}",
        "GATEWAY_FROZEN_TIME": "2026-11-23T15:00:00Z",
        **outbound_folders(base),
        "GATEWAY_CACHE_DIR": str(cache),
    }


def db_upgrade(env: dict[str, str]) -> None:
    """`gateway db upgrade`, as a process of its own, in `env`."""
    upgrade = subprocess.run(
        [sys.executable, "-m", "gateway", "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]


def submit(base: Path, cache: Path) -> tuple[list[str], dict[str, bytes]]:
    """`gateway db upgrade`, then `gateway submit --no-dispatch` of the sample on a database of
    its own: what the submit imported, and the answers it wrote (file name -> bytes)."""
    env = environment(base, cache)
    db_upgrade(env)
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
    return loaded, {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def test_a_one_file_x12_submit_imports_no_server_letter_http_or_fhir_model_library(
    tmp_path: Path,
) -> None:
    cache = tmp_path / "cache"
    first, answers = submit(tmp_path / "first", cache)  # compiles the X12 map, keeps it
    assert set(answers) == {"278-act-dd-jane-doe.999", "278-act-dd-jane-doe.278"}
    assert first == ["lxml"]  # only the compiler, for the map it then keeps
    assert any((cache / "x12-grammar").rglob("*.json")), "the compiled map was not kept"
    second, _ = submit(tmp_path / "second", cache)  # reads the kept map
    assert second == []


def test_the_kept_x12_map_changes_no_byte_of_the_answers(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    blocker = tmp_path / "a-file"
    blocker.write_text("no folder can be made under a file\n")
    _, compiled = submit(tmp_path / "compiled", cache)
    _, kept = submit(tmp_path / "kept", cache)
    _, unwritable = submit(tmp_path / "unwritable", blocker / "cache")
    assert b"HCR*A1*" in compiled["278-act-dd-jane-doe.278"]  # the sample's approval
    assert kept == compiled
    assert unwritable == compiled


# Libraries a `gateway worker` or `gateway serve` does not need until a job or request does:
# the letters (reportlab, jinja2; the first delivery that prints one imports them), the
# migrations on a migrated database (alembic), the PAS models (fhir.resources, the first PAS
# request), the X12 map compiler once the map is kept (lxml), the ICD-10-CM tree.
NOT_NEEDED_TO_START = (
    "reportlab",
    "jinja2",
    "gateway.notify.letters",
    "gateway.notify.pap_outreach",
    "alembic",
    "fhir.resources",
    "lxml",
    "simple_icd_10_cm",
)


# `python -m gateway ARGS...`, reporting which of the names it imported, and whether the garbage
# collector runs, when sent SIGUSR1 (the server stops by re-raising SIGTERM, so no exit hook
# would run).
RUNNING = """
import gc, json, runpy, signal, sys
names = {names!r}
def report(*_):
    loaded = [n for n in names if n in sys.modules]
    print("loaded:", json.dumps(loaded), gc.isenabled(), gc.get_freeze_count() > 0, flush=True)
signal.signal(signal.SIGUSR1, report)
sys.argv = ["gateway", *sys.argv[1:]]
runpy.run_module("gateway", run_name="__main__", alter_sys=True)
"""


def started(base: Path, cache: Path, args: list[str], ready: Callable[[Path], bool]) -> list[str]:
    """`python -m gateway ARGS` on a migrated database of its own, asked with SIGUSR1 once
    `ready(its log)`, then stopped: which of NOT_NEEDED_TO_START, the HTTP app's modules and
    httpx it had imported. Its start-up runs without the cyclic garbage collector (gateway/cli.py
    `_starting`); it must be collecting again, what start-up made frozen."""
    env = {**environment(base, cache), "GATEWAY_LOG_LEVEL": "INFO", "GATEWAY_AUTH": "off"}
    db_upgrade(env)
    command = RUNNING.format(names=(*NOT_NEEDED_TO_START, "fastapi", "gateway.api.app", "httpx"))
    log = base / "log"
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", command, *args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=stderr,
            cwd=REPO_ROOT,
        )
        deadline = time.monotonic() + STARTUP_SECONDS
        while not ready(log):
            assert process.poll() is None, log.read_text()[-2000:]
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)  # waits on the condition; the start takes a second or more
        assert process.stdout is not None
        process.send_signal(signal.SIGUSR1)
        answer = process.stdout.readline().decode()
        process.send_signal(signal.SIGTERM)  # both commands stop on it
        process.communicate(timeout=STARTUP_SECONDS)
    assert answer.startswith("loaded:"), log.read_text()[-2000:]
    names, collecting, frozen = answer.removeprefix("loaded:").rsplit(None, 2)
    assert (collecting, frozen) == ("True", "True")
    loaded: list[str] = json.loads(names)
    return loaded


def test_a_worker_polls_without_the_letters_migrations_or_the_http_app(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    submit(tmp_path / "keep-map", cache)  # the compiled X12 map kept, as after any first run

    def polling(log: Path) -> bool:
        return "dispatcher " in log.read_text() and "started" in log.read_text()

    assert started(tmp_path / "worker", cache, ["worker"], polling) == []


def test_a_server_answers_without_the_letters_migrations_or_pas_models(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    submit(tmp_path / "keep-map", cache)
    port = free_port()

    def answering(_log: Path) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    loaded = started(tmp_path / "serve", cache, ["serve", "--port", str(port)], answering)
    # lxml is the CAQH SOAP routes' hardened parser, made when their module is imported.
    assert sorted(loaded) == ["fastapi", "gateway.api.app", "lxml"]


def test_the_heads_read_from_the_scripts_lines_are_alembics_own() -> None:
    """`gateway.store.db.upgrade` skips alembic when the database is at the heads it reads from
    the scripts' assignment lines; alembic's own script directory must name the same heads."""
    from alembic.script import ScriptDirectory

    from gateway.store.db import MIGRATIONS, _heads, _revision_literals

    assert _heads() == frozenset(ScriptDirectory(str(MIGRATIONS)).get_heads())
    # The forms alembic's templates write: annotated, a merge's tuple over several lines.
    assert _revision_literals(
        'revision: str = "0010"\ndown_revision = (\n    "0008",\n    "0009",\n)\n'
    ) == {"revision": "0010", "down_revision": ("0008", "0009")}
