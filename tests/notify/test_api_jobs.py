"""GET /jobs and POST /jobs/{id}/retry through a tiny app holding only the jobs router."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from gateway.api.jobs import jobs_for_case, router
from gateway.notify.worker import Dispatcher
from gateway.settings import Settings

from .conftest import store_case
from .factories import make_case, make_determination

NOW = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)


def failing(job: Any, case_json: Any) -> dict:
    if job.kind == "fax":
        raise ConnectionError("fax line busy")
    return {"ok": True}


def test_dead_job_is_listed_and_retried(settings: Settings, sessions) -> None:
    store_case(
        sessions,
        make_case(),
        make_determination("approval"),
        settings=settings,
        previous_status="pended",
    )
    store_case(
        sessions,
        make_case("PA2025000002"),
        make_determination("hold"),
        settings=settings,
        previous_status="held",
    )
    Dispatcher(sessions, settings, deliver=failing, max_attempts=1).run_once(now=NOW)

    app = FastAPI()
    app.include_router(router)
    app.state.sessions = sessions
    client = TestClient(app)

    dead = client.get("/jobs", params={"state": "dead", "case_id": "PA2025000001"}).json()
    assert [(j["kind"], j["state"]) for j in dead] == [("fax", "dead"), ("fax", "dead")]
    job = dead[0]
    assert set(job) >= {"id", "kind", "state", "attempts", "last_error", "next_attempt_at"}
    assert job["last_error"] == "ConnectionError: fax line busy"
    assert job["dead_reason"] == f"gave up after 1 attempt; last error: {job['last_error']}"
    assert "payload" not in job
    assert len(client.get("/jobs", params={"state": "dead"}).json()) == 3
    assert client.get("/jobs", params={"state": "lost"}).status_code == 422

    retried = client.post(f"/jobs/{job['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["state"] == "queued" and retried.json()["attempts"] == 0
    assert client.post(f"/jobs/{job['id']}/retry").status_code == 409
    assert client.post("/jobs/99999/retry").status_code == 404
    delivered = client.get("/jobs", params={"state": "delivered"}).json()
    assert client.post(f"/jobs/{delivered[0]['id']}/retry").status_code == 409

    with sessions() as session:
        listed = jobs_for_case(session, "PA2025000001")
    assert {j["kind"] for j in listed} == {"fax", "member_mail", "email", "payer_feed"}
    assert [j["state"] for j in listed if j["id"] == job["id"]] == ["queued"]
