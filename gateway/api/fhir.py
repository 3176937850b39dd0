"""The PAS channel over HTTP: $submit, $inquire, metadata, questionnaires, subscriptions.

Thin: parse, check the PAS profile rules, call the core, render. Every refusal is an
OperationOutcome with a 4xx status, never a traceback.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

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
from gateway.core import Core, InvalidTransition
from gateway.domain.case import Case, CaseStatus, Determination
from gateway.fhir import capability, outcome, profile, questionnaire, reader, subscription, writer
from gateway.fhir.attachments import check_attachments, refusal_status
from gateway.fhir.body import BodyRefused, read_json
from gateway.fhir.inquiry import InquiryQuery, read_inquiry
from gateway.identity import RequestConflict
from gateway.notify.jobs import JobSpec
from gateway.partners.isolation import partner_principal
from gateway.store.models import SubscriptionRow

router = APIRouter(prefix="/fhir", tags=["fhir"])
log = logging.getLogger("gateway.fhir")

FHIR_JSON = "application/fhir+json"


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


@router.get("/metadata")
def metadata(request: Request) -> JSONResponse:
    return fhir(capability.capability_statement(base_url=base_url(request)))


@router.get("/Questionnaire/{questionnaire_id}")
def get_questionnaire(questionnaire_id: str, request: Request) -> JSONResponse:
    found = questionnaire.questionnaire(questionnaire_id, base_url(request))
    if found is None:
        known = ", ".join(questionnaire.QUESTIONNAIRE_IDS)
        return refuse(404, "not-found", f"No Questionnaire {questionnaire_id} (have: {known})")
    return fhir(found)


@router.post("/Claim/$submit", dependencies=[Depends(require_scope("Claim", "write"))])
async def submit(request: Request) -> Response:
    body = await _json(request)
    if isinstance(body, JSONResponse):
        return body
    with audited(request, "pas.submit", audit.CREATE) as entry:
        answer = await run_in_threadpool(
            submit_bundle, request.app.state.core, body, submitter_id=submitter_of(request)
        )
        entry.case_ids = answer.case_ids
    return answer.response()


@dataclass
class PasAnswer:
    """What $submit answers: a response Bundle (200) or an OperationOutcome (4xx)."""

    status: int
    body: dict[str, Any] | str  # a resource, or the stored response's JSON text
    case_ids: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_outcome(self) -> bool:
        return self.status >= 400

    def resource(self) -> dict[str, Any]:
        return json.loads(self.body) if isinstance(self.body, str) else self.body

    def response(self) -> Response:
        if isinstance(self.body, str):
            return Response(
                self.body, status_code=self.status, media_type=FHIR_JSON, headers=self.headers
            )
        return fhir(self.body, self.status)


def _refused(status: int, code: str, text: str, *expression: str) -> PasAnswer:
    return PasAnswer(status, outcome.operation_outcome([outcome.error(code, text, *expression)]))


def submit_bundle(core: Core, body: Any, *, submitter_id: str | None) -> PasAnswer:
    """Claim/$submit on a parsed JSON body (a Bundle, or Parameters holding one): profile
    rules, read, review and store, render. The HTTP route and `gateway submit` both call it."""
    body = reader.unwrap_parameters(body)
    if not isinstance(body, dict):
        return _refused(400, "structure", "The body is not a FHIR resource", "Bundle")
    # The program's attachment limits first: a 413 that names the attachment (issue 18).
    too_much = check_attachments(body)
    if too_much:
        return PasAnswer(refusal_status(too_much), outcome.operation_outcome(too_much))
    issues = profile.validate_request(body, "submit")
    if outcome.has_errors(issues):
        return PasAnswer(outcome.http_status(issues), outcome.operation_outcome(issues))
    now = core.clock()
    try:
        case = reader.read_case(body, received_at=now, submitter_id=submitter_id)
    except reader.PasReadError as exc:
        return _refused(400, "required", str(exc), "Bundle.entry")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # A shape the profile rules let through but that cannot be mapped to a case (a value
        # of the wrong kind where the case needs one): refused, named, never a 500.
        return _refused(
            400,
            "structure",
            f"The request cannot be read into a case: {type(exc).__name__}",
            "Bundle.entry[0].resource",
        )

    if case.prior_case_id:
        prior = core.find_by_claim(case.submission.submitter_id, case.prior_case_id)
        if prior is not None:
            return _update(core, prior, case, body)
        # A related claim this gateway never saw (another payer's, or sent before go-live):
        # the bundle is a new request, not an update of anything here.
        case.prior_case_id = None
    submitter = case.submission.submitter_id or ""
    replay_key = (
        f"pas:{submitter}:{case.submission.bundle_identifier}:{case.submission.content_hash}"
    )

    def render(stored: Case, determination: Determination) -> str:
        return json.dumps(writer.response_bundle(stored, determination, request=body, now=now))

    try:
        result = core.submit(case, actor=f"pas:{submitter}", replay_key=replay_key, render=render)
    except RequestConflict as exc:
        # The same Claim.identifier with other content is never a second case (issue 18): a
        # change is a PASClaimUpdate (Claim.related), a new request has its own identifier.
        return _refused(
            409,
            "duplicate",
            f"Claim.identifier {exc.identifier} was already submitted with other content "
            f"(case {exc.case_id}); send a change as a claim update (Claim.related naming "
            "the prior claim) or a new request under a new Claim.identifier",
            "Bundle.entry[0].resource.identifier",
        )
    return PasAnswer(
        200,
        result.response or "",
        [result.case.id] if result.case.id else [],
        {"X-Case-Ids": result.case.id or ""},
    )


def _update(core: Core, prior: str, case: Case, body: dict[str, Any]) -> PasAnswer:
    """A PASClaimUpdate: related.claim names the prior Claim; re-review and answer every item."""
    try:
        stored = core.update_case(prior, case, actor=f"pas:{case.submission.submitter_id}")
    except InvalidTransition as exc:
        return _refused(422, "business-rule", str(exc), "Claim.related")
    assert stored.determination is not None
    bundle = writer.response_bundle(stored.case, stored.determination, request=body)
    return PasAnswer(200, bundle, [prior])


@router.post("/Claim/$inquire", dependencies=[Depends(require_scope("Claim", "read"))])
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


@router.post("/Subscription", dependencies=[Depends(require_scope("Subscription", "write"))])
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
    "/Subscription/{subscription_id}", dependencies=[Depends(require_scope("Subscription", "read"))]
)
def get_subscription(subscription_id: str, request: Request) -> JSONResponse:
    core: Core = request.app.state.core
    with core.sessions() as session:
        row = session.get(SubscriptionRow, subscription_id)
        if row is None or row.submitter_id != submitter_of(request):
            return refuse(404, "not-found", f"No Subscription {subscription_id}")
        return fhir(row.resource)


class SubscriptionNotifier:
    """Job planner: when a pended or held case is decided, each matching subscriber of the
    system that sent the request gets a notification carrying the full PAS response bundle."""

    def __init__(self, base: str):
        self.base = base

    def __call__(
        self,
        session: Session,
        case: Case,
        determination: Determination,
        previous_status: str | None,
    ) -> list[JobSpec]:
        pending = (CaseStatus.PENDED.value, CaseStatus.HELD.value)
        if previous_status not in pending or determination.status.value in pending:
            return []
        rows = session.execute(
            select(SubscriptionRow).where(SubscriptionRow.status == "active")
        ).scalars()
        jobs = []
        for row in rows:
            info = subscription.parse_subscription(row.resource)
            if row.submitter_id != case.submission.submitter_id:
                continue  # only the system that sent the request hears of its cases
            subscriber = partner_principal(session, row.submitter_id)
            if subscriber is None or not can_read(subscriber, case):
                continue  # the one isolation check: a disabled partner hears of nothing
            if not subscription.matches(info, case):
                continue
            row.events_sent += 1
            response = writer.response_bundle(case, determination)
            body = subscription.notification_bundle(
                row.resource, response, row.events_sent, base_url=self.base
            )
            key = f"subscription:{row.id}:{case.id}:{determination.decided_at.isoformat()}"
            jobs.append(
                JobSpec(
                    "subscription",
                    key,
                    {"endpoint": info.endpoint, "headers": info.headers, "body": body},
                )
            )
        return jobs
