"""CAQH CORE connectivity over HTTP (Connectivity Rule vC2.2.0): the SOAP 1.2 endpoint, its
WSDL, and the HTTP MIME multipart endpoint.

Thin: read the message with its binding (gateway.caqh.soap, gateway.caqh.mime), call the
connectivity service (gateway.caqh.service), write its answer back. The partner is the one the
access guard authenticated (HTTP Basic with its shared secret, or a bearer token).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from gateway import audit
from gateway.api.auth import audit_request, authenticated
from gateway.api.errors import problem
from gateway.caqh import mime, soap
from gateway.caqh.envelope import CoreRequest, Operation
from gateway.caqh.service import Connectivity, Outcome
from gateway.caqh.wsdl import wsdl
from gateway.partners.guard import BodyTooLarge
from gateway.partners.principal import Principal

router = APIRouter(tags=["caqh-core"])

EVENTS: dict[Operation, tuple[str, str]] = {
    Operation.REAL_TIME: ("core.realtime", audit.CREATE),
    Operation.BATCH_SUBMISSION: ("core.batch.submit", audit.CREATE),
    Operation.ACK_RETRIEVAL: ("core.batch.ack", audit.READ),
    Operation.RESULTS_RETRIEVAL: ("core.batch.results", audit.READ),
}


@router.get("/core/wsdl")
def core_wsdl(request: Request) -> Response:
    """The WSDL of the SOAP endpoint (public, as the guard's PUBLIC_PATHS say: it holds no
    data, and a client reads it before it sends its first credentials)."""
    address = str(request.url_for("core_soap"))
    return Response(wsdl(address), media_type="text/xml")


@router.post("/core/soap", name="core_soap")
async def core_soap(request: Request) -> Response:
    principal = authenticated(request)
    try:
        data = await request.body()
    except BodyTooLarge as exc:
        return _soap_fault(soap.SoapFault("Sender", str(exc.detail)), 413)
    try:
        core_request = await run_in_threadpool(soap.parse, data)
    except soap.SoapFault as exc:
        audit_request(
            request,
            event="core.refused",
            action=audit.EXECUTE,
            outcome=audit.MINOR_FAILURE,
            status_code=400,
            outcome_desc=f"SOAP fault {exc.code}",
        )
        return _soap_fault(exc, 400)
    outcome = await _handle(request, principal, core_request)
    # Envelope errors travel in the CORE response (ErrorCode), as HTTP 200: the rule's SOAP
    # binding reserves SOAP faults for messages that are not CORE envelopes.
    return Response(soap.render(outcome.response), media_type=soap.MEDIA_TYPE)


@router.post("/core/mime")
async def core_mime(request: Request) -> Response:
    principal = authenticated(request)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        return problem(
            415, "unsupported media type", "send the CORE envelope as multipart/form-data"
        )
    limit = request.app.state.auth_settings.max_body_x12
    try:
        form = await request.form(max_part_size=limit)
    except BodyTooLarge as exc:
        return problem(413, "payload too large", str(exc.detail))
    except Exception as exc:  # python-multipart's errors: a body that is not a form
        return problem(400, "malformed multipart body", type(exc).__name__)
    parts: dict[str, str | bytes] = {}
    for name, value in form.multi_items():
        if isinstance(value, UploadFile):
            parts[name] = await value.read()
        else:
            parts[name] = value
    await form.close()
    outcome = await _handle(request, principal, mime.parse(parts))
    body, media_type = mime.render(outcome.response)
    status = {"refused": 400, "unauthorized": 403}.get(outcome.status, 200)
    return Response(body, status_code=status, media_type=media_type)


async def _handle(request: Request, principal: Principal, core_request: CoreRequest) -> Outcome:
    service = Connectivity(request.app.state.core)
    event, action = EVENTS[core_request.operation]
    try:
        outcome = await run_in_threadpool(service.handle, principal, core_request)
    except Exception as exc:
        audit_request(
            request,
            event=event,
            action=action,
            outcome=audit.SERIOUS_FAILURE,
            outcome_desc=type(exc).__name__,
        )
        raise
    refused = outcome.status in ("refused", "unauthorized")
    if outcome.status == "replay":
        event, action = f"{event}.replay", audit.READ
    audit_request(
        request,
        event="core.refused" if refused else event,
        action=action,
        outcome=audit.MINOR_FAILURE if refused else audit.SUCCESS,
        case_ids=outcome.case_ids,
        outcome_desc=outcome.response.error_code if refused else None,
        detail={"payload_type": outcome.response.fields.get("PayloadType")},
    )
    return outcome


def _soap_fault(error: soap.SoapFault, status: int) -> Response:
    return Response(soap.fault(error), status_code=status, media_type=soap.MEDIA_TYPE)
