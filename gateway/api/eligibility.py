"""Eligibility look-up per program ("Prior authorization required for: Medical Oncology")."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from gateway import audit
from gateway.api.auth import Forbidden, Principal, audit_request, audited, authenticated

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


@router.get("/eligibility/{member_id}", response_model=None)
def eligibility(
    member_id: str,
    request: Request,
    on: date = Query(alias="date"),
    _: Principal = Depends(provider_side),
) -> dict[str, Any] | JSONResponse:
    # An eligibility look-up reads a member's coverage: it is audited like a case read.
    with audited(request, "eligibility.read", audit.READ) as entry:
        answer = request.app.state.core.eligibility(member_id, on)
        entry.detail = {"found": answer is not None}
    if answer is None:
        return JSONResponse(
            {"error": "member not found", "detail": "no member with this id"}, status_code=404
        )
    return answer
