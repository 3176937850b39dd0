"""The composition root: every process gets the same case service. A hold that expires under
`gateway worker` queues the same letters and notices as under `gateway serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.settings import REPO_ROOT, Settings
from gateway.store.models import CaseRow, OutboxJobRow
from gateway.wiring import build
from tests.conftest import make_auth_settings, make_settings

GATEWAY = Path(sys.executable).parent / "gateway"
HELD_AT = datetime(2026, 11, 23, 15, tzinfo=UTC)
# Well past any hold's due date: the hold clock sends the case to review on the original.
LATER = HELD_AT + timedelta(days=60)
HELD_REQUEST = REPO_ROOT / "samples" / "cases" / "ddact-no-her2.json"
NO_AUTH = make_auth_settings(auth_enabled=False)


def _held_case(settings: Settings) -> str:
    gateway = build(settings, clock=lambda: HELD_AT)
    app = create_app(
        settings, core=gateway.core, auth_settings=make_auth_settings(auth_enabled=False)
    )
    with TestClient(app) as client:
        answer = client.post("/cases", json=json.loads(HELD_REQUEST.read_text()))
    assert answer.status_code == 201, answer.text
    assert answer.json()["status"] == "held"
    gateway.close()
    return str(answer.json()["id"])


def _state(settings: Settings, case_id: str) -> tuple[str, set[tuple[str, str]]]:
    gateway = build(settings, migrate=False)
    with gateway.core.sessions() as session:
        status = session.scalar(select(CaseRow.status).where(CaseRow.id == case_id))
        jobs = {
            (row.kind, row.idempotency_key)
            for row in session.execute(
                select(OutboxJobRow).where(OutboxJobRow.case_id == case_id)
            ).scalars()
        }
    gateway.close()
    return str(status), jobs


def _environment(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "PYTHONPATH": str(REPO_ROOT),
            "GATEWAY_DATABASE_URL": settings.database_url,
            "GATEWAY_MAPPINGS_DIR": str(settings.mappings_dir),
            "GATEWAY_ROSTER": str(settings.roster),
            "GATEWAY_FAX_SPOOL": str(settings.fax_spool),
            "GATEWAY_MAIL_DIR": str(settings.mail_dir),
            "GATEWAY_MEMBER_MAIL_DIR": str(settings.member_mail_dir),
            "GATEWAY_PAYER_FEED_DIR": str(settings.payer_feed_dir),
            "GATEWAY_FROZEN_TIME": LATER.isoformat(),
            "GATEWAY_DISPATCH_INTERVAL_SECONDS": "0.2",
            "GATEWAY_SMTP_URL": "",
            "GATEWAY_PARTNERS_SEED": "",
        }
    )
    return env


def test_an_expired_hold_queues_the_same_jobs_under_worker_as_under_serve(tmp_path: Path):
    served = make_settings(tmp_path / "serve")
    worked = make_settings(tmp_path / "worker")
    for folder in ("serve", "worker"):
        (tmp_path / folder).mkdir()
    served_case = _held_case(served)
    worked_case = _held_case(worked)
    assert served_case == worked_case  # the same clock and the same counters: the same id
    _, held_jobs = _state(served, served_case)

    # `gateway serve`: its dispatcher ticks the hold clock before each pass.
    gateway = build(served, clock=lambda: LATER)
    app = create_app(
        served, core=gateway.core, auth_settings=make_auth_settings(auth_enabled=False)
    )
    with TestClient(app):
        app.state.run_outbox_once(now=LATER)
    gateway.close()
    served_status, served_jobs = _state(served, served_case)
    assert served_status != "held"
    assert served_jobs - held_jobs, "the expired hold queued nothing under serve"

    # `gateway worker`, a process of its own, on the other database.
    worker = subprocess.Popen(
        [str(GATEWAY), "worker"],
        env=_environment(worked),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status, worked_jobs = _state(worked, worked_case)
            if status != "held" and worked_jobs >= served_jobs:
                break
            assert worker.poll() is None, worker.stderr.read().decode() if worker.stderr else ""
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    status, worked_jobs = _state(worked, worked_case)
    assert status == served_status
    assert {kind for kind, _ in worked_jobs - held_jobs} >= {"fax"}
    assert worked_jobs == served_jobs
