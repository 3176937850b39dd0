"""Peer to peer and reconsideration: the rules after a request is not approved, and the slots.

Pure (no store, framework or settings): reviewers and their weekly availability come from
mappings/reviewers.yaml, the per-plan rules from mappings/plans/*.yaml (`PlanPolicy.peer_to_peer`,
`PlanPolicy.reconsideration`), the case's history from its stored events. The service
(gateway/service/peer_to_peer.py) reads and writes; this module decides.

Rules (DOMAIN.md: Clocks, Outcomes; issue 12):
- A peer to peer is offered for a case pended for peer to peer, or after a denial where the plan
  allows it. On a pended case the conversation decides the case (approve or deny).
- After a denial it may reverse the denial, unless the member's line of business is one the plan
  makes consultative only (the second plan's Medicare members: a clinical consultation that
  cannot overturn a denial), or the post-decision options are exhausted (a reconsideration or an
  earlier peer to peer already answered the denial, or an appeal was filed): then it is a
  consultation only.
- Reconsideration only for the lines of business the plan names, on or before the planned
  service date (the provider's local date), before an appeal, once: additional clinical
  information re-opens the denied case for a reviewer, without a peer to peer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, Field, field_validator, model_validator

from gateway.domain.case import Case, CaseStatus, Determination, PendKind, Reason
from gateway.domain.clocks import add_business_days
from gateway.domain.local_dates import local_date, provider_zone_name, zone_of_address
from gateway.domain.outcomes import PENDED
from gateway.domain.policy import PlanPolicy

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WINDOW = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)$")

# Reason codes the case history is read by (gateway.service.core records them on every event).
RECONSIDERATION = "RECONSIDERATION"
P2P_REVERSAL = "PEER_TO_PEER_REVERSAL"


class PostDecisionRefused(ValueError):
    """Not allowed under the plan's rules: `code` names the rule, the message says why and what
    the provider can do instead."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def _zone_named(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name!r} is not an IANA time zone") from exc


def _windows(values: list[str]) -> list[str]:
    for value in values:
        match = _WINDOW.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a window HH:MM-HH:MM")
        if value[:5] >= value[6:]:
            raise ValueError(f"{value!r} ends before it starts")
    return values


class AvailabilityException(BaseModel):
    """A day that differs from the week: off (no `hours`) or other hours."""

    model_config = {"extra": "forbid"}

    date: date
    hours: list[str] = Field(default_factory=list)
    note: str | None = None

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: list[str]) -> list[str]:
        return _windows(value)


