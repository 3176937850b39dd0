"""Every timestamp of a PAS answer is the gateway's clock (the case service's `clock`: frozen in
tests and conformance runs), never the wall clock: the $submit and $inquire Bundle.timestamp, a
subscription's handshake, and an event notification (the decision's moment)."""

from __future__ import annotations

import copy
import json
from datetime import timedelta

from tests.conftest import NOW
from tests.subscriber import FHIR, active_subscription, loopback_endpoint
from tests.test_fhir_routes import load

SUBMITTED = NOW + timedelta(minutes=3, seconds=5)
INQUIRED = NOW + timedelta(hours=2, minutes=17, seconds=42)
SUBSCRIBED = NOW - timedelta(minutes=30, seconds=11)
DECIDED = NOW + timedelta(hours=5, minutes=1, seconds=9)


def stamp(moment) -> str:  # type: ignore[no-untyped-def]
    return moment.isoformat(timespec="seconds")


def test_the_inquire_answer_is_timestamped_by_the_gateways_clock(client, clock) -> None:
    clock.now = SUBMITTED
    submitted = client.post(
        "/fhir/Claim/$submit", content=json.dumps(load("ddact-her2neg.json")), headers=FHIR
    )
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["timestamp"] == stamp(SUBMITTED)

    clock.now = INQUIRED
    inquiry = copy.deepcopy(load("ddact-her2neg.json"))
    inquiry["entry"][0]["resource"]["use"] = "preauthorization"
    answer = client.post("/fhir/Claim/$inquire", content=json.dumps(inquiry), headers=FHIR)
    assert answer.status_code == 200, answer.text
    [returned] = answer.json()["parameter"]
    bundle = returned["resource"]
    assert bundle["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
    assert bundle["timestamp"] == stamp(INQUIRED)
    # The ClaimResponse says when the decision was made, not when it was asked about.
    assert bundle["entry"][0]["resource"]["created"] == stamp(SUBMITTED)


def test_handshake_and_notification_are_timestamped_by_the_gateways_clock(
    client, core, clock
) -> None:
    with loopback_endpoint(core) as endpoint:
        clock.now = SUBSCRIBED
        active_subscription(client, endpoint)
        pended = client.post(
            "/fhir/Claim/$submit", content=json.dumps(load("tc-her2neg.json")), headers=FHIR
        )
        case_id = pended.headers["X-Case-Ids"]
        clock.now = DECIDED
        decision = {"reviewer": "dr-1", "decision": "approve", "rationale": "peer to peer held"}
        assert client.post(f"/cases/{case_id}/determination", json=decision).status_code == 200
        clock.now = DECIDED + timedelta(minutes=9)  # delivered later: still the decision's
        while client.app.state.run_outbox_once():
            pass
    handshake, notification = endpoint.received
    assert handshake["timestamp"] == SUBSCRIBED.isoformat(timespec="milliseconds")
    assert notification["timestamp"] == DECIDED.isoformat(timespec="milliseconds")
    status = notification["entry"][0]["resource"]
    [event] = [p for p in status["parameter"] if p["name"] == "notification-event"]
    moments = [p["valueInstant"] for p in event["part"] if p["name"] == "timestamp"]
    assert moments == [DECIDED.isoformat(timespec="milliseconds")]
    assert notification["entry"][1]["resource"]["timestamp"] == stamp(DECIDED)
