"""Access tokens: the gateway's own (minted after a SMART client-credentials exchange, a shared
secret, or by an operator with `gateway token`), and those of an external issuer.

Why HS256 with a gateway-held key: only the gateway itself ever checks its access tokens, so a
symmetric key is enough, and there is no private key to guard beside it. The key is 256 random
bits from `secrets`, taken from GATEWAY_TOKEN_SECRET (several nodes share it that way) or made once
and kept in var/token-signing.key with mode 0600 (var/ is never committed). Decoding pins HS256,
our issuer and our audience, so neither a partner's RS384/ES384 client assertion nor an
`alg: none` token can pass for an access token (no algorithm confusion). Tokens live 5 minutes,
and every request still re-reads the partner from the registry, so disabling a partner cuts off
its live tokens at once.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy.orm import Session, sessionmaker

from gateway.partners.settings import AuthSettings

log = logging.getLogger("gateway.partners")

ACCESS_ALGORITHM = "HS256"
MIN_KEY_BYTES = 32
# Algorithms accepted from an external issuer: asymmetric only (its JWKS holds public keys).
EXTERNAL_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "ES256", "ES384", "ES512"]

_V1 = {"read": frozenset("rs"), "write": frozenset("cud"), "*": frozenset("cruds")}


class TokenError(Exception):
    """A token or credential that does not authenticate (the reason is for the audit trail)."""


class ScopeError(TokenError):
    pass


@dataclass(frozen=True)
class VerifiedToken:
    partner_id: str
    scopes: frozenset[str]
    method: str  # bearer (ours) or external
    jti: str | None = None


def _key_from_file(path: Path) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting together never overwrite each other's key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        if path.stat().st_mode & 0o077:
            log.warning("token signing key file is readable by others; chmod 600 it")
        key = bytes.fromhex(path.read_text().strip())
    else:
        key = secrets.token_bytes(MIN_KEY_BYTES)
        with os.fdopen(fd, "w") as handle:
            handle.write(key.hex())
        log.info("new token signing key made")
    if len(key) < MIN_KEY_BYTES:
        raise RuntimeError(f"the token signing key in {path} is shorter than 256 bits")
    return key


@lru_cache(maxsize=8)
def _cached_file_key(path: str) -> bytes:
    return _key_from_file(Path(path))


def signing_key(auth: AuthSettings) -> bytes:
    if auth.token_secret is not None:
        key = auth.token_secret.get_secret_value().encode()
        if len(key) < MIN_KEY_BYTES:
            raise RuntimeError("GATEWAY_TOKEN_SECRET needs at least 32 characters")
        return key
    return _cached_file_key(str(auth.token_key_file.resolve()))


# -- scopes ------------------------------------------------------------------------------------


def _parse_scope(scope: str) -> tuple[str, frozenset[str]] | None:
    context, _, rest = scope.partition("/")
    resource, _, permission = rest.partition(".")
    if context != "system" or not resource or not permission:
        return None
    if permission in _V1:
        return resource, _V1[permission]
    if set(permission) <= set("cruds"):
        return resource, frozenset(permission)
    return None


def _covers(wide: str, narrow: str) -> bool:
    a, b = _parse_scope(wide), _parse_scope(narrow)
    if a is None or b is None:
        return False
    return a[0] in ("*", b[0]) and b[1] <= a[1]


def grant_scopes(requested: str | None, allowed: list[str] | frozenset[str]) -> frozenset[str]:
    """The scopes a token gets: what was asked for, within what the registry allows. Asking
    for nothing grants everything allowed; asking for a wildcard grants the allowed part of it."""
    allowed = frozenset(allowed)
    if not requested or not requested.strip():
        return allowed
    granted: set[str] = set()
    for scope in requested.split():
        if any(_covers(a, scope) for a in allowed):
            granted.add(scope)
        else:
            granted.update(a for a in allowed if _covers(scope, a))
    if not granted:
        raise ScopeError("none of the requested scopes is allowed for this client")
    return frozenset(granted)


# -- the gateway's own tokens ------------------------------------------------------------------


def mint_access_token(
    auth: AuthSettings,
    partner_id: str,
    scopes: frozenset[str],
    *,
    lifetime: int | None = None,
) -> tuple[str, int]:
    """An access token for a partner: (token, seconds it lives)."""
    lifetime = lifetime or auth.access_token_seconds
    now = int(time.time())
    claims = {
        "iss": auth.issuer,
        "aud": auth.issuer,
        "sub": partner_id,
        "client_id": partner_id,
        "scope": " ".join(sorted(scopes)),
        "iat": now,
        "exp": now + lifetime,
        "jti": uuid.uuid4().hex,
    }
    token = jwt.encode(
        claims, signing_key(auth), algorithm=ACCESS_ALGORITHM, headers={"typ": "at+jwt"}
    )
    return token, lifetime


def token_for_partner(
    sessions: sessionmaker[Session],
    auth: AuthSettings,
    partner_id: str,
    *,
    scope: str | None = None,
    lifetime: int | None = None,
) -> str:
    """An operator-minted access token for a registered, enabled partner (`gateway token`)."""
    from gateway.partners.models import PartnerRow

    with sessions() as session:
        partner = session.get(PartnerRow, partner_id)
    if partner is None or not partner.enabled:
        raise TokenError(f"no enabled partner {partner_id}")
    scopes = grant_scopes(scope, partner.scopes or [])
    return mint_access_token(auth, partner_id, scopes, lifetime=lifetime)[0]


def _scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    scope = claims.get("scope", claims.get("scp", ""))
    if isinstance(scope, list):
        return frozenset(str(s) for s in scope)
    return frozenset(str(scope).split())


def _verify_own(token: str, auth: AuthSettings) -> VerifiedToken:
    claims = jwt.decode(
        token,
        signing_key(auth),
        algorithms=[ACCESS_ALGORITHM],
        audience=auth.issuer,
        issuer=auth.issuer,
        leeway=auth.clock_skew_seconds,
        options={"require": ["iss", "aud", "sub", "exp", "iat", "jti"]},
    )
    return VerifiedToken(str(claims["sub"]), _scopes_of(claims), "bearer", str(claims["jti"]))


class ExternalIssuer:
    """Another authorization server whose tokens the gateway accepts, checked through its JWKS
    (from a file, or fetched from a URL and cached by PyJWKClient)."""

    def __init__(self, auth: AuthSettings):
        assert auth.external_issuer
        self.auth = auth
        self.issuer = auth.external_issuer
        self._client = (
            jwt.PyJWKClient(auth.external_jwks_url, cache_keys=True, lifespan=300, timeout=5)
            if auth.external_jwks_url
            else None
        )
        self._keys = (
            jwt.PyJWKSet.from_json(auth.external_jwks_file.read_text())
            if auth.external_jwks_file
            else None
        )
        if self._client is None and self._keys is None:
            raise RuntimeError("GATEWAY_EXTERNAL_ISSUER needs GATEWAY_EXTERNAL_JWKS_FILE or _URL")

    def _key(self, token: str) -> jwt.PyJWK:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token)
        assert self._keys is not None
        kid = jwt.get_unverified_header(token).get("kid")
        keys = list(self._keys)
        if kid is not None:
            return self._keys[kid]
        if len(keys) == 1:
            return keys[0]
        raise TokenError("external token names no key (kid) and the JWKS has several")

    def verify(self, token: str) -> VerifiedToken:
        key = self._key(token)
        # The audience is ours unless the external server names us otherwise.
        audience = self.auth.external_audience or self.auth.issuer
        claims = jwt.decode(
            token,
            key,
            algorithms=EXTERNAL_ALGORITHMS,
            audience=audience,
            issuer=self.issuer,
            leeway=self.auth.clock_skew_seconds,
            options={"require": ["iss", "aud", "exp"]},
        )
        partner_id = claims.get(self.auth.external_partner_claim)
        if not partner_id:
            raise TokenError(f"external token has no {self.auth.external_partner_claim} claim")
        return VerifiedToken(str(partner_id), _scopes_of(claims), "external", claims.get("jti"))


_issuers: dict[tuple[object, ...], ExternalIssuer] = {}


def _external(auth: AuthSettings) -> ExternalIssuer:
    """One ExternalIssuer per configuration, so a fetched JWKS is cached across requests."""
    key = (
        auth.external_issuer,
        auth.external_jwks_url,
        auth.external_jwks_file,
        auth.external_audience,
        auth.external_partner_claim,
        auth.issuer,
    )
    if key not in _issuers:
        _issuers[key] = ExternalIssuer(auth)
    return _issuers[key]


# Tokens verified in this process, by the token itself, with the time they stop being valid:
# a client sends the same token with every request for its five minutes, and checking its
# signature and claims each time (two decodes) was a fixed cost of every PAS request. An entry
# is used only while its `exp` has not passed (the claims, hence the expiry, are what was
# signed), under the same settings (issuer, key, skew), and the partner is still read from the
# registry on every request (a disabled partner's tokens stop at once).
_verified: dict[tuple[object, ...], tuple[VerifiedToken, float]] = {}
_verified_lock = threading.Lock()
VERIFIED_CACHE_SIZE = 10_000


def _cache_key(token: str, auth: AuthSettings) -> tuple[object, ...]:
    # Everything the check depends on is part of the key: a token verified under another
    # signing key, issuer or audience is checked afresh.
    return (
        token,
        auth.issuer,
        signing_key(auth),
        auth.external_issuer,
        auth.external_audience,
        auth.external_partner_claim,
    )


def verified_before(token: str, auth: AuthSettings) -> VerifiedToken | None:
    """The token as verified earlier in this process, while it has not expired; else None (a
    lookup in memory: cheap enough for the event loop, where a fetch of an external issuer's
    keys is not)."""
    key = _cache_key(token, auth)
    with _verified_lock:
        cached = _verified.get(key)
    if cached is None:
        return None
    verified, until = cached
    if time.time() < until:
        return verified
    with _verified_lock:
        _verified.pop(key, None)
    return None


def verify_bearer(token: str, auth: AuthSettings) -> VerifiedToken:
    """Check a bearer token: ours (HS256) or the configured external issuer's (its JWKS)."""
    earlier = verified_before(token, auth)
    if earlier is not None:
        return earlier
    key = _cache_key(token, auth)
    verified, until = _verify_bearer(token, auth)
    if until is not None:
        with _verified_lock:
            if len(_verified) >= VERIFIED_CACHE_SIZE:
                _verified.clear()  # bounded memory; the next requests verify afresh
            _verified[key] = (verified, until)
    return verified


def _verify_bearer(token: str, auth: AuthSettings) -> tuple[VerifiedToken, float | None]:
    """The verified token and when it expires (None: not to be kept)."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
        issuer = unverified.get("iss")
        if issuer == auth.issuer:
            verified = _verify_own(token, auth)
        elif auth.external_issuer and issuer == auth.external_issuer:
            verified = _external(auth).verify(token)
        else:
            raise TokenError("token from an unknown issuer")
        # Verified: `exp` is a signed, required claim (checked with the configured skew).
        expires = unverified.get("exp")
        if not isinstance(expires, int | float):
            return verified, None
        return verified, float(expires) + auth.clock_skew_seconds
    except jwt.PyJWTError as exc:
        raise TokenError(f"invalid token: {type(exc).__name__}") from exc
    except (KeyError, ValueError) as exc:
        raise TokenError("invalid token: unknown key") from exc
