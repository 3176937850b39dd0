"""No server-side request forgery through Subscription endpoints (issue 18 item 5): refused at
creation, checked again on every connection, no redirect followed, no partner-set Host,
Authorization or Cookie forwarded."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from gateway.egress import address_problem, endpoint_problem
from gateway.store.models import OutboxJobRow, SubscriptionRow
from tests.test_fhir_routes import subscription_resource

FHIR = {"Content-Type": "application/fhir+json"}

REFUSED = [
    "https://127.0.0.1/notify",
    "https://127.10.20.30:8443/notify",
    "https://[::1]/notify",
    "https://localhost/notify",
    "https://api.localhost/notify",
    "https://10.0.0.8/notify",
    "https://172.16.4.2/notify",
    "https://172.31.255.254/notify",
    "https://192.168.1.10/notify",
    "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]/notify",
    "https://0.0.0.0/notify",
    "https://[::]/notify",
    "https://[::ffff:127.0.0.1]/notify",
    "https://[::ffff:169.254.169.254]/notify",
    "https://[fc00::5]/notify",
    "https://2130706433/notify",  # 127.0.0.1 written as one number
    "https://100.64.0.1/notify",
    "http://ehr.hope-oncology.example/notify",  # http to a host not on the allow-list
    "https://user:secret@ehr.hope-oncology.example/notify",
    "ftp://ehr.hope-oncology.example/notify",
    "https://ehr..example/notify",
    "https://ehr.hope-oncology.example:70000/notify",
    "https://exa mple.org/notify",
    "https://[zz]/notify",
]


def post_subscription(client: Any, endpoint: str, headers: list[str] | None = None) -> Any:
    resource = subscription_resource()
    resource["channel"]["endpoint"] = endpoint
    if headers is not None:
        resource["channel"]["header"] = headers
    return client.post("/fhir/Subscription", content=json.dumps(resource), headers=FHIR)


def stored(core: Any) -> tuple[list[SubscriptionRow], list[OutboxJobRow]]:
    with core.sessions() as session:
        return (
            session.query(SubscriptionRow).all(),
            session.query(OutboxJobRow).filter(OutboxJobRow.kind == "subscription").all(),
        )


def drain(client: Any) -> None:
    run_once = client.app.state.run_outbox_once
    while run_once():
        pass


def dead_jobs(client: Any) -> list[dict]:
    response = client.get("/jobs", params={"state": "dead", "kind": "subscription"})
    assert response.status_code == 200
    return response.json()


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, list[str]]], list[str]]:
    """Answers for chosen names (the rest resolve as usual): each look-up takes the next answer
    of the list (the last one stays), an answer being comma-separated addresses. Returns the
    names looked up."""
    real = socket.getaddrinfo
    looked_up: list[str] = []

    def install(answers: dict[str, list[str]]) -> list[str]:
        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list:
            name = host.decode() if isinstance(host, bytes) else str(host)
            if name in answers:
                looked_up.append(name)
                queue = answers[name]
                answer = queue.pop(0) if len(queue) > 1 else queue[0]
                return [
                    (
                        socket.AF_INET6 if ":" in address else socket.AF_INET,
                        socket.SOCK_STREAM,
                        6,
                        "",
                        (address, int(port or 0)),
                    )
                    for address in answer.split(",")
                ]
            return real(host, port, *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
        return looked_up

    return install


class Listener:
    """A TCP port on loopback that counts the connections it is offered."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self.sock.settimeout(0.2)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


class Redirector:
    """An http endpoint that answers every POST with a 307 to `location`."""

    def __init__(self, location: str) -> None:
        self.posts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.posts += 1
                self.send_response(307)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_forbidden_endpoints_are_refused_at_creation(client, core):
    for endpoint in REFUSED:
        response = post_subscription(client, endpoint)
        assert response.status_code == 400, (endpoint, response.text)
        body = response.json()
        assert body["resourceType"] == "OperationOutcome", endpoint
        (issue,) = body["issue"]
        assert issue["expression"] == ["Subscription.channel.endpoint"], endpoint
    assert stored(core) == ([], [])


def test_a_name_resolving_to_a_private_address_is_refused(client, core, fake_dns):
    looked_up = fake_dns(
        {
            "internal.partner.example": ["10.20.30.40"],
            "mapped.partner.example": ["::ffff:192.168.0.9"],
            "split.partner.example": ["93.184.215.14,127.0.0.1"],  # one good, one not
        }
    )
    names = ("internal.partner.example", "mapped.partner.example", "split.partner.example")
    for name in names:
        response = post_subscription(client, f"https://{name}/notify")
        assert response.status_code == 400, response.text
        assert "not a public address" in response.json()["issue"][0]["diagnostics"]
    assert looked_up == list(names)
    assert stored(core) == ([], [])


