"""The case service: review a case and store it with its events and outbound jobs at once.

Channels call `Core` with canonical cases; Core calls the pure `review` and commits the case, its
status history and its outbox jobs in one transaction (DESIGN.md decision 5). Channels that need
to send something on a later decision (PAS subscription notifications) register a job planner;
the core never imports a channel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.case import Case, CaseStatus, Determination, Program
from gateway.eligibility.roster import RosterEligibility
from gateway.pathway.engine import PathwayEngine
from gateway.policy import load_code_tables, load_plans
from gateway.review import Ports, auth_number_for, clinical_facts, review
from gateway.reviewer import ReviewerDecision, apply_reviewer_decision, hold_expired
from gateway.settings import Settings
from gateway.store.db import make_engine, session_factory, upgrade
from gateway.store.models import CaseEventRow, CaseRow, CounterRow, OutboxJobRow, ReplayRow

log = logging.getLogger("gateway.core")


class CaseNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    """The case is not in a state that allows this (e.g. deciding an approved case)."""


@dataclass
class JobSpec:
    kind: str
    idempotency_key: str
    payload: dict[str, Any]


class JobPlanner(Protocol):
    def __call__(
        self, case: Case, determination: Determination, previous_status: str | None
    ) -> list[JobSpec]: ...


@dataclass
class StoredCase:
    case: Case
    determination: Determination | None
    status: CaseStatus
    created_at: datetime
    updated_at: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    children: list[str] = field(default_factory=list)


@dataclass
class SubmitResult:
    case: Case
    determination: Determination
    response: str | None = None
    replayed: bool = False
    children: list[StoredCase] = field(default_factory=list)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Core:
    def __init__(
        self,
        settings: Settings,
        *,
        migrate: bool = True,
        clock: Callable[[], datetime] | None = None,
    ):
        self.settings = settings
        # A frozen clock replays a conformance suite as of its own date (GATEWAY_FROZEN_TIME).
        frozen = settings.frozen_time
        self.clock: Callable[[], datetime] = clock or ((lambda: frozen) if frozen else utcnow)
        self.engine = make_engine(settings.database_url)
        if migrate:
            upgrade(self.engine)
        self.sessions: sessionmaker[Session] = session_factory(self.engine)
        tables = load_code_tables(settings.mappings_dir)
        self.ports = Ports(
            eligibility=RosterEligibility.from_file(settings.roster),
            pathways=PathwayEngine.from_dir(settings.mappings_dir),
            tables=tables,
            plans=load_plans(settings.mappings_dir),
        )
        self.job_planners: list[JobPlanner] = []

    # -- counters ---------------------------------------------------------------------------

    def next_number(self, name: str, session: Session | None = None) -> int:
        """A counter that never repeats, across restarts and processes (X12 control numbers,
        case numbers)."""
        if session is None:
            with self.sessions.begin() as own:
                return self.next_number(name, own)
        insert = pg_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        session.execute(
            insert(CounterRow)
            .values(name=name, value=0)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        value = session.execute(
            update(CounterRow)
            .where(CounterRow.name == name)
            .values(value=CounterRow.value + 1)
            .returning(CounterRow.value)
        ).scalar_one()
        return int(value)

    def _new_case_id(self, session: Session, now: datetime) -> str:
        return f"PA{now:%y}{self.next_number('case', session):08d}"

    # -- submit -----------------------------------------------------------------------------

    def replayed(self, replay_key: str) -> SubmitResult | None:
        with self.sessions() as session:
            row = session.get(ReplayRow, replay_key)
            if row is None or not row.case_ids:
                return None
            stored = self._load(session, row.case_ids[0])
            assert stored.determination is not None
            return SubmitResult(
                stored.case, stored.determination, response=row.response, replayed=True
            )

    def submit(
        self,
        case: Case,
        *,
        actor: str,
        replay_key: str | None = None,
        render: Callable[[Case, Determination], str] | None = None,
        now: datetime | None = None,
    ) -> SubmitResult:
        """Review a new case and store it with its events, outbound jobs and rendered answer.

        An exact replay (same `replay_key`) returns what was answered the first time and
        creates nothing (DESIGN.md decision 7).
        """
        if replay_key:
            prior = self.replayed(replay_key)
            if prior is not None:
                return prior
        now = now or self.clock()
        try:
            with self.sessions.begin() as session:
                case = case.model_copy(deep=True)
                case.id = self._new_case_id(session, now)
                if case.program is Program.SPORT and case.related_case_id:
                    case = self._with_primary_facts(session, case)
                determination = review(case, self.ports, now)
                self._insert(session, case, determination, actor, now)
                children = self._split_supportive(session, case, determination, actor, now)
                response = render(case, determination) if render else None
                if replay_key:
                    session.add(ReplayRow(key=replay_key, case_ids=[case.id], response=response))
                log.info(
                    "case stored",
                    extra={
                        "case_id": case.id,
                        "status": determination.status.value,
                        "review_action": determination.review_action,
                    },
                )
                return SubmitResult(case, determination, response, children=children)
        except IntegrityError:
            # A concurrent identical replay won the race: answer with what it stored.
            if replay_key:
                prior = self.replayed(replay_key)
                if prior is not None:
                    return prior
            raise

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
        row = CaseRow(
            id=case.id,
            status=determination.status.value,
            program=case.program.value,
            payer_id=case.payer_id,
            plan_id=determination.plan_id,
            channel=case.submission.channel.value,
            submitter_id=case.submission.submitter_id,
            member_key=case.member.member_id.upper(),
            related_case_id=case.related_case_id,
            prior_case_id=case.prior_case_id,
            due_by=determination.due_by,
            hold_due=determination.hold_due,
            case_json=case.model_dump(mode="json"),
            original_json=case.model_dump(mode="json"),
            determination_json=determination.model_dump(mode="json"),
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        session.flush()
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
        session.add(
            CaseEventRow(
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
        for planner in self.job_planners:
            for job in planner(case, determination, previous):
                exists = session.execute(
                    select(OutboxJobRow.id).where(
                        OutboxJobRow.idempotency_key == job.idempotency_key
                    )
                ).first()
                if exists is None:
                    session.add(
                        OutboxJobRow(
                            case_id=case.id,
                            kind=job.kind,
                            idempotency_key=job.idempotency_key,
                            payload=job.payload,
                            state="queued",
                            next_attempt_at=now,
                            created_at=now,
                            updated_at=now,
                        )
                    )

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
            status = {"A1": CaseStatus.APPROVED, "A6": CaseStatus.MODIFIED}.get(
                result.review_action, determination.status
            )
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

    def cases_for_member(self, member_id: str) -> list[StoredCase]:
        with self.sessions() as session:
            ids = session.execute(
                select(CaseRow.id)
                .where(CaseRow.member_key == member_id.upper())
                .order_by(CaseRow.created_at)
            ).scalars()
            return [self._load(session, case_id) for case_id in list(ids)]

    # -- later events -----------------------------------------------------------------------

    def _transition(
        self,
        case_id: str,
        actor: str,
        now: datetime,
        change: Callable[[Session, CaseRow, Case, Determination], tuple[Case, Determination]],
    ) -> StoredCase:
        with self.sessions.begin() as session:
            query = select(CaseRow).where(CaseRow.id == case_id)
            if self.engine.dialect.name == "postgresql":
                query = query.with_for_update()
            row = session.execute(query).scalar_one_or_none()
            if row is None:
                raise CaseNotFound(case_id)
            case = Case.model_validate(row.case_json)
            current = Determination.model_validate(row.determination_json)
            case, determination = change(session, row, case, current)
            previous = row.status
            row.case_json = case.model_dump(mode="json")
            row.determination_json = determination.model_dump(mode="json")
            row.status = determination.status.value
            row.due_by = determination.due_by
            row.hold_due = determination.hold_due
            row.updated_at = now
            self._record(session, case, determination, previous, actor, now)
            if determination.status in (CaseStatus.APPROVED, CaseStatus.MODIFIED):
                self._release_supportive(session, case, actor, now)
        return self.get(case_id)

    def _release_supportive(
        self, session: Session, primary: Case, actor: str, now: datetime
    ) -> None:
        """Pended supportive cases follow their primary case once it is approved."""
        rows = session.execute(
            select(CaseRow).where(
                CaseRow.related_case_id == primary.id,
                CaseRow.status.in_([CaseStatus.PENDED.value, CaseStatus.HELD.value]),
            )
        ).scalars()
        for row in list(rows):
            child = Case.model_validate(row.case_json)
            child.facts = child.facts.merged({"primary_case_approved": True}, "core:primary_case")
            determination = review(child, self.ports, now)
            previous = row.status
            row.case_json = child.model_dump(mode="json")
            row.determination_json = determination.model_dump(mode="json")
            row.status = determination.status.value
            row.due_by = determination.due_by
            row.updated_at = now
            self._record(session, child, determination, previous, actor, now)

    def decide(
        self, case_id: str, decision: ReviewerDecision, *, now: datetime | None = None
    ) -> StoredCase:
        """A reviewer's determination on a pended or held case."""
        now = now or self.clock()

        def change(session: Session, row: CaseRow, case: Case, current: Determination):
            if current.status not in (CaseStatus.PENDED, CaseStatus.HELD):
                raise InvalidTransition(
                    f"case {case_id} is {current.status.value}; only pended or held cases "
                    "take a reviewer determination"
                )
            plan = self.ports.plans[current.plan_id] if current.plan_id else None
            if plan is None:
                raise InvalidTransition(f"case {case_id} has no plan to decide under")
            enrollment = self.ports.eligibility.enrollment(case.member.member_id)
            lob = enrollment.line_of_business if enrollment else ""
            return case, apply_reviewer_decision(case, current, decision, plan, lob, now)

        return self._transition(case_id, decision.reviewer, now, change)

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
        now = now or self.clock()

        def change(session: Session, row: CaseRow, case: Case, current: Determination):
            if current.status not in (CaseStatus.PENDED, CaseStatus.HELD):
                raise InvalidTransition(
                    f"case {case_id} is {current.status.value}: additional information is taken "
                    "only while a case is pended or held"
                )
            if current.status is CaseStatus.HELD and current.hold_due and now > current.hold_due:
                original = Case.model_validate(row.original_json)
                return original, hold_expired(original, current, now)
            case.facts = case.facts.merged(values, f"additional:{actor}")
            if notes:
                case.facts.notes.append(notes)
            case.submission.received_at = now  # the clock restarts on complete information
            return case, review(case, self.ports, now)

        return self._transition(case_id, actor, now, change)

    def expire_holds(self, now: datetime | None = None) -> list[str]:
        """The hold clock: holds past their due date go to review on the original submission."""
        now = now or self.clock()
        with self.sessions() as session:
            due = list(
                session.execute(
                    select(CaseRow.id).where(
                        CaseRow.status == CaseStatus.HELD.value, CaseRow.hold_due < now
                    )
                ).scalars()
            )
        expired = []
        for case_id in due:

            def change(session: Session, row: CaseRow, case: Case, current: Determination):
                if current.status is not CaseStatus.HELD:
                    return case, current
                original = Case.model_validate(row.original_json)
                return original, hold_expired(original, current, now)

            self._transition(case_id, "gateway:clock", now, change)
            expired.append(case_id)
        return expired

    def facts_for(self, case: Case) -> dict[str, Any]:
        return clinical_facts(case, self.ports)

    def eligibility(self, member_id: str, on: date) -> dict[str, Any] | None:
        """Per program: is prior authorization required for this member on this date."""
        enrollment = self.ports.eligibility.enrollment(member_id)
        if enrollment is None:
            return None
        plan = self.ports.plans[enrollment.plan_id]
        eligible = enrollment.eligible_on(on)
        managed = enrollment.line_of_business in plan.lines_of_business
        required = plan.programs.prior_authorization_required if eligible and managed else []
        not_required = (
            plan.programs.prior_authorization_not_required
            if managed
            else plan.programs.prior_authorization_required
            + plan.programs.prior_authorization_not_required
        )
        if not eligible:
            message = f"Member is not eligible on {on.isoformat()}."
        else:
            parts = []
            if required:
                parts.append("Prior authorization required for: " + ", ".join(required))
            if not_required:
                parts.append("No prior authorization required for: " + ", ".join(not_required))
            message = ". ".join(parts) + "."
        return {
            "member_id": enrollment.member_id,
            "date": on.isoformat(),
            "eligible": eligible,
            "payer_id": plan.payer_id,
            "plan": plan.id,
            "line_of_business": enrollment.line_of_business,
            "product": enrollment.product,
            "pharmacy_benefit": (
                "payer" if enrollment.pharmacy.with_payer else enrollment.pharmacy.pbm_name
            ),
            "out_of_network_benefits": enrollment.out_of_network_benefits,
            "prior_authorization_required": required,
            "prior_authorization_not_required": not_required,
            "message": message,
        }
