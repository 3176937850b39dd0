"""Appeals and the end of an approval: the rules after a determination (issue 12 items 4 and 5,
issue 13 item 5). Pure: the plan's and the program's numbers come from mappings/ (a plan's or a
criteria program's `appeal:` block, a plan's `site_of_care:` block), the case's history from its
stored events; the case service (gateway.service.appeals) reads and writes.

Rules (DOMAIN.md: Clocks, Outcomes):
- First-level appeals are the payer's: the UM vendor takes one in (REST, X12 UM02 `1` immediate
  and `2` standard, PAS certificationType) and forwards it to the payer through the payer feed.
- Within the window: `window_days` (180) from the initial determination, counted in the local
  date of the plan's zone; a late appeal is refused with the date it was due.
- The payer's clock: expedited `expedited_hours` (72) from receipt; standard, by who appeals:
  the member `standard_member_days` (30), the provider `standard_provider_days` (60).
- An adverse determination is appealed: a denial, a partial approval, a modified approval.
  One first-level appeal per determination; once it is decided what remains is external review.
- A reconsideration comes before an appeal (gateway.domain.peer_to_peer reads the appeal from
  the case's history by its reason codes, which all start with APPEAL).
- An approval ends with its period; a one-time site-of-care approval makes the payer feed carry a
  follow-up notice `follow_up_days_before_expiry` days before its last day.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Any

from gateway.domain.actions import ReviewAction
from gateway.domain.case import (
    Case,
    CaseStatus,
    Determination,
    FiledAppeal,
    PendKind,
    Program,
    Reason,
    Urgency,
)
from gateway.domain.criteria import CriteriaProgram
from gateway.domain.local_dates import local_date
from gateway.domain.peer_to_peer import PostDecisionRefused
from gateway.domain.policy import Appeal, PlanPolicy

# Reason codes on the case's events (History.appealed reads the APPEAL prefix).
APPEAL_RECEIVED = "APPEAL_RECEIVED"
APPEAL_OVERTURNED = "APPEAL_OVERTURNED"
APPEAL_UPHELD = "APPEAL_UPHELD"
# X12 005010X217 UM02 (1322): 1 appeal - immediate, 2 appeal - standard.
APPEAL_CERTIFICATION_TYPES = {"1": True, "2": False}
# Determinations that are adverse to the member in whole or in part.
APPEALABLE = frozenset({CaseStatus.DENIED, CaseStatus.PARTIALLY_APPROVED, CaseStatus.MODIFIED})
_CRITERIA_PROGRAMS = frozenset({Program.DME, Program.HOME_HEALTH, Program.SLEEP})


class Appellant(StrEnum):
    MEMBER = "member"
    PROVIDER = "provider"


class AppealOutcome(StrEnum):
    OVERTURNED = "overturned"  # the payer approves
    UPHELD = "upheld"  # the determination stands


class AppealRefused(PostDecisionRefused):
    """An appeal the rules refuse: `code` names the rule; `status` is the REST answer (409 where
    the case stands wrong, 422 for a rule), `aaa_code`/`follow_up` the X12 AAA in 2000E, and
    `due` the date a late appeal was due."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int = 409,
        aaa_code: str = "33",
        follow_up: str = "C",
        due: date | None = None,
    ):
        super().__init__(code, message)
        self.status = status
        self.aaa_code = aaa_code
        self.follow_up = follow_up
        self.due = due


@dataclass(frozen=True)
class AppealRequest:
    """Who appeals, how fast, and through which channel."""

    appellant: Appellant
    expedited: bool
    channel: str
    reason: str | None = None

    @classmethod
    def from_certification_type(cls, code: str, channel: str) -> AppealRequest:
        """An appeal sent as a 278 (or PAS) request: the provider that sends it appeals."""
        return cls(Appellant.PROVIDER, APPEAL_CERTIFICATION_TYPES[code], channel)


def is_appeal(case: Case) -> bool:
    return case.certification_type in APPEAL_CERTIFICATION_TYPES


# -- which numbers -------------------------------------------------------------------------


def program_of(
    case: Case, plan: PlanPolicy, programs: Mapping[str, CriteriaProgram]
) -> CriteriaProgram | None:
    """The coverage-criteria program (home health, DME) of this plan the case falls under."""
    if case.program not in _CRITERIA_PROGRAMS:
        return None
    codes = [line.code for line in case.active_lines or case.service_lines]
    for program in programs.values():
        if plan.id in program.plans and program.program_for(codes) is case.program:
            return program
    return None


def appeal_rules(plan: PlanPolicy, program: CriteriaProgram | None = None) -> Appeal:
    """The program's appeal numbers where it has its own, else the plan's."""
    if program is not None and program.appeal is not None:
        return program.appeal
    return plan.appeal