class Reviewer(BaseModel):
    """A physician reviewer who takes peer-to-peer calls (synthetic people only)."""

    model_config = {"extra": "forbid"}

    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str
    credentials: str
    specialty: str
    time_zone: str
    # Plans whose cases the reviewer takes; empty: every plan.
    plans: list[str] = Field(default_factory=list)
    # Weekly hours in the reviewer's own zone, by weekday name: ["09:00-12:00", ...].
    weekly: dict[str, list[str]]
    exceptions: list[AvailabilityException] = Field(default_factory=list)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        _zone_named(value)
        return value

    @field_validator("weekly")
    @classmethod
    def _week(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, hours in value.items():
            if day not in WEEKDAYS:
                raise ValueError(f"{day!r} is not a weekday ({', '.join(WEEKDAYS)})")
            _windows(hours)
        return value

    @property
    def display_name(self) -> str:
        return f"{self.name}, {self.credentials}"

    def takes(self, plan_id: str | None) -> bool:
        return not self.plans or plan_id in self.plans

    def hours_on(self, day: date) -> list[str]:
        for exception in self.exceptions:
            if exception.date == day:
                return exception.hours
        return self.weekly.get(WEEKDAYS[day.weekday()], [])


class Reviewers(BaseModel):
    """mappings/reviewers.yaml."""

    model_config = {"extra": "forbid"}

    reviewers: list[Reviewer] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique(self) -> Reviewers:
        ids = [reviewer.id for reviewer in self.reviewers]
        duplicate = sorted({i for i in ids if ids.count(i) > 1})
        if duplicate:
            raise ValueError(f"reviewer ids must be unique: {', '.join(duplicate)}")
        return self


@dataclass(frozen=True)
class Slot:
    reviewer_id: str
    start: datetime  # aware, UTC
    end: datetime


def reviewer_slots(
    reviewer: Reviewer, first_day: date, last_day: date, slot_minutes: int
) -> list[Slot]:
    """Every slot of `slot_minutes` in the reviewer's hours from `first_day` to `last_day`
    (dates in the reviewer's own zone), in UTC. Daylight-saving changes are the zone's."""
    zone = _zone_named(reviewer.time_zone)
    step = timedelta(minutes=slot_minutes)
    out: list[Slot] = []
    day = first_day
    while day <= last_day:
        for window in reviewer.hours_on(day):
            begin = datetime.combine(day, time.fromisoformat(window[:5]), zone)
            if window[6:] == "24:00":
                finish = datetime.combine(day + timedelta(days=1), time(0), zone)
            else:
                finish = datetime.combine(day, time.fromisoformat(window[6:]), zone)
            start = begin.astimezone(UTC)
            finish = finish.astimezone(UTC)
            while start + step <= finish:
                out.append(Slot(reviewer.id, start, start + step))
                start += step
        day += timedelta(days=1)
    return out


def free_slots(
    reviewers: Iterable[Reviewer],
    *,
    plan: PlanPolicy,
    now: datetime,
    days: int,
    booked: set[tuple[str, datetime]],
) -> list[Slot]:
    """Slots a case under `plan` may book: its reviewers' hours over the next `days` days,
    from the plan's minimum notice on, less those booked; earliest first."""
    rules = plan.peer_to_peer
    earliest = now + timedelta(hours=rules.minimum_notice_hours)
    horizon = now + timedelta(days=days)
    out = []
    for reviewer in reviewers:
        if not reviewer.takes(plan.id):
            continue
        zone = _zone_named(reviewer.time_zone)
        first = earliest.astimezone(zone).date()
        last = horizon.astimezone(zone).date()
        for slot in reviewer_slots(reviewer, first, last, rules.slot_minutes):
            if earliest <= slot.start < horizon and (slot.reviewer_id, slot.start) not in booked:
                out.append(slot)
    return sorted(out, key=lambda slot: (slot.start, slot.reviewer_id))


def slot_problem(
    reviewer: Reviewer | None, start: datetime, *, plan: PlanPolicy, now: datetime
) -> str | None:
    """Why this start cannot be booked with this reviewer (None when it can, taken or not)."""
    if start.tzinfo is None:
        return "the slot start needs a UTC offset (ISO 8601, e.g. 2026-11-24T10:00:00-05:00)"
    if start <= now:
        return f"the slot {start.isoformat()} is in the past"
    if reviewer is None or not reviewer.takes(plan.id):
        return "no such reviewer for this plan's peer-to-peer calls"
    rules = plan.peer_to_peer
    if start < now + timedelta(hours=rules.minimum_notice_hours):
        return f"a peer to peer is booked at least {rules.minimum_notice_hours} hours ahead"
    if start > now + timedelta(days=rules.booking_days):
        return f"a peer to peer is booked at most {rules.booking_days} days ahead"
    zone = _zone_named(reviewer.time_zone)
    day = start.astimezone(zone).date()
    around = (day - timedelta(days=1), day + timedelta(days=1))
    slots = reviewer_slots(reviewer, *around, rules.slot_minutes)
    if not any(slot.start == start.astimezone(UTC) for slot in slots):
        return (
            f"{start.isoformat()} is not one of {reviewer.display_name}'s slots: "
            "choose one from GET .../peer-to-peer/slots"
        )
    return None


# -- time zones a person reads --------------------------------------------------------------


def requesting_provider_zone(case: Case, default: str) -> str:
    """The requesting provider's zone: the requester's or ordering provider's address, else
    where the service is (local_dates), else the plan's `time_zone`."""
    for provider in (case.requester, case.ordering):
        name = zone_of_address(provider.address) if provider else None
        if name:
            return name
    return provider_zone_name(case, default)


def check_zone(name: str) -> str:
    """An IANA zone name given by a caller, or ValueError naming it."""
    _zone_named(name)
    return name


def in_zone(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(_zone_named(zone))


def spoken_time(moment: datetime, zone: str) -> str:
    """As a person reads it in `zone`: "Tuesday, November 24, 2026 at 10:00 AM EST"."""
    local = in_zone(moment, zone)
    hour = local.strftime("%I:%M %p").lstrip("0")
    return f"{local:%A}, {local:%B} {local.day}, {local.year} at {hour} {local.tzname()}"


# -- what a peer to peer can do for this case -------------------------------------------------


class Mode(StrEnum):
    DECISIVE = "decisive"  # the outcome decides the case (approve, deny, reverse a denial)
    CONSULTATIVE = "consultative"  # a clinical consultation: the determination stands


class Outcome(StrEnum):
    APPROVED = "approved"  # approval; after a denial, a reversal
    UPHELD = "upheld"  # the reviewer keeps to not approving (pended: a denial)
    CONSULTATIVE = "consultative"  # consultation only: nothing changes on the case


@dataclass(frozen=True)
class History:
    """What the case's events say about the post-decision options already used."""

    reconsidered: bool = False  # a reconsideration re-opened the case
    peer_to_peer_after_denial: bool = False  # an earlier P2P answered the denial
    appealed: bool = False

    @classmethod
    def from_events(cls, events: Sequence[dict[str, Any]], case: Case) -> History:
        codes = [str((event.get("detail") or {}).get("reason_code") or "") for event in events]
        kinds = [str((event.get("detail") or {}).get("peer_to_peer") or "") for event in events]
        return cls(
            reconsidered=RECONSIDERATION in codes,
            peer_to_peer_after_denial=P2P_REVERSAL in codes or "upheld_after_denial" in kinds,
            # UM02 1/2 (appeal immediate/standard), or an appeal recorded on the case.
            appealed=case.certification_type in ("1", "2")
            or any(code.startswith("APPEAL") for code in codes),
        )


def peer_to_peer_mode(
    determination: Determination, plan: PlanPolicy, line_of_business: str, history: History
) -> tuple[Mode, str]:
    """What a peer to peer can do for a case now, with the reason (shown to the provider);
    PostDecisionRefused when none is offered."""
    status = determination.status
    rules = plan.peer_to_peer
    if status is CaseStatus.PENDED and determination.pend_kind is PendKind.PEER_TO_PEER:
        return Mode.DECISIVE, "the case is pended for a peer-to-peer review"
    if status is not CaseStatus.DENIED:
        raise PostDecisionRefused(
            "P2P_NOT_OFFERED",
            f"the case is {status.value}"
            + (f" ({determination.pend_kind.value})" if determination.pend_kind else "")
            + ": a peer to peer is offered for a case pended for peer to peer, or after a denial",
        )
    if not rules.after_denial:
        raise PostDecisionRefused(
            "P2P_AFTER_DENIAL_NOT_ALLOWED",
            f"plan {plan.id} offers no peer to peer after a denial: file an appeal",
        )
    if line_of_business in rules.consultative_only_lines_of_business:
        return Mode.CONSULTATIVE, (
            f"plan {plan.id}: for {line_of_business} members a peer to peer is a clinical "
            "consultation and cannot overturn the denial"
        )
    if history.appealed or history.reconsidered or history.peer_to_peer_after_denial:
        used = [
            name
            for name, done in (
                ("an appeal was filed", history.appealed),
                ("a reconsideration was made", history.reconsidered),
                ("a peer to peer already answered the denial", history.peer_to_peer_after_denial),
            )
            if done
        ]
        return Mode.CONSULTATIVE, (
            "post-decision options are exhausted (" + "; ".join(used) + "): the peer to peer is "
            "consultative only"
        )
    return Mode.DECISIVE, "a peer to peer after the denial may reverse it"


def outcome_problem(outcome: Outcome, mode: Mode) -> str | None:
    if mode is Mode.CONSULTATIVE and outcome is not Outcome.CONSULTATIVE:
        return "this peer to peer is consultative only: record the outcome 'consultative'"
    return None


# -- reconsideration ------------------------------------------------------------------------


def reconsideration_refusal(
    case: Case,
    determination: Determination,
    plan: PlanPolicy,
    line_of_business: str,
    history: History,
    now: datetime,
    until_appeal: bool = False,
) -> PostDecisionRefused | None:
    """Why a reconsideration is not allowed for this case now (None when it is).
    `until_appeal`: the case's program takes one any time before an appeal (home health and
    DME), so the service date does not close it."""
    if determination.status is not CaseStatus.DENIED:
        return PostDecisionRefused(
            "RECONSIDERATION_NOT_DENIED",
            f"the case is {determination.status.value}: only a denied case is reconsidered",
        )
    if not plan.reconsideration_allowed(line_of_business):
        allowed = ", ".join(plan.reconsideration.get("lines_of_business", [])) or "none"
        return PostDecisionRefused(
            "RECONSIDERATION_LINE_OF_BUSINESS",
            f"plan {plan.id} offers reconsideration only to {allowed} members; this member's "
            f"line of business is {line_of_business or 'unknown'}: file an appeal instead",
        )
    if history.appealed:
        return PostDecisionRefused(
            "RECONSIDERATION_AFTER_APPEAL",
            "an appeal was filed: reconsideration is asked before an appeal",
        )
    if history.reconsidered:
        return PostDecisionRefused(
            "RECONSIDERATION_ALREADY_MADE",
            "this denial was already reconsidered: what remains is an appeal",
        )
    service_date = case.service_date
    today = local_date(now, requesting_provider_zone(case, plan.time_zone))
    if service_date is not None and today > service_date and not until_appeal:
        return PostDecisionRefused(
            "RECONSIDERATION_AFTER_SERVICE_DATE",
            f"reconsideration is asked on or before the planned service date "
            f"({service_date.isoformat()}); it is {today.isoformat()} where the provider is: "
            "file an appeal instead",
        )
    return None


def reopened(
    case: Case,
    current: Determination,
    plan: PlanPolicy,
    *,
    code: str,
    text: str,
    now: datetime,
) -> Determination:
    """The denied case pended again for a physician reviewer, on the routine clock from now
    (decided within the plan's routine target once the information is complete)."""
    reason = Reason(
        code=code,
        text=text,
        plan_rule=plan.rule("reconsideration" if code == RECONSIDERATION else "peer_to_peer"),
        pathway_row=current.reason.pathway_row,
    )
    return Determination(
        status=CaseStatus.PENDED,
        review_action=PENDED,
        reason=reason,
        lines=[
            line.model_copy(
                update={
                    "review_action": PENDED,
                    "auth_number": None,
                    "period_start": None,
                    "period_end": None,
                    "reason": reason,
                }
            )
            for line in current.lines
        ],
        pend_kind=PendKind.CLINICAL_REVIEW,
        due_by=add_business_days(now, plan.clocks.routine_target_business_days),
        urgency=current.urgency,
        decided_at=now,
        plan_id=current.plan_id,
        pathway_regimen=current.pathway_regimen,
        updates_follow=True,
    )
