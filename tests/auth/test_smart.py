"""SMART Backend Services: the client-credentials exchange with a private_key_jwt client
assertion (RS384 and ES384), and every way an assertion is refused."""

from __future__ import annotations

import json
import time

import jwt
import pytest

from gateway.partners.tokens import verify_bearer
from gateway.settings import REPO_ROOT
from tests.auth.conftest import es384_key, register_smart_client, rs384_key, token_request


@pytest.fixture(params=["RS384", "ES384"])
def smart_client(request, core, rsa_key, ec_key):
    key = rsa_key if request.param == "RS384" else ec_key
    client_id = f"smart-{request.param.lower()}"
    register_smart_client(core, client_id, key)
    return client_id, key


def test_full_exchange_gives_a_token_that_works(anonymous, auth_settings, smart_client):
    client_id, key = smart_client
    assertion = key.assertion(client_id, auth_settings.token_endpoint)
    response = anonymous.post("/auth/token", data=token_request(assertion, "system/Claim.write"))
    assert response.status_code == 200, response.text
    assert response.headers["Cache-Control"] == "no-store"
    answer = response.json()
    assert answer["token_type"] == "bearer"
    assert answer["expires_in"] == 300
    assert answer["scope"] == "system/Claim.write"
    claims = jwt.decode(answer["access_token"], options={"verify_signature": False})
    assert claims["sub"] == client_id and claims["exp"] - claims["iat"] == 300
    assert jwt.get_unverified_header(answer["access_token"])["alg"] == "HS256"

    headers = {"Authorization": f"Bearer {answer['access_token']}"}
    sent = anonymous.post(
        "/fhir/Claim/$submit",
        content=(REPO_ROOT / "samples" / "pas" / "ddact-her2neg.json").read_bytes(),
        headers={**headers, "Content-Type": "application/fhir+json"},
    )
    assert sent.status_code == 200, sent.text
    case_id = sent.headers["X-Case-Ids"]
    case = anonymous.get(f"/cases/{case_id}", headers=headers)
    assert case.status_code == 200
    assert case.json()["case"]["submission"]["submitter_id"] == client_id


@pytest.mark.store
def test_a_replayed_client_assertion_is_refused(anonymous, auth_settings, smart_client):
    client_id, key = smart_client
    assertion = key.assertion(client_id, auth_settings.token_endpoint)
    assert anonymous.post("/auth/token", data=token_request(assertion)).status_code == 200
    replay = anonymous.post("/auth/token", data=token_request(assertion))
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_client"
    # Same jti in a freshly signed assertion: still a replay.
    jti = jwt.decode(assertion, options={"verify_signature": False})["jti"]
    again = key.assertion(client_id, auth_settings.token_endpoint, jti=jti)
    assert anonymous.post("/auth/token", data=token_request(again)).status_code == 401
    # The trail shows one token issued and two refused logins, naming the claimed client.
    from sqlalchemy import select

    from gateway.audit.models import AuditRow

    with anonymous.app.state.core.sessions() as session:
        logins = (
            session.execute(select(AuditRow).where(AuditRow.event == "login").order_by(AuditRow.id))
            .scalars()
            .all()
        )
    assert [(r.outcome, r.partner_id, r.auth_method) for r in logins][0] == (
        "0",
        client_id,
        "private_key_jwt",
    )
    assert [r.detail for r in logins[1:]] == [{"claimed_partner": client_id}] * 2
    assert "replay" in logins[1].outcome_desc


def test_an_expired_assertion_is_refused(anonymous, auth_settings, smart_client):
    client_id, key = smart_client
    now = int(time.time())
    expired = key.assertion(client_id, auth_settings.token_endpoint, exp=now - 120, iat=now - 400)
    response = anonymous.post("/auth/token", data=token_request(expired))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


def test_an_assertion_living_longer_than_five_minutes_is_refused(
    anonymous, auth_settings, smart_client
):
    client_id, key = smart_client
    long_lived = key.assertion(client_id, auth_settings.token_endpoint, lifetime=3600)
    assert anonymous.post("/auth/token", data=token_request(long_lived)).status_code == 401


def test_a_wrong_audience_is_refused(anonymous, auth_settings, smart_client):
    client_id, key = smart_client
    for audience in ("https://elsewhere.example/token", auth_settings.issuer + "/fhir"):
        assertion = key.assertion(client_id, audience)
        assert anonymous.post("/auth/token", data=token_request(assertion)).status_code == 401


def test_iss_and_sub_must_both_name_the_client(anonymous, auth_settings, smart_client):
    client_id, key = smart_client
    assertion = key.assertion(client_id, auth_settings.token_endpoint, sub="someone-else")
    assert anonymous.post("/auth/token", data=token_request(assertion)).status_code == 401


def test_a_key_not_registered_for_the_client_is_refused(anonymous, auth_settings, smart_client):
    client_id, key = smart_client
    stranger = rs384_key() if key.alg == "RS384" else es384_key()
    stranger.kid = key.kid  # claims a registered kid, signs with another key
    assertion = stranger.assertion(client_id, auth_settings.token_endpoint)
    assert anonymous.post("/auth/token", data=token_request(assertion)).status_code == 401


