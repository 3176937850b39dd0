"""What a PAS request says about home health and DME, read into the canonical case the way the
X12 reader reads its 278 (DOMAIN.md: Home Health and DME; nothing may be lost between channels).

- rental or purchase: X12 SV101 modifier RR / NU; PAS item.modifier RR / NU, or the
  DeviceRequest's `parameter` (rental, purchase).
- months of rental: X12 SV104 of a monthly rental; PAS item.quantity, or the DeviceRequest's
  occurrenceTiming (boundsDuration or count in months) or `months` parameter.
- delivered already: X12 MSG ALREADY_DELIVERED=Y; PAS the same freeFormMessage, or the
  DeviceRequest's `delivered` parameter.
- hospital discharge pending: X12 MSG HOSPITAL_DISCHARGE_PENDING=Y; PAS supportingInfo
  dischargeDates (the planned date), or the same freeFormMessage.
- start of care and prognosis: X12 CR6-02, CR6-01; PAS the Claim's homeHealthCareInformation.
- visits: X12 SV104 of a home health service; PAS item.quantity, or the ServiceRequest's
  quantityQuantity or occurrenceTiming repeat.count.
- other facts (PHYSICIAN_ORDER=Y, OXYGEN_SATURATION=86, MOBILITY_LIMITED=Y): X12 MSG KEY=VALUE
  pairs; PAS supportingInfo freeFormMessage with the same pairs, or an oxygen saturation
  Observation (LOINC 2708-6, 59408-5).

The discipline of a home health visit and what a line's quantity counts come from the program's
items (gateway.domain.criteria.complete_lines), the same for both channels.
"""

from __future__ import annotations

import re
from typing import Any

from gateway.domain.case import ServiceLine
from gateway.fhir import constants as k
from gateway.fhir.bundle import BundleIndex, Entry
from gateway.fhir.elements import codes, date_of, ext

Resource = dict[str, Any]
SOURCE = "pas:homecare"
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# LOINC: oxygen saturation in arterial blood, and by pulse oximetry.
_OXYGEN_SATURATION = frozenset({"2708-6", "59408-5"})
_MONTHS = frozenset({"mo", "month", "months", "a"})  # UCUM `mo`; FHIR Timing periodUnit `mo`


def fact_pairs(text: str) -> dict[str, Any] | None:
    """`KEY=VALUE;KEY=VALUE` as the X12 companion guide's MSG carries them (section 4): keys in
    lower case, numbers as numbers, Y/YES/TRUE and N/NO/FALSE as booleans, other values in lower
    case; None when the text is prose (it stays a message)."""
    values: dict[str, Any] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, raw = part.partition("=")
        if not sep or not _KEY.fullmatch(key.strip()):
            return None
        values[key.strip().lower()] = _value(raw)
    return values or None


def _value(raw: str) -> Any:
    text = raw.strip()
    upper = text.upper()
    if re.fullmatch(r"-?[0-9]+", upper):
        return int(upper)
    if re.fullmatch(r"-?[0-9]*\.[0-9]+", upper):
        return float(upper)
    if upper in ("Y", "YES", "TRUE"):
        return True
    if upper in ("N", "NO", "FALSE"):
        return False
    return text.lower()


def claim_facts(index: BundleIndex, claim_entry: Entry, messages: list[str]) -> dict[str, Any]:
    """Case-level home health / DME facts of a PAS Claim."""
    claim = claim_entry.resource
    facts: dict[str, Any] = {}
    for text in messages:
        facts.update(fact_pairs(text) or {})
    home = ext(claim, k.EXT_HOME_HEALTH)
    for related in [r for r in _list(claim.get("related")) if _is(r)]:
        # A PASClaimUpdate need not repeat the start of care: the claim it updates, when the
        # bundle carries it (the IG's Homecare update example does), still says it.
        prior = index.resource(related.get("claim"), claim_entry) if home is None else None
        home = ext(prior, k.EXT_HOME_HEALTH) if prior else home
    if home:
        parts = {sub.get("url"): sub for sub in _list(home.get("extension")) if _is(sub)}
        start = date_of(_dict(parts.get("date")).get("valueDate"))
        prognosis = codes(_dict(parts.get("prognosis")).get("valueCodeableConcept"))
        if start:
            facts["start_of_care"] = start.isoformat()
        if prognosis:
            facts["prognosis"] = prognosis[0]
    for info in _list(claim.get("supportingInfo")):
        if not _is(info) or "dischargeDates" not in codes(info.get("category")):
            continue
        # A planned discharge date of the hospital stay the equipment or care follows.
        period = _dict(info.get("timingPeriod"))
        planned = date_of(info.get("timingDate")) or date_of(period.get("end"))
        planned = planned or date_of(period.get("start"))
        facts["hospital_discharge_pending"] = True
        if planned:
            facts["discharge_date"] = planned.isoformat()
    for entry in index.of_type("Observation"):
        observation = entry.resource
        if not _OXYGEN_SATURATION & set(codes(observation.get("code"), k.CS_LOINC)):
            continue
        value = _dict(observation.get("valueQuantity")).get("value")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            facts.setdefault("oxygen_saturation", value)
    return facts


