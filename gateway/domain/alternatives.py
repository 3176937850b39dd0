"""Alternative recommendations (issue 12 item 2; DOMAIN.md: "the provider may accept the
alternative or ask for reconsideration").

A physician reviewer offers an alternative regimen (a pathway row, `breast:her2neg-ddact`) for a
pended case. The case stays pended with the offer on its determination; the provider answers:

- **accept**: the case is approved for the alternative: a modified approval (X12 HCR01 `A6`, PAS
  reviewAction A6) with an authorization number and the plan's span for the alternative's
  duration; the letters name the regimen approved instead of the one asked for.
- **decline**: the provider asks for reconsideration of the original request: the case goes
  back to a physician reviewer (pended, clinical review) on its own clock.

The answer comes by REST, or as a requester's change (X12 UM02 `S` / PAS certificationType `S`
naming the case): a revision whose active drugs are exactly the alternative regimen (every drug
slot of the row filled, no other drug) accepts it; a revision with the drugs first requested
declines it; any other revision is re-reviewed as a new request content and the offer lapses
(`change_answer`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field

from gateway.domain.case import (
    Case,
    CaseStatus,
    Determination,
    LineDetermination,
    PendKind,
    Reason,
)
from gateway.domain.clocks import add_business_days
from gateway.domain.outcomes import MODIFIED, PENDED, auth_number_for, authorization_period
from gateway.domain.pathway import Regimen
from gateway.domain.peer_to_peer import requesting_provider_zone, spoken_time
from gateway.domain.policy import PlanPolicy
from gateway.domain.reviewer import InvalidDecision

ALTERNATIVE_OFFERED = "ALTERNATIVE_OFFERED"
ALTERNATIVE_ACCEPTED = "ALTERNATIVE_ACCEPTED"
ALTERNATIVE_DECLINED = "ALTERNATIVE_DECLINED"


class OfferState(StrEnum):
    OFFERED = "offered"
    ACCEPTED = "accepted"
    DECLINED = "declined"


class AlternativeRefused(InvalidDecision):
    """The offer or the answer cannot be made; `code` names the rule, `conflict` says whether
    it is about where the case stands (409) rather than what was asked (422)."""

    def __init__(self, code: str, message: str, *, conflict: bool = False):
        super().__init__(message)
        self.code = code
        self.conflict = conflict


class RegimenCatalog(Protocol):
    """Pathway rows by their id (`cancer_type:regimen_id`): the pathway adapter's."""

    def regimen(self, row: str) -> tuple[str, Regimen] | None:
        """(cancer type, regimen) of the row, or None when no pathway has it."""


class AlternativeOffer(BaseModel):
    """What a reviewer sends: the row offered and why."""

    reviewer: str = Field(min_length=1, max_length=64)
    pathway_row: str = Field(min_length=3, max_length=128, pattern=r"^[a-z0-9_\-]+:[a-z0-9_\-]+$")
    rationale: str = Field(min_length=1, max_length=2000)
    # When the provider's answer is due; by default the plan's hold response time.
    respond_by: datetime | None = None


class AlternativeAnswer(BaseModel):
    """What the provider sends to accept or decline."""

    sender: str = Field(default="provider", min_length=1, max_length=64)
    notes: str | None = Field(default=None, max_length=2000)


def offer_of(determination: Determination) -> dict[str, Any] | None:
    """The standing offer on a pended case, or None."""
    offer = determination.alternative
    if determination.status is not CaseStatus.PENDED or not offer:
        return None
    return offer if offer.get("state") == OfferState.OFFERED else None


def respond_by(offer: dict[str, Any]) -> datetime | None:
    value = offer.get("respond_by")
    return datetime.fromisoformat(value) if value else None


def _codes(regimen: Regimen) -> list[str]:
    return [slot[0] for slot in regimen.drugs if slot]


