"""The case service: review a case and store it with its events and outbound jobs at once.

Channels call `Core` with canonical cases; Core calls the pure `review` and commits the case, its
status history and its outbox jobs in one transaction (DESIGN.md decision 5). Channels that need
to send something on a later decision (PAS subscription notifications) register a job planner;
the core never imports a channel.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain.actions import ReviewAction
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
from gateway.domain.reviewer import cancelled, cancelled_line
from gateway.service.identity import (
    RequestConflict,
    business_fingerprint,
    business_identifier,
    identity_key,
)
from gateway.service.transitions import (
    REQUESTED_BY,
    CaseNotFound,
    CaseTransitions,
    InvalidTransition,
)
from gateway.settings import Settings
from gateway.store import outbox
from gateway.store.db import make_engine, session_factory, upgrade, writing
from gateway.store.lookup import index_case, member_case_ids, submitter_trace_case_ids
from gateway.store.models import CaseEventRow, CaseRow, CounterRow, ReplayRow, utcnow
from gateway.store.outbox import JobSpec
from gateway.store.reads import PlannerReads, SessionReads

# The errors callers of the core catch live beside the transitions that raise them.
__all__ = [
    "CaseNotFound",
    "ChangeRefused",
    "Core",
    "InvalidTransition",
    "RequestConflict",
    "StoredCase",
    "SubmitResult",
]

log = logging.getLogger("gateway.service.core")
# Where "today" is for a change whose plan is unknown: the program's own zone.
DEFAULT_ZONE = "America/New_York"
# The most cases one $inquire answers: a bound on the work and the response of one request.
INQUIRY_LIMIT = 20


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


@dataclass
class SubmitResult:
    case: Case
    determination: Determination
    response: str | None = None
    replayed: bool = False
    children: list[StoredCase] = field(default_factory=list)


class Core(CaseTransitions):
    def __init__(
        self,
        settings: Settings,
        *,
        ports: Ports,
        job_planners: list[JobPlanner] | None = None,
        migrate: bool = True,
        clock: Callable[[], datetime] | None = None,
    ):
        """Every collaborator comes in: the ports and the job planners are built by
        `gateway.wiring.build`, the one place adapters are constructed."""
        self.settings = settings
        # A frozen clock replays a conformance suite as of its own date (GATEWAY_FROZEN_TIME).
        frozen = settings.frozen_time
        self.clock: Callable[[], datetime] = clock or ((lambda: frozen) if frozen else utcnow)
        self.engine = make_engine(settings.database_url)
        if migrate:
            upgrade(self.engine)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        self.ports = ports
        self.job_planners: list[JobPlanner] = list(job_planners or [])

    # -- counters ---------------------------------------------------------------------------

    def next_number(self, name: str, session: Session | None = None) -> int:
        """A counter that never repeats, across restarts and processes (X12 control numbers,
        case numbers)."""
        if session is None:
            with writing(self.sessions) as own:
                return self.next_number(name, own)
        # One upsert: the row lock it takes (PostgreSQL) or the write lock (SQLite) makes the
        # increment atomic across processes.
        statement = self._dialect_insert(CounterRow).values(name=name, value=1)
        statement = statement.on_conflict_do_update(
            index_elements=["name"], set_={"value": CounterRow.value + 1}
        ).returning(CounterRow.value)
        return int(session.execute(statement).scalar_one())

    @property
    def _dialect_insert(self) -> Any:
        """INSERT with ON CONFLICT for this database (both dialects spell it alike)."""
        return pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert

    def _remember(
        self, session: Session, key: str, case_ids: list[str], response: str | None
    ) -> bool:
        """Store a replay/claim key unless it exists; True when this call stored it."""
        statement = (
            self._dialect_insert(ReplayRow)
            .values(key=key, case_ids=case_ids, response=response, created_at=self.clock())
            .on_conflict_do_nothing(index_elements=["key"])
        )
        result: Any = session.execute(statement)  # a CursorResult: INSERT reports rowcount
        return bool(result.rowcount)

    def _new_case_id(self, session: Session, now: datetime) -> str:
        return f"PA{now:%y}{self.next_number('case', session):08d}"

    # -- submit -----------------------------------------------------------------------------

    def replayed(self, replay_key: str, session: Session | None = None) -> SubmitResult | None:
        if session is None:
            with self.sessions() as own:
                return self.replayed(replay_key, own)
        row = session.get(ReplayRow, replay_key)
        if row is None or not row.case_ids:
            return None
        stored = self._load(session, row.case_ids[0])
        assert stored.determination is not None
        return SubmitResult(stored.case, stored.determination, response=row.response, replayed=True)

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
        (gateway.service.identity); the same identity with other content raises RequestConflict. The
        core takes `case` over (it sets its id and completes it from the payer's files):
        channels hand in a case they built for this call.

        A change (certification type S, 4, R or 3) names the certification it changes and is
        applied to it (gateway.domain.changes); it may change a case of the same submitter,
        or one `may_change` (the caller's isolation rule over the stored case's JSON) allows.
        """
        kind = change_kind(case)
        if kind is not None:
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
        with writing(self.sessions) as session:
            session.execute(
                update(ReplayRow)
                .where(ReplayRow.key == replay_key, ReplayRow.response.is_(None))
                .values(response=response)
            )

    def _store_new(
        self, case: Case, *, actor: str, replay_key: str | None, now: datetime | None
    ) -> SubmitResult:
        now = now or self.clock()
        identity = identity_key(case)
        # Taken before the core completes the case, so every copy of a request hashes alike.
        fingerprint = business_fingerprint(case) if identity else ""
        try:
            with writing(self.sessions) as session:
                if replay_key:
                    prior = self.replayed(replay_key, session)
                    if prior is not None:
                        return prior
                if identity:
                    known = self._resubmission(session, identity, fingerprint, case, replay_key)
                    if known is not None:
                        return known
                case, determination, children = self._review_and_insert(session, case, actor, now)
                assert case.id is not None  # numbered by _review_and_insert
                if replay_key and not self._remember(session, replay_key, [case.id], None):
                    raise IntegrityError("replay key stored concurrently", None, Exception())
                content = json.dumps({"content": fingerprint})
                if identity and not self._remember(session, identity, [case.id], content):
                    raise IntegrityError("request identity stored concurrently", None, Exception())
                claim_key = self._claim_key(case)
                if claim_key:
                    self._remember(session, claim_key, [case.id], None)
                log.info(
                    "case stored",
                    extra={
                        "case_id": case.id,
                        "status": determination.status.value,
                        "review_action": determination.review_action,
                    },
                )
                return SubmitResult(case, determination, None, children=children)
        except IntegrityError:
            # A concurrent identical replay won the race: answer with what it stored.
            if replay_key:
                prior = self.replayed(replay_key)
                if prior is not None:
                    return prior
            if identity:
                with writing(self.sessions) as session:
                    known = self._resubmission(session, identity, fingerprint, case, replay_key)
                    if known is not None:
                        return known
            raise

    def _review_and_insert(
        self,
        session: Session,
        case: Case,
        actor: str,
        now: datetime,
        adjust: Callable[[Case, Determination], Determination] | None = None,
    ) -> tuple[Case, Determination, list[StoredCase]]:
        """Number, complete, review and insert a new case (and its supportive cases) in the
        caller's transaction. `adjust` may change the review's determination before it is
        stored (an extension past the plan's span is pended)."""
        case.id = self._new_case_id(session, now)
        case.program = self._program_for(case)
        self._address_on_file(case)
        self._drug_names(case)
        if case.program is Program.SPORT and case.related_case_id:
            case = self._with_primary_facts(session, case)
        determination = review(case, self.ports, now)
        if adjust is not None:
            determination = adjust(case, determination)
        self._insert(session, case, determination, actor, now)
        children = self._split_supportive(session, case, determination, actor, now)
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
        """A revision, extension, renewal or cancel of a stored certification, in one
        transaction. Raises ChangeRefused (an AAA / OperationOutcome for the channel) when the
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
        with writing(self.sessions) as session:
            if replay_key:
                prior = self.replayed(replay_key, session)
                if prior is not None:
                    return prior
            target_id = self._resolve_reference(session, change, kind, may_change)
            row = self._locked(session, target_id)
            target = Case.model_validate(row.case_json)
            current = Determination.model_validate(row.determination_json)
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
                    self._apply(session, row, target, determination, actor, now)
            elif current.status in OPEN:
                # A change of a request still under review is that request, re-reviewed.
                revised, determination = self._revised(target_id, target, current, change, now)
                self._apply(session, row, revised, determination, actor, now)
                answered = self._answer_as(change, target_id)
            elif kind is ChangeKind.EXTENSION and (
                longer := extended(current, change, self._plan(current), now)
            ):
                determination = longer
                self._apply(session, row, target, determination, actor, now)
                answered = self._answer_as(change, target_id)
            else:
                answered, determination = self._new_authorization(
                    session, change, kind, target, current, today, actor, now
                )
            assert answered.id is not None
            if replay_key:
                self._remember(session, replay_key, [answered.id], None)
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

    def _new_authorization(
        self,
        session: Session,
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

        case, determination, _ = self._review_and_insert(session, change, actor, now, adjust)
        if determination.status in IN_FORCE:
            self._end_replaced(session, case, determination, actor, now)
        return case, determination

    def _revised(
        self, case_id: str, case: Case, current: Determination, change: Case, now: datetime
    ) -> tuple[Case, Determination]:
        """A pended or held request changed by its requester: re-reviewed with the new content,
        every item answered (cancelled items as C)."""
        revised = change.model_copy(
            deep=True,
            update={
                "id": case_id,
                "related_case_id": case.related_case_id,
                "prior_case_id": case.prior_case_id,
                "certification_type": case.certification_type,
            },
        )
        revised.program = self._program_for(revised)
        if not revised.active_lines:
            return revised, cancelled(revised, current, now)
        determination = review(revised, self.ports, now)
        determination.lines += [
            cancelled_line(line) for line in revised.service_lines if line.cancelled
        ]
        determination.lines.sort(key=lambda line: line.sequence)
        return revised, determination

    @staticmethod
    def _answer_as(change: Case, case_id: str) -> Case:
        """The stored case's answer in the words of the change request (its envelope, traces
        and the reference it named)."""
        return change.model_copy(update={"id": case_id})

    def _plan(self, determination: Determination) -> PlanPolicy | None:
        return self.ports.plans.get(determination.plan_id) if determination.plan_id else None

    def _resolve_reference(
        self,
        session: Session,
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
            claim = session.get(ReplayRow, f"claim:{submitter}:{value}")
            if claim is not None and claim.case_ids:
                candidates.append(claim.case_ids[0])
            candidates += [
                case_id
                for case_id in (case_id_for_auth_number(value), value.upper())
                if case_id and case_id.startswith(CASE_PREFIX)
            ]
            candidates += submitter_trace_case_ids(session, submitter, value)
        for case_id in dict.fromkeys(candidates):
            row = session.get(CaseRow, case_id)
            if row is None:
                continue
            if row.submitter_id and row.submitter_id == submitter:
                return case_id
            # Another channel's request (a PAS cancel of an X12 request): the caller must be
            # one the isolation rule lets see the case (gateway.partners.isolation.can_read).
            if may_change is not None and may_change(row.case_json):
                return case_id
        raise unknown_reference(value)

    def lineage(self, case_id: str) -> list[str]:
        """The authorizations of one certification, oldest first: those `case_id` replaces or
        continues, itself, and those that replace or continue it."""
        with self.sessions() as session:
            back: list[str] = []
            row = session.get(CaseRow, case_id)
            if row is None:
                raise CaseNotFound(case_id)
            while row is not None and row.prior_case_id and row.prior_case_id not in back:
                back.insert(0, row.prior_case_id)
                row = session.get(CaseRow, row.prior_case_id)
            forward: list[str] = []
            frontier = [case_id]
            while frontier:
                later = list(
                    session.execute(
                        select(CaseRow.id)
                        .where(CaseRow.prior_case_id.in_(frontier))
                        .order_by(CaseRow.created_at, CaseRow.id)
                    ).scalars()
                )
                later = [c for c in later if c not in forward and c != case_id]
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
        session: Session,
        identity: str,
        fingerprint: str,
        case: Case,
        replay_key: str | None,
    ) -> SubmitResult | None:
        """The stored answer to a request already received under `identity`, rendered for
        this copy (its envelope and echo); None when the identity is new. Raises
        RequestConflict when the stored request's business content differs."""
        row = session.get(ReplayRow, identity)
        if row is None or not row.case_ids:
            return None
        case_id = row.case_ids[0]
        if json.loads(row.response or "{}").get("content") != fingerprint:
            log.info("request identity conflict", extra={"case_id": case_id})
            raise RequestConflict(identity, case_id, business_identifier(case) or "")
        stored = self._load(session, case_id)
        assert stored.determination is not None
        # The stored case as it stands now (a reviewer may have decided it since), answered
        # in the words of this copy: its control numbers, fullUrls and identifiers.
        answered = stored.case.model_copy(update={"submission": case.submission})
        if replay_key:
            self._remember(session, replay_key, [case_id], None)
        log.info("resubmission answered from the stored case", extra={"case_id": case_id})
        return SubmitResult(answered, stored.determination, None, replayed=True)

    def _address_on_file(self, case: Case) -> None:
        """Member letters go to the address the payer has on file when the request carries
        none (DOMAIN.md: the member receives a letter by mail)."""
        if case.member.address is None:
            enrollment = self.ports.eligibility.enrollment(case.member.member_id)
            if enrollment is not None and enrollment.address is not None:
                case.member.address = enrollment.address

    def _drug_names(self, case: Case) -> None:
        """Letters name the drugs, equipment and services: a line sent with a code only gets
        the drug table's or the program's item name."""
        for line in case.service_lines:
            if line.description is not None:
                continue
            drug = self.ports.tables.drugs.get(line.code.upper())
            if drug is not None:
                line.description = drug.name
                continue
            for program in self.ports.programs.values():
                item = program.items.get(line.code.upper())
                if item is not None:
                    line.description = item.description
                    break

    def _program_for(self, case: Case) -> Program:
        """A request of supportive drugs only is a supportive (SPORT) request; one whose every
        code a coverage-criteria program serves (home health, DME, sleep) is that program's."""
        if case.program is not Program.CHEMO:
            return case.program
        codes = [line.code for line in case.active_lines]
        for program in self.ports.programs.values():
            if case.payer_id and case.payer_id != program.payer_id:
                continue
            served = program.program_for(codes)
            if served is not None:
                return served
        drugs = [self.ports.tables.drugs.get(line.code.upper()) for line in case.active_lines]
        if drugs and all(drug is not None and drug.drug_class == "supportive" for drug in drugs):
            return Program.SPORT
        return case.program

    @staticmethod
    def _claim_key(case: Case) -> str | None:
        """Where a later update or inquiry finds the case by the sender's own identifier."""
        claim = case.submission.claim_identifier or case.submission.bht_reference
        if not claim:
            return None
        return f"claim:{case.submission.submitter_id or ''}:{claim}"

    def exchange(self, key: str) -> dict[str, Any] | None:
        """What was answered to an interchange (or other exchange) stored under `key`."""
        with self.sessions() as session:
            row = session.get(ReplayRow, key)
            return json.loads(row.response) if row and row.response else None

    def remember_exchange(self, key: str, answer: dict[str, Any], case_ids: list[str]) -> None:
        try:
            with writing(self.sessions) as session:
                session.add(ReplayRow(key=key, case_ids=case_ids, response=json.dumps(answer)))
        except IntegrityError:
            pass  # the same interchange answered concurrently: the first answer stands

    def find_by_claim(self, submitter_id: str | None, claim_identifier: str) -> str | None:
        with self.sessions() as session:
            row = session.get(ReplayRow, f"claim:{submitter_id or ''}:{claim_identifier}")
            return row.case_ids[0] if row and row.case_ids else None

    def _with_primary_facts(self, session: Session, case: Case) -> Case:
        primary = session.get(CaseRow, case.related_case_id)
        approved = primary is not None and primary.status in (
            CaseStatus.APPROVED.value,
            CaseStatus.MODIFIED.value,
        )
        case.facts = case.facts.merged({"primary_case_approved": approved}, "core:primary_case")
        if primary is not None and case.start_date is None:
            case.start_date = Case.model_validate(primary.case_json).service_date
        return case

    def _insert(
        self, session: Session, case: Case, determination: Determination, actor: str, now: datetime
    ) -> None:
        assert case.id is not None
        case_json = case.model_dump(mode="json")
        # Plain INSERT statements, not ORM unit-of-work flushes: intake is the hot path.
        member_key = case.member.member_id.upper()
        values: dict[str, Any] = dict(
            id=case.id,
            status=determination.status.value,
            program=case.program.value,
            payer_id=case.payer_id,
            plan_id=determination.plan_id,
            channel=case.submission.channel.value,
            submitter_id=case.submission.submitter_id,
            member_key=member_key,
            related_case_id=case.related_case_id,
            prior_case_id=case.prior_case_id,
            due_by=determination.due_by,
            hold_due=determination.hold_due,
            case_json=case_json,
            original_json=case_json,
            determination_json=determination.model_dump(mode="json"),
            created_at=now,
            updated_at=now,
        )
        session.execute(insert(CaseRow).values(**values))
        index_case(session, case.id, member_key, case_json, now, new=True)
        self._record(session, case, determination, None, actor, now)

    def _record(
        self,
        session: Session,
        case: Case,
        determination: Determination,
        previous: str | None,
        actor: str,
        now: datetime,
    ) -> None:
        """The status event and the outbound jobs of one determination, in the caller's
        transaction."""
        session.execute(
            insert(CaseEventRow).values(
                case_id=case.id,
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
            )
        )
        reads = SessionReads(session)
        jobs = [
            job
            for planner in self.job_planners
            for job in planner(reads, case, determination, previous)
        ]
        outbox.enqueue(session, case.id, jobs, now=now)

    def enqueue(
        self, session: Session, job: JobSpec, case_id: str | None, now: datetime | None = None
    ) -> None:
        """Store an outbound job in the caller's transaction, once per idempotency key."""
        outbox.enqueue(session, case_id, [job], now=now or self.clock())

    def _split_supportive(
        self, session: Session, case: Case, determination: Determination, actor: str, now: datetime
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
                    "id": self._new_case_id(session, now),
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
            self._insert(session, child, child_determination, actor, now)
            children.append(self._stored(child, child_determination, now, now))
        return children

    # -- reading ----------------------------------------------------------------------------

    @staticmethod
    def _stored(
        case: Case, determination: Determination | None, created: datetime, updated: datetime
    ) -> StoredCase:
        status = determination.status if determination else CaseStatus.PENDED
        return StoredCase(case, determination, status, created, updated)

    def _load(self, session: Session, case_id: str) -> StoredCase:
        row = session.get(CaseRow, case_id)
        if row is None:
            raise CaseNotFound(case_id)
        determination = (
            Determination.model_validate(row.determination_json) if row.determination_json else None
        )
        stored = StoredCase(
            Case.model_validate(row.case_json),
            determination,
            CaseStatus(row.status),
            row.created_at,
            row.updated_at,
        )
        events = session.execute(
            select(CaseEventRow).where(CaseEventRow.case_id == case_id).order_by(CaseEventRow.id)
        ).scalars()
        stored.events = [
            {
                "at": e.at.isoformat(),
                "actor": e.actor,
                "from_status": e.from_status,
                "to_status": e.to_status,
                "reason": e.reason,
                "detail": e.detail,
            }
            for e in events
        ]
        stored.children = list(
            session.execute(
                select(CaseRow.id).where(CaseRow.related_case_id == case_id).order_by(CaseRow.id)
            ).scalars()
        )
        return stored

    def get(self, case_id: str) -> StoredCase:
        with self.sessions() as session:
            return self._load(session, case_id)

    def list_cases(self, status: str | None = None, limit: int = 200) -> list[CaseRow]:
        """Cases by status, the most urgent (earliest due-by time) first."""
        with self.sessions() as session:
            query = select(CaseRow)
            if status:
                query = query.where(CaseRow.status == status)
            query = query.order_by(CaseRow.due_by.is_(None), CaseRow.due_by, CaseRow.created_at)
            return list(session.execute(query.limit(limit)).scalars())

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

        Read from the case_lookup index (gateway.store.lookup), so a member with thousands of
        cases costs one bounded read (issue 18). Events and children are not loaded."""
        with self.sessions() as session:
            ids = member_case_ids(
                session, member_id.upper(), provider_npi, claim_identifiers, limit
            )
            rows = {
                row.id: row
                for row in session.execute(select(CaseRow).where(CaseRow.id.in_(ids))).scalars()
            }
            return [
                StoredCase(
                    Case.model_validate(row.case_json),
                    Determination.model_validate(row.determination_json),
                    CaseStatus(row.status),
                    row.created_at,
                    row.updated_at,
                )
                for row in (rows.get(case_id) for case_id in ids)
                if row is not None and row.determination_json is not None
            ]

    # -- later events -----------------------------------------------------------------------

    def eligibility(self, member_id: str, on: date) -> dict[str, Any] | None:
        """Per program: is prior authorization required for this member on this date."""
        return program_answer(self.ports, member_id, on)
