"""(Case, Determination, request) -> PAS response Bundle, built directly as JSON-ready dicts.

Shape (profile-pas-response-bundle, profile-claimresponse): ClaimResponse first, then the
request's patient, insurer and requestor (and what they reference) echoed with the same fullUrl,
id and identifiers, which is what Inferno compares. ClaimResponse.identifier carries the
gateway's case id, then the Claim's identifiers (the IG examples echo the trace number there);
ClaimResponse.request names the Claim by its fullUrl and identifier. Item detail comes from
gateway.fhir.adjudication. Dicts are built directly for speed (DESIGN.md decision 3); the tests
check them with the R4B models and the profile rules.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from gateway.domain.case import Case, Determination
from gateway.fhir import adjudication as adj
from gateway.fhir import constants as k
from gateway.fhir.bundle import BundleIndex
from gateway.fhir.echo import build_echo, echo_issues
from gateway.fhir.information import information_requests
from gateway.fhir.outcome import Issue, operation_outcome

Resource = dict[str, Any]
# Determination.decided_by values that are no reviewer: the gateway's rules, the requester.
NOT_REVIEWERS = frozenset({"gateway", "requester"})


def instant(moment: datetime) -> str:
    """A FHIR instant/dateTime; a naive datetime is taken as UTC (instants need a zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="seconds")


