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
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import audit
from gateway.api.auth import (
    Principal,
    RequestAudit,
    acts_for,
    audit_request,
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
from gateway.notify import handshakes
from gateway.notify.jobs import JobSpec
from gateway.service.core import CaseNotFound, Core
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
    _public_url_from_fhir_base(app)


def _public_url_from_fhir_base(app: FastAPI) -> None:
    """SMART discovery names a token endpoint under GATEWAY_FHIR_BASE_URL's host (issue 14 item
    11): when neither GATEWAY_PUBLIC_URL nor GATEWAY_TOKEN_URL is set, the public URL (token
    issuer and assertion audience) is the FHIR base's origin. The one AuthSettings object the
    guard and the token route share is updated, so what is advertised is what is verified."""
    auth = getattr(app.state, "auth_settings", None)
    settings = getattr(app.state, "settings", None)
    if auth is None or settings is None or {"public_url", "token_url"} & auth.model_fields_set:
        return
    parts = urlsplit(str(settings.fhir_base_url))
    if parts.scheme and parts.netloc:
        auth.public_url = f"{parts.scheme}://{parts.netloc}"


def token_endpoint(request: Request) -> str:
    from gateway.api.auth import auth_settings

    return auth_settings(request).token_endpoint


def fhir(body: dict[str, Any], status: int = 200) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON)


def refuse(status: int, code: str, text: str, *expression: str) -> JSONResponse:
    return fhir(outcome.operation_outcome([outcome.error(code, text, *expression)]), status)


def base_url(request: Request) -> str:
    """The gateway's own FHIR base (GATEWAY_FHIR_BASE_URL): what clients reach it at, which a
    proxy in front may make differ from the URL this request came to (issue 14 item 18)."""
    settings = getattr(request.app.state, "settings", None)
    configured = getattr(settings, "fhir_base_url", None)
    if configured:
        return str(configured).rstrip("/")
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
    core: Core = request.app.state.core
    return fhir(
        capability.capability_statement(
            base_url=base_url(request), now=core.clock(), token_endpoint=token_endpoint(request)
        )
    )


@router.get(
    "/.well-known/smart-configuration",
    summary="SMART discovery at the FHIR base",
    description="Public. SMART App Launch 2 discovery for backend services at "
    "[base]/.well-known/smart-configuration: the token endpoint (under the FHIR base's host), "
    "the grant, the client authentication methods and the scopes.",
    response_class=JSONResponse,
    responses=fhir_ok("The SMART configuration (application/json)."),
)
def fhir_smart_configuration(request: Request) -> JSONResponse:
    from gateway.api.auth import smart_configuration

    return JSONResponse(smart_configuration(request))


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
    raw = await request.body()
    core: Core = request.app.state.core
    principal = getattr(request.state, "principal", None)
    submitter_id = submitter_of(request)
    who = RequestAudit.of(request)

    def work(audit_rows: list[dict[str, Any]]) -> PasAnswer | JSONResponse:
        # The bounded read walks the value in Python: here, off the event loop, as the profile
        # checks and the review are.
        try:
            body = read_json(raw)
        except BodyRefused as exc:
            return refuse(exc.status, exc.code, exc.text, exc.expression)
        with who.audited(audit_rows, "pas.submit", audit.CREATE) as entry:
            answer = submit_bundle(
                core,
                body,
                submitter_id=submitter_id,
                # A claim update may change a case of another channel this caller may see.
                may_change=(lambda case_json: can_read(principal, case_json))
                if principal
                else None,
            )
            entry.case_ids = answer.case_ids
        return answer

    # One hop to the thread pool for the read, the review and the audit record (see
    # gateway/api/group.py on why PAS is not committed in groups).
    answer = await request.app.state.intake_writer.run(work, grouped=False)
    if isinstance(answer, JSONResponse):
        return answer
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
    "matching case of this partner; with none it is an empty Parameters (Claim-inquiry "
    "`return` is 0..*), with an OperationOutcome warning (`outcome`) when matches are "
    "withheld from this client (PAS spec-50).",
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
    decided = [stored for stored in found if stored.determination is not None]
    matches = [
        (stored.case, stored.determination)
        for stored in decided
        if stored.determination is not None and can_read(principal, stored.case)
    ]
    withheld = len(decided) - len(matches)
    audit_request(
        request,
        event="pas.inquire",
        action=audit.READ,
        case_ids=[case.id for case, _ in matches if case.id],
    )
    warnings = []
    if withheld:
        # PAS spec-49/spec-50: results withheld for access are said so, with another way to
        # ask (the plan's provider line, mappings/plans contact.phone).
        shown = {id(case) for case, _ in matches}
        phones = sorted(
            {
                phone
                for stored in decided
                if id(stored.case) not in shown
                and (phone := _plan_phone(core, stored.determination))
            }
        )
        where = f" at {' or '.join(phones)}" if phones else ""
        warnings.append(
            outcome.warning(
                "suppressed",
                f"{withheld} prior authorization(s) matching this inquiry are not shown to "
                "this client; the requesting or rendering provider may call the payer's "
                f"utilization management line{where} for their status",
            )
        )
    if not matches:
        # Claim-inquiry's `return` is 0..*: no match is an empty answer, not an error.
        return fhir(writer.inquiry_parameters(outcome_issues=warnings))
    # Timestamped by the gateway's clock (frozen in tests and conformance runs), as $submit.
    bundle = writer.inquiry_response_bundle(
        query.case, matches, body, now=core.clock(), base=base_url(request)
    )
    return fhir(writer.inquiry_parameters(bundle, outcome_issues=warnings))


