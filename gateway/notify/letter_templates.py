"""The words of each letter: Jinja2 template files, one per letter kind and reader.

gateway/notify/templates/letters/ holds `provider/<kind>.j2` and `member/<kind>.j2`, both
extending their reader's base (letterhead, window address, facts, contact block, reference
line), with shared partials under `partials/` (services table, rights, taglines) and the fax
cover sheet `fax_cover.j2`. No letter text lives in Python: letters.py hands the templates
facts (dates, names, numbers) and these filters format them, one date format for every letter.
The markup the templates write is laid out by letter_layout.py.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from pathlib import Path

import jinja2

TEMPLATE_DIR = Path(__file__).parent / "templates" / "letters"

# Letter kinds, each with a provider and a member template (DOMAIN.md: Outcomes, Notices).
KINDS = (
    "approval",
    "site_of_care",
    "partial_approval",
    "clinical_review",
    "peer_to_peer",
    "hold",
    "denial",
    "out_of_scope",
    "not_required",
    "redirected",
    "cancellation",
    "reconsideration_outcome",
    "appeal_outcome",
    "peer_to_peer_scheduled",
)
READERS = ("provider", "member")

# How a reader names a zone (the abbreviation follows: "Central Time (CST)").
ZONE_NAMES = {
    "America/New_York": "Eastern Time",
    "America/Detroit": "Eastern Time",
    "America/Chicago": "Central Time",
    "America/Denver": "Mountain Time",
    "America/Phoenix": "Mountain Time (Arizona)",
    "America/Los_Angeles": "Pacific Time",
    "America/Anchorage": "Alaska Time",
    "Pacific/Honolulu": "Hawaii Time",
    "America/Puerto_Rico": "Atlantic Time",
    "America/St_Thomas": "Atlantic Time",
    "Pacific/Guam": "Chamorro Time",
    "Pacific/Saipan": "Chamorro Time",
    "Pacific/Pago_Pago": "Samoa Time",
}


def day(value: date | datetime | None) -> str:
    """The one date format of every letter: March 4, 2025."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return f"{value:%B} {value.day}, {value.year}"


def clock_time(value: datetime) -> str:
    hour = value.hour % 12 or 12
    suffix = "a.m." if value.hour < 12 else "p.m."
    return f"{hour}:{value:%M} {suffix}"


def moment(value: datetime | None) -> str:
    """A local time as a reader says it: March 7, 2025 at 12:00 p.m. Central Time (CST)."""
    if value is None:
        return ""
    zone = getattr(value.tzinfo, "key", None)
    name = ZONE_NAMES.get(zone or "", zone or "")
    abbreviation = value.tzname() or ""
    where = f"{name} ({abbreviation})" if name and abbreviation and name != abbreviation else name
    return f"{day(value)} at {clock_time(value)} {where or abbreviation}".strip()


def zone_name(zone: str | None) -> str:
    return ZONE_NAMES.get(zone or "", zone or "")


def phone(value: str | None) -> str:
    """(800) 555-0100 from any way of writing a ten-digit US number; else as given."""
    if not value:
        return ""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    if len(digits) != 10:
        return value
    return f"({digits[:3]}) {digits[3:6]}-{digits[6:]}"


def number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        # The markup is XML: every value is escaped, so a name with "&" or "<" prints as itself.
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(day=day, moment=moment, phone=phone, number=number, zone_name=zone_name)
    return env


ENV = environment()


def template(kind: str, reader: str) -> jinja2.Template:
    if kind not in KINDS:
        raise ValueError(f"unknown letter kind {kind!r}")
    if reader not in READERS:
        raise ValueError(f"unknown letter reader {reader!r}")
    return ENV.get_template(f"{reader}/{kind}.j2")


def cover_template() -> jinja2.Template:
    return ENV.get_template("fax_cover.j2")
