"""Programs decided by coverage criteria per item (the payer's Home Health and DME program,
DOMAIN.md): the program as data (mappings/programs/*.yaml) and its pure decision.

A listed item whose criteria the request's facts meet is approved at once for the program's span
(purchases and daily rentals 90 days; monthly rentals the approved months plus one). An item
whose criteria lack a fact is held, naming the document that carries it; facts that do not meet
the criteria, unlisted items of the program's code families and sleep testing are pended for the
program's clinical reviewers. PAP devices need no precertification. Excluded settings are not
required; a start of care today or earlier is routed to the payer by phone.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from gateway.domain.actions import ReviewAction
from gateway.domain.case import (
    Case,
    CaseStatus,
    Determination,
    LineDetermination,
    PendKind,
    Program,
    Reason,
    ServiceLine,
    Urgency,
)
from gateway.domain.clocks import add_business_days
from gateway.domain.local_dates import provider_local_date
from gateway.domain.outcomes import auth_number_for, decision, due_by
from gateway.domain.pap import PapRule
from gateway.domain.policy import Appeal, PlanPolicy, add_months

Service = Literal["dme", "home_health", "sleep"]
PROGRAM_OF_SERVICE: dict[str, Program] = {
    "dme": Program.DME,
    "home_health": Program.HOME_HEALTH,
    "sleep": Program.SLEEP,
}
CRITERIA_PROGRAMS = frozenset(PROGRAM_OF_SERVICE.values())


class Criterion(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fact: str
    equals: Any = None
    at_most: float | None = None
    at_least: float | None = None
    document: str  # the key of the document that carries the fact (Program.documents)

    def met(self, value: Any) -> bool:
        if self.at_most is not None or self.at_least is not None:
            try:
                number = float(value)
            except (TypeError, ValueError):
                return False
            return (self.at_most is None or number <= self.at_most) and (
                self.at_least is None or number >= self.at_least
            )
        if isinstance(self.equals, bool):
            return _truthy(value) == self.equals
        return str(value).strip().lower() == str(self.equals).strip().lower()


class Item(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: Service
    description: str
    rental: Literal["monthly", "daily"] | None = None  # rentable: how the rental is counted
    unit: Literal["visits", "units"] = "units"
    # Home health: the discipline a visit is of, as a member reads it (letters, work list).
    discipline: str | None = None
    precertification: bool = True
    review: Literal["criteria", "always"] = "criteria"
    criteria: list[Criterion] = Field(default_factory=list)


class Spans(BaseModel):
    model_config = ConfigDict(extra="forbid")

    purchase_days: int
    daily_rental_days: int
    monthly_rental_extra_months: int


class CriteriaProgram(BaseModel):
    """A program of the payer decided by coverage criteria (mappings/programs/<id>.yaml)."""

    model_config = ConfigDict(extra="forbid")

    id: str
    name: str
    payer_id: str
    plans: list[str]
    eligibility_names: list[str]
    reviewers: dict[Service, str]
    excluded_places_of_service: dict[str, str]
    spans: Spans
    same_day_or_retro: Literal["call_payer"] = "call_payer"
    contact: dict[str, str]
    code_prefixes: dict[Service, list[str]]
    documents: dict[str, str]
    items: dict[str, Item]
    # PAP devices: the compliance rule and its outreach (gateway.domain.pap).
    pap_compliance: PapRule | None = None
    # Appeals to the payer (DOMAIN.md: Clocks; issue 13 item 5): this program's own numbers,
    # else the plan's (gateway.domain.appeals).
    appeal: Appeal | None = None
    # Reconsideration any time until an appeal (issue 13 item 5), not only until the service
    # date as in the oncology program (gateway.domain.peer_to_peer.reconsideration_refusal).
    reconsideration_until_appeal: bool = False

    def rule(self, name: str) -> str:
        return f"{self.id}:{name}"

    def service_of(self, code: str) -> Service | None:
        """Which of the program's services a code belongs to (listed items first)."""
        code = code.upper()
        item = self.items.get(code)
        if item is not None:
            return item.service
        for service, prefixes in self.code_prefixes.items():
            if any(code.startswith(prefix.upper()) for prefix in prefixes):
                return service
        return None

    def program_for(self, codes: list[str]) -> Program | None:
        """The case program of a request whose codes this program serves: home health when it
        asks for any home health service, then sleep testing, then DME."""
        services = {self.service_of(code) for code in codes}
        if not codes or None in services:
            return None
        for service in ("home_health", "sleep", "dme"):
            if service in services:
                return PROGRAM_OF_SERVICE[service]
        return None


def _first_up(text: str) -> str:
    """A sentence's first letter in upper case, the rest as the program names it (CPAP)."""
    return text[:1].upper() + text[1:]


def _truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "yes", "y", "1"}


