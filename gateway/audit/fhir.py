"""Audit records as FHIR R4 AuditEvent resources (JSON-ready dicts) and a searchset Bundle."""

from __future__ import annotations

from typing import Any

from gateway.audit.models import AuditRow

DCM = "http://dicom.nema.org/resources/ontology/DCM"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
NETWORK_IP = "2"  # AuditEvent.agent.network.type: IP address

REST = {"system": AUDIT_EVENT_TYPE, "code": "rest", "display": "RESTful Operation"}
# event -> (AuditEvent.type, AuditEvent.subtype)
EVENT_CODES: dict[str, tuple[dict[str, str], dict[str, str] | None]] = {
    "login": (
        {"system": DCM, "code": "110114", "display": "User Authentication"},
        {"system": DCM, "code": "110122", "display": "Login"},
    ),
    "case.create": (REST, {"system": RESTFUL, "code": "create", "display": "create"}),
    "case.read": (REST, {"system": RESTFUL, "code": "read", "display": "read"}),
    "case.search": (REST, {"system": RESTFUL, "code": "search-type", "display": "search type"}),
    "case.update": (REST, {"system": RESTFUL, "code": "update", "display": "update"}),
    "case.export": ({"system": DCM, "code": "110106", "display": "Export"}, None),
    "audit.export": ({"system": DCM, "code": "110106", "display": "Export"}, None),
    "partner.change": (
        {"system": DCM, "code": "110113", "display": "Security Alert"},
        {"system": DCM, "code": "110137", "display": "User Security Attributes Changed"},
    ),
}


def _codes(event: str) -> tuple[dict[str, str], dict[str, str] | None]:
    if event in EVENT_CODES:
        return EVENT_CODES[event]
    family = event.split(".", 1)[0]
    if family == "case":
        return REST, {"system": RESTFUL, "code": "update", "display": "update"}
    if family == "partner":
        return EVENT_CODES["partner.change"]
    return REST, None


def audit_event(row: AuditRow, base_url: str) -> dict[str, Any]:
    """One audit record as an R4 AuditEvent."""
    kind, subtype = _codes(row.event)
    agent: dict[str, Any] = {
        "requestor": True,
        "who": {
            "identifier": {"system": f"{base_url}/partners", "value": row.partner_id}
            if row.partner_id
            else None,
            "display": row.partner_id or "unauthenticated",
        },
    }
    if agent["who"]["identifier"] is None:
        del agent["who"]["identifier"]
    if row.partner_kind:
        agent["role"] = [{"text": row.partner_kind}]
    if row.auth_method:
        agent["altId"] = row.auth_method
    if row.source_address:
        agent["network"] = {"address": row.source_address, "type": NETWORK_IP}
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": str(row.id),
        "type": kind,
        "action": row.action,
        "recorded": row.recorded_at.isoformat(),
        "outcome": row.outcome,
        "agent": [agent],
        "source": {
            "site": base_url,
            "observer": {"display": "pa-gateway"},
            "type": [{"system": SOURCE_TYPE, "code": "4", "display": "Application Server"}],
        },
    }
    if subtype:
        resource["subtype"] = [subtype]
    if row.outcome_desc:
        resource["outcomeDesc"] = row.outcome_desc
    details = [
        {"type": name, "valueString": str(value)}
        for name, value in (
            ("event", row.event),
            ("method", row.method),
            ("route", row.path),
            ("status", row.status_code),
        )
        if value is not None
    ]
    entity: dict[str, Any] = {"detail": details}
    if row.case_id:
        entity.update(_case_entity(row.case_id, base_url))
    else:
        entity["description"] = "request"
    # A search names the cases it returned: one entity each.
    found = (row.detail or {}).get("case_ids") or []
    resource["entity"] = [entity, *(_case_entity(case_id, base_url) for case_id in found)]
    return resource


def _case_entity(case_id: str, base_url: str) -> dict[str, Any]:
    return {
        "what": {"identifier": {"system": f"{base_url}/cases", "value": case_id}},
        "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
        "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"},
    }


def audit_bundle(rows: list[AuditRow], base_url: str) -> dict[str, Any]:
    """A searchset Bundle of AuditEvents, as GET /audit answers."""
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(rows),
        "entry": [
            {
                "fullUrl": f"{base_url}/audit/{row.id}",
                "resource": audit_event(row, base_url),
                "search": {"mode": "match"},
            }
            for row in rows
        ],
    }
