"""Shared secrets of trading partners: made random, stored only as a salted scrypt hash.

scrypt (RFC 7914, n=2^14, r=8, p=1: ~16 MiB and ~50 ms a check here) because an operator may
type a secret by hand, and a slow memory-hard hash keeps a stolen registry from giving those up.
A successful check is remembered in memory for a few minutes, keyed by an HMAC under a key that
never leaves the process, so that HTTP Basic on every X12 real-time request does not pay the
50 ms each time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time

SCHEME = "scrypt"
N, R, P = 2**14, 8, 1
DKLEN = 32
CACHE_SECONDS = 300.0
MIN_SECRET_LENGTH = 16


def generate_secret() -> str:
    """A new shared secret: 256 random bits, URL-safe."""
    return secrets.token_urlsafe(32)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def hash_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:
        raise ValueError(f"a shared secret needs at least {MIN_SECRET_LENGTH} characters")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(secret.encode(), salt=salt, n=N, r=R, p=P, dklen=DKLEN)
    return f"{SCHEME}${N}${R}${P}${_b64(salt)}${_b64(digest)}"


_cache_key = secrets.token_bytes(32)
_verified: dict[bytes, float] = {}
_lock = threading.Lock()


def _memo(secret: str, stored: str) -> bytes:
    # The stored hash is part of the key: a rotated secret is never served from the cache.
    return hmac.new(_cache_key, f"{stored}\0{secret}".encode(), hashlib.sha256).digest()


def remembered(secret: str, stored: str | None) -> bool:
    """Whether this secret was checked against this stored hash a short while ago (so that
    `verify_secret` answers True without scrypt): a check cheap enough for the event loop."""
    if not stored or not secret:
        return False
    with _lock:
        seen = _verified.get(_memo(secret, stored))
    return seen is not None and time.monotonic() - seen < CACHE_SECONDS


def verify_secret(secret: str, stored: str | None) -> bool:
    """Constant-time check of a presented secret against its stored hash."""
    if not stored or not secret:
        return False
    if remembered(secret, stored):
        return True
    memo = _memo(secret, stored)
    now = time.monotonic()
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != SCHEME:
            return False
        computed = hashlib.scrypt(
            secret.encode(), salt=_unb64(salt), n=int(n), r=int(r), p=int(p), dklen=DKLEN
        )
    except (ValueError, TypeError):
        return False
    if not hmac.compare_digest(computed, _unb64(digest)):
        return False
    with _lock:
        if len(_verified) > 10_000:
            _verified.clear()
        _verified[memo] = now
    return True
