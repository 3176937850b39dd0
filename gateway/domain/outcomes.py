"""Building determinations: the X12 306 review actions, the decision and rejection shapes, the
authorization span a plan grants and the review clock. Shared by screening, review and the
reviewer's decisions.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from gateway.domain.actions import ReviewAction as A
from gateway.domain.case import (
    Case,
    CaseStatus,
    Determination,
    LineDetermination,
    Reason,
    Rejection,
    Urgency,
)
from gateway.domain.policy import PlanPolicy, add_months

# The review actions under the short names the decision reads best with.
APPROVED, PARTIAL, NOT_CERTIFIED = A.APPROVED, A.PARTIAL, A.NOT_CERTIFIED
PENDED, MODIFIED = A.PENDED, A.MODIFIED
CONTACT_PAYER, NOT_REQUIRED, CANCELLED = A.CONTACT_PAYER, A.NOT_REQUIRED, A.CANCELLED


AUTH_PREFIX, CASE_PREFIX = "ONC", "PA"
# The core numbers cases PA + two-digit year + a counter (gateway.service.core); the number
# that authorizes one is ONC + the same digits. Bounded: a case id is at most 32 characters.
_AUTH_NUMBER = re.compile(rf"{AUTH_PREFIX}([0-9]{{1,30}})")


def auth_number_for(case: Case) -> str:
    # One authorization number per case, derived from its id so a re-review keeps it.
    return auth_number_for_id(case.id)


def auth_number_for_id(case_id: str | None) -> str:
    """The authorization number of the case with this id (a prior or related case's, say)."""
    return f"{AUTH_PREFIX}{(case_id or '').removeprefix(CASE_PREFIX)}"


def case_id_for_auth_number(number: str) -> str | None:
    """The id of the case an authorization number was derived from (the inverse of
    `auth_number_for`), or None when `number` is not one the gateway gives out. Supportive child
    cases are numbered like any case, so their numbers lead to the child, not the primary.
    Letters and 278 responses print the number in capitals; a provider may type it in any case
    and with blanks around it."""
    match = _AUTH_NUMBER.fullmatch(number.strip().upper())
    return f"{CASE_PREFIX}{match.group(1)}" if match else None


def decision(
    case: Case,
    now: datetime,
    status: CaseStatus,
    action: str,
    reason: Reason,
    plan: PlanPolicy | None = None,
    **fields: Any,
) -> Determination:
    lines = fields.pop("lines", None)
    if lines is None:
        lines = [
            LineDetermination(sequence=line.sequence, code=line.code, review_action=action)
            for line in case.active_lines
        ]
    return Determination(
        status=status,
        review_action=action,
        reason=reason,
        lines=lines,
        decided_at=now,
        plan_id=plan.id if plan else None,
        urgency=fields.pop("urgency", case.urgency),
        **fields,
    )


def reject(case: Case, now: datetime, code: str, rejection: Rejection, plan=None) -> Determination:
    reason = Reason(
        code=code, text=rejection.text, plan_rule=plan.rule("eligibility") if plan else None
    )
    return decision(
        case, now, CaseStatus.REJECTED, NOT_REQUIRED, reason, plan, rejection=rejection, lines=[]
    )


# X12 code list 901 (AAA03) for a member the request does not identify: 58 date of birth,
# 64/65 patient id/name, 67 patient not found, 68 duplicate patient id, 71 birth date does not
# match the member on file, 72/73 subscriber id/name, 75 subscriber not found, 76 duplicate
# subscriber id. Such a request is nobody's case: it is answered in-band (AAA / ClaimResponse
# error) and nobody is told of it later.
MEMBER_NOT_IDENTIFIED = frozenset({"58", "64", "65", "67", "68", "71", "72", "73", "75", "76"})


def member_unidentified(determination: Determination) -> bool:
    """A rejection because the gateway could not identify the request's member (2010C/2010D)."""
    rejection = determination.rejection
    return (
        rejection is not None
        and rejection.loop in ("2010C", "2010D")
        and rejection.aaa_code in MEMBER_NOT_IDENTIFIED
    )


def authorization_period(
    plan: PlanPolicy, service_date: date, now: datetime, duration_days: int | None
) -> tuple[date, date]:
    """The span the plan grants: long enough for the whole regimen, within the plan's bounds."""
    start = service_date
    anchor = now.date() if plan.authorization.anchor == "determination" else service_date
    span = plan.authorization
    if span.unit == "months":
        shortest, longest = add_months(anchor, span.min), add_months(anchor, span.max)
    else:
        shortest, longest = anchor + timedelta(days=span.min), anchor + timedelta(days=span.max)
    wanted = service_date + timedelta(days=duration_days or 0)
    end = min(max(wanted, shortest), longest)
    return start, end


def effective_urgency(case: Case) -> tuple[Urgency, str | None]:
    # Urgent requests need clinical documentation attached; without it they are handled as
    # standard (DOMAIN.md: Urgency).
    if case.urgency is Urgency.URGENT and not case.attachments:
        return (
            Urgency.STANDARD,
            "Urgent request without clinical documentation handled as standard.",
        )
    return case.urgency, None


def due_by(
    plan: PlanPolicy,
    received: datetime,
    urgency: Urgency,
    complete: bool,
    line_of_business: str | None = None,
) -> datetime:
    return plan.review_due(
        received,
        expedited=urgency is Urgency.URGENT,
        complete=complete,
        line_of_business=line_of_business,
    )


def with_line_of_business_clock(
    determination: Determination, case: Case, plan: PlanPolicy, line_of_business: str
) -> Determination:
    """A pended or held determination's due time under the member's line of business (the
    review computes the program's clock; a regulation such as CMS-0057-F may cap it)."""
    if determination.due_by is None or plan.line_clock(line_of_business) is None:
        return determination
    complete = determination.status is not CaseStatus.HELD
    received = case.submission.received_at
    determination.due_by = min(
        determination.due_by,
        due_by(plan, received, determination.urgency, complete, line_of_business),
    )
    return determination
