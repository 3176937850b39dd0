"""Eligibility look-up per program ("Prior authorization required for: Medical Oncology")."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from gateway import audit
from gateway.api.auth import audited

router = APIRouter(tags=["eligibility"])


@router.get("/eligibility/{member_id}", response_model=None)
def eligibility(
    member_id: str, request: Request, on: date = Query(alias="date")
) -> dict[str, Any] | JSONResponse:
    # An eligibility look-up reads a member's coverage: it is audited like a case read.
    with audited(request, "eligibility.read", audit.READ) as entry:
        answer = request.app.state.core.eligibility(member_id, on)
        entry.detail = {"found": answer is not None}
    if answer is None:
        return JSONResponse(
            {"error": "member not found", "detail": "no member with this id"}, status_code=404
        )
    return answer
