"""PAP compliance routes: a DME supplier registers a member's PAP therapy and sends its nights
of usage (JSON or CSV); the answer says where compliance stands and which outreach was queued.
A therapy is its registering partner's (404 to others); operators and reviewers see all."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError, field_validator

from gateway.api.auth import authenticated
from gateway.api.responses import REST_SECURITY, rest_errors
from gateway.partners.principal import Principal
from gateway.store.pap_compliance import PapCompliance, PapError, TherapyNotFound

# The JSON body of a usage upload, spelled out for the API documentation (the route reads the
# raw body itself: JSON or CSV).
USAGE_SCHEMA = {
    "type": "object",
    "required": ["nights"],
    "properties": {
        "nights": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["date", "hours"],
                "properties": {
                    "date": {"type": "string", "format": "date"},
                    "hours": {"type": "number", "minimum": 0, "maximum": 24},
                },
            },
        }
    },
}

router = APIRouter(tags=["pap compliance"])
MAX_NIGHTS = 400  # a year and more of nights in one upload; beyond, send it in parts


class Party(BaseModel):
    name: str | None = None
    npi: str | None = Field(default=None, pattern=r"^\d{10}$")
    fax: str | None = None
    email: str | None = None


class TherapyRequest(BaseModel):
    member_id: str = Field(min_length=1, max_length=64)
    device_code: str = Field(description=("HCPCS of the PAP device (E0601, E0470, E0471)"))
    start_date: date = Field(description=("first night of therapy"))
    supplier: Party
    physician: Party
    case_id: str | None = None


class Night(BaseModel):
    date: date
    hours: float = Field(ge=0, le=24)


class Usage(BaseModel):
    nights: list[Night] = Field(min_length=1, max_length=MAX_NIGHTS)

    @field_validator("nights")
    @classmethod
    def _once(cls, nights: list[Night]) -> list[Night]:
        seen = [night.date for night in nights]
        if len(set(seen)) != len(seen):
            raise ValueError("a night is listed twice")
        return nights


def _service(request: Request) -> PapCompliance | None:
    return getattr(request.app.state, "pap", None)


def _problem(status: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status)


def _may_see(principal: Principal, owner: str | None) -> bool:
    if principal.local or principal.sees_all:
        return True
    return owner is not None and (owner == principal.partner_id or owner in principal.sender_ids)


def _owned(request: Request, therapy_id: str) -> tuple[PapCompliance, None] | JSONResponse:
    service = _service(request)
    if service is None:
        return _problem(404, "PAP compliance is not offered by the configured programs")
    principal = authenticated(request)
    try:
        owner = service.owner(therapy_id)
    except TherapyNotFound:
        return _problem(404, f"no PAP therapy {therapy_id}")
    if not _may_see(principal, owner):
        return _problem(404, f"no PAP therapy {therapy_id}")
    return service, None


@router.post(
    "/pap/therapies",
    description=(
        "A DME supplier registers a member's PAP therapy (device, first night, the "
        "supplier and the ordering physician with their fax or e-mail) so that its usage "
        "is followed for compliance."
    ),
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
    status_code=201,
    summary="Register a PAP therapy to follow",
)
def register(body: TherapyRequest, request: Request) -> JSONResponse:
    service = _service(request)
    if service is None:
        return _problem(404, "PAP compliance is not offered by the configured programs")
    principal = authenticated(request)
    try:
        status = service.register(
            member_id=body.member_id,
            device_code=body.device_code,
            start_date=body.start_date,
            supplier=body.supplier.model_dump(exclude_none=True),
            physician=body.physician.model_dump(exclude_none=True),
            submitter_id=None if principal.local else principal.partner_id,
            case_id=body.case_id,
        )
    except PapError as exc:
        return _problem(422, str(exc))
    return JSONResponse(status.view(), status_code=201)


@router.get(
    "/pap/therapies/{therapy_id}",
    description=(
        "Compliance as it stands: the therapy day reached, the best 30-night window, "
        "whether the rule is met and which outreach went out. Another partner's therapy "
        "is a 404."
    ),
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
    summary="Where a PAP therapy's compliance stands",
)
def show(therapy_id: str, request: Request) -> JSONResponse:
    owned = _owned(request, therapy_id)
    if isinstance(owned, JSONResponse):
        return owned
    return JSONResponse(owned[0].status(therapy_id).view())


@router.post(
    "/pap/therapies/{therapy_id}/usage",
    description=(
        'Nights of usage as JSON `{"nights": [{"date": "2026-11-01", "hours": 5.5}]}` or '
        "CSV `date,hours` lines; a night sent again replaces the stored one. Answers the "
        "compliance and the outreach queued now (days 3, 7, 14, 21, 30, 60, 90 while not "
        "compliant)."
    ),
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": USAGE_SCHEMA},
                "text/csv": {"schema": {"type": "string"}},
            },
        }
    },
    summary="Send nights of usage (JSON {nights: [{date, hours}]} or CSV date,hours)",
)
async def usage(therapy_id: str, request: Request) -> JSONResponse:
    owned = _owned(request, therapy_id)
    if isinstance(owned, JSONResponse):
        return owned
    raw = await request.body()
    try:
        nights = _parse(raw, request.headers.get("content-type", ""))
    except (ValueError, ValidationError) as exc:
        return _problem(422, f"usage data: {exc}")
    status = owned[0].record_usage(therapy_id, {night.date: night.hours for night in nights})
    return JSONResponse(status.view())


def _parse(raw: bytes, content_type: str) -> list[Night]:
    text = raw.decode("utf-8-sig")
    if "csv" in content_type:
        rows = [row for row in csv.reader(io.StringIO(text)) if row and any(c.strip() for c in row)]
        if rows and rows[0][0].strip().lower() in ("date", "night"):
            rows = rows[1:]  # a header line
        records: list[dict[str, Any]] = []
        for number, row in enumerate(rows, start=1):
            if len(row) < 2:
                raise ValueError(f"line {number}: expected date,hours")
            records.append({"date": row[0].strip(), "hours": row[1].strip()})
        return Usage.model_validate({"nights": records}).nights
    return Usage.model_validate(json.loads(text)).nights