def _months(line: ServiceLine) -> int:
    """Months of a monthly rental: what the line says, else its quantity (one unit a month)."""
    if line.rental_months:
        return max(1, line.rental_months)
    return max(1, int(line.units or 1))


def complete_lines(case: Case, program: CriteriaProgram) -> None:
    """What a home health or DME line carries, the same whichever channel sent it: rental or
    purchase (modifier RR / NU, else what the channel said), months of a monthly rental (the
    quantity, one unit a month), visits of a home health service (its quantity), the discipline,
    and whether the equipment was delivered already (the line's own word, else the request's)."""
    delivered = case.facts.values.get("already_delivered")
    for line in case.service_lines:
        modifiers = {m.upper() for m in line.modifiers}
        if "RR" in modifiers:
            line.rental = True
        elif "NU" in modifiers:
            line.rental = False
        if line.already_delivered is None and delivered not in (None, ""):
            line.already_delivered = _truthy(delivered)
        item = program.items.get(line.code.upper())
        if item is None:
            continue
        if line.rental and item.rental == "monthly" and line.rental_months is None:
            line.rental_months = _months(line)
        if item.unit == "visits" and line.visits is None and line.units:
            line.visits = int(line.units)
        if item.discipline and line.discipline is None:
            line.discipline = item.discipline


def start_of_care(case: Case) -> date | None:
    """The start of care a home health request names (X12 CR6-02, PAS homeHealthCareInformation
    date), else the requested start of service."""
    value = case.facts.values.get("start_of_care")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            pass
    return case.service_date


def item_span(
    program: CriteriaProgram, item: Item | None, line: ServiceLine, start: date
) -> tuple[date, date]:
    """DOMAIN.md: purchases and daily rentals 90 days; monthly rentals the months plus one
    (counted like the oncology spans: the end is the start plus the span)."""
    spans = program.spans
    rental = _is_rental(line) and item is not None and item.rental is not None
    if rental and item is not None and item.rental == "monthly":
        return start, add_months(start, _months(line) + spans.monthly_rental_extra_months)
    days = spans.daily_rental_days if rental else spans.purchase_days
    return start, start + timedelta(days=days)


def _is_rental(line: ServiceLine) -> bool:
    """Rental (modifier RR, or the request says so) as against purchase (NU)."""
    modifiers = {m.upper() for m in line.modifiers}
    if "RR" in modifiers:
        return True
    if "NU" in modifiers:
        return False
    return line.rental is True


