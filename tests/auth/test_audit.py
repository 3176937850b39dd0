"""The audit trail: reads, writes and refusals are recorded, it cannot be changed, and it
exports as well-formed FHIR R4 AuditEvents."""

from __future__ import annotations

import base64

import pytest
from fhir.resources.R4B.auditevent import AuditEvent
from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway import audit
from gateway.audit.models import AppendOnly, AuditRow
from gateway.partners.principal import LOCAL_OPERATOR
from tests.auth.conftest import CLEARINGHOUSE, EHR, OPERATOR, REVIEWER, keyed_for

# What these tests check lives in the store: they run on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store


def rows(core, **where) -> list[AuditRow]:
    with core.sessions() as session:
        query = select(AuditRow).order_by(AuditRow.id)
        for name, value in where.items():
            query = query.where(getattr(AuditRow, name) == value)
        return list(session.execute(query).scalars())


def test_create_read_update_and_refusals_are_recorded(anonymous, as_partner, core, ehr_case):
    case_id = ehr_case["id"]
    anonymous.get(f"/cases/{case_id}", headers=as_partner(EHR))
    anonymous.get(f"/cases/{case_id}", headers=as_partner(CLEARINGHOUSE))
    anonymous.get("/cases", headers=as_partner(EHR))
    anonymous.post(
        f"/cases/{case_id}/determination",
        headers=as_partner(EHR),
        json={"reviewer": "x", "decision": "approve", "rationale": "r"},
    )
    anonymous.post(
        f"/cases/{case_id}/determination",
        headers=as_partner(REVIEWER),
        json={"reviewer": "dr-1", "decision": "approve", "rationale": "ok"},
    )
    trail = [
        (r.event, r.action, r.outcome, r.partner_id, r.status_code)
        for r in rows(core, case_id=case_id)
    ]
    assert trail == [
        # Keyed in by the operator for the EHR (POST /cases is the operator's channel).
        ("case.create", "C", "0", OPERATOR, None),
        ("case.read", "R", "0", EHR, None),
        ("access.refused", "R", "4", CLEARINGHOUSE, 404),
        ("access.refused", "E", "4", EHR, 403),
        ("case.update", "U", "0", REVIEWER, None),
    ]
    [search] = rows(core, event="case.search")
    assert (search.partner_id, search.case_id, search.detail) == (
        EHR,
        None,
        {"case_ids": [case_id]},
    )
    refused = rows(core, case_id=case_id, partner_id=CLEARINGHOUSE)[0]
    assert refused.outcome_desc == "another partner's case"
    assert refused.source_address and refused.method == "GET"
    assert refused.path == "/cases/{case_id}"


def test_failed_logins_and_refused_requests_are_recorded(anonymous, core):
    anonymous.get("/cases")
    anonymous.get("/cases", auth=(EHR, "wrong-secret-but-long-enough"))
    anonymous.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(EHR, "wrong-secret-but-long-enough"),
    )
    logins = rows(core, event="login")
    assert [(r.outcome, r.status_code) for r in logins] == [("4", 401)] * 3
    assert logins[0].outcome_desc == "no credentials"
    assert logins[1].detail == {"claimed_partner": EHR}
    assert all(r.partner_id is None for r in logins)


def test_a_failed_update_is_recorded_as_refused(anonymous, as_partner, core):
    approved = keyed_for(anonymous, as_partner, EHR)
    again = anonymous.post(
        f"/cases/{approved['id']}/determination",
        headers=as_partner(REVIEWER),
        json={"reviewer": "dr-1", "decision": "approve", "rationale": "ok"},
    )
    assert again.status_code == 409
    [update] = rows(core, case_id=approved["id"], event="case.update")
    assert (update.outcome, update.outcome_desc) == ("4", "InvalidTransition")


