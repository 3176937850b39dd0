"""Alternative recommendation routes (issue 12 item 2): thin, over gateway.service.alternatives.

A reviewer offers an alternative regimen for a pended case; the provider (any partner that may
read the case) accepts it or declines it to ask for reconsideration of the original request.
Every route goes through the isolation check first (`readable_or_404`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse

from gateway import audit
from gateway.api.auth import REVIEWER, Principal, audited, authenticated, readable_or_404
from gateway.api.cases import _jobs, case_view
from gateway.api.responses import REST_SECURITY, rest_errors
from gateway.api.routes import mount
from gateway.domain.alternatives import (
    AlternativeAnswer,
    AlternativeOffer,
    AlternativeRefused,
    ChangeAnswer,
)
from gateway.service.alternatives import Alternatives

router = APIRouter(tags=["cases"])


def install(app: FastAPI) -> None:
    """The router and its refusals: 409 where the case stands elsewhere, 422 for the request."""
    mount(app, router)

    @app.exception_handler(AlternativeRefused)
    async def _refused(_: Request, exc: AlternativeRefused) -> JSONResponse:
        body = {"error": "alternative refused", "code": exc.code, "detail": str(exc)}
        return JSONResponse(body, status_code=409 if exc.conflict else 422)


def _service(request: Request) -> Alternatives:
    return Alternatives(request.app.state.core)


@router.post(
    "/cases/{case_id}/alternative",
    summary="Offer an alternative regimen",
    description="Reviewers only: offer a pathway row (`cancer_type:regimen_id`, e.g. "
    "`breast:her2neg-ddact`) for a pended case instead of the regimen requested. The case "
    "stays pended with the offer on its determination (`determination.alternative`) and the "
    "provider's answer is due by `respond_by` (default: the plan's hold response time); the "
    "ordering provider is told. A case not pended is a 409; an unknown row, one of another "
    "pathway, or the regimen requested is a 422.",
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
    status_code=201,
)
def offer(
    case_id: str, body: AlternativeOffer, request: Request, principal: Principal = REVIEWER
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id):
        stored = _service(request).offer(case_id, body)
        return case_view(stored, _jobs(request, case_id))


def _answer(
    case_id: str,
    answer: ChangeAnswer,
    body: AlternativeAnswer,
    request: Request,
    principal: Principal,
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id):
        stored = _service(request).answer(case_id, answer, body, actor=principal.partner_id)
        return case_view(stored, _jobs(request, case_id))


@router.post(
    "/cases/{case_id}/alternative/accept",
    summary="Accept the offered alternative",
    description="The provider accepts the reviewer's alternative: the case is approved for it "
    "as a modified approval (A6) with an authorization number, and the letters, payer feed, "
    "PAS notification and X12 follow-up say which regimen was approved instead. No standing "
    "offer is a 409.",
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def accept(
    case_id: str,
    request: Request,
    body: AlternativeAnswer | None = None,
    principal: Principal = Depends(authenticated),
) -> dict[str, Any]:
    return _answer(case_id, ChangeAnswer.ACCEPT, body or AlternativeAnswer(), request, principal)


@router.post(
    "/cases/{case_id}/alternative/decline",
    summary="Decline the alternative: reconsider the original request",
    description="The provider declines the alternative and asks for reconsideration of the "
    "original request: the case goes back to a physician reviewer (pended, clinical review) "
    "with a new decision due time. No standing offer is a 409.",
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def decline(
    case_id: str,
    request: Request,
    body: AlternativeAnswer | None = None,
    principal: Principal = Depends(authenticated),
) -> dict[str, Any]:
    return _answer(case_id, ChangeAnswer.DECLINE, body or AlternativeAnswer(), request, principal)
