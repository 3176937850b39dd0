"""(Case, Determination) written as a 278 response transaction set (005010X217, BHT02 11).

The hierarchy mirrors the request: 2000A/2010A UMO, 2000B/2010B requester, 2000C/2010C
subscriber (2000D/2010D dependent), 2000E patient event with TRN*2 echoing every request trace
plus the gateway's own TRN*1, UM echo, HCR (review action, authorization number, reason),
REF*NT (the gateway's case reference), DTP*AAH (certified period), MSG (short reason), the
2010EA providers, and one 2000F per requested service with its own HCR. A Determination.rejection
becomes an AAA (reject reason, follow-up) in the loop it names, and then no HCR is sent; a
rejection above the patient event (2000A .. 2010C: the member not found, not eligible ...) ends
the answer at the subscriber, since a 2000E in a response carries an AAA or an HCR
(005010X217 2000E note).
HCR03 (code source 886) comes from the review-reason crosswalk (gateway.domain.review_reasons):
always for A3 and A6, for A4 when the reason has a code. MSG text reads as a sentence and
keeps its meaning when it holds a delimiter (msg_text).
BHT06: 19 when further updates follow (pended), else 18 (X12 element 640).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from gateway.domain import site_of_care
from gateway.domain.case import Case, Determination, LineDetermination, Reason
from gateway.domain.review_reasons import ReviewReasons, review_reason, review_reasons_in
from gateway.x12.grammar import REPO_MAP_DIR, ElementSpec, LoopSpec, SegmentSpec
from gateway.x12.numbers import ControlNumbers
from gateway.x12.outbound import (
    InterchangeBuilder,
    ReceivedHeader,
    clean,
    comp,
    seg,
    transaction_set,
)
from gateway.x12.validate import IMPLEMENTATION, grammar_for

MSG_LIMIT = 264  # MSG01 is AN 1/264
_EARLY_LOOPS = ("2000A", "2010A", "2010B", "2010C", "2010D", "2000E")
# A rejection in these loops leaves no patient event to answer: no 2000E, no 2000F, and no
# 2000D (whose HL04 must be 1: a 2000D always has its 2000E, 005010X217).
_ABOVE_EVENT = ("2000A", "2010A", "2010B", "2010C")
# What a delimiter in a text becomes (the gateway writes * : ^ ~): a reading, never nothing.
_MSG_DELIMITERS = {":": " - ", "^": " / ", "*": " x ", "~": " - "}


@cache
def hcr03_codes(map_dir: Path = REPO_MAP_DIR) -> frozenset[str]:
    """HCR03 values the response map accepts (codes.xml "hcr03"): others are not sent."""
    grammar = grammar_for("11", map_dir)
    loop: LoopSpec = grammar.find_loop("2000E")
    for child in loop.children:
        if isinstance(child, SegmentSpec) and child.seg_id == "HCR":
            item = child.items[2]
            assert isinstance(item, ElementSpec)
            return item.codes or frozenset()
    return frozenset()


@cache
def review_reasons(map_dir: Path = REPO_MAP_DIR) -> ReviewReasons:
    """The review-reason crosswalk of the mappings folder the X12 maps are in (`map_dir` is
    <mappings>/x12). Cached by the map folder too (review_reasons_in is, by its parent): a
    response asks for it once per HCR, and `map_dir.parent` is a new path to hash each time."""
    return review_reasons_in(map_dir.parent)


def _hcr03(action: str, reason: Reason | None, map_dir: Path, allowed: frozenset[str]) -> str:
    """HCR03 for an action taken for a reason: the crosswalk's 886 code when the response map
    lists it (codes.xml hcr03), else none."""
    code = review_reason(review_reasons(map_dir), action, reason)
    return code if code and code in allowed else ""


@lru_cache(maxsize=256)
def msg_text(text: str, limit: int = MSG_LIMIT) -> str:
    """MSG01: the reason as a sentence (capital first, a full stop at the end) with every
    delimiter replaced by what it reads as (':' becomes ' - '), and control characters by a
    blank; cut at a word within `limit` (AN 1/264), never inside one. Cached, bounded: the
    reasons of a batch's answers are a few texts over and over."""
    for delimiter, reading in _MSG_DELIMITERS.items():
        text = text.replace(delimiter, reading)
    text = clean(text)
    if not text:
        return ""
    text = text[0].upper() + text[1:]
    if text[-1] not in ".!?":
        text += "."
    if len(text) > limit:
        cut = text[: limit - 1]
        if " " in cut:
            cut = cut[: cut.rindex(" ")]
        text = cut.rstrip(" ,;-/") + "."
    return text


def trace_company(x12_id: str) -> str:
    """TRN03: "9" (a user-assigned identifier) and nine characters of the gateway id."""
    core = "".join(ch for ch in x12_id.upper() if ch.isalnum())[:9]
    return "9" + core.ljust(9, "0")


