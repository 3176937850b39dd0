"""What happens to a stored case later: a reviewer's determination, additional clinical
information, the hold clock, an update or cancel from the requester. Each change re-reads the
case locked for its unit of work (PostgreSQL: FOR UPDATE), records its status event and
outbound jobs, and commits once.

`CaseTransitions` is a collaborator the case service composes (gateway.service.core), with
everything it uses declared in its constructor; `transition` is the entry point for a new kind
of change: `change(case, current) -> (case, determination)`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from gateway.domain.appeals import program_of
from gateway.domain.case import Case, CaseStatus, Determination, StoredCase
from gateway.domain.ports import Ports
from gateway.domain.review import review
from gateway.domain.reviewer import (
    ReviewerDecision,
    apply_reviewer_decision,
    cancelled,
    cancelled_line,
    hold_expired,
)
from gateway.service.enrich import home_care_lines, program_for
from gateway.service.errors import CaseNotFound, InvalidTransition
from gateway.service.recorder import CaseRecorder, determination_of, load, locked
from gateway.service.store import CaseRecord, CaseStore

__all__ = ["CaseNotFound", "CaseTransitions", "Change", "InvalidTransition"]

# A change of a stored case: from the case and its current determination, the case as it will
# be stored and its new determination (raise InvalidTransition to refuse).
Change = Callable[[Case, Determination], tuple[Case, Determination]]
# The same, for changes that need the stored record too (the case as first submitted).
RecordChange = Callable[[CaseRecord, Case, Determination], tuple[Case, Determination]]


def re_reviewed(
    ports: Ports,
    stored: Case,
    update: Case,
    current: Determination,
    at: datetime,
    **kept: Any,
) -> tuple[Case, Determination]:
    """A stored case changed by its requester, re-reviewed with the new content: every item
    answered (cancelled items as C; none left active is a cancel). `kept`: the stored fields the
    change keeps besides its id and primary case (its prior case, its certification type)."""
    revised = update.model_copy(
        deep=True,
        update={"id": stored.id, "related_case_id": stored.related_case_id, **kept},
    )
    revised.program = program_for(revised, ports)
    home_care_lines(revised, ports)
    if not revised.active_lines:
        return revised, cancelled(revised, current, at)
    determination = review(revised, ports, at)
    determination.lines += [
        cancelled_line(line) for line in revised.service_lines if line.cancelled
    ]
    determination.lines.sort(key=lambda line: line.sequence)
    return revised, determination


class CaseTransitions:
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

    def transition(self, case_id: str, actor: str, now: datetime, change: Change) -> StoredCase:
        """Apply `change` to the stored case in one unit of work; the case as stored after."""
        return self._transition(case_id, actor, now, lambda _record, case, cur: change(case, cur))

    def _transition(
        self, case_id: str, actor: str, now: datetime, change: RecordChange
    ) -> StoredCase:
        with self.store.transaction() as tx:
            record = locked(tx, case_id)
            case, determination = change(record, record.case(), determination_of(record))
            self.recorder.apply(tx, record, case, determination, actor, now)
        with self.store.read() as tx:
            return load(tx, case_id)

    def update_case(
        self, case_id: str, update: Case, *, actor: str, now: datetime | None = None
    ) -> StoredCase:
        """A change to a case (PAS claim update, X12 UM02 revision or cancel): re-review it with
        the new content and answer for every item. A denied case cannot be updated: the
        provider asks for reconsideration or appeals instead (DOMAIN.md: Clocks)."""
        at = now or self.clock()

        def change(case: Case, current: Determination) -> tuple[Case, Determination]:
            if current.status in (CaseStatus.DENIED, CaseStatus.CANCELLED):
                raise InvalidTransition(
                    f"case {case_id} is {current.status.value} and cannot be updated; "
                    + (
                        "request a reconsideration or file an appeal"
                        if current.status is CaseStatus.DENIED
                        else "submit a new request"
                    )
                )
            if update.certification_type == "3":
                revised = update.model_copy(
                    deep=True,
                    update={
                        "id": case_id,
                        "related_case_id": case.related_case_id,
                        "prior_case_id": case_id,
                    },
                )
                revised.program = program_for(revised, self.ports)
                return revised, cancelled(revised, current, at)
            return re_reviewed(self.ports, case, update, current, at, prior_case_id=case_id)

        return self.transition(case_id, actor, at, change)

    def decide(
        self, case_id: str, decision: ReviewerDecision, *, now: datetime | None = None
    ) -> StoredCase:
        """A reviewer's determination on a pended or held case."""
        at = now or self.clock()

        def change(case: Case, current: Determination) -> tuple[Case, Determination]:
            if current.status not in (CaseStatus.PENDED, CaseStatus.HELD):
                raise InvalidTransition(
                    f"case {case_id} is {current.status.value}; only pended or held cases "
                    "take a reviewer determination"
                )
            plan = self.ports.plans[current.plan_id] if current.plan_id else None
            if plan is None:
                raise InvalidTransition(f"case {case_id} has no plan to decide under")
            if current.filed_appeal is not None and current.filed_appeal.outcome is None:
                # First-level appeals are the payer's (POST /cases/{id}/appeal/decision).
                raise InvalidTransition(
                    f"case {case_id} is under appeal with the payer; the payer decides it"
                )
            enrollment = self.ports.eligibility.enrollment(case.member.member_id)
            lob = enrollment.line_of_business if enrollment else ""
            decided = apply_reviewer_decision(case, current, decision, plan, lob, at)
            if current.reason.code == "RECONSIDERATION":  # gateway.domain.peer_to_peer
                decided.outcome_of = "reconsideration"  # told by the outcome letters
            return case, decided

        return self.transition(case_id, decision.reviewer, at, change)

    def add_clinical(
        self,
        case_id: str,
        values: dict[str, Any],
        *,
        actor: str,
        notes: str | None = None,
        now: datetime | None = None,
    ) -> StoredCase:
        """Additional clinical information re-runs the review; a hold past its due date is
        decided on the original submission (DOMAIN.md: Pended / hold)."""
        at = now or self.clock()

        def change(
            record: CaseRecord, case: Case, current: Determination
        ) -> tuple[Case, Determination]:
            if current.status not in (CaseStatus.PENDED, CaseStatus.HELD):
                raise InvalidTransition(
                    f"case {case_id} is {current.status.value}: additional information is taken "
                    "only while a case is pended or held"
                )
            if current.status is CaseStatus.HELD and current.hold_due and at > current.hold_due:
                original = record.original()
                return original, hold_expired(original, current, at)
            case.facts = case.facts.merged(values, f"additional:{actor}")
            if notes:
                case.facts.notes.append(notes)
            case.submission.received_at = at  # the clock restarts on complete information
            return case, review(case, self.ports, at)

        return self._transition(case_id, actor, at, change)

    def expire_holds(self, now: datetime | None = None) -> list[str]:
        """The hold clock: holds past their due date go to review on the original submission."""
        at = now or self.clock()
        with self.store.read() as tx:
            due = tx.holds_due(at)

        def change(
            record: CaseRecord, case: Case, current: Determination
        ) -> tuple[Case, Determination]:
            if current.status is not CaseStatus.HELD:
                return case, current
            original = record.original()
            return original, hold_expired(original, current, at)

        for case_id in due:
            self._transition(case_id, "gateway:clock", at, change)
        return due

    def reconsider(
        self,
        case_id: str,
        *,
        actor: str,
        reason: str,
        facts: dict[str, Any] | None = None,
        notes: str | None = None,
        via: str = "reconsideration",
        now: datetime | None = None,
    ) -> StoredCase:
        """Re-open a denied case for a physician reviewer (denied -> pended, clinical review).

        `via="reconsideration"`: the provider's request with additional clinical information,
        only where the plan's rules allow it (gateway.domain.peer_to_peer); refused with
        PostDecisionRefused naming the rule. `via="peer_to_peer"`: a peer-to-peer reversal,
        which the reviewer's approval follows (the P2P rules were checked at the call)."""
        # Imported here: this method is the one addition to this module for issue 12.
        from gateway.domain.peer_to_peer import (
            P2P_REVERSAL,
            RECONSIDERATION,
            History,
            reconsideration_refusal,
            reopened,
        )

        now = now or self.clock()
        # The case's history says which post-decision options are used (read before the change;
        # a concurrent second request is caught by the stored status the change re-checks).
        with self.store.read() as tx:
            events = [event.as_dict() for event in tx.events(case_id)]

        def change(_record: CaseRecord, case: Case, current: Determination):
            plan = self.ports.plans.get(current.plan_id or "")
            if plan is None:
                raise InvalidTransition(f"case {case_id} has no plan to reconsider under")
            if via == "peer_to_peer":
                if current.status is not CaseStatus.DENIED:
                    raise InvalidTransition(f"case {case_id} is {current.status.value}, not denied")
                text = f"Denial reversed after a peer-to-peer conversation: {reason}"
                return case, reopened(case, current, plan, code=P2P_REVERSAL, text=text, now=now)
            enrollment = self.ports.eligibility.enrollment(case.member.member_id)
            lob = enrollment.line_of_business if enrollment else ""
            history = History.from_events(events, case)
            # The program's own rule (issue 13 item 5: home health / DME until an appeal).
            program = program_of(case, plan, self.ports.programs)
            until_appeal = program is not None and program.reconsideration_until_appeal
            refusal = reconsideration_refusal(
                case, current, plan, lob, history, now, until_appeal=until_appeal
            )
            if refusal is not None:
                raise refusal
            if facts:
                case.facts = case.facts.merged(facts, f"reconsideration:{actor}")
            if notes:
                case.facts.notes.append(notes)
            text = (
                f"Reconsideration requested with additional clinical information: {reason}. "
                "The denial is re-opened for a physician reviewer."
            )
            return case, reopened(case, current, plan, code=RECONSIDERATION, text=text, now=now)

        return self._transition(case_id, actor, now, change)
