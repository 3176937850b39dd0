"""PAS 2.2.1 profile rules fhir.resources does not check, and R4B structure validation (that
one is gateway.fhir.structure's, kept importable from here).

fhir.resources.R4B checks datatypes and R4 cardinalities only (DESIGN.md decision 3). The rules
here come from the IG's StructureDefinitions: profile-pas-request-bundle and
profile-pas-inquiry-request-bundle (type collection, identifier, timestamp, fullUrl on every
entry, no request/response/search, Claim first), profile-claim / profile-claim-update /
profile-claim-inquiry (identifier, use, insurer, required item extensions, careTeam scope,
supportingInfo slices), profile-pas-response-bundle (ClaimResponse first) and the Inferno PAS
test kit's bundle checks (every resource the Claim reaches is in the bundle exactly once,
supportingInfo sequences unique, echoed resources keep their fullUrl and identifiers).

Every issue names a FHIRPath such as `Bundle.entry[0].resource.careTeam[0].provider`.
"""

from __future__ import annotations

from typing import Any, Literal

from gateway.fhir import constants as k
from gateway.fhir.bundle import BundleIndex, Entry
from gateway.fhir.outcome import Issue, error, has_errors, warning
from gateway.fhir.structure import check_structure

Operation = Literal["submit", "inquire"]
__all__ = ["check_request", "check_response", "check_structure", "validate_request"]


# -- shared bundle rules --------------------------------------------------------------------


def _bundle_shell(bundle: Any, identifier_required: bool) -> list[Issue]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        return [Issue("fatal", "structure", "The body must be a FHIR Bundle", ["Bundle"])]
    issues: list[Issue] = []
    if bundle.get("type") != "collection":
        issues.append(error("value", "PAS bundles have type 'collection'", "Bundle.type"))
    ident = bundle.get("identifier")
    if identifier_required and not (isinstance(ident, dict) and ident.get("value")):
        issues.append(
            error("required", "Bundle.identifier (with a value) is required", "Bundle.identifier")
        )
    if not bundle.get("timestamp"):
        issues.append(error("required", "Bundle.timestamp is required", "Bundle.timestamp"))
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        issues.append(error("required", "The bundle has no entries", "Bundle.entry"))
        return issues
    seen: dict[str, int] = {}
    for index, item in enumerate(entries):
        path = f"Bundle.entry[{index}]"
        if not isinstance(item, dict):
            issues.append(error("structure", "Bundle entry is not an object", path))
            continue
        for prohibited in ("request", "response", "search"):
            if prohibited in item:
                issues.append(
                    error("structure", f"entry.{prohibited} is not allowed", f"{path}.{prohibited}")
                )
        if not isinstance(item.get("resource"), dict):
            issues.append(error("required", "entry.resource is required", f"{path}.resource"))
        full_url = item.get("fullUrl")
        if not isinstance(full_url, str) or not full_url:
            issues.append(error("required", "entry.fullUrl is required", f"{path}.fullUrl"))
            continue
        if full_url in seen:
            issues.append(
                error(
                    "duplicate",
                    f"fullUrl {full_url} repeats entry[{seen[full_url]}]",
                    f"{path}.fullUrl",
                )
            )
        seen.setdefault(full_url, index)
        issues.extend(_full_url_agrees(full_url, item.get("resource"), path))
    return issues


def _full_url_agrees(full_url: str, resource: Any, path: str) -> list[Issue]:
    """R4 bundle.html: a RESTful fullUrl SHALL NOT disagree with the resource's type and id."""
    if not isinstance(resource, dict) or not full_url.startswith(("http://", "https://")):
        return []
    rtype, rid = resource.get("resourceType"), resource.get("id")
    tail = full_url.split("/_history/", 1)[0].rstrip("/").split("/")
    if len(tail) >= 2 and tail[-2] == rtype and rid and tail[-1] != rid:
        return [
            error("invariant", f"fullUrl {full_url} disagrees with id {rid!r}", f"{path}.fullUrl")
        ]
    return []


