"""Member, payer and provider details out of PAS Patient, Coverage, Organization,
Practitioner, PractitionerRole and Location resources (nothing the Case holds may be lost)."""

from __future__ import annotations

from datetime import date
from typing import Any

from gateway.domain.case import Address, Gender, Member, Provider
from gateway.fhir import constants as k
from gateway.fhir.bundle import BundleIndex, Entry
from gateway.fhir.codes import lookup
from gateway.fhir.elements import codes, first_code

Resource = dict[str, Any]
TAXONOMY = ("http://nucc.org/provider-taxonomy", "https://codesystem.x12.org/005010/127")
# X12 NM101 the 278 would carry for each role (2010B requester, 2010EA ordering/rendering/...).
_ENTITY_CODE = {"requester": "1P", "ordering": "DK", "rendering": "SJ", "facility": "FA"}


def _identifiers(resource: Resource | None) -> list[dict[str, Any]]:
    if not resource:
        return []
    return [i for i in resource.get("identifier") or [] if isinstance(i, dict) and i.get("value")]


def identifier_value(resource: Resource | None, system: str | tuple[str, ...]) -> str | None:
    systems = (system,) if isinstance(system, str) else system
    for ident in _identifiers(resource):
        if ident.get("system") in systems:
            return str(ident["value"])
    return None


def typed_identifier(resource: Resource | None, type_code: str) -> str | None:
    for ident in _identifiers(resource):
        if type_code in codes(ident.get("type")):
            return str(ident["value"])
    return None


def telecom(resources: list[Resource | None], system: str) -> str | None:
    """The first telecom of `system` (phone, fax, email) across resources, most specific first."""
    for resource in resources:
        for point in (resource or {}).get("telecom") or []:
            if isinstance(point, dict) and point.get("system") == system and point.get("value"):
                return str(point["value"])
    return None


def address(resources: list[Resource | None]) -> Address | None:
    for resource in resources:
        raw = (resource or {}).get("address")
        found = raw[0] if isinstance(raw, list) and raw else raw
        if isinstance(found, dict):
            return Address(
                lines=[str(line) for line in found.get("line") or []],
                city=found.get("city"),
                state=found.get("state"),
                postal_code=found.get("postalCode"),
                country=found.get("country"),
            )
    return None


def _human_name(resource: Resource | None) -> tuple[str | None, str | None, str | None]:
    names = [n for n in (resource or {}).get("name") or [] if isinstance(n, dict)]
    if not names:
        return None, None, None
    name = next((n for n in names if n.get("use") in ("official", "usual")), names[0])
    given = [str(g) for g in name.get("given") or []]
    return name.get("family"), given[0] if given else None, given[1] if len(given) > 1 else None


def member(patient: Resource | None, coverage: Resource | None) -> Member:
    """The patient as the Case's member; the member id as the roster knows it.

    Coverage.subscriberId first (X12 2010C NM109 carries the subscriber's id for a dependent
    too), then a Coverage or Patient identifier typed MB (member number), then the patient's
    first identifier.
    """
    member_id = (
        (coverage or {}).get("subscriberId")
        or typed_identifier(coverage, "MB")
        or typed_identifier(patient, "MB")
        or next((str(i["value"]) for i in _identifiers(patient)), "")
    )
    last, first, middle = _human_name(patient)
    birth = (patient or {}).get("birthDate")
    gender = (patient or {}).get("gender")
    return Member(
        member_id=str(member_id),
        last_name=last,
        first_name=first,
        middle_name=middle,
        birth_date=date.fromisoformat(birth)
        if isinstance(birth, str) and len(birth) == 10
        else None,
        gender=Gender(gender) if gender in {g.value for g in Gender} else Gender.UNKNOWN,
        phone=telecom([patient], "phone"),
        address=address([patient]),
        relationship=relationship(coverage),
    )


def relationship(coverage: Resource | None) -> str | None:
    """X12 1069 individual relationship code from Coverage.relationship."""
    concept = (coverage or {}).get("relationship")
    x12 = first_code(concept, k.CS_X12_1069)
    if x12:
        return x12
    fhir = first_code(concept, k.CS_SUBSCRIBER_RELATIONSHIP)
    return lookup("subscriber_relationship", fhir) if fhir else None


