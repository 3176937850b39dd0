"""The peer-to-peer and reconsideration rules and the slot arithmetic, table by table
(gateway/domain/peer_to_peer.py: pure, no store or app)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.domain.case import (
    Case,
    CaseStatus,
    Channel,
    Determination,
    Member,
    PendKind,
    Reason,
    Submission,
)
from gateway.domain.peer_to_peer import (
    History,
    Mode,
    Outcome,
    PostDecisionRefused,
    Reviewer,
    free_slots,
    outcome_problem,
    peer_to_peer_mode,
    reconsideration_refusal,
    reviewer_slots,
    slot_problem,
    spoken_time,
)
from gateway.mappings import load_mappings
from gateway.settings import REPO_ROOT

PLANS = load_mappings(REPO_ROOT / "mappings").plans
FIRST = PLANS["cigna-62308-commercial"]
SECOND = PLANS["second-plan-oncology"]
MONDAY = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)  # 10:00 in New York


def reviewer(**changes: object) -> Reviewer:
    values: dict = {
        "id": "dr-test",
        "name": "Test Reviewer",
        "credentials": "MD",
        "specialty": "Medical oncology",
        "time_zone": "America/New_York",
        "weekly": {"monday": ["09:00-10:00"]},
    }
    values.update(changes)
    return Reviewer.model_validate(values)


def determination(status: CaseStatus, pend_kind: PendKind | None = None) -> Determination:
    return Determination(
        status=status,
        review_action="A3" if status is CaseStatus.DENIED else "A4",
        reason=Reason(code="TEST", text="test"),
        pend_kind=pend_kind,
        decided_at=MONDAY,
        plan_id=FIRST.id,
    )


def case(start: date = date(2026, 12, 1), certification_type: str = "I") -> Case:
    return Case(
        member=Member(member_id="U0000000001"),
        start_date=start,
        certification_type=certification_type,
        submission=Submission(channel=Channel.API, received_at=MONDAY),
    )


@pytest.mark.parametrize(
    ("day", "expected_utc"),
    [
        # Daylight saving time ends in the US on 2026-11-01: 09:00 in New York moves from
        # 13:00 UTC (EDT) to 14:00 UTC (EST).
        (date(2026, 10, 26), ["13:00", "13:30"]),
        (date(2026, 11, 2), ["14:00", "14:30"]),
        (date(2026, 11, 3), []),  # a Tuesday: no hours
    ],
)
def test_slots_follow_the_reviewers_zone_across_daylight_saving(day, expected_utc):
    slots = reviewer_slots(reviewer(), day, day, 30)
    assert [f"{slot.start:%H:%M}" for slot in slots] == expected_utc
    assert all(slot.start.tzinfo is not None for slot in slots)


@pytest.mark.parametrize(
    ("exception", "expected"),
    [
        ({}, 2),  # no exception: the week's hours
        ({"date": "2026-11-23"}, 0),  # the day off
        ({"date": "2026-11-23", "hours": ["11:00-13:00"]}, 4),  # other hours that day
        ({"date": "2026-11-30"}, 2),  # another day's exception
    ],
)
def test_exceptions_replace_one_days_hours(exception, expected):
    person = reviewer(exceptions=[exception] if exception else [])
    assert len(reviewer_slots(person, date(2026, 11, 23), date(2026, 11, 23), 30)) == expected


def test_free_slots_keep_the_notice_skip_booked_and_other_plans_reviewers():
    mine = reviewer(weekly={"monday": ["09:00-17:00"]})
    theirs = reviewer(id="dr-other", plans=[SECOND.id], weekly={"monday": ["09:00-17:00"]})
    first_taken = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    slots = free_slots(
        [mine, theirs], plan=FIRST, now=MONDAY, days=1, booked={("dr-test", first_taken)}
    )
    assert {slot.reviewer_id for slot in slots} == {"dr-test"}
    # Two hours' notice from 15:00 UTC is 17:00 UTC, which is booked: 17:30 UTC is next.
    assert slots[0].start == datetime(2026, 11, 23, 17, 30, tzinfo=UTC)
    assert slots[-1].end == datetime(2026, 11, 23, 22, 0, tzinfo=UTC)  # 17:00 in New York


@pytest.mark.parametrize(
    ("start", "problem"),
    [
        ("2026-11-23T09:00:00-05:00", "in the past"),
        ("2026-11-30T09:00:00", "offset"),
        ("2026-11-30T09:15:00-05:00", "not one of"),
        ("2026-12-28T09:00:00-05:00", "at most 14 days"),
        ("2026-11-30T09:00:00-05:00", None),
        ("2026-11-30T14:00:00+00:00", None),  # the same instant in UTC
    ],
)
def test_slot_problems(start, problem):
    found = slot_problem(reviewer(), datetime.fromisoformat(start), plan=FIRST, now=MONDAY)
    assert (found is None) if problem is None else (problem in (found or ""))


@pytest.mark.parametrize(
    ("status", "pend_kind", "plan", "lob", "history", "expected"),
    [
        (CaseStatus.PENDED, PendKind.PEER_TO_PEER, FIRST, "commercial", History(), Mode.DECISIVE),
        # Pended for peer to peer on the second plan's Medicare line: no denial to overturn yet.
        (
            CaseStatus.PENDED,
            PendKind.PEER_TO_PEER,
            SECOND,
            "medicare_advantage",
            History(),
            Mode.DECISIVE,
        ),
        (CaseStatus.DENIED, None, FIRST, "commercial", History(), Mode.DECISIVE),
        (CaseStatus.DENIED, None, SECOND, "commercial", History(), Mode.DECISIVE),
        (CaseStatus.DENIED, None, SECOND, "medicare_advantage", History(), Mode.CONSULTATIVE),
        (
            CaseStatus.DENIED,
            None,
            FIRST,
            "commercial",
            History(reconsidered=True),
            Mode.CONSULTATIVE,
        ),
        (CaseStatus.DENIED, None, FIRST, "commercial", History(appealed=True), Mode.CONSULTATIVE),
        (
            CaseStatus.DENIED,
            None,
            FIRST,
            "commercial",
            History(peer_to_peer_after_denial=True),
            Mode.CONSULTATIVE,
        ),
        (CaseStatus.PENDED, PendKind.CLINICAL_REVIEW, FIRST, "commercial", History(), None),
        (CaseStatus.APPROVED, None, FIRST, "commercial", History(), None),
        (CaseStatus.HELD, PendKind.HOLD, FIRST, "commercial", History(), None),
    ],
)
def test_what_a_peer_to_peer_can_do(status, pend_kind, plan, lob, history, expected):
    current = determination(status, pend_kind)
    if expected is None:
        with pytest.raises(PostDecisionRefused) as refused:
            peer_to_peer_mode(current, plan, lob, history)
        assert refused.value.code == "P2P_NOT_OFFERED"
        return
    mode, reason = peer_to_peer_mode(current, plan, lob, history)
    assert mode is expected and reason


def test_a_plan_may_offer_no_peer_to_peer_after_a_denial():
    plan = FIRST.model_copy(
        update={"peer_to_peer": FIRST.peer_to_peer.model_copy(update={"after_denial": False})}
    )
    with pytest.raises(PostDecisionRefused) as refused:
        peer_to_peer_mode(determination(CaseStatus.DENIED), plan, "commercial", History())
    assert refused.value.code == "P2P_AFTER_DENIAL_NOT_ALLOWED"


@pytest.mark.parametrize(
    ("outcome", "mode", "refused"),
    [
        (Outcome.APPROVED, Mode.DECISIVE, False),
        (Outcome.UPHELD, Mode.DECISIVE, False),
        (Outcome.CONSULTATIVE, Mode.DECISIVE, False),
        (Outcome.APPROVED, Mode.CONSULTATIVE, True),
        (Outcome.UPHELD, Mode.CONSULTATIVE, True),
        (Outcome.CONSULTATIVE, Mode.CONSULTATIVE, False),
    ],
)
def test_a_consultation_records_no_decision(outcome, mode, refused):
    assert (outcome_problem(outcome, mode) is not None) is refused


@pytest.mark.parametrize(
    ("plan", "lob", "status", "history", "the_case", "now", "code"),
    [
        (FIRST, "commercial", CaseStatus.DENIED, History(), case(), MONDAY, None),
        (FIRST, "individual_family", CaseStatus.DENIED, History(), case(), MONDAY, None),
        (SECOND, "commercial", CaseStatus.DENIED, History(), case(), MONDAY, None),
        (
            SECOND,
            "medicare_advantage",
            CaseStatus.DENIED,
            History(),
            case(),
            MONDAY,
            "RECONSIDERATION_LINE_OF_BUSINESS",
        ),
        (
            FIRST,
            "commercial",
            CaseStatus.APPROVED,
            History(),
            case(),
            MONDAY,
            "RECONSIDERATION_NOT_DENIED",
        ),
        (
            FIRST,
            "commercial",
            CaseStatus.DENIED,
            History(appealed=True),
            case(),
            MONDAY,
            "RECONSIDERATION_AFTER_APPEAL",
        ),
        (
            FIRST,
            "commercial",
            CaseStatus.DENIED,
            History(),
            case(certification_type="1"),
            MONDAY,
            None,  # History.from_events reads UM02 1/2 as an appeal; a bare History does not
        ),
        (
            FIRST,
            "commercial",
            CaseStatus.DENIED,
            History(reconsidered=True),
            case(),
            MONDAY,
            "RECONSIDERATION_ALREADY_MADE",
        ),
        # On the service date itself (New York, the plan's zone): allowed; the day after: not.
        (
            FIRST,
            "commercial",
            CaseStatus.DENIED,
            History(),
            case(start=date(2026, 11, 23)),
            datetime(2026, 11, 24, 4, 59, tzinfo=UTC),
            None,
        ),
        (
            FIRST,
            "commercial",
            CaseStatus.DENIED,
            History(),
            case(start=date(2026, 11, 23)),
            datetime(2026, 11, 24, 5, 0, tzinfo=UTC),
            "RECONSIDERATION_AFTER_SERVICE_DATE",
        ),
    ],
)
def test_when_a_reconsideration_is_allowed(plan, lob, status, history, the_case, now, code):
    refusal = reconsideration_refusal(the_case, determination(status), plan, lob, history, now)
    assert (refusal.code if refusal else None) == code


def test_history_is_read_from_the_case_events():
    events = [
        {"detail": {"reason_code": "REVIEWER_DENIED"}},
        {"detail": {"reason_code": "RECONSIDERATION"}},
        {"detail": None},
    ]
    assert History.from_events(events, case()) == History(reconsidered=True)
    assert History.from_events([], case(certification_type="2")).appealed
    upheld = [{"detail": {"peer_to_peer": "upheld_after_denial"}}]
    assert History.from_events(upheld, case()).peer_to_peer_after_denial


def test_spoken_time_is_the_zones_own():
    moment = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    assert spoken_time(moment, "America/Chicago") == "Monday, November 23, 2026 at 11:00 AM CST"
    assert spoken_time(moment, "Pacific/Honolulu") == "Monday, November 23, 2026 at 7:00 AM HST"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Mars/Olympus"}, "IANA"),
        ({"weekly": {"funday": ["09:00-10:00"]}}, "not a weekday"),
        ({"weekly": {"monday": ["9-10"]}}, "HH:MM-HH:MM"),
        ({"weekly": {"monday": ["10:00-09:00"]}}, "ends before it starts"),
        ({"exceptions": [{"date": "2026-11-23", "hours": ["25:00-26:00"]}]}, "HH:MM-HH:MM"),
    ],
)
def test_a_wrong_reviewer_is_refused(changes, message):
    with pytest.raises(ValueError, match=message):
        reviewer(**changes)
