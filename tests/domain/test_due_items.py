"""Due items and per-line-of-business clocks, pure (gateway/domain/due.py, policy.py): what a
case owes by when, in which zone, in which order; the plan answers the due time per line of
business (CMS-0057-F caps the second plan's Medicare Advantage clock)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.domain.case import (
    Case,
    CaseStatus,
    Channel,
    ClinicalFacts,
    Determination,
    Member,
    PendKind,
    Provider,
    Reason,
    StoredCase,
    Submission,
    Urgency,
)
from gateway.domain.due import (
    DueItem,
    DueKind,
    Priority,
    case_state_items,
    due_before,
    work_list_order,
)
from gateway.domain.reviewer import ReviewerDecision, specific_reason_problem
from gateway.mappings import load_mappings
from gateway.settings import REPO_ROOT

PLANS = load_mappings(REPO_ROOT / "mappings").plans
FIRST = PLANS["cigna-62308-commercial"]
SECOND = PLANS["second-plan-oncology"]
MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # the Monday before Thanksgiving
AUSTIN = {"lines": ["1 CONGRESS AVE"], "city": "AUSTIN", "state": "TX", "postal_code": "78701"}


def stored(
    status: CaseStatus,
    *,
    case_id: str = "PA2600000001",
    urgency: Urgency = Urgency.STANDARD,
    facts: dict | None = None,
    **fields: object,
) -> StoredCase:
    case = Case(
        id=case_id,
        member=Member(member_id="U1234567801"),
        ordering=Provider(role="ordering", npi="1234567893", address=AUSTIN),
        start_date=date(2026, 12, 1),
        facts=ClinicalFacts(values=facts or {}),
        submission=Submission(channel=Channel.API, received_at=MONDAY),
        urgency=urgency,
    )
    determination = Determination(
        status=status,
        review_action="A4",
        reason=Reason(code="X", text="x"),
        decided_at=MONDAY,
        urgency=urgency,
        plan_id=FIRST.id,
        **fields,
    )
    return StoredCase(case, determination, status, MONDAY, MONDAY)


def test_the_program_clock_and_the_medicare_advantage_ceiling():
    # Commercial: two business days after complete information, five at most (Thanksgiving
    # 2026-11-26 is not a business day).
    assert FIRST.review_due(MONDAY, expedited=False, complete=True) == datetime(
        2026, 11, 25, 15, 0, tzinfo=UTC
    )
    assert SECOND.review_due(
        MONDAY, expedited=False, complete=False, line_of_business="commercial"
    ) == datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
    # Medicare Advantage: CMS-0057-F's 7 calendar days come before five business days here.
    assert SECOND.review_due(
        MONDAY, expedited=False, complete=False, line_of_business="medicare_advantage"
    ) == MONDAY + timedelta(days=7)
    assert SECOND.review_due(
        MONDAY, expedited=True, complete=True, line_of_business="medicare_advantage"
    ) == MONDAY + timedelta(hours=72)
    assert SECOND.line_clock("medicare_advantage").regulation == "CMS-0057-F"
    assert SECOND.line_clock("commercial") is None
    assert SECOND.specific_denial_reason("medicare_advantage")
    assert not FIRST.specific_denial_reason("commercial")


def test_a_specific_reason_is_more_than_a_generic_phrase():
    base = {"reviewer": "dr-1", "decision": "deny", "guideline": "Breast v1"}
    for generic in ("Not medically necessary.", "  does NOT meet criteria ", "Denied"):
        problem = specific_reason_problem(ReviewerDecision(**base, rationale=generic))
        assert "not a specific reason" in (problem or ""), generic
    specific = ReviewerDecision(**base, rationale="Prior anthracycline 2025", reason_code="0U")
    assert specific_reason_problem(specific) is None


def test_a_pended_case_owes_a_decision_shown_in_the_providers_zone():
    due = MONDAY + timedelta(days=2)
    [item] = case_state_items(
        stored(CaseStatus.PENDED, due_by=due, pend_kind=PendKind.PEER_TO_PEER), FIRST
    )
    assert item.kind == DueKind.REVIEW_DUE
    assert item.due_at == due
    view = item.view()
    assert view["due_at"] == "2026-11-25T09:00:00-06:00"  # Austin, Central time
    assert view["time_zone"] == "America/Chicago"
    assert view["priority"] == "standard"
    assert view["status"] == "pended"
    assert "peer_to_peer" in view["detail"]


def test_a_held_case_owes_its_information_and_an_answer_owes_its_offer():
    hold_due = MONDAY + timedelta(days=3)
    kinds = [
        item.kind
        for item in case_state_items(
            stored(CaseStatus.HELD, hold_due=hold_due, missing_facts=["her2_status"]), FIRST
        )
    ]
    assert kinds == [DueKind.HOLD_DUE]
    offered = case_state_items(
        stored(CaseStatus.PENDED, due_by=MONDAY + timedelta(days=2)),
        FIRST,
        alternative_due=MONDAY + timedelta(days=4),
    )
    assert [i.kind for i in offered] == [DueKind.REVIEW_DUE, DueKind.ALTERNATIVE_RESPONSE]


def test_an_approval_is_due_to_expire_at_the_end_of_its_last_day_where_the_provider_is():
    [item] = case_state_items(
        stored(
            CaseStatus.APPROVED,
            period_start=date(2026, 12, 1),
            period_end=date(2027, 9, 30),
            auth_number="ONC2600000001",
        ),
        FIRST,
    )
    assert item.kind == DueKind.APPROVAL_EXPIRY
    assert item.view()["due_at"] == "2027-10-01T00:00:00-05:00"
    assert "ONC2600000001" in (item.detail or "")
    # Decided, denied, cancelled cases owe nothing the case state says.
    assert case_state_items(stored(CaseStatus.CANCELLED), FIRST) == []


def test_discharge_pending_first_then_expedited_then_earliest_due():
    later, sooner = MONDAY + timedelta(days=3), MONDAY + timedelta(days=1)
    standard = stored(CaseStatus.PENDED, case_id="PA1", due_by=sooner)
    urgent = stored(CaseStatus.PENDED, case_id="PA2", due_by=later, urgency=Urgency.URGENT)
    discharge = stored(
        CaseStatus.PENDED,
        case_id="PA3",
        due_by=later + timedelta(days=1),
        facts={"hospital_discharge_pending": True},
    )
    items = [i for s in (standard, urgent, discharge) for i in case_state_items(s, FIRST)]
    ordered = work_list_order(items)
    assert [i.case_id for i in ordered] == ["PA3", "PA2", "PA1"]
    assert [i.priority for i in ordered] == [
        Priority.DISCHARGE_PENDING,
        Priority.EXPEDITED,
        Priority.STANDARD,
    ]
    assert [i.case_id for i in due_before(items, MONDAY + timedelta(days=2))] == ["PA1"]


def test_a_due_time_carries_its_offset():
    with pytest.raises(ValueError, match="offset"):
        DueItem("PA1", "review_due", datetime(2026, 11, 23), "UTC", "pended", "CHEMO")
