"""Backport subscriptions, the CapabilityStatement and the pathway questionnaires."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse

from gateway.domain.case import CaseStatus, Determination, Reason
from gateway.fhir import constants as k
from gateway.fhir.capability import capability_statement
from gateway.fhir.profile import check_response
from gateway.fhir.questionnaire import (
    QUESTIONNAIRE_IDS,
    facts_from_questionnaire_response,
    questionnaire,
)
from gateway.fhir.reader import read_case
from gateway.fhir.subscription import (
    accepted,
    handshake_bundle,
    matches,
    notification_bundle,
    parse_filter,
    parse_subscription,
    validate_subscription,
)
from gateway.fhir.writer import response_bundle
from tests.fhir.pas_refs import REFERENCE, load, needs_reference

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


def subscription(org: str = "1987654328", spelling: str = "orgIdentifier") -> dict[str, Any]:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "PAS results for Hope Oncology",
        "criteria": k.SUBSCRIPTION_TOPIC,
        "_criteria": {
            "extension": [{"url": k.EXT_BACKPORT_FILTER, "valueString": f"{spelling}={org}"}]
        },
        "channel": {
            "type": "rest-hook",
            "endpoint": "https://ehr.hope-oncology.example/pas/notify",
            "payload": "application/fhir+json",
            "_payload": {
                "extension": [{"url": k.EXT_BACKPORT_PAYLOAD, "valueCode": "full-resource"}]
            },
        },
    }


@needs_reference
@pytest.mark.parametrize(
    "path",
    [
        "examples/Subscription-PASSubscriptionExample.json",
        "inferno/inferno221_subscription_resource_0.json",
    ],
)
def test_reference_subscriptions_are_accepted(path: str) -> None:
    resource = load(REFERENCE / path)
    assert validate_subscription(resource) == []
    info = parse_subscription(resource)
    assert info.endpoint.startswith("http")
    assert info.org_identifier in ("1234567893", "8189991234")


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (lambda s: s.update(criteria="Claim?status=active"), "Subscription.criteria"),
        (lambda s: s.pop("_criteria"), "Subscription.criteria.extension"),
        (lambda s: s["channel"].update(type="websocket"), "Subscription.channel.type"),
        (lambda s: s["channel"].pop("endpoint"), "Subscription.channel.endpoint"),
        (
            lambda s: s["channel"]["_payload"]["extension"][0].update(valueCode="id-only"),
            "Subscription.channel.payload.extension",
        ),
    ],
)
def test_subscription_rules(change: Any, expression: str) -> None:
    resource = subscription()
    change(resource)
    issues = validate_subscription(resource)
    assert expression in {e for i in issues if i.is_error for e in i.expression}


def test_filter_spellings() -> None:
    assert parse_filter("org-identifier=8189991234") == ("org-identifier", None, "8189991234")
    assert parse_filter(f"orgIdentifier={k.CS_NPI}|1987654328") == (
        "orgIdentifier",
        k.CS_NPI,
        "1987654328",
    )
    assert parse_filter("patient=123") is None


def test_handshake_and_notification(ddact: dict[str, Any]) -> None:
    stored = accepted(subscription(), "sub-1")
    handshake = handshake_bundle(stored, now=NOW)
    Bundle.model_validate(handshake)
    status = handshake["entry"][0]["resource"]
    assert {p["name"]: p.get("valueCode") for p in status["parameter"]}["type"] == "handshake"

    case = read_case(ddact)
    case.id = "PA-2026-000042"
    info = parse_subscription(stored)
    assert matches(info, case)
    assert not matches(parse_subscription(subscription("0000000000")), case)

    determination = Determination(
        status=CaseStatus.APPROVED,
        review_action="A1",
        reason=Reason(code="PATHWAY_PREFERRED", text="Approved after clinical review."),
        auth_number="AUTH-62308-0003",
        decided_at=NOW,
    )
    response = response_bundle(case, determination, None, now=NOW)  # from the stored echo
    notification = notification_bundle(stored, response, event_number=2, now=NOW)
    Bundle.model_validate(notification)
    assert notification["type"] == "history"
    first, second = notification["entry"]
    assert first["resource"]["resourceType"] == "Parameters"
    params = {p["name"]: p for p in first["resource"]["parameter"]}
    assert params["topic"]["valueCanonical"] == k.SUBSCRIPTION_TOPIC
    assert params["type"]["valueCode"] == "event-notification"
    event = {p["name"]: p for p in params["notification-event"]["part"]}
    assert event["event-number"]["valueString"] == "2"
    assert event["focus"]["valueReference"]["reference"] == second["fullUrl"]
    assert second["resource"] is response
    assert not [i for i in check_response(second["resource"], ddact) if i.is_error]


def test_capability_statement() -> None:
    statement = capability_statement()
    CapabilityStatement.model_validate(statement)
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    operations = {o["name"]: o["definition"] for o in resources["Claim"]["operation"]}
    assert operations == {"submit": f"{k.OP_SUBMIT}|2.2.1", "inquire": f"{k.OP_INQUIRE}|2.2.1"}
    topic = resources["Subscription"]["extension"][0]
    assert topic == {"url": k.EXT_CAPABILITY_TOPIC, "valueCanonical": k.SUBSCRIPTION_TOPIC}
    assert statement["fhirVersion"] == "4.0.1"


@pytest.mark.parametrize("name", QUESTIONNAIRE_IDS)
def test_questionnaires_are_valid_and_cover_the_facts(name: str) -> None:
    resource = questionnaire(name)
    assert resource is not None
    Questionnaire.model_validate(resource)
    links = {item["linkId"] for item in resource["item"]}
    assert {"cancer_type", "histology", "stage", "line_of_therapy", "biomarkers"} <= links
    assert {"performance_status", "distant_metastasis"} <= links
    assert ({"her2_status", "er_status", "pr_status"} <= links) == (name == "breast")


def test_unknown_questionnaire() -> None:
    assert questionnaire("melanoma") is None


def test_questionnaire_response_mapping(ddact_qr: dict[str, Any]) -> None:
    answers = next(
        e["resource"]
        for e in ddact_qr["entry"]
        if e["resource"]["resourceType"] == "QuestionnaireResponse"
    )
    QuestionnaireResponse.model_validate(answers)
    loose = copy.deepcopy(answers)
    loose["item"] = [
        {"linkId": "breast.her2_status", "answer": [{"valueString": "3+"}]},
        {"linkId": "line_of_therapy", "answer": [{"valueString": "second line"}]},
        {"linkId": "performance_status", "answer": [{"valueString": "ECOG 2"}]},
        {
            "linkId": "group",
            "item": [{"linkId": "distant_metastasis", "answer": [{"valueCoding": {"code": "Y"}}]}],
        },
        {"linkId": "biomarkers", "answer": [{"valueString": "BRCA1"}, {"valueString": "PIK3CA"}]},
        {"linkId": "stage", "answer": []},
    ]
    assert facts_from_questionnaire_response(loose) == {
        "her2_status": "positive",
        "line_of_therapy": 2,
        "performance_status": 2,
        "distant_metastasis": True,
        "biomarkers": ["BRCA1", "PIK3CA"],
    }