def payer_id(insurer: Resource | None) -> str | None:
    """The payer identifier: the PAS organization profile's PI slice (C4BB type payerid), then
    an identifier whose system names a payer id, then NAIC, NPI and the first identifier."""
    found = typed_identifier(insurer, "payerid")
    if found:
        return found
    for ident in _identifiers(insurer):
        system = str(ident.get("system", "")).lower().replace("-", "")
        if system.endswith("payerid"):
            return str(ident["value"])
    return (
        typed_identifier(insurer, "NIIP")
        or identifier_value(insurer, k.CS_NPI)
        or next((str(i["value"]) for i in _identifiers(insurer)), None)
    )


def provider(
    index: BundleIndex, entry: Entry | None, role: str, entity: str | None = None
) -> Provider | None:
    """A Provider from an Organization, Practitioner, PractitionerRole or Location entry."""
    if entry is None:
        return None
    resource, kind = entry.resource, entry.resource_type
    entity_code = entity or _ENTITY_CODE.get(role)
    if kind == "PractitionerRole":
        person = index.resource(resource.get("practitioner"), entry)
        org = index.resource(resource.get("organization"), entry)
        places = [index.resource(ref, entry) for ref in resource.get("location") or []]
        last, first, _ = _human_name(person)
        return Provider(
            role=role,
            entity_code=entity_code,
            organization_name=None if person else (org or {}).get("name"),
            last_name=last,
            first_name=first,
            npi=identifier_value(person, k.CS_NPI) or identifier_value(org, k.CS_NPI),
            tin=identifier_value(org, k.CS_TIN) or identifier_value(person, k.CS_TIN),
            taxonomy=_taxonomy(resource.get("specialty")),
            address=address([*places, person, org]),
            phone=telecom([resource, person, org], "phone"),
            fax=telecom([resource, person, org], "fax"),
            email=telecom([resource, person, org], "email"),
            email_opt_in=bool(telecom([resource, person, org], "email")),
        )
    if kind == "Location":
        org = index.resource(resource.get("managingOrganization"), entry)
        return Provider(
            role=role,
            entity_code=entity_code,
            organization_name=resource.get("name") or (org or {}).get("name"),
            npi=identifier_value(resource, k.CS_NPI) or identifier_value(org, k.CS_NPI),
            tin=identifier_value(resource, k.CS_TIN) or identifier_value(org, k.CS_TIN),
            address=address([resource, org]),
            phone=telecom([resource, org], "phone"),
            fax=telecom([resource, org], "fax"),
            email=telecom([resource, org], "email"),
            email_opt_in=bool(telecom([resource, org], "email")),
        )
    if kind not in ("Organization", "Practitioner"):
        return None
    last, first, _ = _human_name(resource) if kind == "Practitioner" else (None, None, None)
    contact = next((c for c in resource.get("contact") or [] if isinstance(c, dict)), None)
    contact_last, contact_first, _ = _human_name(
        {"name": [contact.get("name")]} if contact else None
    )
    return Provider(
        role=role,
        entity_code=entity_code,
        organization_name=resource.get("name") if kind == "Organization" else None,
        last_name=last,
        first_name=first,
        npi=identifier_value(resource, k.CS_NPI),
        tin=identifier_value(resource, k.CS_TIN),
        taxonomy=_taxonomy(resource.get("qualification")),
        address=address([resource]),
        phone=telecom([resource, contact], "phone"),
        fax=telecom([resource, contact], "fax"),
        email=telecom([resource, contact], "email"),
        email_opt_in=bool(telecom([resource, contact], "email")),
        contact_name=" ".join(p for p in (contact_first, contact_last) if p) or None,
    )


def identified(provider: Provider | None) -> bool:
    """A provider the Case can use: it has an NPI or a name (not only dangling references)."""
    return bool(provider and (provider.npi or provider.organization_name or provider.last_name))


def _taxonomy(concepts: Any) -> str | None:
    for concept in concepts if isinstance(concepts, list) else [concepts]:
        if isinstance(concept, dict):
            found = first_code(concept.get("code", concept), TAXONOMY)
            if found:
                return found
    return None