def offered(
    case: Case,
    current: Determination,
    body: AlternativeOffer,
    catalog: RegimenCatalog,
    cancer_type: str | None,
    plan: PlanPolicy,
    now: datetime,
) -> Determination:
    """The pended determination with the reviewer's offer on it (the case stays pended)."""
    if current.status is not CaseStatus.PENDED:
        raise AlternativeRefused(
            "ALTERNATIVE_NOT_PENDED",
            f"case {case.id} is {current.status.value}: an alternative is offered only for a "
            "pended case",
            conflict=True,
        )
    found = catalog.regimen(body.pathway_row)
    if found is None:
        raise AlternativeRefused(
            "ALTERNATIVE_UNKNOWN_ROW",
            f"{body.pathway_row} is not a pathway row (mappings/pathways: cancer_type:regimen_id)",
        )
    row_type, regimen = found
    if cancer_type is None:
        raise AlternativeRefused(
            "ALTERNATIVE_NO_PATHWAY",
            f"case {case.id}'s primary diagnosis is on no treatment pathway: an alternative "
            "regimen is a pathway row",
        )
    if row_type != cancer_type:
        raise AlternativeRefused(
            "ALTERNATIVE_OTHER_PATHWAY",
            f"{body.pathway_row} belongs to the {row_type} pathway; case {case.id}'s primary "
            f"diagnosis is on the {cancer_type} pathway",
        )
    if body.pathway_row == current.pathway_regimen and current.pend_kind is not PendKind.HOLD:
        raise AlternativeRefused(
            "ALTERNATIVE_SAME_REGIMEN",
            f"{body.pathway_row} is the regimen requested: approve it instead",
        )
    due = body.respond_by or add_business_days(now, plan.hold.response_business_days)
    if due.tzinfo is None:
        raise AlternativeRefused("ALTERNATIVE_NAIVE_TIME", "respond_by needs its UTC offset")
    if due <= now:
        raise AlternativeRefused("ALTERNATIVE_PAST_TIME", "respond_by is in the past")
    requested = ", ".join(line.code for line in case.active_lines)
    offer: dict[str, Any] = {
        "state": OfferState.OFFERED.value,
        "pathway_row": body.pathway_row,
        "name": regimen.name,
        "codes": _codes(regimen),
        "drugs": [list(slot) for slot in regimen.drugs],
        "duration_days": regimen.duration_days,
        "rationale": body.rationale,
        "offered_by": body.reviewer,
        "offered_at": now.isoformat(),
        "respond_by": due.isoformat(),
        "requested_regimen": current.pathway_regimen,
        "requested_codes": [line.code for line in case.active_lines],
    }
    reason = Reason(
        code=ALTERNATIVE_OFFERED,
        plan_rule=plan.rule("alternative"),
        pathway_row=body.pathway_row,
        text=f"A physician reviewer offers an alternative regimen: {regimen.name} "
        f"({', '.join(offer['codes'])}) instead of the requested {requested}: {body.rationale}. "
        f"Accept it, or ask for reconsideration of the original request, by "
        f"{spoken_time(due, requesting_provider_zone(case, plan.time_zone))}.",
    )
    lines = [line.model_copy(update={"reason": reason}) for line in current.lines]
    return current.model_copy(
        update={
            "reason": reason,
            "lines": lines,
            "decided_at": now,
            "decided_by": body.reviewer,
            "alternative": offer,
        }
    )


def _standing(case: Case, current: Determination) -> dict[str, Any]:
    offer = offer_of(current)
    if offer is None:
        why = (
            f"its offer was {current.alternative.get('state')}"
            if current.alternative and current.status is CaseStatus.PENDED
            else f"it is {current.status.value}"
        )
        raise AlternativeRefused(
            "ALTERNATIVE_NOT_OFFERED",
            f"case {case.id} has no alternative standing to answer: {why}",
            conflict=True,
        )
    return offer


