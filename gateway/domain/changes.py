"""The life of an authorization after its first answer: what a change request is, which stored
authorization it may change, and what the change does to the periods (pure rules; the case
service applies them in one transaction, gateway.service.core).

Certification types are X12 005010X217 UM02 (element 1322), shared by PAS's certificationType
extension (DOMAIN.md: After the first answer):
- `I` initial: a new request, no reference.
- `S` revised: a pended request is re-reviewed with the new content; an approved one gets a new
  authorization from the date of the change and the old one ends the day before (DOMAIN.md:
  Outcomes, "changes to an approved regimen need a new authorization from the date of the
  change").
- `4` extension: the same authorization runs longer, within the plan's span; beyond it the
  extension is pended for a reviewer as an authorization of its own that continues the first.
- `R` renewal: a new authorization that continues one that ends.
- `3` cancel (and BHT02 `01`): the referenced authorization is cancelled; no new case.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum

from gateway.domain.actions import APPROVALS, ReviewAction
from gateway.domain.case import Case, CaseStatus, Determination, LineDetermination, PendKind, Reason
from gateway.domain.outcomes import due_by
from gateway.domain.policy import PlanPolicy, add_months


class ChangeKind(StrEnum):
    REVISED = "S"
    EXTENSION = "4"
    RENEWAL = "R"
    CANCEL = "3"


_CHANGE_KINDS: dict[str, ChangeKind] = {kind.value: kind for kind in ChangeKind}


# The review actions of an authorization that is in force (it can be revised, extended, renewed).
IN_FORCE = frozenset({CaseStatus.APPROVED, CaseStatus.MODIFIED, CaseStatus.PARTIALLY_APPROVED})
OPEN = frozenset({CaseStatus.PENDED, CaseStatus.HELD})


def change_kind(case: Case) -> ChangeKind | None:
    """The change a request asks for, or None for an initial request (UM02 `I`, appeals)."""
    # A look-up, not ChangeKind(value): an initial request would raise and catch a ValueError
    # in every intake.
    return _CHANGE_KINDS.get(case.certification_type)


class ChangeRefused(Exception):
    """A change that cannot be made: the X12 AAA (2000E) and the words for both channels.

    AAA03 codes of the 278 response's 2000E (005010X217): MA missing authorization number, IA
    invalid authorization number format, T5 certification information missing (no such
    certification for this requester), CI certification information does not match the patient,
    33 input errors (the certification cannot take this change)."""

    def __init__(
        self, aaa_code: str, text: str, fhir_code: str = "business-rule", follow_up: str = "C"
    ):
        super().__init__(text)
        self.aaa_code = aaa_code
        self.text = text
        self.fhir_code = fhir_code
        self.follow_up = follow_up  # AAA04: C correct and resubmit, N resubmission not allowed


def missing_reference(kind: ChangeKind) -> ChangeRefused:
    return ChangeRefused(
        "MA",
        f"Certification type {kind.value} ({kind.name.lower()}) must name the certification it "
        "changes: REF*BB with the authorization number (or REF*NT with the gateway's reference).",
        "required",
    )


def unknown_reference(value: str) -> ChangeRefused:
    # One answer for "does not exist" and "not yours": a foreign reference is never confirmed.
    return ChangeRefused(
        "T5",
        f"No certification {value} was found for this requester; check the authorization number.",
        "not-found",
    )


def check_same_patient(change: Case, target: Case) -> None:
    """A change names the patient of the certification it changes (AAA CI otherwise)."""
    if change.member.member_id.strip().upper() != target.member.member_id.strip().upper():
        raise ChangeRefused(
            "CI",
            "The certification named does not belong to this patient; check the member id and "
            "the authorization number.",
        )


def check_changeable(kind: ChangeKind, current: Determination, target_id: str) -> None:
    """Which stored states take which change (X12 AAA 33 otherwise)."""
    status = current.status
    if kind is ChangeKind.CANCEL:
        if status in IN_FORCE or status in OPEN or status is CaseStatus.CANCELLED:
            return
    elif kind is ChangeKind.REVISED:
        if status in IN_FORCE or status in OPEN:
            return
    elif status in IN_FORCE or (kind is ChangeKind.EXTENSION and status in OPEN):
        return
    advice = (
        "request a reconsideration or file an appeal"
        if status is CaseStatus.DENIED
        else "submit a new request"
    )
    raise ChangeRefused(
        "33",
        f"Certification {target_id} is {status.value} and cannot take a "
        f"{kind.name.lower()}: {advice}.",
    )


def change_date(change: Case, today: date) -> date:
    """The date a revision takes effect: the first service date it asks for, never before
    today (a change cannot rewrite what the old authorization already covered)."""
    asked = change.service_date
    return max(asked, today) if asked else today


def ended_day_before(current: Determination, change_starts: date, now: datetime) -> Determination:
    """The replaced authorization ends the day before its replacement starts."""
    last_day = change_starts - timedelta(days=1)
    ended = current.model_copy(deep=True)
    if current.period_start is not None and last_day < current.period_start:
        # Replaced before it began: the old authorization never takes effect.
        ended.status = CaseStatus.CANCELLED
        ended.review_action = ReviewAction.CANCELLED
        ended.reason = Reason(
            code="REPLACED_BY_CHANGE",
            plan_rule=current.reason.plan_rule,
            pathway_row=current.reason.pathway_row,
            text=(
                f"Replaced by a changed authorization from {change_starts.isoformat()}, before "
                "this one began."
            ),
        )
        ended.decided_at = now
        return ended
    if ended.period_end is None or ended.period_end > last_day:
        ended.period_end = max(last_day, ended.period_start or last_day)
    for line in ended.lines:
        if line.period_end is not None and line.period_end > last_day:
            line.period_end = max(last_day, line.period_start or last_day)
    ended.reason = Reason(
        code="REPLACED_BY_CHANGE",
        plan_rule=current.reason.plan_rule,
        pathway_row=current.reason.pathway_row,
        text=(
            f"{current.reason.text} Replaced by a changed authorization from "
            f"{change_starts.isoformat()}; this authorization ends {last_day.isoformat()}."
        ),
    )
    ended.decided_at = now
    return ended


def longest_end(plan: PlanPolicy, current: Determination) -> date | None:
    """The last day the plan's span allows for this authorization (from its own start)."""
    start = current.period_start
    if start is None:
        return None
    span = plan.authorization
    if span.unit == "months":
        return add_months(start, span.max)
    return start + timedelta(days=span.max)


