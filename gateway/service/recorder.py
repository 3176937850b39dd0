"""Writing a determination into the case file, in the caller's unit of work: the case, its
status event and the outbound jobs the job planners ask for, and what an approval causes
(pended supportive cases follow their primary; an approved revision ends what it replaces).

Both the intake (gateway.service.core) and the later transitions (gateway.service.transitions)
write through one `CaseRecorder`, so a determination is recorded the same way whoever makes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import Protocol

from gateway.domain.case import Case, CaseStatus, Determination, StoredCase
from gateway.domain.changes import IN_FORCE, ChangeKind, ended_day_before
from gateway.domain.ports import Ports
from gateway.domain.review import review
from gateway.service.errors import CaseNotFound
from gateway.service.store import CaseEvent, CaseRecord, CaseTransaction, JobSpec, PlannerReads

# The requester whose change the current call applies (None for reviews and clocks): a context
# variable, so concurrent requests on the server's threads never see each other's.
REQUESTED_BY: ContextVar[str | None] = ContextVar("requested_by", default=None)


class JobPlanner(Protocol):
    """Which outbound jobs a determination causes; called inside the storing transaction."""

    def __call__(
        self,
        reads: PlannerReads,
        case: Case,
        determination: Determination,
        previous_status: str | None,
        /,
    ) -> Sequence[JobSpec]: ...


def load(tx: CaseTransaction, case_id: str) -> StoredCase:
    """A stored case with its history and its supportive cases."""
    record = tx.case(case_id)
    if record is None:
        raise CaseNotFound(case_id)
    events = [event.as_dict() for event in tx.events(case_id)]
    return record.stored(events, tx.children(case_id))


def determination_of(record: CaseRecord) -> Determination:
    determination = record.determination()
    if determination is None:
        raise CaseNotFound(record.id)  # a case is stored with its determination, always
    return determination


def locked(tx: CaseTransaction, case_id: str) -> CaseRecord:
    """The stored case, held for this unit of work (PostgreSQL: SELECT ... FOR UPDATE)."""
    record = tx.case(case_id, lock=True)
    if record is None:
        raise CaseNotFound(case_id)
    return record


class CaseRecorder:
    def __init__(self, *, ports: Ports, job_planners: Sequence[JobPlanner]):
        self.ports = ports
        self.job_planners = job_planners

    def insert(
        self,
        tx: CaseTransaction,
        case: Case,
        determination: Determination,
        actor: str,
        now: datetime,
    ) -> None:
        """A new case (numbered) with its first determination, event and jobs."""
        tx.insert_case(case, determination, at=now)
        self.record(tx, case, determination, None, actor, now)

    def record(
        self,
        tx: CaseTransaction,
        case: Case,
        determination: Determination,
        previous: str | None,
        actor: str,
        now: datetime,
    ) -> None:
        """The status event and the outbound jobs of one determination."""
        assert case.id is not None
        tx.add_event(
            case.id,
            CaseEvent(
                at=now,
                actor=actor,
                from_status=previous,
                to_status=determination.status.value,
                reason=determination.reason.text,
                detail={
                    "review_action": determination.review_action,
                    "reason_code": determination.reason.code,
                    "plan_rule": determination.reason.plan_rule,
                    "pathway_row": determination.reason.pathway_row,
                },
            ),
        )
        reads = tx.reads()
        jobs = [
            job
            for planner in self.job_planners
            for job in planner(reads, case, determination, previous)
        ]
        tx.enqueue(case.id, jobs, at=now)

    def apply(
        self,
        tx: CaseTransaction,
        record: CaseRecord,
        case: Case,
        determination: Determination,
        actor: str,
        now: datetime,
    ) -> None:
        """A stored case's new determination with its event and jobs; an approval releases its
        supportive cases and ends what it replaces."""
        requester = REQUESTED_BY.get()
        if requester is not None:
            determination.requested_by = requester
        previous = record.status
        tx.update_case(record, case, determination, at=now)
        self.record(tx, case, determination, previous, actor, now)
        if determination.status in (CaseStatus.APPROVED, CaseStatus.MODIFIED):
            self.release_supportive(tx, case, actor, now)
        if determination.status in IN_FORCE and previous != determination.status:
            self.end_replaced(tx, case, determination, actor, now)

    def end_replaced(
        self,
        tx: CaseTransaction,
        case: Case,
        determination: Determination,
        actor: str,
        now: datetime,
    ) -> None:
        """A revision approved (now or later, by a reviewer) ends the authorization it replaces
        the day before it starts (DOMAIN.md: changes need a new authorization from the date of
        the change)."""
        if case.certification_type != ChangeKind.REVISED or not case.prior_case_id:
            return
        if determination.period_start is None:
            return
        prior = locked(tx, case.prior_case_id)
        current = determination_of(prior)
        if current.status not in IN_FORCE:
            return
        if current.period_end is not None and current.period_end < determination.period_start:
            return  # already ends before the replacement starts
        ended = ended_day_before(current, determination.period_start, now)
        self.apply(tx, prior, prior.case(), ended, actor, now)

    def release_supportive(
        self, tx: CaseTransaction, primary: Case, actor: str, now: datetime
    ) -> None:
        """Pended supportive cases follow their primary case once it is approved."""
        assert primary.id is not None
        for record in tx.awaiting_primary(primary.id):
            child = record.case()
            child.facts = child.facts.merged({"primary_case_approved": True}, "core:primary_case")
            determination = review(child, self.ports, now)
            previous = record.status
            tx.update_case(record, child, determination, at=now)
            self.record(tx, child, determination, previous, actor, now)
