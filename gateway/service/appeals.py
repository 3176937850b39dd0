"""Appeals and expiry over the case store (issue 12 items 4-5, issue 13 item 5).

An appeal is a change of the stored case like any other: the case is re-read locked, the rules
of gateway.domain.appeals decide, and the new determination is recorded with its event and its
outbound jobs in one unit of work (the payer feed carries the appeal with its clock). The payer's
decision is recorded the same way, so its letters (appeal_outcome), the X12 follow-up and the PAS
notification are planned as for any determination. Imports no SQL: the store is the port.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime

from gateway.domain.appeals import (
    AppealOutcome,
    AppealRefused,
    AppealRequest,
    appeal_refusal,
    appeal_rules,
    expired,
    forwarded,
    has_expired,
    initial_determination_at,
    overturned,
    program_of,
    upheld,
    window_ends,
)
from gateway.domain.case import Case, CaseStatus, Determination, StoredCase
from gateway.domain.local_dates import local_date
from gateway.domain.ports import Ports
from gateway.domain.reviewer import InvalidDecision, ReviewerDecision, apply_reviewer_decision
from gateway.service.errors import InvalidTransition
from gateway.service.recorder import CaseRecorder, determination_of, load, locked
from gateway.service.store import CaseRecord, CaseStore, CaseTransaction

log = logging.getLogger("gateway.service.appeals")

CLOCK_ACTOR = "gateway:clock"


def appealed(
    tx: CaseTransaction,
    ports: Ports,
    record: CaseRecord,
    request: AppealRequest,
    now: datetime,
) -> tuple[Case, Determination]:
    """The locked case with its appeal taken in (AppealRefused when the rules refuse it)."""
    case = record.case()
    current = determination_of(record)
    plan = ports.plans.get(current.plan_id or "")
    if plan is None:
        raise AppealRefused("NO_PLAN", f"case {record.id} has no plan to appeal under")
    program = program_of(case, plan, ports.programs)
    rules = appeal_rules(plan, program)
    events = [event.as_dict() for event in tx.events(record.id)]
    refusal = appeal_refusal(current, events, rules, plan.time_zone, now)
    if refusal is not None:
        raise refusal
    last_day = window_ends(initial_determination_at(current, events), rules, plan.time_zone)
    return case, forwarded(current, request, plan, rules, last_day, now, program)


class CaseAppeals:
    """Appeal intake, the payer's appeal decision and the expiry of approvals."""

    def __init__(
        self,
        *,
        store: CaseStore,
        ports: Ports,
        recorder: CaseRecorder,
        clock: Callable[[], datetime],
    ):
        self.store = store
        self.ports = ports
        self.recorder = recorder
        self.clock = clock

    def _write(
        self,
        case_id: str,
        actor: str,
        now: datetime,
        change: Callable[[CaseTransaction, CaseRecord], tuple[Case, Determination] | None],
    ) -> StoredCase:
        """`change` under the case's lock, recorded with its event and jobs (None: no change)."""
        with self.store.transaction() as tx:
            record = locked(tx, case_id)
            changed = change(tx, record)
            if changed is not None:
                self.recorder.apply(tx, record, *changed, actor, now)
        with self.store.read() as tx:
            return load(tx, case_id)

    def file(
        self, case_id: str, request: AppealRequest, *, actor: str, now: datetime | None = None
    ) -> StoredCase:
        """Take in an appeal and forward it to the payer (pended, the payer's clock)."""
        at = now or self.clock()
        stored = self._write(
            case_id, actor, at, lambda tx, record: appealed(tx, self.ports, record, request, at)
        )
        log.info(
            "appeal forwarded to the payer",
            extra={"case_id": case_id, "expedited": request.expedited},
        )
        return stored

    def decide(
        self,
        case_id: str,
        outcome: AppealOutcome,
        *,
        decided_by: str,
        rationale: str | None,
        guideline: str | None,
        actor: str,
        now: datetime | None = None,
    ) -> StoredCase:
        """The payer's appeal decision: overturned (approved, with an authorization number) or
        upheld (the appealed determination stands), sent out as any determination."""
        at = now or self.clock()
        if outcome is AppealOutcome.UPHELD and not rationale:
            raise InvalidDecision("an upheld appeal needs the payer's rationale")

        def change(_tx: CaseTransaction, record: CaseRecord) -> tuple[Case, Determination]:
            case = record.case()
            current = determination_of(record)
            filed = current.filed_appeal
            if current.status is not CaseStatus.PENDED or filed is None or filed.outcome:
                raise InvalidTransition(f"case {case_id} has no appeal open with the payer")
            if outcome is AppealOutcome.UPHELD:
                assert rationale is not None
                return case, upheld(
                    current, decided_by=decided_by, rationale=rationale, guideline=guideline, now=at
                )
            plan = self.ports.plans[current.plan_id or ""]
            enrollment = self.ports.eligibility.enrollment(case.member.member_id)
            lob = enrollment.line_of_business if enrollment else ""
            decision = ReviewerDecision(
                reviewer=decided_by, decision="approve", rationale=rationale
            )
            approved = apply_reviewer_decision(case, current, decision, plan, lob, at)
            return case, overturned(approved, current, rationale=rationale, now=at)

        return self._write(case_id, actor, at, change)

    def expire(self, case_ids: Iterable[str], now: datetime | None = None) -> list[str]:
        """Approvals past their last day (the plan zone's date) are marked expired; the payer
        feed hears of it (gateway.notify.jobs). Cases that are no longer due are left alone."""
        at = now or self.clock()
        done: list[str] = []

        def change(_tx: CaseTransaction, record: CaseRecord) -> tuple[Case, Determination] | None:
            current = determination_of(record)
            plan = self.ports.plans.get(current.plan_id or "")
            zone = plan.time_zone if plan else "UTC"
            if not has_expired(current, local_date(at, zone)):
                return None
            done.append(record.id)
            return record.case(), expired(current, at)

        for case_id in case_ids:
            self._write(case_id, CLOCK_ACTOR, at, change)
        return done
