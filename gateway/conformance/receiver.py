"""The subscriber's side of a conformance run: a rest-hook endpoint on the loopback that keeps
what the gateway POSTs to it (subscription handshakes and notifications), so a case can state
what a subscribed EHR was told, as the Inferno PAS kit waits for a pended request's
notification.

One receiver a case, on 127.0.0.1 and a free port; the runner names it as the endpoint of every
Subscription a `subscribe` step sends and lets the gateway reach it (a development host of
GATEWAY_SUBSCRIPTION_ALLOWED_HOSTS), and shuts it down with the case.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from gateway.conformance.observe import observe_fhir

PATH = "/notifications"


class NotificationReceiver:
    def __init__(self) -> None:
        self.received: list[Any] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = {"unreadable": raw[:200].decode("utf-8", "replace")}
                with receiver._lock:
                    receiver.received.append(body)
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the run's report says what arrived; no access log on the console

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        # Each connection awaited without a timeout (and handled on a thread of its own):
        # serve_forever looks for a shutdown every half second, and shutting it down waited for
        # that, a quarter of a second a case; here __exit__ wakes the wait with a connection.
        while not self._stopping.is_set():
            self._server.handle_request()

    @property
    def host(self) -> str:
        """host:port, as GATEWAY_SUBSCRIPTION_ALLOWED_HOSTS names a development host."""
        host, port = self._server.server_address[:2]
        return f"{host!s}:{port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}{PATH}"

    def __enter__(self) -> NotificationReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        # The wake-up: handle_request returns once it has taken this connection (its handler
        # reads no request line and answers nothing), and the loop then sees the stop.
        host, port = self._server.server_address[:2]
        with socket.create_connection((str(host), port), timeout=5):
            pass
        self._thread.join()
        self._server.server_close()  # joins the handler threads still running

    def observed(self) -> list[dict[str, Any]]:
        """Each notification that arrived, in order: its type (handshake, heartbeat,
        event-notification) and, for an event, what its focus (the PAS response Bundle) says."""
        with self._lock:
            bodies = list(self.received)
        return [observe_notification(body) for body in bodies]


def observe_notification(body: Any) -> dict[str, Any]:
    """A backport notification Bundle reduced like a $submit answer: its type from the
    SubscriptionStatus, then the review actions of the full-resource response it carries."""
    if not isinstance(body, dict) or body.get("resourceType") != "Bundle":
        return {"type": "not-a-bundle"}
    entries = [e.get("resource") or {} for e in body.get("entry") or [] if isinstance(e, dict)]
    status = entries[0] if entries else {}
    kinds = [
        p.get("valueCode")
        for p in status.get("parameter") or []
        if isinstance(p, dict) and p.get("name") == "type"
    ]
    observed: dict[str, Any] = {"type": kinds[0] if kinds else None}
    focus = next((r for r in entries[1:] if r.get("resourceType") == "Bundle"), None)
    if focus is not None:
        answer = observe_fhir(focus)
        observed["content"] = "full-resource"
        observed.update({key: answer.get(key) for key in ("first_entry", "outcome", "items")})
    return observed
