"""CAQH CORE connectivity over HTTP (Connectivity Rule vC2.2.0): the SOAP 1.2 endpoint, its
WSDL, and the HTTP MIME multipart endpoint.

Thin: read the message with its binding (gateway.caqh.soap, gateway.caqh.mime), call the
connectivity service (gateway.caqh.service), write its answer back. The partner is the one the
access guard authenticated (HTTP Basic with its shared secret, or a bearer token) or, when the
request has no Authorization header, the one whose id and secret the message carries (a SOAP
WS-Security UsernameToken, MIME Username and Password parts), checked here through the guard's
`admit_credentials` before anything is processed.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from gateway import audit
from gateway.api.auth import audit_request, authenticated
from gateway.api.errors import problem
from gateway.api.responses import REST_SECURITY, X12_SECURITY, rest_errors
from gateway.caqh import mime, soap
from gateway.caqh.envelope import CoreRequest, Operation
from gateway.caqh.service import Connectivity, Outcome
from gateway.caqh.wsdl import wsdl
from gateway.partners.guard import BodyTooLarge, admit_credentials
from gateway.partners.principal import Principal

# The CAQH CORE HTTP MIME envelope's form parts (Connectivity Rule vC2.2.0).
MIME_FIELDS = {
    "ProcessingMode": {"type": "string"},
    "PayloadType": {"type": "string"},
    "PayloadID": {"type": "string"},
    "TimeStamp": {"type": "string"},
    "SenderID": {"type": "string"},
    "ReceiverID": {"type": "string"},
    "CORERuleVersion": {"type": "string"},
    "CheckSum": {"type": "string"},
    "Payload": {"type": "string"},
}

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


@router.get("/core/soap", responses=rest_errors(404), dependencies=X12_SECURITY + REST_SECURITY)
def core_soap_wsdl(request: Request) -> Response:
    """`?wsdl` on the endpoint itself, where many SOAP tools look for it (authenticated)."""
    return core_wsdl(request)


@router.post(
    "/core/soap",
    description=(
        "CAQH CORE Connectivity Rule vC2.2.0 over SOAP 1.2: RealTimeTransaction, "
        "BatchSubmitTransaction, BatchSubmitAckRetrievalTransaction, "
        "BatchResultsRetrievalTransaction. Envelope errors come back as the rule's "
        "ErrorCode in the response envelope."
    ),
    responses=rest_errors(400),
    dependencies=X12_SECURITY + REST_SECURITY,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/soap+xml": {"schema": {"type": "string"}}},
        }
    },
    name="core_soap",
)
async def core_soap(request: Request) -> Response:
    try:
        data = await request.body()
    except BodyTooLarge as exc:
        return _soap_fault(soap.SoapFault("Sender", str(exc.detail)), 413)
    core_request: CoreRequest | None = None
    fault = soap.SoapFault("Sender", "unread")
    try:
        core_request = await run_in_threadpool(soap.parse, data)
    except soap.SoapFault as exc:
        fault = exc
    if _envelope_credentials(request):
        # No Authorization header: the WS-Security UsernameToken is the credential.
        credentials = core_request.credentials if core_request is not None else None
        refusal = await _admit(request, credentials)
        if refusal is not None:
            return refusal
    principal = authenticated(request)
    if core_request is None:
        audit_request(
            request,
            event="core.refused",
            action=audit.EXECUTE,
            outcome=audit.MINOR_FAILURE,
            status_code=400,
            outcome_desc=f"SOAP fault {fault.code}",
        )
        return _soap_fault(fault, 400)
    outcome = await _handle(request, principal, core_request)
    # Envelope errors travel in the CORE response (ErrorCode), as HTTP 200: the rule's SOAP
    # binding reserves SOAP faults for messages that are not CORE envelopes.
    return Response(soap.render(outcome.response), media_type=soap.MEDIA_TYPE)


@router.post(
    "/core/mime",
    description=(
        "CAQH CORE HTTP MIME multipart: the same envelope fields as form parts "
        "(PayloadType, ProcessingMode, PayloadID, SenderID, ReceiverID, CORERuleVersion, "
        "CheckSum, Payload)."
    ),
    responses=rest_errors(400, 415),
    dependencies=X12_SECURITY + REST_SECURITY,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": {"type": "object", "properties": MIME_FIELDS}}
            },
        }
    },
)
async def core_mime(request: Request) -> Response:
    envelope = _envelope_credentials(request)
    if not envelope:
        authenticated(request)
    if not request.headers.get("content-type", "").lower().startswith("multipart/form-data"):
        if envelope:  # no credentials anywhere
            refused = await _admit(request, None)
            assert refused is not None
            return refused
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
    core_request = mime.parse(parts)
    if envelope:
        # No Authorization header: the Username and Password parts are the credential.
        refusal = await _admit(request, core_request.credentials)
        if refusal is not None:
            return refusal
    principal = authenticated(request)
    outcome = await _handle(request, principal, core_request)
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


def _envelope_credentials(request: Request) -> bool:
    """The guard let the request through for its message to authenticate it (no Authorization
    header on an ENVELOPE_CREDENTIAL_PATHS route)."""
    return bool(getattr(request.state, "envelope_credentials", False))


async def _admit(request: Request, credentials: tuple[str, str] | None) -> Response | None:
    app_state = request.app.state
    return await admit_credentials(
        request.scope,
        sessions=app_state.core.sessions,
        auth=app_state.auth_settings,
        limiter=app_state.rate_limiter,
        credentials=credentials,
    )


def _soap_fault(error: soap.SoapFault, status: int) -> Response:
    return Response(soap.fault(error), status_code=status, media_type=soap.MEDIA_TYPE)
