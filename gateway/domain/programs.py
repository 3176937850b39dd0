"""The per-program eligibility answer: "Prior authorization required for: Medical Oncology. No
prior authorization required for: Gastroenterology." (DOMAIN.md: Scope and eligibility)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from gateway.domain.local_dates import local_date

if TYPE_CHECKING:
    from gateway.domain.ports import Ports


def program_answer(ports: Ports, member_id: str, on: date) -> dict[str, Any] | None:
    """Per program: is prior authorization required for this member on this date."""
    enrollment = ports.eligibility.enrollment(member_id)
    if enrollment is None:
        return None
    plan = ports.plans[enrollment.plan_id]
    eligible = enrollment.eligible_on(on)
    managed = enrollment.line_of_business in plan.lines_of_business
    # Programs decided by coverage criteria answer for the plans they serve (home health, DME).
    criteria_names = [
        name
        for program in ports.programs.values()
        if plan.id in program.plans
        for name in program.eligibility_names
    ]
    every = plan.programs.prior_authorization_required + criteria_names
    required = every if eligible and managed else []
    # A member not eligible on the date has no benefit to authorize: nothing is "not required"
    # either (issue 17), the answer says only that the member is not eligible.
    if not eligible:
        not_required = []
    elif managed:
        not_required = plan.programs.prior_authorization_not_required
    else:
        not_required = every + plan.programs.prior_authorization_not_required
    if not eligible:
        message = f"Member is not eligible on {on.isoformat()}."
    else:
        parts = []
        if required:
            parts.append("Prior authorization required for: " + ", ".join(required))
        if not_required:
            parts.append("No prior authorization required for: " + ", ".join(not_required))
        message = ". ".join(parts) + "."
    return {
        "member_id": enrollment.member_id,
        "date": on.isoformat(),
        "eligible": eligible,
        "payer_id": plan.payer_id,
        "plan": plan.id,
        "line_of_business": enrollment.line_of_business,
        "product": enrollment.product,
        "pharmacy_benefit": (
            "payer" if enrollment.pharmacy.with_payer else enrollment.pharmacy.pbm_name
        ),
        "out_of_network_benefits": enrollment.out_of_network_benefits,
        "prior_authorization_required": required,
        "prior_authorization_not_required": not_required,
        "message": message,
    }


def member_today(ports: Ports, member_id: str, now: datetime) -> date:
    """The day a look-up without a date asks about: today in the member's plan's time zone (a
    question asked in the evening in Hartford is about Hartford's day, not UTC's)."""
    enrollment = ports.eligibility.enrollment(member_id)
    plan = ports.plans.get(enrollment.plan_id) if enrollment is not None else None
    return local_date(now, plan.time_zone if plan is not None else "UTC")
