"""Request limits: a body size per channel (413) and a token bucket per partner (429).

The buckets live in this process's memory: with several gateway processes each enforces its own
share, which is enough to stop a runaway client; a shared limit would need the database or a
proxy in front.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.partners.settings import (
    PAS_MAX_ATTACHMENT_BYTES,
    PAS_MAX_ATTACHMENTS,
    PAS_MAX_ATTACHMENTS_TOTAL,
    AuthSettings,
)


def body_limit(auth: AuthSettings, path: str) -> tuple[str, int]:
    """(channel, byte limit) of a request path."""
    if path.startswith("/x12/batch"):
        return "x12-batch", auth.max_body_x12_batch
    if path.startswith("/x12"):
        return "x12", auth.max_body_x12
    if path.startswith("/core/"):
        # CAQH CORE envelopes carry one interchange, real time or batch, read in memory.
        return "core", auth.max_body_x12
    if path.startswith("/fhir"):
        return "pas", auth.max_body_pas
    return "api", auth.max_body_default


def attachment_problem(sizes: list[int]) -> str | None:
    """Why a PAS request's attachments exceed the limits (up to 5 documents, 5 MB each, 25 MB
    in all), or None. `sizes` are the decoded sizes in bytes. For the FHIR router."""
    if len(sizes) > PAS_MAX_ATTACHMENTS:
        return f"{len(sizes)} attachments; at most {PAS_MAX_ATTACHMENTS} are accepted"
    for size in sizes:
        if size > PAS_MAX_ATTACHMENT_BYTES:
            return f"an attachment of {size} bytes exceeds {PAS_MAX_ATTACHMENT_BYTES} bytes"
    if sum(sizes) > PAS_MAX_ATTACHMENTS_TOTAL:
        return f"attachments total {sum(sizes)} bytes; at most {PAS_MAX_ATTACHMENTS_TOTAL}"
    return None


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Token buckets by key (a partner id, or a source address for failed logins)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self.clock = clock
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()

    def take(self, key: str, rate: float, burst: int) -> float:
        """Take one token: 0.0 if allowed, else the seconds until one is available."""
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                if len(self._buckets) >= self.max_keys:
                    self._forget_full(now, rate, burst)
                bucket = self._buckets[key] = _Bucket(float(burst), now)
            bucket.tokens = min(float(burst), bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate

    def _forget_full(self, now: float, rate: float, burst: int) -> None:
        # A bucket that has refilled is the same as no bucket: drop those to bound memory.
        full = [k for k, b in self._buckets.items() if b.tokens + (now - b.updated) * rate >= burst]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= self.max_keys:
            self._buckets.clear()


def retry_after(seconds: float) -> str:
    """The Retry-After header value: whole seconds, at least 1 (RFC 9110 section 10.2.3)."""
    return str(max(1, math.ceil(seconds)))
