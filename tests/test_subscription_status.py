"""A PAS subscription's status is set by the outbox dispatcher as its handshake job ends (R4
Subscriptions Backport): `requested` until the handshake is delivered, then `active`; `error`
once it failed for good; stored in the same transaction as the job's state, not worked out when
someone reads it. Event notifications go to active subscriptions only: a decision made while the
subscription is `requested` or in `error` queues none. Through the app, the real dispatcher
(run_outbox_once) and a rest-hook endpoint on loopback, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy
import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from gateway.store.models import OutboxJobRow, SubscriptionRow
from tests.conftest import NOW
from tests.subscriber import FHIR, loopback_endpoint, subscribe
from tests.test_fhir_routes import load

pytestmark = pytest.mark.store
DECISION = {"reviewer": "dr-1", "decision": "approve", "rationale": "peer to peer held"}


def decided_case(client, number: int) -> str:  # type: ignore[no-untyped-def]
    """A pended PAS request of the subscribed organization, then a reviewer's approval."""
    bundle = copy.deepcopy(load("tc-her2neg.json"))
    bundle["identifier"]["value"] += f"-{number}"
    bundle["entry"][0]["resource"]["identifier"][0]["value"] = f"REQ-TC-{number}"
    sent = client.post("/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR)
    assert sent.status_code == 200, sent.text
    case_id = sent.headers["X-Case-Ids"]
    assert client.post(f"/cases/{case_id}/determination", json=DECISION).status_code == 200
    return case_id


def stored(core: Any, subscription_id: str) -> tuple[str, str, list[tuple[str, str]]]:
    """The row's status, its resource's status, and (key, state) of its jobs, as stored."""
    with core.sessions() as session:
        row = session.get(SubscriptionRow, subscription_id)
        jobs = session.execute(
            select(OutboxJobRow.idempotency_key, OutboxJobRow.state)
            .where(OutboxJobRow.idempotency_key.like(f"subscription:{subscription_id}:%"))
            .order_by(OutboxJobRow.id)
        ).all()
        return row.status, row.resource["status"], [(key, state) for key, state in jobs]


def run_outbox(client) -> None:  # type: ignore[no-untyped-def]
    while client.app.state.run_outbox_once():
        pass


def test_the_delivered_handshake_makes_it_active_and_only_then_are_events_sent(client, core):
    with loopback_endpoint(core) as endpoint:
        created = subscribe(client, endpoint)
        subscription_id = created["id"]
        assert stored(core, subscription_id)[:2] == ("requested", "requested")
        # Decided before the handshake went out: the subscription is not active, so no event
        # notification is queued for it (backport workflow: notifications once active).
        before = decided_case(client, 1)
        keys = [key for key, _ in stored(core, subscription_id)[2]]
        assert keys == [f"subscription:{subscription_id}:handshake"]

        run_outbox(client)
        # The dispatcher stored the status with the job's state, before anyone read it.
        status, resource_status, jobs = stored(core, subscription_id)
        assert (status, resource_status) == ("active", "active")
        assert jobs == [(f"subscription:{subscription_id}:handshake", "delivered")]
        assert endpoint.kinds() == ["handshake"]
        read = client.get(f"/fhir/Subscription/{subscription_id}")
        assert read.json()["status"] == "active"
        parameters = client.get(f"/fhir/Subscription/{subscription_id}/$status").json()
        assert {"name": "status", "valueCode": "active"} in parameters["parameter"]

        after = decided_case(client, 2)
        run_outbox(client)
        assert endpoint.kinds() == ["handshake", "event-notification"]
        focus = json.dumps(endpoint.received[1])
        assert after in focus and before not in focus


def test_a_handshake_refused_for_good_is_stored_as_error_and_hears_nothing(client, core):
    with loopback_endpoint(core) as endpoint:
        endpoint.answers = [410]  # gone: not tried again
        subscription_id = subscribe(client, endpoint)["id"]
        run_outbox(client)
        status, resource_status, jobs = stored(core, subscription_id)
        assert (status, resource_status) == ("error", "error")
        assert jobs == [(f"subscription:{subscription_id}:handshake", "dead")]
        assert client.get(f"/fhir/Subscription/{subscription_id}").json()["status"] == "error"

        decided_case(client, 1)
        assert [key for key, _ in stored(core, subscription_id)[2]] == [
            f"subscription:{subscription_id}:handshake"
        ]
        run_outbox(client)
        assert endpoint.kinds() == ["handshake"]


def test_a_handshake_that_will_be_tried_again_stays_requested(client, core, clock):
    with loopback_endpoint(core) as endpoint:
        endpoint.answers = [503]  # the endpoint is down for now
        subscription_id = subscribe(client, endpoint)["id"]
        run_outbox(client)
        status, _, jobs = stored(core, subscription_id)
        assert status == "requested" and jobs[0][1] == "queued"
        assert client.get(f"/fhir/Subscription/{subscription_id}").json()["status"] == "requested"

        clock.now = NOW + timedelta(hours=1)  # past the backoff: tried again, taken
        run_outbox(client)
        assert stored(core, subscription_id)[:2] == ("active", "active")
        assert endpoint.kinds() == ["handshake", "handshake"]


def test_an_earlier_handshake_does_not_decide_for_a_new_endpoint(client, core):
    with loopback_endpoint(core) as endpoint:
        created = subscribe(client, endpoint)
        subscription_id = created["id"]
        changed = copy.deepcopy(created)
        changed["channel"]["endpoint"] = endpoint.url.replace("/notify", "/notify/v2")
        put = client.put(
            f"/fhir/Subscription/{subscription_id}", content=json.dumps(changed), headers=FHIR
        )
        assert put.status_code == 200, put.text
        assert put.json()["status"] == "requested"
        endpoint.answers = [200, 410]  # the first endpoint's handshake taken, the new refused
        run_outbox(client)
        status, _, jobs = stored(core, subscription_id)
        assert [state for _, state in jobs] == ["delivered", "dead"]
        assert status == "error"  # the new endpoint's handshake decides, not the earlier one
