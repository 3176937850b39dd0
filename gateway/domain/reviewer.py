"""What a physician reviewer decides, and what the hold clock decides when information is late.

Denials exist only here: the machine approves or routes to review, a reviewer may deny
(DOMAIN.md: Denials are made by a physician reviewer, never by the machine alone).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from gateway.domain.case import (
    Case,
    CaseStatus,
    Determination,
    LineDetermination,
    PendKind,
    Reason,
    ServiceLine,
)
from gateway.domain.outcomes import (
    APPROVED,
    CANCELLED,
    MODIFIED,
    NOT_CERTIFIED,
    PARTIAL,
    PENDED,
    auth_number_for,
    authorization_period,
)
from gateway.domain.policy import PlanPolicy


class InvalidDecision(ValueError):
    """The decision cannot be applied under this plan (e.g. a partial approval in a plan that
    makes none)."""


class LineDecision(BaseModel):
    sequence: int
    decision: Literal["approve", "deny", "modify"]
    units: float | None = None
    place_of_service: str | None = None


class ReviewerDecision(BaseModel):
    reviewer: str = Field(min_length=1, max_length=64)
    decision: Literal["approve", "modify", "deny"]
    rationale: str | None = None
    guideline: str | None = None
    lines: list[LineDecision] = Field(default_factory=list)
    period_start: date | None = None
    period_end: date | None = None
    place_of_service: str | None = None
    # The decision reason code of a denial (X12 code list 886: HCR03, PAS reasonCode).
    reason_code: str | None = Field(default=None, pattern=r"^[A-Z0-9]{1,3}$")

    @model_validator(mode="after")
    def _explained(self) -> ReviewerDecision:
        # A denial states its rationale and the guideline relied on (DOMAIN.md: Denied).
        if self.decision == "deny" and not (self.rationale and self.guideline):
            raise ValueError("a denial needs a rationale and the guideline relied on")
        if self.decision == "modify" and not self.rationale:
            raise ValueError("a modified approval needs a rationale")
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


# Rationales that say a denial happened but not why: not a specific reason (CMS-0057-F).
_GENERIC_RATIONALES = frozenset(
    {
        "not medically necessary",
        "not medically necessary as requested",
        "medical necessity not met",
        "does not meet criteria",
        "does not meet medical necessity",
        "criteria not met",
        "denied",
    }
)


def specific_reason_problem(decision: ReviewerDecision) -> str | None:
    """Why a denial's reason is not specific where the line requires one (CMS-0057-F), or None:
    the rationale must name the criterion not met, not only say that one was not met."""
    rationale = " ".join((decision.rationale or "").lower().strip(" .").split())
    if rationale in _GENERIC_RATIONALES:
        return (
            f"'{decision.rationale}' is not a specific reason, which this member's line of "
            "business requires on every denial (CMS-0057-F): name the criterion not met and "
            "what the request lacks (and reason_code, the X12 886 code, where one applies)"
        )
    return None


def appeal_rights(plan: PlanPolicy, line_of_business: str, case: Case, now: datetime) -> dict:
    service_date = case.service_date
    rights = {
        "appeal_window_days": plan.appeal.window_days,
        "appeal_by": (now + timedelta(days=plan.appeal.window_days)).date().isoformat(),
        "expedited_appeal_hours": plan.appeal.expedited_hours,
        "standard_member_appeal_days": plan.appeal.standard_member_days,
        "standard_provider_appeal_days": plan.appeal.standard_provider_days,
        "peer_to_peer": "The ordering provider may request a peer-to-peer conversation with the "
        f"physician reviewer: call {plan.contact.get('phone', 'the program')}.",
        "reconsideration_allowed": plan.reconsideration_allowed(line_of_business),
        "reconsideration_by": service_date.isoformat() if service_date else None,
        "contact": plan.contact,
    }
    if not rights["reconsideration_allowed"]:
        # The letter leaves the option out (letter_templates.OPTIONS reads `reconsideration`).
        rights["reconsideration"] = False
    return rights


def apply_reviewer_decision(
    case: Case,
    current: Determination,
    decision: ReviewerDecision,
    plan: PlanPolicy,
    line_of_business: str,
    now: datetime,
) -> Determination:
    service_date = case.service_date or now.date()
    start, end = authorization_period(plan, service_date, now, None)
    start = decision.period_start or start
    end = decision.period_end or end
    auth = auth_number_for(case)
    by_sequence = {line.sequence: line for line in decision.lines}
    unknown = set(by_sequence) - {line.sequence for line in case.active_lines}
    if unknown:
        raise InvalidDecision(f"no service line with sequence {sorted(unknown)}")

    lines = []
    for line in case.active_lines:
        verdict = by_sequence[line.sequence].decision if line.sequence in by_sequence else None
        verdict = verdict or decision.decision
        if verdict == "deny":
            lines.append(
                LineDetermination(
                    sequence=line.sequence, code=line.code, review_action=NOT_CERTIFIED
                )
            )
        else:
            chosen = by_sequence.get(line.sequence)
            lines.append(
                LineDetermination(
                    sequence=line.sequence,
                    code=line.code,
                    review_action=MODIFIED if verdict == "modify" else APPROVED,
                    auth_number=auth,
                    period_start=start,
                    period_end=end,
                    units=(chosen.units if chosen and chosen.units else line.units),
                    place_of_service=(chosen.place_of_service if chosen else None)
                    or decision.place_of_service,
                )
            )
    actions = {line.review_action for line in lines}
    denied = actions == {NOT_CERTIFIED}
    partial = NOT_CERTIFIED in actions and not denied
    if partial and not plan.partial_approvals:
        raise InvalidDecision(
            f"plan {plan.id} makes no partial approvals: approve or deny the whole request"
        )
    if (denied or partial) and plan.specific_denial_reason(line_of_business):
        problem = specific_reason_problem(decision)
        if problem is not None:
            raise InvalidDecision(f"case {case.id}: {problem}")

    rule = plan.rule("reviewer")
    if denied:
        reason = Reason(
            code="REVIEWER_DENIED",
            plan_rule=rule,
            pathway_row=current.reason.pathway_row,
            text=f"Not medically necessary as requested: {decision.rationale}",
            x12_reason=decision.reason_code,
        )
        return _reviewed(
            current,
            CaseStatus.DENIED,
            NOT_CERTIFIED,
            reason,
            lines,
            decision,
            now,
            appeal=_after(current, appeal_rights(plan, line_of_business, case, now)),
        )
    if partial:
        approved = ", ".join(line.code for line in lines if line.review_action != NOT_CERTIFIED)
        refused = ", ".join(line.code for line in lines if line.review_action == NOT_CERTIFIED)
        reason = Reason(
            code="REVIEWER_PARTIAL",
            plan_rule=plan.rule("partial_approvals"),
            pathway_row=current.reason.pathway_row,
            text=f"Approved: {approved}. Not approved: {refused}. "
            f"{decision.rationale or ''}".strip(),
        )
        return _reviewed(
            current,
            CaseStatus.PARTIALLY_APPROVED,
            PARTIAL,
            reason,
            lines,
            decision,
            now,
            auth_number=auth,
            period_start=start,
            period_end=end,
            appeal=appeal_rights(plan, line_of_business, case, now),
        )
    if MODIFIED in actions or decision.decision == "modify":
        reason = Reason(
            code="REVIEWER_MODIFIED",
            plan_rule=rule,
            pathway_row=current.reason.pathway_row,
            text=f"Approved with changes: {decision.rationale}",
        )
        return _reviewed(
            current,
            CaseStatus.MODIFIED,
            MODIFIED,
            reason,
            lines,
            decision,
            now,
            auth_number=auth,
            period_start=start,
            period_end=end,
            site_of_care_redirect=decision.place_of_service,
        )
    reason = Reason(
        code="REVIEWER_APPROVED",
        plan_rule=rule,
        pathway_row=current.reason.pathway_row,
        text=f"Approved after clinical review. {decision.rationale or ''}".strip(),
    )
    return _reviewed(
        current,
        CaseStatus.APPROVED,
        APPROVED,
        reason,
        lines,
        decision,
        now,
        auth_number=auth,
        period_start=start,
        period_end=end,
    )


def _after(current: Determination, rights: dict) -> dict:
    """A denial upheld on reconsideration leaves an appeal, not a second reconsideration."""
    if current.reason.code == "RECONSIDERATION":  # gateway.domain.peer_to_peer.RECONSIDERATION
        rights.update(reconsideration_allowed=False, reconsideration=False)
    return rights


def _reviewed(
    current: Determination,
    status: CaseStatus,
    action: str,
    reason: Reason,
    lines: list[LineDetermination],
    decision: ReviewerDecision,
    now: datetime,
    **fields: object,
) -> Determination:
    return Determination(
        status=status,
        review_action=action,
        reason=reason,
        lines=lines,
        decided_at=now,
        decided_by=decision.reviewer,
        rationale=decision.rationale,
        guideline=decision.guideline,
        plan_id=current.plan_id,
        pathway_regimen=current.pathway_regimen,
        urgency=current.urgency,
        **fields,  # type: ignore[arg-type]
    )


def hold_expired(case: Case, current: Determination, now: datetime) -> Determination:
    """The information asked for did not arrive in time: the request goes to a reviewer on the
    original submission."""
    due = current.hold_due.date().isoformat() if current.hold_due else "the due date"
    reason = Reason(
        code="HOLD_EXPIRED",
        plan_rule=current.reason.plan_rule,
        pathway_row=current.reason.pathway_row,
        text=f"The clinical information asked for ({', '.join(current.missing_facts)}) "
        f"did not arrive by {due}: the request is decided on the original "
        "submission by a clinical reviewer.",
    )
    lines = [
        line.model_copy(update={"review_action": PENDED, "reason": reason})
        for line in current.lines
    ]
    return current.model_copy(
        update={
            "status": CaseStatus.PENDED,
            "review_action": PENDED,
            "reason": reason,
            "lines": lines,
            "pend_kind": PendKind.CLINICAL_REVIEW,
            "decided_at": now,
            "hold_due": None,
        }
    )


def cancelled_line(line: ServiceLine) -> LineDetermination:
    return LineDetermination(sequence=line.sequence, code=line.code, review_action=CANCELLED)


def cancelled(case: Case, current: Determination, now: datetime) -> Determination:
    """The requester withdrew the request (certification type 3 / every item cancelled)."""
    reason = Reason(
        code="CANCELLED_BY_REQUESTER",
        plan_rule=current.reason.plan_rule,
        text="The request was cancelled by the requester.",
    )
    return Determination(
        status=CaseStatus.CANCELLED,
        review_action=CANCELLED,
        reason=reason,
        lines=[cancelled_line(line) for line in case.service_lines],
        decided_at=now,
        decided_by="requester",
        plan_id=current.plan_id,
        urgency=current.urgency,
    )
