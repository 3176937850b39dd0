"""The PAS channel over HTTP: $submit, $inquire, metadata, questionnaires, subscriptions.

Thin: parse, check the PAS profile rules, call the core, render. Every refusal is an
OperationOutcome with a 4xx status, never a traceback.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import audit
from gateway.api.auth import (
    Principal,
    acts_for,
    audit_request,
    audited,
    authenticated,
    can_read,
    require_scope,
)
from gateway.api.examples import INQUIRE_EXAMPLE, SUBMIT_EXAMPLES, SUBSCRIPTION_EXAMPLE
from gateway.api.responses import (
    FHIR_SECURITY,
    fhir_body,
    fhir_errors,
    fhir_ok,
    fhir_security,
)
from gateway.fhir import capability, outcome, profile, questionnaire, reader, subscription, writer
from gateway.fhir.body import BodyRefused, read_json
from gateway.fhir.inquiry import InquiryQuery, read_inquiry
from gateway.fhir.intake import PasAnswer, submit_bundle
from gateway.notify.jobs import JobSpec
from gateway.service.core import Core
from gateway.store.models import SubscriptionRow

log = logging.getLogger("gateway.fhir")

FHIR_JSON = "application/fhir+json"
# The media types a FHIR JSON body or answer may be named by (R4 http.html#mime-type; the
# DSTU2 spelling application/json+fhir is still sent by older clients). XML is not spoken.
JSON_MEDIA = frozenset({FHIR_JSON, "application/json", "application/json+fhir"})
JSON_FORMATS = JSON_MEDIA | {"json"}
ACCEPT_ANY = frozenset({"*/*", "application/*"})
# OperationOutcome issue types (R4 issue-type) for the refusals HTTP itself makes.
HTTP_ISSUE = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
}


class FhirRefusal(StarletteHTTPException):
    """A refusal a FHIR route answers as an OperationOutcome with this status and issue type."""

    def __init__(self, status: int, code: str, text: str) -> None:
        super().__init__(status, text)
        self.code = code


def _media_type(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


def accepts_json(accept: str) -> bool:
    """True when an Accept header admits a JSON answer (a range with q=0 refuses it)."""
    for media_range in accept.split(","):
        media, *params = (part.strip() for part in media_range.split(";"))
        media = media.lower()
        quality = next((p.partition("=")[2] for p in params if p.lower().startswith("q=")), "1")
        try:
            refused = float(quality) <= 0
        except ValueError:
            refused = False
        if not refused and (media in JSON_MEDIA or media in ACCEPT_ANY or not media):
            return True
    return False


async def negotiate(request: Request) -> None:
    """Content negotiation of every FHIR route (R4 http.html#mime-type): the gateway reads and
    writes JSON only, so a body of another media type is a 415 and an answer asked for only in
    XML (Accept, or _format) is a 406; the CapabilityStatement's `format` says json."""
    wanted = request.query_params.get("_format")
    if wanted and _media_type(wanted) not in JSON_FORMATS:
        raise FhirRefusal(
            406, "not-supported", f"_format {wanted} is not supported: this server speaks JSON"
        )
    accept = request.headers.get("accept")
    if accept and not accepts_json(accept):
        raise FhirRefusal(
            406,
            "not-supported",
            f"Accept {accept} is not supported: answers are application/fhir+json",
        )
    content_type = request.headers.get("content-type")
    if request.method in ("POST", "PUT") and content_type:
        if _media_type(content_type) not in JSON_MEDIA:
            raise FhirRefusal(
                415,
                "not-supported",
                f"Content-Type {content_type} is not supported: send application/fhir+json",
            )


router = APIRouter(prefix="/fhir", tags=["fhir"], dependencies=[Depends(negotiate)])


def install(app: FastAPI) -> None:
    """Every refusal under /fhir is an OperationOutcome (R4 http.html): unknown routes (404),
    methods a route does not take (405, with Allow), media types (415, 406), a missing scope
    (403). Other paths keep their own error bodies."""
    from gateway.api.auth import Forbidden

    forbidden_elsewhere = app.exception_handlers.get(Forbidden)

    async def _http_refusal(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if not request.url.path.startswith("/fhir/") and request.url.path != "/fhir":
            return await http_exception_handler(request, exc)
        code = getattr(exc, "code", None) or HTTP_ISSUE.get(exc.status_code, "processing")
        text = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        if exc.status_code == 404 and text == "Not Found":
            text = f"No FHIR interaction at {request.method} {request.url.path}"
        elif exc.status_code == 405 and text == "Method Not Allowed":
            allowed = (exc.headers or {}).get("Allow", "")
            text = f"{request.method} is not supported here (allowed: {allowed})"
        body = outcome.operation_outcome([outcome.error(code, text)])
        return JSONResponse(
            body, status_code=exc.status_code, media_type=FHIR_JSON, headers=exc.headers
        )

    async def _forbidden(request: Request, exc: Exception) -> Response:
        if request.url.path.startswith("/fhir/"):
            return refuse(403, "forbidden", str(exc))
        if forbidden_elsewhere is not None:
            answer = await forbidden_elsewhere(request, exc)
            assert isinstance(answer, Response)
            return answer
        return JSONResponse({"error": "forbidden", "detail": str(exc)}, status_code=403)

    app.add_exception_handler(StarletteHTTPException, _http_refusal)
    app.add_exception_handler(Forbidden, _forbidden)


def fhir(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def refuse(status: int, code: str, text: str, *expression: str) -> JSONResponse:
    return fhir(outcome.operation_outcome([outcome.error(code, text, *expression)]), status)


def base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir"


async def _json(request: Request) -> Any:
    """The parsed body, or the 400/413 OperationOutcome that refuses it. The bounded read
    (gateway.fhir.body) walks the value in Python: off the event loop, as the profile is."""
    raw = await request.body()
    try:
        return await run_in_threadpool(read_json, raw)
    except BodyRefused as exc:
        return refuse(exc.status, exc.code, exc.text, exc.expression)


async def _bundle(request: Request) -> dict[str, Any] | JSONResponse:
    body = await _json(request)
    if isinstance(body, JSONResponse):
        return body
    body = reader.unwrap_parameters(body)
    if not isinstance(body, dict):
        return refuse(400, "structure", "The body is not a FHIR resource", "Bundle")
    return body


def submitter_of(request: Request) -> str | None:
    principal = getattr(request.state, "principal", None)
    return getattr(principal, "partner_id", None)


@router.get(
    "/metadata",
    summary="CapabilityStatement",
    description="Public. The operations, the PAS profiles and the subscription topic.",
    response_class=JSONResponse,
    responses=fhir_ok("The CapabilityStatement."),
)
def metadata(request: Request) -> JSONResponse:
    return fhir(capability.capability_statement(base_url=base_url(request)))


@router.get(
    "/Questionnaire/{questionnaire_id}",
    summary="A pathway questionnaire",
    description="The questions a pathway asks, by cancer type: `breast`, `colorectal`, `lung`, "
    "`lymphoma`. Answer them in a QuestionnaireResponse in the $submit bundle.",
    response_class=JSONResponse,
    responses=fhir_ok("The Questionnaire.") | fhir_errors(404, 422),
    dependencies=FHIR_SECURITY,
)
def get_questionnaire(questionnaire_id: str, request: Request) -> JSONResponse:
    found = questionnaire.questionnaire(questionnaire_id, base_url(request))
    if found is None:
        known = ", ".join(questionnaire.QUESTIONNAIRE_IDS)
        return refuse(404, "not-found", f"No Questionnaire {questionnaire_id} (have: {known})")
    return fhir(found)


@router.post(
    "/Claim/$submit",
    summary="Submit a PAS request bundle",
    description="Da Vinci PAS 2.2.1: a PAS request Bundle (Claim first), optionally wrapped in "
    "Parameters. The answer is the PAS response Bundle, ClaimResponse first, with the review "
    "action (A1/A4/A6/CT/NA) per item, the authorization number and period. A PASClaimUpdate "
    "(Claim.related) re-reviews a stored case. An exact replay answers the stored response; the "
    "same identifier with other content is a 409 (`duplicate`).",
    response_class=JSONResponse,
    responses=fhir_ok("The PAS response Bundle.") | fhir_errors(400, 404, 408, 409, 413, 422),
    openapi_extra=fhir_body("A PAS request Bundle (or Parameters holding one).", SUBMIT_EXAMPLES),
    dependencies=[Depends(require_scope("Claim", "write")), *fhir_security("Claim", "write")],
)
async def submit(request: Request) -> Response:
    body = await _json(request)
    if isinstance(body, JSONResponse):
        return body
    with audited(request, "pas.submit", audit.CREATE) as entry:
        principal = getattr(request.state, "principal", None)
        answer = await run_in_threadpool(
            partial(
                submit_bundle,
                request.app.state.core,
                body,
                submitter_id=submitter_of(request),
                # A claim update may change a case of another channel this caller may see.
                may_change=(lambda case_json: can_read(principal, case_json))
                if principal
                else None,
            )
        )
        entry.case_ids = answer.case_ids
    return _pas_response(answer)


def _pas_response(answer: PasAnswer) -> Response:
    if isinstance(answer.body, str):
        return Response(
            answer.body, status_code=answer.status, media_type=FHIR_JSON, headers=answer.headers
        )
    return fhir(answer.body, answer.status)


@router.post(
    "/Claim/$inquire",
    summary="Ask about the partner's own PAS requests",
    description="A PAS inquiry Bundle naming the member, the requesting provider's NPI and a "
    "Claim.identifier. The answer is Parameters holding an inquiry response Bundle for each "
    "matching case of this partner; none is a 404.",
    response_class=JSONResponse,
    responses=fhir_ok("Parameters of inquiry response Bundles.")
    | fhir_errors(400, 404, 408, 413, 422),
    openapi_extra=fhir_body(
        "A PAS inquiry Bundle (or Parameters holding one).",
        {"inquiry": {"summary": "Jane Doe's AC-T request", "value": INQUIRE_EXAMPLE}},
    ),
    dependencies=[Depends(require_scope("Claim", "read")), *fhir_security("Claim", "read")],
)
async def inquire(request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    body = await _bundle(request)
    if isinstance(body, JSONResponse):
        return body
    answer = await run_in_threadpool(_read_inquiry, body, core.clock())
    if isinstance(answer, JSONResponse):
        return answer
    query = answer
    if not query.member_id or not query.provider_npi:
        return refuse(
            400,
            "required",
            "An inquiry names the member and the requesting provider",
            "Claim.patient",
            "Claim.provider",
        )
    # An identifier with no value names no claim: it is dropped, never read as "any claim". The
    # inquiry must still name one (profile-claim-inquiry: Claim.identifier 1..*).
    claim_identifiers = {value.strip() for value in query.claim_identifiers if value.strip()}
    if not claim_identifiers:
        return refuse(
            400,
            "required",
            "An inquiry names the claim it asks about: Claim.identifier needs a value",
            "Claim.identifier",
        )
    principal = authenticated(request)
    # The member id, the requesting provider's NPI on the case (issue 3) and the claim
    # identifiers are matched in SQL, newest first and bounded; then only the cases this caller
    # may read (issue 18: the one isolation check).
    found = await run_in_threadpool(
        partial(core.cases_for_member, claim_identifiers=sorted(claim_identifiers)),
        query.member_id,
        query.provider_npi,
    )
    matches = [
        (stored.case, stored.determination)
        for stored in found
        if stored.determination is not None and can_read(principal, stored.case)
    ]
    if not matches:
        return refuse(404, "not-found", "No prior authorization matches this inquiry")
    audit_request(
        request,
        event="pas.inquire",
        action=audit.READ,
        case_ids=[case.id for case, _ in matches if case.id],
    )
    bundle = writer.inquiry_response_bundle(query.case, matches, body)
    return fhir(writer.inquiry_parameters(bundle))


def _read_inquiry(body: dict[str, Any], now: datetime) -> InquiryQuery | JSONResponse:
    """Profile rules and the query of an $inquire bundle (CPU work, run off the event loop)."""
    issues = profile.validate_request(body, "inquire")
    if outcome.has_errors(issues):
        return fhir(outcome.operation_outcome(issues), outcome.http_status(issues))
    try:
        return read_inquiry(body, received_at=now)
    except reader.PasReadError as exc:
        return refuse(400, "required", str(exc), "Bundle.entry")
    except (AttributeError, KeyError, TypeError, ValueError, StopIteration) as exc:
        # As on $submit: a shape the profile rules let through but no query can be read from.
        text = f"The inquiry cannot be read: {type(exc).__name__}"
        return refuse(400, "structure", text, "Bundle.entry[0].resource")


@router.post(
    "/Subscription",
    summary="Create a rest-hook subscription",
    description="An R4 backport Subscription to the PAS topic, filtered by `org-identifier=` "
    "(an organization this partner acts for, else 403), full-resource payload. The endpoint "
    "must be https at a public address. The answer is the stored Subscription (201); a "
    "handshake goes to the endpoint.",
    status_code=201,
    response_class=JSONResponse,
    responses={
        201: {
            "description": "The stored Subscription.",
            "content": {FHIR_JSON: {"schema": {"type": "object"}}},
        }
    }
    | fhir_errors(400, 408, 413, 422),
    openapi_extra=fhir_body(
        "An R4 Subscription (subscriptions backport).",
        {
            "rest-hook": {
                "summary": "Notifications for one organization",
                "value": SUBSCRIPTION_EXAMPLE,
            }
        },
    ),
    dependencies=[
        Depends(require_scope("Subscription", "write")),
        *fhir_security("Subscription", "write"),
    ],
)
async def create_subscription(request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    resource = await _bundle(request)
    if isinstance(resource, JSONResponse):
        return resource
    issues = await run_in_threadpool(subscription.validate_subscription, resource)
    if outcome.has_errors(issues):
        return fhir(outcome.operation_outcome(issues), outcome.http_status(issues))
    resource, dropped = subscription.without_forbidden_headers(resource)
    subscription_id = uuid.uuid4().hex
    stored = subscription.accepted(resource, subscription_id, "active")
    info = subscription.parse_subscription(stored)
    principal = authenticated(request)
    if not (principal.local or principal.has_role("operator") or _acts_for_filter(principal, info)):
        # Subscriptions only for the partner's own organization (issue 5: isolation).
        return refuse(
            403,
            "forbidden",
            f"This client does not act for organization {info.org_identifier}",
            "Subscription.criteria",
        )
    # No server-side request forgery (issue 18 item 5); the DNS look-up off the event loop.
    allowed_hosts = core.settings.subscription_allowed_hosts
    issues = await run_in_threadpool(subscription.destination_issues, resource, allowed_hosts)
    if outcome.has_errors(issues):
        return fhir(outcome.operation_outcome(issues), outcome.http_status(issues))
    if dropped:
        log.warning("subscription channel headers not kept: %s", "; ".join(dropped))
    handshake = subscription.handshake_bundle(stored, base_url=base_url(request))
    with core.sessions.begin() as session:
        session.add(
            SubscriptionRow(
                id=subscription_id,
                org_identifier=info.org_identifier,
                submitter_id=submitter_of(request),
                endpoint=info.endpoint,
                status="active",
                resource=stored,
                events_sent=0,
            )
        )
        core.enqueue(
            session,
            JobSpec(
                "subscription",
                f"subscription:{subscription_id}:handshake",
                {"endpoint": info.endpoint, "headers": info.headers, "body": handshake},
            ),
            case_id=None,
        )
    return fhir(stored, 201)


def _acts_for_filter(principal: Principal, info: subscription.SubscriptionInfo) -> bool:
    value = info.org_identifier
    qualified = f"{info.org_system}|{value}" if info.org_system else value
    return (
        acts_for(principal, npi=value)
        or acts_for(principal, tin=value)
        or acts_for(principal, org_identifier=qualified)
        or acts_for(principal, org_identifier=value)
    )


@router.get(
    "/Subscription/{subscription_id}",
    summary="Read one of the partner's subscriptions",
    description="The stored Subscription; another partner's is a 404.",
    response_class=JSONResponse,
    responses=fhir_ok("The Subscription.") | fhir_errors(404, 422),
    dependencies=[
        Depends(require_scope("Subscription", "read")),
        *fhir_security("Subscription", "read"),
    ],
)
def get_subscription(subscription_id: str, request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    with core.sessions() as session:
        row = session.get(SubscriptionRow, subscription_id)
        if row is None or row.submitter_id != submitter_of(request):
            return refuse(404, "not-found", f"No Subscription {subscription_id}")
        return fhir(row.resource)