def test_a_public_https_endpoint_is_accepted_without_forbidden_headers(client, core, fake_dns):
    fake_dns({"ehr.partner.example": ["93.184.215.14"]})
    response = post_subscription(
        client,
        "https://ehr.partner.example/notify",
        ["Authorization: Bearer partner-token", "Host: 10.0.0.1", "X-Api-Key: key-1"],
    )
    assert response.status_code == 201, response.text
    assert response.json()["channel"]["header"] == ["X-Api-Key: key-1"]
    (row,), (job,) = stored(core)
    assert row.resource["channel"]["header"] == ["X-Api-Key: key-1"]
    assert job.payload["headers"] == ["X-Api-Key: key-1"]


def test_a_dns_change_after_creation_is_caught_at_delivery(client, core, fake_dns, listener):
    """The name was public when the Subscription was made; it now points at loopback, where a
    service listens. Nothing connects to it; the job is dead with its reason."""
    fake_dns({"rebind.partner.example": ["93.184.215.14"]})
    response = post_subscription(client, f"https://rebind.partner.example:{listener.port}/notify")
    assert response.status_code == 201, response.text
    fake_dns({"rebind.partner.example": ["127.0.0.1"]})
    drain(client)
    assert listener.connections == 0
    (dead,) = dead_jobs(client)
    assert "loopback" in dead["last_error"]


def test_a_name_that_changes_between_check_and_connect_is_caught(client, core, fake_dns, listener):
    """DNS rebinding: the first answer is public (the delivery's check), the next loopback (the
    connection's own look-up). The connection checks what it dials."""
    fake_dns({"flip.partner.example": ["93.184.215.14"]})
    assert post_subscription(client, f"https://flip.partner.example:{listener.port}/n").status_code
    looked_up = fake_dns({"flip.partner.example": ["93.184.215.14", "127.0.0.1"]})
    drain(client)
    assert len(looked_up) >= 2  # checked, then looked up again when connecting
    assert listener.connections == 0
    (dead,) = dead_jobs(client)
    assert "loopback" in dead["last_error"]


def test_redirects_are_not_followed(client, core, listener):
    core.settings.subscription_allowed_hosts = ["127.0.0.1"]
    targets = [
        "http://169.254.169.254/latest/meta-data",
        f"http://localhost:{listener.port}/admin",  # loopback, by a name not on the allow-list
    ]
    for target in targets:
        redirector = Redirector(target)
        try:
            assert post_subscription(client, redirector.url).status_code == 201
            drain(client)
            assert redirector.posts == 1  # the handshake, once; refused, not retried
        finally:
            redirector.close()
    assert listener.connections == 0
    dead = dead_jobs(client)
    assert len(dead) == 2
    assert all("redirect" in job["last_error"] for job in dead)


def test_the_allow_list_admits_only_the_hosts_it_names(client, core):
    core.settings.subscription_allowed_hosts = ["127.0.0.1"]
    assert post_subscription(client, "http://127.0.0.1:9/notify").status_code == 201
    assert post_subscription(client, "http://localhost:9/notify").status_code == 400
    assert post_subscription(client, "http://[::1]:9/notify").status_code == 400
    core.settings.subscription_allowed_hosts = ["localhost:8080", "[::1]:9"]
    assert post_subscription(client, "http://localhost:8080/notify").status_code == 201
    assert post_subscription(client, "http://localhost:8081/notify").status_code == 400
    assert post_subscription(client, "http://[::1]:9/notify").status_code == 201


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.255.255.255", False),
        ("172.20.0.1", False),
        ("192.168.255.1", False),
        ("169.254.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::abcd", False),
        ("fd12:3456::1", False),
        ("::ffff:10.0.0.1", False),
        ("::ffff:93.184.215.14", True),
        ("2002:c0a8:0101::1", False),  # 6to4 of 192.168.1.1
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
    ],
)
def test_address_rules(address: str, public: bool) -> None:
    import ipaddress

    assert (address_problem(ipaddress.ip_address(address)) is None) is public


def test_the_allow_list_setting_reads_a_comma_separated_list(monkeypatch) -> None:
    from gateway.settings import Settings

    monkeypatch.setenv("GATEWAY_SUBSCRIPTION_ALLOWED_HOSTS", "127.0.0.1, LocalHost")
    hosts = Settings().subscription_allowed_hosts
    assert hosts == ["127.0.0.1", "LocalHost"]
    assert endpoint_problem("http://localhost:8080/n", hosts) is None
    monkeypatch.setenv("GATEWAY_SUBSCRIPTION_ALLOWED_HOSTS", "")
    assert Settings().subscription_allowed_hosts == []
    assert endpoint_problem("http://127.0.0.1:8080/n", []) is not None
