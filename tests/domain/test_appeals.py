"""The appeal and expiry rules, pure (gateway.domain.appeals): the window from the initial
determination, the payer's clocks per plan and per program, the refusals, the end of an
approval and the site-of-care follow-up day (DOMAIN.md: Clocks; issue 12 items 4-5, issue 13
item 5)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.domain.appeals import (
    APPEAL_RECEIVED,
    AppealRequest,
    Appellant,
    appeal_refusal,
    appeal_rules,
    decision_due,
    expired,
    follow_up_on,
    forwarded,
    has_expired,
    initial_determination_at,
    is_appeal,
    program_of,
    upheld,
    window_ends,
)
from gateway.domain.case import (
    Case,
    CaseStatus,
    Channel,
    Determination,
    LineDetermination,
    Member,
    Program,
    Reason,
    ServiceLine,
    Submission,
)
from gateway.domain.peer_to_peer import History
from gateway.domain.policy import Appeal
from gateway.mappings import load_mappings
from gateway.settings import REPO_ROOT

MAPPINGS = load_mappings(REPO_ROOT / "mappings")
FIRST = MAPPINGS.plans["cigna-62308-commercial"]
SECOND = MAPPINGS.plans["second-plan-oncology"]
DME = MAPPINGS.programs["home-health-dme"]
DENIED_AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
ZONE = "America/New_York"


def determination(status: CaseStatus = CaseStatus.DENIED, **fields: object) -> Determination:
    values: dict = {
        "status": status,
        "review_action": "A3" if status is CaseStatus.DENIED else "A1",
        "reason": Reason(code="REVIEWER_DENIED", text="Not medically necessary."),
        "decided_at": DENIED_AT,
        "plan_id": FIRST.id,
        "lines": [LineDetermination(sequence=1, code="J9267", review_action="A3")],
    }
    values.update(fields)
    return Determination(**values)


def case(program: Program = Program.CHEMO, code: str = "J9267", cert: str = "I") -> Case:
    return Case(
        member=Member(member_id="U0000000001"),
        program=program,
        certification_type=cert,
        service_lines=[ServiceLine(sequence=1, code=code)],
        submission=Submission(channel=Channel.API, received_at=DENIED_AT),
    )


def denial_event(at: datetime = DENIED_AT) -> dict:
    return {"at": at.isoformat(), "from_status": "pended", "to_status": "denied", "detail": {}}


PROVIDER = AppealRequest(Appellant.PROVIDER, expedited=False, channel="rest")
MEMBER = AppealRequest(Appellant.MEMBER, expedited=False, channel="rest")
EXPEDITED = AppealRequest(Appellant.MEMBER, expedited=True, channel="rest")


@pytest.mark.parametrize("plan", [FIRST, SECOND], ids=lambda plan: plan.id)
@pytest.mark.parametrize(
    ("request_", "after"),
    [
        (EXPEDITED, timedelta(hours=72)),
        (MEMBER, timedelta(days=30)),
        (PROVIDER, timedelta(days=60)),
    ],
)
def test_the_payers_clock_per_plan(plan, request_, after):
    assert decision_due(DENIED_AT, request_, appeal_rules(plan)) == DENIED_AT + after


def test_the_programs_numbers_come_from_its_own_appeal_block():
    dme_case = case(Program.DME, "E1390")
    assert program_of(dme_case, FIRST, MAPPINGS.programs) is DME
    assert program_of(case(), FIRST, MAPPINGS.programs) is None
    assert appeal_rules(FIRST, DME) is DME.appeal
    assert DME.appeal is not None and DME.appeal.standard_provider_days == 60
    # The numbers are data: a program with other numbers gets other clocks.
    other = DME.model_copy(
        update={
            "appeal": Appeal(
                window_days=90,
                expedited_hours=24,
                standard_member_days=15,
                standard_provider_days=45,
            )
        }
    )
    rules = appeal_rules(FIRST, other)
    assert decision_due(DENIED_AT, PROVIDER, rules) == DENIED_AT + timedelta(days=45)
    assert window_ends(DENIED_AT, rules, ZONE) == date(2026, 11, 23) + timedelta(days=90)
    # A program without an appeal block follows the plan.
    assert appeal_rules(FIRST, DME.model_copy(update={"appeal": None})) is FIRST.appeal


def test_the_window_is_180_days_from_the_initial_determination_in_the_plan_zone():
    rules = appeal_rules(FIRST)
    assert window_ends(DENIED_AT, rules, ZONE) == date(2027, 5, 22)
    current = determination()
    events = [denial_event()]
    day_180 = datetime(2027, 5, 23, 3, 59, tzinfo=UTC)  # 22:59 on May 22 in New York
    assert appeal_refusal(current, events, rules, ZONE, day_180) is None
    day_181 = datetime(2027, 5, 23, 5, 0, tzinfo=UTC)
    refusal = appeal_refusal(current, events, rules, ZONE, day_181)
    assert refusal is not None
    assert (refusal.code, refusal.status, refusal.due) == ("APPEAL_LATE", 422, date(2027, 5, 22))
    assert (refusal.aaa_code, refusal.follow_up) == ("56", "N")
    assert "due by 2027-05-22" in str(refusal)


def test_a_reconsideration_upheld_later_does_not_restart_the_window():
    later = DENIED_AT + timedelta(days=20)
    events = [
        denial_event(),
        {"at": later.isoformat(), "from_status": "pended", "to_status": "denied", "detail": {}},
    ]
    assert initial_determination_at(determination(decided_at=later), events) == DENIED_AT
    assert initial_determination_at(determination(), []) == DENIED_AT


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (CaseStatus.APPROVED, "APPEAL_NOT_ADVERSE"),
        (CaseStatus.PENDED, "APPEAL_NOT_ADVERSE"),
        (CaseStatus.DENIED, None),
        (CaseStatus.PARTIALLY_APPROVED, None),
        (CaseStatus.MODIFIED, None),
    ],
)
def test_only_an_adverse_determination_is_appealed(status, code):
    refusal = appeal_refusal(determination(status), [], appeal_rules(FIRST), ZONE, DENIED_AT)
    assert (refusal.code if refusal else None) == code


def test_an_open_or_decided_appeal_refuses_another_and_a_reconsideration():
    rules = appeal_rules(FIRST)
    pended = forwarded(determination(), PROVIDER, FIRST, rules, date(2027, 5, 22), DENIED_AT)
    assert pended.status is CaseStatus.PENDED
    assert pended.reason.code == APPEAL_RECEIVED
    assert pended.due_by == DENIED_AT + timedelta(days=60)
    assert pended.filed_appeal is not None and pended.filed_appeal.appealed["status"] == "denied"
    assert [line.review_action for line in pended.lines] == ["A4"]
    refusal = appeal_refusal(pended, [], rules, ZONE, DENIED_AT)
    assert refusal is not None and refusal.code == "APPEAL_OPEN"

    kept = upheld(
        pended, decided_by="payer-md", rationale="Confirmed.", guideline=None, now=DENIED_AT
    )
    assert kept.status is CaseStatus.DENIED and kept.outcome_of == "appeal"
    assert kept.appeal is not None and kept.appeal["reconsideration_allowed"] is False
    again = appeal_refusal(kept, [], rules, ZONE, DENIED_AT)
    assert again is not None and again.code == "APPEAL_ALREADY_DECIDED"
    # The reconsideration rules read the appeal from the case's history.
    events = [{"detail": {"reason_code": APPEAL_RECEIVED}}]
    assert History.from_events(events, case()).appealed


def test_an_appeal_request_names_itself_by_um02():
    assert is_appeal(case(cert="1")) and is_appeal(case(cert="2"))
    assert not is_appeal(case(cert="S"))
    assert AppealRequest.from_certification_type("1", "x12").expedited is True
    assert AppealRequest.from_certification_type("2", "x12").appellant is Appellant.PROVIDER


def test_an_approval_expires_after_its_last_day_and_site_of_care_follows_up_before():
    approval = determination(
        CaseStatus.MODIFIED,
        review_action="A6",
        period_start=date(2026, 11, 23),
        period_end=date(2026, 12, 23),
        site_of_care_redirect="12",
    )
    assert not has_expired(approval, date(2026, 12, 23))
    assert has_expired(approval, date(2026, 12, 24))
    marked = expired(approval, DENIED_AT)
    assert not has_expired(marked, date(2026, 12, 24))  # once
    assert follow_up_on(approval, FIRST) == date(2026, 12, 16)  # 7 days before (plan data)
    plain = approval.model_copy(
        update={"status": CaseStatus.APPROVED, "site_of_care_redirect": None}
    )
    assert follow_up_on(plain, FIRST) is None
    assert follow_up_on(marked, FIRST) is None
