"""Interchange structure (ISA/IEA, GS/GE, ST/SE) and the envelope checks answered by TA1 / AK9.

Faults of the interchange envelope itself are answered with a TA1 (TA105 interchange note code,
X12 I18); faults of a functional group with a 999 AK9 (AK905 codes, X12 716); faults of one
transaction set's own envelope with IK5 codes (X12 618) from gateway.x12.validate.

Tolerated on purpose (documented in docs/x12-companion-guide.md): ISA12 00401 with a 005010X217
body (ISA11 is then the standards identifier "U", not a repetition separator), and a GS08 that
names another 5010 guide while every ST03 says 005010X217 (ST03 governs the transaction set).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Literal

from gateway.x12.codelists import ISA_ID_QUALIFIERS
from gateway.x12.elements import valid_date, valid_time
from gateway.x12.tokens import ISA_WIDTHS, Delimiters, Segment, isa_fields

IMPLEMENTATION = "005010X217"
INQUIRY = "005010X215"  # the 278 inquiry guide (gateway.x12.inquiry)
IMPLEMENTATIONS = (IMPLEMENTATION, INQUIRY)
ACK_IMPLEMENTATION = "005010X231A1"
_DIGITS = re.compile(r"[0-9]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\ufffd]")


@dataclass
class Transaction:
    segments: list[Segment]

    @property
    def st(self) -> Segment:
        return self.segments[0]

    @property
    def se(self) -> Segment | None:
        last = self.segments[-1]
        return last if last.seg_id == "SE" else None

    def text(self, delims: Delimiters) -> str:
        """The transaction as sent, without line breaks or indentation (hashing, replay)."""
        element, end = delims.element, delims.segment
        return "".join(element.join([seg.seg_id, *seg.elements]) + end for seg in self.segments)


@dataclass
class Group:
    gs: Segment
    ge: Segment | None = None
    transactions: list[Transaction] = field(default_factory=list)


@dataclass
class Interchange:
    delims: Delimiters
    isa: Segment
    iea: Segment | None = None
    groups: list[Group] = field(default_factory=list)
    stray: list[Segment] = field(default_factory=list)  # outside any GS/ST where one is needed
    after_iea: list[Segment] = field(default_factory=list)

    @property
    def sender(self) -> str:
        return isa_fields(self.isa)[5].strip()

    @property
    def receiver(self) -> str:
        return isa_fields(self.isa)[7].strip()


EventKind = Literal["group", "transaction", "group_end", "iea", "stray", "after_iea"]


@dataclass(slots=True)
class EnvelopeEvent:
    """One step of the ISA > GS > ST..SE arrangement (see EnvelopeWalker)."""

    kind: EventKind
    segment: Segment | None = None  # GS, GE (None: the group ended without one), IEA, stray
    transaction: Transaction | None = None


class EnvelopeWalker:
    """Arranges the segments that follow an ISA, one at a time, into groups and transaction
    sets. The one arrangement both the real-time path (parse_interchange, whole interchange in
    memory) and batch files (gateway.x12.engine, streamed) use; it holds only the transaction set
    being read."""

    def __init__(self) -> None:
        self.in_group = False
        self.current: list[Segment] | None = None
        self.ended = False  # IEA seen

    def feed(self, seg: Segment) -> list[EnvelopeEvent]:
        if self.ended:
            return [EnvelopeEvent("after_iea", seg)]
        out: list[EnvelopeEvent] = []
        sid = seg.seg_id
        if sid == "IEA":
            self._close(out, None)
            self.ended = True
            out.append(EnvelopeEvent("iea", seg))
        elif sid == "GS":
            self._close(out, None)
            self.in_group = True
            out.append(EnvelopeEvent("group", seg))
        elif sid == "GE":
            if self.in_group:
                self._close(out, seg)
            else:
                out.append(EnvelopeEvent("stray", seg))
        elif sid == "ST":
            if self.in_group:
                self._close_transaction(out)
                self.current = [seg]
            else:
                out.append(EnvelopeEvent("stray", seg))
        elif self.current is not None:
            self.current.append(seg)
            if sid == "SE":
                self._close_transaction(out)
        else:
            out.append(EnvelopeEvent("stray", seg))
        return out

    def end(self) -> list[EnvelopeEvent]:
        """The data ended: close what is open (a transaction without SE, a group without GE)."""
        out: list[EnvelopeEvent] = []
        self._close(out, None)
        return out

    def _close_transaction(self, out: list[EnvelopeEvent]) -> None:
        if self.current is not None:
            out.append(EnvelopeEvent("transaction", transaction=Transaction(self.current)))
            self.current = None

    def _close(self, out: list[EnvelopeEvent], ge: Segment | None) -> None:
        self._close_transaction(out)
        if self.in_group:
            out.append(EnvelopeEvent("group_end", ge))
            self.in_group = False


def parse_interchange(delims: Delimiters, segments: list[Segment]) -> Interchange:
    """Arrange segments into ISA > GS > ST..SE; misplaced ones are kept aside, not dropped."""
    ix = Interchange(delims, segments[0])
    walker = EnvelopeWalker()
    for seg in segments[1:]:
        for event in walker.feed(seg):
            _arrange(ix, event)
    for event in walker.end():
        _arrange(ix, event)
    return ix


def _arrange(ix: Interchange, event: EnvelopeEvent) -> None:
    kind = event.kind
    if kind == "group":
        assert event.segment is not None
        ix.groups.append(Group(event.segment))
    elif kind == "transaction":
        assert event.transaction is not None
        ix.groups[-1].transactions.append(event.transaction)
    elif kind == "group_end":
        ix.groups[-1].ge = event.segment
    elif kind == "iea":
        ix.iea = event.segment
    elif kind == "stray":
        assert event.segment is not None
        ix.stray.append(event.segment)
    else:
        assert event.segment is not None
        ix.after_iea.append(event.segment)


# ---------------------------------------------------------------- interchange (TA1)


def _separators_ok(delims: Delimiters) -> str | None:
    chars = [delims.element, delims.component, delims.segment]
    if delims.segment.isalnum() or delims.segment in (delims.element, delims.component):
        return "004"
    if len(set(chars)) < 3:
        return "027"
    if delims.component.isalnum() or delims.component == " ":
        return "027"
    return None


def check_interchange(
    ix: Interchange, x12_id: str, application_id: str | None = None
) -> str | None:
    """The TA105 note code of the first interchange-level fault, or None when it is sound.

    `x12_id` is the gateway's interchange id (ISA08); `application_id` its GS03 (the same id
    unless a partner agreement says otherwise).
    """
    gs03 = application_id or x12_id
    return check_isa(ix.isa, ix.delims, x12_id) or check_trailer(
        ix.isa,
        InterchangeTally(
            iea=ix.iea,
            groups=len(ix.groups),
            stray=bool(ix.stray),
            after_iea=bool(ix.after_iea),
            gs_fault=any(not gs_readable(group.gs, gs03) for group in ix.groups),
        ),
    )


def check_isa(isa: Segment, delims: Delimiters, x12_id: str) -> str | None:
    """TA105 for a fault of the ISA itself or of its separators (known as soon as it is read)."""
    fields = isa_fields(isa)
    if len(isa.elements) != 16:
        return "022"
    widths = [len(value) for value in fields]
    checks: list[tuple[bool, str]] = [
        (fields[0] in ("00", "03"), "010"),
        (widths[1] == ISA_WIDTHS[1], "011"),
        (fields[2] in ("00", "01"), "012"),
        (widths[3] == ISA_WIDTHS[3], "013"),
        (fields[4] in ISA_ID_QUALIFIERS, "005"),
        # A sender id is text: a control character (NUL ...) cannot be an id, nor a store key.
        (widths[5] == ISA_WIDTHS[5] and fields[5].strip() != "" and _printable(fields[5]), "006"),
        (fields[6] in ISA_ID_QUALIFIERS, "007"),
        (widths[7] == ISA_WIDTHS[7] and fields[7].strip() == x12_id, "008"),
        (len(fields[8]) == 6 and valid_date(fields[8]), "014"),
        (len(fields[9]) == 4 and valid_time(fields[9]), "015"),
        (fields[11] in ("00501", "00401"), "017"),
        (fields[11] != "00401" or fields[10] == "U", "016"),
        (len(fields[12]) == 9 and bool(_DIGITS.fullmatch(fields[12])), "018"),
        (fields[13] in ("0", "1"), "019"),
        (fields[14] in ("P", "T"), "020"),
        (len(fields[15]) == 1, "027"),
    ]
    for ok, note in checks:
        if not ok:
            return note
    return _separators_ok(delims)


def _printable(value: str) -> bool:
    return not _CONTROL.search(value)


@dataclass
class InterchangeTally:
    """What the trailer check needs of an interchange: counts and flags, not its content (a
    streamed batch file keeps only these)."""

    iea: Segment | None
    groups: int
    stray: bool = False  # a segment outside any GS/ST where one is needed
    after_iea: bool = False  # data after the IEA
    gs_fault: bool = False  # some GS is unreadable or addressed to another application


def check_trailer(isa: Segment, tally: InterchangeTally) -> str | None:
    """TA105 for faults found at the end of the interchange (IEA, counts, misplaced data); only
    meaningful once check_isa found none."""
    if tally.iea is None:
        return "023"  # the transmission ended before IEA
    if tally.iea.get(2) != isa_fields(isa)[12]:
        return "001"
    if tally.iea.get(1) != str(tally.groups):
        return "021"
    if tally.after_iea:
        return "022"
    if not tally.groups or tally.stray or tally.gs_fault:
        return "024"
    return None


def gs_readable(gs: Segment, gs03: str) -> bool:
    """A GS the gateway can read and that is addressed to it (else TA105 024)."""
    if len(gs.elements) != 8 or gs.get(3) != gs03:
        return False
    return valid_date(gs.get(4)) and len(gs.get(4)) == 8 and valid_time(gs.get(5))


# ---------------------------------------------------------------- functional group (AK9)


@dataclass
class GroupCheck:
    codes: list[str] = field(default_factory=list)  # AK905..AK909
    tolerated: list[str] = field(default_factory=list)  # notes for the log and the guide

    @property
    def rejected(self) -> bool:
        return bool(self.codes)


def check_group(group: Group) -> GroupCheck:
    """AK905 codes of a functional group held in memory (see check_group_envelope)."""
    return check_group_envelope(
        group.gs, group.ge, len(group.transactions), {t.st.get(3) for t in group.transactions}
    )


def check_group_envelope(
    gs: Segment, ge: Segment | None, count: int, st03s: set[str]
) -> GroupCheck:
    """AK905 codes: 1 not supported, 2 version not supported, 3 GE missing, 4 control
    numbers disagree, 5 transaction count wrong, 6 control number syntax, 19 duplicate.

    `count` is how many transaction sets the group held and `st03s` their ST03 values, so a
    streamed group is checked from a tally as a parsed one is from its transactions."""
    result = GroupCheck()
    if gs.get(1) != "HI":
        result.codes.append("1")
    version = gs.get(8)
    if version not in IMPLEMENTATIONS:
        # One guide named by every ST03 governs a group whose GS08 names another 5010 guide.
        named = next(iter(st03s)) if len(st03s) == 1 else None
        if version.startswith("005010") and named in IMPLEMENTATIONS:
            result.tolerated.append(f"GS08 {version} relabelled {named} from ST03")
        else:
            result.codes.append("2")
    if not _DIGITS.fullmatch(gs.get(6)) or len(gs.get(6)) > 9:
        result.codes.append("6")
    if ge is None:
        result.codes.append("3")
    else:
        if ge.get(2) != gs.get(6):
            result.codes.append("4")
        if ge.get(1) != str(count):
            result.codes.append("5")
    return result


class SeenControlNumbers:
    """ST02 values met so far in a group (IK5 23 when one repeats).

    Digits are kept as runs of consecutive numbers per width, so a batch numbered 0001, 0002,
    ... costs one run however many transaction sets it holds; anything else is kept as is."""

    def __init__(self) -> None:
        self._runs: dict[int, tuple[list[int], list[int]]] = {}  # width -> (starts, ends)
        self._other: set[str] = set()

    def add(self, number: str) -> bool:
        """Record `number`; True when it was met before."""
        if not number.isdigit() or not number.isascii():
            seen = number in self._other
            self._other.add(number)
            return seen
        value = int(number)
        starts, ends = self._runs.setdefault(len(number), ([], []))
        at = bisect_right(starts, value) - 1
        if at >= 0 and value <= ends[at]:
            return True
        joins_left = at >= 0 and ends[at] == value - 1
        joins_right = at + 1 < len(starts) and starts[at + 1] == value + 1
        if joins_left and joins_right:
            ends[at] = ends[at + 1]
            del starts[at + 1], ends[at + 1]
        elif joins_left:
            ends[at] = value
        elif joins_right:
            starts[at + 1] = value
        else:
            starts.insert(at + 1, value)
            ends.insert(at + 1, value)
        return False
