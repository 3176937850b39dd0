"""The case service: review a case and store it with its events and outbound jobs at once.

Channels call `CaseService` with canonical cases; it calls the pure `review` and commits the
case, its status history and its outbox jobs in one unit of work of the case store, a port
(gateway.service.store; DESIGN.md decision 5). Channels that need to send something on a later
decision (PAS subscription notifications) register a job planner; the service never imports a
channel, nor the store's SQL. `Core` is its older name, kept for the many callers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from gateway.domain.actions import ReviewAction
from gateway.domain.alternatives import change_answer
from gateway.domain.appeals import AppealRefused, AppealRequest, is_appeal
from gateway.domain.case import Case, CaseStatus, Determination, Program, StoredCase
from gateway.domain.changes import (
    IN_FORCE,
    OPEN,
    ChangeKind,
    ChangeRefused,
    change_date,
    change_kind,
    check_changeable,
    check_same_patient,
    continues_after,
    extended,
    missing_reference,
    pended_for_extension,
    unknown_reference,
)
from gateway.domain.local_dates import provider_local_date
from gateway.domain.outcomes import (
    AUTH_PREFIX,
    CASE_PREFIX,
    auth_number_for,
    case_id_for_auth_number,
)
from gateway.domain.policy import PlanPolicy
from gateway.domain.ports import Ports
from gateway.domain.programs import program_answer
from gateway.domain.review import review
from gateway.domain.reviewer import ReviewerDecision, cancelled
from gateway.service.alternatives import answered as alternative_answered
from gateway.service.appeals import CaseAppeals, appealed
from gateway.service.enrich import address_on_file, drug_names, home_care_lines, program_for
from gateway.service.errors import CaseNotFound, InvalidTransition
from gateway.service.identity import (
    RequestConflict,
    business_fingerprint,
    business_identifier,
    identity_key,
)
from gateway.service.recorder import (
    REQUESTED_BY,
    CaseRecorder,
    JobPlanner,
    determination_of,
    load,
    locked,
)
from gateway.service.store import (
    CaseStore,
    CaseTransaction,
    JobSpec,
    SharedDatabase,
    StoreConflict,
)
from gateway.service.transitions import CaseTransitions, Change, re_reviewed
from gateway.settings import Settings

# What callers catch, importable from here as it always was (gateway.service.errors).
__all__ = [
    "CaseNotFound",
    "CaseService",
    "ChangeRefused",
    "Core",
    "InvalidTransition",
    "JobPlanner",
    "RequestConflict",
    "StoredCase",
    "SubmitResult",
]

log = logging.getLogger("gateway.service.core")


def _newest_first(tx: CaseTransaction, case_id: str) -> list[str]:
    """`case_id` and the cases that replaced or continued it, newest first."""
    chain, frontier = [case_id], [case_id]
    while frontier:
        later = [c for c in tx.successors(frontier) if c not in chain]
        chain += later
        frontier = later
    return chain[::-1]


def claim_key(submitter_id: str | None, claim_identifier: str) -> str:
    """The replay-table key under which a submitter's own request identifier (Claim.identifier,
    BHT03) finds its case: for later updates, changes and inquiries."""
    return f"claim:{submitter_id or ''}:{claim_identifier}"


# Where "today" is for a change whose plan is unknown: the program's own zone.
DEFAULT_ZONE = "America/New_York"
# The most cases one $inquire answers: a bound on the work and the response of one request.
INQUIRY_LIMIT = 20


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SubmitResult:
    case: Case
    determination: Determination
    response: str | None = None
    replayed: bool = False
    children: list[StoredCase] = field(default_factory=list)


class CaseService:
    def __init__(
        self,
        settings: Settings,
        *,
        store: CaseStore,
        ports: Ports,
        job_planners: Sequence[JobPlanner] = (),
        clock: Callable[[], datetime] | None = None,
    ):
        """Every collaborator comes in: the store, the ports and the job planners are built by
        `gateway.wiring.build`, the one place adapters are constructed."""
        self.settings = settings
        # A frozen clock replays a conformance suite as of its own date (GATEWAY_FROZEN_TIME).
        frozen = settings.frozen_time
        self.clock: Callable[[], datetime] = clock or ((lambda: frozen) if frozen else _utcnow)
        self.store = store
        self.ports = ports
        self.job_planners: list[JobPlanner] = list(job_planners)
        self.recorder = CaseRecorder(ports=ports, job_planners=self.job_planners)
        self.transitions = CaseTransitions(
            store=store, ports=ports, recorder=self.recorder, clock=self.clock
        )
        # Appeals to the payer and the end of approvals (issue 12 items 4-5).
        self.appeals = CaseAppeals(
            store=store, ports=ports, recorder=self.recorder, clock=self.clock
        )

    # -- the database other parts of the gateway share --------------------------------------

    def _shared(self) -> SharedDatabase:
        if not isinstance(self.store, SharedDatabase):
            raise AttributeError("this case service's store is not a database others share")
        return self.store

    @property
    def sessions(self) -> Any:
        """The SQL store's sessions: routers, the dispatcher and the partners code keep their
        own tables (partners, audit, subscriptions, the outbox) in the same database."""
        return self._shared().sessions

    @property
    def engine(self) -> Any:
        return self._shared().engine

    def enqueue(
        self, session: Any, job: JobSpec, case_id: str | None, now: datetime | None = None
    ) -> None:
        """Store an outbound job in the caller's own transaction on `sessions` (a subscription
        stored with its handshake), once per idempotency key."""
        self._shared().enqueue_in(session, case_id, [job], at=now or self.clock())

    # -- counters ---------------------------------------------------------------------------

    def next_number(self, name: str, tx: CaseTransaction | None = None) -> int:
        """A counter that never repeats, across restarts and processes (X12 control numbers,
        case numbers)."""
        if tx is None:
            with self.store.transaction() as own:
                return own.next_number(name)
        return tx.next_number(name)

    def _new_case_id(self, tx: CaseTransaction, now: datetime) -> str:
        # The year by arithmetic: strftime costs more than the rest of the numbering.
        return f"PA{now.year % 100:02d}{tx.next_number('case'):08d}"

    # -- submit -----------------------------------------------------------------------------

    def replayed(self, replay_key: str, tx: CaseTransaction | None = None) -> SubmitResult | None:
        if tx is None:
            with self.store.read() as own:
                return self.replayed(replay_key, own)
        replay = tx.replay(replay_key)
        if replay is None or not replay.case_ids:
            return None
        stored = load(tx, replay.case_ids[0])
        assert stored.determination is not None
        return SubmitResult(
            stored.case, stored.determination, response=replay.response, replayed=True
        )

    def submit(
        self,
        case: Case,
        *,
        actor: str,
        replay_key: str | None = None,
        render: Callable[[Case, Determination], str] | None = None,
        now: datetime | None = None,
        may_change: Callable[[dict[str, Any]], bool] | None = None,
    ) -> SubmitResult:
        """Review a new case and store it with its events and outbound jobs; then, after the
        commit, render the channel's answer (`render`) and keep it for replays.

        An exact replay (same `replay_key`) returns what was answered the first time and
        creates nothing (DESIGN.md decision 7). So does a resubmission: the same submitter and
        business identifier with the same business content under a new envelope
        (gateway.service.identity); the same identity with other content raises RequestConflict.
        The service takes `case` over (it sets its id and completes it from the payer's files):
        channels hand in a case they built for this call.

        A change (certification type S, 4, R or 3) names the certification it changes and is
        applied to it (gateway.domain.changes); it may change a case of the same submitter,
        or one `may_change` (the caller's isolation rule over the stored case's JSON) allows.
        """
        kind = change_kind(case)
        if is_appeal(case):
            result = self._store_appeal(
                case, actor=actor, replay_key=replay_key, now=now, may_change=may_change
            )
        elif kind is not None:
            result = self._store_change(
                case, kind, actor=actor, replay_key=replay_key, now=now, may_change=may_change
            )
        else:
            result = self._store_new(case, actor=actor, replay_key=replay_key, now=now)
        if render is None or result.response is not None:
            return result
        # Rendering is the channel's work and happens outside the write transaction: the case,
        # its events and jobs are committed whatever the renderer does.
        result.response = render(result.case, result.determination)
        if replay_key:
            self._keep_answer(replay_key, result.response)
        return result

    def _keep_answer(self, replay_key: str, response: str) -> None:
        """The answer a replay of `replay_key` gets, stored once (the first one rendered)."""
        with self.store.transaction() as tx:
            tx.keep_answer(replay_key, response)

    def _store_new(
        self, case: Case, *, actor: str, replay_key: str | None, now: datetime | None
    ) -> SubmitResult:
        now = now or self.clock()
        identity = identity_key(case)
        # Taken before the service completes the case, so every copy of a request hashes alike.
        fingerprint = business_fingerprint(case) if identity else ""
        try:
            with self.store.transaction() as tx:
                if replay_key:
                    prior = self.replayed(replay_key, tx)
                    if prior is not None:
                        return prior
                if identity:
                    known = self._resubmission(tx, identity, fingerprint, case, replay_key, now)
                    if known is not None:
                        return known
                case, determination, children = self._review_and_insert(tx, case, actor, now)
                assert case.id is not None  # numbered by _review_and_insert
                if replay_key and not tx.remember(replay_key, [case.id], None, at=now):
                    raise StoreConflict("replay key stored concurrently")
                content = json.dumps({"content": fingerprint})
                if identity and not tx.remember(identity, [case.id], content, at=now):
                    raise StoreConflict("request identity stored concurrently")
                claim_key = self._claim_key(case)
                if claim_key:
                    tx.remember(claim_key, [case.id], None, at=now)
                log.info(
                    "case stored",
                    extra={
                        "case_id": case.id,
                        "status": determination.status.value,
                        "review_action": determination.review_action,
                    },
                )
                return SubmitResult(case, determination, None, children=children)
        except StoreConflict:
            # A concurrent identical replay won the race: answer with what it stored.
            if replay_key:
                prior = self.replayed(replay_key)
                if prior is not None:
                    return prior
            if identity:
                with self.store.transaction() as tx:
                    known = self._resubmission(tx, identity, fingerprint, case, replay_key, now)
                    if known is not None:
                        return known
            raise

    def _review_and_insert(
        self,
        tx: CaseTransaction,
        case: Case,
        actor: str,
        now: datetime,
        adjust: Callable[[Case, Determination], Determination] | None = None,
    ) -> tuple[Case, Determination, list[StoredCase]]:
        """Number, complete, review and insert a new case (and its supportive cases) in the
        caller's unit of work. `adjust` may change the review's determination before it is
        stored (an extension past the plan's span is pended)."""
        case.id = self._new_case_id(tx, now)
        case.program = program_for(case, self.ports)
        address_on_file(case, self.ports)
        drug_names(case, self.ports)
        home_care_lines(case, self.ports)
        if case.program is Program.SPORT and case.related_case_id:
            case = self._with_primary_facts(tx, case)
        determination = review(case, self.ports, now)
        if adjust is not None:
            determination = adjust(case, determination)
        self.recorder.insert(tx, case, determination, actor, now)
        children = self._split_supportive(tx, case, determination, actor, now)
        return case, determination, children

    # -- changes after the first answer (gateway.domain.changes) ----------------------------

    def _store_change(
        self,
        change: Case,
        kind: ChangeKind,
        *,
        actor: str,
        replay_key: str | None,
        now: datetime | None,
        may_change: Callable[[dict[str, Any]], bool] | None = None,
    ) -> SubmitResult:
        """A revision, extension, renewal or cancel of a stored certification, in one unit of
        work. Raises ChangeRefused (an AAA / OperationOutcome for the channel) when the
        reference is missing, unknown, foreign, or the certification cannot take the change."""
        now = now or self.clock()
        token = REQUESTED_BY.set(actor)
        try:
            return self._change_in_transaction(change, kind, actor, replay_key, now, may_change)
        finally:
            REQUESTED_BY.reset(token)

    def _change_in_transaction(
        self,
        change: Case,
        kind: ChangeKind,
        actor: str,
        replay_key: str | None,
        now: datetime,
        may_change: Callable[[dict[str, Any]], bool] | None,
    ) -> SubmitResult:
        with self.store.transaction() as tx:
            if replay_key:
                prior = self.replayed(replay_key, tx)
                if prior is not None:
                    return prior
            target_id = self._resolve_reference(tx, change, kind, may_change)
            record = locked(tx, target_id)
            target = record.case()
            current = determination_of(record)
            check_same_patient(change, target)
            check_changeable(kind, current, target_id)
            plan = self._plan(current)
            today = provider_local_date(change, now, plan.time_zone if plan else DEFAULT_ZONE)
            answered: Case
            determination: Determination
            if kind is ChangeKind.CANCEL:
                answered = self._answer_as(change, target_id)
                if current.status is CaseStatus.CANCELLED:
                    determination = current  # cancelled already: the same answer again
                else:
                    determination = cancelled(target, current, now)
                    determination.auth_number = current.auth_number
                    self.recorder.apply(tx, record, target, determination, actor, now)
            elif current.status in OPEN and (offer := change_answer(change, current)):
                # A revision that answers a reviewer's alternative (gateway.domain.alternatives):
                # the alternative's drugs accept it, the drugs first asked for decline it.
                # The revision's content is stored, as for any revision of a pending request:
                # an acceptance names the alternative's drugs, which are what is authorized.
                revised = change.model_copy(
                    deep=True,
                    update={
                        "id": target.id,
                        "related_case_id": target.related_case_id,
                        "prior_case_id": target.prior_case_id,
                        "certification_type": target.certification_type,
                    },
                )
                revised.program = program_for(revised, self.ports)
                # Completed from the payer's files as the request was (the member's address for
                # the member letter, the drugs' names).
                address_on_file(revised, self.ports)
                drug_names(revised, self.ports)
                determination = alternative_answered(
                    self.ports, offer, revised, current, now, by=actor, via=f"change:{kind.value}"
                )
                self.recorder.apply(tx, record, revised, determination, actor, now)
                answered = self._answer_as(change, target_id)
            elif current.status in OPEN:
                # A change of a request still under review is that request, re-reviewed.
                revised, determination = re_reviewed(
                    self.ports,
                    target,
                    change,
                    current,
                    now,
                    prior_case_id=target.prior_case_id,
                    certification_type=target.certification_type,
                )
                self.recorder.apply(tx, record, revised, determination, actor, now)
                answered = self._answer_as(change, target_id)
            elif kind is ChangeKind.EXTENSION and (
                longer := extended(current, change, self._plan(current), now)
            ):
                determination = longer
                self.recorder.apply(tx, record, target, determination, actor, now)
                answered = self._answer_as(change, target_id)
            else:
                answered, determination = self._new_authorization(
                    tx, change, kind, target, current, today, actor, now
                )
            assert answered.id is not None
            if replay_key:
                tx.remember(replay_key, [answered.id], None, at=now)
            log.info(
                "certification changed",
                extra={
                    "case_id": answered.id,
                    "prior_case_id": target_id,
                    "certification_type": kind.value,
                    "status": determination.status.value,
                },
            )
            return SubmitResult(answered, determination, None)

    def _store_appeal(
        self,
        change: Case,
        *,
        actor: str,
        replay_key: str | None,
        now: datetime | None,
        may_change: Callable[[dict[str, Any]], bool] | None,
    ) -> SubmitResult:
        """An appeal sent as a request (X12 UM02 1/2, PAS certificationType): it names the
        determination it appeals, which is forwarded to the payer (gateway.service.appeals);
        refused as a ChangeRefused (the AAA in 2000E) when the rules do not take it."""
        now = now or self.clock()
        reference = change.change_reference
        if reference is None or not reference.value.strip():
            raise ChangeRefused(
                "MA",
                "An appeal (certification type 1 or 2) must name the determination it appeals: "
                "REF*BB with the authorization number or REF*NT with the case reference.",
                "required",
            )
        request = AppealRequest.from_certification_type(
            change.certification_type, change.submission.channel.value
        )
        token = REQUESTED_BY.set(actor)
        try:
            with self.store.transaction() as tx:
                if replay_key:
                    prior = self.replayed(replay_key, tx)
                    if prior is not None:
                        return prior
                # The reference is present (checked above): the kind only words a missing one.
                target_id = self._resolve_reference(tx, change, ChangeKind.REVISED, may_change)
                record = locked(tx, target_id)
                check_same_patient(change, record.case())
                try:
                    target, determination = appealed(tx, self.ports, record, request, now)
                except AppealRefused as exc:
                    raise ChangeRefused(
                        exc.aaa_code, f"Appeal refused: {exc}.", follow_up=exc.follow_up
                    ) from exc
                self.recorder.apply(tx, record, target, determination, actor, now)
                answered = self._answer_as(change, target_id)
                if replay_key:
                    tx.remember(replay_key, [target_id], None, at=now)
                log.info("appeal received", extra={"case_id": target_id})
                return SubmitResult(answered, determination, None)
        finally:
            REQUESTED_BY.reset(token)

    def _new_authorization(
        self,
        tx: CaseTransaction,
        change: Case,
        kind: ChangeKind,
        target: Case,
        current: Determination,
        today: date,
        actor: str,
        now: datetime,
    ) -> tuple[Case, Determination]:
        """A revision of an authorization in force, a renewal, or an extension past the plan's
        span: a new authorization that knows the one it replaces or continues."""
        change.prior_case_id = target.id
        change.related_case_id = target.related_case_id
        if kind is ChangeKind.REVISED:
            change.start_date = change_date(change, today)
        else:
            starts = continues_after(current, today)
            asked = change.service_date
            change.start_date = max(asked, starts) if asked else starts
        if change.end_date is not None and change.end_date < change.start_date:
            change.end_date = None
        plan = self._plan(current)

        def adjust(case: Case, reviewed: Determination) -> Determination:
            if kind is ChangeKind.EXTENSION:
                return pended_for_extension(case, reviewed, plan, now)
            return reviewed

        case, determination, _ = self._review_and_insert(tx, change, actor, now, adjust)
        if determination.status in IN_FORCE:
            self.recorder.end_replaced(tx, case, determination, actor, now)
        return case, determination

    @staticmethod
    def _answer_as(change: Case, case_id: str) -> Case:
        """The stored case's answer in the words of the change request (its envelope, traces
        and the reference it named)."""
        return change.model_copy(update={"id": case_id})

    def _plan(self, determination: Determination) -> PlanPolicy | None:
        return self.ports.plans.get(determination.plan_id) if determination.plan_id else None

    def _resolve_reference(
        self,
        tx: CaseTransaction,
        change: Case,
        kind: ChangeKind,
        may_change: Callable[[dict[str, Any]], bool] | None,
    ) -> str:
        """The stored case a change names, when this requester may change it."""
        reference = change.change_reference
        if reference is None or not reference.value.strip():
            raise missing_reference(kind)
        value = reference.value.strip()
        submitter = change.submission.submitter_id or ""
        candidates: list[str] = []
        if reference.qualifier == "BB":
            case_id = case_id_for_auth_number(value)
            if case_id is None:
                raise ChangeRefused(
                    "IA",
                    f"{value} is not an authorization number of this program "
                    f"(they read {AUTH_PREFIX} and digits).",
                )
            candidates.append(case_id)
        else:
            claim = tx.replay(claim_key(submitter, value))
            if claim is not None and claim.case_ids:
                # A sender keeps its claim identifier across its updates (PAS Claim.related;
                # the Inferno kit's claim-update presets): the change applies to the newest
                # authorization of that claim, not to the first one it replaced.
                candidates += _newest_first(tx, claim.case_ids[0])
            candidates += [
                case_id
                for case_id in (case_id_for_auth_number(value), value.upper())
                if case_id and case_id.startswith(CASE_PREFIX)
            ]
            candidates += tx.by_submitter_trace(submitter, value)
        for case_id in dict.fromkeys(candidates):
            record = tx.case(case_id)
            if record is None:
                continue
            if record.submitter_id and record.submitter_id == submitter:
                return case_id
            # Another channel's request (a PAS cancel of an X12 request): the caller must be
            # one the isolation rule lets see the case (gateway.partners.isolation.can_read).
            if may_change is not None and may_change(record.case_json):
                return case_id
        raise unknown_reference(value)

    def lineage(self, case_id: str) -> list[str]:
        """The authorizations of one certification, oldest first: those `case_id` replaces or
        continues, itself, and those that replace or continue it."""
        with self.store.read() as tx:
            back: list[str] = []
            record = tx.case(case_id)
            if record is None:
                raise CaseNotFound(case_id)
            while record is not None and record.prior_case_id and record.prior_case_id not in back:
                back.insert(0, record.prior_case_id)
                record = tx.case(record.prior_case_id)
            forward: list[str] = []
            frontier = [case_id]
            while frontier:
                later = [c for c in tx.successors(frontier) if c not in forward and c != case_id]
                forward += later
                frontier = later
            return [*back, case_id, *forward]

    def current_authorization(self, case_id: str) -> StoredCase:
        """The authorization now in force for the certification `case_id` belongs to: the
        newest of its lineage that is approved (or, when none is, the newest)."""
        chain = [self.get(c) for c in self.lineage(case_id)]
        in_force = [s for s in chain if s.status in IN_FORCE]
        return (in_force or chain)[-1]

    def _resubmission(
        self,
        tx: CaseTransaction,
        identity: str,
        fingerprint: str,
        case: Case,
        replay_key: str | None,
        now: datetime,
    ) -> SubmitResult | None:
        """The stored answer to a request already received under `identity`, rendered for
        this copy (its envelope and echo); None when the identity is new. Raises
        RequestConflict when the stored request's business content differs."""
        replay = tx.replay(identity)
        if replay is None or not replay.case_ids:
            return None
        case_id = replay.case_ids[0]
        if json.loads(replay.response or "{}").get("content") != fingerprint:
            log.info("request identity conflict", extra={"case_id": case_id})
            raise RequestConflict(identity, case_id, business_identifier(case) or "")
        # The case and determination alone: its events and supportive cases (what `load`
        # reads besides) are not part of the answer.
        record = tx.case(case_id)
        if record is None:
            raise CaseNotFound(case_id)
        # The stored case as it stands now (a reviewer may have decided it since), answered
        # in the words of this copy: its control numbers, fullUrls and identifiers.
        answered = record.case().model_copy(update={"submission": case.submission})
        if replay_key:
            tx.remember(replay_key, [case_id], None, at=now)
        log.info("resubmission answered from the stored case", extra={"case_id": case_id})
        return SubmitResult(answered, determination_of(record), None, replayed=True)

    @staticmethod
    def _claim_key(case: Case) -> str | None:
        """Where a later update or inquiry finds the case by the sender's own identifier."""
        claim = case.submission.claim_identifier or case.submission.bht_reference
        if not claim:
            return None
        return claim_key(case.submission.submitter_id, claim)

    def exchange(self, key: str) -> dict[str, Any] | None:
        """What was answered to an interchange (or other exchange) stored under `key`."""
        with self.store.read() as tx:
            replay = tx.replay(key)
            return json.loads(replay.response) if replay and replay.response else None

    def remember_exchange(self, key: str, answer: dict[str, Any], case_ids: list[str]) -> None:
        try:
            with self.store.transaction() as tx:
                tx.remember(key, case_ids, json.dumps(answer), at=self.clock())
        except StoreConflict:
            pass  # the same interchange answered concurrently: the first answer stands

    def find_by_claim(self, submitter_id: str | None, claim_identifier: str) -> str | None:
        with self.store.read() as tx:
            replay = tx.replay(claim_key(submitter_id, claim_identifier))
            return replay.case_ids[0] if replay and replay.case_ids else None

    def _with_primary_facts(self, tx: CaseTransaction, case: Case) -> Case:
        assert case.related_case_id is not None
        primary = tx.case(case.related_case_id)
        approved = primary is not None and primary.status in (
            CaseStatus.APPROVED.value,
            CaseStatus.MODIFIED.value,
        )
        case.facts = case.facts.merged({"primary_case_approved": approved}, "core:primary_case")
        if primary is not None and case.start_date is None:
            case.start_date = primary.case().service_date
        return case

    def _split_supportive(
        self,
        tx: CaseTransaction,
        case: Case,
        determination: Determination,
        actor: str,
        now: datetime,
    ) -> list[StoredCase]:
        """Each supportive drug of a primary request is its own case, linked to the primary
        (DOMAIN.md: supportive drugs are a separate authorization)."""
        if case.program is not Program.CHEMO:
            return []
        children = []
        by_sequence = {line.sequence: line for line in determination.lines}
        for line in case.active_lines:
            drug = self.ports.tables.drugs.get(line.code.upper())
            if drug is None or drug.drug_class != "supportive" or line.sequence not in by_sequence:
                continue
            child = case.model_copy(
                deep=True,
                update={
                    "id": self._new_case_id(tx, now),
                    "program": Program.SPORT,
                    "service_lines": [line],
                    "related_case_id": case.id,
                    "facts": case.facts.merged(
                        {"drug_class": drug.supportive_class}, "core:drug_table"
                    ),
                },
            )
            result = by_sequence[line.sequence]
            approved: dict[str, CaseStatus] = {
                ReviewAction.APPROVED: CaseStatus.APPROVED,
                ReviewAction.MODIFIED: CaseStatus.MODIFIED,
            }
            status = approved.get(result.review_action, determination.status)
            child_determination = determination.model_copy(
                deep=True,
                update={
                    "status": status,
                    "review_action": result.review_action,
                    "lines": [result],
                    "auth_number": result.auth_number and auth_number_for(child),
                },
            )
            if child_determination.lines[0].auth_number:
                child_determination.lines[0].auth_number = child_determination.auth_number
            self.recorder.insert(tx, child, child_determination, actor, now)
            children.append(StoredCase(child, child_determination, status, now, now))
        return children

    # -- reading ----------------------------------------------------------------------------

    def get(self, case_id: str) -> StoredCase:
        with self.store.read() as tx:
            return load(tx, case_id)

    def list_cases(self, status: str | None = None, limit: int = 200) -> list[StoredCase]:
        """Cases by status, the most urgent (earliest due-by time) first (without their
        history: a list of work)."""
        with self.store.read() as tx:
            return [record.stored() for record in tx.by_status(status, limit)]

    def cases_for_member(
        self,
        member_id: str,
        provider_npi: str,
        *,
        claim_identifiers: Collection[str] = (),
        limit: int = INQUIRY_LIMIT,
    ) -> list[StoredCase]:
        """Decided cases of a member that name this provider's NPI as requester, ordering,
        rendering or facility and, when given, carry one of the claim identifiers (trace
        numbers): newest first, at most `limit` (a PAS $inquire, issue 3).

        Read from the store's member/NPI index, so a member with thousands of cases costs one
        bounded read (issue 18). Events and children are not loaded."""
        with self.store.read() as tx:
            records = tx.member_cases(member_id.upper(), provider_npi, claim_identifiers, limit)
            return [record.stored() for record in records if record.determination_json is not None]

    # -- later events (gateway.service.transitions) -----------------------------------------

    def transition(self, case_id: str, actor: str, now: datetime, change: Change) -> StoredCase:
        """A change of a stored case in one unit of work: `change(case, current)` gives the
        case as it will be stored and its new determination (see CaseTransitions)."""
        return self.transitions.transition(case_id, actor, now, change)

    def update_case(
        self, case_id: str, update: Case, *, actor: str, now: datetime | None = None
    ) -> StoredCase:
        return self.transitions.update_case(case_id, update, actor=actor, now=now)

    def decide(
        self, case_id: str, decision: ReviewerDecision, *, now: datetime | None = None
    ) -> StoredCase:
        return self.transitions.decide(case_id, decision, now=now)

    def add_clinical(
        self,
        case_id: str,
        values: dict[str, Any],
        *,
        actor: str,
        notes: str | None = None,
        now: datetime | None = None,
    ) -> StoredCase:
        return self.transitions.add_clinical(case_id, values, actor=actor, notes=notes, now=now)

    def expire_holds(self, now: datetime | None = None) -> list[str]:
        return self.transitions.expire_holds(now)

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
        """A denied case re-opened for a physician reviewer (CaseTransitions.reconsider)."""
        return self.transitions.reconsider(
            case_id, actor=actor, reason=reason, facts=facts, notes=notes, via=via, now=now
        )

    def eligibility(self, member_id: str, on: date) -> dict[str, Any] | None:
        """Per program: is prior authorization required for this member on this date."""
        return program_answer(self.ports, member_id, on)


# The name the channels, routers and tests import.
Core = CaseService
