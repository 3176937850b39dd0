"""PAS request Bundle (dict) -> canonical Case.

The reader trusts nothing and rejects nothing: gateway.fhir.profile decides conformance first;
here every field the Case can hold is taken when present and left empty when not. What the
writer needs to answer in kind (fullUrls, ids and identifiers of the entries, item trace numbers,
the resources to echo) goes to Case.submission.echo, which is JSON-ready.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from gateway.domain.case import (
    Attachment,
    Case,
    ChangeReference,
    Channel,
    ClinicalFacts,
    Diagnosis,
    Dosing,
    Provider,
    ServiceLine,
    Submission,
    Urgency,
)
from gateway.fhir import constants as k
from gateway.fhir import homecare, parties
from gateway.fhir.bundle import BundleIndex, Entry
from gateway.fhir.codes import icd10_with_dot, lookup
from gateway.fhir.echo import build_echo
from gateway.fhir.elements import cancelled, codes, date_of, ext, ext_code, first_code, items
from gateway.fhir.questionnaire import QR_SOURCE, facts_from_questionnaire_response

Resource = dict[str, Any]
_HEIGHT, _WEIGHT = "8302-2", "29463-7"  # LOINC body height / body weight


class PasReadError(ValueError):
    """The bundle has no Claim to read (profile checks normally answer this first)."""


def unwrap_parameters(body: Any) -> Any:
    """The Bundle of an operation body. $submit/$inquire take one Bundle (`resource`), which a
    client posts bare (R4 operations: a single resource input may be the body) or wrapped in
    Parameters; anything else is returned as is for the profile rules to refuse."""
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        for parameter in body.get("parameter") or []:
            if isinstance(parameter, dict) and parameter.get("name") == "resource":
                return parameter.get("resource")
    return body


def read_case(
    bundle: dict[str, Any],
    received_at: datetime | None = None,
    submitter_id: str | None = None,
    operation: str = "submit",
    index: BundleIndex | None = None,
) -> Case:
    """The Case a PAS $submit (or $inquire) bundle asks about. Raises PasReadError without Claim.
    `index`: the bundle's, when the caller has it."""
    index = index or BundleIndex(bundle)
    claim_entry = next((e for e in index.entries if e.resource_type == "Claim"), None)
    if claim_entry is None:
        raise PasReadError("The bundle carries no Claim")
    claim = claim_entry.resource
    patient_entry = index.resolve(claim.get("patient"), claim_entry)
    coverage_entry = _coverage(index, claim_entry)
    insurer_entry = index.resolve(claim.get("insurer"), claim_entry)
    requester_entry = index.resolve(claim.get("provider"), claim_entry)
    coverage = coverage_entry.resource if coverage_entry else None

    member = parties.member(patient_entry.resource if patient_entry else None, coverage)
    subscriber = None
    subscriber_entry = index.resolve((coverage or {}).get("subscriber"), coverage_entry)
    if subscriber_entry and patient_entry and subscriber_entry.index != patient_entry.index:
        subscriber = parties.member(subscriber_entry.resource, coverage)
        subscriber.relationship = "18"  # the subscriber is self to their own coverage

    requester = parties.provider(index, requester_entry, "requester")
    roles = _care_team(index, claim_entry)
    lines = [_line(index, claim_entry, item, pos) for pos, item in enumerate(items(claim))]
    active = [line for line in lines if not line.cancelled] or lines
    first_item = next((i for i in items(claim) if not cancelled(i)), None) or {}
    cert = ext_code(claim, k.EXT_CERTIFICATION_TYPE) or ext_code(
        first_item, k.EXT_CERTIFICATION_TYPE
    )
    if lines and all(line.cancelled for line in lines) and not ext(claim, k.EXT_CERTIFICATION_TYPE):
        cert = "3"  # every item withdrawn: the X12 equivalent is a UM02 cancel
    attachments, messages, facts = _supporting_info(index, claim_entry)
    period = claim.get("billablePeriod") or {}
    starts = [line.start_date for line in active if line.start_date]
    ends = [line.end_date or line.start_date for line in active if line.start_date]

    claim_ids = [i for i in claim.get("identifier") or [] if isinstance(i, dict)]
    transmission = {
        sub.get("url"): sub.get("valueString")
        for sub in (ext(claim, k.EXT_TRANSMISSION_IDS) or {}).get("extension") or []
        if isinstance(sub, dict)
    }
    ordering = roles.get("ordering") or _fallback_ordering(index, claim_entry, requester)
    return Case(
        payer_id=parties.payer_id(insurer_entry.resource if insurer_entry else None),
        payer_name=(insurer_entry.resource.get("name") if insurer_entry else None),
        member=member,
        subscriber=subscriber,
        requester=requester,
        ordering=ordering,
        rendering=roles.get("rendering"),
        facility=roles.get("facility") or _facility(index, claim_entry),
        request_category=ext_code(first_item, k.EXT_REQUEST_TYPE) or "HS",
        certification_type=cert or "I",
        service_type=first_code(first_item.get("category"), k.CS_X12_1365) or "78",
        place_of_service=next((ln.place_of_service for ln in active if ln.place_of_service), None),
        start_date=date_of(period.get("start")) or (min(starts) if starts else None),
        end_date=date_of(period.get("end")) or (max(ends) if ends else None),
        diagnoses=_diagnoses(index, claim_entry),
        service_lines=lines,
        facts=_facts(index, claim_entry, facts).merged(
            homecare.claim_facts(index, claim_entry, messages), source=homecare.SOURCE
        ),
        urgency=_urgency(claim),
        attachments=attachments,
        messages=messages,
        submission=Submission(
            channel=Channel.PAS,
            submitter_id=submitter_id
            or transmission.get("interchangeSenderID")
            or (requester.npi if requester else None),
            received_at=received_at or datetime.now(UTC),
            trace_numbers=[str(i["value"]) for i in claim_ids if i.get("value")],
            bundle_identifier=(bundle.get("identifier") or {}).get("value"),
            claim_identifier=next((str(i["value"]) for i in claim_ids if i.get("value")), None),
            content_hash=content_hash(bundle),
            echo=build_echo(bundle, index, claim_entry, operation, transmission),
        ),
        change_reference=_change_reference(index, claim_entry),
    )


