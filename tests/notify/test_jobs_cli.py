"""`gateway jobs --dead` shows each dead job with why it stopped; `gateway jobs retry ID` queues
it again. The real console script, as an operator runs it (the first listing), then the same
app in this process for the rest of the conversation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.notify.worker import Dispatcher
from gateway.settings import REPO_ROOT, Settings
from tests.cli import Ran, run_in_process

from .conftest import job_rows, store_case
from .factories import MEMBER_LAST, make_case, make_determination

GATEWAY = Path(sys.executable).parent / "gateway"
NOW = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)


def _environment(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": str(REPO_ROOT),
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_LOG_LEVEL": "WARNING",
    }


def gateway(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    """`gateway jobs ARGS...`, the console script in a process of its own."""
    return subprocess.run(
        [str(GATEWAY), "jobs", *args],
        env=_environment(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )


def here(settings: Settings, *args: str) -> Ran:
    """The same command through the same app in this process (tests/cli.py)."""
    return run_in_process(_environment(settings), "jobs", *args)


def test_dead_jobs_are_listed_with_their_reason_and_retried(settings: Settings, sessions) -> None:
    case = make_case()
    case.member.address = None  # the member letter cannot go: dead at once, not retried
    store_case(
        sessions, case, make_determination("denial"), settings=settings, previous_status="pended"
    )

    def fax_line_down(job: Any, case_json: Any) -> dict:
        if job.kind == "fax":
            raise ConnectionError("fax line busy")
        from gateway.notify.deliver import Deliverer

        return Deliverer(settings)(job, case_json)

    Dispatcher(sessions, settings, deliver=fax_line_down, max_attempts=1).run_once(now=NOW)
    dead = job_rows(sessions, state="dead")
    assert {j["kind"] for j in dead} == {"fax", "member_mail"}

    listed = gateway(settings, "--dead")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert len(lines) == len(dead)
    by_kind = {line.split()[1]: line for line in lines}
    assert "not retried: no mailing address for the member" in by_kind["member_mail"]
    assert "gave up after 1 attempt; last error: ConnectionError: fax line busy" in by_kind["fax"]
    assert MEMBER_LAST not in listed.stdout

    as_json = here(settings, "--state", "dead", "--json")
    assert as_json.returncode == 0, as_json.stderr
    assert sorted(j["dead_reason"] for j in json.loads(as_json.stdout)) == sorted(
        j["dead_reason"] for j in dead
    )

    fax = next(j for j in dead if j["kind"] == "fax")
    retried = here(settings, "retry", str(fax["id"]))
    assert retried.returncode == 0, retried.stderr
    assert f"job {fax['id']} (fax) queued again" in retried.stdout
    assert next(j for j in job_rows(sessions) if j["id"] == fax["id"])["state"] == "queued"
    again = here(settings, "retry", str(fax["id"]))
    assert again.returncode == 1 and "not dead" in again.stderr
    assert here(settings, "retry", "9999").returncode == 1
    assert here(settings, "--state", "lost").returncode == 2