def accepted(
    case: Case,
    current: Determination,
    plan: PlanPolicy,
    now: datetime,
    *,
    by: str,
    via: str,
) -> Determination:
    """The provider accepted: a modified approval (A6) for the alternative regimen."""
    offer = _standing(case, current)
    service_date = case.service_date or now.date()
    start, end = authorization_period(plan, service_date, now, offer.get("duration_days"))
    auth = auth_number_for(case)
    requested = ", ".join(offer.get("requested_codes") or [])
    text = (
        f"Approved for the alternative regimen {offer['name']} ({', '.join(offer['codes'])}) "
        f"instead of the requested {requested}, which the provider accepted."
    )
    reason = Reason(
        code=ALTERNATIVE_ACCEPTED,
        plan_rule=plan.rule("alternative"),
        pathway_row=offer["pathway_row"],
        text=text,
    )
    lines = [
        LineDetermination(
            sequence=line.sequence,
            code=line.code,
            review_action=MODIFIED,
            auth_number=auth,
            period_start=start,
            period_end=end,
            units=line.units,
        )
        for line in case.active_lines
    ]
    answer = {"state": OfferState.ACCEPTED.value, "answered_at": now.isoformat(), "via": via}
    return Determination(
        status=CaseStatus.MODIFIED,
        review_action=MODIFIED,
        reason=reason,
        lines=lines,
        auth_number=auth,
        period_start=start,
        period_end=end,
        decided_at=now,
        decided_by=offer.get("offered_by") or "reviewer",
        rationale=text,
        plan_id=current.plan_id,
        pathway_regimen=offer["pathway_row"],
        urgency=current.urgency,
        alternative={**offer, **answer, "answered_by": by},
    )


def declined(
    case: Case,
    current: Determination,
    plan: PlanPolicy,
    now: datetime,
    *,
    by: str,
    via: str,
    due_by: datetime,
) -> Determination:
    """The provider asks for reconsideration of the original request: back to a physician
    reviewer (pended, clinical review), due on the plan's clock from now."""
    offer = _standing(case, current)
    reason = Reason(
        code=ALTERNATIVE_DECLINED,
        plan_rule=plan.rule("alternative"),
        pathway_row=offer.get("requested_regimen"),
        text=f"The provider declined the alternative {offer['name']} and asks for "
        "reconsideration of the original request: a physician reviewer decides it.",
    )
    lines = [
        line.model_copy(update={"review_action": PENDED, "reason": reason})
        for line in current.lines
    ]
    answer = {"state": OfferState.DECLINED.value, "answered_at": now.isoformat(), "via": via}
    return current.model_copy(
        update={
            "reason": reason,
            "lines": lines,
            "pend_kind": PendKind.CLINICAL_REVIEW,
            "decided_at": now,
            "decided_by": "gateway",
            "due_by": due_by,
            "pathway_regimen": offer.get("requested_regimen"),
            "alternative": {**offer, **answer, "answered_by": by},
        }
    )


class ChangeAnswer(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"


def _fills(regimen_slots: Iterable[Iterable[str]], codes: set[str]) -> bool:
    slots = [set(slot) for slot in regimen_slots]
    covered = set().union(*slots) if slots else set()
    return bool(slots) and all(codes & slot for slot in slots) and codes <= covered


def change_answer(change: Case, current: Determination) -> ChangeAnswer | None:
    """How a requester's revision of a pended case with a standing offer answers it: its active
    drug codes fill every slot of the alternative row and name no other drug -> accept; they
    are the codes first requested -> decline (reconsideration of the original); else None (an
    ordinary revision: re-reviewed, the offer lapses)."""
    offer = offer_of(current)
    if offer is None:
        return None
    codes = {line.code.upper() for line in change.active_lines}
    if not codes:
        return None  # every item cancelled: a cancel, not an answer
    if _fills(offer.get("drugs") or [], codes):
        return ChangeAnswer.ACCEPT
    if codes == {code.upper() for code in offer.get("requested_codes") or []}:
        return ChangeAnswer.DECLINE
    return None
