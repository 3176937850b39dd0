"""The X12 278 channel over HTTP (CAQH CORE real time): one interchange in, one out.

Thin: read the body, check the sender against the partner, call the channel's real-time service
(gateway/x12/realtime.py), send its answer back.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from gateway import audit
from gateway.api.auth import RequestAudit, authenticated
from gateway.api.responses import EDI_X12, X12_SECURITY, sample_text, x12_body, x12_errors
from gateway.api.x12_limits import body_too_large
from gateway.partners.guard import BodyTooLarge
from gateway.service.core import Core
from gateway.x12.edge import receive
from gateway.x12.intake import MEDIA_TYPE
from gateway.x12.realtime import answer, foreign_sender, refuse_sender

router = APIRouter(tags=["x12"])


@router.post(
    "/x12/278",
    summary="Send one X12 278 interchange (real time)",
    description="CAQH CORE real time: the body is one interchange (`application/edi-x12`) of "
    "005010X217 278 requests; the answer is the interchange that goes back: the 278 responses "
    "(HCR01 A1/A4/A6/CT/NA, AAA at 2010C), a 999 when a group is rejected, or a TA1 when the "
    "envelope is. `X-Answer-Kind` says what went back (`999+278`, `999`, `ta1`); "
    "`X-Case-Ids` names the cases. Every ISA06 must be one of the partner's sender ids "
    "(else 403 with a TA1 006).",
    response_class=Response,
    responses={
        200: {
            "description": "The 278 response, 999 or TA1 interchange.",
            "content": {EDI_X12: {"schema": {"type": "string"}}},
        }
    }
    | x12_errors(403, 408, 413),
    openapi_extra=x12_body(
        "One X12 interchange (ISA ... IEA) of 278 requests.",
        sample_text("x12/278-act-dd-jane-doe.x12"),
    ),
    dependencies=X12_SECURITY,
)
async def x12_278(request: Request) -> Response:
    core: Core = request.app.state.core
    principal = authenticated(request)
    try:
        data = await request.body()
    except BodyTooLarge as exc:
        return body_too_large(core, exc)
    who = RequestAudit.of(request)

    def work(audit_rows: list[dict[str, Any]]) -> tuple[str, list[str], str, int]:
        # Decoded and tokenized once: the sender checked here is the sender processed in
        # `answer`.
        received = receive(data)
        foreign = foreign_sender(principal, received)
        if foreign is not None:
            audit_rows += who.entries(
                event="x12.sender.refused",
                action=audit.EXECUTE,
                outcome=audit.MINOR_FAILURE,
                status_code=403,
                outcome_desc="ISA06 is not one of the partner's sender ids",
            )
            return refuse_sender(core, foreign), [], "ta1", 403
        with who.audited(audit_rows, "x12.submit", audit.CREATE) as entry:
            body, case_ids, kind = answer(core, received)
            entry.case_ids = case_ids
        return body, case_ids, kind, 200

    # Committed with the other requests of its group, its audit record in the same transaction,
    # and answered only when that has committed (gateway/api/group.py).
    body, case_ids, kind, status = await request.app.state.intake_writer.run(work)
    if status != 200:
        return Response(
            body, status_code=status, media_type=MEDIA_TYPE, headers={"X-Answer-Kind": kind}
        )
    return Response(
        body,
        media_type=MEDIA_TYPE,
        headers={"X-Case-Ids": ",".join(case_ids), "X-Answer-Kind": kind},
    )
