"""Every existing route: no credentials -> 401; another partner -> 404 for its cases (403 for a
role it lacks); its own credentials -> 2xx."""

from __future__ import annotations

import base64

import pytest

from gateway.store.models import CaseRow
from tests.auth.conftest import CLEARINGHOUSE, EHR, OPERATOR, PAYER, REVIEWER, keyed_for
from tests.conftest import jane_doe_request

DECISION = {
    "reviewer": "dr-reviewer-1",
    "decision": "approve",
    "rationale": "Supported by the submitted notes.",
}
ELIGIBILITY = ("/eligibility/U1234567801", {"date": "2026-12-01"})


def basic(partner_id: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{partner_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_no_credentials_is_401_on_every_route(anonymous, ehr_case):
    case_id = ehr_case["id"]
    calls = [
        ("GET", "/cases", None),
        ("POST", "/cases", jane_doe_request()),
        ("GET", f"/cases/{case_id}", None),
        ("POST", f"/cases/{case_id}/determination", DECISION),
        ("POST", f"/cases/{case_id}/clinical", {"facts": {"HER2": "negative"}}),
        ("GET", ELIGIBILITY[0], None),
        ("GET", "/audit", None),
        ("GET", "/partners", None),
        ("GET", "/jobs", None),
        # The API documentation is public (issue 17; tests/test_api_docs.py), its data is not.
    ]
    for method, path, body in calls:
        response = anonymous.request(method, path, json=body)
        assert response.status_code == 401, (method, path, response.text)
        assert "Bearer" in response.headers["WWW-Authenticate"]
        assert response.json()["error"] == "unauthorized"


def test_bad_credentials_are_401(anonymous, ehr_case):
    path = f"/cases/{ehr_case['id']}"
    for headers in (
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer " + "e30.e30.e30"},
        basic(EHR, "wrong-secret-but-long-enough"),
        basic("no-such-partner", "demo-ehr-secret-0001"),
        {"Authorization": "Basic !!!"},
        {"Authorization": "Digest username=x"},
    ):
        assert anonymous.get(path, headers=headers).status_code == 401, headers


def test_public_routes_need_no_credentials(anonymous):
    assert anonymous.get("/healthz").status_code == 200
    smart = anonymous.get("/.well-known/smart-configuration").json()
    assert smart["token_endpoint"].endswith("/auth/token")
    assert "private_key_jwt" in smart["token_endpoint_auth_methods_supported"]
    # /fhir/metadata is public: whatever the FHIR router answers, it is not a 401.
    assert anonymous.get("/fhir/metadata").status_code != 401


def test_submitter_reads_its_own_case_another_partner_gets_404(anonymous, as_partner, ehr_case):
    path = f"/cases/{ehr_case['id']}"
    assert ehr_case["case"]["submission"]["submitter_id"] == EHR
    assert anonymous.get(path, headers=as_partner(EHR)).status_code == 200
    other = anonymous.get(path, headers=as_partner(CLEARINGHOUSE))
    assert other.status_code == 404
    # Exactly the answer for a case that does not exist: nothing tells the id is real.
    missing = anonymous.get("/cases/PA2699999999", headers=as_partner(CLEARINGHOUSE))
    assert (other.status_code, other.json()["error"]) == (404, missing.json()["error"])
    # HTTP Basic with the partner's shared secret (CAQH CORE style) works the same way.
    assert anonymous.get(path, headers=basic(EHR, "demo-ehr-secret-0001")).status_code == 200
    assert (
        anonymous.get(
            path, headers=basic(CLEARINGHOUSE, "demo-clearinghouse-secret-0001")
        ).status_code
        == 404
    )


def test_organization_acted_for_sees_a_case_another_partner_sent(anonymous, as_partner):
    # The clearinghouse sends the request; the EHR acts for the ordering NPI, so it sees it.
    sent = keyed_for(anonymous, as_partner, CLEARINGHOUSE)
    path = f"/cases/{sent['id']}"
    assert anonymous.get(path, headers=as_partner(EHR)).status_code == 200
    assert anonymous.get(path, headers=as_partner(PAYER)).status_code == 404
    listed = anonymous.get("/cases", headers=as_partner(EHR)).json()["cases"]
    assert sent["id"] in [row["id"] for row in listed]


def test_a_partner_cannot_claim_another_submitter(anonymous, as_partner):
    body = jane_doe_request(submitter_id=EHR, request_id="R-1")
    sent = anonymous.post("/cases", json=body, headers=as_partner(CLEARINGHOUSE))
    assert sent.status_code == 403
    listed = anonymous.get("/cases", headers=as_partner(EHR)).json()["cases"]
    assert listed == []
    # An operator keying in a faxed request may name the partner it is for.
    keyed = anonymous.post(
        "/cases", json=jane_doe_request(submitter_id=PAYER), headers=as_partner(OPERATOR)
    ).json()
    assert keyed["case"]["submission"]["submitter_id"] == PAYER


@pytest.mark.store
def test_case_list_holds_only_the_partners_cases(anonymous, as_partner, ehr_case):
    case_id = ehr_case["id"]
    own = anonymous.get("/cases", headers=as_partner(EHR))
    assert own.status_code == 200
    assert case_id in [row["id"] for row in own.json()["cases"]]
    other = anonymous.get("/cases", headers=as_partner(CLEARINGHOUSE))
    assert other.status_code == 200
    assert case_id not in [row["id"] for row in other.json()["cases"]]
    # The reviewer's work list holds every pended case.
    work = anonymous.get("/cases", params={"status": "pended"}, headers=as_partner(REVIEWER))
    assert case_id in [row["id"] for row in work.json()["cases"]]


def test_post_cases_is_the_operators_channel(anonymous, as_partner, core):
    # Partners send X12 278 or PAS bundles; keying a canonical case in is operator work.
    for partner in (EHR, CLEARINGHOUSE, PAYER, REVIEWER):
        refused = anonymous.post("/cases", json=jane_doe_request(), headers=as_partner(partner))
        assert refused.status_code == 403, partner
        assert refused.json()["error"] == "forbidden"
    with core.sessions() as session:
        assert session.query(CaseRow).count() == 0
    response = anonymous.post("/cases", json=jane_doe_request(), headers=as_partner(OPERATOR))
    assert response.status_code == 201
    assert response.json()["case"]["submission"]["submitter_id"] == OPERATOR


def test_determination_needs_the_reviewer_role(anonymous, as_partner, ehr_case):
    path = f"/cases/{ehr_case['id']}/determination"
    # The submitter itself may not decide its own case, nor may another partner.
    for partner in (EHR, CLEARINGHOUSE, PAYER):
        refused = anonymous.post(path, json=DECISION, headers=as_partner(partner))
        assert refused.status_code == 403, partner
        assert refused.json()["error"] == "forbidden"
    decided = anonymous.post(path, json=DECISION, headers=as_partner(REVIEWER))
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "approved"


def test_clinical_information_only_for_the_partners_cases(anonymous, as_partner):
    held = keyed_for(anonymous, as_partner, EHR, diagnoses=[{"code": "C50.911", "primary": True}])
    path = f"/cases/{held['id']}/clinical"
    facts = {"facts": {"HER2": "negative"}}
    assert anonymous.post(path, json=facts, headers=as_partner(CLEARINGHOUSE)).status_code == 404
    answered = anonymous.post(path, json=facts, headers=as_partner(EHR))
    assert answered.status_code == 200
    assert answered.json()["status"] == "approved"


def test_eligibility_for_partners_that_act_for_a_provider(anonymous, as_partner):
    path, params = ELIGIBILITY
    for partner in (EHR, OPERATOR, REVIEWER):
        response = anonymous.get(path, params=params, headers=as_partner(partner))
        assert response.status_code == 200, partner
        assert response.json()["eligible"] is True
    # A payer or a clearinghouse registered for no provider may not browse members: the same
    # refusal for a member that exists and one that does not.
    for partner in (CLEARINGHOUSE, PAYER):
        for member in ("U1234567801", "U0000000000"):
            response = anonymous.get(
                f"/eligibility/{member}", params=params, headers=as_partner(partner)
            )
            assert response.status_code == 403, partner
            assert "member_id" not in response.text
            assert member not in response.text


@pytest.mark.parametrize("path", ["/audit", "/partners", "/jobs"])
def test_operator_routes_need_the_operator_role(anonymous, as_partner, path):
    for partner in (EHR, REVIEWER, CLEARINGHOUSE):
        response = anonymous.get(path, headers=as_partner(partner))
        assert response.status_code == 403, (partner, path)
    if path != "/jobs":  # /jobs belongs to another router; the role check covers it already
        assert anonymous.get(path, headers=as_partner(OPERATOR)).status_code == 200


@pytest.mark.store
def test_disabled_partner_is_cut_off_at_once(anonymous, as_partner, ehr_case):
    headers = as_partner(EHR)  # a token handed out before the partner is disabled
    path = f"/cases/{ehr_case['id']}"
    assert anonymous.get(path, headers=headers).status_code == 200
    disabled = anonymous.post(f"/partners/{EHR}/disable", headers=as_partner(OPERATOR))
    assert disabled.status_code == 200 and disabled.json()["enabled"] is False
    assert anonymous.get(path, headers=headers).status_code == 401
    assert anonymous.get(path, headers=basic(EHR, "demo-ehr-secret-0001")).status_code == 401
    anonymous.post(f"/partners/{EHR}/enable", headers=as_partner(OPERATOR))
    assert anonymous.get(path, headers=headers).status_code == 200


def test_operator_registers_a_partner_and_its_secret_works(anonymous, as_partner):
    created = anonymous.post(
        "/partners",
        json={"id": "new-ehr", "kind": "ehr", "npis": ["1609876543"], "generate_secret": True},
        headers=as_partner(OPERATOR),
    )
    assert created.status_code == 201, created.text
    secret = created.json()["secret"]
    assert "secret_hash" not in created.json()
    listed = anonymous.get("/partners", headers=as_partner(OPERATOR)).json()["partners"]
    view = next(p for p in listed if p["id"] == "new-ehr")
    assert view["has_secret"] and "secret" not in view and view["roles"] == ["submitter"]
    assert anonymous.get("/cases", headers=basic("new-ehr", secret)).status_code == 200
    again = anonymous.post(
        "/partners", json={"id": "new-ehr", "kind": "ehr"}, headers=as_partner(OPERATOR)
    )
    assert again.status_code == 409
    # One sender id, one partner.
    taken = anonymous.post(
        "/partners",
        json={"id": "x", "kind": "clearinghouse", "sender_ids": ["SAMPLECH"]},
        headers=as_partner(OPERATOR),
    )
    assert taken.status_code == 409


def test_auth_can_be_switched_off_for_a_closed_bench(settings, core):
    from fastapi.testclient import TestClient

    from gateway.api.app import create_app
    from tests.conftest import make_auth_settings

    app = create_app(settings, core=core, auth_settings=make_auth_settings(auth_enabled=False))
    with TestClient(app) as client:
        assert client.get("/cases").status_code == 200
        assert client.post("/cases", json=jane_doe_request()).status_code == 201


def test_in_process_callers_act_as_the_local_operator(anonymous, core):
    token = anonymous.app.state.local_operator_token()
    headers = {"Authorization": f"Bearer {token}"}
    sent = anonymous.post("/cases", json=jane_doe_request(submitter_id="SAMPLECH"), headers=headers)
    assert sent.status_code == 201
    assert sent.json()["case"]["submission"]["submitter_id"] == "SAMPLECH"
    assert anonymous.get("/audit", headers=headers).status_code == 200
    # The token is this app's alone: not a signed token another process could mint.
    assert (
        anonymous.get("/cases", headers={"Authorization": f"Bearer not-{token}"}).status_code == 401
    )