def _d8(day: date) -> str:
    # Written out rather than strftime (several times slower, and called for every date of
    # every response); strftime still for a year below 1000, whose %Y the C library pads or not.
    if day.year < 1000:
        return day.strftime("%Y%m%d")
    return f"{day.year}{day.month:02d}{day.day:02d}"


def _period(start: date | None, end: date | None) -> tuple[str, str] | None:
    if start and end:
        return "RD8", f"{_d8(start)}-{_d8(end)}"
    if start:
        return "D8", _d8(start)
    return None


def _echo(
    values: list[str] | None, limit: int, comp_sep: str, composites: tuple[int, ...] = ()
) -> list[str]:
    """Request elements re-written with the gateway's delimiters."""
    if not composites:
        return [clean(value) for value in (values or [])[:limit]]
    out: list[str] = []
    for index, value in enumerate((values or [])[:limit], start=1):
        if index in composites:
            out.append(comp(*(clean(p) for p in value.split(comp_sep))))
        else:
            out.append(clean(value))
    return out


class _Body:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.hl = 0

    def add(self, *elements: str) -> None:
        self.lines.append(seg(*elements))

    def level(self, parent: int | None, code: str, children: bool) -> int:
        self.hl += 1
        self.add("HL", str(self.hl), str(parent) if parent else "", code, "1" if children else "0")
        return self.hl


def _name(echo: list[str] | None, fallback: list[str], comp_sep: str) -> list[str]:
    return _echo(echo, 9, comp_sep) if echo else fallback


# Within `reusing_responses()`: the segments after BHT of the responses rendered so far, by
# the (case, determination) objects and the values they were rendered with. Batch intake
# renders each decided request twice, in one thread and with nothing changing the objects in
# between: for the payer feed's job (planned in the storing transaction) and then for the
# batch's 278 answer. Only BHT04/05 (the time of writing) can differ between the two.
_RENDERED: ContextVar[dict[tuple[Any, ...], tuple[Case, Determination, list[str]]] | None] = (
    ContextVar("x12_rendered_responses", default=None)
)


@contextmanager
def reusing_responses() -> Iterator[None]:
    """A scope in which a 278 response rendered for the same case and determination objects
    (and the same trace id, gateway id and map folder) is written once: the second rendering
    takes the first one's segments after BHT. The caller calls `forget_responses()` once the
    objects may change (after each answered transaction set)."""
    token = _RENDERED.set({})
    try:
        yield
    finally:
        _RENDERED.reset(token)


def forget_responses() -> None:
    """What `reusing_responses` kept so far is dropped (the next rendering writes anew)."""
    memo = _RENDERED.get()
    if memo:
        memo.clear()


def response_body(
    case: Case,
    determination: Determination,
    *,
    now: datetime,
    trace_id: str,
    x12_id: str,
    map_dir: Path = REPO_MAP_DIR,
) -> list[str]:
    """The segments between ST and SE of the 278 response (`map_dir`: the X12 map folder, whose
    response map says which HCR03 codes may be sent)."""
    x12: dict[str, Any] = case.submission.echo.get("x12", {}) if case.submission else {}
    follow = determination.updates_follow and determination.rejection is None
    bht = seg(
        "BHT",
        "0007",
        "11",
        clean(x12.get("bht03") or case.submission.bht_reference or case.id or trace_id, 50),
        _d8(now),
        f"{now.hour:02d}{now.minute:02d}",
        "19" if follow else "18",
    )
    memo = _RENDERED.get()
    if memo is None:
        return [bht, *_after_bht(case, determination, x12, trace_id, x12_id, map_dir)]
    key = (id(case), id(determination), trace_id, x12_id, map_dir)
    kept = memo.get(key)
    # The objects are held beside their segments, so their ids name no other object meanwhile.
    if kept is None or kept[0] is not case or kept[1] is not determination:
        rest = _after_bht(case, determination, x12, trace_id, x12_id, map_dir)
        kept = memo[key] = (case, determination, rest)
    return [bht, *kept[2]]