def test_only_rs384_and_es384_are_accepted(anonymous, auth_settings, core, rsa_key):
    register_smart_client(core, "smart-rs256", rsa_key)
    now = int(time.time())
    claims = {
        "iss": "smart-rs256",
        "sub": "smart-rs256",
        "aud": auth_settings.token_endpoint,
        "exp": now + 200,
        "jti": "j-rs256",
    }
    rs256 = jwt.encode(claims, rsa_key.private_key, algorithm="RS256", headers={"kid": rsa_key.kid})
    assert anonymous.post("/auth/token", data=token_request(rs256)).status_code == 401
    # A symmetric "assertion" signed with a public key's bytes (algorithm confusion).
    hs = jwt.encode({**claims, "jti": "j-hs"}, "x" * 64, algorithm="HS256")
    assert anonymous.post("/auth/token", data=token_request(hs)).status_code == 401


def test_disabled_client_and_unknown_client_are_refused(
    anonymous, auth_settings, core, smart_client
):
    from gateway.partners.registry import set_enabled

    client_id, key = smart_client
    with core.sessions.begin() as session:
        set_enabled(session, client_id, False)
    assertion = key.assertion(client_id, auth_settings.token_endpoint)
    assert anonymous.post("/auth/token", data=token_request(assertion)).status_code == 401
    unknown = key.assertion("nobody", auth_settings.token_endpoint)
    assert anonymous.post("/auth/token", data=token_request(unknown)).status_code == 401


def test_request_errors_follow_oauth(anonymous, auth_settings, smart_client):
    client_id, key = smart_client
    form = token_request(key.assertion(client_id, auth_settings.token_endpoint))
    wrong_grant = anonymous.post("/auth/token", data={**form, "grant_type": "password"})
    assert (wrong_grant.status_code, wrong_grant.json()["error"]) == (400, "unsupported_grant_type")
    wrong_type = anonymous.post("/auth/token", data={**form, "client_assertion_type": "x"})
    assert wrong_type.status_code == 401
    no_client = anonymous.post("/auth/token", data={"grant_type": "client_credentials"})
    assert no_client.status_code == 401
    bad_scope = anonymous.post(
        "/auth/token",
        data=token_request(
            key.assertion(client_id, auth_settings.token_endpoint), "system/Patient.write"
        ),
    )
    assert (bad_scope.status_code, bad_scope.json()["error"]) == (400, "invalid_scope")


def test_scopes_are_granted_within_what_the_registry_allows(anonymous, auth_settings, smart_client):
    client_id, key = smart_client
    wide = anonymous.post(
        "/auth/token",
        data=token_request(key.assertion(client_id, auth_settings.token_endpoint), "system/*.read"),
    )
    assert wide.status_code == 200
    granted = set(wide.json()["scope"].split())
    assert "system/Claim.read" in granted and "system/Claim.write" not in granted
    every = anonymous.post(
        "/auth/token",
        data=token_request(key.assertion(client_id, auth_settings.token_endpoint), None),
    )
    assert "system/Claim.write" in every.json()["scope"].split()


def test_client_secret_basic_gets_a_token_for_x12_partners(anonymous):
    response = anonymous.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("sample-clearinghouse", "demo-clearinghouse-secret-0001"),
    )
    assert response.status_code == 200
    headers = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert anonymous.get("/cases", headers=headers).status_code == 200
    wrong = anonymous.post(
        "/auth/token",
        data={"grant_type": "client_credentials"},
        auth=("sample-clearinghouse", "not-the-secret-at-all"),
    )
    assert wrong.status_code == 401


def test_registry_refuses_private_keys_in_a_jwks(rsa_key):
    from cryptography.hazmat.primitives.asymmetric import rsa

    from gateway.partners.registry import PartnerSpec

    private = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.private_key, as_dict=True)
    assert isinstance(rsa_key.private_key, rsa.RSAPrivateKey)
    with pytest.raises(ValueError, match="private"):
        PartnerSpec(id="leaky", kind="ehr", jwks={"keys": [private]})


def test_tokens_of_an_external_issuer_are_accepted_through_its_jwks(
    tmp_path, settings, core, rsa_key
):
    from fastapi.testclient import TestClient

    from gateway.api.app import create_app
    from tests.conftest import make_auth_settings

    jwks_file = tmp_path / "idp-jwks.json"
    jwks_file.write_text(json.dumps(rsa_key.jwks))
    auth = make_auth_settings(
        external_issuer="https://idp.example",
        external_jwks_file=jwks_file,
        external_audience="pa-gateway",
    )
    now = int(time.time())
    claims = {
        "iss": "https://idp.example",
        "aud": "pa-gateway",
        "client_id": "um-reviewer",
        "exp": now + 120,
        "iat": now,
        "scope": "system/*.read",
    }
    token = jwt.encode(claims, rsa_key.private_key, algorithm="RS384", headers={"kid": rsa_key.kid})
    verified = verify_bearer(token, auth)
    assert (verified.partner_id, verified.method) == ("um-reviewer", "external")
    with TestClient(create_app(settings, core=core, auth_settings=auth)) as client:
        ok = client.get("/cases", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        wrong_aud = jwt.encode(
            {**claims, "aud": "other"},
            rsa_key.private_key,
            algorithm="RS384",
            headers={"kid": rsa_key.kid},
        )
        assert (
            client.get("/cases", headers={"Authorization": f"Bearer {wrong_aud}"}).status_code
            == 401
        )
        # The registry stays the authority: an external token for an unknown partner fails.
        stranger = jwt.encode(
            {**claims, "client_id": "nobody"},
            rsa_key.private_key,
            algorithm="RS384",
            headers={"kid": rsa_key.kid},
        )
        assert (
            client.get("/cases", headers={"Authorization": f"Bearer {stranger}"}).status_code == 401
        )