def initial_determination_at(
    current: Determination, events: Iterable[Mapping[str, Any]]
) -> datetime:
    """When the adverse determination was first made: the first event that reached one (a
    reconsideration upheld does not restart the window), else the current one's time."""
    adverse = {status.value for status in APPEALABLE}
    for event in events:
        if event.get("to_status") in adverse and event.get("from_status") != event.get("to_status"):
            at = event.get("at")
            if isinstance(at, datetime):
                return at
            if isinstance(at, str):
                return datetime.fromisoformat(at)
    return current.decided_at


def window_ends(initial_at: datetime, rules: Appeal, zone: str) -> date:
    """The last day an appeal may be filed: the initial determination's local date plus the
    window (day 180 is in time, day 181 is late)."""
    return local_date(initial_at, zone) + timedelta(days=rules.window_days)


def decision_due(received_at: datetime, request: AppealRequest, rules: Appeal) -> datetime:
    """When the payer's appeal decision is due (its clock runs from receipt)."""
    if request.expedited:
        return received_at + timedelta(hours=rules.expedited_hours)
    days = (
        rules.standard_member_days
        if request.appellant is Appellant.MEMBER
        else rules.standard_provider_days
    )
    return received_at + timedelta(days=days)


# -- refusals -------------------------------------------------------------------------------


def _decided_before(events: Sequence[Mapping[str, Any]]) -> bool:
    codes = {str((event.get("detail") or {}).get("reason_code") or "") for event in events}
    return bool(codes & {APPEAL_OVERTURNED, APPEAL_UPHELD})


def appeal_refusal(
    current: Determination,
    events: Sequence[Mapping[str, Any]],
    rules: Appeal,
    zone: str,
    now: datetime,
) -> AppealRefused | None:
    """Why this appeal is not taken now (None when it is)."""
    if current.filed_appeal is not None and current.filed_appeal.outcome is None:
        return AppealRefused(
            "APPEAL_OPEN",
            f"an appeal received {current.filed_appeal.received_at.date().isoformat()} is open "
            f"with the payer; its decision is due by {current.filed_appeal.due_at.isoformat()}",
        )
    if current.outcome_of == "appeal" or _decided_before(events):
        return AppealRefused(
            "APPEAL_ALREADY_DECIDED",
            "the payer decided the first-level appeal of this determination; what remains is an "
            "external review (see the appeal decision letter)",
        )
    if current.status not in APPEALABLE:
        return AppealRefused(
            "APPEAL_NOT_ADVERSE",
            f"the case is {current.status.value}: an appeal is filed against a denial, a partial "
            "or a modified approval",
        )
    initial = initial_determination_at(current, events)
    last_day = window_ends(initial, rules, zone)
    today = local_date(now, zone)
    if today > last_day:
        return AppealRefused(
            "APPEAL_LATE",
            f"an appeal is filed within {rules.window_days} days of the initial determination "
            f"({local_date(initial, zone).isoformat()}): it was due by {last_day.isoformat()}; "
            f"it is {today.isoformat()}",
            status=422,
            # AAA03 56 inappropriate date, AAA04 N: resubmitting will not make it timely.
            aaa_code="56",
            follow_up="N",
            due=last_day,
        )
    return None


# -- what the case becomes -------------------------------------------------------------------


def forwarded(
    current: Determination,
    request: AppealRequest,
    plan: PlanPolicy,
    rules: Appeal,
    window_last_day: date,
    now: datetime,
    program: CriteriaProgram | None = None,
) -> Determination:
    """The appealed case while the payer decides: pended (A4) with the payer's clock as its due
    time; what was approved stays approved, what was not is pended (the appeal is about it).
    `program`: the criteria program whose own numbers apply (its rule is the one named)."""
    due = decision_due(now, request, rules)
    how = "expedited" if request.expedited else "standard"
    own = program is not None and program.appeal is not None
    reason = Reason(
        code=APPEAL_RECEIVED,
        plan_rule=program.rule("appeal") if own and program else plan.rule("appeal"),
        pathway_row=current.reason.pathway_row,
        text=(
            f"A {how} appeal by the {request.appellant.value} was received on "
            f"{now.date().isoformat()} and forwarded to the payer, whose decision is due by "
            f"{due.isoformat()}."
        ),
    )
    lines = [
        line
        if line.auth_number
        else line.model_copy(update={"review_action": ReviewAction.PENDED, "reason": reason})
        for line in current.lines
    ]
    return current.model_copy(
        deep=True,
        update={
            "status": CaseStatus.PENDED,
            "review_action": ReviewAction.PENDED,
            "reason": reason,
            "lines": lines,
            "pend_kind": PendKind.CLINICAL_REVIEW,
            "due_by": due,
            "hold_due": None,
            "urgency": Urgency.URGENT if request.expedited else current.urgency,
            "rejection": None,
            "decided_at": now,
            "decided_by": "gateway",
            "updates_follow": True,
            "outcome_of": None,
            "expired_at": None,
            "filed_appeal": FiledAppeal(
                received_at=now,
                expedited=request.expedited,
                appellant=request.appellant.value,
                due_at=due,
                window_ends=window_last_day,
                channel=request.channel,
                reason=request.reason,
                appealed=current.model_dump(mode="json"),
            ),
        },
    )


