"""Review clocks: business days skip weekends and US federal holidays (DOMAIN.md: Clocks)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache

# The years whose federal holidays are computed here (the holidays package is the reference:
# tests/domain/test_clocks.py compares every one); others ask the package itself.
_RULES_FROM, _RULES_TO = 2000, 2100


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> date:
    """The n-th `weekday` (Monday 0) of the month; n -1 is the last one."""
    if n > 0:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def _observed(day: date) -> date:
    """5 U.S.C. 6103(b): a holiday on a Saturday is observed the Friday before, on a Sunday
    the Monday after."""
    shift = {5: -1, 6: 1}.get(day.weekday(), 0)
    return day + timedelta(days=shift)


def _computed_holidays(year: int) -> frozenset[date]:
    """The federal holidays of 5 U.S.C. 6103(a) falling in `year`, observed days included
    (as the holidays package lists them for the US: the day itself and, when it falls on a
    weekend, the day it is observed). New Year's Day of the next year observed on December 31
    belongs to this year."""
    fixed = [(1, 1), (7, 4), (11, 11), (12, 25)]
    if year >= 2021:
        fixed.append((6, 19))  # Juneteenth National Independence Day Act (2021)
    days: set[date] = set()
    for month, day in fixed:
        actual = date(year, month, day)
        days.add(actual)
        observed = _observed(actual)
        if observed.year == year:  # New Year's on a Saturday: observed in the year before
            days.add(observed)
    if _observed(date(year + 1, 1, 1)).year == year:
        days.add(date(year, 12, 31))
    days.update(
        (
            _nth_weekday(year, 1, 0, 3),  # Birthday of Martin Luther King, Jr.
            _nth_weekday(year, 2, 0, 3),  # Washington's Birthday
            _nth_weekday(year, 5, 0, -1),  # Memorial Day
            _nth_weekday(year, 9, 0, 1),  # Labor Day
            _nth_weekday(year, 10, 0, 2),  # Columbus Day
            _nth_weekday(year, 11, 3, 4),  # Thanksgiving Day
        )
    )
    return frozenset(days)


@lru_cache(maxsize=16)
def _federal_holidays(year: int) -> frozenset[date]:
    # Computed for the years review meets: importing the holidays package and building its
    # calendar cost about 0.15 s of CPU in every process that counts a business day (a
    # `gateway submit` of a batch among them). Other years still ask the package.
    if _RULES_FROM <= year <= _RULES_TO:
        return _computed_holidays(year)
    return _package_holidays(year)


def _package_holidays(year: int) -> frozenset[date]:
    import holidays

    return frozenset(holidays.country_holidays("US", years=year).keys())


def is_business_day(day: date) -> bool:
    return day.weekday() < 5 and day not in _federal_holidays(day.year)


def add_business_days(start: datetime, days: int) -> datetime:
    """`days` business days after `start`, keeping its time of day.

    A request received on a weekend or holiday starts its clock on the next business day.
    """
    moment = start
    while not is_business_day(moment.date()):
        moment += timedelta(days=1)
    remaining = days
    while remaining > 0:
        moment += timedelta(days=1)
        if is_business_day(moment.date()):
            remaining -= 1
    return moment
