"""Every route that reaches a case, for every kind of caller (issue 18): the partner that sent
the case, another partner (a rival EHR that acts for other NPIs, and a clearinghouse that acts
for none; both hold system/Claim.read), an operator, and no credentials.

The case is the EHR's own PAS request (pended for clinical review), sent through $submit. For
another partner the answer must be exactly the one for a case that does not exist, and carry
nothing of the case (id, authorization number, decision text).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.partners.registry import PartnerSpec, add_partner
from gateway.store.models import OutboxJobRow, SubscriptionRow
from tests.auth.conftest import CLEARINGHOUSE, EHR, OPERATOR, Headers
from tests.subscriber import loopback_endpoint
from tests.test_fhir_routes import load, subscription_resource

RIVAL = "rival-oncology-ehr"  # another EHR with every default scope, acting for other NPIs
CALLERS = ("owner", "rival", "clearinghouse", "operator", "nobody")
PARTNER_OF = {"owner": EHR, "rival": RIVAL, "clearinghouse": CLEARINGHOUSE, "operator": OPERATOR}
MISSING = "PA2699999999"
FHIR = {"Content-Type": "application/fhir+json"}
DECISION = {"reviewer": "dr-reviewer-1", "decision": "approve", "rationale": "peer to peer"}


@pytest.fixture
def world(anonymous: TestClient, as_partner: Headers, core) -> World:
    with core.sessions.begin() as session:
        add_partner(
            session,
            PartnerSpec.model_validate(
                {"id": RIVAL, "kind": "ehr", "npis": ["1609876543"], "sender_ids": ["RIVALONC"]}
            ),
        )
    return World(anonymous, as_partner, core)


class World:
    """The app, the EHR's pended PAS case and the headers of each caller."""

    def __init__(self, client: TestClient, as_partner: Headers, core: Any):
        self.client = client
        self.core = core
        self.bundle = load("tc-her2neg.json")
        self.headers: dict[str, dict[str, str]] = {"nobody": {}}
        for caller, partner in PARTNER_OF.items():
            self.headers[caller] = as_partner(partner)
        sent = client.post(
            "/fhir/Claim/$submit",
            content=json.dumps(self.bundle),
            headers={**FHIR, **self.headers["owner"]},
        )
        assert sent.status_code == 200, sent.text
        self.case_id = sent.headers["X-Case-Ids"]
        self.response_text = sent.text

    def call(self, caller: str, method: str, path: str, **kwargs: Any) -> Any:
        headers = {**kwargs.pop("headers", {}), **self.headers[caller]}
        return self.client.request(method, path, headers=headers, **kwargs)


def _same_as_missing(world: World, caller: str, method: str, template: str, **kw: Any) -> None:
    """Another partner's answer for the case is the answer for a case that does not exist."""
    real = world.call(caller, method, template.format(case=world.case_id), **kw)
    missing = world.call(caller, method, template.format(case=MISSING), **kw)
    assert real.status_code == missing.status_code, (real.text, missing.text)
    assert real.text.replace(world.case_id, MISSING) == missing.text


def check_read(world: World, caller: str) -> None:
    response = world.call(caller, "GET", f"/cases/{world.case_id}")
    if caller in ("owner", "operator"):
        assert response.status_code == 200, response.text
        assert response.json()["id"] == world.case_id
    elif caller == "nobody":
        assert response.status_code == 401
    else:
        assert response.status_code == 404
        _same_as_missing(world, caller, "GET", "/cases/{case}")


def check_list(world: World, caller: str) -> None:
    response = world.call(caller, "GET", "/cases")
    if caller == "nobody":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    listed = [row["id"] for row in response.json()["cases"]]
    assert (world.case_id in listed) == (caller in ("owner", "operator"))
    # Filtered by status too (the reviewer's work list): the same rule.
    pended = world.call(caller, "GET", "/cases", params={"status": "pended"}).json()["cases"]
    assert (world.case_id in [row["id"] for row in pended]) == (caller in ("owner", "operator"))


