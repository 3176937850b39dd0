"""Authorization lookup for providers: by authorization number with an NPI of the case, or by
member with an NPI (issue 11, item 5).

Thin: the lookup and its isolation live in `gateway.store.authorizations`; this parses, calls,
audits and renders. An unknown number, an NPI that is no party of the case (or that the caller
does not act for) and another partner's case all get the same 404 body, so a 404 tells a caller
nothing about which numbers are real.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse

from gateway import audit
from gateway.api.auth import Principal, audit_request, audited, authenticated
from gateway.api.responses import REST_SECURITY, rest_errors
from gateway.domain.outcomes import case_id_for_auth_number
from gateway.store.authorizations import (
    MEMBER_LIMIT,
    Authorization,
    AuthorizationLookup,
    MemberAuthorizations,
)

router = APIRouter(tags=["authorizations"])

NPI = r"^\d{10}$"
NOT_FOUND = {
    "error": "authorization not found",
    "detail": "no authorization with this number names this NPI",
}
NOT_FOUND_RESPONSE: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "No such authorization for this NPI, or one this caller may not see",
        "content": {"application/json": {"example": NOT_FOUND}},
    }
}

NpiQuery = Annotated[
    str,
    Query(
        pattern=NPI,
        description="NPI of a provider on the case (requester, ordering, rendering, facility)",
    ),
]


def lookup(request: Request) -> AuthorizationLookup:
    return AuthorizationLookup(request.app.state.core.sessions)


@router.get(
    "/authorizations/{number}",
    dependencies=REST_SECURITY,
    response_model=Authorization,
    responses=rest_errors(404, 422),
)
def authorization_by_number(
    request: Request,
    number: Annotated[str, Path(max_length=40, description="e.g. ONC2600000001")],
    npi: NpiQuery,
    principal: Principal = Depends(authenticated),
) -> Authorization | JSONResponse:
    """The authorization with this number, when the NPI is a party of its case and the caller
    may see the case."""
    found = lookup(request).by_number(principal, number, npi)
    case_id = case_id_for_auth_number(number)
    if found.authorization is None:
        audit_request(
            request,
            event="access.refused",
            action=audit.READ,
            outcome=audit.MINOR_FAILURE,
            case_id=case_id,
            status_code=404,
            outcome_desc=found.refusal,
        )
        return JSONResponse(NOT_FOUND, status_code=404)
    with audited(request, "authorization.read", audit.READ, case_id=case_id):
        return found.authorization


@router.get(
    "/authorizations",
    responses=rest_errors(422),
    dependencies=REST_SECURITY,
    response_model=MemberAuthorizations,
)
def authorizations_of_member(
    request: Request,
    member_id: Annotated[str, Query(min_length=1, max_length=80, description="member id")],
    birth_date: Annotated[
        date, Query(description="the member's date of birth, YYYY-MM-DD (must match the case)")
    ],
    npi: NpiQuery,
    principal: Principal = Depends(authenticated),
) -> MemberAuthorizations:
    """The member's authorizations that name this NPI, newest first (at most 20)."""
    with audited(request, "authorization.search", audit.READ) as entry:
        found = lookup(request).for_member(principal, member_id, birth_date, npi, MEMBER_LIMIT)
        # One audit record per search, naming the cases it returned (as GET /cases does).
        entry.detail = {"case_ids": [authorization.case_id for authorization in found]}
        entry.case_ids = [authorization.case_id for authorization in found]
    return MemberAuthorizations(authorizations=found)
