"""Eligibility look-up per program ("Prior authorization required for: Medical Oncology")."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from gateway import audit
from gateway.api.auth import Forbidden, Principal, audit_request, audited, authenticated
from gateway.api.responses import REST_SECURITY, rest_errors
from gateway.domain.programs import member_today

router = APIRouter(tags=["eligibility"])


def may_look_up_members(principal: Principal) -> bool:
    """Eligibility by member id is a provider's question (issue 18): partners that act for a
    provider (an NPI, TIN or organization in the registry), and the gateway's own staff. A payer
    or a clearinghouse that acts for no one in particular may not browse members."""
    return bool(
        principal.local
        or principal.sees_all
        or principal.npis
        or principal.tins
        or principal.org_identifier
    )


def provider_side(request: Request) -> Principal:
    principal = authenticated(request)
    if not may_look_up_members(principal):
        audit_request(
            request,
            event="access.refused",
            action=audit.READ,
            outcome=audit.MINOR_FAILURE,
            status_code=403,
            outcome_desc="acts for no provider",
        )
        raise Forbidden("eligibility look-ups are for partners that act for a provider")
    return principal


@router.get(
    "/eligibility/{member_id}",
    response_model=None,
    summary="Is prior authorization required for this member",
    description="Per program of the member's plan on `date` (default: today): \"Prior "
    'authorization required for: ...". A member not eligible on the date is answered as such, '
    "with no program listed. For partners that act for a provider, reviewers and operators.",
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
)
def eligibility(
    member_id: str,
    request: Request,
    on: date | None = Query(default=None, alias="date", description="YYYY-MM-DD; today if unset."),
    _: Principal = Depends(provider_side),
) -> dict[str, Any] | JSONResponse:
    if on is None:
        # Today on the case service's clock (GATEWAY_FROZEN_TIME included), in the plan's zone.
        core = request.app.state.core
        on = member_today(core.ports, member_id, core.clock())
    # An eligibility look-up reads a member's coverage: it is audited like a case read.
    with audited(request, "eligibility.read", audit.READ) as entry:
        answer = request.app.state.core.eligibility(member_id, on)
        entry.detail = {"found": answer is not None}
    if answer is None:
        return JSONResponse(
            {"error": "member not found", "detail": "no member with this id"}, status_code=404
        )
    return answer
