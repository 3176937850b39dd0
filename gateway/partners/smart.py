"""SMART Backend Services (HL7 FHIR SMART App Launch 2, "client-confidential-asymmetric"): the
client authenticates to the token endpoint with a private_key_jwt client assertion (RFC 7523)
signed RS384 or ES384 by a key whose public half is in its registered JWKS."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.partners.models import PartnerRow, UsedAssertionRow
from gateway.partners.registry import ASSERTION_ALGORITHMS
from gateway.partners.settings import AuthSettings
from gateway.partners.tokens import TokenError

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# The curve each ECDSA algorithm is defined on (RFC 7518 section 3.4).
CURVES = {"ES384": "secp384r1"}
MIN_RSA_BITS = 2048


def _candidate_keys(partner: PartnerRow, alg: str, kid: str | None) -> list[jwt.PyJWK]:
    keys = []
    for entry in (partner.jwks or {}).get("keys", []):
        if kid is not None and entry.get("kid") != kid:
            continue
        if entry.get("alg") not in (None, alg):
            continue
        if entry.get("use") not in (None, "sig"):
            continue
        try:
            key = jwt.PyJWK(entry, algorithm=alg)
        except jwt.PyJWTError:
            continue
        public = key.key
        if alg.startswith("RS"):
            if not isinstance(public, rsa.RSAPublicKey) or public.key_size < MIN_RSA_BITS:
                continue
        elif not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != CURVES[alg]:
            continue
        keys.append(key)
    return keys


def verify_client_assertion(
    sessions: sessionmaker[Session], auth: AuthSettings, assertion: str
) -> PartnerRow:
    """The registered, enabled partner that signed this client assertion, or TokenError.

    Checks (SMART Backend Services, "Signature verification" and "Protocol details"):
    alg RS384/ES384 and a key of the partner's JWKS; iss = sub = the client id; aud = our token
    endpoint URL; exp present and no more than five minutes ahead; a jti never seen before (kept
    until the assertion expires, so a replay is refused).
    """
    try:
        header = jwt.get_unverified_header(assertion)
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise TokenError("client assertion is not a JWT") from exc
    alg = header.get("alg")
    if alg not in ASSERTION_ALGORITHMS:
        raise TokenError(f"client assertion algorithm {alg!r} is not RS384 or ES384")
    client_id = unverified.get("iss")
    if not isinstance(client_id, str) or not client_id:
        raise TokenError("client assertion has no iss")
    with sessions() as session:
        partner = session.get(PartnerRow, client_id)
    if partner is None or not partner.enabled:
        raise TokenError("unknown or disabled client")
    keys = _candidate_keys(partner, alg, header.get("kid"))
    if not keys:
        raise TokenError("no registered key of the client matches the assertion")
    claims = None
    for key in keys:
        try:
            claims = jwt.decode(
                assertion,
                key,
                algorithms=[alg],
                audience=auth.token_endpoint,
                issuer=client_id,
                leeway=auth.clock_skew_seconds,
                options={"require": ["iss", "sub", "aud", "exp", "jti"]},
            )
            break
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("client assertion has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise TokenError("client assertion audience is not this token endpoint") from exc
        except jwt.PyJWTError as exc:
            raise TokenError(f"client assertion refused: {type(exc).__name__}") from exc
    if claims is None:
        raise TokenError("client assertion signature does not verify")
    if claims.get("sub") != client_id:
        raise TokenError("client assertion sub differs from iss")
    now = time.time()
    exp = float(claims["exp"])
    if exp - now > auth.assertion_max_seconds + auth.clock_skew_seconds:
        raise TokenError("client assertion expires more than five minutes ahead")
    _remember_jti(sessions, client_id, str(claims["jti"]), exp + auth.clock_skew_seconds)
    return partner


def _remember_jti(sessions: sessionmaker[Session], client_id: str, jti: str, exp: float) -> None:
    if not jti or len(jti) > 255:
        raise TokenError("client assertion jti is empty or too long")
    now = datetime.now(UTC)
    try:
        with sessions.begin() as session:
            # Forget jtis whose assertions have expired: they could not be replayed anyway.
            session.execute(delete(UsedAssertionRow).where(UsedAssertionRow.expires_at < now))
            session.add(
                UsedAssertionRow(
                    key=f"{client_id}:{jti}",
                    # Kept until exp plus the clock skew allowed on exp.
                    expires_at=datetime.fromtimestamp(exp, UTC),
                )
            )
    except IntegrityError as exc:
        raise TokenError("client assertion jti was already used (replay)") from exc