def _after_bht(
    case: Case,
    determination: Determination,
    x12: dict[str, Any],
    trace_id: str,
    x12_id: str,
    map_dir: Path,
) -> list[str]:
    """The response's segments after BHT (2000A .. 2000F)."""
    sep = x12.get("component", ":")
    rejection = determination.rejection
    reject_at = rejection.loop if rejection else None
    aaa = ("AAA", "N", "", rejection.aaa_code, rejection.follow_up) if rejection else None
    body = _Body()
    # 2000A / 2010A: the UMO (the payer the request was addressed to)
    umo = body.level(None, "20", True)
    if reject_at == "2000A" and aaa:
        body.add(*aaa)
    body.add(
        "NM1",
        *_name(
            x12.get("umo"),
            [
                "X3",
                "2",
                clean(case.payer_name or "", 60),
                "",
                "",
                "",
                "",
                "PI",
                clean(case.payer_id or ""),
            ],
            sep,
        ),
    )
    if reject_at == "2010A" and aaa:
        body.add(*aaa)
    # 2000B / 2010B: the requester
    requester = body.level(umo, "21", True)
    body.add("NM1", *_name(x12.get("requester"), _provider_name(case, "1P"), sep))
    if reject_at == "2010B" and aaa:
        body.add(*aaa)
    # 2000C / 2010C: the subscriber, 2000D / 2010D: the dependent patient
    no_event = reject_at in _ABOVE_EVENT
    dependent = bool(x12.get("dependent") or case.subscriber) and not no_event
    subscriber = body.level(requester, "22", not no_event)
    holder = case.subscriber or case.member
    body.add(
        "NM1",
        *_name(
            x12.get("subscriber"),
            [
                "IL",
                "1",
                clean(holder.last_name or "", 60),
                clean(holder.first_name or "", 35),
                clean(holder.middle_name or "", 25),
                "",
                "",
                "MI",
                clean(holder.member_id),
            ],
            sep,
        ),
    )
    if reject_at == "2010C" and aaa:
        body.add(*aaa)
    parent = subscriber
    if dependent:
        parent = body.level(subscriber, "23", True)
        body.add(
            "NM1",
            *_name(
                x12.get("dependent"),
                [
                    "QC",
                    "1",
                    clean(case.member.last_name or "", 60),
                    clean(case.member.first_name or "", 35),
                ],
                sep,
            ),
        )
        if reject_at == "2010D" and aaa:
            body.add(*aaa)
    if no_event:
        return body.lines
    _event(
        body,
        parent,
        case,
        determination,
        x12,
        sep,
        trace_id=trace_id,
        x12_id=x12_id,
        hcr03=hcr03_codes(map_dir),
        map_dir=map_dir,
    )
    return body.lines


def _provider_name(case: Case, entity: str) -> list[str]:
    who = case.requester or case.ordering
    if who is None:
        return [entity, "2", "UNKNOWN"]
    if who.organization_name:
        name = ["2", clean(who.organization_name, 60), "", ""]
    else:
        name = ["1", clean(who.last_name or "", 60), clean(who.first_name or "", 35), ""]
    ident = ["XX", clean(who.npi)] if who.npi else (["24", clean(who.tin)] if who.tin else [])
    return [entity, *name, "", "", *ident] if ident else [entity, *name]


def _lines_by_sequence(determination: Determination) -> dict[int, LineDetermination]:
    return {line.sequence: line for line in determination.lines}


def _event(
    body: _Body,
    parent: int,
    case: Case,
    determination: Determination,
    x12: dict[str, Any],
    sep: str,
    *,
    trace_id: str,
    x12_id: str,
    hcr03: frozenset[str],
    map_dir: Path,
) -> None:
    rejection = determination.rejection
    reject_at = rejection.loop if rejection else None
    aaa = ("AAA", "N", "", rejection.aaa_code, rejection.follow_up) if rejection else None
    services = x12.get("services") or [{} for _ in case.service_lines]
    with_lines = bool(case.service_lines) and reject_at not in _EARLY_LOOPS
    event = body.level(parent, "EV", with_lines)
    for trn in x12.get("event_trn") or []:
        body.add("TRN", "2", *_echo(trn[1:4], 3, sep))
    body.add("TRN", "1", clean(trace_id, 50), trace_company(x12_id))
    if reject_at == "2000E" and aaa:
        body.add(*aaa)
    um = x12.get("event_um") or [
        case.request_category,
        case.certification_type,
        case.service_type or "",
        f"{case.place_of_service}{sep}B" if case.place_of_service else "",
    ]
    um_out = _echo(um, 4, sep, composites=(4,))
    level = um[5] if len(um) > 5 else ""
    if level:  # UM06 level of service is echoed; UM05 is not used in the response
        um_out = [*um_out, *[""] * (4 - len(um_out)), "", clean(level)]
    body.add("UM", *um_out)
    if rejection is None:
        action = determination.review_action
        body.add(
            "HCR",
            action,
            clean(determination.auth_number or "", 50),
            _hcr03(action, determination.reason, map_dir, hcr03),
        )
    reference = case.change_reference
    if reference is not None and reference.qualifier == "BB":
        # A change's answer echoes the certification it named (005010X217 2000E REF*BB).
        body.add("REF", "BB", clean(reference.value, 50))
    if case.id:
        body.add("REF", "NT", clean(case.id, 50))
    period = _period(determination.period_start, determination.period_end)
    if period and rejection is None:
        body.add("DTP", "AAH", *period)
    text = rejection.text if rejection else determination.reason.text
    if text and msg_text(text):
        body.add("MSG", msg_text(text))
    providers = x12.get("providers") or []
    for index, nm1 in enumerate(providers):
        body.add("NM1", *_echo(nm1, 9, sep))
        if reject_at == "2010EA" and aaa and index == 0:
            body.add(*aaa)
    if not with_lines:
        return
    by_sequence = _lines_by_sequence(determination)
    for line, echo in zip(case.service_lines, services, strict=False):
        _service(
            body,
            event,
            case,
            determination,
            by_sequence.get(line.sequence),
            line,
            echo,
            sep,
            reject_at == "2000F" and aaa,
            hcr03,
            map_dir,
        )


