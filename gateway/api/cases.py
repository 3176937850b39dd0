"""Cases: submission of a canonical case as JSON, the reviewer work list and decisions."""

from __future__ import annotations

import hashlib
import re
from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator, model_validator

from gateway import audit
from gateway.api.auth import (
    OPERATOR,
    REVIEWER,
    Principal,
    audited,
    authenticated,
    readable_or_404,
    submitter_for,
    visible_cases,
)
from gateway.api.errors import problem
from gateway.api.responses import REST_SECURITY, rest_errors
from gateway.domain.case import (
    Attachment,
    Case,
    CaseStatus,
    Channel,
    ClinicalFacts,
    Diagnosis,
    Member,
    Program,
    Provider,
    ServiceLine,
    Submission,
    Urgency,
)
from gateway.domain.policy import normalize_icd
from gateway.domain.reviewer import ReviewerDecision
from gateway.partners.isolation import can_read, readable_filter
from gateway.service.core import Core, StoredCase
from gateway.service.identity import RequestConflict

router = APIRouter(tags=["cases"])

HCPCS = re.compile(r"^[A-Z]\d{4}$")


def core(request: Request) -> Core:
    return request.app.state.core


class CaseRequest(BaseModel):
    """A canonical case sent as JSON (the operator's and tests' channel)."""

    payer_id: str | None = None
    member: Member
    requester: Provider | None = None
    ordering: Provider | None = None
    rendering: Provider | None = None
    facility: Provider | None = None
    program: Program = Program.CHEMO
    place_of_service: str | None = Field(default=None, pattern=r"^\d{2}$")
    start_date: date
    diagnoses: list[Diagnosis] = Field(min_length=1)
    service_lines: list[ServiceLine] = Field(min_length=1)
    facts: dict[str, Any] = Field(default_factory=dict)
    urgency: Urgency = Urgency.STANDARD
    attachments: list[Attachment] = Field(default_factory=list)
    related_case_id: str | None = None
    submitter_id: str | None = None
    request_id: str | None = None

    @field_validator("diagnoses")
    @classmethod
    def _icd10(cls, diagnoses: list[Diagnosis]) -> list[Diagnosis]:
        from gateway.domain.icd10cm import is_valid_item

        for diagnosis in diagnoses:
            diagnosis.code = normalize_icd(diagnosis.code)
            if not is_valid_item(diagnosis.code.replace(".", "")):
                raise ValueError(f"{diagnosis.code} is not an ICD-10-CM code")
        return diagnoses

    @field_validator("service_lines")
    @classmethod
    def _hcpcs(cls, lines: list[ServiceLine]) -> list[ServiceLine]:
        sequences = [line.sequence for line in lines]
        if len(set(sequences)) != len(sequences):
            raise ValueError("service line sequences must be unique")
        for line in lines:
            line.code = line.code.strip().upper()
            if line.code_system == "HCPCS" and not HCPCS.match(line.code):
                raise ValueError(f"{line.code} is not a HCPCS Level II code (one letter, 4 digits)")
            if line.units is not None and line.units <= 0:
                raise ValueError(f"line {line.sequence}: units must be positive")
        return lines

    @model_validator(mode="after")
    def _dates(self) -> CaseRequest:
        if not (date(2000, 1, 1) <= self.start_date <= date(2099, 12, 31)):
            raise ValueError(f"start_date {self.start_date} is not a plausible date of service")
        if self.member.birth_date and self.member.birth_date > self.start_date:
            raise ValueError("the member's birth date follows the date of service")
        return self

    def to_case(self, received_at: datetime) -> Case:
        data = self.model_dump(exclude={"facts", "submitter_id", "request_id"})
        return Case(
            **data,
            facts=ClinicalFacts().merged(self.facts, "api"),
            submission=Submission(
                channel=Channel.API,
                submitter_id=self.submitter_id,
                received_at=received_at,
                bht_reference=self.request_id,
            ),
        )