def check_clinical(world: World, caller: str) -> None:
    body = {"facts": {"HER2": "negative"}, "notes": "pathology report attached"}
    response = world.call(caller, "POST", f"/cases/{world.case_id}/clinical", json=body)
    if caller in ("owner", "operator"):
        assert response.status_code == 200, response.text
    elif caller == "nobody":
        assert response.status_code == 401
    else:
        assert response.status_code == 404
        _same_as_missing(world, caller, "POST", "/cases/{case}/clinical", json=body)
        events = world.call("operator", "GET", f"/cases/{world.case_id}").json()["events"]
        assert len(events) == 1, "another partner's information reached the case"


def check_decide(world: World, caller: str) -> None:
    response = world.call(caller, "POST", f"/cases/{world.case_id}/determination", json=DECISION)
    if caller == "operator":  # the ops console also holds the reviewer role
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "approved"
    elif caller == "nobody":
        assert response.status_code == 401
    else:
        # The role decides, whatever the case: the same 403 for a case that does not exist.
        assert response.status_code == 403
        _same_as_missing(world, caller, "POST", "/cases/{case}/determination", json=DECISION)
        status = world.call("operator", "GET", f"/cases/{world.case_id}").json()["status"]
        assert status == "pended"


def inquiry(world: World, **claim_changes: Any) -> dict[str, Any]:
    """The PAS inquiry for the case: the member id, the requesting provider (a public NPI) and
    the Claim identifier the case was sent under; anyone can write it."""
    bundle = copy.deepcopy(world.bundle)
    bundle["entry"][0]["resource"].update(claim_changes)
    return bundle


def check_inquire(world: World, caller: str) -> None:
    response = world.call(
        caller, "POST", "/fhir/Claim/$inquire", content=json.dumps(inquiry(world)), headers=FHIR
    )
    if caller in ("owner", "operator"):
        assert response.status_code == 200, response.text
        [returned] = response.json()["parameter"]
        claim_response = returned["resource"]["entry"][0]["resource"]
        assert claim_response["resourceType"] == "ClaimResponse"
        assert world.case_id in response.text
        return
    if caller == "nobody":
        assert response.status_code == 401
        assert response.json()["resourceType"] == "OperationOutcome"
    else:
        # Claim-inquiry `return` is 0..*: nothing this caller may read is an empty answer,
        # with the PAS spec-50 warning that results were withheld (issue 14 item 15).
        assert response.status_code == 200, response.text
        answer = response.json()
        assert answer["resourceType"] == "Parameters"
        [withheld] = answer["parameter"]
        assert withheld["name"] == "outcome"
        [issue] = withheld["resource"]["issue"]
        assert (issue["severity"], issue["code"]) == ("warning", "suppressed")
        assert "(800) 555-0100" in issue["diagnostics"]  # another way to ask: the plan's line
    assert world.case_id not in response.text
    assert "ClaimResponse" not in response.text


def check_subscription(world: World, caller: str) -> None:
    with loopback_endpoint(world.core) as endpoint:
        resource = subscription_resource()
        resource["channel"]["endpoint"] = endpoint.url
        created = world.call(
            caller, "POST", "/fhir/Subscription", content=json.dumps(resource), headers=FHIR
        )
        if created.status_code == 201:  # notified once its handshake is delivered (active)
            while world.client.app.state.run_outbox_once():
                pass
            assert endpoint.kinds() == ["handshake"]
    if caller == "nobody":
        assert created.status_code == 401
    elif caller in ("owner", "operator"):
        assert created.status_code == 201, created.text
    else:
        # It does not act for the requesting organization (NPI 1987654328).
        assert created.status_code == 403
    if caller in ("rival", "clearinghouse"):
        # Even a subscription that slipped in (made before its rights changed) hears nothing.
        with world.core.sessions.begin() as session:
            session.add(
                SubscriptionRow(
                    id=f"planted-{caller}",
                    org_identifier="1987654328",
                    submitter_id=PARTNER_OF[caller],
                    endpoint="http://127.0.0.1:9/notifications",
                    status="active",
                    resource=subscription_resource(),
                    events_sent=0,
                )
            )
    decided = world.call("operator", "POST", f"/cases/{world.case_id}/determination", json=DECISION)
    assert decided.status_code == 200, decided.text
    notified = notifications(world)
    if caller == "owner":
        assert len(notified) == 1
        assert world.case_id in json.dumps(notified[0].payload["body"])
    else:
        # Only the system that sent the request hears of it (the operator's subscription too).
        assert notified == []