def test_audit_export_is_a_bundle_of_r4_audit_events(anonymous, as_partner, ehr_case):
    case_id = ehr_case["id"]
    anonymous.get(f"/cases/{case_id}", headers=as_partner(CLEARINGHOUSE))
    response = anonymous.get("/audit", params={"case": case_id}, headers=as_partner(OPERATOR))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/fhir+json")
    bundle = response.json()
    Bundle.model_validate(bundle)
    assert bundle["type"] == "searchset" and bundle["total"] == len(bundle["entry"]) == 2
    events = [AuditEvent.model_validate(entry["resource"]) for entry in bundle["entry"]]
    create, refused = events
    assert create.action == "C" and create.outcome == "0"
    assert create.subtype[0].code == "create"
    assert create.entity[0].what.identifier.value == case_id
    assert create.agent[0].who.identifier.value == OPERATOR and create.agent[0].requestor is True
    assert refused.outcome == "4" and refused.agent[0].who.identifier.value == CLEARINGHOUSE
    assert refused.agent[0].network.type == "2"
    # The export itself is audited (after the export, so it is in the next one).
    again = anonymous.get("/audit", params={"case": case_id}, headers=as_partner(OPERATOR))
    last = again.json()["entry"][-1]["resource"]
    assert last["type"]["code"] == "110106" and last["agent"][0]["who"]["display"] == OPERATOR


def test_search_and_partner_exports(anonymous, as_partner, ehr_case):
    anonymous.get("/cases", headers=as_partner(EHR))
    bundle = anonymous.get("/audit", params={"partner": EHR}, headers=as_partner(OPERATOR)).json()
    Bundle.model_validate(bundle)
    search = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"].get("subtype", [{}])[0].get("code") == "search-type"
    )
    AuditEvent.model_validate(search)
    assert [e["what"]["identifier"]["value"] for e in search["entity"][1:]] == [ehr_case["id"]]


def test_audit_export_carries_no_member_data(anonymous, as_partner, ehr_case):
    body = anonymous.get(
        "/audit", params={"case": ehr_case["id"]}, headers=as_partner(OPERATOR)
    ).text
    for phi in ("U1234567801", "JANE", "DOE", "1960-04-12", "C50.911"):
        assert phi not in body


def test_other_routers_record_through_the_core(core):
    audit.record(
        core,
        event="case.create",
        action=audit.CREATE,
        principal=LOCAL_OPERATOR,
        case_ids=["PA2600000009", "PA2600000010"],
        source_address="cli",
    )
    recorded = rows(core, partner_id="local-operator")
    assert [r.case_id for r in recorded] == ["PA2600000009", "PA2600000010"]
    assert recorded[0].auth_method == "local"


def test_audit_records_cannot_be_changed_or_removed(core):
    audit.record(core, event="login", action=audit.EXECUTE, partner_id=EHR)
    with core.sessions() as session:
        row = session.execute(select(AuditRow)).scalars().first()
        row.outcome = "0"
        row.partner_id = "someone-else"
        with pytest.raises(AppendOnly):
            session.flush()
        session.rollback()
        with pytest.raises(AppendOnly):
            session.delete(session.get(AuditRow, row.id))
            session.flush()
    # Below the ORM, the database refuses too (migration 0002 triggers).
    for statement in ("UPDATE audit_events SET partner_id = 'x'", "DELETE FROM audit_events"):
        with pytest.raises(DBAPIError), core.engine.begin() as connection:
            connection.execute(text(statement))
    assert rows(core)[0].partner_id == EHR


def test_no_secret_reaches_the_audit_trail(anonymous, core):
    """Credentials sent the wrong way round (a secret with no partner id, a secret in the
    client_id field) are refused, and the trail names no claimed partner for them."""
    pasted = "demo-ehr-secret-0001"
    only_secret = base64.b64encode(pasted.encode()).decode()
    assert (
        anonymous.get("/cases", headers={"Authorization": f"Basic {only_secret}"}).status_code
        == 401
    )
    assert anonymous.get("/cases", auth=(pasted, "x" * 20)).status_code == 401
    token = anonymous.post(
        "/auth/token",
        data={"grant_type": "client_credentials", "client_id": pasted, "client_secret": "y" * 20},
    )
    assert token.status_code == 401
    logins = rows(core, event="login")
    assert len(logins) == 3
    for row in rows(core):
        assert pasted not in str(row.__dict__)
        assert only_secret not in str(row.__dict__)