def echo_of(
    case: Case, request: Resource | None, read: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The echo detail: rebuilt from the request when given, else the one the reader stored.

    `read` is the echo the reader built from this same `request` (Case.submission.echo of the
    case read from it): taken instead of a second walk of the bundle when its operation is the
    one answered. It was built with the Claim's transmission ids, which a rebuilt echo leaves
    out (the $submit answer swaps none), so they are left out of it too."""
    operation = (case.submission.echo or {}).get("operation", "submit")
    if request and read and read.get("operation") == operation:
        return {**read, "transmission": None}
    if request:
        index = BundleIndex(request)
        claim = next((e for e in index.entries if e.resource_type == "Claim"), None)
        if claim is not None:
            return build_echo(request, index, claim, operation)
    return case.submission.echo or {}


def new_url(resource_type: str, resource_id: str, base: str = k.GATEWAY_BASE) -> tuple[str, str]:
    """fullUrl and id of a resource the gateway creates: a RESTful URL on the gateway's own base
    (GATEWAY_FHIR_BASE_URL), never the EHR's (issue 14 item 18: a fullUrl on the requester's
    base claims the resource lives on the requester's server)."""
    safe = re.sub(r"[^A-Za-z0-9\-.]", "-", resource_id)[:64]
    return f"{base.rstrip('/')}/{resource_type}/{safe}", safe


def _reference(full_url: str | None, identifier: Resource | None) -> Resource:
    out: Resource = {}
    if full_url:
        out["reference"] = full_url
    if identifier and identifier.get("value"):
        out["identifier"] = {
            key: identifier[key] for key in ("system", "value") if key in identifier
        }
    return out or {"display": "unknown"}


def _party(full_url: str | None, identifier: str | None) -> Resource:
    """A reference to an echoed entry; a logical identifier only when the request had none."""
    if full_url:
        return {"reference": full_url}
    return {"identifier": {"value": identifier}} if identifier else {"display": "unknown"}


def claim_response(
    case: Case,
    determination: Determination,
    echo: dict[str, Any],
    parties: dict[str, Any] | None = None,
    profile: str = k.PROFILE_CLAIMRESPONSE,
    base: str = k.GATEWAY_BASE,
) -> tuple[str, Resource]:
    """(fullUrl, ClaimResponse) for a decided case. `echo` gives the items and the Claim;
    `parties` (default: the same echo) gives the patient/insurer/requestor fullUrls to point
    at, which differ when answering an inquiry bundle about an earlier submission."""
    parties = parties or echo
    case_id = case.id or str(uuid.uuid4())
    full_url, resource_id = new_url("ClaimResponse", case_id, base)
    notes = adj.Notes()
    notes.add(determination.reason.text)
    issued = determination.decided_at.date()
    items, added = adj.items(case, determination, echo, notes, issued)
    if determination.rejection is not None:
        items, added = [], []  # an AAA rejection answers with errors, not review actions
    notes.add(determination.rationale)
    if determination.missing_facts:
        due = f" by {determination.hold_due.date().isoformat()}" if determination.hold_due else ""
        notes.add(f"Clinical information needed{due}: {', '.join(determination.missing_facts)}")

    claim = echo.get("claim") or {}
    identifiers: list[Resource] = [{"system": k.CASE_ID_SYSTEM, "value": case_id}]
    identifiers += [i for i in claim.get("identifier") or [] if isinstance(i, dict)]
    resource: Resource = {
        "resourceType": "ClaimResponse",
        "id": resource_id,
        "meta": {"profile": [profile]},
        "extension": _extensions(determination, echo),
        "identifier": identifiers,
        "status": "active",
        "type": claim.get("type") or adj.cc(k.CS_CLAIM_TYPE, "professional"),
        "use": "preauthorization",
        "patient": _party(parties.get("patient"), case.member.member_id),
        "created": instant(determination.decided_at),
        "insurer": _party(parties.get("insurer"), case.payer_id),
    }
    if parties.get("requestor"):
        resource["requestor"] = {"reference": parties["requestor"]}
    first_id = next(iter(claim.get("identifier") or []), None)
    resource["request"] = _reference(claim.get("fullUrl"), first_id)
    resource["outcome"] = adj.outcome(determination, items)
    resource["disposition"] = determination.reason.text
    if determination.auth_number and determination.review_action in adj.APPROVALS:
        resource["preAuthRef"] = determination.auth_number
        granted = adj.period(determination.period_start, determination.period_end)
        if granted:
            resource["preAuthPeriod"] = granted
    if items:
        resource["item"] = items
    if added:
        resource["addItem"] = added
    resource["processNote"] = notes.notes
    asked = information_requests(case, determination, parties, base)
    if asked:
        # A hold names what is missing machine-readably too (issue 14 item 12).
        resource["communicationRequest"] = [{"reference": url} for url, _ in asked]
    errors = adj.errors(determination, echo)
    if errors:
        resource["error"] = errors
    if not resource["extension"]:
        del resource["extension"]
    return full_url, resource


def _extensions(determination: Determination, echo: dict[str, Any]) -> list[Resource]:
    out: list[Resource] = []
    sent = echo.get("transmission") or {}
    if sent:
        # The answer travels the other way: sender and receiver codes swap (IG error example).
        swap = {
            "applicationSenderCode": "applicationReceiverCode",
            "applicationReceiverCode": "applicationSenderCode",
            "interchangeSenderID": "interchangeReceiverID",
            "interchangeReceiverID": "interchangeSenderID",
        }
        parts = [
            {"url": swap[key], "valueString": value}
            for key, value in sent.items()
            if key in swap and isinstance(value, str)
        ]
        if parts:
            out.append({"url": k.EXT_TRANSMISSION_IDS, "extension": parts})
    # A person reviewed only when a reviewer decided: neither the gateway's rules nor a
    # requester's own cancellation (decided_by "requester") is a human review (issue 14 item 16).
    human = determination.decided_by not in NOT_REVIEWERS
    out.append(
        {
            "url": k.EXT_REVIEWER,
            "extension": [{"url": "wasHumanReviewedFlag", "valueBoolean": human}],
        }
    )
    return out


def _bundle(
    profile: str, identifier: Resource | None, entries: list[Resource], now: datetime
) -> Resource:
    out: Resource = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [profile]},
    }
    if identifier:
        out["identifier"] = identifier
    out.update({"type": "collection", "timestamp": instant(now), "entry": entries})
    return out


def _echo_report(
    entries: list[Resource], key: str, base: str, made: int | None = None
) -> list[Resource]:
    """An OperationOutcome entry naming what is wrong with the echoed resources, if anything
    (the response Bundle's entry slicing is open). `made`: how many leading entries the gateway
    created (default: those on its own base)."""
    created = (
        {e["fullUrl"] for e in entries[:made]}
        if made is not None
        else {e["fullUrl"] for e in entries if str(e.get("fullUrl", "")).startswith(base)}
    )
    issues = echo_issues(entries, created)
    if not issues:
        return []
    full_url, resource_id = new_url("OperationOutcome", f"{key}-echo", base)
    return [{"fullUrl": full_url, "resource": operation_outcome(issues, resource_id)}]