def case_view(stored: StoredCase, jobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    determination = stored.determination
    return {
        "id": stored.case.id,
        "status": stored.status.value,
        "program": stored.case.program.value,
        "related_case_id": stored.case.related_case_id,
        "supportive_cases": stored.children,
        "created_at": stored.created_at.isoformat(),
        "updated_at": stored.updated_at.isoformat(),
        "determination": determination.model_dump(mode="json") if determination else None,
        "case": stored.case.model_dump(mode="json"),
        "events": stored.events,
        "jobs": jobs or [],
    }


def _jobs(request: Request, case_id: str) -> list[dict[str, Any]]:
    planner = getattr(request.app.state, "jobs_for_case", None)
    if planner is None:
        return []
    with core(request).sessions() as session:
        return planner(session, case_id)


@router.post(
    "/cases",
    status_code=201,
    summary="Submit a canonical case as JSON",
    description="Operators only: data entry of a faxed request, or a replayed file. The case is "
    "reviewed at once; the answer is the stored case with its determination and jobs. An exact "
    "replay (same `request_id` and content) answers 200 with the stored case; the same "
    "`request_id` with other content is a 409.",
    responses={200: {"description": "An exact replay: the stored case."}} | rest_errors(409, 422),
    dependencies=REST_SECURITY,
)
def submit_case(
    body: CaseRequest, request: Request, principal: Principal = OPERATOR
) -> JSONResponse:
    """The operator's channel (data entry of a faxed request, a replayed file): partners send
    X12 278 or PAS bundles (issue 18: roles fit the channel)."""
    gateway = core(request)
    # An operator may key a request in for the partner that sent it (issue 5: the submitter is
    # the case's owner); unnamed, the case is the operator's own.
    body.submitter_id = submitter_for(principal, body.submitter_id)
    # Identity as on the other channels: (submitter, request id) plus a content hash, so that
    # only an exact replay returns the stored case (the demo's cases re-dated for another day
    # under the same request id are new requests).
    content = hashlib.sha256(body.model_dump_json().encode("utf-8")).hexdigest()
    key = f"api:{body.submitter_id}:{body.request_id}:{content}" if body.request_id else None
    with audited(request, "case.create", audit.CREATE) as entry:
        try:
            result = gateway.submit(body.to_case(gateway.clock()), actor="api", replay_key=key)
        except RequestConflict as conflict:
            # The same request id with other content is never a second case (issue 18).
            return JSONResponse(
                {
                    "detail": f"{conflict}: send it under a new request_id, or change the "
                    "stored case through its own routes",
                    "case_id": conflict.case_id,
                },
                status_code=409,
            )
        stored = gateway.get(result.case.id or "")
        entry.case_ids = [result.case.id or "", *stored.children]
        if result.replayed:  # an exact replay creates nothing: it reads the stored case
            entry.event, entry.action = "case.read", audit.READ
    return JSONResponse(
        case_view(stored, _jobs(request, stored.case.id or "")),
        status_code=200 if result.replayed else 201,
    )


@router.get(
    "/cases",
    summary="List cases (the reviewer work list)",
    description="Reviewers and operators see every case, a partner its own; earliest due first. "
    "`status` filters (e.g. `pended` for the work list); an unknown status is a 422 naming the "
    "allowed values. With `due_before` (ISO 8601 with its UTC offset) the answer is the work "
    "list of due items instead: a JSON list of `{case_id, kind, due_at, time_zone, status, "
    "program, priority, detail}`, every open obligation (review due, hold due, peer-to-peer "
    "call, an alternative's answer, an approval's end, appeals) due before that time, a "
    "pending hospital discharge first, then expedited cases, then earliest due; `due_at` is "
    "shown with the offset of `time_zone` (the requesting provider's). A time without its "
    "offset is a 422.",
    responses=rest_errors(422),
    dependencies=REST_SECURITY,
)
def list_cases(
    request: Request,
    # An enum, so that a misspelt status is a 422 naming the allowed values, not an empty work
    # list (issue 17).
    status: CaseStatus | None = Query(default=None, description="Only cases in this status."),
    limit: int = Query(default=200, ge=1, le=1000),
    due_before: datetime | None = Query(
        default=None,
        description="The work list: due items before this time (ISO 8601 with its offset).",
    ),
    principal: Principal = Depends(authenticated),
) -> Any:
    if due_before is not None:
        return _work_list(request, principal, due_before, status, limit)
    # Reviewers and operators get the whole work list; a partner only its own cases. One audit
    # record per search, naming the ids it returned (the list shows no member data).
    with audited(request, "case.search", audit.READ) as entry:
        rows = visible_cases(request, principal, status.value if status else None, limit)
        entry.detail = {"case_ids": [row.id for row in rows]}
    return {
        "cases": [
            {
                "id": row.id,
                "status": row.status,
                "program": row.program,
                "plan": row.plan_id,
                "due_by": row.due_by.isoformat() if row.due_by else None,
                "hold_due": row.hold_due.isoformat() if row.hold_due else None,
                "related_case_id": row.related_case_id,
                "created_at": row.created_at.isoformat(),
            }
            for row in rows
        ]
    }


def _work_list(
    request: Request,
    principal: Principal,
    due_before: datetime,
    status: CaseStatus | None,
    limit: int,
) -> Any:
    """Due items of the cases the principal may see (the same isolation as the case list)."""
    if due_before.tzinfo is None:
        return problem(422, "invalid parameter", "due_before needs its UTC offset (ISO 8601)")
    work_list = request.app.state.work_list
    with audited(request, "case.search", audit.READ) as entry:
        items = work_list.items(
            due_before,
            where=readable_filter(principal),
            may_read=lambda row: can_read(principal, row),
            limit=limit,
            **({"statuses": (status.value,)} if status is not None else {}),
        )
        entry.detail = {"case_ids": sorted({item.case_id for item in items})}
    return [item.view() for item in items]


@router.get(
    "/cases/{case_id}",
    summary="Read a case",
    description="The case, its determination, status history and outbound jobs. Another "
    "partner's case is a 404, as for one that does not exist.",
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
)
def get_case(
    case_id: str, request: Request, principal: Principal = Depends(authenticated)
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id)
    with audited(request, "case.read", audit.READ, case_id=case_id):
        return case_view(core(request).get(case_id), _jobs(request, case_id))


@router.post(
    "/cases/{case_id}/determination",
    summary="Record a reviewer's decision",
    description="Reviewers only: approve, modify or deny a pended or held case. A denial "
    "carries its rationale and guideline and gets appeal rights; letters and notices are "
    "queued with the decision. A case already decided is a 409.",
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def decide(
    case_id: str,
    body: ReviewerDecision,
    request: Request,
    principal: Principal = REVIEWER,
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id):
        return case_view(core(request).decide(case_id, body), _jobs(request, case_id))


class ClinicalInformation(BaseModel):
    facts: dict[str, Any] = Field(min_length=1)
    notes: str | None = None
    sender: str = "provider"


@router.post(
    "/cases/{case_id}/clinical",
    summary="Add clinical information",
    description="Facts sent later (`KEY: value`, e.g. `her2_status: negative`) are merged into "
    "the case and the review runs again: a held case may now be approved.",
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def add_clinical(
    case_id: str,
    body: ClinicalInformation,
    request: Request,
    principal: Principal = Depends(authenticated),
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id):
        stored = core(request).add_clinical(
            case_id, body.facts, actor=body.sender, notes=body.notes
        )
        return case_view(stored, _jobs(request, case_id))
