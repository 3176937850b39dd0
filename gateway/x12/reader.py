"""A valid 278 request (005010X217, BHT02 13) read into the canonical `gateway.domain.case.Case`.

Loops read: 2010A UMO (payer id), 2010B requester (+REF/N3/N4/PER/PRV), 2010C subscriber
(NM1*IL, DMG, N3/N4), 2010D dependent, 2000E patient event (TRN, UM, REF, DTP, HI, HSD, CRC,
CL1, PWK, MSG), 2010EA providers (DK ordering, SJ rendering, FA/77 facility) and 2000F services
(TRN, UM, DTP*472, SV1/SV2, HSD, PWK, MSG, 2010F). What a 278 response must echo (names, ids,
traces, UM) is kept in `Case.submission.echo["x12"]`.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from typing import Any

from gateway.domain.case import (
    Address,
    Attachment,
    Case,
    ChangeReference,
    Channel,
    ClinicalFacts,
    Diagnosis,
    Dosing,
    Gender,
    Member,
    Program,
    Provider,
    ServiceLine,
    Submission,
    Urgency,
)
from gateway.x12.codelists import HI_PRINCIPAL
from gateway.x12.tokens import Delimiters, Segment
from gateway.x12.validate import grammar_for, validate_transaction

ICD10_QUALIFIERS = frozenset({"ABK", "ABF", "ABJ", "ABN", "APR"})
ICD9_QUALIFIERS = frozenset({"BK", "BF", "BJ", "BN", "PR"})
_GENDER = {"F": Gender.FEMALE, "M": Gender.MALE, "U": Gender.UNKNOWN}
_ROLES = {"DK": "ordering", "SJ": "rendering", "FA": "facility", "77": "facility"}
_FACT_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
# The HL level of each map loop (2000A/2010A the UMO ... 2000F/2010F a service line), by the
# loop id's letter; loops outside any level (HEADER, ST_LOOP) leave the level as it is.
_LEVELS = {"A": "20", "B": "21", "C": "22", "D": "23", "E": "EV", "F": "SS"}


def _level_of(loop_id: str | None, level: str) -> str:
    if loop_id is not None and loop_id[:4] in ("2000", "2010") and len(loop_id) > 4:
        return _LEVELS.get(loop_id[4], level)
    return level


# Companion-guide keys that name a fact the pathway knows under another name.
FACT_ALIASES = {
    "HER2": "her2_status",
    "ER": "er_status",
    "PR": "pr_status",
    "ECOG": "ecog",
    "STAGE": "stage",
    "LINE": "line_of_therapy",
}
_DOSING_KEYS = {"DOSE": "dose", "SCHEDULE": "schedule", "ROUTE": "route"}
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+")
# MSG keys whose value must be a measure (companion guide section 4), and what it measures.
_MEASURES = {"HEIGHT_CM": ("height_cm", "centimetres"), "WEIGHT_KG": ("weight_kg", "kilograms")}


class ValueFault(ValueError):
    """A value that passes the X12 syntax but cannot be read as what the companion guide says it
    is (MSG HEIGHT_CM=abc, PROGRAM=XYZ). Answered with an AAA naming `where` and `expected`;
    the value itself is not repeated (it may be PHI)."""

    def __init__(self, where: str, expected: str):
        super().__init__(f"{where} {expected}")
        self.where = where
        self.expected = expected


def icd_with_dot(code: str, qualifier: str) -> str:
    """ICD codes travel without their dot in X12 (C50911); the Case keeps it (C50.911)."""
    bare = code.replace(".", "").strip().upper()
    if qualifier in ICD9_QUALIFIERS and bare.startswith("E"):
        cut = 4  # ICD-9-CM external cause codes: E849.0
    else:
        cut = 3
    return bare if len(bare) <= cut else f"{bare[:cut]}.{bare[cut:]}"


def parse_period(fmt: str, value: str) -> tuple[date | None, date | None]:
    """DTP02/DTP03: D8 CCYYMMDD or RD8 CCYYMMDD-CCYYMMDD."""
    try:
        if fmt == "RD8" and "-" in value:
            start, end = value.split("-", 1)
            return _d8(start), _d8(end)
        if fmt == "D8":
            day = _d8(value)
            return day, day
    except ValueError:
        pass
    return None, None


def _d8(value: str) -> date:
    return date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def _value(text: str) -> Any:
    upper = text.strip().upper()
    if re.fullmatch(r"-?[0-9]+", upper):
        return int(upper)
    if re.fullmatch(r"-?[0-9]*\.[0-9]+", upper):
        return float(upper)
    if upper in ("Y", "YES", "TRUE"):
        return True
    if upper in ("N", "NO", "FALSE"):
        return False
    return text.strip().lower()


def parse_msg_pairs(text: str) -> dict[str, str] | None:
    """`KEY=VALUE;KEY=VALUE` (companion guide); None when the text is free prose."""
    pairs: dict[str, str] = {}
    for part in text.split(";"):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not _FACT_KEY.fullmatch(key.strip()):
            return None
        pairs[key.strip().upper()] = value.strip()
    return pairs or None


class _Party:
    """An NM1 loop being read (provider or member) with its N3/N4/PER/PRV/REF/DMG."""

    def __init__(self, nm1: Segment):
        self.nm1 = nm1
        self.address: Address | None = None
        self.refs: dict[str, str] = {}
        self.phone = self.fax = self.email = self.contact = self.taxonomy = None
        self.birth: date | None = None
        self.gender = Gender.UNKNOWN
        self.relationship: str | None = None

    def provider(self, role: str) -> Provider:
        nm1 = self.nm1
        person = nm1.get(2) == "1"
        npi = nm1.get(9) if nm1.get(8) == "XX" else None
        tin = self.refs.get("EI") or (nm1.get(9) if nm1.get(8) == "24" else None)
        return Provider(
            role=role,
            entity_code=nm1.get(1),
            organization_name=None if person else (nm1.get(3) or None),
            last_name=nm1.get(3) or None if person else None,
            first_name=nm1.get(4) or None if person else None,
            npi=npi or None,
            tin=tin or None,
            taxonomy=self.taxonomy,
            address=self.address,
            phone=self.phone,
            fax=self.fax,
            email=self.email,
            # An e-mail address sent in PER (EM) asks for the e-mail notices (DOMAIN.md:
            # "opt-in e-mail notification on every case status change").
            email_opt_in=bool(self.email),
            contact_name=self.contact,
        )

    def member(self, member_id: str) -> Member:
        nm1 = self.nm1
        return Member(
            member_id=member_id,
            last_name=nm1.get(3) or None,
            first_name=nm1.get(4) or None,
            middle_name=nm1.get(5) or None,
            birth_date=self.birth,
            gender=self.gender,
            phone=self.phone,
            address=self.address,
            relationship=self.relationship,
        )


class _Line:
    def __init__(self) -> None:
        self.trn: list[list[str]] = []
        self.um: list[str] = []
        self.sv1: list[str] | None = None
        self.sv2: list[str] | None = None
        self.dtp: list[str] | None = None
        self.hsd: str | None = None
        self.msgs: list[str] = []
        self.providers: list[_Party] = []


def read_request(
    segments: list[Segment],
    delims: Delimiters,
    *,
    submitter: str | None,
    received_at: datetime,
    content_hash: str | None = None,
    control: dict[str, str] | None = None,
    faults: list[ValueFault] | None = None,
    loops: list[str | None] | None = None,
) -> Case:
    """Map one validated 278 request transaction set (ST..SE) to a Case.

    `loops` is the map loop of each segment as the validator matched it
    (TransactionReport.loops); without it the transaction is validated here to learn them.
    A value that cannot be read (ValueFault) is left out of the Case and appended to `faults`
    when a list is given; without one, the first such fault is raised."""
    found: list[ValueFault] = [] if faults is None else faults
    if loops is None:
        loops = validate_transaction(segments, delims, grammar_for("13")).loops
    comp = delims.component
    level = ""
    party: _Party | None = None
    umo: Segment | None = None
    requester: _Party | None = None
    subscriber: _Party | None = None
    dependent: _Party | None = None
    event_providers: list[_Party] = []
    lines: list[_Line] = []
    bht: Segment | None = None
    event: dict[str, Any] = {
        "trn": [],
        "um": [],
        "refs": {},
        "msgs": [],
        "hsd": None,
        "home": {},
    }
    diagnoses: list[Diagnosis] = []
    attachments: list[Attachment] = []
    start = end = None
    onset: date | None = None
    for seg, loop_id in zip(segments, loops, strict=True):
        sid = seg.seg_id
        level = _level_of(loop_id, level)
        if sid == "BHT":
            bht = seg
        elif sid == "HL":
            party = None
            if level == "SS":
                lines.append(_Line())
        elif sid == "NM1":
            party = _Party(seg)
            if level == "20":
                umo, party = seg, None
            elif level == "21":
                requester = party
            elif level == "22":
                subscriber = party
            elif level == "23":
                dependent = party
            elif level == "EV":
                event_providers.append(party)
            elif level == "SS" and lines:
                lines[-1].providers.append(party)
        elif party is not None and sid in ("N3", "N4", "PER", "PRV", "REF", "DMG", "INS"):
            _party_detail(party, seg)
        elif level == "EV":
            s, e, o = _event_segment(seg, comp, event, diagnoses, attachments)
            start, end = s or start, e or end
            onset = o or onset
        elif level == "SS" and lines:
            _line_segment(seg, lines[-1], attachments)
    case = _assemble(
        bht=bht,
        umo=umo,
        requester=requester,
        subscriber=subscriber,
        dependent=dependent,
        providers=event_providers,
        lines=lines,
        event=event,
        diagnoses=diagnoses,
        attachments=attachments,
        start=start,
        end=end,
        onset=onset,
        comp=comp,
        submitter=submitter,
        received_at=received_at,
        content_hash=content_hash,
        control=control or {},
        faults=found,
    )
    if faults is None and found:
        raise found[0]
    return case


def _party_detail(party: _Party, seg: Segment) -> None:
    sid = seg.seg_id
    if sid == "N3":
        party.address = Address(lines=[v for v in (seg.get(1), seg.get(2)) if v])
    elif sid == "N4":
        lines = party.address.lines if party.address else []
        party.address = Address(
            lines=lines,
            city=seg.get(1) or None,
            state=seg.get(2) or None,
            postal_code=seg.get(3) or None,
            country=seg.get(4) or None,
        )
    elif sid == "PER":
        party.contact = seg.get(2) or party.contact
        for qual_at in (3, 5, 7):
            qual, number = seg.get(qual_at), seg.get(qual_at + 1)
            if qual == "TE":
                party.phone = number
            elif qual == "FX":
                party.fax = number
            elif qual == "EM":
                party.email = number
    elif sid == "PRV":
        party.taxonomy = seg.get(3) or None
    elif sid == "REF":
        party.refs[seg.get(1)] = seg.get(2)
    elif sid == "DMG":
        if seg.get(1) == "D8":
            party.birth, _ = parse_period("D8", seg.get(2))
        party.gender = _GENDER.get(seg.get(3), Gender.UNKNOWN)
    elif sid == "INS":
        party.relationship = seg.get(2) or None


def _event_segment(
    seg: Segment,
    comp: str,
    event: dict[str, Any],
    diagnoses: list[Diagnosis],
    attachments: list[Attachment],
) -> tuple[date | None, date | None, date | None]:
    sid = seg.seg_id
    if sid == "TRN":
        event["trn"].append(seg.elements[:4])
    elif sid == "UM":
        event["um"] = seg.elements
    elif sid == "REF":
        event["refs"][seg.get(1)] = seg.get(2)
    elif sid == "DTP":
        first, last = parse_period(seg.get(2), seg.get(3))
        qualifier = seg.get(1)
        if qualifier == "AAH":  # event date (D8) or span (RD8): the requested treatment period
            return first, last if seg.get(2) == "RD8" else None, None
        if qualifier == "435":  # admission
            return first, None, None
        if qualifier == "096":  # discharge
            return None, last, None
        if qualifier == "431":  # onset of the current illness
            return None, None, first
    elif sid == "HI":
        for value in seg.elements:
            parts = value.split(comp)
            qualifier, code = parts[0], parts[1] if len(parts) > 1 else ""
            if not code or qualifier not in ICD10_QUALIFIERS | ICD9_QUALIFIERS:
                continue
            when = parse_period("D8", parts[3])[0] if len(parts) > 3 and parts[2] == "D8" else None
            diagnoses.append(
                Diagnosis(
                    code=icd_with_dot(code, qualifier),
                    primary=qualifier in HI_PRINCIPAL,
                    onset_date=when,
                )
            )
    elif sid == "HSD":
        event["hsd"] = seg.elements
    elif sid == "CRC":
        event.setdefault("crc", []).append(seg.elements)
    elif sid == "CL1":
        event["cl1"] = seg.elements
    elif sid == "CR6":  # home health care information: prognosis, start of care
        start = parse_period("D8", seg.get(2))[0] if seg.get(2) else None
        event["home"].update(
            {"prognosis": seg.get(1) or None, "start_of_care": start and start.isoformat()}
        )
    elif sid == "CR5":  # home oxygen therapy: equipment, flow rate, use
        event["home"].update(
            {
                "oxygen_equipment": seg.get(3) or None,
                "oxygen_flow_rate": seg.get(6) or None,
                "oxygen_daily_use_count": seg.get(7) or None,
                "oxygen_use_hours": seg.get(8) or None,
            }
        )
    elif sid == "PWK":
        attachments.append(_attachment(seg))
    elif sid == "MSG":
        event["msgs"].append(seg.get(1))
    return None, None, None


def _attachment(seg: Segment) -> Attachment:
    return Attachment(
        report_type=seg.get(1) or None,
        transmission=seg.get(2) or None,
        control_number=seg.get(6) or None,
        description=seg.get(7) or None,
    )


def _line_segment(seg: Segment, line: _Line, attachments: list[Attachment]) -> None:
    sid = seg.seg_id
    if sid == "TRN":
        line.trn.append(seg.elements[:4])
    elif sid == "UM":
        line.um = seg.elements
    elif sid == "DTP" and seg.get(1) == "472":
        line.dtp = seg.elements
    elif sid == "SV1":
        line.sv1 = seg.elements
    elif sid == "SV2":
        line.sv2 = seg.elements
    elif sid == "HSD":
        line.hsd = "*".join(seg.elements)
    elif sid == "PWK":
        attachments.append(_attachment(seg))
    elif sid == "MSG":
        line.msgs.append(seg.get(1))


def _place(um: list[str], comp: str) -> str | None:
    facility = um[3].split(comp) if len(um) > 3 and um[3] else []
    if len(facility) > 1 and facility[1] == "B":
        return facility[0] or None
    return None


def _facts(
    messages: list[str],
    facts: ClinicalFacts,
    case_fields: dict[str, Any],
    faults: list[ValueFault],
) -> ClinicalFacts:
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for text in messages:
        pairs = parse_msg_pairs(text)
        for key, raw in (pairs or {}).items():
            if key in _MEASURES:
                name, unit = _MEASURES[key]
                measure = _measure(raw)
                if measure is None:
                    faults.append(ValueFault(f"MSG {key}", f"must be a number of {unit}"))
                else:
                    extra[name] = measure
            elif key in ("COMORBIDITIES", "PRIOR_TREATMENTS"):
                extra[key.lower()] = [v.strip().lower() for v in raw.split(",") if v.strip()]
            elif key == "CLINICAL_TRIAL":
                extra["clinical_trial"] = bool(_value(raw))
            elif key == "PROGRAM":
                program = raw.strip().upper()
                if program in {member.value for member in Program}:
                    case_fields["program"] = Program(program)
                else:
                    choices = ", ".join(member.value for member in Program)
                    faults.append(ValueFault("MSG PROGRAM", f"must be one of {choices}"))
            elif key == "SAME_TIN":
                case_fields["same_tin_billing"] = bool(_value(raw))
            elif key == "RELATED_CASE":
                case_fields["related_case_id"] = raw.strip()
            else:
                values[FACT_ALIASES.get(key, key.lower())] = _value(raw)
    merged = _add_facts(facts, values, "x12:MSG")
    for name, value in extra.items():
        setattr(merged, name, value)
        merged.sources[name] = "x12:MSG"
    return merged


def _add_facts(facts: ClinicalFacts, values: dict[str, Any], source: str) -> ClinicalFacts:
    """`ClinicalFacts.merged` in place: the reader owns the facts it builds for one
    transaction, so the deep copy merged makes (a third of reading a 278) buys nothing."""
    for name, value in values.items():
        if value is None or value == "":
            continue
        facts.values[name] = value
        facts.sources[name] = source
    return facts


def _measure(raw: str) -> float | None:
    """A positive decimal (HEIGHT_CM=165, WEIGHT_KG=70.5); None for anything else (NaN, inf and
    exponents included: they would not survive the store's JSON)."""
    text = raw.strip()
    if not _NUMBER.fullmatch(text):
        return None
    value = float(text)
    return value if value > 0 else None


def _units(values: list[str] | None, at: int, where: str, faults: list[ValueFault]) -> float | None:
    """SV104 / SV205 service units: X12 type R, which the validator has checked; a value that
    still does not read as a finite number is a fault, not a crash."""
    if not values or len(values) <= at or not values[at]:
        return None
    try:
        units = float(values[at])
    except ValueError:
        units = float("nan")
    if not math.isfinite(units):
        faults.append(ValueFault(where, "must be a number of units"))
        return None
    return units


def _visits(hsd: str | None) -> int | None:
    """Home health visits a 2000F HSD counts (HSD01 VS, HSD02 the number of visits)."""
    parts = (hsd or "").split("*")
    if len(parts) > 1 and parts[0] == "VS" and re.fullmatch(r"[0-9]+", parts[1]):
        return int(parts[1]) or None
    return None


def _service_line(
    index: int, line: _Line, comp: str, default_pos: str | None, faults: list[ValueFault]
) -> tuple[ServiceLine, dict[str, Any]]:
    code = code_system = description = unit_type = None
    modifiers: list[str] = []
    units: float | None = None
    pos = _place(line.um, comp)
    if line.sv1:
        parts = line.sv1[0].split(comp)
        code, code_system = parts[1] if len(parts) > 1 else parts[0], parts[0]
        modifiers = [m for m in parts[2:6] if m]
        description = parts[6] if len(parts) > 6 and parts[6] else None
        unit_type = line.sv1[2] if len(line.sv1) > 2 and line.sv1[2] else None
        units = _units(line.sv1, 3, "SV104", faults)
        pos = (line.sv1[4] if len(line.sv1) > 4 and line.sv1[4] else None) or pos
    elif line.sv2:
        parts = line.sv2[1].split(comp) if len(line.sv2) > 1 and line.sv2[1] else []
        if len(parts) > 1:
            code, code_system = parts[1], parts[0]
            modifiers = [m for m in parts[2:6] if m]
        else:
            code, code_system = line.sv2[0], "REV"
        unit_type = line.sv2[3] if len(line.sv2) > 3 and line.sv2[3] else None
        units = _units(line.sv2, 4, "SV205", faults)
    start = end = None
    if line.dtp and len(line.dtp) > 2:
        start, end = parse_period(line.dtp[1], line.dtp[2])
        end = end if line.dtp[1] == "RD8" else None  # D8 is the day service starts
    dosing_values: dict[str, str] = {}
    other: list[str] = []
    for text in line.msgs:
        pairs = parse_msg_pairs(text) or {}
        dosing_values |= {_DOSING_KEYS[k]: v for k, v in pairs.items() if k in _DOSING_KEYS}
        if not pairs:
            other.append(text)
    system = {"HC": "HCPCS", "N4": "NDC", "IV": "IV", "ER": "ER", "WK": "WK", "ZZ": "ZZ"}
    service = ServiceLine(
        sequence=index,
        code=code or "",
        code_system=system.get(code_system or "", "HCPCS") if code_system != "REV" else "REV",
        modifiers=modifiers,
        description=description or (other[0] if other else None),
        units=units,
        unit_type=unit_type,
        start_date=start,
        end_date=end,
        place_of_service=pos or default_pos,
        dosing=Dosing(**dosing_values) if dosing_values else None,
        trace_number=line.trn[0][1] if line.trn and len(line.trn[0]) > 1 else None,
        quantity_frequency=line.hsd,
        visits=_visits(line.hsd),
        source_ref=str(index),
    )
    echo = {
        "trn": line.trn,
        "um": line.um,
        "sv1": line.sv1,
        "sv2": line.sv2,
        "dtp": line.dtp,
        "providers": [p.nm1.elements for p in line.providers],
    }
    return service, echo


def _assemble(
    *,
    bht: Segment | None,
    umo: Segment | None,
    requester: _Party | None,
    subscriber: _Party | None,
    dependent: _Party | None,
    providers: list[_Party],
    lines: list[_Line],
    event: dict[str, Any],
    diagnoses: list[Diagnosis],
    attachments: list[Attachment],
    start: date | None,
    end: date | None,
    onset: date | None,
    comp: str,
    submitter: str | None,
    received_at: datetime,
    content_hash: str | None,
    control: dict[str, str],
    faults: list[ValueFault],
) -> Case:
    um: list[str] = event["um"]
    place = _place(um, comp)
    member_id = subscriber.nm1.get(9) if subscriber else ""
    member = subscriber.member(member_id) if subscriber else Member(member_id="")
    patient, holder = (dependent.member(member_id), member) if dependent else (member, None)
    roles: dict[str, Provider] = {}
    for party in providers:
        role = _ROLES.get(party.nm1.get(1))
        if role and (role not in roles or party.nm1.get(1) == "FA"):
            roles[role] = party.provider(role)
    requester_model = requester.provider("requester") if requester else None
    if "ordering" not in roles and requester and requester.nm1.get(1) == "1P":
        roles["ordering"] = requester.provider("ordering")  # the requesting physician orders
    services = [
        _service_line(i, line, comp, place, faults) for i, line in enumerate(lines, start=1)
    ]
    hsd = event.get("hsd")
    case_fields: dict[str, Any] = {}
    facts = _facts(event["msgs"], ClinicalFacts(), case_fields, faults)
    for line in lines:
        facts = _facts([m for m in line.msgs if not _only_dosing(m)], facts, case_fields, faults)
    if onset:
        facts = _add_facts(facts, {"onset_date": onset.isoformat()}, "x12:DTP*431")
    home = {name: value for name, value in event["home"].items() if value is not None}
    if home:
        facts = _add_facts(facts, home, "x12:CR5/CR6")
    level_of_service = um[5] if len(um) > 5 else ""
    traces = [t[1] for t in event["trn"] if len(t) > 1]
    certification = um[1] if len(um) > 1 and um[1] else "I"
    if bht and bht.get(2) == "01":
        certification = "3"  # BHT02 01: the whole transaction cancels a certification
    refs = event["refs"]
    reference = (
        ChangeReference(qualifier="BB", value=refs["BB"])
        if refs.get("BB")
        else ChangeReference(qualifier="NT", value=refs["NT"])
        if refs.get("NT")
        else None
    )
    echo = {
        "bht02": bht.get(2) if bht else "",
        "bht03": bht.get(3) if bht else "",
        "umo": umo.elements if umo else [],
        "requester": requester.nm1.elements if requester else [],
        "subscriber": subscriber.nm1.elements if subscriber else [],
        "dependent": dependent.nm1.elements if dependent else None,
        "event_trn": event["trn"],
        "event_um": um,
        "event_refs": event["refs"],
        "event_hsd": hsd,
        "providers": [p.nm1.elements for p in providers],
        "services": [echo for _, echo in services],
        "control": control,
        "component": comp,
    }
    return Case(
        payer_id=umo.get(9) if umo else None,
        payer_name=umo.get(3) or None if umo else None,
        member=patient,
        subscriber=holder,
        requester=requester_model,
        ordering=roles.get("ordering"),
        rendering=roles.get("rendering"),
        facility=roles.get("facility"),
        request_category=um[0] if um and um[0] else "HS",
        certification_type=certification,
        service_type=um[2] if len(um) > 2 and um[2] else None,
        place_of_service=place,
        start_date=start,
        end_date=end,
        diagnoses=diagnoses,
        service_lines=[line for line, _ in services],
        facts=facts,
        urgency=Urgency.URGENT if level_of_service in ("U", "03") else Urgency.STANDARD,
        attachments=attachments,
        messages=list(event["msgs"]),
        change_reference=reference,
        submission=Submission(
            channel=Channel.X12,
            submitter_id=submitter,
            received_at=received_at,
            bht_reference=bht.get(3) if bht else None,
            trace_numbers=traces,
            content_hash=content_hash,
            echo={"x12": echo},
        ),
        **case_fields,
    )


def _only_dosing(text: str) -> bool:
    pairs = parse_msg_pairs(text)
    return pairs is None or all(k in _DOSING_KEYS for k in pairs)
