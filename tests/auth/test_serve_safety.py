"""`gateway serve` on loopback, at the most verbose log level there is (issue 18): uvicorn's
TRACE writes every ASGI scope with its raw path and query string, yet no member id and no
secret reaches the log, and the audit trail holds neither. The same server refuses a
cross-partner $inquire."""

from __future__ import annotations

import base64
import functools
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from gateway.settings import REPO_ROOT
from tests.conftest import migrated_sqlite_url

MEMBER_ID = "U1234567801"
SECRETS = {
    "ops-console": "demo-operator-secret-0001",
    "sample-oncology-ehr": "demo-ehr-secret-0001",
    "sample-clearinghouse": "demo-clearinghouse-secret-0001",
    "sample-payer-62308": "demo-payer-secret-0001",
}
FHIR = {"Content-Type": "application/fhir+json"}
# The server's first $submit loads what the PAS checks and the letters need: on a loaded
# machine that is longer than httpx's 5 s default. A bound on the wait, not a speed check.
post = functools.partial(httpx.post, timeout=120.0)
get = functools.partial(httpx.get, timeout=120.0)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Served:
    url: str
    stderr: Path
    database: Path
    process: subprocess.Popen[bytes]

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.stderr.read_text()


def serve(tmp_path: Path, level: str) -> Iterator[Served]:
    port = free_port()
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": migrated_sqlite_url(tmp_path / "gateway.db"),
        "GATEWAY_FAX_SPOOL": str(tmp_path / "fax"),
        "GATEWAY_MAIL_DIR": str(tmp_path / "mail"),
        "GATEWAY_MEMBER_MAIL_DIR": str(tmp_path / "member-mail"),
        "GATEWAY_PAYER_FEED_DIR": str(tmp_path / "payer-feed"),
        "GATEWAY_TOKEN_KEY_FILE": str(tmp_path / "token.key"),
        "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GATEWAY_LOG_LEVEL": level,
    }
    env.pop("GATEWAY_SMTP_URL", None)
    stderr = tmp_path / "serve.log"
    command = [str(Path(sys.executable).parent / "gateway"), "serve", "--port", str(port)]
    with stderr.open("wb") as sink:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=sink, cwd=REPO_ROOT, start_new_session=True
        )
    served = Served(f"http://127.0.0.1:{port}", stderr, tmp_path / "gateway.db", process)
    try:
        _wait_until_up(served)
        yield served
    finally:
        served.stop()


