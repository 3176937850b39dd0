"""Refusals an X12 client can read: a body over the channel's limit (HTTP 413) is answered with a
TA1 interchange, not JSON (docs/x12-companion-guide.md, section 1).

The TA1 says R (rejected) with note 024 (invalid interchange content: X12 I18 has no code for
size) and, when the head of the body holds a readable ISA, answers that interchange (TA101 its
ISA13, the TA1's ISA07/08 its sender), so the clearinghouse can match it to what it sent. Why
travels in the X-Refusal-Reason header, beside X-Answer-Kind: ta1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi.responses import Response

from gateway.partners.guard import BodyTooLarge
from gateway.service.core import Core
from gateway.x12.ack import write_ta1
from gateway.x12.edge import receive
from gateway.x12.intake import MEDIA_TYPE
from gateway.x12.outbound import ReceivedHeader

TOO_LARGE_NOTE = "024"


def refusal(core: Core, status_code: int, reason: str, head: bytes = b"") -> Response:
    """The TA1 answer to a request the gateway refuses before reading it as an interchange."""
    received = receive(head)
    isa = received.isa or (received.headers[0] if received.headers else None)
    ta1 = write_ta1(
        ReceivedHeader.from_isa(isa),
        note_code=TOO_LARGE_NOTE,
        x12_id=core.settings.x12_id,
        control_numbers=_numbers(core),
        now=core.clock(),
    )
    return Response(
        ta1,
        status_code=status_code,
        media_type=MEDIA_TYPE,
        headers={"X-Answer-Kind": "ta1", "X-Refusal-Reason": reason},
    )


def body_too_large(core: Core, exc: BodyTooLarge) -> Response:
    return refusal(core, 413, str(exc.detail), exc.head)


def guard_refusal(core: Core) -> Callable[[int, str, bytes], Awaitable[Response]]:
    """What the access guard answers on /x12/ when it refuses a body by its Content-Length
    (app.state.x12_refusal)."""
    from starlette.concurrency import run_in_threadpool

    async def answer(status_code: int, reason: str, head: bytes) -> Response:
        return await run_in_threadpool(refusal, core, status_code, reason, head)

    return answer


def _numbers(core: Core):  # type: ignore[no-untyped-def]
    from gateway.x12.realtime import CoreControlNumbers

    return CoreControlNumbers(core)
