"""The decision: eligibility -> scope and setting -> pathway -> plan policy -> Determination.

Pure: takes the case, the ports and `now`, returns a Determination; stores nothing, sends nothing.
The machine approves or routes to a human; a denial is only ever a reviewer's (DOMAIN.md).
Every determination names the plan rule and the pathway row that produced it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from gateway.domain.case import (
    Case,
    CaseStatus,
    Determination,
    LineDetermination,
    PendKind,
    Reason,
    ServiceLine,
    Urgency,
)
from gateway.domain.clocks import add_business_days
from gateway.domain.criteria import CRITERIA_PROGRAMS, review_criteria
from gateway.domain.eligibility import Enrollment
from gateway.domain.local_dates import provider_local_date
from gateway.domain.outcomes import (
    APPROVED,
    CONTACT_PAYER,
    MODIFIED,
    NOT_REQUIRED,
    PENDED,
    auth_number_for,
    authorization_period,
    decision,
    due_by,
    effective_urgency,
    with_line_of_business_clock,
)
from gateway.domain.pathway import Match, PathwayResult
from gateway.domain.policy import Drug, PlanPolicy
from gateway.domain.ports import Ports
from gateway.domain.screening import screen


def clinical_facts(case: Case, ports: Ports) -> dict[str, Any]:
    """Facts from diagnosis codes, then from what the channel and later information gave."""
    facts: dict[str, Any] = dict(ports.tables.scope.facts_for([d.code for d in case.diagnoses]))
    facts.update(ports.pathways.clinical_facts(case.facts.values))
    return facts


def review(case: Case, ports: Ports, now: datetime) -> Determination:
    screened, enrollment, plan = screen(case, ports, now)
    if screened is not None:
        return screened
    assert enrollment is not None and plan is not None
    if case.program in CRITERIA_PROGRAMS:
        program = ports.criteria_program(plan.payer_id, plan.id)
        if program is not None:
            return with_line_of_business_clock(
                review_criteria(case, program, plan, now),
                case,
                plan,
                enrollment.line_of_business,
            )
    # Clocks per line of business (issue 12 item 6): the plan answers the due time.
    return with_line_of_business_clock(
        _review_drugs(case, ports, now, enrollment, plan), case, plan, enrollment.line_of_business
    )


def _review_drugs(
    case: Case, ports: Ports, now: datetime, enrollment: Enrollment, plan: PlanPolicy
) -> Determination:
    urgency, urgency_note = effective_urgency(case)
    received = case.submission.received_at
    service_date = case.service_date or provider_local_date(case, received, plan.time_zone)
    facts = clinical_facts(case, ports)
    auth = auth_number_for(case)

    chemo: list[tuple[ServiceLine, Drug]] = []
    supportive: list[tuple[ServiceLine, Drug]] = []
    results: dict[int, LineDetermination] = {}
    for line in case.active_lines:
        drug = ports.tables.drugs.get(line.code.upper())
        if drug is None:
            results[line.sequence] = LineDetermination(
                sequence=line.sequence,
                code=line.code,
                review_action=NOT_REQUIRED,
                reason=Reason(
                    code="DRUG_NOT_MANAGED",
                    plan_rule=plan.rule("drug_table"),
                    text=f"{line.code} is not a drug managed under this program.",
                ),
            )
        elif drug.benefit == "pharmacy" and not enrollment.pharmacy.with_payer:
            results[line.sequence] = LineDetermination(
                sequence=line.sequence,
                code=line.code,
                review_action=CONTACT_PAYER,
                reason=_pbm_reason(enrollment, plan, drug),
            )
        elif drug.drug_class == "supportive":
            supportive.append((line, drug))
        else:
            chemo.append((line, drug))

    common = {"urgency": urgency}
    if not chemo and not supportive:
        redirected = [r for r in results.values() if r.review_action == CONTACT_PAYER]
        ordered = sorted(results.values(), key=lambda r: r.sequence)
        if redirected and redirected[0].reason is not None:  # the redirect states its reason
            return decision(
                case,
                now,
                CaseStatus.REDIRECTED,
                CONTACT_PAYER,
                redirected[0].reason,
                plan,
                lines=ordered,
                **common,
            )
        reason = Reason(
            code="NO_MANAGED_DRUG",
            plan_rule=plan.rule("drug_table"),
            text="Request does not contain any drugs managed for this member under this program.",
        )
        return decision(
            case, now, CaseStatus.NOT_REQUIRED, NOT_REQUIRED, reason, plan, lines=ordered, **common
        )

    primary = case.primary_diagnosis
    assert primary is not None
    if chemo:
        pathway = ports.pathways.evaluate(
            primary.code, [line.code.upper() for line, _ in chemo], facts
        )
    else:
        # A supportive-only request (SPORT) stands on its primary case (facts carry it over).
        pathway = _supportive_result(supportive, ports, facts)
    outcome = _apply_pathway(
        case,
        plan,
        pathway,
        chemo,
        supportive,
        results,
        auth,
        service_date,
        now,
        urgency,
        received,
        ports.pathways.describe_fact,
    )
    if urgency_note:
        outcome.reason.text = f"{outcome.reason.text} {urgency_note}"
    return outcome


def _pbm_reason(enrollment: Enrollment, plan: PlanPolicy, drug: Drug) -> Reason:
    pbm = enrollment.pharmacy.pbm_name or "the member's pharmacy benefit manager"
    phone = f" ({enrollment.pharmacy.pbm_phone})" if enrollment.pharmacy.pbm_phone else ""
    return Reason(
        code="PHARMACY_BENEFIT_PBM",
        plan_rule=plan.rule("pharmacy_benefit"),
        text=f"{drug.name} is a pharmacy-benefit drug: request it from {pbm}{phone}.",
    )


def _supportive_result(
    supportive: list[tuple[ServiceLine, Drug]], ports: Ports, facts: dict[str, Any]
) -> PathwayResult:
    results = [
        ports.pathways.evaluate_supportive(drug.supportive_class or "", facts)
        for _, drug in supportive
    ]
    if all(r.match is Match.PREFERRED for r in results):
        return results[0]
    return PathwayResult(match=Match.NO_MATCH, cancer_type="supportive")


def _site_of_care_lines(
    case: Case, plan: PlanPolicy, lines: list[tuple[ServiceLine, Drug]]
) -> set[int]:
    places = set(plan.hospital_outpatient_places)
    return {
        line.sequence
        for line, drug in lines
        if drug.site_of_care and (line.place_of_service or case.place_of_service) in places
    }


def _apply_pathway(
    case: Case,
    plan: PlanPolicy,
    pathway: PathwayResult,
    chemo: list[tuple[ServiceLine, Drug]],
    supportive: list[tuple[ServiceLine, Drug]],
    results: dict[int, LineDetermination],
    auth: str,
    service_date: date,
    now: datetime,
    urgency: Urgency,
    received: datetime,
    describe: Callable[[str], str],
) -> Determination:
    row = pathway.row
    regimen = pathway.regimen
    reviewed = chemo + supportive

    def ordered() -> list[LineDetermination]:
        return sorted(results.values(), key=lambda r: r.sequence)

    def pend(
        kind: PendKind,
        code: str,
        text: str,
        rule: str,
        *,
        status: CaseStatus = CaseStatus.PENDED,
        lines: list[tuple[ServiceLine, Drug]] = reviewed,
        **extra: Any,
    ) -> Determination:
        reason = Reason(code=code, text=text, plan_rule=plan.rule(rule), pathway_row=row)
        for line, _ in lines:
            results[line.sequence] = LineDetermination(
                sequence=line.sequence, code=line.code, review_action=PENDED, reason=reason
            )
        complete = status is not CaseStatus.HELD
        return decision(
            case,
            now,
            status,
            PENDED,
            reason,
            plan,
            lines=ordered(),
            pend_kind=kind,
            due_by=due_by(plan, received, urgency, complete),
            urgency=urgency,
            updates_follow=True,
            pathway_regimen=row,
            **extra,
        )

    if pathway.match is Match.MISSING_FACTS:
        missing = "; ".join(describe(name) for name in pathway.missing)
        hold_due = add_business_days(received, plan.hold.response_business_days)
        text = (
            f"Clinical information needed to review against the pathway: {missing}. "
            f"Send it by {hold_due.date().isoformat()}; otherwise the request is decided on "
            "the original submission."
        )
        return pend(
            PendKind.HOLD,
            "MISSING_CLINICAL_INFO",
            text,
            "hold",
            status=CaseStatus.HELD,
            missing_facts=pathway.missing,
            hold_due=hold_due,
        )
    if pathway.match is Match.LISTED and regimen is not None:
        if regimen.review == "peer_to_peer":
            text = (
                f"{regimen.name} is a listed regimen that is not preferred by the program: a "
                "peer-to-peer review with a physician reviewer is required."
            )
            return pend(PendKind.PEER_TO_PEER, "PATHWAY_NON_PREFERRED", text, "peer_to_peer")
        text = f"{regimen.name} is not a preferred regimen: it goes to clinical review."
        return pend(PendKind.CLINICAL_REVIEW, "PATHWAY_NON_PREFERRED", text, "clinical_review")
    if pathway.match is Match.PARTIAL and regimen is not None:
        extra_lines = [
            (line, drug) for line, drug in chemo if line.code.upper() in pathway.extra_codes
        ]
        if not plan.partial_approvals:
            text = (
                f"The request adds {', '.join(pathway.extra_codes)} to {regimen.name}; the plan "
                "makes no partial approvals, so the whole request goes to clinical review."
            )
            return pend(PendKind.CLINICAL_REVIEW, "CUSTOM_REGIMEN", text, "partial_approvals")
        approved = [pair for pair in reviewed if pair not in extra_lines]
        _approve_lines(
            case, plan, approved, results, auth, service_date, now, regimen.duration_days, row
        )
        text = (
            f"{regimen.name} is approved on pathway; {', '.join(pathway.extra_codes)} "
            "goes to clinical review (the plan approves in part)."
        )
        return pend(
            PendKind.CLINICAL_REVIEW,
            "PARTIAL_ON_PATHWAY",
            text,
            "partial_approvals",
            lines=extra_lines,
            auth_number=auth,
        )
    if pathway.match is not Match.PREFERRED or regimen is None:
        if pathway.cancer_type == "supportive":
            text = (
                "Supportive drugs are authorized from an approved primary treatment case; none "
                "is on file for this request, so it goes to clinical review."
            )
        else:
            text = (
                "The requested drugs do not match a pathway regimen for these clinical facts: "
                "the custom treatment plan goes to clinical review."
            )
        return pend(PendKind.CLINICAL_REVIEW, "CUSTOM_REGIMEN", text, "clinical_review")

    start, end, site_lines = _approve_lines(
        case, plan, reviewed, results, auth, service_date, now, regimen.duration_days, row
    )
    source = f" ({regimen.source})" if regimen.source else ""
    if site_lines:
        where = " or ".join(
            {"12": "home (12)", "11": "office (11)"}.get(p, p)
            for p in plan.site_of_care.redirect_to
        )
        reason = Reason(
            code="SITE_OF_CARE_ONE_TIME",
            plan_rule=plan.rule("site_of_care"),
            pathway_row=row,
            text=f"{regimen.name} is on pathway{source}. Drugs asked for at a hospital "
            f"outpatient site get a one-time {plan.site_of_care.one_time_days}-day "
            f"authorization; continue them at {where}.",
        )
        status, action, redirect = CaseStatus.MODIFIED, MODIFIED, plan.site_of_care.redirect_to[0]
    else:
        reason = Reason(
            code="PATHWAY_PREFERRED",
            plan_rule=plan.rule("authorization"),
            pathway_row=row,
            text=f"{regimen.name} is a preferred pathway regimen{source}: all drugs of the "
            "regimen are approved for the whole treatment.",
        )
        status, action, redirect = CaseStatus.APPROVED, APPROVED, None
    return decision(
        case,
        now,
        status,
        action,
        reason,
        plan,
        lines=ordered(),
        auth_number=auth,
        period_start=start,
        period_end=end,
        urgency=urgency,
        pathway_regimen=row,
        site_of_care_redirect=redirect,
    )


def _approve_lines(
    case: Case,
    plan: PlanPolicy,
    lines: list[tuple[ServiceLine, Drug]],
    results: dict[int, LineDetermination],
    auth: str,
    service_date: date,
    now: datetime,
    duration_days: int | None,
    row: str | None,
) -> tuple[date, date, set[int]]:
    start, end = authorization_period(plan, service_date, now, duration_days)
    site_lines = _site_of_care_lines(case, plan, lines)
    one_time_end = start + timedelta(days=plan.site_of_care.one_time_days)
    for line, drug in lines:
        if line.sequence in site_lines:
            results[line.sequence] = LineDetermination(
                sequence=line.sequence,
                code=line.code,
                review_action=MODIFIED,
                auth_number=auth,
                period_start=start,
                period_end=one_time_end,
                units=line.units,
                place_of_service=plan.site_of_care.redirect_to[0],
                reason=Reason(
                    code="SITE_OF_CARE_ONE_TIME",
                    plan_rule=plan.rule("site_of_care"),
                    pathway_row=row,
                    text=f"One-time {plan.site_of_care.one_time_days}-day authorization "
                    f"for {drug.name} at a hospital outpatient site.",
                ),
            )
        else:
            results[line.sequence] = LineDetermination(
                sequence=line.sequence,
                code=line.code,
                review_action=APPROVED,
                auth_number=auth,
                period_start=start,
                period_end=end,
                units=line.units,
            )
    return start, end, site_lines
