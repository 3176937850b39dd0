"""What a decided line authorizes, and the one-time site-of-care authorization, as every channel
states it: the 278 (2000F HCR, DTP 007/036, UM04), the PAS ClaimResponse (item and addItem) and
the letters read the same facts from here (issue 14 item 13).

DOMAIN.md, site-of-service redirect: a drug asked for at a hospital outpatient site gets a
one-time 30-day authorization *there* when medical necessity is met; home (12) or office (11)
is where the program asks care to continue afterwards. So the one-time lines are authorized at
the place asked for, for their own period; the redirect (`Determination.site_of_care_redirect`,
and the plan's `site_of_care.redirect_to`) is a recommendation, not what was authorized. The
review records the redirect on each one-time line too (`LineDetermination.place_of_service`):
that is where care is to move, which is why it is read here and not printed as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from gateway.domain.actions import ReviewAction
from gateway.domain.case import Case, Determination, LineDetermination, ServiceLine

# The reason code the review gives the one-time lines (gateway.domain.review).
SITE_OF_CARE_ONE_TIME = "SITE_OF_CARE_ONE_TIME"


@dataclass(frozen=True)
class Authorized:
    """What one decided line authorizes."""

    auth_number: str | None
    period_start: date | None
    period_end: date | None
    place_of_service: str | None
    # True when the place is not the one asked for (a reviewer's modification moved it).
    moved: bool


@dataclass(frozen=True)
class OneTimeAuthorization:
    """The one-time site-of-care authorization of a modified approval: its lines, the one
    authorization number, its period and the place it is for, and where care is to continue."""

    sequences: tuple[int, ...]
    auth_number: str | None
    period_start: date | None
    period_end: date | None
    place_of_service: str | None  # the place asked for (the hospital outpatient site)
    continue_at: str | None  # the program's first choice afterwards (12 home, 11 office)


def is_one_time(decided: LineDetermination | None, determination: Determination) -> bool:
    """A modified (A6) line that is the site-of-care one-time authorization."""
    if decided is None or decided.review_action != ReviewAction.MODIFIED:
        return False
    reason = decided.reason or determination.reason
    return reason.code == SITE_OF_CARE_ONE_TIME


def requested_place(case: Case, line: ServiceLine | None) -> str | None:
    """The place of service asked for: the line's own (2000F UM04, item.location), else the
    request's (2000E UM04)."""
    return (line.place_of_service if line else None) or case.place_of_service


def authorized(
    case: Case,
    line: ServiceLine | None,
    decided: LineDetermination | None,
    determination: Determination,
) -> Authorized:
    """What `decided` (the determination of `line`) authorizes: its own number and period, else
    the case's, and its place. The one-time site-of-care line is authorized at the place asked
    for; any other line at the place a reviewer moved it to, if one did, else where asked."""
    asked = requested_place(case, line)
    place = asked
    if decided is not None and not is_one_time(decided, determination):
        moved_to = decided.place_of_service
        if moved_to is None and decided.review_action == ReviewAction.MODIFIED:
            moved_to = determination.site_of_care_redirect
        place = moved_to or asked
    return Authorized(
        auth_number=(decided.auth_number if decided else None) or determination.auth_number,
        period_start=(decided.period_start if decided else None) or determination.period_start,
        period_end=(decided.period_end if decided else None) or determination.period_end,
        place_of_service=place,
        moved=place != asked,
    )


def one_time_authorization(case: Case, determination: Determination) -> OneTimeAuthorization | None:
    """The one-time site-of-care authorization of `determination`, or None when it has none.
    Its lines share one authorization number and one period (the review gives them both)."""
    lines = {line.sequence: line for line in case.service_lines}
    chosen = [d for d in determination.lines if is_one_time(d, determination)]
    if not chosen:
        return None
    granted = [authorized(case, lines.get(d.sequence), d, determination) for d in chosen]
    starts = [g.period_start for g in granted if g.period_start]
    ends = [g.period_end for g in granted if g.period_end]
    places = [g.place_of_service for g in granted if g.place_of_service]
    return OneTimeAuthorization(
        sequences=tuple(d.sequence for d in chosen),
        auth_number=next((g.auth_number for g in granted if g.auth_number), None),
        period_start=min(starts) if starts else None,
        # The earliest end: the follow-up is due before the first one-time line runs out
        # (gateway.domain.appeals.site_of_care_ends reads the same).
        period_end=min(ends) if ends else None,
        place_of_service=places[0] if places else case.place_of_service,
        continue_at=determination.site_of_care_redirect
        or next((d.place_of_service for d in chosen if d.place_of_service), None),
    )