def line_details(index: BundleIndex, claim_entry: Entry, item: Resource, line: ServiceLine) -> None:
    """An item's DeviceRequest or ServiceRequest (extension-requestedService) completes its line:
    rental or purchase, months of rental, delivered already, visits, frequency."""
    modifiers = {m.upper() for m in line.modifiers}
    if "RR" in modifiers:
        line.rental = True
    elif "NU" in modifiers:
        line.rental = False
    service = ext(item, k.EXT_REQUESTED_SERVICE) or {}
    request = _dict(index.resource(service.get("valueReference"), claim_entry))
    kind = request.get("resourceType")
    if kind == "DeviceRequest":
        _device(request, line)
    elif kind == "ServiceRequest":
        _service(request, line)


def _device(request: Resource, line: ServiceLine) -> None:
    for parameter in _list(request.get("parameter")):
        if not _is(parameter):
            continue
        concept = _dict(parameter.get("code"))
        names = {c.lower() for c in codes(concept)} | {str(concept.get("text") or "").lower()}
        value_codes = {c.upper() for c in codes(parameter.get("valueCodeableConcept"))}
        value_text = str(_dict(parameter.get("valueCodeableConcept")).get("text") or "").lower()
        if names & {"rr", "rental"} or value_codes & {"RR"} or value_text == "rental":
            if line.rental is None:
                line.rental = parameter.get("valueBoolean", True) is not False
        elif names & {"nu", "purchase"} or value_codes & {"NU"} or value_text == "purchase":
            if line.rental is None:
                line.rental = parameter.get("valueBoolean", True) is False
        if names & {"months", "rental-months", "rental months"}:
            months = _number(_dict(parameter.get("valueQuantity")).get("value"))
            if months:
                line.rental_months = int(months)
        if names & {"delivered", "already-delivered", "already delivered"}:
            if isinstance(parameter.get("valueBoolean"), bool):
                line.already_delivered = parameter["valueBoolean"]
    repeat = _dict(_dict(request.get("occurrenceTiming")).get("repeat"))
    bounds = _dict(repeat.get("boundsDuration"))
    unit = str(bounds.get("code") or bounds.get("unit") or "").lower()
    if line.rental_months is None and unit in _MONTHS and _number(bounds.get("value")):
        line.rental_months = int(_number(bounds.get("value")) or 0)
    if line.rental_months is None and str(repeat.get("periodUnit")) == "mo":
        count = _number(repeat.get("count"))
        if count:
            line.rental_months = int(count)
    if line.units is None and line.rental_months:
        line.units = float(line.rental_months)


def _service(request: Resource, line: ServiceLine) -> None:
    quantity = _number(_dict(request.get("quantityQuantity")).get("value"))
    repeat = _dict(_dict(request.get("occurrenceTiming")).get("repeat"))
    count = _number(repeat.get("count"))
    visits = quantity or count
    if visits and line.visits is None:
        line.visits = int(visits)
    if line.units is None and visits:
        line.units = float(visits)
    frequency, period = repeat.get("frequency"), repeat.get("period")
    unit = repeat.get("periodUnit")
    if line.quantity_frequency is None and frequency and period and unit:
        line.quantity_frequency = f"{frequency} per {period} {unit}"


def _dict(value: Any) -> Resource:
    """An element that should be an object; anything else reads as empty (the reader rejects
    nothing: the profile rules say what is malformed)."""
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _is(value: Any) -> bool:
    return isinstance(value, dict)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        return None
    return float(value)
