"""The provider's local date: a calendar day begins at midnight where the provider is, not in UTC.

Retrospective windows count calendar days between the service and the day the request came in
(DOMAIN.md: "within 30 calendar days of the service"). A date of service is written in the
provider's local calendar, so the day a request came in is read in that calendar too: a request
sent at 8 p.m. in Hartford on the 30th day is on the 30th day there, although it is already the
31st in UTC.

Where the provider is: the US state of its address, refined by the first three digits of the ZIP
code where a state spans two time zones (the areas where most of the state's other zone lives;
county lines inside a ZIP-3 area are not followed). A provider with no usable address takes the
plan's `time_zone` (mappings/plans/*.yaml).
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from gateway.domain.case import Address, Case

log = logging.getLogger(__name__)

# The zone where most of each state's people live (USPS state codes, DC and the territories).
STATE_TIME_ZONES: dict[str, str] = {
    **dict.fromkeys(
        "CT DE DC FL GA IN KY ME MD MA MI NH NJ NY NC OH PA RI SC VT VA WV".split(),
        "America/New_York",
    ),
    **dict.fromkeys(
        "AL AR IL IA KS LA MN MS MO NE ND OK SD TN TX WI".split(), "America/Chicago"
    ),
    **dict.fromkeys("CO ID MT NM UT WY".split(), "America/Denver"),
    "AZ": "America/Phoenix",  # no daylight saving time (the Navajo Nation aside)
    **dict.fromkeys("CA NV OR WA".split(), "America/Los_Angeles"),
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
    "VI": "America/St_Thomas",
    "GU": "Pacific/Guam",
    "MP": "Pacific/Saipan",
    "AS": "Pacific/Pago_Pago",
}

# ZIP-3 areas that keep the other zone of a split state.
ZIP3_TIME_ZONES: dict[str, str] = {
    # Florida panhandle west of the Apalachicola: Central.
    **dict.fromkeys(("324", "325"), "America/Chicago"),
    # Tennessee east of the Cumberland Plateau (Knoxville, Chattanooga, Tri-Cities): Eastern.
    **dict.fromkeys(("373", "374", "376", "377", "378", "379"), "America/New_York"),
    # Western Kentucky (Paducah, Bowling Green, Owensboro): Central.
    **dict.fromkeys(("420", "421", "422", "423", "424"), "America/Chicago"),
    # Northwest Indiana (Gary) and Evansville: Central.
    **dict.fromkeys(("463", "464", "476", "477"), "America/Chicago"),
    # Michigan's Upper Peninsula counties on Wisconsin: Central.
    "498": "America/Chicago",
    "499": "America/Chicago",
    # El Paso: Mountain.
    **dict.fromkeys(("798", "799", "885"), "America/Denver"),
    # North Idaho (Coeur d'Alene, Lewiston): Pacific.
    **dict.fromkeys(("835", "838"), "America/Los_Angeles"),
    # Malheur County, Oregon: Mountain.
    "979": "America/Boise",
    # Western Kansas, Nebraska panhandle, western Dakotas: Mountain.
    "677": "America/Denver",
    "693": "America/Denver",
    "577": "America/Denver",
    "586": "America/Denver",
}


def _zone(name: str) -> tzinfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        # A machine without the IANA database (no system tzdata): say so once per name.
        log.warning("time zone %s is not in this machine's time zone database", name)
        return None


def zone_of_address(address: Address | None) -> str | None:
    """The IANA zone name of a US address, or None when the address does not tell."""
    if address is None:
        return None
    postal = (address.postal_code or "").strip()
    if len(postal) >= 3 and postal[:3].isdigit() and postal[:3] in ZIP3_TIME_ZONES:
        return ZIP3_TIME_ZONES[postal[:3]]
    return STATE_TIME_ZONES.get((address.state or "").strip().upper())


def provider_zone_name(case: Case, default: str) -> str:
    """Where the service takes place first (rendering, facility), then who asked for it."""
    for provider in (case.rendering, case.facility, case.ordering, case.requester):
        name = zone_of_address(provider.address) if provider else None
        if name:
            return name
    return default


def local_date(moment: datetime, zone_name: str) -> date:
    """The calendar date of `moment` in the zone (UTC for a naive moment or an unknown zone)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = _zone(zone_name)
    return moment.astimezone(zone).date() if zone else moment.astimezone(UTC).date()


def provider_local_date(case: Case, moment: datetime, default_zone: str) -> date:
    """The date of `moment` where the case's provider is."""
    return local_date(moment, provider_zone_name(case, default_zone))
