"""Appeal routes (issue 12 item 4, issue 13 item 5): thin, over the case service's appeals
(gateway.service.appeals; the rules are gateway.domain.appeals).

`POST /cases/{case_id}/appeal` takes an appeal in (anyone who may read the case: its provider,
an operator keying the member's call or letter) and forwards it to the payer; `POST
/cases/{case_id}/appeal/decision` is the payer system's answer (a partner of kind `payer`, or an
operator), sent out as any determination.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway import audit
from gateway.api.auth import (
    Forbidden,
    Principal,
    audit_request,
    audited,
    authenticated,
    readable_or_404,
)
from gateway.api.cases import _jobs, case_view
from gateway.api.responses import REST_SECURITY, rest_errors
from gateway.api.routes import mount
from gateway.domain.appeals import AppealOutcome, AppealRefused, AppealRequest, Appellant
from gateway.domain.reviewer import InvalidDecision
from gateway.partners.principal import Role

router = APIRouter(tags=["appeals"])


class AppealNotAllowed(InvalidDecision):
    """An appeal the rules refuse (AppealRefused as the API answers it)."""

    def __init__(self, refusal: AppealRefused):
        self.refusal = refusal
        super().__init__(str(refusal))


def install(app: FastAPI) -> None:
    mount(app, router)

    @app.exception_handler(AppealNotAllowed)
    async def _not_allowed(_: Request, exc: AppealNotAllowed) -> JSONResponse:
        refusal = exc.refusal
        # The rule's code beside the words; a late appeal names the date it was due.
        body: dict[str, Any] = {"error": "not allowed", "code": refusal.code, "detail": str(exc)}
        if refusal.due is not None:
            body["due"] = refusal.due.isoformat()
        return JSONResponse(body, status_code=refusal.status)


def payer_system(request: Request) -> Principal:
    """The payer's own system (a partner of kind `payer`) or an operator; else 403 (audited)."""
    principal = authenticated(request)
    if principal.local or principal.kind == "payer" or principal.has_role(Role.OPERATOR):
        return principal
    audit_request(
        request,
        event="access.refused",
        action=audit.EXECUTE,
        outcome=audit.MINOR_FAILURE,
        status_code=403,
        outcome_desc="needs the payer system",
        case_id=request.path_params.get("case_id"),
    )
    raise Forbidden("this needs the payer system's credentials")


class AppealBody(BaseModel):
    """Who appeals and how fast (DOMAIN.md: Clocks)."""

    appellant: Appellant = Field(description="member or provider: sets the standard clock")
    expedited: bool = Field(
        default=False, description="an expedited (immediate) appeal: decided within 72 hours"
    )
    reason: str | None = Field(default=None, max_length=2000)


class AppealDecisionBody(BaseModel):
    outcome: Literal["overturned", "upheld"]
    decided_by: str = Field(min_length=1, max_length=64, description="the payer's reviewer")
    rationale: str | None = Field(default=None, max_length=4000)
    guideline: str | None = Field(default=None, max_length=500)


@router.post(
    "/cases/{case_id}/appeal",
    summary="File a first-level appeal, forwarded to the payer",
    description=(
        "An appeal of a denial, a partial or a modified approval, within the plan's (or the "
        "program's) window from the initial determination (180 days). The case is pended "
        "with the payer's clock as its due time (expedited 72 hours; standard 30 days for the "
        "member, 60 for the provider) and the payer feed carries it. Refused with the rule's "
        "`code`: 409 where the case stands wrong (not adverse, an appeal open or decided), "
        "422 for a late appeal, whose body names the date it was `due`."
    ),
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def file_appeal(
    case_id: str,
    body: AppealBody,
    request: Request,
    principal: Principal = Depends(authenticated),
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    core = request.app.state.core
    with audited(request, "case.update", audit.UPDATE, case_id=case_id):
        appeal = AppealRequest(body.appellant, body.expedited, "rest", body.reason)
        try:
            stored = core.appeals.file(case_id, appeal, actor=principal.partner_id)
        except AppealRefused as exc:
            raise AppealNotAllowed(exc) from exc
        return case_view(stored, _jobs(request, case_id))


@router.post(
    "/cases/{case_id}/appeal/decision",
    summary="The payer's appeal decision",
    description=(
        "The payer system (a partner of kind `payer`, or an operator) answers an open appeal: "
        "`overturned` approves the request (authorization number and period), `upheld` keeps "
        "the appealed determination and needs a rationale. Sent out as any determination: "
        "appeal-outcome letters to the ordering provider, the facility and the member, the "
        "X12 follow-up to the submitter, the PAS subscription notification, the payer feed."
    ),
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def decide_appeal(
    case_id: str,
    body: AppealDecisionBody,
    request: Request,
    principal: Principal = Depends(payer_system),
) -> dict[str, Any]:
    core = request.app.state.core
    core.get(case_id)  # 404 for an unknown case (the payer sees its members' cases)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id):
        stored = core.appeals.decide(
            case_id,
            AppealOutcome(body.outcome),
            decided_by=body.decided_by,
            rationale=body.rationale,
            guideline=body.guideline,
            actor=principal.partner_id,
        )
        return case_view(stored, _jobs(request, case_id))
