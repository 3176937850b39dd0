"""The README's decision table, row by row, on the pure decision: no database, no HTTP, no
channel. The same cases the HTTP tests send, reviewed straight through `review(case, ports, now)`
with the demo roster and the pathway tables of mappings/ (both plans)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from gateway.api.cases import CaseRequest
from gateway.domain.actions import ReviewAction
from gateway.domain.case import Case, CaseStatus
from gateway.domain.eligibility import CoveragePeriod, Enrollment
from gateway.domain.pathway import Match, PathwayResult
from gateway.domain.ports import InMemoryEligibility, InMemoryPathways, Ports
from gateway.domain.review import review
from gateway.domain.reviewer import ReviewerDecision, apply_reviewer_decision
from gateway.wiring import build_ports
from tests.conftest import NOW, jane_doe_request, make_settings

SECOND_PLAN = {"member_id": "S9876543201", "last_name": "SAMPLE", "first_name": "SAM"}
PBM_MEMBER = {"member_id": "U1234567803", "last_name": "MAJOR", "first_name": "MARY"}
HER2_POSITIVE_AT_HOSPITAL = {
    "place_of_service": "22",
    "diagnoses": [{"code": "C50.911", "primary": True}, {"code": "Z17.31"}],
    "service_lines": [
        {"sequence": 1, "code": "J9171"},
        {"sequence": 2, "code": "J9045"},
        {"sequence": 3, "code": "Q5114"},
        {"sequence": 4, "code": "J9306"},
    ],
}


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Ports:
    return build_ports(make_settings(tmp_path_factory.mktemp("ports")))


def case_of(**changes: Any) -> Case:
    return CaseRequest.model_validate(jane_doe_request(**changes)).to_case(received_at=NOW)


# outcome (README) | request changes | status | review action | reason code or pathway row
TABLE: list[tuple[str, dict[str, Any], CaseStatus, str, str | None]] = [
    ("preferred pathway regimen", {}, CaseStatus.APPROVED, "A1", "breast:her2neg-ddact"),
    (
        "site-of-care drug at a hospital outpatient site",
        HER2_POSITIVE_AT_HOSPITAL,
        CaseStatus.MODIFIED,
        "A6",
        None,
    ),
    (
        "listed, non-preferred regimen",
        {
            "service_lines": [
                {"sequence": 1, "code": "J9171", "units": 4},
                {"sequence": 2, "code": "J9070", "units": 4},
            ]
        },
        CaseStatus.PENDED,
        "A4",
        "breast:her2neg-tc",
    ),
    (
        "custom treatment plan",
        {"service_lines": [{"sequence": 1, "code": "J9267", "units": 12}]},
        CaseStatus.PENDED,
        "A4",
        "CUSTOM_REGIMEN",
    ),
    (
        "a fact the pathway needs is missing",
        {"diagnoses": [{"code": "C50.911", "primary": True}]},
        CaseStatus.HELD,
        "A4",
        None,
    ),
    ("emergency room", {"place_of_service": "23"}, CaseStatus.NOT_REQUIRED, "NA", None),
    (
        "active transplant",
        {"member": {"member_id": "U1234567804", "last_name": "EXAMPLE", "first_name": "ALEX"}},
        CaseStatus.NOT_REQUIRED,
        "NA",
        "TRANSPLANT_ACTIVE",
    ),
    (
        "unmanaged product",
        {"member": {"member_id": "U1234567805", "last_name": "PLACEHOLDER", "first_name": "PAT"}},
        CaseStatus.NOT_REQUIRED,
        "NA",
        "PRODUCT_NOT_MANAGED",
    ),
    (
        "no drug managed under the program",
        {"service_lines": [{"sequence": 1, "code": "J3490"}]},
        CaseStatus.NOT_REQUIRED,
        "NA",
        None,
    ),
    (
        "non-cancer primary diagnosis",
        {"diagnoses": [{"code": "M54.50", "primary": True}]},
        CaseStatus.OUT_OF_SCOPE,
        "CT",
        None,
    ),
    (
        "pharmacy-benefit drug for a member with a PBM",
        {
            "member": PBM_MEMBER,
            "service_lines": [{"sequence": 1, "code": "J8521"}],
            "diagnoses": [{"code": "C18.9", "primary": True}, {"code": "C78.7"}],
        },
        CaseStatus.REDIRECTED,
        "CT",
        None,
    ),
    (
        "second plan: preferred pathway regimen",
        {"member": SECOND_PLAN, "payer_id": "SHP01"},
        CaseStatus.APPROVED,
        "A1",
        "breast:her2neg-ddact",
    ),
]


@pytest.mark.parametrize(
    ("changes", "status", "action", "why"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_each_outcome_of_the_decision_table(
    ports: Ports, changes: dict[str, Any], status: CaseStatus, action: str, why: str | None
):
    determination = review(case_of(**changes), ports, NOW)
    assert determination.status is status
    assert determination.review_action == action
    assert determination.reason.plan_rule, "every determination cites its plan rule"
    if why is not None:
        assert why in (determination.reason.pathway_row, determination.reason.code)


@pytest.mark.parametrize(
    ("member", "aaa"),
    [
        ({"member_id": "U0000000000", "last_name": "NOBODY", "first_name": "NO"}, "75"),
        ({"member_id": "U1234567802", "last_name": "ROE", "first_name": "RICHARD"}, "78"),
    ],
    ids=["member not found", "not eligible on the date"],
)
def test_members_the_payer_cannot_cover_are_rejected_at_2010c(
    ports: Ports, member: dict[str, str], aaa: str
):
    determination = review(case_of(member=member), ports, NOW)
    assert determination.status is CaseStatus.REJECTED
    assert determination.rejection is not None
    assert determination.rejection.aaa_code == aaa


def test_first_plan_approves_for_eight_to_twelve_months_and_the_second_its_own_span(ports: Ports):
    first = review(case_of(), ports, NOW)
    second = review(case_of(member=SECOND_PLAN, payer_id="SHP01"), ports, NOW)
    assert first.period_start == date(2026, 12, 1)
    assert first.period_end == date(2027, 7, 23)
    assert second.period_start is not None and second.period_end is not None
    assert 240 <= (second.period_end - second.period_start).days <= 425


def test_partial_approval_in_the_second_plan_only(ports: Ports):
    lines = [*jane_doe_request()["service_lines"], {"sequence": 4, "code": "J9171"}]
    second = review(case_of(member=SECOND_PLAN, payer_id="SHP01", service_lines=lines), ports, NOW)
    first = review(case_of(service_lines=lines), ports, NOW)
    assert {line.code: line.review_action for line in second.lines} == {
        "J9000": "A1",
        "J9070": "A1",
        "J9267": "A1",
        "J9171": "A4",
    }
    assert {line.review_action for line in first.lines} == {"A4"}


def test_retrospective_requests_follow_each_plans_window(ports: Ports):
    retro = date(2026, 11, 10)
    second = review(
        case_of(member=SECOND_PLAN, payer_id="SHP01", start_date=retro.isoformat()), ports, NOW
    )
    first = review(case_of(start_date=retro.isoformat()), ports, NOW)
    assert second.status is CaseStatus.REJECTED
    assert second.rejection is not None and second.rejection.aaa_code == "62"
    assert first.status is CaseStatus.APPROVED  # first plan: within 30 days of the service


def test_routine_pend_is_due_in_two_business_days(ports: Ports):
    determination = review(case_of(service_lines=[{"sequence": 1, "code": "J9267"}]), ports, NOW)
    assert determination.due_by is not None
    # Monday 2026-11-23 15:00 UTC -> Wednesday 2026-11-25.
    assert determination.due_by.date() == NOW.date() + timedelta(days=2)


def test_a_denial_is_a_reviewers_with_its_rationale(ports: Ports):
    case = case_of(service_lines=[{"sequence": 1, "code": "J9267"}])
    pended = review(case, ports, NOW)
    assert pended.status is CaseStatus.PENDED  # the machine never denies
    plan = ports.plans[pended.plan_id or ""]
    decision = ReviewerDecision.model_validate(
        {
            "decision": "deny",
            "reviewer": "Dr. Sample Reviewer",
            "rationale": "Single-agent paclitaxel is not supported for this stage.",
            "guideline": "NCCN Breast Cancer v1.2026",
        }
    )
    denied = apply_reviewer_decision(case, pended, decision, plan, "commercial", NOW)
    assert denied.status is CaseStatus.DENIED
    assert denied.review_action == ReviewAction.NOT_CERTIFIED
    assert "paclitaxel" in denied.reason.text


def test_the_in_memory_doubles_review_without_any_file(ports: Ports):
    """The ports' doubles stand in for the roster and the pathway tables."""
    enrollment = Enrollment(
        member_id="T0000000001",
        last_name="DOUBLE",
        first_name="TEST",
        birth_date=date(1970, 1, 1),
        gender="female",
        plan_id="cigna-62308-commercial",
        line_of_business="commercial",
        product="Open Access Plus",
        coverage=[CoveragePeriod(start=date(2000, 1, 1), end=date(2099, 12, 31))],
    )
    preferred = ports.pathways.evaluate("C50.911", ["J9000", "J9070", "J9267"], {})
    answers: list[tuple[str, list[str]]] = []

    def answer(diagnosis: str, codes: list[str], _facts: dict[str, Any]) -> PathwayResult:
        answers.append((diagnosis, codes))
        return PathwayResult(
            match=Match.PREFERRED, cancer_type="breast", regimen=preferred.regimen
        )

    doubles = Ports(
        eligibility=InMemoryEligibility({enrollment.member_id: enrollment}),
        pathways=InMemoryPathways(answer=answer, cancer_types={"C50": "breast"}),
        tables=ports.tables,
        plans=ports.plans,
    )
    member = {"member_id": "T0000000001", "last_name": "DOUBLE", "first_name": "TEST"}
    determination = review(case_of(member=member), doubles, NOW)
    assert answers and answers[0][0] == "C50.911"
    assert determination.status is CaseStatus.APPROVED
    unknown = review(case_of(), doubles, NOW)  # the demo member is not in this double
    assert unknown.status is CaseStatus.REJECTED