def upheld(
    current: Determination,
    *,
    decided_by: str,
    rationale: str,
    guideline: str | None,
    now: datetime,
) -> Determination:
    """The payer upholds the appealed determination: it stands again, told as the appeal's
    outcome, with no reconsideration left (it comes before an appeal)."""
    filed = current.filed_appeal
    if filed is None:
        raise ValueError("no appeal is open on this determination")
    appealed = Determination.model_validate(filed.appealed)
    rights = dict(appealed.appeal or {})
    rights.update(reconsideration_allowed=False, reconsideration=False)
    return appealed.model_copy(
        update={
            "reason": Reason(
                code=APPEAL_UPHELD,
                plan_rule=current.reason.plan_rule,
                pathway_row=appealed.reason.pathway_row,
                text=f"Appeal upheld by the payer: {rationale}",
            ),
            "rationale": rationale,
            "guideline": guideline or appealed.guideline,
            "decided_at": now,
            "decided_by": decided_by,
            "appeal": rights,
            "outcome_of": "appeal",
            "updates_follow": False,
            "filed_appeal": filed.model_copy(
                update={"outcome": AppealOutcome.UPHELD.value, "decided_at": now}
            ),
        }
    )


def overturned(
    approved: Determination, current: Determination, *, rationale: str | None, now: datetime
) -> Determination:
    """The payer overturns: the reviewer-style approval `approved` (authorization number and
    period), told as the appeal's outcome."""
    filed = current.filed_appeal
    if filed is None:
        raise ValueError("no appeal is open on this determination")
    return approved.model_copy(
        update={
            "reason": Reason(
                code=APPEAL_OVERTURNED,
                plan_rule=current.reason.plan_rule,
                pathway_row=approved.reason.pathway_row,
                text="Appeal overturned by the payer: the request is approved."
                + (f" {rationale}" if rationale else ""),
            ),
            "outcome_of": "appeal",
            "filed_appeal": filed.model_copy(
                update={"outcome": AppealOutcome.OVERTURNED.value, "decided_at": now}
            ),
        }
    )


# -- the end of an approval ------------------------------------------------------------------

IN_FORCE = frozenset({CaseStatus.APPROVED, CaseStatus.MODIFIED, CaseStatus.PARTIALLY_APPROVED})


def is_site_of_care(determination: Determination) -> bool:
    """A one-time site-of-care approval (the modified approval that moves the drug)."""
    return determination.status is CaseStatus.MODIFIED and bool(
        determination.site_of_care_redirect or determination.pend_kind is PendKind.SITE_OF_CARE
    )


def expires_after(determination: Determination) -> date | None:
    """The last day an approval in force covers (None when it has none or ended already)."""
    if determination.status not in IN_FORCE or determination.expired_at is not None:
        return None
    return determination.period_end


def has_expired(determination: Determination, today: date) -> bool:
    """Past its last day (today is the plan zone's date)."""
    last = expires_after(determination)
    return last is not None and today > last


def expired(determination: Determination, now: datetime) -> Determination:
    """The approval as it stands once its period is over: the same determination, marked."""
    return determination.model_copy(update={"expired_at": now.astimezone(UTC)})


def site_of_care_ends(determination: Determination) -> date | None:
    """The last day of a site-of-care approval's one-time authorization: its modified lines'
    (the drugs moved to home or office get 30 days; the rest of the regimen its whole span)."""
    if expires_after(determination) is None or not is_site_of_care(determination):
        return None
    ends = [
        line.period_end
        for line in determination.lines
        if line.review_action == ReviewAction.MODIFIED and line.period_end is not None
    ]
    return min(ends) if ends else determination.period_end


def follow_up_on(determination: Determination, plan: PlanPolicy) -> date | None:
    """The day the payer feed carries the follow-up notice of a one-time site-of-care approval
    (DOMAIN.md: the payer follows up before it expires)."""
    last = site_of_care_ends(determination)
    if last is None:
        return None
    return last - timedelta(days=plan.site_of_care.follow_up_days_before_expiry)
