"""Eligibility look-up per program ("Prior authorization required for: Medical Oncology")."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

router = APIRouter(tags=["eligibility"])


@router.get("/eligibility/{member_id}", response_model=None)
def eligibility(
    member_id: str, request: Request, on: date = Query(alias="date")
) -> dict[str, Any] | JSONResponse:
    answer = request.app.state.core.eligibility(member_id, on)
    if answer is None:
        return JSONResponse(
            {"error": "member not found", "detail": "no member with this id"}, status_code=404
        )
    return answer
