"""A hold's request for information as PAS CommunicationRequests (profile-communicationrequest).

A held case (X12 HCR01 A4 with missing clinical facts or documents) answers with what is
missing in a form a system can act on, not only as processNote text: one CommunicationRequest
per missing item, referenced from ClaimResponse.communicationRequest (must-support) and carried
as entries of the response Bundle. The profile allows one payload each, so one item a request.
The X12 side of the same request is the 278's HCR03 0U and its MSG text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gateway.domain.case import Case, Determination
from gateway.fhir import constants as k

Resource = dict[str, Any]
PROFILE_COMMUNICATION_REQUEST = f"{k.SD}profile-communicationrequest"
INFORMATION_REQUEST_SYSTEM = "https://pa-gateway.example.org/fhir/sid/information-request"
# X12 755 report type (PWK01 in a 278 response's 2000E): a physician's report answers the
# pathway's clinical questions; X12 756 EL: send it electronically (PAS attachments or a 275).
REPORT_TYPE = ("PY", "Physician's Report")
MEDIUM = ("EL", "Electronically Only")


def _coded(system: str, code: str, display: str) -> Resource:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def describe(missing: str) -> str:
    """A missing fact in words with its key (her2_status -> her2 status (her2_status)), so a
    person reads it and a system matches it to the fact it sends back."""
    words = missing.replace("_", " ").strip()
    return words if words == missing else f"{words} ({missing})"


def _instant(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


def information_requests(
    case: Case,
    determination: Determination,
    parties: dict[str, Any],
    base: str,
) -> list[tuple[str, Resource]]:
    """(fullUrl, CommunicationRequest) for each item a held determination asks for; none when
    nothing is missing. fullUrls are on the gateway's own base: the gateway creates them."""
    if determination.rejection is not None or not determination.missing_facts:
        return []
    case_key = case.id or "case"
    due = determination.hold_due
    out: list[tuple[str, Resource]] = []
    for number, missing in enumerate(determination.missing_facts, start=1):
        resource_id = f"{case_key}-info-{number}"
        resource: Resource = {
            "resourceType": "CommunicationRequest",
            "id": resource_id,
            "meta": {"profile": [PROFILE_COMMUNICATION_REQUEST]},
            "identifier": [{"system": INFORMATION_REQUEST_SYSTEM, "value": resource_id}],
            "status": "active",
            "category": [_coded(k.CS_X12_755, *REPORT_TYPE)],
            "medium": [_coded(k.CS_X12_756, *MEDIUM)],
            "payload": [{"contentString": describe(missing)}],
            "authoredOn": _instant(determination.decided_at),
        }
        if parties.get("patient"):
            resource["subject"] = {"reference": parties["patient"]}
        if due is not None:
            # When the information must arrive: after it the case is decided on the original
            # submission (DOMAIN.md, holds).
            resource["occurrencePeriod"] = {"end": _instant(due)}
        if parties.get("insurer"):
            resource["requester"] = {"reference": parties["insurer"]}
            resource["recipient"] = [{"reference": parties["insurer"]}]
        if parties.get("requestor"):
            resource["sender"] = {"reference": parties["requestor"]}
        out.append((f"{base.rstrip('/')}/CommunicationRequest/{resource_id}", resource))
    return out
