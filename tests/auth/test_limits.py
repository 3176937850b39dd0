"""Limits: a body size per channel (413) and a token bucket per partner (429 + Retry-After)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.audit.models import AuditRow
from gateway.partners.limits import RateLimiter, attachment_problem, body_limit
from gateway.partners.settings import MIB, AuthSettings
from tests.auth.conftest import CLEARINGHOUSE, EHR, OPERATOR
from tests.conftest import bearer, jane_doe_request, make_auth_settings


def test_rate_limit_answers_429_with_retry_after(settings, core):
    auth = make_auth_settings(rate_limit_per_second=0.5, rate_limit_burst=3)
    with TestClient(create_app(settings, core=core, auth_settings=auth)) as client:
        headers = bearer(core, auth, EHR)
        answers = [client.get("/cases", headers=headers).status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        limited = client.get("/cases", headers=headers)
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["Retry-After"]) <= 2
        # Each partner has its own bucket.
        assert client.get("/cases", headers=bearer(core, auth, CLEARINGHOUSE)).status_code == 200
    with core.sessions() as session:
        refused = (
            session.execute(select(AuditRow).where(AuditRow.status_code == 429)).scalars().all()
        )
    assert refused and refused[0].partner_id == EHR


def test_token_bucket_refills_at_its_rate():
    now = [100.0]
    limiter = RateLimiter(clock=lambda: now[0])
    assert [limiter.take("p", 2.0, 2) for _ in range(2)] == [0.0, 0.0]
    assert limiter.take("p", 2.0, 2) == 0.5
    now[0] += 0.5
    assert limiter.take("p", 2.0, 2) == 0.0


def test_repeated_failed_logins_from_one_address_are_slowed(settings, core):
    auth = make_auth_settings(login_failures_burst=2, login_failures_per_minute=1)
    with TestClient(create_app(settings, core=core, auth_settings=auth)) as client:
        codes = [
            client.get("/cases", auth=(EHR, "guess-number-one-xx")).status_code for _ in range(3)
        ]
        assert codes == [401, 401, 429]


def test_oversized_body_is_413(settings, core):
    auth = make_auth_settings(max_body_default=64 * 1024)
    with TestClient(create_app(settings, core=core, auth_settings=auth)) as client:
        headers = bearer(core, auth, EHR)
        body = jane_doe_request(facts={"notes": "x" * (70 * 1024)})
        response = client.post("/cases", json=body, headers=headers)
        assert response.status_code == 413
        assert response.json()["error"] == "payload too large"
        # Streamed without Content-Length (chunked): counted as it arrives.
        chunks = (b"{" + b" " * 16 * 1024 for _ in range(8))
        streamed = client.post(
            "/cases", content=chunks, headers={**headers, "Content-Type": "application/json"}
        )
        assert streamed.status_code == 413
        # Refused for its size before anything else: under the limit, the role decides (the
        # operator's channel), not the size.
        assert client.post("/cases", json=jane_doe_request(), headers=headers).status_code == 403
        operator = bearer(core, auth, OPERATOR)
        assert client.post("/cases", json=jane_doe_request(), headers=operator).status_code == 201
    with core.sessions() as session:
        codes = (
            session.execute(select(AuditRow.status_code).where(AuditRow.status_code == 413))
            .scalars()
            .all()
        )
    assert len(codes) == 2


def test_channel_limits():
    auth = AuthSettings()
    assert body_limit(auth, "/x12/278") == ("x12", 5 * MIB)
    assert body_limit(auth, "/fhir/Claim/$submit")[1] > 25 * MIB * 4 // 3
    assert body_limit(auth, "/cases")[0] == "api"
    assert attachment_problem([MIB] * 5) is None
    assert "at most 5" in attachment_problem([MIB] * 6)
    assert attachment_problem([6 * MIB]) is not None
    assert attachment_problem([5 * MIB] * 5) is None
