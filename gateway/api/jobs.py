"""Outbound jobs over HTTP: list them (dead ones first of all) and put a dead one back.

Thin, like every router: the outbox module does the work. The sessionmaker is the app's
(`app.state.sessions`). Listings show no payload: a letter's recipient is not for a job list.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from sqlalchemy.orm import Session, sessionmaker

from gateway.api.responses import REST_SECURITY, rest_errors
from gateway.store import outbox

router = APIRouter(prefix="/jobs", tags=["jobs"])

JobState = Literal["queued", "sending", "delivered", "dead"]


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions


@router.get(
    "",
    summary="List outbound jobs",
    description="Operators only. Fax, e-mail, member mail, payer feed and notification jobs, "
    "newest first, without payloads; a dead one with its `dead_reason`.",
    responses=rest_errors(422),
    dependencies=REST_SECURITY,
)
def list_jobs(
    request: Request,
    state: JobState | None = None,
    case_id: str | None = None,
    kind: str | None = None,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    with _sessions(request)() as session:
        return outbox.list_jobs(session, state=state, case_id=case_id, kind=kind, limit=limit)


@router.post(
    "/{job_id}/retry",
    summary="Queue a dead job again",
    description="Operators only: a dead job goes back to the queue with a fresh set of tries. "
    "A job that is not dead is a 409.",
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def retry_job(request: Request, job_id: int) -> dict[str, Any]:
    try:
        with _sessions(request).begin() as session:
            return outbox.retry(session, job_id)
    except outbox.JobNotFound as exc:
        raise HTTPException(status_code=404, detail=f"no job {job_id}") from exc
    except outbox.JobNotDead as exc:
        raise HTTPException(status_code=409, detail=str(exc)) from exc


def jobs_for_case(session: Session, case_id: str) -> list[dict[str, Any]]:
    """The outbound jobs of one case, for GET /cases/{id}."""
    return outbox.jobs_for_case(session, case_id)