def _wait_until_up(served: Served) -> None:
    # Bounded polling for start-up (not a speed check): up to 600 tries of 0.1 s.
    for _ in range(600):
        if served.process.poll() is not None:
            pytest.fail(f"gateway serve exited: {served.stderr.read_text()[-2000:]}")
        try:
            if httpx.get(served.url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        try:
            served.process.wait(timeout=0.1)
        except subprocess.TimeoutExpired:
            pass
    pytest.fail("gateway serve did not answer /healthz")


@pytest.fixture(scope="module", params=["TRACE", "1"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """One server a level for the module: the cross-partner $inquire runs on it first (pytest
    orders a module-scoped parameter's tests together, in file order), then the log test
    stops it to read everything it wrote."""
    yield from serve(tmp_path_factory.mktemp(f"serve-{request.param}"), request.param)


def token(served: Served, partner: str) -> str:
    answer = post(
        served.url + "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=(partner, SECRETS[partner]),
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_a_cross_partner_inquiry_gets_nothing_over_loopback(served: Served):
    owner = {"Authorization": f"Bearer {token(served, 'sample-oncology-ehr')}"}
    bundle = json.loads((REPO_ROOT / "samples" / "pas" / "tc-her2neg.json").read_text())
    sent = post(
        f"{served.url}/fhir/Claim/$submit", content=json.dumps(bundle), headers={**FHIR, **owner}
    )
    assert sent.status_code == 200, sent.text
    case_id = sent.headers["X-Case-Ids"]
    inquiry = json.dumps(bundle)
    own = post(f"{served.url}/fhir/Claim/$inquire", content=inquiry, headers={**FHIR, **owner})
    assert own.status_code == 200 and case_id in own.text

    other = {"Authorization": f"Bearer {token(served, 'sample-clearinghouse')}"}
    answer = post(f"{served.url}/fhir/Claim/$inquire", content=inquiry, headers={**FHIR, **other})
    # Claim-inquiry `return` is 0..*: nothing to show is an empty answer, with the PAS
    # spec-50 warning that a match was withheld (issue 14 item 15); never the case itself.
    assert answer.status_code == 200
    assert [p["name"] for p in answer.json()["parameter"]] == ["outcome"]
    assert case_id not in answer.text and "ClaimResponse" not in answer.text
    # An identifier with no value does not turn the claim filter off.
    bundle["entry"][0]["resource"]["identifier"] = [{"system": "urn:any"}]
    widened = post(
        f"{served.url}/fhir/Claim/$inquire", content=json.dumps(bundle), headers={**FHIR, **other}
    )
    assert widened.status_code == 400
    assert case_id not in widened.text and "ClaimResponse" not in widened.text
    # HTTP Basic is not a FHIR credential, even with the right secret.
    basic = post(
        f"{served.url}/fhir/Claim/$inquire",
        content=inquiry,
        headers=FHIR,
        auth=("sample-oncology-ehr", SECRETS["sample-oncology-ehr"]),
    )
    assert basic.status_code == 401 and case_id not in basic.text


def test_the_most_verbose_log_holds_no_member_id_and_no_secret(served: Served):
    on = {"date": "2026-12-01"}
    operator = ("ops-console", SECRETS["ops-console"])
    looked_up = get(f"{served.url}/eligibility/{MEMBER_ID}", params=on, auth=operator)
    assert looked_up.status_code == 200 and looked_up.json()["member_id"] == MEMBER_ID
    ehr = token(served, "sample-oncology-ehr")
    bearer = {"Authorization": f"Bearer {ehr}"}
    eligible = get(f"{served.url}/eligibility/{MEMBER_ID}", params=on, headers=bearer)
    assert eligible.status_code == 200
    payer = ("sample-payer-62308", SECRETS["sample-payer-62308"])
    refused = get(f"{served.url}/eligibility/{MEMBER_ID}", params=on, auth=payer)
    assert refused.status_code == 403
    assert get(f"{served.url}/eligibility/{MEMBER_ID}", params=on).status_code == 401
    # Paths no route serves are traced too.
    get(f"{served.url}/Eligibility//{MEMBER_ID}", params={"member": MEMBER_ID}, auth=operator)
    wrong = get(
        f"{served.url}/eligibility/{MEMBER_ID}", auth=("ops-console", "a-wrong-secret-0001")
    )
    assert wrong.status_code == 401
    sent = post(
        f"{served.url}/fhir/Claim/$submit",
        content=(REPO_ROOT / "samples" / "pas" / "tc-her2neg.json").read_bytes(),
        headers={**FHIR, **bearer},
    )
    assert sent.status_code == 200, sent.text

    log = served.stop()
    records = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    levels = {record["level"] for record in records}
    assert "TRACE" in levels, "the server did not log at its most verbose level"
    traced = [r for r in records if r["logger"] == "uvicorn.asgi"]
    assert any("/eligibility/{member_id}" in r["message"] for r in traced)
    requests = [r for r in records if r["logger"] == "gateway.http"]
    assert any(r.get("path") == "/eligibility/{member_id}" for r in requests)

    secrets = [*SECRETS.values(), "a-wrong-secret-0001", ehr]
    secrets += [
        base64.b64encode(f"{partner}:{secret}".encode()).decode()
        for partner, secret in [*SECRETS.items(), ("ops-console", "a-wrong-secret-0001")]
    ]
    for value in (MEMBER_ID, *secrets):
        assert value not in log, value
    # Nor in the audit trail the same requests wrote.
    engine = create_engine(f"sqlite:///{served.database}")
    with engine.connect() as connection:
        audit = json.dumps(
            [list(row) for row in connection.execute(text("SELECT * FROM audit_events"))],
            default=str,
        )
    engine.dispose()
    assert "/eligibility/{member_id}" in audit
    for value in (MEMBER_ID, *secrets):
        assert value not in audit, value
