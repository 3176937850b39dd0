"""What a PAS response must echo from its request, captured at read time.

The writer answers from the Case alone when the request bundle is no longer at hand (a pended
case decided later and announced by subscription), so Case.submission.echo keeps: the request's
Bundle id and identifier, the Claim's fullUrl, id, identifiers and type, the fullUrl, id and
identifiers of every entry, the patient / insurer / requestor fullUrls with those resources (and
whatever they reference) as sent, and per item its sequence, trace numbers, product, quantity,
dates, place of service and update flags. Inferno checks that echoed resources keep the same
fullUrl and identifiers and that every item.sequence comes back.
"""

from __future__ import annotations

from typing import Any

from gateway.fhir import constants as k
from gateway.fhir.bundle import BundleIndex, Entry
from gateway.fhir.elements import cancelled, ext, items
from gateway.fhir.outcome import Issue, warning

Resource = dict[str, Any]


def build_echo(
    bundle: Resource,
    index: BundleIndex,
    claim_entry: Entry,
    operation: str,
    transmission: dict[str, Any] | None = None,
) -> dict[str, Any]:
    claim = claim_entry.resource
    targets = {
        name: index.resolve(claim.get(name), claim_entry)
        for name in ("patient", "insurer", "provider")
    }
    auth = ext(claim, k.EXT_AUTHORIZATION_NUMBER) or {}
    return {
        "operation": operation,
        "bundle": {"id": bundle.get("id"), "identifier": bundle.get("identifier")},
        "claim": {
            "fullUrl": claim_entry.full_url,
            "id": claim.get("id"),
            "identifier": claim.get("identifier"),
            "type": claim.get("type"),
            "authorizationNumber": auth.get("valueString"),
        },
        "entries": [
            {
                "fullUrl": e.full_url,
                "resourceType": e.resource_type,
                "id": e.id,
                "identifier": e.resource.get("identifier"),
            }
            for e in index.entries
        ],
        "patient": targets["patient"].full_url if targets["patient"] else None,
        "insurer": targets["insurer"].full_url if targets["insurer"] else None,
        "requestor": targets["provider"].full_url if targets["provider"] else None,
        "resources": closure(index, [t for t in targets.values() if t]),
        "items": [_item(item, position) for position, item in enumerate(items(claim))],
        "transmission": transmission or None,
        "related": [r for r in claim.get("related") or [] if isinstance(r, dict)],
    }


def _item(item: Resource, position: int) -> dict[str, Any]:
    info = ext(item, k.EXT_INFO_CHANGED) or {}
    return {
        "index": position,
        "sequence": item.get("sequence"),
        "traceNumbers": [
            e["valueIdentifier"]
            for e in item.get("extension") or []
            if isinstance(e, dict)
            and e.get("url") == k.EXT_ITEM_TRACE_NUMBER
            and isinstance(e.get("valueIdentifier"), dict)
        ],
        "productOrService": item.get("productOrService"),
        "modifier": item.get("modifier"),
        "quantity": item.get("quantity"),
        "servicedDate": item.get("servicedDate"),
        "servicedPeriod": item.get("servicedPeriod"),
        "location": item.get("locationCodeableConcept"),
        "cancelled": cancelled(item),
        "infoChanged": info.get("valueCode"),
    }


def closure(index: BundleIndex, roots: list[Entry]) -> list[dict[str, Any]]:
    """The echoed resources and everything they reference in the bundle (Claims excluded), so
    a response bundle built from them resolves every reference it carries."""
    seen: dict[int, Entry] = {}
    queue = list(roots)
    while queue:
        entry = queue.pop(0)
        if entry.index in seen or entry.resource_type == "Claim":
            continue
        seen[entry.index] = entry
        for _, ref in index.references(entry):
            target = index.resolve(ref, entry)
            if target is not None:
                queue.append(target)
    return [
        {"fullUrl": e.full_url, "resource": e.resource}
        for e in sorted(seen.values(), key=lambda e: e.index)
    ]


def echo_issues(entries: list[Resource], skip: set[str]) -> list[Issue]:
    """What is wrong with the resources a response echoes from its request (issue 14 item 17):
    they go back as sent (Inferno compares them), so their faults are reported beside them
    instead of passing as valid. `entries` are the response Bundle's, `skip` the fullUrls of
    what the gateway made itself. Expressions point into the response Bundle.

    us-core-16 (US Core Organization, which profile-insurer and profile-requestor build on):
    an NPI is 10 digits; the same rule is applied to any echoed resource's NPI."""
    issues: list[Issue] = []
    for position, entry in enumerate(entries):
        resource = entry.get("resource")
        if entry.get("fullUrl") in skip or not isinstance(resource, dict):
            continue
        for number, identifier in enumerate(resource.get("identifier") or []):
            if not isinstance(identifier, dict) or identifier.get("system") != k.CS_NPI:
                continue
            value = str(identifier.get("value") or "")
            if len(value) == 10 and value.isdigit():
                continue
            rule = "us-core-16" if resource.get("resourceType") == "Organization" else "NPI"
            name = f"{resource.get('resourceType')}/{resource.get('id')}"
            issues.append(
                warning(
                    "invariant",
                    f"{rule}: the NPI {value!r} of the echoed {name} is not 10 digits; it is "
                    "echoed as the request sent it, not as a valid identifier",
                    f"Bundle.entry[{position}].resource.identifier[{number}]",
                )
            )
    return issues