def notifications(world: World) -> list[OutboxJobRow]:
    with world.core.sessions() as session:
        query = select(OutboxJobRow).where(
            OutboxJobRow.kind == "subscription", OutboxJobRow.case_id == world.case_id
        )
        return list(session.execute(query).scalars())


def check_audit_export(world: World, caller: str) -> None:
    response = world.call(caller, "GET", "/audit", params={"case": world.case_id})
    if caller == "operator":
        assert response.status_code == 200
        assert response.json()["total"] >= 1
    elif caller == "nobody":
        assert response.status_code == 401
    else:
        assert response.status_code == 403
        assert world.case_id not in response.text


def check_jobs(world: World, caller: str) -> None:
    response = world.call(caller, "GET", "/jobs", params={"case_id": world.case_id})
    if caller == "operator":
        assert response.status_code == 200
        assert all(job["case_id"] == world.case_id for job in response.json())
    elif caller == "nobody":
        assert response.status_code == 401
    else:
        assert response.status_code == 403
        assert world.case_id not in response.text


def _approved(world: World) -> str:
    """The case approved by the reviewer desk: an authorization number to look up."""
    decided = world.call("operator", "POST", f"/cases/{world.case_id}/determination", json=DECISION)
    assert decided.status_code == 200, decided.text
    return str(decided.json()["determination"]["auth_number"])


def check_authorization(world: World, caller: str) -> None:
    number = _approved(world)
    params = {"npi": "1987654328"}  # the requesting organization, an NPI the owner acts for
    response = world.call(caller, "GET", f"/authorizations/{number}", params=params)
    if caller in ("owner", "operator"):
        assert response.status_code == 200, response.text
        assert response.json()["case_id"] == world.case_id
    elif caller == "nobody":
        assert response.status_code == 401
    else:
        # Exactly the answer for a number that was never given out.
        missing = world.call(caller, "GET", "/authorizations/ONC2699999999", params=params)
        assert response.status_code == missing.status_code == 404
        assert response.text == missing.text
        assert world.case_id not in response.text and number not in response.text


def check_member_authorizations(world: World, caller: str) -> None:
    number = _approved(world)
    params = {"member_id": "U1234567801", "birth_date": "1960-04-12", "npi": "1987654328"}
    response = world.call(caller, "GET", "/authorizations", params=params)
    if caller == "nobody":
        assert response.status_code == 401
        return
    assert response.status_code == 200, response.text
    listed = [row["case_id"] for row in response.json()["authorizations"]]
    assert (world.case_id in listed) == (caller in ("owner", "operator"))
    if caller in ("rival", "clearinghouse"):
        assert world.case_id not in response.text and number not in response.text


ROUTES: dict[str, Callable[[World, str], None]] = {
    "GET /cases/{id}": check_read,
    "GET /cases": check_list,
    "POST /cases/{id}/clinical": check_clinical,
    "POST /cases/{id}/determination": check_decide,
    "POST /fhir/Claim/$inquire": check_inquire,
    "POST /fhir/Subscription + notification": check_subscription,
    "GET /audit?case=": check_audit_export,
    "GET /jobs?case_id=": check_jobs,
    "GET /authorizations/{number}?npi=": check_authorization,
    "GET /authorizations?member_id=&birth_date=&npi=": check_member_authorizations,
}


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", list(ROUTES))
def test_route_by_caller(world, route, caller):
    ROUTES[route](world, caller)


# -- $inquire: the claim identifier narrows, it never widens -----------------------------------


def _inquire(world: World, caller: str, bundle: dict[str, Any]) -> Any:
    return world.call(
        caller, "POST", "/fhir/Claim/$inquire", content=json.dumps(bundle), headers=FHIR
    )


def _second_case(world: World) -> str:
    """Another request of the owner for the same member and provider, under another claim id."""
    bundle = copy.deepcopy(world.bundle)
    bundle["identifier"]["value"] += "-2"
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = "REQ-TC-2"
    sent = world.call(
        "owner", "POST", "/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR
    )
    assert sent.status_code == 200, sent.text
    return sent.headers["X-Case-Ids"]