def _service(
    body: _Body,
    event: int,
    case: Case,
    determination: Determination,
    decided: LineDetermination | None,
    line: Any,
    echo: dict[str, Any],
    sep: str,
    aaa: Any,
    hcr03: frozenset[str],
    map_dir: Path,
) -> None:
    body.level(event, "SS", False)
    for trn in echo.get("trn") or []:
        body.add("TRN", "2", *_echo(trn[1:4], 3, sep))
    if aaa:
        body.add(*aaa)
    um = echo.get("um") or [
        case.request_category if case.request_category != "AR" else "HS",
        case.certification_type,
        case.service_type or "",
    ]
    body.add("UM", *_echo(um, 4, sep, composites=(4,)))
    # Number and period as the ClaimResponse and the letters give them (one helper; the
    # one-time site-of-care lines: their own 30 days at the site asked for, UM04 as echoed).
    granted = site_of_care.authorized(case, line, decided, determination)
    if not aaa:
        action = decided.review_action if decided else determination.review_action
        auth = granted.auth_number or ""
        # A line decided with the case (no reason of its own) has the case's reason.
        reason = decided.reason if decided and decided.reason else None
        if reason is None and action == determination.review_action:
            reason = determination.reason
        body.add("HCR", action, clean(auth, 50), _hcr03(action, reason, map_dir, hcr03))
    dtp = echo.get("dtp")
    if dtp:
        body.add("DTP", *_echo(dtp, 3, sep))
    if decided and not aaa:
        start = granted.period_start
        end = granted.period_end
        if (start, end) != (determination.period_start, determination.period_end):
            if start:
                body.add("DTP", "007", "D8", _d8(start))
            if end:
                body.add("DTP", "036", "D8", _d8(end))
    units = decided.units if decided and decided.units is not None else None
    if echo.get("sv1"):
        sv1 = _echo(echo["sv1"], 5, sep, composites=(1,))
        if units is not None and len(sv1) > 3:
            sv1[3] = _number(units)
        body.add("SV1", *sv1)
    elif echo.get("sv2"):
        sv2 = _echo(echo["sv2"], 6, sep, composites=(2,))
        if units is not None and len(sv2) > 4:
            sv2[4] = _number(units)
        body.add("SV2", *sv2)
    elif line.code:
        body.add(
            "SV1",
            comp("HC", clean(line.code)),
            "",
            clean(line.unit_type or "UN"),
            _number(units if units is not None else line.units or 1),
        )
    if decided and decided.reason and decided.reason.text and not aaa:
        if msg_text(decided.reason.text):
            body.add("MSG", msg_text(decided.reason.text))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def write_response(
    case: Case,
    determination: Determination,
    *,
    number: int,
    now: datetime,
    trace_id: str,
    x12_id: str,
    map_dir: Path = REPO_MAP_DIR,
) -> list[str]:
    """ST..SE of one 278 response (`number` is ST02 inside its group)."""
    body = response_body(
        case, determination, now=now, trace_id=trace_id, x12_id=x12_id, map_dir=map_dir
    )
    return transaction_set("278", number, IMPLEMENTATION, body)


def write_278_interchange(
    answers: list[tuple[Case, Determination, str]],
    header: ReceivedHeader,
    *,
    x12_id: str,
    control_numbers: ControlNumbers,
    now: datetime,
    map_dir: Path = REPO_MAP_DIR,
) -> str:
    """One interchange, one HI group, one 278 response per (case, determination, trace id)."""
    builder = InterchangeBuilder(header, x12_id=x12_id, control_numbers=control_numbers, now=now)
    sets = [
        write_response(
            case,
            determination,
            number=index,
            now=now,
            trace_id=trace,
            x12_id=x12_id,
            map_dir=map_dir,
        )
        for index, (case, determination, trace) in enumerate(answers, start=1)
    ]
    builder.add_group("HI", IMPLEMENTATION, sets)
    return builder.render()