def review_criteria(
    case: Case, program: CriteriaProgram, plan: PlanPolicy, now: datetime
) -> Determination:
    """The decision of a home health, DME or sleep request after screening (member, plan)."""
    received_day = provider_local_date(case, case.submission.received_at, plan.time_zone)
    service_date = start_of_care(case) or received_day
    places = {case.place_of_service} | {line.place_of_service for line in case.active_lines}
    for place in sorted(p for p in places if p):
        if place in program.excluded_places_of_service:
            setting = program.excluded_places_of_service[place]
            reason = Reason(
                code="SETTING_EXCLUDED",
                plan_rule=program.rule("excluded_places_of_service"),
                text=(
                    f"No prior authorization required in this setting: {setting} (place of "
                    f"service {place}); {program.name} does not review it."
                ),
            )
            return decision(
                case, now, CaseStatus.NOT_REQUIRED, ReviewAction.NOT_REQUIRED, reason, plan
            )
    if service_date <= received_day:
        phone = program.contact.get("phone", "the payer")
        when = "today" if service_date == received_day else "in the past"
        reason = Reason(
            code="CALL_PAYER_START_OF_CARE",
            plan_rule=program.rule("same_day_or_retro"),
            text=(
                f"The start of care is {when} ({service_date.isoformat()}): {program.name} takes "
                f"same-day and retrospective requests by phone. Call {phone}."
            ),
        )
        return decision(case, now, CaseStatus.REDIRECTED, ReviewAction.CONTACT_PAYER, reason, plan)

    facts = case.facts.values
    auth = auth_number_for(case)
    results: list[LineDetermination] = []
    missing: list[str] = []
    reviewers: set[str] = set()
    for line in case.active_lines:
        item = program.items.get(line.code.upper())
        service = program.service_of(line.code) or "dme"
        if item is not None and not item.precertification:
            results.append(
                _line(
                    line,
                    ReviewAction.NOT_REQUIRED,
                    program,
                    "precertification",
                    f"{_first_up(item.description)} ({line.code}) needs no precertification.",
                )
            )
            continue
        if item is None or item.review == "always":
            reviewers.add(program.reviewers[service])
            what = item.description if item else f"{line.code} (not a listed item)"
            results.append(
                _line(
                    line,
                    ReviewAction.PENDED,
                    program,
                    "clinical_review",
                    f"{_first_up(what)}: reviewed by {program.reviewers[service]}.",
                )
            )
            continue
        absent = [c for c in item.criteria if facts.get(c.fact) in (None, "")]
        unmet = [c for c in item.criteria if c not in absent and not c.met(facts.get(c.fact))]
        if absent:
            needed = list(dict.fromkeys(program.documents[c.document] for c in absent))
            missing += [c.document for c in absent if c.document not in missing]
            results.append(
                _line(
                    line,
                    ReviewAction.PENDED,
                    program,
                    "documents",
                    f"{_first_up(item.description)}: send {', '.join(needed)}.",
                )
            )
        elif unmet:
            reviewers.add(program.reviewers[service])
            results.append(
                _line(
                    line,
                    ReviewAction.PENDED,
                    program,
                    "criteria",
                    f"{_first_up(item.description)}: the sample coverage criteria are not "
                    f"met ({', '.join(c.fact for c in unmet)}); reviewed by "
                    f"{program.reviewers[service]}.",
                )
            )
        else:
            start, end = item_span(program, item, line, service_date)
            results.append(
                _line(
                    line,
                    ReviewAction.APPROVED,
                    program,
                    "criteria",
                    f"{_first_up(item.description)} meets the program's coverage criteria.",
                    auth=auth,
                    start=start,
                    end=end,
                )
            )

    discharge = case.hospital_discharge_pending
    urgency = Urgency.URGENT if discharge else case.urgency
    actions = {r.review_action for r in results}
    received = case.submission.received_at
    if actions <= {ReviewAction.APPROVED, ReviewAction.NOT_REQUIRED} and (
        ReviewAction.APPROVED in actions
    ):
        approved = [r for r in results if r.review_action == ReviewAction.APPROVED]
        reason = Reason(
            code="CRITERIA_MET",
            plan_rule=program.rule("criteria"),
            text="Every item meets the program's coverage criteria (sample clinical content).",
        )
        return decision(
            case,
            now,
            CaseStatus.APPROVED,
            ReviewAction.APPROVED,
            reason,
            plan,
            lines=results,
            auth_number=auth,
            period_start=min(r.period_start for r in approved if r.period_start),
            period_end=max(r.period_end for r in approved if r.period_end),
            urgency=urgency,
        )
    if actions == {ReviewAction.NOT_REQUIRED}:
        reason = Reason(
            code="NO_PRECERTIFICATION",
            plan_rule=program.rule("precertification"),
            text="No item of the request needs precertification.",
        )
        return decision(
            case,
            now,
            CaseStatus.NOT_REQUIRED,
            ReviewAction.NOT_REQUIRED,
            reason,
            plan,
            lines=results,
            urgency=urgency,
        )
    # Anything approvable waits with the rest: one authorization for the request.
    for result in results:
        if result.review_action == ReviewAction.APPROVED:
            result.review_action = ReviewAction.PENDED
            result.auth_number = result.period_start = result.period_end = None
    if missing:
        documents = [program.documents[d] for d in missing]
        hold_due = add_business_days(received, plan.hold.response_business_days)
        reason = Reason(
            code="DOCUMENTS_MISSING",
            plan_rule=program.rule("documents"),
            text=f"Held: send {'; '.join(documents)} by {hold_due.date().isoformat()}.",
        )
        return decision(
            case,
            now,
            CaseStatus.HELD,
            ReviewAction.PENDED,
            reason,
            plan,
            lines=results,
            pend_kind=PendKind.HOLD,
            missing_facts=missing,
            hold_due=hold_due,
            due_by=due_by(plan, received, urgency, False),
            urgency=urgency,
            updates_follow=True,
        )
    reason = Reason(
        code="CLINICAL_REVIEW",
        plan_rule=program.rule("clinical_review"),
        text=(
            f"Pended for {', '.join(sorted(reviewers)) or 'clinical review'}"
            + ("; hospital discharge is pending: reviewed first." if discharge else ".")
        ),
    )
    return decision(
        case,
        now,
        CaseStatus.PENDED,
        ReviewAction.PENDED,
        reason,
        plan,
        lines=results,
        pend_kind=PendKind.CLINICAL_REVIEW,
        due_by=due_by(plan, received, urgency, True),
        urgency=urgency,
        updates_follow=True,
    )


def _line(
    line: ServiceLine,
    action: str,
    program: CriteriaProgram,
    rule: str,
    text: str,
    *,
    auth: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> LineDetermination:
    return LineDetermination(
        sequence=line.sequence,
        code=line.code,
        review_action=action,
        auth_number=auth,
        period_start=start,
        period_end=end,
        units=line.units,
        reason=Reason(code=f"ITEM_{rule.upper()}", plan_rule=program.rule(rule), text=text),
    )
