"""PAP compliance (DOMAIN.md, Home Health and DME): at least 4 hours a night on 70% of nights
within 30 consecutive days, inside the first 90 days of therapy; outreach to the DME supplier and
the ordering physician at days 3, 7, 14, 21, 30, 60 and 90 while the member is not compliant.
The numbers are the program's (mappings/programs/*.yaml `pap_compliance`); this module is the
pure rule over nights of usage."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field


class PapRule(BaseModel):
    model_config = ConfigDict(extra="forbid")

    min_hours: float = Field(gt=0)
    share_of_nights: float = Field(gt=0, le=1)
    window_nights: int = Field(gt=0)
    within_days: int = Field(gt=0)
    outreach_days: list[int] = Field(min_length=1)

    @property
    def nights_needed(self) -> int:
        """Nights of the window at or above the hours (70% of 30 is 21)."""
        return math.ceil(self.share_of_nights * self.window_nights - 1e-9)


@dataclass(frozen=True)
class Compliance:
    compliant: bool
    therapy_day: int  # the day of therapy the data (or the clock) has reached, day 1 the start
    met_on: date | None  # the last night of the first window that met the rule
    best_window_start: date | None
    best_window_nights: int  # qualifying nights in the best window so far
    nights_reported: int


def therapy_day(start: date, as_of: date) -> int:
    return (as_of - start).days + 1


def evaluate(start: date, nights: dict[date, float], as_of: date, rule: PapRule) -> Compliance:
    """Is the member compliant, from the nights reported (a night not reported counts as not
    used), as of `as_of` (the later of the clock and the last night reported)?"""
    last_day = start + timedelta(days=rule.within_days - 1)
    qualifying = {night for night, hours in nights.items() if hours >= rule.min_hours}
    best_start: date | None = None
    best = 0
    met_on: date | None = None
    window = timedelta(days=rule.window_nights - 1)
    first = start
    while first + window <= last_day:
        count = sum(
            1 for offset in range(rule.window_nights) if first + timedelta(offset) in qualifying
        )
        if count > best:
            best, best_start = count, first
        if count >= rule.nights_needed and met_on is None:
            met_on = first + window
            break
        first += timedelta(days=1)
    reached = max([as_of, *nights.keys()]) if nights else as_of
    day = max(1, min(therapy_day(start, reached), rule.within_days))
    return Compliance(
        compliant=met_on is not None,
        therapy_day=day,
        met_on=met_on,
        best_window_start=best_start,
        best_window_nights=best,
        nights_reported=sum(1 for night in nights if start <= night <= last_day),
    )


def outreach_due(compliance: Compliance, sent: set[int], rule: PapRule) -> int | None:
    """The outreach day to send now: the latest outreach day the therapy has reached, when the
    member is not compliant and it was not sent. Earlier days passed without data are not sent
    late (one outreach says where the member stands today)."""
    if compliance.compliant:
        return None
    reached = [day for day in rule.outreach_days if day <= compliance.therapy_day]
    if not reached or reached[-1] in sent:
        return None
    return reached[-1]
