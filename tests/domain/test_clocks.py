"""Business days (gateway/domain/clocks.py): the federal holidays computed for the years review
meets are exactly the holidays package's US calendar, observed days included, and counting a
business day in those years does not import the package (its import and calendar cost about
0.15 s of CPU in every intake process)."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime

import holidays
import pytest

from gateway.domain.clocks import (
    _RULES_FROM,
    _RULES_TO,
    _computed_holidays,
    _federal_holidays,
    add_business_days,
    is_business_day,
)


def test_computed_years_are_the_package_calendar() -> None:
    for year in range(_RULES_FROM, _RULES_TO + 1):
        expected = frozenset(holidays.country_holidays("US", years=year).keys())
        assert _computed_holidays(year) == expected, year


@pytest.mark.parametrize(
    ("day", "business"),
    [
        (date(2021, 12, 31), False),  # New Year's Day 2022 (a Saturday), observed
        (date(2026, 7, 3), False),  # Independence Day (a Saturday), observed the Friday
        (date(2023, 6, 19), False),  # Juneteenth
        (date(2020, 6, 19), True),  # before the 2021 act
        (date(2026, 11, 26), False),  # Thanksgiving
        (date(2026, 11, 27), True),
    ],
)
def test_known_days(day: date, business: bool) -> None:
    assert is_business_day(day) is business


def test_years_outside_the_rules_ask_the_package() -> None:
    year = _RULES_FROM - 10
    assert _federal_holidays(year) == frozenset(holidays.country_holidays("US", years=year).keys())


def test_counting_does_not_import_the_package() -> None:
    code = (
        "import sys\n"
        "from datetime import UTC, datetime\n"
        "from gateway.domain.clocks import add_business_days\n"
        "due = add_business_days(datetime(2026, 11, 25, 15, tzinfo=UTC), 2)\n"
        "print(due.date().isoformat(), 'holidays' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    # Thanksgiving (Thursday 26) is skipped: Wednesday 25 + 2 business days is Monday 30.
    assert out == ["2026-11-30", "False"]
    assert add_business_days(datetime(2026, 11, 25, 15, tzinfo=UTC), 2).day == 30
