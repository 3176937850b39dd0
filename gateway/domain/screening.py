"""Screening: who and where, before any drug is looked at: the member and plan, the product, the
setting, the program's diagnosis scope, the retrospective window and the network.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from gateway.domain.case import Case, CaseStatus, Determination, Reason, Rejection
from gateway.domain.criteria import CRITERIA_PROGRAMS
from gateway.domain.eligibility import Enrollment
from gateway.domain.local_dates import provider_local_date
from gateway.domain.outcomes import CONTACT_PAYER, NOT_REQUIRED, decision, reject
from gateway.domain.policy import PlanPolicy

if TYPE_CHECKING:
    from gateway.domain.ports import Ports


def screen(
    case: Case, ports: Ports, now: datetime
) -> tuple[Determination | None, Enrollment | None, PlanPolicy | None]:
    """Who and where: member, plan, product, setting, scope, timing, network."""
    member_id = case.member.member_id
    enrollment = ports.eligibility.enrollment(member_id)
    if enrollment is None:
        rejection = Rejection(
            loop="2010C", aaa_code="75", follow_up="C", text="Subscriber/insured not found."
        )
        return reject(case, now, "MEMBER_NOT_FOUND", rejection), None, None
    plan = ports.plans[enrollment.plan_id]
    if case.payer_id and case.payer_id != plan.payer_id:
        rejection = Rejection(
            loop="2010C",
            aaa_code="78",
            follow_up="C",
            text=f"Member is not enrolled in a plan of payer {case.payer_id}.",
        )
        return reject(case, now, "MEMBER_NOT_IN_PLAN", rejection, plan), enrollment, plan
    # Calendar days are the provider's: a date of service is written in its local calendar.
    received = provider_local_date(case, case.submission.received_at, plan.time_zone)
    service_date = case.service_date or received
    if not enrollment.eligible_on(service_date):
        rejection = Rejection(
            loop="2010C",
            aaa_code="78",
            follow_up="C",
            text=f"Member is not eligible on the date of service {service_date}.",
        )
        return reject(case, now, "NOT_ELIGIBLE", rejection, plan), enrollment, plan
    if case.member.birth_date and case.member.birth_date != enrollment.birth_date:
        rejection = Rejection(
            loop="2010C",
            aaa_code="71",
            follow_up="C",
            text="Birth date does not match the member on file.",
        )
        return reject(case, now, "BIRTH_DATE_MISMATCH", rejection, plan), enrollment, plan

    def not_required(code: str, text: str, rule: str) -> Determination:
        reason = Reason(code=code, text=text, plan_rule=plan.rule(rule))
        return decision(case, now, CaseStatus.NOT_REQUIRED, NOT_REQUIRED, reason, plan)

    if case.program in CRITERIA_PROGRAMS:
        # Home health, DME and sleep: their own settings and timing rules (gateway.domain.criteria).
        return None, enrollment, plan
    if enrollment.line_of_business not in plan.lines_of_business:
        text = (
            f"No prior authorization required under this program for the member's product "
            f"({enrollment.product})."
        )
        return not_required("PRODUCT_NOT_MANAGED", text, "lines_of_business"), enrollment, plan
    places = {case.place_of_service} | {line.place_of_service for line in case.active_lines}
    for place in sorted(p for p in places if p):
        if place in plan.excluded_places_of_service:
            setting = plan.excluded_places_of_service[place]
            text = (
                f"No prior authorization required in this setting: {setting} "
                f"(place of service {place})."
            )
            return (
                not_required("SETTING_EXCLUDED", text, "excluded_places_of_service"),
                enrollment,
                plan,
            )
    setting = str(case.facts.values.get("setting", "")).lower()
    if setting and setting in plan.excluded_settings:
        text = f"No prior authorization required in this setting: {setting}."
        return not_required("SETTING_EXCLUDED", text, "excluded_settings"), enrollment, plan
    if enrollment.transplant_active and "transplant" in plan.excluded_settings:
        text = "No prior authorization required: the patient is active in transplant."
        return not_required("TRANSPLANT_ACTIVE", text, "excluded_settings"), enrollment, plan

    primary = case.primary_diagnosis
    if primary is None:
        rejection = Rejection(
            loop="2000E", aaa_code="15", follow_up="C", text="A primary diagnosis code is required."
        )
        return reject(case, now, "DIAGNOSIS_MISSING", rejection, plan), enrollment, plan
    if not ports.tables.scope.in_oncology_scope(primary.code):
        reason = Reason(
            code="OUT_OF_SCOPE_DIAGNOSIS",
            plan_rule=plan.rule("diagnosis_scope"),
            text=f"Primary diagnosis {primary.code} is not a cancer diagnosis: the "
            "request is out of scope of the oncology program and the case is expired.",
        )
        return (
            decision(case, now, CaseStatus.OUT_OF_SCOPE, CONTACT_PAYER, reason, plan),
            enrollment,
            plan,
        )

    if service_date < received:
        late = (received - service_date).days
        if not plan.retro.allowed or late > plan.retro.max_days:
            allowed = (
                f"within {plan.retro.max_days} days of the service"
                if plan.retro.allowed
                else "not accepted by this plan"
            )
            rejection = Rejection(
                loop="2000E",
                aaa_code="62",
                follow_up="N",
                text=f"Retrospective request {late} days after the service: {allowed}.",
            )
            return reject(case, now, "RETRO_NOT_ALLOWED", rejection, plan), enrollment, plan

    rendering = case.rendering or case.facility or case.ordering
    npi = rendering.npi if rendering else None
    if (
        not ports.eligibility.in_network(plan.payer_id, npi)
        and not enrollment.out_of_network_benefits
    ):
        reason = Reason(
            code="OUT_OF_NETWORK",
            plan_rule=plan.rule("network"),
            text="The rendering provider is out of network and the member has no "
            "out-of-network benefits; a network adequacy review can be requested.",
        )
        return (
            decision(case, now, CaseStatus.REDIRECTED, CONTACT_PAYER, reason, plan),
            enrollment,
            plan,
        )
    return None, enrollment, plan