def _check_references(index: BundleIndex, root: Entry, strict: bool) -> list[Issue]:
    """Everything the root resource reaches must be in the bundle exactly once.

    A reference that does not resolve is an error when `strict` ($submit: the bundle carries
    the Claim and every resource it references, all the way down, as the gateway was asked to
    hold every PAS request to); otherwise ($inquire) a warning. The IG's own surgical example
    leaves PractitionerRole.practitioner dangling and is refused for it. Claim.related of a
    prior Claim reached by reference is skipped (its own prior Claim is left out of an update
    bundle on purpose), and so is ClaimResponse.request (the response bundle need not carry the
    Claim).
    """
    issues: list[Issue] = []
    seen = {root.index}
    queue: list[tuple[Entry, int]] = [(root, 0)]
    while queue:
        entry, depth = queue.pop(0)
        for relative, target in index.references(entry):
            path = entry.path + relative
            if entry.resource_type == "ClaimResponse" and relative == ".request":
                continue
            if depth > 0 and entry.resource_type == "Claim" and relative.startswith(".related["):
                continue
            if target.startswith("#"):
                continue
            found = index.matches(target, entry)
            if len(found) > 1:
                issues.append(error("duplicate", f"{target} matches {len(found)} entries", path))
            elif not found:
                where = "resource" if depth == 0 else "included resource"
                text = f"Reference {target} from the {where} is not in the bundle"
                issue = error if strict else warning
                issues.append(issue("not-found", text, path))
            elif found[0].index not in seen:
                seen.add(found[0].index)
                queue.append((found[0], depth + 1))
    return issues


# -- request rules --------------------------------------------------------------------------


def check_request(
    bundle: Any, operation: Operation = "submit", index: BundleIndex | None = None
) -> list[Issue]:
    """PAS request bundle rules for $submit (default) or $inquire, as a list of issues.
    `index`: the bundle's, when the caller has it."""
    issues = _bundle_shell(bundle, identifier_required=True)
    if any(issue.severity == "fatal" for issue in issues) or not isinstance(bundle, dict):
        return issues
    index = index or BundleIndex(bundle)
    first = index.first
    if first is None:
        return issues
    if first.resource_type != "Claim":
        issues.append(
            error("invariant", "The first entry must be the Claim (ClaimFirst)", first.path)
        )
        return issues
    claims = index.of_type("Claim")
    limit = 2 if operation == "submit" else 1
    if len(claims) > limit:
        text = f"A {operation} bundle carries at most {limit} Claim(s), found {len(claims)}"
        issues.append(error("invariant", text, "Bundle.entry"))
    for claim in claims if operation == "submit" else [first]:
        issues.extend(_check_claim(claim, operation))
    # An inquiry's Claim is a query by example: what it names need not all be in the bundle.
    issues.extend(_check_references(index, first, strict=operation == "submit"))
    return issues


def _ext_urls(element: dict[str, Any], key: str = "extension") -> set[str]:
    return {e.get("url") for e in element.get(key) or [] if isinstance(e, dict)}


def _category_codes(element: dict[str, Any]) -> set[str]:
    codings = (element.get("category") or {}).get("coding") or []
    return {c.get("code") for c in codings if isinstance(c, dict)}


def _check_claim(entry: Entry, operation: Operation) -> list[Issue]:
    claim, path = entry.resource, entry.path
    issues: list[Issue] = []
    if not claim.get("identifier"):
        issues.append(error("required", "Claim.identifier is required", f"{path}.identifier"))
    if claim.get("use") != "preauthorization":
        issues.append(error("value", "Claim.use must be 'preauthorization'", f"{path}.use"))
    if claim.get("status") != "active":
        issues.append(error("value", "Claim.status must be 'active'", f"{path}.status"))
    for name in ("patient", "insurer", "provider"):
        if not isinstance(claim.get(name), dict):
            issues.append(error("required", f"Claim.{name} is required", f"{path}.{name}"))
    sequences: dict[str, set[int]] = {}
    for name in ("careTeam", "diagnosis", "supportingInfo"):
        sequences[name], dup = _sequences(claim.get(name))
        for position in dup:
            severity = error if name == "supportingInfo" else warning
            text = f"{name}.sequence repeats an earlier sequence"
            issues.append(severity("duplicate", text, f"{path}.{name}[{position}].sequence"))
    for position, member in enumerate(_list(claim.get("careTeam"))):
        if k.EXT_CARE_TEAM_SCOPE not in _ext_urls(member):
            text = "careTeam needs the careTeamClaimScope extension"
            issues.append(error("required", text, f"{path}.careTeam[{position}].extension"))
    for position, info in enumerate(_list(claim.get("supportingInfo"))):
        issues.extend(_check_supporting_info(info, f"{path}.supportingInfo[{position}]"))
    issues.extend(_check_items(claim, path, operation, sequences))
    return issues