@pytest.mark.parametrize(
    "identifiers",
    [
        [{"system": "http://ehr.hope-oncology.example/fhir/sid/pa-request"}],
        [{"value": ""}],
        [{"value": "   "}],
        [{"system": "urn:x", "value": ""}, {"use": "official"}],
    ],
)
@pytest.mark.parametrize("caller", ["owner", "rival", "operator"])
def test_an_inquiry_whose_claim_identifier_has_no_value_matches_nothing(world, identifiers, caller):
    other = _second_case(world)
    response = _inquire(world, caller, inquiry(world, identifier=identifiers))
    assert response.status_code == 400, response.text
    answer = response.json()
    assert answer["resourceType"] == "OperationOutcome"
    # An empty string is not a FHIR value at all (refused as structure); an identifier with
    # no value names no claim (refused as required).
    assert answer["issue"][0]["code"] in ("structure", "required")
    for case_id in (world.case_id, other):
        assert case_id not in response.text
    assert "ClaimResponse" not in response.text


def test_an_empty_identifier_beside_a_real_one_is_ignored(world):
    other = _second_case(world)
    identifiers = [
        {"system": "urn:x"},
        {"use": "official"},
        *world.bundle["entry"][0]["resource"]["identifier"],
    ]
    response = _inquire(world, "owner", inquiry(world, identifier=identifiers))
    assert response.status_code == 200, response.text
    assert world.case_id in response.text
    assert other not in response.text
    [returned] = response.json()["parameter"]
    responses = [
        entry
        for entry in returned["resource"]["entry"]
        if entry["resource"]["resourceType"] == "ClaimResponse"
    ]
    assert len(responses) == 1


def test_an_inquiry_names_one_claim_of_the_member(world):
    other = _second_case(world)
    second = inquiry(world, identifier=[{"value": "REQ-TC-2"}])
    response = _inquire(world, "owner", second)
    assert response.status_code == 200, response.text
    assert other in response.text and world.case_id not in response.text
    unknown = _inquire(world, "owner", inquiry(world, identifier=[{"value": "REQ-NONE"}]))
    assert unknown.status_code == 200  # no match: an empty Parameters (return 0..*)
    assert unknown.json() == {"resourceType": "Parameters"}
    assert world.case_id not in unknown.text and other not in unknown.text


def test_a_rival_naming_the_owners_claim_in_an_update_reaches_nothing(world):
    """A PASClaimUpdate whose related.claim is another partner's claim identifier is a new
    request of the sender's own: it neither changes nor returns the other partner's case."""
    update = copy.deepcopy(world.bundle)
    claim = update["entry"][0]["resource"]
    claim_id = claim["identifier"][0]["value"]
    claim["identifier"][0]["value"] = f"{claim_id}-U1"
    update["identifier"]["value"] += "-U1"
    claim["related"] = [
        {
            "claim": {"identifier": {"value": claim_id}},
            "relationship": {"coding": [{"code": "prior"}]},
        }
    ]
    response = world.call(
        "rival", "POST", "/fhir/Claim/$submit", content=json.dumps(update), headers=FHIR
    )
    assert response.status_code == 200, response.text
    assert world.case_id not in response.text
    assert response.headers["X-Case-Ids"] != world.case_id
    owner_case = world.call("owner", "GET", f"/cases/{world.case_id}").json()
    assert len(owner_case["events"]) == 1 and owner_case["status"] == "pended"


# -- credentials fit the channel ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("partner", "secret"),
    [
        (CLEARINGHOUSE, "demo-clearinghouse-secret-0001"),
        (EHR, "demo-ehr-secret-0001"),
        (OPERATOR, "demo-operator-secret-0001"),
    ],
)
@pytest.mark.parametrize("operation", ["$submit", "$inquire"])
def test_fhir_routes_refuse_http_basic(world, partner, secret, operation):
    response = world.client.post(
        f"/fhir/Claim/{operation}",
        content=json.dumps(inquiry(world)),
        headers=FHIR,
        auth=(partner, secret),
    )
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Basic" not in response.headers["WWW-Authenticate"]
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == "login"
    assert world.case_id not in response.text and secret not in response.text
    with world.core.sessions() as session:
        from gateway.store.models import CaseRow

        assert session.query(CaseRow).count() == 1  # only the fixture's own case
    # The same secret still works where it belongs (the REST and X12 routes).
    assert world.client.get("/cases", auth=(partner, secret)).status_code == 200