def _change_reference(index: BundleIndex, claim_entry: Entry) -> ChangeReference | None:
    prior = _prior_claim_identifier(index, claim_entry)
    return ChangeReference(qualifier="claim", value=prior) if prior else None


def content_hash(bundle: dict[str, Any]) -> str:
    """sha256 of the canonical JSON: an exact replay hashes the same (DESIGN.md decision 7)."""
    text = json.dumps(bundle, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _coverage(index: BundleIndex, claim_entry: Entry) -> Entry | None:
    insurance = [i for i in claim_entry.resource.get("insurance") or [] if isinstance(i, dict)]
    chosen = next(
        (i for i in insurance if i.get("focal") is True), insurance[0] if insurance else None
    )
    found = index.resolve((chosen or {}).get("coverage"), claim_entry)
    return found or next(iter(index.of_type("Coverage")), None)


def _care_team(index: BundleIndex, claim_entry: Entry) -> dict[str, Provider]:
    """Ordering, rendering and facility from careTeam roles (X12 98 NM101, then FHIR roles)."""
    found: dict[str, Provider] = {}
    for member in claim_entry.resource.get("careTeam") or []:
        if not isinstance(member, dict):
            continue
        x12 = first_code(member.get("role"), k.CS_X12_98)
        role = _role(member)
        if role in ("ordering", "rendering", "facility") and role not in found:
            entry = index.resolve(member.get("provider"), claim_entry)
            provider = parties.provider(index, entry, role, x12)
            if parties.identified(provider):
                if provider.taxonomy is None:  # PRV03: careTeam.qualification as a taxonomy
                    provider.taxonomy = first_code(member.get("qualification"), parties.TAXONOMY)
                found[role] = provider
    return found


def _role(member: Any) -> str | None:
    """The Case role of a careTeam member: X12 98 (NM101) first, then FHIR claimcareteamrole."""
    if not isinstance(member, dict):
        return None
    x12 = first_code(member.get("role"), k.CS_X12_98)
    return lookup("care_team_role", x12) or lookup(
        "care_team_role_fhir", first_code(member.get("role"))
    )


def _fallback_ordering(
    index: BundleIndex, claim_entry: Entry, requester: Provider | None
) -> Provider | None:
    """No careTeam role says who orders: the first claim-level careTeam member, else the
    requester (a PAS request normally comes from the ordering practice)."""
    for member in claim_entry.resource.get("careTeam") or []:
        scope = ext(member, k.EXT_CARE_TEAM_SCOPE) if isinstance(member, dict) else None
        if _role(member) is None and scope and scope.get("valueBoolean") is True:
            entry = index.resolve(member.get("provider"), claim_entry)
            provider = parties.provider(index, entry, "ordering")
            if parties.identified(provider):
                return provider
    if requester is None:
        return None
    return requester.model_copy(update={"role": "ordering", "entity_code": "DK"})


def _facility(index: BundleIndex, claim_entry: Entry) -> Provider | None:
    entry = index.resolve(claim_entry.resource.get("facility"), claim_entry)
    return parties.provider(index, entry, "facility", "FA")


def _line(index: BundleIndex, claim_entry: Entry, item: Resource, position: int) -> ServiceLine:
    product = item.get("productOrService") or {}
    coding = next((c for c in product.get("coding") or [] if isinstance(c, dict)), {})
    quantity = item.get("quantity") or {}
    period = item.get("servicedPeriod") or {}
    start = date_of(item.get("servicedDate")) or date_of(period.get("start"))
    trace = ext(item, k.EXT_ITEM_TRACE_NUMBER)
    unit_code = quantity.get("code") if quantity.get("system") == k.CS_X12_673 else None
    line = ServiceLine(
        sequence=item.get("sequence") if isinstance(item.get("sequence"), int) else position + 1,
        code=str(coding.get("code") or product.get("text") or ""),
        code_system=lookup("product_code_system", coding.get("system"), "HCPCS"),
        modifiers=[code for m in item.get("modifier") or [] for code in codes(m)],
        description=coding.get("display") or product.get("text"),
        units=float(quantity["value"]) if isinstance(quantity.get("value"), (int, float)) else None,
        unit_type=lookup("quantity_unit", unit_code, unit_code) or quantity.get("unit"),
        start_date=start,
        end_date=date_of(period.get("end")) or start,
        place_of_service=first_code(item.get("locationCodeableConcept"), k.CS_POS),
        dosing=_dosing(index, claim_entry, item),
        trace_number=((trace or {}).get("valueIdentifier") or {}).get("value"),
        source_ref=f"{claim_entry.path}.item[{position}]",
        cancelled=cancelled(item),
    )
    homecare.line_details(index, claim_entry, item, line)  # rental, months, visits (DME)
    return line


def _dosing(index: BundleIndex, claim_entry: Entry, item: Resource) -> Dosing | None:
    """Dose and schedule from the MedicationRequest an item's requestedService points at."""
    service = ext(item, k.EXT_REQUESTED_SERVICE) or {}
    request = index.resource(service.get("valueReference"), claim_entry) or {}
    dosage = next((d for d in request.get("dosageInstruction") or [] if isinstance(d, dict)), None)
    if request.get("resourceType") != "MedicationRequest" or dosage is None:
        return None
    timing = dosage.get("timing") or {}
    return Dosing(
        dose=dosage.get("text"),
        schedule=(timing.get("code") or {}).get("text") or dosage.get("patientInstruction"),
        route=first_code(dosage.get("route")) or (dosage.get("route") or {}).get("text"),
    )


def _diagnoses(index: BundleIndex, claim_entry: Entry) -> list[Diagnosis]:
    rows = [d for d in claim_entry.resource.get("diagnosis") or [] if isinstance(d, dict)]
    rows.sort(key=lambda d: d.get("sequence") if isinstance(d.get("sequence"), int) else 999)
    out: list[Diagnosis] = []
    for row in rows:
        concept = row.get("diagnosisCodeableConcept")
        if concept is None:  # a Condition reference (R4 allows it; PAS narrows it away)
            concept = (index.resource(row.get("diagnosisReference"), claim_entry) or {}).get("code")
        code = first_code(concept, k.CS_ICD10CM) or first_code(concept)
        if not code:
            continue
        types = {c for t in row.get("type") or [] for c in codes(t)}
        recorded = ext(row, k.EXT_DIAGNOSIS_RECORDED_DATE) or {}
        out.append(
            Diagnosis(
                code=icd10_with_dot(code),
                primary="principal" in types or "ABK" in types or "BK" in types,
                onset_date=date_of(recorded.get("valueDate")),
            )
        )
    if out and not any(d.primary for d in out):
        out[0].primary = True  # sequence 1 is the primary diagnosis when no type says so
    return out


def _supporting_info(
    index: BundleIndex, claim_entry: Entry
) -> tuple[list[Attachment], list[str], list[Resource]]:
    """Attachments (PWK-like), free-form messages, and resources carrying clinical facts."""
    attachments: list[Attachment] = []
    messages: list[str] = []
    fact_sources: list[Resource] = []
    for info in claim_entry.resource.get("supportingInfo") or []:
        if not isinstance(info, dict):
            continue
        category = set(codes(info.get("category")))
        if "freeFormMessage" in category and isinstance(info.get("valueString"), str):
            messages.append(info["valueString"])
            continue
        target = index.resource(info.get("valueReference"), claim_entry)
        if target and target.get("resourceType") in ("QuestionnaireResponse", "Observation"):
            fact_sources.append(target)
        doc = ext(info, k.EXT_DOCUMENT_INFORMATION)
        if "additionalInformation" in category or doc:
            attachments.append(_attachment(info, doc, target))
    return attachments, messages, fact_sources


def _attachment(info: Resource, doc: Resource | None, target: Resource | None) -> Attachment:
    parts = {
        sub.get("url"): sub for sub in (doc or {}).get("extension") or [] if isinstance(sub, dict)
    }
    content: Resource = info.get("valueAttachment") or {}
    if target and target.get("resourceType") == "DocumentReference":
        first = next((c for c in target.get("content") or [] if isinstance(c, dict)), {})
        content = first.get("attachment") or {}
    size = content.get("size")
    if size is None and isinstance(content.get("data"), str):
        data = content["data"]
        size = len(data) * 3 // 4 - data.count("=", -2)  # decoded length of base64
    description = (parts.get("description") or {}).get("valueString")
    if target and not description:
        description = target.get("description") or target.get("resourceType")
    return Attachment(
        report_type=first_code((parts.get("reportTypeCode") or {}).get("valueCodeableConcept")),
        transmission=first_code(
            (parts.get("transmissionMethod") or {}).get("valueCodeableConcept")
        ),
        control_number=(parts.get("controlNumber") or {}).get("valueString"),
        filename=content.get("title") or content.get("url"),
        content_type=content.get("contentType")
        or ("application/fhir+json" if target and not content else None),
        size_bytes=size if isinstance(size, int) else None,
        description=description,
    )


def _facts(index: BundleIndex, claim_entry: Entry, referenced: list[Resource]) -> ClinicalFacts:
    facts = ClinicalFacts()
    responses = [r for r in referenced if r.get("resourceType") == "QuestionnaireResponse"]
    for entry in index.of_type("QuestionnaireResponse"):  # also those no supportingInfo names
        if not any(entry.resource is r for r in responses):
            responses.append(entry.resource)
    for response in responses:
        facts = facts.merged(facts_from_questionnaire_response(response), source=QR_SOURCE)
    observations = [r for r in referenced if r.get("resourceType") == "Observation"]
    observations += [
        e.resource for e in index.of_type("Observation") if e.resource not in observations
    ]
    for obs in observations:
        loinc = set(codes(obs.get("code"), k.CS_LOINC))
        quantity = obs.get("valueQuantity") or {}
        value, unit = quantity.get("value"), str(quantity.get("code") or quantity.get("unit") or "")
        if not isinstance(value, (int, float)):
            continue
        if _HEIGHT in loinc and facts.height_cm is None:
            facts.height_cm = round(value * 2.54, 1) if unit in ("[in_i]", "in") else float(value)
        if _WEIGHT in loinc and facts.weight_kg is None:
            facts.weight_kg = (
                round(value * 0.45359237, 1) if unit in ("[lb_av]", "lb") else float(value)
            )
    return facts


def _urgency(claim: Resource) -> Urgency:
    level = ext_code(claim, k.EXT_LEVEL_OF_SERVICE)
    value = lookup("level_of_service", level) if level else None
    if value is None:
        value = lookup("priority", first_code(claim.get("priority")), "standard")
    return Urgency.URGENT if value == "urgent" else Urgency.STANDARD


def _prior_claim_identifier(index: BundleIndex, claim_entry: Entry) -> str | None:
    """The identifier of the Claim an update changes (Claim.related.claim)."""
    for related in claim_entry.resource.get("related") or []:
        ref = (related or {}).get("claim") or {}
        ident = ref.get("identifier") or {}
        if ident.get("value"):
            return str(ident["value"])
        prior = index.resource(ref, claim_entry)
        value = next((i.get("value") for i in (prior or {}).get("identifier") or []), None)
        if value:
            return str(value)
        if isinstance(ref.get("reference"), str):
            return ref["reference"].rstrip("/").split("/")[-1]
    return None