def _check_supporting_info(info: dict[str, Any], path: str) -> list[Issue]:
    codes = _category_codes(info)
    issues: list[Issue] = []
    if "additionalInformation" in codes:
        if k.EXT_DOCUMENT_INFORMATION not in _ext_urls(info):
            text = "additionalInformation needs the documentInformation extension"
            issues.append(error("required", text, f"{path}.extension"))
        if not any(key.startswith("value") for key in info):
            issues.append(error("required", "additionalInformation needs a value", f"{path}.value"))
    if "freeFormMessage" in codes and not info.get("valueString"):
        issues.append(error("required", "freeFormMessage needs valueString", f"{path}.value"))
    return issues


def _check_items(
    claim: dict[str, Any], path: str, operation: Operation, sequences: dict[str, set[int]]
) -> list[Issue]:
    items = _list(claim.get("item"))
    issues: list[Issue] = []
    if operation == "submit" and not items:
        issues.append(error("required", "A PAS Claim has at least one item", f"{path}.item"))
    _, duplicates = _sequences(items)
    for position in duplicates:
        # A warning, not an error: Inferno's own "conformant" multi-item fixture repeats 1.
        text = "item.sequence repeats an earlier item; responses echo it by position"
        issues.append(warning("duplicate", text, f"{path}.item[{position}].sequence"))
    level_of_service = k.EXT_LEVEL_OF_SERVICE in _ext_urls(claim)
    for position, item in enumerate(items):
        where = f"{path}.item[{position}]"
        urls = _ext_urls(item)
        if operation == "submit":
            for url, name in (
                (k.EXT_REQUEST_TYPE, "requestType"),
                (k.EXT_CERTIFICATION_TYPE, "certificationType"),
            ):
                if url not in urls:
                    text = f"item needs the {name} extension ({url})"
                    issues.append(error("required", text, f"{where}.extension"))
            if not any(key.startswith("location") for key in item):
                issues.append(
                    error("required", "item.location[x] is required", f"{where}.location")
                )
            if "category" not in item:
                # PAS 2.x made category 1..1; the IG 1.1 fixtures Inferno still ships omit it.
                issues.append(warning("required", "item.category is expected", f"{where}.category"))
        for field, target in (
            ("careTeamSequence", "careTeam"),
            ("diagnosisSequence", "diagnosis"),
            ("informationSequence", "supportingInfo"),
        ):
            for number in _list(item.get(field)):
                if number not in sequences.get(target, set()):
                    text = f"{field} {number} names no {target} entry"
                    issues.append(error("invariant", text, f"{where}.{field}"))
        if _cert_type(item) == "1" and not level_of_service:
            text = "An immediate appeal (certificationType 1) needs levelOfServiceCode"
            issues.append(warning("invariant", text, f"{path}.extension"))
    return issues


def _cert_type(item: dict[str, Any]) -> str | None:
    for ext in _list(item.get("extension")):
        if ext.get("url") == k.EXT_CERTIFICATION_TYPE:
            for coding in (ext.get("valueCodeableConcept") or {}).get("coding") or []:
                return coding.get("code")
    return None


def _list(value: Any) -> list[Any]:
    return [v for v in value if isinstance(v, (dict, int))] if isinstance(value, list) else []


def _sequences(elements: Any) -> tuple[set[int], list[int]]:
    seen: set[int] = set()
    duplicates: list[int] = []
    for position, element in enumerate(_list(elements)):
        number = element.get("sequence") if isinstance(element, dict) else None
        if not isinstance(number, int):
            continue  # a non-integer sequence is a structure error, reported by check_structure
        if number in seen:
            duplicates.append(position)
        else:
            seen.add(number)
    return seen, duplicates


# -- response rules -------------------------------------------------------------------------


