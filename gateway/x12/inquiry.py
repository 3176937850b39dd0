"""The 278 inquiry (005010X215): what an accepted inquiry asks, the stored cases it names, and
the X215 response that tells the requester where those requests stand.

An inquiry names the request asked about by the submitter's own trace (2000E TRN02, or BHT03 of
the original request) or by the certification number the gateway issued (2000E REF BB; REF NT
the gateway's case reference), together with the requester's NPI (2010B), the member's id
(2010C NM109) and, when given, the birth date (DMG02). A stored case matches when all of these
agree and it was submitted by the same trading partner (ISA06): a partner never learns of
another's cases. The response echoes the hierarchy and, per matching case, gives the current
HCR (review action, certification number), REF NT (the case) and the certified period in DTP.
When nothing matches, the one 2000E carries AAA T5 (certification information missing: no
request on file for these keys, follow-up C: correct and resubmit) and no HCR: never a made-up
decision (docs/x12-companion-guide.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from gateway.domain.case import Case, Determination
from gateway.x12.envelope import INQUIRY
from gateway.x12.numbers import TRACE, ControlNumbers
from gateway.x12.outbound import (
    InterchangeBuilder,
    ReceivedHeader,
    clean,
    seg,
    transaction_set,
)
from gateway.x12.tokens import Delimiters, Segment
from gateway.x12.writer import trace_company


@dataclass
class X12Inquiry:
    """The keys of one accepted X215 inquiry (ST..SE), with the request's names to echo."""

    bht03: str
    requester_npi: str | None = None
    member_id: str | None = None
    birth_date: date | None = None
    traces: list[str] = field(default_factory=list)  # 2000E TRN02 (TRN01 1)
    trace_companies: list[str] = field(default_factory=list)  # their TRN03, echoed in TRN*2
    auth_numbers: list[str] = field(default_factory=list)  # 2000E REF BB
    case_refs: list[str] = field(default_factory=list)  # 2000E REF NT
    umo: list[str] = field(default_factory=list)  # 2010A NM1 elements
    requester: list[str] = field(default_factory=list)  # 2010B NM1 elements
    subscriber: list[str] = field(default_factory=list)  # 2010C NM1 elements
    um: list[str] = field(default_factory=list)  # 2000E UM elements
    component: str = ":"

    @property
    def names_a_request(self) -> bool:
        return bool(self.traces or self.auth_numbers or self.case_refs)


# AAA03 (X12 901) in 2000E when no stored request answers the inquiry: T5, certification
# information missing (the UMO holds no certification for these keys).
NOT_FOUND = "T5"

# (case, its current determination) for every stored request an inquiry names.
Lookup = Callable[[X12Inquiry, str], list[tuple[Case, Determination]]]


