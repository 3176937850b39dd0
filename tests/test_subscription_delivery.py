"""A subscriber's real endpoint hears of a pended case's decision exactly once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from gateway.settings import REPO_ROOT
from tests.test_fhir_routes import subscription_resource

# What these tests check lives in the store: they run on SQLite and on PostgreSQL.
pytestmark = pytest.mark.store


class Endpoint:
    """A rest-hook endpoint on loopback that records what it is sent."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        self.headers: list[dict] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                endpoint.received.append(json.loads(self.rfile.read(length)))
                endpoint.headers.append(dict(self.headers))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def kinds(self) -> list[str]:
        kinds = []
        for bundle in self.received:
            status = bundle["entry"][0]["resource"]
            for parameter in status.get("parameter", []):
                if parameter.get("name") == "type":
                    kinds.append(parameter.get("valueCode"))
        return kinds


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    server = Endpoint()
    server.thread.start()
    yield server
    server.server.shutdown()


def test_decision_on_a_pended_case_reaches_the_subscriber_once(client, endpoint, core):
    # Loopback over http only because the development allow-list names it.
    core.settings.subscription_allowed_hosts = ["127.0.0.1"]
    resource = subscription_resource()
    resource["channel"]["endpoint"] = endpoint.url
    resource["channel"]["header"] = [
        "X-Subscriber-Token: subscriber-token",
        "Authorization: Bearer partner-token",
        "Host: internal.example",
        "Cookie: session=partner",
    ]
    created = client.post(
        "/fhir/Subscription",
        content=json.dumps(resource),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert created.status_code == 201, created.text
    run_once = client.app.state.run_outbox_once
    while run_once():  # the handshake first: only an active subscription is notified
        pass
    bundle = (REPO_ROOT / "samples" / "pas" / "tc-her2neg.json").read_text()
    pended = client.post(
        "/fhir/Claim/$submit", content=bundle, headers={"Content-Type": "application/fhir+json"}
    ).json()
    case_id = pended["entry"][0]["resource"]["identifier"][0]["value"]
    decision = {"reviewer": "dr-1", "decision": "approve", "rationale": "peer to peer held"}
    assert client.post(f"/cases/{case_id}/determination", json=decision).status_code == 200

    while run_once():
        pass
    assert run_once() == 0  # nothing left: a second pass delivers nothing again

    assert endpoint.kinds() == ["handshake", "event-notification"]
    notification = endpoint.received[1]
    focus = notification["entry"][1]["resource"]
    claim_response = focus["entry"][0]["resource"]
    assert claim_response["resourceType"] == "ClaimResponse"
    assert claim_response["identifier"][0]["value"] == case_id
    for headers in endpoint.headers:
        assert headers.get("X-Subscriber-Token") == "subscriber-token"
        assert "Authorization" not in headers and "Cookie" not in headers
        assert headers["Host"] == endpoint.url.split("/")[2]  # the URL's, not the partner's
