"""The PAS channel through the real HTTP app: $submit, updates, $inquire, subscriptions."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fhir.resources.R4B.bundle import Bundle

from gateway.settings import REPO_ROOT, get_settings
from gateway.store.models import OutboxJobRow

SAMPLES = REPO_ROOT / "samples" / "pas"
INFERNO = get_settings().reference_dir / "pas" / "inferno"


def load(name: str) -> dict:
    return json.loads((SAMPLES / name).read_text())


def submit(client, bundle: dict):
    return client.post(
        "/fhir/Claim/$submit",
        content=json.dumps(bundle),
        headers={"Content-Type": "application/fhir+json"},
    )


def item_actions(bundle: dict) -> list[str]:
    claim_response = bundle["entry"][0]["resource"]
    actions = []
    for item in claim_response["item"]:
        for adjudication in item["adjudication"]:
            for extension in adjudication.get("extension", []):
                for inner in extension.get("extension", []):
                    if inner["url"].endswith("reviewActionCode"):
                        coding = inner["valueCodeableConcept"]["coding"][0]
                        assert coding["system"] == "https://codesystem.x12.org/005010/306"
                        actions.append(coding["code"])
    return actions


def test_ddact_her2_negative_is_approved_on_every_item(client):
    response = submit(client, load("ddact-her2neg.json"))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    Bundle.model_validate(body)
    claim_response = body["entry"][0]["resource"]
    assert claim_response["resourceType"] == "ClaimResponse"
    assert claim_response["outcome"] == "complete"
    assert set(item_actions(body)) == {"A1"}
    assert len(item_actions(body)) == len(
        load("ddact-her2neg.json")["entry"][0]["resource"]["item"]
    )


def test_tc_is_pended(client):
    body = submit(client, load("tc-her2neg.json")).json()
    assert set(item_actions(body)) == {"A4"}


def test_questionnaire_answers_complete_the_facts(client):
    body = submit(client, load("ddact-questionnaire.json")).json()
    assert set(item_actions(body)) == {"A1"}


def test_dangling_reference_is_refused_with_an_operation_outcome(client):
    response = submit(client, load("ddact-dangling-reference.json"))
    assert 400 <= response.status_code < 500
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(issue.get("expression") for issue in outcome["issue"])


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"resourceType": "Patient"}'])
def test_garbage_is_a_4xx_operation_outcome(client, body):
    response = client.post(
        "/fhir/Claim/$submit", content=body, headers={"Content-Type": "application/fhir+json"}
    )
    assert 400 <= response.status_code < 500
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.store
def test_exact_replay_answers_the_same_and_creates_nothing(client):
    first = submit(client, load("ddact-her2neg.json"))
    second = submit(client, load("ddact-her2neg.json"))
    assert first.json() == second.json()
    assert len(client.get("/cases").json()["cases"]) == 1


@pytest.mark.store
def test_update_cancels_an_item_and_answers_every_item(client):
    original = load("tc-her2neg.json")
    submit(client, original)
    update = copy.deepcopy(original)
    claim = update["entry"][0]["resource"]
    claim_id = claim["identifier"][0]["value"]
    claim["identifier"][0]["value"] = f"{claim_id}-U1"
    update["identifier"]["value"] = f"{update['identifier']['value']}-U1"
    claim["related"] = [
        {
            "claim": {"identifier": {"value": claim_id}},
            "relationship": {"coding": [{"code": "prior"}]},
        }
    ]
    claim["item"][-1].setdefault("modifierExtension", []).append(
        {
            "url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
            "modifierextension-infoCancelled",
            "valueBoolean": True,
        }
    )
    response = submit(client, update)
    assert response.status_code == 200, response.text
    actions = item_actions(response.json())
    assert len(actions) == len(claim["item"])
    assert actions[-1] == "C"


@pytest.mark.store
def test_a_denied_case_cannot_be_updated(client):
    original = load("tc-her2neg.json")
    first = submit(client, original).json()
    case_id = first["entry"][0]["resource"]["identifier"][0]["value"]
    decision = {
        "reviewer": "dr-1",
        "decision": "deny",
        "rationale": "not supported",
        "guideline": "sample",
    }
    assert client.post(f"/cases/{case_id}/determination", json=decision).status_code == 200
    update = copy.deepcopy(original)
    claim = update["entry"][0]["resource"]
    claim_id = claim["identifier"][0]["value"]
    claim["identifier"][0]["value"] = f"{claim_id}-U2"
    update["identifier"]["value"] = f"{update['identifier']['value']}-U2"
    claim["related"] = [
        {
            "claim": {"identifier": {"value": claim_id}},
            "relationship": {"coding": [{"code": "prior"}]},
        }
    ]
    response = submit(client, update)
    assert response.status_code == 422
    assert "denied" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.store
def test_inquiry_finds_the_case_for_member_and_provider(client):
    submit(client, load("ddact-her2neg.json"))
    inquiry = copy.deepcopy(load("ddact-her2neg.json"))
    inquiry["entry"][0]["resource"]["use"] = "preauthorization"
    response = client.post(
        "/fhir/Claim/$inquire",
        content=json.dumps(inquiry),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 200, response.text
    parameters = response.json()
    assert parameters["resourceType"] == "Parameters"
    [returned] = parameters["parameter"]
    assert returned["resource"]["entry"][0]["resource"]["resourceType"] == "ClaimResponse"


def test_metadata_and_questionnaires(client):
    metadata = client.get("/fhir/metadata").json()
    assert metadata["resourceType"] == "CapabilityStatement"
    assert "submit" in json.dumps(metadata) and "inquire" in json.dumps(metadata)
    assert client.get("/fhir/Questionnaire/breast").json()["resourceType"] == "Questionnaire"
    assert client.get("/fhir/Questionnaire/nope").status_code == 404


BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"


def subscription_resource(org_identifier: str = "1987654328") -> dict:
    """An R4 backport rest-hook Subscription on the PAS topic for one organization (by default
    the requesting organization of the sample bundles, by its NPI)."""
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "PAS results for the requesting organization",
        "criteria": "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic",
        "_criteria": {
            "extension": [
                {
                    "url": f"{BACKPORT}/backport-filter-criteria",
                    "valueString": f"org-identifier={org_identifier}",
                }
            ]
        },
        "channel": {
            "type": "rest-hook",
            "endpoint": "https://ehr.hope-oncology.example/notifications",
            "header": ["X-Subscriber-Token: subscriber-token"],
            "payload": "application/fhir+json",
            "_payload": {
                "extension": [
                    {"url": f"{BACKPORT}/backport-payload-content", "valueCode": "full-resource"}
                ]
            },
        },
        "meta": {"profile": [f"{BACKPORT}/backport-subscription"]},
    }


@pytest.mark.store
def test_a_pended_case_decided_later_notifies_its_subscriber_once(client, core):
    from tests.subscriber import active_subscription, loopback_endpoint

    # Requested until the endpoint takes the handshake (subscriptions backport activation);
    # only an active subscription is notified (tests/test_subscription_status.py).
    with loopback_endpoint(core) as endpoint:
        active_subscription(client, endpoint)
    pended = submit(client, load("tc-her2neg.json")).json()
    case_id = pended["entry"][0]["resource"]["identifier"][0]["value"]
    decision = {"reviewer": "dr-1", "decision": "approve", "rationale": "peer to peer done"}
    assert client.post(f"/cases/{case_id}/determination", json=decision).status_code == 200
    # A second, unrelated update of the same case state sends nothing new.
    with core.sessions() as session:
        jobs = session.query(OutboxJobRow).filter(OutboxJobRow.kind == "subscription").all()
    handshakes = [job for job in jobs if job.case_id is None]
    notifications = [job for job in jobs if job.case_id == case_id]
    assert len(handshakes) == 1
    assert len(notifications) == 1
    body = notifications[0].payload["body"]
    assert body["type"] == "history"
    focus = body["entry"][1]["resource"]
    assert focus["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
    assert set(item_actions(focus)) == {"A1"}
    # The focus URL resolves: GET [base]/Bundle/{id} answers the same response Bundle.
    focus_url = body["entry"][1]["fullUrl"]
    assert focus_url == f"{core.settings.fhir_base_url}/Bundle/{case_id}"
    resolved = client.get(urlsplit(focus_url).path)
    assert resolved.status_code == 200, resolved.text
    assert resolved.json()["id"] == focus["id"] == case_id
    assert set(item_actions(resolved.json())) == {"A1"}


def test_other_organizations_subscription_hears_nothing(client, core):
    from tests.subscriber import active_subscription, loopback_endpoint

    with loopback_endpoint(core) as endpoint:  # active: only its filter keeps it silent
        active_subscription(client, endpoint, resource=subscription_resource("1111111112"))
    pended = submit(client, load("tc-her2neg.json")).json()
    case_id = pended["entry"][0]["resource"]["identifier"][0]["value"]
    decision = {"reviewer": "dr-1", "decision": "approve", "rationale": "ok"}
    client.post(f"/cases/{case_id}/determination", json=decision)
    with core.sessions() as session:
        jobs = (
            session.query(OutboxJobRow)
            .filter(OutboxJobRow.case_id == case_id, OutboxJobRow.kind == "subscription")
            .all()
        )
    assert jobs == []


@pytest.mark.skipif(not INFERNO.is_dir(), reason="shared/reference is not beside the checkout")
def test_every_reference_request_is_answered_or_refused_with_an_outcome(client):
    for path in sorted(Path(INFERNO).glob("*submit_request_payload*.json")):
        response = client.post(
            "/fhir/Claim/$submit",
            content=path.read_bytes(),
            headers={"Content-Type": "application/fhir+json"},
        )
        assert response.status_code < 500, path.name
        body = response.json()
        if response.status_code == 200:
            assert body["entry"][0]["resource"]["resourceType"] == "ClaimResponse", path.name
        else:
            assert body["resourceType"] == "OperationOutcome", path.name


def test_a_client_subscribes_only_for_its_own_organization(client, core, auth_settings):
    from tests.conftest import bearer

    ehr = bearer(core, auth_settings, "sample-oncology-ehr")
    headers = {"Content-Type": "application/fhir+json", **ehr}
    own = client.post(
        "/fhir/Subscription", content=json.dumps(subscription_resource()), headers=headers
    )
    assert own.status_code == 201, own.text
    other = client.post(
        "/fhir/Subscription",
        content=json.dumps(subscription_resource("1111111112")),
        headers=headers,
    )
    assert other.status_code == 403
    assert other.json()["resourceType"] == "OperationOutcome"
    # Another partner cannot read it back: 404, not 403 (a partner without the scope
    # system/Subscription.read gets 403 whatever the id).
    path = f"/fhir/Subscription/{own.json()['id']}"
    clearinghouse = bearer(core, auth_settings, "sample-clearinghouse")
    assert client.get(path, headers=clearinghouse).status_code == 404
    payer = bearer(core, auth_settings, "sample-payer-62308")
    assert client.get(path, headers=payer).status_code == 403
    assert client.get(f"/fhir/Subscription/{own.json()['id']}", headers=ehr).status_code == 200


@pytest.mark.store
def test_an_update_naming_an_unknown_prior_claim_is_a_new_request(client):
    bundle = load("ddact-her2neg.json")
    bundle["entry"][0]["resource"]["related"] = [
        {
            "claim": {"identifier": {"value": "NEVER-SEEN"}},
            "relationship": {"coding": [{"code": "prior"}]},
        }
    ]
    response = submit(client, bundle)
    assert response.status_code == 200, response.text
    assert set(item_actions(response.json())) == {"A1"}


def test_submit_without_credentials_is_refused(client):
    response = client.post(
        "/fhir/Claim/$submit",
        content=json.dumps(load("ddact-her2neg.json")),
        headers={"Authorization": "", "Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 401
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["code"] == "login"