def check_response(
    bundle: Any, request: dict[str, Any] | None = None, operation: Operation = "submit"
) -> list[Issue]:
    """PAS response bundle rules; with `request`, also the echo of fullUrls, ids, identifiers
    and of every item.sequence (what Inferno checks on a $submit response)."""
    issues = _bundle_shell(bundle, identifier_required=operation == "submit")
    if any(issue.severity == "fatal" for issue in issues) or not isinstance(bundle, dict):
        return issues
    index = BundleIndex(bundle)
    first = index.first
    if first is None:
        return issues
    if first.resource_type != "ClaimResponse":
        issues.append(
            error(
                "invariant",
                "The first entry must be the ClaimResponse (ClaimResponseFirst)",
                first.path,
            )
        )
    responses = index.of_type("ClaimResponse")
    if operation == "submit" and len(responses) > 1:
        issues.append(
            error("invariant", "A $submit response carries one ClaimResponse", "Bundle.entry")
        )
    for entry in responses:
        issues.extend(_check_claim_response(entry))
    issues.extend(_check_references(index, first, strict=True))
    if request is not None:
        issues.extend(_check_echo(index, BundleIndex(request)))
        if first.resource_type == "ClaimResponse" and operation == "submit":
            issues.extend(_check_sequences_echoed(first, BundleIndex(request)))
    return issues


def _check_claim_response(entry: Entry) -> list[Issue]:
    response, path = entry.resource, entry.path
    issues: list[Issue] = []
    if not isinstance(response.get("request"), dict):
        issues.append(error("required", "ClaimResponse.request is required", f"{path}.request"))
    if response.get("outcome") not in ("complete", "error", "partial"):
        text = "ClaimResponse.outcome must be complete, error or partial"
        issues.append(error("value", text, f"{path}.outcome"))
    for position, item in enumerate(_list(response.get("item"))):
        if not any(_review_action_codes(adj) for adj in _list(item.get("adjudication"))):
            text = "item carries no reviewAction/reviewActionCode (X12 306)"
            issues.append(warning("required", text, f"{path}.item[{position}].adjudication"))
    return issues


def _review_action_codes(adjudication: dict[str, Any]) -> list[str]:
    codes: list[str] = []
    for ext in _list(adjudication.get("extension")):
        if ext.get("url") != k.EXT_REVIEW_ACTION:
            continue
        for sub in _list(ext.get("extension")):
            if sub.get("url") == k.EXT_REVIEW_ACTION_CODE:
                for coding in (sub.get("valueCodeableConcept") or {}).get("coding") or []:
                    if coding.get("system") == k.CS_X12_306 and coding.get("code"):
                        codes.append(coding["code"])
    return codes


def _check_echo(response: BundleIndex, request: BundleIndex) -> list[Issue]:
    """A resource echoed from the request keeps its fullUrl, id and identifiers (Inferno)."""
    issues: list[Issue] = []
    for entry in response.entries:
        for source in request.entries:
            if source.resource_type != entry.resource_type:
                continue
            same = (
                (source.full_url and source.full_url == entry.full_url)
                or (source.id and source.id == entry.id)
                or (source.resource.get("identifier") and _ident(source) == _ident(entry))
            )
            if not same:
                continue
            if (
                source.full_url != entry.full_url
                or source.id != entry.id
                or _ident(source) != _ident(entry)
            ):
                text = (
                    f"{entry.resource_type} echoed from the request changed fullUrl/id/identifier"
                )
                issues.append(error("invariant", text, entry.path))
            break
    return issues


def _ident(entry: Entry) -> Any:
    return entry.resource.get("identifier")


def _check_sequences_echoed(response: Entry, request: BundleIndex) -> list[Issue]:
    claim = request.first
    if (
        claim is None
        or claim.resource_type != "Claim"
        or response.resource.get("outcome") == "error"
    ):
        return []
    echoed = {item.get("itemSequence") for item in _list(response.resource.get("item"))}
    issues: list[Issue] = []
    for position, item in enumerate(_list(claim.resource.get("item"))):
        if item.get("sequence") not in echoed:
            text = f"Claim item.sequence {item.get('sequence')} is not echoed in ClaimResponse.item"
            issues.append(
                error("invariant", text, f"{response.path}.item", f"{claim.path}.item[{position}]")
            )
    return issues


def validate_request(
    bundle: Any, operation: Operation = "submit", index: BundleIndex | None = None
) -> list[Issue]:
    """Structure (R4B) then PAS rules: what the $submit/$inquire route answers 400 on."""
    issues = check_structure(bundle, index) if isinstance(bundle, dict) else []
    try:
        return issues + check_request(bundle, operation, index)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # The PAS rules walk a bundle whose shape R4B already refused: when that walk trips
        # over the same malformation, the structure issues stand as the answer.
        if has_errors(issues):
            return issues
        return issues + [
            error("structure", f"The bundle could not be read: {type(exc).__name__}", "Bundle")
        ]
