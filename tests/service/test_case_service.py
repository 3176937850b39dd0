"""The case service over its store port: submit, replay, a resubmission's conflict, a reviewer's
decision, additional information, the hold clock, cancel and revision, the generic transition.

Every test runs on the in-memory double (gateway.service.memory_store, milliseconds) and on the
SQL store (gateway.store.repository) over a SQLite file, and over PostgreSQL when a server
answers (its row locks), so the double cannot drift from the store the gateway runs on. No
HTTP, no channel: the service as the channels call it, with the real ports (demo roster,
pathway tables) and the real job planners (letters, notices, payer feed, PAS notifications).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.api.cases import CaseRequest
from gateway.domain.case import Case, CaseStatus, ChangeReference, Determination, Reason
from gateway.domain.changes import ChangeRefused
from gateway.domain.ports import Ports
from gateway.domain.reviewer import ReviewerDecision
from gateway.mappings import Mappings, load_mappings
from gateway.service.core import (
    CaseNotFound,
    CaseService,
    InvalidTransition,
    RequestConflict,
)
from gateway.service.memory_store import InMemoryCaseStore
from gateway.service.store import CaseStore
from gateway.settings import Settings
from gateway.store.outbox import jobs_for_case
from gateway.store.repository import SqlCaseStore
from gateway.wiring import build_ports, job_planners
from tests.conftest import NOW, Clock, _fresh_schema_url, jane_doe_request, make_settings

PENDED_REGIMEN = {
    "service_lines": [
        {"sequence": 1, "code": "J9171", "units": 4},
        {"sequence": 2, "code": "J9070", "units": 4},
    ]
}
# No HER2 status (Z17.x): the pathway needs it, so the request is held for it.
MISSING_FACT = {"diagnoses": [{"code": "C50.911", "primary": True}]}
SUBMITTER = "sample-oncology-ehr"


@pytest.fixture(scope="module")
def module_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return make_settings(tmp_path_factory.mktemp("service"))


@pytest.fixture(scope="module")
def mappings(module_settings: Settings) -> Mappings:
    return load_mappings(module_settings.mappings_dir)


@pytest.fixture(scope="module")
def ports(module_settings: Settings, mappings: Mappings) -> Ports:
    return build_ports(module_settings, mappings)


@pytest.fixture(params=["memory", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[CaseStore]:
    if request.param == "memory":
        yield InMemoryCaseStore()
        return
    if request.param == "postgresql":
        url = _fresh_schema_url(request.getfixturevalue("postgres_url"))
    else:
        url = f"sqlite:///{tmp_path / 'cases.db'}"
    sql = SqlCaseStore.from_url(url)
    yield sql
    sql.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(
    store: CaseStore, ports: Ports, module_settings: Settings, mappings: Mappings, clock: Clock
) -> CaseService:
    return CaseService(
        module_settings,
        store=store,
        ports=ports,
        job_planners=job_planners(module_settings, mappings),
        clock=clock,
    )


def request_of(**changes: Any) -> Case:
    body = jane_doe_request(**changes)
    body.setdefault("submitter_id", SUBMITTER)
    return CaseRequest.model_validate(body).to_case(received_at=NOW)


def job_kinds(store: CaseStore, case_id: str) -> list[str]:
    """The kinds of outbound job stored for a case, oldest first, whichever store holds them."""
    if isinstance(store, InMemoryCaseStore):
        return [job.kind for job in store.jobs(case_id)]
    assert isinstance(store, SqlCaseStore)
    with store.sessions() as session:
        return [job["kind"] for job in jobs_for_case(session, case_id)]


def statuses(service: CaseService, case_id: str) -> list[str]:
    return [event["to_status"] for event in service.get(case_id).events]


# -- submit --------------------------------------------------------------------------------


def test_a_pathway_regimen_is_stored_approved_with_its_event_and_letters(
    service: CaseService, store: CaseStore
):
    result = service.submit(request_of(), actor="test")
    case_id = result.case.id
    assert case_id is not None and case_id.startswith("PA26")
    assert result.determination.status is CaseStatus.APPROVED
    assert result.determination.auth_number
    stored = service.get(case_id)
    assert stored.status is CaseStatus.APPROVED
    assert statuses(service, case_id) == ["approved"]
    assert stored.events[0]["actor"] == "test"
    kinds = job_kinds(store, case_id)
    assert "fax" in kinds and "payer_feed" in kinds
    # The case is found again by the sender's own identifier and by the member's index.
    assert service.cases_for_member("u1234567801", "1234567893")[0].case.id == case_id
    assert service.cases_for_member("U1234567801", "1999999999") == []
    assert [s.case.id for s in service.list_cases("approved")] == [case_id]


def test_each_case_gets_its_own_number(service: CaseService):
    first = service.submit(request_of(), actor="test").case.id
    second = service.submit(request_of(), actor="test").case.id
    assert first != second
    assert service.next_number("x12:ISA") == 1
    assert service.next_number("x12:ISA") == 2


def test_an_exact_replay_gets_the_stored_answer_and_creates_nothing(service: CaseService):
    def render(case: Case, determination: Determination) -> str:
        return f"answer for {case.id}: {determination.review_action}"

    first = service.submit(request_of(), actor="test", replay_key="x12:S1:1:abc", render=render)
    again = service.submit(request_of(), actor="test", replay_key="x12:S1:1:abc", render=render)
    assert again.replayed and again.case.id == first.case.id
    assert again.response == first.response == f"answer for {first.case.id}: A1"
    assert len(service.list_cases()) == 1
    assert service.replayed("x12:S1:1:abc") is not None
    assert service.replayed("x12:S1:1:other") is None


def test_a_resubmission_is_answered_and_other_content_under_its_identity_refused(
    service: CaseService,
):
    first = service.submit(request_of(request_id="REQ-1"), actor="test")
    again = service.submit(request_of(request_id="REQ-1"), actor="test")
    assert again.replayed and again.case.id == first.case.id
    assert service.find_by_claim(SUBMITTER, "REQ-1") == first.case.id
    with pytest.raises(RequestConflict) as refused:
        service.submit(request_of(request_id="REQ-1", place_of_service="22"), actor="test")
    assert refused.value.case_id == first.case.id
    assert len(service.list_cases()) == 1


def test_exchanges_are_remembered_once(service: CaseService):
    assert service.exchange("isa:S1:000000001") is None
    service.remember_exchange("isa:S1:000000001", {"body": "first"}, ["PA2600000001"])
    service.remember_exchange("isa:S1:000000001", {"body": "second"}, [])
    assert service.exchange("isa:S1:000000001") == {"body": "first"}


# -- a reviewer, more information, the hold clock -------------------------------------------


def test_a_reviewer_decides_a_pended_case_once(service: CaseService, store: CaseStore):
    pended = service.submit(request_of(**PENDED_REGIMEN), actor="test")
    case_id = pended.case.id
    assert case_id is not None and pended.determination.status is CaseStatus.PENDED
    jobs_before = len(job_kinds(store, case_id))
    decided = service.decide(
        case_id, ReviewerDecision(reviewer="dr-reviewer", decision="approve"), now=NOW
    )
    assert decided.status is CaseStatus.APPROVED
    assert decided.events[-1]["actor"] == "dr-reviewer"
    assert statuses(service, case_id) == ["pended", "approved"]
    assert len(job_kinds(store, case_id)) > jobs_before  # the approval's letters
    with pytest.raises(InvalidTransition):
        service.decide(case_id, ReviewerDecision(reviewer="dr-reviewer", decision="approve"))
    with pytest.raises(CaseNotFound):
        service.decide("PA2699999999", ReviewerDecision(reviewer="r", decision="approve"))


def test_additional_information_re_runs_the_review(service: CaseService):
    held = service.submit(request_of(**MISSING_FACT), actor="test")
    case_id = held.case.id
    assert case_id is not None and held.determination.status is CaseStatus.HELD
    assert held.determination.missing_facts == ["her2_status"]
    later = service.add_clinical(
        case_id, {"her2_status": "negative"}, actor="clinic", notes="pathology report"
    )
    assert later.status is CaseStatus.APPROVED
    assert later.case.facts.notes[-1] == "pathology report"
    assert statuses(service, case_id) == ["held", "approved"]
    with pytest.raises(InvalidTransition):
        service.add_clinical(case_id, {"her2_status": "negative"}, actor="clinic")


def test_a_hold_past_its_date_goes_to_review_on_the_original(
    service: CaseService, clock: Clock, store: CaseStore
):
    held = service.submit(request_of(**MISSING_FACT), actor="test")
    case_id = held.case.id
    assert case_id is not None and held.determination.hold_due is not None
    assert service.expire_holds() == []
    jobs_before = len(job_kinds(store, case_id))
    clock.now = held.determination.hold_due + timedelta(minutes=1)
    assert service.expire_holds() == [case_id]
    stored = service.get(case_id)
    assert stored.status is CaseStatus.PENDED
    assert stored.determination is not None and stored.determination.reason.code == "HOLD_EXPIRED"
    assert stored.events[-1]["actor"] == "gateway:clock"
    assert len(job_kinds(store, case_id)) > jobs_before  # the letters of the new status
    assert service.expire_holds() == []


# -- changes after the first answer ---------------------------------------------------------


def test_a_cancel_names_the_authorization_and_cancels_it(service: CaseService):
    approved = service.submit(request_of(), actor="test")
    auth_number = approved.determination.auth_number
    assert approved.case.id is not None and auth_number is not None
    cancel = request_of()
    cancel.certification_type = "3"
    cancel.change_reference = ChangeReference(qualifier="BB", value=auth_number)
    answered = service.submit(cancel, actor="test")
    assert answered.case.id == approved.case.id
    assert answered.determination.status is CaseStatus.CANCELLED
    assert service.get(approved.case.id).status is CaseStatus.CANCELLED
    # A cancel naming an authorization nobody holds is refused, and stores nothing.
    unknown = request_of()
    unknown.certification_type = "3"
    unknown.change_reference = ChangeReference(qualifier="BB", value="ONC2699999999")
    with pytest.raises(ChangeRefused):
        service.submit(unknown, actor="test")


def test_a_revision_of_an_approval_is_a_new_authorization_in_its_lineage(service: CaseService):
    approved = service.submit(request_of(), actor="test")
    assert approved.case.id is not None and approved.determination.auth_number
    revision = request_of(start_date="2027-01-04")
    revision.certification_type = "S"
    revision.change_reference = ChangeReference(
        qualifier="BB", value=approved.determination.auth_number
    )
    revised = service.submit(revision, actor="test")
    assert revised.case.id not in (None, approved.case.id)
    assert revised.case.prior_case_id == approved.case.id
    assert service.lineage(approved.case.id) == [approved.case.id, revised.case.id]
    assert service.current_authorization(approved.case.id).case.id == revised.case.id
    replaced = service.get(approved.case.id).determination
    assert replaced is not None and replaced.period_end is not None
    assert revised.determination.period_start is not None
    assert replaced.period_end < revised.determination.period_start


def test_an_update_of_a_pended_case_re_reviews_it(service: CaseService):
    pended = service.submit(request_of(**PENDED_REGIMEN), actor="test")
    assert pended.case.id is not None
    updated = service.update_case(pended.case.id, request_of(), actor="clinic")
    assert updated.status is CaseStatus.APPROVED
    assert updated.case.prior_case_id == pended.case.id


# -- the generic transition and the unit of work ---------------------------------------------


def test_the_generic_transition_stores_what_the_change_gives(service: CaseService):
    pended = service.submit(request_of(**PENDED_REGIMEN), actor="test")
    assert pended.case.id is not None

    def withdrawn(case: Case, current: Determination) -> tuple[Case, Determination]:
        reason = Reason(code="WITHDRAWN", text="Withdrawn by the requester.")
        return case, current.model_copy(
            update={"status": CaseStatus.CANCELLED, "review_action": "C", "reason": reason}
        )

    stored = service.transition(pended.case.id, "clinic", NOW, withdrawn)
    assert stored.status is CaseStatus.CANCELLED
    assert stored.events[-1]["reason"] == "Withdrawn by the requester."


def test_a_failing_change_stores_nothing(service: CaseService, store: CaseStore):
    pended = service.submit(request_of(**PENDED_REGIMEN), actor="test")
    case_id = pended.case.id
    assert case_id is not None
    jobs_before = job_kinds(store, case_id)

    def planner(*_args: Any) -> list[Any]:
        raise RuntimeError("a planner failed")

    service.job_planners.append(planner)
    with pytest.raises(RuntimeError):
        service.decide(case_id, ReviewerDecision(reviewer="dr-reviewer", decision="approve"))
    service.job_planners.remove(planner)
    # The determination, its event and its jobs commit together or not at all.
    assert service.get(case_id).status is CaseStatus.PENDED
    assert statuses(service, case_id) == ["pended"]
    assert job_kinds(store, case_id) == jobs_before
    service.job_planners.append(planner)
    with pytest.raises(RuntimeError):
        service.submit(request_of(), actor="test")
    service.job_planners.remove(planner)
    assert len(service.list_cases()) == 1
    assert service.next_number("case") == 2  # the failed submit's number was rolled back too