def requested_end(change: Case) -> date | None:
    ends = [line.end_date or line.start_date for line in change.active_lines if line.start_date]
    return change.end_date or (max(ends) if ends else None)


def extended(
    current: Determination, change: Case, plan: PlanPolicy | None, now: datetime
) -> Determination | None:
    """The same authorization running to the extension's end date, when the plan's span allows
    it; None when it does not (the extension is then reviewed by a person)."""
    wanted = requested_end(change)
    limit = longest_end(plan, current) if plan else None
    if wanted is None or limit is None or current.period_end is None or wanted > limit:
        return None
    longer = current.model_copy(deep=True)
    old_end = current.period_end
    if wanted > old_end:
        longer.period_end = wanted
        for line in longer.lines:
            if line.period_end == old_end and ReviewAction(line.review_action) in APPROVALS:
                line.period_end = wanted
    longer.reason = Reason(
        code="EXTENDED",
        plan_rule=plan.rule("authorization") if plan else current.reason.plan_rule,
        pathway_row=current.reason.pathway_row,
        text=(
            f"The authorization is extended to {longer.period_end.isoformat()}"  # type: ignore[union-attr]
            " within the plan's authorization span."
        ),
    )
    longer.decided_at = now
    return longer


def continues_after(current: Determination, today: date) -> date:
    """Where a renewal (or an extension past the plan's span) starts: the day after the
    authorization it continues ends, or today when that has passed."""
    if current.period_end is None:
        return today
    return max(current.period_end + timedelta(days=1), today)


def pended_for_extension(
    change: Case, reviewed: Determination, plan: PlanPolicy | None, now: datetime
) -> Determination:
    """An extension past the plan's span is a person's decision: what the review would have
    approved is pended for clinical review instead (a rejection stands as it is)."""
    if reviewed.status not in IN_FORCE or plan is None:
        return reviewed
    reason = Reason(
        code="EXTENSION_BEYOND_SPAN",
        plan_rule=plan.rule("authorization"),
        pathway_row=reviewed.reason.pathway_row,
        text=(
            "The extension asks for more than the plan's authorization span; it is pended for "
            "clinical review as an authorization that continues the current one."
        ),
    )
    return reviewed.model_copy(
        update={
            "status": CaseStatus.PENDED,
            "review_action": ReviewAction.PENDED,
            "reason": reason,
            "auth_number": None,
            "period_start": None,
            "period_end": None,
            "pend_kind": PendKind.CLINICAL_REVIEW,
            "due_by": due_by(plan, change.submission.received_at, reviewed.urgency, True),
            "updates_follow": True,
            "decided_at": now,
            "lines": [
                LineDetermination(
                    sequence=line.sequence,
                    code=line.code,
                    review_action=ReviewAction.PENDED,
                    reason=reason,
                )
                for line in reviewed.lines
            ],
        }
    )