def _d8(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y%m%d").date()
    except ValueError:
        return None


def read_inquiry(segments: list[Segment], delims: Delimiters) -> X12Inquiry:
    """The keys of an inquiry the validator accepted (so the hierarchy is the map's)."""
    bht03 = next((s.get(3) for s in segments[:3] if s.seg_id == "BHT"), "")
    inquiry = X12Inquiry(bht03=bht03, component=delims.component)
    level = None
    for s in segments:
        if s.seg_id == "HL":
            level = s.get(3)
        elif s.seg_id == "NM1" and level == "20" and not inquiry.umo:
            inquiry.umo = list(s.elements)
        elif s.seg_id == "NM1" and level == "21" and not inquiry.requester:
            inquiry.requester = list(s.elements)
            if s.get(8) == "XX":
                inquiry.requester_npi = s.get(9) or None
        elif s.seg_id == "NM1" and level == "22" and not inquiry.subscriber:
            inquiry.subscriber = list(s.elements)
            inquiry.member_id = s.get(9) or None
        elif s.seg_id == "DMG" and level == "22":
            inquiry.birth_date = _d8(s.get(2))
        elif level == "EV":
            if s.seg_id == "TRN" and s.get(1) == "1" and s.get(2):
                inquiry.traces.append(s.get(2))
                inquiry.trace_companies.append(s.get(3))
            elif s.seg_id == "REF" and s.get(1) == "BB" and s.get(2):
                inquiry.auth_numbers.append(s.get(2))
            elif s.seg_id == "REF" and s.get(1) == "NT" and s.get(2):
                inquiry.case_refs.append(s.get(2))
            elif s.seg_id == "UM" and not inquiry.um:
                inquiry.um = list(s.elements)
    return inquiry


def matches(inquiry: X12Inquiry, submitter: str, case: Case, determination: Determination) -> bool:
    """Does this stored case answer the inquiry? Same partner, member, birth date (when asked),
    requester NPI among the case's providers, and the trace or certification number."""
    if (case.submission.submitter_id or "") != submitter:
        return False
    if not inquiry.member_id or case.member.member_id.upper() != inquiry.member_id.upper():
        return False
    if (
        inquiry.birth_date
        and case.member.birth_date
        and case.member.birth_date != inquiry.birth_date
    ):
        return False
    npis = {
        p.npi
        for p in (case.requester, case.ordering, case.rendering, case.facility)
        if p is not None and p.npi
    }
    if not inquiry.requester_npi or inquiry.requester_npi not in npis:
        return False
    traces = set(case.submission.trace_numbers)
    if case.submission.bht_reference:
        traces.add(case.submission.bht_reference)
    auth = {determination.auth_number} | {line.auth_number for line in determination.lines}
    auth.discard(None)
    return bool(
        traces & set(inquiry.traces)
        or auth & set(inquiry.auth_numbers)
        or (case.id and case.id in inquiry.case_refs)
    )


# How many of a member's newest cases with this requester an inquiry looks through.
INQUIRY_CANDIDATES = 200


def core_lookup(core) -> Lookup:  # type: ignore[no-untyped-def]  # gateway.service.core.Core
    """The store's answer to an inquiry: the cases of its member that match (see `matches`)."""

    def lookup(inquiry: X12Inquiry, submitter: str) -> list[tuple[Case, Determination]]:
        if not inquiry.member_id or not inquiry.requester_npi or not inquiry.names_a_request:
            return []
        found = []
        # The member's cases that name the requester's NPI, from the bounded index (issue 18);
        # `matches` then holds each to every key of the inquiry.
        candidates = core.cases_for_member(
            inquiry.member_id, inquiry.requester_npi, limit=INQUIRY_CANDIDATES
        )
        for stored in candidates:
            determination = stored.determination
            if determination is not None and matches(
                inquiry, submitter, stored.case, determination
            ):
                found.append((stored.case, determination))
        return found

    return lookup


def _period(determination: Determination) -> list[str] | None:
    start, end = determination.period_start, determination.period_end
    if start and end:
        return ["AAH", "RD8", f"{start:%Y%m%d}-{end:%Y%m%d}"]
    if start:
        return ["AAH", "D8", f"{start:%Y%m%d}"]
    return None


def _echo(values: list[str], limit: int) -> list[str]:
    return [clean(v, 80) for v in values[:limit]]


def inquiry_response_body(
    inquiry: X12Inquiry,
    found: list[tuple[Case, Determination]],
    *,
    now: datetime,
    trace_id: str,
    trace_company: str,
) -> list[str]:
    """ST..SE contents of the X215 response (BHT02 11): one 2000E per matching case, or one
    2000E with AAA when none matches."""
    lines: list[str] = []
    add = lines.append
    add(seg("BHT", "0007", "11", clean(inquiry.bht03, 50), f"{now:%Y%m%d}", f"{now:%H%M}"))
    add(seg("HL", "1", "", "20", "1"))
    add(seg("NM1", *_echo(inquiry.umo, 9)))
    add(seg("HL", "2", "1", "21", "1"))
    add(seg("NM1", *_echo(inquiry.requester, 9)))
    add(seg("HL", "3", "2", "22", "1"))
    add(seg("NM1", *_echo(inquiry.subscriber, 9)))
    if inquiry.birth_date:
        add(seg("DMG", "D8", f"{inquiry.birth_date:%Y%m%d}"))
    hl = 3
    um = _echo(inquiry.um, 3) or ["HS", "I"]
    for case, determination in found or [(None, None)]:
        hl += 1
        add(seg("HL", str(hl), "3", "EV", "0"))
        for trace, company in list(zip(inquiry.traces, inquiry.trace_companies, strict=True))[:1]:
            # TRN*2: the requester's trace echoed with its own TRN03 (who assigned it).
            add(seg("TRN", "2", clean(trace, 50), clean(company, 10) or trace_company))
        add(seg("TRN", "1", clean(trace_id, 50), trace_company))
        if case is None or determination is None:
            add(seg("AAA", "N", "", NOT_FOUND, "C"))
            add(seg("UM", *um))
            continue
        add(seg("UM", *um))
        add(
            seg(
                "HCR",
                clean(determination.review_action, 2),
                clean(determination.auth_number or "", 50),
            )
        )
        if case.id:
            add(seg("REF", "NT", clean(case.id, 50)))
        period = _period(determination)
        if period:
            add(seg("DTP", *period))
    return lines


def write_inquiry_response(
    inquiry: X12Inquiry,
    found: list[tuple[Case, Determination]],
    *,
    number: int,
    now: datetime,
    trace_id: str,
    trace_company: str,
) -> list[str]:
    """ST..SE of one X215 response (`number` is ST02 inside its group)."""
    body = inquiry_response_body(
        inquiry, found, now=now, trace_id=trace_id, trace_company=trace_company
    )
    return transaction_set("278", number, INQUIRY, body)


def write_inquiry_interchange(
    answers: list[tuple[X12Inquiry, list[tuple[Case, Determination]]]],
    header: ReceivedHeader,
    *,
    x12_id: str,
    control_numbers: ControlNumbers,
    now: datetime,
) -> str:
    """One interchange, one HI group (GS08 005010X215), one X215 response per inquiry."""
    builder = InterchangeBuilder(header, x12_id=x12_id, control_numbers=control_numbers, now=now)
    company = trace_company(x12_id)
    sets = [
        write_inquiry_response(
            inquiry,
            found,
            number=index,
            now=now,
            trace_id=str(control_numbers.next(TRACE)),
            trace_company=company,
        )
        for index, (inquiry, found) in enumerate(answers, start=1)
    ]
    builder.add_group("HI", INQUIRY, sets)
    return builder.render()
