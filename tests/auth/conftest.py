"""Fixtures for access-control tests: the app with authentication on and no default credentials,
access tokens for the seeded demo partners, and SMART client keys made with cryptography."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from gateway.partners.registry import PartnerSpec, add_partner
from gateway.partners.settings import AuthSettings
from gateway.service.core import Core
from gateway.settings import Settings
from tests.conftest import bearer, jane_doe_request

EHR = "sample-oncology-ehr"  # acts for the demo member's ordering and rendering NPIs
CLEARINGHOUSE = "sample-clearinghouse"  # acts for no organization: sees only what it sent
REVIEWER = "um-reviewer"
OPERATOR = "ops-console"
PAYER = "sample-payer-62308"


@pytest.fixture
def anonymous(settings: Settings, core: Core, auth_settings: AuthSettings) -> Iterator[TestClient]:
    """The real app with authentication on; each request brings its own credentials."""
    from gateway.api.app import create_app

    with TestClient(create_app(settings, core=core, auth_settings=auth_settings)) as client:
        yield client


Headers = Callable[[str], dict[str, str]]


@pytest.fixture
def as_partner(core: Core, auth_settings: AuthSettings) -> Headers:
    """as_partner(partner_id) -> the Authorization header of a fresh access token."""

    def headers(partner_id: str) -> dict[str, str]:
        return bearer(core, auth_settings, partner_id)

    return headers


def keyed_for(
    anonymous: TestClient, as_partner: Headers, partner_id: str, **changes: Any
) -> dict[str, Any]:
    """A case the partner sent, keyed in through POST /cases by the operator (that route is the
    operator's alone; partners send X12 or PAS): the case is the partner's own."""
    body = jane_doe_request(submitter_id=partner_id, **changes)
    response = anonymous.post("/cases", json=body, headers=as_partner(OPERATOR))
    assert response.status_code == 201, response.text
    assert response.json()["case"]["submission"]["submitter_id"] == partner_id
    return response.json()


@pytest.fixture
def ehr_case(anonymous: TestClient, as_partner: Headers) -> dict[str, Any]:
    """A case the EHR submitted: pended for clinical review (so a reviewer can decide it)."""
    return keyed_for(
        anonymous,
        as_partner,
        EHR,
        service_lines=[{"sequence": 1, "code": "J9267", "units": 12}],
    )


@dataclass
class ClientKey:
    """A SMART backend-service client's key pair: signs assertions, publishes a JWKS."""

    alg: str
    private_key: Any
    kid: str

    @property
    def jwks(self) -> dict[str, Any]:
        algorithm = (
            jwt.algorithms.RSAAlgorithm
            if self.alg.startswith("RS")
            else (jwt.algorithms.ECAlgorithm)
        )
        jwk = algorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        jwk.update(kid=self.kid, alg=self.alg, use="sig")
        return {"keys": [jwk]}

    def assertion(
        self,
        client_id: str,
        audience: str,
        *,
        lifetime: int = 240,
        jti: str | None = None,
        **changes: Any,
    ) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": client_id,
            "sub": client_id,
            "aud": audience,
            "exp": now + lifetime,
            "iat": now,
            "jti": jti or uuid.uuid4().hex,
        }
        claims.update(changes)
        return jwt.encode(claims, self.private_key, algorithm=self.alg, headers={"kid": self.kid})


def rs384_key() -> ClientKey:
    return ClientKey(
        "RS384",
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        f"rsa-{uuid.uuid4().hex[:8]}",
    )


def es384_key() -> ClientKey:
    return ClientKey("ES384", ec.generate_private_key(ec.SECP384R1()), f"ec-{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="session")
def rsa_key() -> ClientKey:
    return rs384_key()


@pytest.fixture(scope="session")
def ec_key() -> ClientKey:
    return es384_key()


def register_smart_client(core: Core, partner_id: str, key: ClientKey, **fields: Any) -> None:
    """A SMART backend service (an EHR) registered with its public keys only."""
    spec = PartnerSpec.model_validate(
        {"id": partner_id, "kind": "ehr", "jwks": key.jwks, "npis": ["1609876543"], **fields}
    )
    with core.sessions.begin() as session:
        add_partner(session, spec)


def token_request(assertion: str, scope: str | None = "system/Claim.write") -> dict[str, str]:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion,
    }
    if scope:
        form["scope"] = scope
    return form
