"""What a one-file `gateway submit` loads (issue 19 item 2): the real command in a process of its
own, its sys.modules read when it exits. No server, PDF, template, HTTP, token or FHIR model
library is imported to store an X12 request, and the compiled X12 map a process keeps for the
next (gateway/compiled.py) changes no byte of an answer, whether it is there, new or unwritable.

The two submit processes are the session's (tests/startup_runs.py: each started once, however
many tests read it); the cache's variants (new, present, unwritable) are the same command run
in this process (tests/cli.py) against the answers of those processes.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.settings import REPO_ROOT, get_settings
from gateway.x12 import grammar
from tests.cli import run_in_process
from tests.servers import STARTUP_SECONDS, free_port
from tests.startup_runs import (
    SAMPLE,
    environment,
    first_submit,
    kept_map_cache,
    kept_map_submit,
)

ANSWERS = {"278-act-dd-jane-doe.999", "278-act-dd-jane-doe.278"}


def test_a_one_file_x12_submit_imports_no_server_letter_http_or_fhir_model_library(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    first = first_submit(tmp_path_factory)  # compiles the X12 map, keeps it
    assert set(first.answers) == ANSWERS
    assert first.loaded == ("lxml",)  # only the compiler, for the map it then keeps
    cache = kept_map_cache(tmp_path_factory)
    assert any((cache / "x12-grammar").rglob("*.json")), "the compiled map was not kept"
    assert kept_map_submit(tmp_path_factory).loaded == ()  # reads the kept map


def test_the_kept_x12_map_changes_no_byte_of_the_answers(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    compiled = first_submit(tmp_path_factory).answers
    assert b"HCR*A1*" in compiled["278-act-dd-jane-doe.278"]  # the sample's approval
    assert kept_map_submit(tmp_path_factory).answers == compiled


def entries(cache: Path) -> list[str]:
    return sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*.json"))


@pytest.fixture
def no_map_in_memory() -> Iterator[None]:
    """No map compiled earlier in this process: the command looks in the cache as a new
    process does (and the next test does too)."""
    grammar.load_grammar.cache_clear()
    grammar.map_registry.cache_clear()
    yield
    grammar.load_grammar.cache_clear()
    grammar.map_registry.cache_clear()
    get_settings.cache_clear()


@pytest.mark.parametrize("variant", ["new", "present", "unwritable"])
def test_the_compiled_map_new_present_or_unwritable_changes_no_byte_in_process(
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    no_map_in_memory: None,
    variant: str,
) -> None:
    """The same command in this process, with a cache folder that is empty, holds what the
    session's first process kept, or cannot be made: the answers of the processes, byte for
    byte."""
    expected = first_submit(tmp_path_factory).answers
    cache = tmp_path / "cache"
    blocker = tmp_path / "a-file"
    if variant == "present":
        shutil.copytree(kept_map_cache(tmp_path_factory), cache)

        def compiling(*_: object) -> object:
            raise AssertionError("compiled although the kept map was there")

        monkeypatch.setattr(grammar, "_compile", compiling)
        monkeypatch.setattr(grammar, "_read_registry", compiling)
    elif variant == "unwritable":
        blocker.write_text("no folder can be made under a file\n")
        cache = blocker / "cache"
    env = environment(tmp_path / "gateway", cache)
    out = tmp_path / "out"
    ran = run_in_process(env, "submit", "--no-dispatch", "--out", str(out), str(SAMPLE))
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert {p.name: p.read_bytes() for p in sorted(out.iterdir())} == expected
    if variant == "new":  # kept as the first process kept it: the same entries, byte for byte
        kept = kept_map_cache(tmp_path_factory)
        # A subset: what an earlier test of this process compiled may still be held by the
        # code that asked for it (the response map, by the writer), and is not asked for again.
        assert entries(cache) and set(entries(cache)) <= set(entries(kept))
        for name in entries(cache):
            assert (cache / name).read_bytes() == (kept / name).read_bytes(), name
    if variant == "unwritable":
        assert blocker.read_text() == "no folder can be made under a file\n"


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


def test_a_worker_polls_without_the_letters_migrations_or_the_http_app(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    first_submit(tmp_path_factory)  # the compiled X12 map kept, as after any first run

    def polling(log: Path) -> bool:
        return "dispatcher " in log.read_text() and "started" in log.read_text()

    cache = kept_map_cache(tmp_path_factory)
    assert started(tmp_path / "worker", cache, ["worker"], polling) == []


def test_a_server_answers_without_the_letters_migrations_or_pas_models(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    first_submit(tmp_path_factory)
    port = free_port()

    def answering(_log: Path) -> bool:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    cache = kept_map_cache(tmp_path_factory)
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
