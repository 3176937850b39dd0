"""The home health and DME program (mappings/programs/home-health-dme.yaml), decided by the pure
review with the demo roster: the program document's rules, row by row, no database."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from gateway.domain.case import CaseStatus, Program
from gateway.domain.criteria import complete_lines
from gateway.domain.ports import Ports
from gateway.domain.programs import program_answer
from gateway.domain.review import review
from gateway.wiring import build_ports
from tests.conftest import NOW
from tests.domain.test_decision_table import case_of

START = date(2026, 12, 1)  # the clock is NOW = 2026-11-23


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Ports:
    from tests.conftest import make_settings

    return build_ports(make_settings(tmp_path_factory.mktemp("ports")))


def homecare(program: Program, lines: list[dict[str, Any]], **changes: Any):
    values: dict[str, Any] = {
        "program": program.value,
        "place_of_service": "12",
        "diagnoses": [{"code": "J44.1", "primary": True}],
        "service_lines": [{"sequence": i, **line} for i, line in enumerate(lines, start=1)],
    }
    values.update(changes)
    return case_of(**values)


ORDER = {"physician_order": True, "mobility_limited": True}

# what | program | lines | facts | changes | status | review action per line
TABLE: list[
    tuple[str, Program, list[dict[str, Any]], dict[str, Any], dict[str, Any], CaseStatus, list[str]]
] = [
    (
        "wheelchair purchase meeting its criteria",
        Program.DME,
        [{"code": "K0001", "modifiers": ["NU"], "units": 1}],
        ORDER,
        {},
        CaseStatus.APPROVED,
        ["A1"],
    ),
    (
        "PAP device",
        Program.DME,
        [{"code": "E0601", "modifiers": ["RR"], "units": 3}],
        {},
        {},
        CaseStatus.NOT_REQUIRED,
        ["NA"],
    ),
    (
        "DME at a skilled nursing facility",
        Program.DME,
        [{"code": "K0001", "modifiers": ["NU"], "units": 1}],
        ORDER,
        {"place_of_service": "31"},
        CaseStatus.NOT_REQUIRED,
        ["NA"],
    ),
    (
        "home health without the physician's order",
        Program.HOME_HEALTH,
        [{"code": "G0299", "units": 12}],
        {},
        {},
        CaseStatus.HELD,
        ["A4"],
    ),
    (
        "home health with the physician's order",
        Program.HOME_HEALTH,
        [{"code": "G0299", "units": 12}, {"code": "G0151", "units": 8}],
        {"physician_order": True},
        {},
        CaseStatus.APPROVED,
        ["A1", "A1"],
    ),
    (
        "a same-day start of care",
        Program.HOME_HEALTH,
        [{"code": "G0299", "units": 12}],
        {"physician_order": True},
        {"start_date": "2026-11-23"},
        CaseStatus.REDIRECTED,
        ["CT"],
    ),
    (
        "sleep testing goes to the UM vendor",
        Program.SLEEP,
        [{"code": "G0399", "units": 1}],
        {},
        {},
        CaseStatus.PENDED,
        ["A4"],
    ),
    (
        "oxygen with a saturation that does not qualify",
        Program.DME,
        [{"code": "E1390", "modifiers": ["RR"], "units": 3}],
        {"oxygen_saturation": 93, "physician_order": True},
        {},
        CaseStatus.PENDED,
        ["A4"],
    ),
    (
        "an unlisted DME code",
        Program.DME,
        [{"code": "E0100", "units": 1}],
        {},
        {},
        CaseStatus.PENDED,
        ["A4"],
    ),
]


@pytest.mark.parametrize(
    ("program", "lines", "facts", "changes", "status", "actions"),
    [row[1:] for row in TABLE],
    ids=[row[0] for row in TABLE],
)
def test_the_program_documents_rules(ports, program, lines, facts, changes, status, actions):
    case = homecare(program, lines, facts=facts, **changes)
    determination = review(case, ports, NOW)
    assert determination.status is status, determination.reason
    assert [line.review_action for line in determination.lines] == actions
    assert determination.reason.plan_rule and determination.reason.plan_rule.startswith(
        "home-health-dme:"
    )


def test_a_purchase_is_approved_for_90_days(ports):
    case = homecare(Program.DME, [{"code": "K0001", "modifiers": ["NU"], "units": 1}], facts=ORDER)
    determination = review(case, ports, NOW)
    assert determination.period_start == START
    assert (determination.period_end - START).days == 90  # type: ignore[operator]
    assert determination.auth_number


def test_a_ten_month_rental_is_approved_for_eleven_months(ports):
    case = homecare(Program.DME, [{"code": "E0250", "modifiers": ["RR"], "units": 10}], facts=ORDER)
    determination = review(case, ports, NOW)
    assert determination.status is CaseStatus.APPROVED
    assert determination.period_end == date(2027, 11, 1)


def test_the_hold_names_the_missing_document(ports):
    case = homecare(Program.HOME_HEALTH, [{"code": "G0299", "units": 12}])
    determination = review(case, ports, NOW)
    assert determination.missing_facts == ["physician_order"]
    assert "physician's order" in determination.reason.text
    assert determination.hold_due is not None


def test_qualifying_oxygen_pending_discharge_is_decided_at_once_and_urgent(ports):
    facts = {"oxygen_saturation": 86, "physician_order": True, "hospital_discharge_pending": True}
    case = homecare(Program.DME, [{"code": "E1390", "modifiers": ["RR"], "units": 2}], facts=facts)
    determination = review(case, ports, NOW)
    assert determination.status is CaseStatus.APPROVED
    assert determination.urgency.value == "urgent"
    # Two months of rental, plus one.
    assert determination.period_end == date(2027, 3, 1)


def test_the_eligibility_answer_names_the_program(ports):
    answer = program_answer(ports, "U1234567801", START)
    assert answer is not None
    assert {"Home Health", "Durable Medical Equipment"} <= set(
        answer["prior_authorization_required"]
    )


def test_lines_carry_rental_months_visits_and_discipline_from_the_program(ports):
    """What a line carries is completed the same way whichever channel sent it."""
    case = homecare(
        Program.HOME_HEALTH,
        [
            {"code": "E0250", "modifiers": ["RR"], "units": 10},
            {"code": "K0001", "modifiers": ["NU"], "units": 1},
            {"code": "G0151", "units": 8},
        ],
        facts={"already_delivered": False},
    )
    complete_lines(case, ports.programs["home-health-dme"])
    bed, chair, therapy = case.service_lines
    assert (bed.rental, bed.rental_months, bed.already_delivered) == (True, 10, False)
    assert (chair.rental, chair.rental_months) == (False, None)
    assert (therapy.visits, therapy.discipline, therapy.rental) == (8, "physical therapy", None)


def test_the_start_of_care_decides_same_day_over_a_later_service_date(ports):
    """CR6-02 / homeHealthCareInformation: a start of care today is taken by phone even when the
    lines name a later date."""
    case = homecare(
        Program.HOME_HEALTH,
        [{"code": "G0299", "units": 12}],
        facts={"physician_order": True, "start_of_care": NOW.date().isoformat()},
    )
    determination = review(case, ports, NOW)
    assert determination.status is CaseStatus.REDIRECTED
    assert determination.review_action == "CT"
    assert "(800) 555-0140" in determination.reason.text


def test_hospital_discharge_pending_is_a_property_of_the_case(ports):
    case = homecare(Program.DME, [{"code": "E1390"}], facts={"hospital_discharge_pending": "Y"})
    assert case.hospital_discharge_pending is True
    assert homecare(Program.DME, [{"code": "E1390"}]).hospital_discharge_pending is False


def test_a_pended_request_pending_discharge_is_urgent_and_due_first(ports):
    """DOMAIN.md: "hospital discharge pending" puts the case at the head of the work list: a
    held bed waiting for discharge is urgent, due within the plan's urgent hours."""
    facts = {"hospital_discharge_pending": True, "mobility_limited": True}
    case = homecare(Program.DME, [{"code": "E0250", "modifiers": ["RR"], "units": 3}], facts=facts)
    determination = review(case, ports, NOW)
    assert determination.status is CaseStatus.HELD
    assert determination.urgency.value == "urgent"
    routine = review(homecare(Program.DME, [{"code": "E0250"}], facts={}), ports, NOW)
    assert determination.due_by is not None and routine.due_by is not None
    assert determination.due_by < routine.due_by
