"""What a trading partner's validator and the Inferno PAS kit check of the FHIR endpoints'
HTTP behaviour (issue 14 items 10, 11, 14, 15, 16): every refusal an OperationOutcome with the
right status, a CapabilityStatement that declares only what is implemented, SMART discovery at
the FHIR base, and the life of a Subscription. Through the real app, as its clients see it."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from gateway.api.fhir import accepts_json
from gateway.store.models import OutboxJobRow
from tests.conftest import bearer, make_settings
from tests.fhir.pas_refs import SAMPLES
from tests.subscriber import loopback_endpoint, subscribe
from tests.test_fhir_routes import subscription_resource

FHIR = {"Content-Type": "application/fhir+json"}


def outcome_of(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["severity"] == "error"
    assert body["issue"][0]["code"] == code
    return body


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def test_an_unknown_fhir_route_is_a_404_outcome(client):
    body = outcome_of(client.get("/fhir/MedicationRequest/1"), 404, "not-found")
    assert "MedicationRequest" in body["issue"][0]["diagnostics"]
    # Other channels keep their own error bodies.
    assert client.get("/nowhere").json() == {"detail": "Not Found"}


def test_a_method_a_fhir_route_does_not_take_is_a_405_outcome_with_allow(client):
    response = client.delete("/fhir/metadata")
    outcome_of(response, 405, "not-supported")
    assert response.headers["allow"] == "GET"
    outcome_of(client.get("/fhir/Claim/$submit"), 405, "not-supported")


@pytest.mark.parametrize("media_type", ["application/fhir+xml", "application/xml", "text/plain"])
def test_a_body_that_is_not_json_is_a_415_outcome(client, media_type):
    response = client.post(
        "/fhir/Claim/$submit",
        content=sample("ddact-her2neg.json"),
        headers={"Content-Type": media_type},
    )
    body = outcome_of(response, 415, "not-supported")
    assert media_type in body["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    "media_type",
    ["application/fhir+json", "application/json", "application/fhir+json; fhirVersion=4.0"],
)
def test_json_media_types_are_read(client, media_type):
    response = client.post(
        "/fhir/Claim/$submit",
        content=sample("ddact-her2neg.json"),
        headers={"Content-Type": media_type},
    )
    assert response.status_code == 200, response.text


def test_an_answer_asked_for_in_xml_only_is_a_406_outcome(client):
    outcome_of(
        client.get("/fhir/metadata", headers={"Accept": "application/fhir+xml"}),
        406,
        "not-supported",
    )
    outcome_of(client.get("/fhir/metadata?_format=xml"), 406, "not-supported")
    outcome_of(
        client.get("/fhir/metadata", headers={"Accept": "application/fhir+json;q=0, text/html"}),
        406,
        "not-supported",
    )
    for accept in ("application/fhir+xml;q=0.9, application/fhir+json", "*/*", "application/json"):
        assert client.get("/fhir/metadata", headers={"Accept": accept}).status_code == 200
    assert client.get("/fhir/metadata?_format=json").status_code == 200


def test_accept_headers():
    assert accepts_json("application/fhir+json")
    assert accepts_json("text/html, */*;q=0.1")
    assert not accepts_json("application/fhir+xml")
    assert not accepts_json("application/json;q=0")


def test_a_missing_scope_on_a_fhir_route_is_a_403_outcome(client, core, auth_settings):
    payer = bearer(core, auth_settings, "sample-payer-62308")
    response = client.post(
        "/fhir/Subscription", content=json.dumps(subscription_resource()), headers={**FHIR, **payer}
    )
    outcome_of(response, 403, "forbidden")


def test_metadata_declares_only_what_is_implemented(client, core):
    statement = client.get("/fhir/metadata", headers={"Authorization": ""}).json()
    assert statement["format"] == ["json", "application/fhir+json"]
    rest = statement["rest"][0]
    security = rest["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    [oauth] = security["extension"]
    token = {e["url"]: e["valueUri"] for e in oauth["extension"]}["token"]
    base = urlsplit(core.settings.fhir_base_url)
    assert urlsplit(token).netloc == base.netloc
    resources = {r["type"]: r for r in rest["resource"]}
    subscription = resources["Subscription"]
    declared = [i["code"] for i in subscription["interaction"]]
    assert declared == ["create", "read", "update", "delete"]
    assert [o["name"] for o in subscription["operation"]] == ["status"]
    assert [o["name"] for o in resources["Claim"]["operation"]] == ["submit", "inquire"]
    assert [i["code"] for i in resources["Bundle"]["interaction"]] == ["read"]
    assert [i["code"] for i in resources["Questionnaire"]["interaction"]] == ["read"]
    assert "interaction" not in resources["ClaimResponse"]  # only returned, never read alone
    # Each declared interaction answers (not 404/405) for the partner that made the resource.
    created = client.post(
        "/fhir/Subscription", content=json.dumps(subscription_resource()), headers=FHIR
    )
    path = f"/fhir/Subscription/{created.json()['id']}"
    assert client.get(path).status_code == 200
    assert client.get(f"{path}/$status").status_code == 200
    assert (
        client.put(path, content=json.dumps(subscription_resource()), headers=FHIR).status_code
        == 200
    )
    assert client.delete(path).status_code == 200


def test_smart_discovery_at_the_fhir_base_needs_no_credentials(client):
    answer = client.get("/fhir/.well-known/smart-configuration", headers={"Authorization": ""})
    assert answer.status_code == 200, answer.text
    discovery = answer.json()
    assert discovery["token_endpoint"] == "http://127.0.0.1:8000/auth/token"
    assert "client-confidential-asymmetric" in discovery["capabilities"]
    assert discovery == client.get("/.well-known/smart-configuration").json()


def test_the_token_endpoint_follows_the_fhir_base_host(tmp_path, core):
    from gateway.api.app import create_app
    from tests.conftest import make_auth_settings

    settings = make_settings(tmp_path).model_copy(
        update={"fhir_base_url": "https://pas.payer.example/fhir"}
    )
    auth = make_auth_settings()
    with TestClient(create_app(settings, core=core, auth_settings=auth)) as anonymous:
        discovery = anonymous.get("/fhir/.well-known/smart-configuration").json()
        statement = anonymous.get("/fhir/metadata").json()
    assert discovery["token_endpoint"] == "https://pas.payer.example/auth/token"
    oauth = statement["rest"][0]["security"]["extension"][0]["extension"]
    assert oauth[0]["valueUri"] == "https://pas.payer.example/auth/token"
    # What is advertised is what the token route checks a client assertion's audience against.
    assert auth.token_endpoint == "https://pas.payer.example/auth/token"
    # An operator who names the public URL keeps it.
    named = make_auth_settings(public_url="https://login.payer.example")
    with TestClient(create_app(settings, core=core, auth_settings=named)) as anonymous:
        discovery = anonymous.get("/fhir/.well-known/smart-configuration").json()
    assert discovery["token_endpoint"] == "https://login.payer.example/auth/token"


def test_inquire_without_a_match_is_an_empty_parameters(client):
    bundle = json.loads(sample("ddact-her2neg.json"))
    assert (
        client.post("/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR).status_code
        == 200
    )
    bundle["entry"][0]["resource"]["identifier"] = [{"value": "NEVER-SENT"}]
    response = client.post("/fhir/Claim/$inquire", content=json.dumps(bundle), headers=FHIR)
    assert response.status_code == 200, response.text
    assert response.json() == {"resourceType": "Parameters"}


def _create(client, headers: dict[str, str]) -> str:
    created = client.post(
        "/fhir/Subscription",
        content=json.dumps(subscription_resource()),
        headers={**FHIR, **headers},
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "requested"
    return created.json()["id"]


def test_only_the_creator_updates_or_deletes_a_subscription(client, core, auth_settings):
    ehr = bearer(core, auth_settings, "sample-oncology-ehr")
    subscription_id = _create(client, ehr)
    path = f"/fhir/Subscription/{subscription_id}"
    moved = subscription_resource()
    moved["channel"]["endpoint"] = "https://ehr.hope-oncology.example/notifications/v2"
    # The operator's console is another system: PAS spec-59 refuses it, whatever its role.
    for refused in (
        client.put(path, content=json.dumps(moved), headers=FHIR),
        client.delete(path),
    ):
        body = outcome_of(refused, 403, "forbidden")
        assert "spec-59" in body["issue"][0]["diagnostics"]
    assert client.get(path, headers=ehr).json()["channel"]["endpoint"].endswith("/notifications")
    outcome_of(client.delete("/fhir/Subscription/none", headers=ehr), 404, "not-found")
    wrong_id = {**moved, "id": "another"}
    outcome_of(
        client.put(path, content=json.dumps(wrong_id), headers={**FHIR, **ehr}), 400, "invariant"
    )

    updated = client.put(path, content=json.dumps(moved), headers={**FHIR, **ehr})
    assert updated.status_code == 200, updated.text
    assert updated.json()["id"] == subscription_id
    assert updated.json()["channel"]["endpoint"].endswith("/notifications/v2")
    assert updated.json()["status"] == "requested"  # a new endpoint gets a new handshake
    with core.sessions() as session:
        handshakes = session.query(OutboxJobRow).filter(OutboxJobRow.case_id.is_(None)).all()
    assert [job.payload["endpoint"].rsplit("/", 1)[1] for job in handshakes] == [
        "notifications",
        "v2",
    ]
    off = {**moved, "status": "off"}
    assert (
        client.put(path, content=json.dumps(off), headers={**FHIR, **ehr}).json()["status"] == "off"
    )
    deleted = client.delete(path, headers=ehr)
    assert deleted.status_code == 200
    assert deleted.json()["issue"][0]["severity"] == "information"
    outcome_of(client.get(path, headers=ehr), 404, "not-found")


def _status(client, subscription_id: str) -> str:
    answer = client.get(f"/fhir/Subscription/{subscription_id}/$status")
    assert answer.status_code == 200, answer.text
    parameters = {p["name"]: p for p in answer.json()["parameter"]}
    assert parameters["type"]["valueCode"] == "query-status"
    assert parameters["subscription"]["valueReference"]["reference"].endswith(subscription_id)
    return parameters["status"]["valueCode"]


def test_a_subscription_is_active_only_once_its_handshake_succeeded(client, core):
    with loopback_endpoint(core) as endpoint:
        endpoint.answers = [410]  # the first handshake is refused for good, the next taken
        failing = subscribe(client, endpoint)["id"]
        taken = subscribe(client, endpoint)["id"]
        assert _status(client, failing) == _status(client, taken) == "requested"
        client.app.state.run_outbox_once()  # the dispatcher sets each status as it goes
    assert _status(client, taken) == "active"
    assert _status(client, failing) == "error"
    assert client.get(f"/fhir/Subscription/{failing}").json()["status"] == "error"
    outcome_of(client.get("/fhir/Subscription/none/$status"), 404, "not-found")
