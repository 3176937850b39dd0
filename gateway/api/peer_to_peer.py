"""Peer to peer and reconsideration routes (issue 12): thin, over gateway.store.peer_to_peer.

Every route that reaches a case goes through the isolation check first (`readable_or_404`: a
case another partner may not see does not exist for it). Times are ISO 8601 with offsets, shown
in the requesting provider's zone (its address) or the zone asked for (`tz`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from gateway import audit
from gateway.api.auth import REVIEWER, Principal, audited, authenticated, readable_or_404
from gateway.api.cases import _jobs, case_view
from gateway.api.errors import problem
from gateway.api.responses import REST_SECURITY, rest_errors
from gateway.api.routes import mount
from gateway.domain.case import CaseStatus
from gateway.domain.peer_to_peer import (
    RECONSIDERATION,
    Outcome,
    PostDecisionRefused,
    check_zone,
)
from gateway.domain.reviewer import InvalidDecision, ReviewerDecision
from gateway.service.transitions import InvalidTransition
from gateway.store.peer_to_peer import BookingNotFound, PeerToPeer, SlotRefused, SlotTaken

router = APIRouter(tags=["peer to peer"])

# Refusals that are about where the case stands (409), not about the plan's rules (422).
_STATE_CODES = frozenset({"P2P_NOT_OFFERED", "RECONSIDERATION_NOT_DENIED"})


class NotAllowed(InvalidDecision):
    """A plan rule refuses this (PostDecisionRefused as the API answers it)."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


class InvalidParameter(InvalidDecision):
    pass


def service(request: Request) -> PeerToPeer:
    return request.app.state.peer_to_peer


@contextmanager
def _refusals() -> Iterator[None]:
    """Domain refusals as the API's errors, inside the audited block (audited as refused)."""
    try:
        yield
    except PostDecisionRefused as exc:
        raise NotAllowed(exc.code, str(exc)) from exc


def _zone(tz: str | None) -> str | None:
    if tz is None:
        return None
    try:
        return check_zone(tz)
    except ValueError as exc:
        raise InvalidParameter(f"tz: {exc}") from exc


def install(app: FastAPI) -> None:
    """The router, its service (built by gateway.wiring) and its error answers."""
    mount(app, router)

    @app.exception_handler(SlotTaken)
    async def _taken(_: Request, exc: SlotTaken) -> JSONResponse:
        return problem(409, "slot taken", str(exc))

    @app.exception_handler(SlotRefused)
    async def _refused(_: Request, exc: SlotRefused) -> JSONResponse:
        return problem(422, "slot refused", str(exc))

    @app.exception_handler(BookingNotFound)
    async def _no_booking(_: Request, exc: BookingNotFound) -> JSONResponse:
        return problem(404, "booking not found", str(exc))

    @app.exception_handler(NotAllowed)
    async def _not_allowed(_: Request, exc: NotAllowed) -> JSONResponse:
        status = 409 if exc.code in _STATE_CODES else 422
        # The rule's code beside the words, so a client can tell the refusals apart.
        body = {"error": "not allowed", "code": exc.code, "detail": str(exc)}
        return JSONResponse(body, status_code=status)

    @app.exception_handler(InvalidParameter)
    async def _parameter(_: Request, exc: InvalidParameter) -> JSONResponse:
        return problem(422, "invalid parameter", str(exc))