def _information_entries(
    case: Case, determination: Determination, parties: dict[str, Any], base: str
) -> list[Resource]:
    return [
        {"fullUrl": url, "resource": resource}
        for url, resource in information_requests(case, determination, parties, base)
    ]


def _echoed_entries(echo: dict[str, Any], skip: set[str]) -> list[Resource]:
    entries = []
    for item in echo.get("resources") or []:
        url = item.get("fullUrl")
        if url and url not in skip:
            skip.add(url)
            entries.append({"fullUrl": url, "resource": item["resource"]})
    return entries


def response_bundle(
    case: Case,
    determination: Determination,
    request: Resource | None = None,
    now: datetime | None = None,
    base: str = k.GATEWAY_BASE,
    bundle_id: str | None = None,
    read_echo: dict[str, Any] | None = None,
) -> Resource:
    """The PAS $submit response Bundle (profile-pas-response-bundle) for a decided case.

    `request` is the original request bundle when at hand; without it the echo the reader kept
    in Case.submission.echo is used (a pended case decided later, sent by subscription).
    `read_echo`: the echo the reader already built from `request` (see echo_of).
    """
    moment = now or datetime.now(UTC)
    echo = echo_of(case, request, read_echo)
    full_url, resource = claim_response(case, determination, echo, base=base)
    entries = [{"fullUrl": full_url, "resource": resource}]
    entries += _information_entries(case, determination, echo, base)
    entries += _echoed_entries(echo, {full_url})
    identifier = (echo.get("bundle") or {}).get("identifier")
    if not identifier:
        identifier = {"system": f"{k.GATEWAY_BASE}/sid/response", "value": str(uuid.uuid4())}
    entries += _echo_report(entries, case.id or resource["id"], base)
    out = _bundle(k.PROFILE_RESPONSE_BUNDLE, identifier, entries, moment)
    if bundle_id:
        out["id"] = bundle_id
    return out


def inquiry_response_bundle(
    inquiry: Case,
    matches: list[tuple[Case, Determination]],
    inquiry_request: Resource | None = None,
    now: datetime | None = None,
    base: str = k.GATEWAY_BASE,
) -> Resource:
    """The $inquire response (profile-pas-inquiry-response-bundle): one ClaimResponse per
    matched case (items from that case's own submission), pointing at the patient, insurer and
    requestor of the inquiry bundle, which are echoed after them. Raises ValueError without a
    match: the bundle's first entry must be a ClaimResponse, so answer not-found instead."""
    if not matches:
        raise ValueError("No matching case: answer $inquire with a not-found OperationOutcome")
    moment = now or datetime.now(UTC)
    parties = echo_of(inquiry, inquiry_request)
    entries: list[Resource] = []
    for case, determination in matches:
        full_url, resource = claim_response(
            case,
            determination,
            case.submission.echo or {},
            parties=parties,
            profile=k.PROFILE_CLAIMINQUIRYRESPONSE,
            base=base,
        )
        entries.append({"fullUrl": full_url, "resource": resource})
        entries += _information_entries(case, determination, parties, base)
    made = len(entries)
    entries += _echoed_entries(parties, {e["fullUrl"] for e in entries})
    entries += _echo_report(entries, f"inquiry-{entries[0]['resource']['id']}", base, made)
    identifier = (parties.get("bundle") or {}).get("identifier")
    return _bundle(k.PROFILE_INQUIRY_RESPONSE_BUNDLE, identifier, entries, moment)


def inquiry_parameters(*bundles: Resource, outcome_issues: list[Issue] | None = None) -> Resource:
    """$inquire's output as Parameters: one `return` per Bundle (OperationDefinition
    Claim-inquiry declares `return` 0..*, so the result is wrapped rather than bare; none is
    an empty Parameters). Warnings (results withheld, PAS spec-50) travel as an `outcome`
    OperationOutcome after them."""
    parameters: list[Resource] = [{"name": "return", "resource": bundle} for bundle in bundles]
    if outcome_issues:
        parameters.append({"name": "outcome", "resource": operation_outcome(outcome_issues)})
    out: Resource = {"resourceType": "Parameters"}
    if parameters:
        out["parameter"] = parameters  # FHIR arrays are never empty
    return out
