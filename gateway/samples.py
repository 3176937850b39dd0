"""`gateway samples [--date D] [--out DIR]`: the demo requests, dated from a given day.

The fixed copies in samples/ (x12/, pas/, cases/) are the conformance suites' inputs and are
dated for the suites' frozen clock, 2026-11-23 (`SAMPLES_DAY`): sent three days before it, for
services starting eight days after it. A demo runs on the real calendar, so this command writes
the same requests with every date moved by (D - SAMPLES_DAY): sent on D - 3, services from D + 8,
periods and the clinical dates with them. Birth dates stay, so that the members still match the
demo roster. `gateway samples --date 2026-11-23` writes the fixed copies again, byte for byte.

X12: ISA09 (YYMMDD), GS04 and BHT04 (CCYYMMDD), every DTP date (D8, RD8) and the home health
start of care and certification period (CR6-02, CR6-04) move. An interchange
is identified by (ISA06, ISA13), and a control number reused for other content is refused with a
TA1 025, so ISA13/IEA02 and GS06/GE02 move too: the fixed number plus 1000 for each day, so that
the requests written for another day are new interchanges, not conflicting replays.

PAS bundles and JSON cases: every string that starts with an ISO date (YYYY-MM-DD, a dateTime or
instant keeps its time and offset) moves, except birthDate / birth_date.

A request's identity is its submitter and its own identifier (BHT03, Claim.identifier, a JSON
case's request_id); the same identifier with other content (other dates) is refused, never a
second case. So the requests written for another day carry identifiers of their own: the
identifier with "-D" and the shift in days appended.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from gateway.settings import DEMO_DIR

# The day the fixed copies are written for: the conformance suites' and tests' frozen clock.
SAMPLES_DAY = date(2026, 11, 23)
# Where the demo providers are (Connecticut, Massachusetts): "today" is their calendar day.
DEMO_TIME_ZONE = "America/New_York"
FOLDERS = {"x12": "*.x12", "pas": "*.json", "cases": "*.json"}
CONTROL_NUMBER_STEP = 1000  # per day of shift; the fixed numbers stay below it
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?=$|T)")
_UNSHIFTED_KEYS = frozenset({"birthDate", "birth_date"})


def _shift_ccyymmdd(value: str, days: int) -> str:
    return (datetime.strptime(value, "%Y%m%d").date() + timedelta(days=days)).strftime("%Y%m%d")


def _control_number(value: str, days: int, *, fixed_width: bool) -> str:
    """ISA13/IEA02 are nine digits, zero-padded; GS06/GE02 are one to nine digits."""
    number = (int(value) + days * CONTROL_NUMBER_STEP) % 10**9
    return f"{number:09d}" if fixed_width else str(number)


def redate_x12(text: str, days: int) -> str:
    """The interchange with its dates and control numbers moved by `days` days."""
    if days == 0:
        return text
    if not text.startswith("ISA") or len(text) < 106:
        raise ValueError("not an X12 interchange: it must start with a 106-character ISA")
    element, terminator = text[3], text[105]
    segments = text.split(terminator)
    for index, segment in enumerate(segments):
        lead = segment[: len(segment) - len(segment.lstrip())]
        fields = segment.lstrip().split(element)
        tag = fields[0]
        if tag == "ISA":
            day = datetime.strptime(fields[9], "%y%m%d").date() + timedelta(days=days)
            fields[9] = day.strftime("%y%m%d")
            fields[13] = _control_number(fields[13], days, fixed_width=True)
        elif tag == "IEA":
            fields[2] = _control_number(fields[2], days, fixed_width=True)
        elif tag == "GS":
            fields[4] = _shift_ccyymmdd(fields[4], days)
            fields[6] = _control_number(fields[6], days, fixed_width=False)
        elif tag == "GE":
            fields[2] = _control_number(fields[2], days, fixed_width=False)
        elif tag == "BHT" and len(fields) > 4 and fields[4]:
            fields[4] = _shift_ccyymmdd(fields[4], days)
            fields[3] = _day_identifier(fields[3], days)[:50]  # BHT03 is AN 1-50
        elif tag == "DTP" and len(fields) > 3:
            if fields[2] == "D8":
                fields[3] = _shift_ccyymmdd(fields[3], days)
            elif fields[2] == "RD8":
                fields[3] = "-".join(_shift_ccyymmdd(part, days) for part in fields[3].split("-"))
        elif tag == "CR6" and len(fields) > 2 and fields[2]:
            # Home health: the start of care (CR6-02) and the certification period (CR6-04).
            fields[2] = _shift_ccyymmdd(fields[2], days)
            if len(fields) > 4 and fields[3] == "RD8" and fields[4]:
                fields[4] = "-".join(_shift_ccyymmdd(part, days) for part in fields[4].split("-"))
        segments[index] = lead + element.join(fields)
    return terminator.join(segments)


def _redate_value(value: Any, days: int) -> Any:
    if isinstance(value, dict):
        return {
            key: item if key in _UNSHIFTED_KEYS else _redate_value(item, days)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_redate_value(item, days) for item in value]
    if isinstance(value, str):
        match = _ISO_DATE.match(value)
        if match:
            moved = date(*map(int, match.groups())) + timedelta(days=days)
            return moved.isoformat() + value[match.end() :]
    return value


_DAY_SUFFIX = re.compile(r"^(?P<base>.*)-D(?P<days>-?\d+)$")


def _day_identifier(value: str, days: int) -> str:
    """`value` for requests shifted by `days` more days: "REQ-1" -> "REQ-1-D365", and back."""
    if not value:
        return value
    match = _DAY_SUFFIX.match(value)
    base, shifted = (match["base"], int(match["days"])) if match else (value, 0)
    total = shifted + days
    return f"{base}-D{total}" if total else base


def _new_identifiers(document: Any, days: int) -> Any:
    """The request's own identifiers made the day's: Bundle.identifier and Claim.identifier of
    a PAS bundle, request_id of a JSON case."""
    if not isinstance(document, dict):
        return document
    if isinstance(document.get("request_id"), str):
        document["request_id"] = _day_identifier(document["request_id"], days)
    identifiers = []
    if document.get("resourceType") == "Bundle":
        identifiers.append(document.get("identifier"))
        for entry in document.get("entry") or []:
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if isinstance(resource, dict) and resource.get("resourceType") == "Claim":
                identifiers.extend(resource.get("identifier") or [])
    for identifier in identifiers:
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            identifier["value"] = _day_identifier(identifier["value"], days)
    return document


def redate_json(text: str, days: int) -> str:
    """A PAS bundle or JSON case with its dates moved by `days` days (birth dates stay) and
    identifiers of its own."""
    if days == 0:
        return text
    moved = _new_identifiers(_redate_value(json.loads(text), days), days)
    # The fixed copies are written with two-space indents and a final newline.
    return json.dumps(moved, indent=2, ensure_ascii=False) + "\n"


def write_samples(day: date, out: Path, source: Path = DEMO_DIR) -> list[Path]:
    """Write the demo requests of `source` dated for `day` under `out`; the paths written."""
    days = (day - SAMPLES_DAY).days
    written = []
    for folder, pattern in FOLDERS.items():
        for path in sorted((source / folder).glob(pattern)):
            text = path.read_text(encoding="utf-8")
            redated = redate_x12(text, days) if folder == "x12" else redate_json(text, days)
            target = out / folder / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(redated, encoding="utf-8")
            written.append(target)
    return written


def demo_today() -> date:
    """Today where the demo providers are, on the gateway's clock (GATEWAY_FROZEN_TIME if set)."""
    from gateway.domain.local_dates import local_date
    from gateway.settings import get_settings

    now = get_settings().frozen_time or datetime.now(UTC)
    return local_date(now, DEMO_TIME_ZONE)


def samples_command(
    on: Annotated[
        datetime | None,
        typer.Option(
            "--date",
            formats=["%Y-%m-%d"],
            help="The day the requests are for (YYYY-MM-DD): they are sent 3 days before it, "
            "for services from 8 days after it. Default: today in America/New_York, where the "
            "demo providers are, on the gateway's clock (GATEWAY_FROZEN_TIME when set).",
        ),
    ] = None,
    out: Annotated[
        Path,
        typer.Option(help="Folder to write x12/, pas/ and cases/ into (relative: to here)."),
    ] = Path("var") / "samples",
) -> None:
    """Write the demo requests (278s, PAS bundles, JSON cases) dated relative to a day.

    The README walk-through sends these. The fixed copies in samples/ are dated for the
    conformance clock (2026-11-23); these are dated for today, so that the demo gives the same
    answers on any day.
    """
    day = on.date() if on else demo_today()
    written = write_samples(day, out)
    typer.echo(f"{len(written)} sample requests for {day.isoformat()} written to {out}/")
    for folder in FOLDERS:
        names = sorted(p.name for p in written if p.parent.name == folder)
        typer.echo(f"  {folder}/: {', '.join(names)}")
