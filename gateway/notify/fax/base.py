"""The fax port: what every fax gateway does, in plain primitives (STYLE.md: one sharp cut).

A gateway takes a finished PDF and a ten-digit US number and answers with its own job id. The
caller's idempotency key goes with every submission so that a retried delivery (the outbox
delivers at least once) finds the job it already made instead of faxing twice.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

FaxState = Literal["queued", "sending", "delivered", "failed"]
FAX_STATES: tuple[FaxState, ...] = ("queued", "sending", "delivered", "failed")


class FaxError(Exception):
    """The gateway could not take or answer for a fax; the outbox retries."""


class FaxJobNotFound(FaxError):
    pass


@runtime_checkable
class FaxGateway(Protocol):
    name: str

    def submit(self, job_key: str, number: str, pdf: bytes) -> str:
        """Queue `pdf` for `number`; the same `job_key` again returns the same fax job id."""
        ...

    def status(self, fax_id: str) -> FaxState: ...

    def cancel(self, fax_id: str) -> None: ...
