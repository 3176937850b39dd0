"""A PAS subscriber for tests: a rest-hook endpoint on loopback, and a subscription made through
the app whose handshake the real dispatcher delivered (so the subscription is active)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from fastapi.testclient import TestClient

from tests.test_fhir_routes import subscription_resource

FHIR = {"Content-Type": "application/fhir+json"}


class Endpoint:
    """Records each notification; answers with the next status of `answers` (200 when none)."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.answers: list[int] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                endpoint.received.append(json.loads(self.rfile.read(length)))
                self.send_response(endpoint.answers.pop(0) if endpoint.answers else 200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def kinds(self) -> list[str]:
        """The SubscriptionStatus type of each Bundle received: handshake, event-notification."""
        return [
            parameter["valueCode"]
            for bundle in self.received
            for parameter in bundle["entry"][0]["resource"]["parameter"]
            if parameter["name"] == "type"
        ]


@contextmanager
def loopback_endpoint(core: Any) -> Iterator[Endpoint]:
    """An endpoint on 127.0.0.1, which the gateway may send to (the development allow-list)."""
    core.settings.subscription_allowed_hosts = ["127.0.0.1"]
    endpoint = Endpoint()
    thread = threading.Thread(target=endpoint.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        endpoint.server.shutdown()
        endpoint.server.server_close()


def subscribe(
    client: TestClient,
    endpoint: Endpoint,
    *,
    headers: dict[str, str] | None = None,
    resource: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """POST a Subscription for `endpoint` (201, `requested`); the stored resource."""
    resource = resource or subscription_resource()
    resource["channel"]["endpoint"] = endpoint.url
    created = client.post(
        "/fhir/Subscription", content=json.dumps(resource), headers={**FHIR, **(headers or {})}
    )
    assert created.status_code == 201, created.text
    assert created.json()["status"] == "requested"
    return created.json()


def active_subscription(
    client: TestClient,
    endpoint: Endpoint,
    *,
    headers: dict[str, str] | None = None,
    resource: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A subscription whose handshake the app's outbox dispatcher delivered: `active`."""
    created = subscribe(client, endpoint, headers=headers, resource=resource)
    while client.app.state.run_outbox_once():  # type: ignore[attr-defined]
        pass
    read = client.get(f"/fhir/Subscription/{created['id']}", headers=headers or {})
    assert read.json()["status"] == "active", read.text
    return read.json()
