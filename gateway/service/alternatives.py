"""A reviewer's alternative regimen and the provider's answer, as transitions of stored cases
(issue 12 item 2; the rules are gateway.domain.alternatives).

Each step is one unit of work of the case service (`CaseService.transition`), so its event,
letters, notices, payer feed, PAS notification and X12 follow-up are planned like any
determination's. A requester's revision that answers the offer reaches `answered` from the
change path (gateway.service.core).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from gateway.domain.alternatives import (
    AlternativeAnswer,
    AlternativeOffer,
    AlternativeRefused,
    ChangeAnswer,
    accepted,
    declined,
    offered,
)
from gateway.domain.case import Case, Determination, StoredCase, Urgency
from gateway.domain.policy import PlanPolicy
from gateway.domain.ports import Ports
from gateway.service.transitions import Change

__all__ = ["AlternativeRefused", "Alternatives", "answered"]


def _plan(ports: Ports, case: Case, current: Determination) -> PlanPolicy:
    plan = ports.plans.get(current.plan_id or "")
    if plan is None:
        raise AlternativeRefused("NO_PLAN", f"case {case.id} has no plan", conflict=True)
    return plan


def _line_of_business(ports: Ports, case: Case) -> str:
    enrollment = ports.eligibility.enrollment(case.member.member_id)
    return enrollment.line_of_business if enrollment else ""


def answered(
    ports: Ports,
    answer: ChangeAnswer,
    case: Case,
    current: Determination,
    now: datetime,
    *,
    by: str,
    via: str,
) -> Determination:
    """The determination after the provider's answer: accept (A6 for the alternative) or
    decline (reconsideration of the original, due on the plan's clock for the member's line)."""
    plan = _plan(ports, case, current)
    if answer is ChangeAnswer.ACCEPT:
        return accepted(case, current, plan, now, by=by, via=via)
    due = plan.review_due(
        now,
        expedited=current.urgency is Urgency.URGENT,
        complete=True,
        line_of_business=_line_of_business(ports, case),
    )
    return declined(case, current, plan, now, by=by, via=via, due_by=due)


class CaseTransitionsPort(Protocol):
    """What the alternatives need of the case service (gateway.service.core.CaseService)."""

    ports: Ports
    clock: Callable[[], datetime]

    def transition(self, case_id: str, actor: str, now: datetime, change: Change) -> StoredCase: ...


class Alternatives:
    """Offer, accept and decline over a case service (`transition` and `ports`)."""

    def __init__(self, core: CaseTransitionsPort):
        self.core = core

    def offer(self, case_id: str, body: AlternativeOffer) -> StoredCase:
        ports = self.core.ports
        now = self.core.clock()

        def change(case: Case, current: Determination) -> tuple[Case, Determination]:
            primary = case.primary_diagnosis
            cancer_type = ports.pathways.cancer_type(primary.code) if primary else None
            plan = _plan(ports, case, current)
            return case, offered(case, current, body, ports.pathways, cancer_type, plan, now)

        return self.core.transition(case_id, body.reviewer, now, change)

    def answer(
        self, case_id: str, answer: ChangeAnswer, body: AlternativeAnswer, *, actor: str
    ) -> StoredCase:
        ports = self.core.ports
        now = self.core.clock()

        def change(case: Case, current: Determination) -> tuple[Case, Determination]:
            determination = answered(ports, answer, case, current, now, by=body.sender, via="rest")
            if body.notes:
                case.facts.notes.append(body.notes)
            return case, determination

        return self.core.transition(case_id, actor, now, change)