@router.get(
    "/cases/{case_id}/peer-to-peer/slots",
    description=(
        "Free peer-to-peer slots with the program's reviewers, in the requesting "
        "provider's time zone (from its address, or `tz`)."
    ),
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def slots(
    case_id: str,
    request: Request,
    tz: str | None = Query(default=None, max_length=64, description=("IANA time zone")),
    days: int | None = Query(default=None, ge=1, le=90),
    principal: Principal = Depends(authenticated),
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id)
    with audited(request, "case.read", audit.READ, case_id=case_id), _refusals():
        return service(request).slots(case_id, time_zone=_zone(tz), days=days)


@router.get(
    "/cases/{case_id}/peer-to-peer",
    description=("The case's peer-to-peer bookings, booked, moved, cancelled or held."),
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
)
def bookings(
    case_id: str, request: Request, principal: Principal = Depends(authenticated)
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id)
    with audited(request, "case.read", audit.READ, case_id=case_id):
        return {"case_id": case_id, "bookings": service(request).bookings(case_id)}


class Booking(BaseModel):
    reviewer_id: str = Field(min_length=1, max_length=64)
    start: datetime  # ISO 8601 with an offset, as GET .../slots lists it
    time_zone: str | None = Field(default=None, max_length=64)


@router.post(
    "/cases/{case_id}/peer-to-peer",
    description=(
        "Book a slot (ISO 8601 start with its UTC offset). A slot taken is a 409, one in "
        "the past or outside the reviewer's hours a 422. The provider gets a confirmation"
        " with the time in its zone and the number to call."
    ),
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
    status_code=201,
)
def book(
    case_id: str, body: Booking, request: Request, principal: Principal = Depends(authenticated)
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id), _refusals():
        return service(request).book(
            case_id,
            reviewer_id=body.reviewer_id,
            start=body.start,
            actor=principal.partner_id,
            time_zone=_zone(body.time_zone),
        )


class Reschedule(BaseModel):
    start: datetime
    reviewer_id: str | None = Field(default=None, min_length=1, max_length=64)


@router.put(
    "/cases/{case_id}/peer-to-peer/{booking_id}",
    description=("Move a booking to another free slot; the provider is told the new time."),
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def reschedule(
    case_id: str,
    booking_id: int,
    body: Reschedule,
    request: Request,
    principal: Principal = Depends(authenticated),
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id), _refusals():
        return service(request).reschedule(
            case_id,
            booking_id,
            start=body.start,
            reviewer_id=body.reviewer_id,
            actor=principal.partner_id,
        )


@router.delete(
    "/cases/{case_id}/peer-to-peer/{booking_id}",
    description=("Cancel a booking; the slot is free again and the provider is told."),
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def cancel(
    case_id: str,
    booking_id: int,
    request: Request,
    principal: Principal = Depends(authenticated),
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id), _refusals():
        return service(request).cancel(case_id, booking_id, actor=principal.partner_id)


class CallOutcome(BaseModel):
    outcome: Outcome
    # The physician who held the call (defaults to the booking's reviewer).
    reviewer: str | None = Field(default=None, min_length=1, max_length=64)
    rationale: str | None = Field(default=None, max_length=4000)
    guideline: str | None = Field(default=None, max_length=500)
    notes: str | None = Field(default=None, max_length=4000)


@router.post(
    "/cases/{case_id}/peer-to-peer/{booking_id}/outcome",
    description=(
        "The reviewer records the call's outcome: approved (a reversal, with an "
        "authorization number), upheld, or consultative only (the second plan's Medicare "
        "line, or once post-decision options are used)."
    ),
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def outcome(
    case_id: str,
    booking_id: int,
    body: CallOutcome,
    request: Request,
    principal: Principal = REVIEWER,
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    p2p = service(request)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id), _refusals():
        held_by = body.reviewer or next(
            (b["reviewer"]["id"] for b in p2p.bookings(case_id) if b["id"] == booking_id),
            principal.partner_id,
        )
        stored, booking = p2p.record_outcome(
            case_id,
            booking_id,
            outcome=body.outcome,
            reviewer=held_by,
            rationale=body.rationale,
            guideline=body.guideline,
            notes=body.notes,
        )
        return {"booking": booking, **case_view(stored, _jobs(request, case_id))}


class Reconsideration(BaseModel):
    """Additional clinical information and why the denial should be looked at again."""

    reason: str = Field(min_length=1, max_length=2000)
    facts: dict[str, Any] = Field(min_length=1)
    notes: str | None = Field(default=None, max_length=4000)


@router.post(
    "/cases/{case_id}/reconsideration",
    description=(
        "Additional clinical information re-opens a denied case for a physician reviewer,"
        " where the plan allows it (its lines of business, on or before the planned "
        "service date, before an appeal); refused with the rule's code otherwise."
    ),
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def reconsider(
    case_id: str,
    body: Reconsideration,
    request: Request,
    principal: Principal = Depends(authenticated),
) -> dict[str, Any]:
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    with audited(request, "case.update", audit.UPDATE, case_id=case_id), _refusals():
        stored = service(request).reconsider(
            case_id,
            actor=principal.partner_id,
            reason=body.reason,
            facts=body.facts,
            notes=body.notes,
        )
        return case_view(stored, _jobs(request, case_id))


class ReconsiderationDecision(BaseModel):
    reviewer: str = Field(min_length=1, max_length=64)
    outcome: Literal["overturned", "upheld"]
    rationale: str | None = Field(default=None, max_length=4000)
    guideline: str | None = Field(default=None, max_length=500)


@router.post(
    "/cases/{case_id}/reconsideration/decision",
    responses=rest_errors(404, 409, 422),
    dependencies=REST_SECURITY,
)
def decide_reconsideration(
    case_id: str,
    body: ReconsiderationDecision,
    request: Request,
    principal: Principal = REVIEWER,
) -> dict[str, Any]:
    """The reviewer's answer to a reconsideration: overturned (approved) or upheld (denied
    again), sent out as any determination (letters, payer feed, notifications)."""
    readable_or_404(request, principal, case_id, action=audit.UPDATE)
    core = service(request).core
    with audited(request, "case.update", audit.UPDATE, case_id=case_id):
        current = core.get(case_id).determination
        if (
            current is None
            or current.status is not CaseStatus.PENDED
            or current.reason.code != RECONSIDERATION
        ):
            raise InvalidTransition(f"case {case_id} is not open for a reconsideration decision")
        words = f"Reconsideration {body.outcome}: {body.rationale}" if body.rationale else None
        try:
            decision = ReviewerDecision(
                reviewer=body.reviewer,
                decision="approve" if body.outcome == "overturned" else "deny",
                rationale=words,
                guideline=body.guideline,
            )
        except ValueError as exc:
            raise InvalidParameter(
                "an upheld reconsideration is a denial: it needs a rationale and a guideline"
            ) from exc
        stored = core.decide(case_id, decision)
        return case_view(stored, _jobs(request, case_id))
