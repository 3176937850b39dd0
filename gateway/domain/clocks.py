"""Review clocks: business days skip weekends and US federal holidays (DOMAIN.md: Clocks)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from functools import lru_cache


@lru_cache(maxsize=16)
def _federal_holidays(year: int) -> frozenset[date]:
    # The calendar package (and dateutil) on the first business-day count, not at start-up:
    # an approval counts none (issue 19 item 2).
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