@router.get(
    "/Bundle/{bundle_id}",
    summary="The current PAS response Bundle of a case",
    description="The focus of a subscription notification (`[base]/Bundle/{case id}`): the "
    "PAS response Bundle of the case as decided now. Only a case this partner may read; "
    "another's, or none, is a 404.",
    response_class=JSONResponse,
    responses=fhir_ok("The PAS response Bundle.") | fhir_errors(404, 422),
    dependencies=[Depends(require_scope("Claim", "read")), *fhir_security("Claim", "read")],
)
def read_response_bundle(bundle_id: str, request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    try:
        stored = core.get(bundle_id)
    except CaseNotFound:
        stored = None
    principal = authenticated(request)
    if stored is None or stored.determination is None or not can_read(principal, stored.case):
        return refuse(404, "not-found", f"No Bundle {bundle_id}")
    audit_request(request, event="pas.read", action=audit.READ, case_ids=[bundle_id])
    return fhir(
        writer.response_bundle(
            stored.case,
            stored.determination,
            now=core.clock(),
            base=base_url(request),
            bundle_id=bundle_id,
        )
    )


def _plan_phone(core: Core, determination: Any) -> str | None:
    plan = core.ports.plans.get(determination.plan_id) if determination.plan_id else None
    return (plan.contact or {}).get("phone") if plan is not None else None


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
    # R4 Subscription.status: requested until the endpoint has taken the handshake (backport
    # "Subscription activation"); a failed handshake is `error`, never `active` (issue 14).
    stored = subscription.accepted(resource, subscription_id, "requested")
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
    handshake = subscription.handshake_bundle(stored, now=core.clock(), base_url=base_url(request))
    with core.sessions.begin() as session:
        session.add(
            SubscriptionRow(
                id=subscription_id,
                org_identifier=info.org_identifier,
                submitter_id=submitter_of(request),
                endpoint=info.endpoint,
                # The dispatcher makes it active (or error) as the handshake job ends
                # (gateway.notify.handshakes); no notification is queued for it until then.
                status="requested",
                resource=stored,
                events_sent=0,
            )
        )
        core.enqueue(
            session,
            JobSpec(
                "subscription",
                handshakes.handshake_key(subscription_id),
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
    description="The stored Subscription with its current status: `requested` until the "
    "endpoint took the handshake, then `active`; `error` when the handshake failed; `off` "
    "when the client turned it off. Another partner's is a 404.",
    response_class=JSONResponse,
    responses=fhir_ok("The Subscription.") | fhir_errors(404, 422),
    dependencies=[
        Depends(require_scope("Subscription", "read")),
        *fhir_security("Subscription", "read"),
    ],
)
def get_subscription(subscription_id: str, request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    with core.sessions.begin() as session:
        row = session.get(SubscriptionRow, subscription_id)
        if row is None or row.submitter_id != submitter_of(request):
            return refuse(404, "not-found", f"No Subscription {subscription_id}")
        return fhir(_with_status(row))


@router.get(
    "/Subscription/{subscription_id}/$status",
    summary="The status of one of the partner's subscriptions",
    description="Subscriptions backport `$status`: a SubscriptionStatus Parameters "
    "(backport-subscription-status-r4) of type `query-status` with the subscription's status "
    "and the number of events sent since it started. Another partner's is a 404.",
    response_class=JSONResponse,
    responses=fhir_ok("The SubscriptionStatus Parameters.") | fhir_errors(404, 422),
    dependencies=[
        Depends(require_scope("Subscription", "read")),
        *fhir_security("Subscription", "read"),
    ],
)
def subscription_status(subscription_id: str, request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    with core.sessions.begin() as session:
        row = session.get(SubscriptionRow, subscription_id)
        if row is None or row.submitter_id != submitter_of(request):
            return refuse(404, "not-found", f"No Subscription {subscription_id}")
        current = _with_status(row)
        return fhir(
            subscription.status_parameters(
                current, "query-status", row.events_sent or 0, base_url=base_url(request)
            )
        )


@router.put(
    "/Subscription/{subscription_id}",
    summary="Update one of the partner's subscriptions",
    description="Replaces the Subscription (same rules as create). Only the system that "
    "created it may change it (PAS spec-59): another partner's is a 403. A new endpoint gets "
    "a new handshake and is `requested` until it answers; `status: off` turns it off.",
    response_class=JSONResponse,
    responses=fhir_ok("The stored Subscription.") | fhir_errors(400, 404, 408, 413, 415, 422),
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
async def update_subscription(subscription_id: str, request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    resource = await _bundle(request)
    if isinstance(resource, JSONResponse):
        return resource
    with core.sessions() as session:
        existing = session.get(SubscriptionRow, subscription_id)
        owner = existing.submitter_id if existing is not None else None
        old_endpoint = existing.endpoint if existing is not None else None
    refusal = _not_the_creator(subscription_id, existing is not None, owner, request)
    if refusal is not None:
        return refusal
    if resource.get("id") not in (None, subscription_id):
        return refuse(
            400,
            "invariant",
            f"Subscription.id {resource.get('id')} differs from the id in the URL",
            "Subscription.id",
        )
    issues = await run_in_threadpool(subscription.validate_subscription, resource)
    if outcome.has_errors(issues):
        return fhir(outcome.operation_outcome(issues), outcome.http_status(issues))
    resource, dropped = subscription.without_forbidden_headers(resource)
    info = subscription.parse_subscription(subscription.accepted(resource, subscription_id))
    principal = authenticated(request)
    if not (principal.local or principal.has_role("operator") or _acts_for_filter(principal, info)):
        return refuse(
            403,
            "forbidden",
            f"This client does not act for organization {info.org_identifier}",
            "Subscription.criteria",
        )
    allowed_hosts = core.settings.subscription_allowed_hosts
    issues = await run_in_threadpool(subscription.destination_issues, resource, allowed_hosts)
    if outcome.has_errors(issues):
        return fhir(outcome.operation_outcome(issues), outcome.http_status(issues))
    if dropped:
        log.warning("subscription channel headers not kept: %s", "; ".join(dropped))
    turned_off = resource.get("status") == "off"
    new_endpoint = info.endpoint != old_endpoint
    with core.sessions.begin() as session:
        row = session.get(SubscriptionRow, subscription_id)
        if row is None:
            return refuse(404, "not-found", f"No Subscription {subscription_id}")
        current = _with_status(row)["status"]
        if turned_off:
            status = "off"
        elif new_endpoint or current in ("off", "error"):
            status = "requested"
        else:
            status = current
        stored = subscription.accepted(resource, subscription_id, status)
        row.resource = stored
        row.org_identifier = info.org_identifier
        row.endpoint = info.endpoint
        row.status = status  # a new handshake's job makes it active or error again
        if status == "requested":
            handshake = subscription.handshake_bundle(
                stored, now=core.clock(), base_url=base_url(request)
            )
            core.enqueue(
                session,
                JobSpec(
                    "subscription",
                    handshakes.handshake_key(subscription_id, uuid.uuid4().hex),
                    {"endpoint": info.endpoint, "headers": info.headers, "body": handshake},
                ),
                case_id=None,
            )
    return fhir(stored)


@router.delete(
    "/Subscription/{subscription_id}",
    summary="Delete one of the partner's subscriptions",
    description="No more notifications go to its endpoint. Only the system that created it "
    "may delete it (PAS spec-59): another partner's is a 403, an unknown one a 404.",
    response_class=JSONResponse,
    responses=fhir_ok("An OperationOutcome saying it is deleted.") | fhir_errors(404, 422),
    dependencies=[
        Depends(require_scope("Subscription", "write")),
        *fhir_security("Subscription", "write"),
    ],
)
def delete_subscription(subscription_id: str, request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    with core.sessions.begin() as session:
        row = session.get(SubscriptionRow, subscription_id)
        refusal = _not_the_creator(
            subscription_id, row is not None, row.submitter_id if row else None, request
        )
        if refusal is not None:
            return refusal
        session.delete(row)
    text = f"Subscription {subscription_id} deleted"
    return fhir(outcome.single("informational", text, severity="information"))


def _not_the_creator(
    subscription_id: str, exists: bool, owner: str | None, request: Request
) -> JSONResponse | None:
    """None when this caller created the subscription; else the 404 (none) or the 403 (another
    system's: PAS spec-59, only the sending system creates or modifies its subscriptions)."""
    if not exists:
        return refuse(404, "not-found", f"No Subscription {subscription_id}")
    if owner != submitter_of(request):
        return refuse(
            403,
            "forbidden",
            "Only the system that created a subscription may change or delete it (PAS spec-59)",
            "Subscription",
        )
    return None


def _with_status(row: SubscriptionRow) -> dict[str, Any]:
    """The Subscription with its R4 status as stored: `requested` until the dispatcher delivered
    its handshake (then `active`) or gave up on it (`error`, gateway.notify.handshakes); `off`
    once the client turned it off."""
    resource = dict(row.resource)
    off = row.status == "off" or resource.get("status") == "off"
    resource["status"] = "off" if off else row.status
    return resource
