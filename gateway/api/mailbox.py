"""The X12 pickup mailbox over HTTP: a trading partner collects its unsolicited 278 responses.

Thin: who is asking (the guard authenticated it, as on POST /x12/278), whose mailbox, then the
mailbox store (gateway/notify/x12_mailbox.py).

- `GET /x12/mailbox`: the partner's pending interchanges (id, case id, created, size).
- `GET /x12/mailbox/{id}`: one interchange (application/edi-x12). Fetching it acknowledges it:
  it is no longer listed. A second fetch of the same id still returns it (a client whose
  download broke off can fetch again); an id that is not the partner's is 404, whoever's it is.
- Operators name any partner with `?partner=ID`; an operator's fetch reads without
  acknowledging (inspecting a mailbox must not take the partner's mail from it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from gateway import audit
from gateway.api.auth import Forbidden, audit_request, audited, authenticated
from gateway.api.errors import problem
from gateway.api.responses import REST_SECURITY, X12_SECURITY, rest_errors
from gateway.notify.x12_mailbox import X12Mailbox
from gateway.partners.principal import Principal, Role
from gateway.x12.intake import MEDIA_TYPE

router = APIRouter(tags=["x12"])

PartnerParam = Annotated[
    str | None, Query(max_length=64, description=("Operators: the partner whose mailbox to read."))
]


def _mailbox(request: Request) -> X12Mailbox:
    return X12Mailbox(request.app.state.settings.x12_mailbox_dir)


def _owner(request: Request, principal: Principal, partner: str | None) -> tuple[str, bool]:
    """(whose mailbox, read as an operator on someone's behalf)."""
    if partner is None or partner == principal.partner_id:
        return principal.partner_id, False
    if not principal.has_role(Role.OPERATOR):
        audit_request(
            request,
            event="access.refused",
            action=audit.READ,
            outcome=audit.MINOR_FAILURE,
            status_code=403,
            outcome_desc="only operators read another partner's mailbox",
        )
        raise Forbidden("only operators read another partner's mailbox")
    return partner, True


@router.get(
    "/x12/mailbox",
    description=(
        "The partner's X12 follow-ups (unsolicited 278 responses to its pended requests) "
        "waiting to be fetched: id, case id, created, size. Operators add `?partner=ID` "
        "to read another partner's."
    ),
    responses=rest_errors(403, 422),
    dependencies=X12_SECURITY + REST_SECURITY,
)
def list_mailbox(request: Request, partner: PartnerParam = None) -> dict[str, Any]:
    principal = authenticated(request)
    owner, _ = _owner(request, principal, partner)
    with audited(request, "x12.mailbox.list", audit.READ) as entry:
        items = _mailbox(request).pending(owner)
        entry.case_ids = sorted({item["case_id"] for item in items})
        entry.detail = {"partner": owner}
    return {"partner": owner, "items": items}


@router.get(
    "/x12/mailbox/{item_id}",
    description=(
        "One follow-up interchange (`application/edi-x12`), acknowledged by the fetch: it"
        " no longer lists; fetching it again returns the same bytes. Another partner's id"
        " is a 404."
    ),
    responses=rest_errors(404, 422),
    dependencies=X12_SECURITY + REST_SECURITY,
    response_model=None,
)
def fetch_item(
    item_id: str, request: Request, partner: PartnerParam = None
) -> Response | JSONResponse:
    principal = authenticated(request)
    owner, on_behalf = _owner(request, principal, partner)
    data = _mailbox(request).fetch(owner, item_id, acknowledge=not on_behalf)
    if data is None:
        audit_request(
            request,
            event="x12.mailbox.fetch",
            action=audit.READ,
            outcome=audit.MINOR_FAILURE,
            status_code=404,
            outcome_desc="no such item in the partner's mailbox",
            detail={"partner": owner},
        )
        return problem(404, "not found", "no such item in this mailbox")
    audit_request(
        request,
        event="x12.mailbox.fetch",
        action=audit.READ,
        case_id=item_id.rsplit("-", 1)[0],
        status_code=200,
        detail={"partner": owner, "acknowledged": not on_behalf},
    )
    return Response(data, media_type=MEDIA_TYPE, headers={"X-Mailbox-Item": item_id})
