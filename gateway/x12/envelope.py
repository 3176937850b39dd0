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
from dataclasses import dataclass, field

from gateway.x12.codelists import ISA_ID_QUALIFIERS
from gateway.x12.elements import valid_date, valid_time
from gateway.x12.tokens import ISA_WIDTHS, Delimiters, Segment, isa_fields

IMPLEMENTATION = "005010X217"
ACK_IMPLEMENTATION = "005010X231A1"
_DIGITS = re.compile(r"[0-9]+")


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
        return "".join(seg.text(delims) + delims.segment for seg in self.segments)


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


def parse_interchange(delims: Delimiters, segments: list[Segment]) -> Interchange:
    """Arrange segments into ISA > GS > ST..SE; misplaced ones are kept aside, not dropped."""
    ix = Interchange(delims, segments[0])
    group: Group | None = None
    current: list[Segment] | None = None
    for seg in segments[1:]:
        if ix.iea is not None:
            ix.after_iea.append(seg)
            continue
        sid = seg.seg_id
        if sid == "IEA":
            if current is not None and group is not None:
                group.transactions.append(Transaction(current))
            ix.iea, group, current = seg, None, None
        elif sid == "GS":
            if current is not None and group is not None:
                group.transactions.append(Transaction(current))
            group, current = Group(seg), None
            ix.groups.append(group)
        elif sid == "GE":
            if group is None:
                ix.stray.append(seg)
                continue
            if current is not None:
                group.transactions.append(Transaction(current))
            group.ge, current = seg, None
            group = None
        elif sid == "ST":
            if group is None:
                ix.stray.append(seg)
                continue
            if current is not None:
                group.transactions.append(Transaction(current))
            current = [seg]
        elif current is not None:
            current.append(seg)
            if sid == "SE":
                assert group is not None
                group.transactions.append(Transaction(current))
                current = None
        else:
            ix.stray.append(seg)
    if current is not None and group is not None:
        group.transactions.append(Transaction(current))
    return ix


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


def check_interchange(ix: Interchange, x12_id: str, application_id: str | None = None
                      ) -> str | None:
    """The TA105 note code of the first interchange-level fault, or None when it is sound.

    `x12_id` is the gateway's interchange id (ISA08); `application_id` its GS03 (the same id
    unless a partner agreement says otherwise).
    """
    gs03 = application_id or x12_id
    isa = ix.isa
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
        (widths[5] == ISA_WIDTHS[5] and fields[5].strip() != "", "006"),
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
    separator_fault = _separators_ok(ix.delims)
    if separator_fault:
        return separator_fault
    if ix.iea is None:
        return "023"  # the transmission ended before IEA
    if ix.iea.get(2) != fields[12]:
        return "001"
    if ix.iea.get(1) != str(len(ix.groups)):
        return "021"
    if ix.after_iea:
        return "022"
    if not ix.groups or ix.stray:
        return "024"
    for group in ix.groups:
        gs = group.gs
        if len(gs.elements) != 8 or gs.get(3) != gs03:
            return "024"  # a GS the gateway cannot read, or addressed to another application
        if not (valid_date(gs.get(4)) and len(gs.get(4)) == 8 and valid_time(gs.get(5))):
            return "024"
    return None


# ---------------------------------------------------------------- functional group (AK9)


@dataclass
class GroupCheck:
    codes: list[str] = field(default_factory=list)  # AK905..AK909
    tolerated: list[str] = field(default_factory=list)  # notes for the log and the guide

    @property
    def rejected(self) -> bool:
        return bool(self.codes)


def check_group(group: Group) -> GroupCheck:
    """AK905 codes: 1 not supported, 2 version not supported, 3 GE missing, 4 control
    numbers disagree, 5 transaction count wrong, 6 control number syntax, 19 duplicate."""
    result = GroupCheck()
    gs = group.gs
    if gs.get(1) != "HI":
        result.codes.append("1")
    version = gs.get(8)
    st03s = {t.st.get(3) for t in group.transactions}
    if version != IMPLEMENTATION:
        if version.startswith("005010") and st03s == {IMPLEMENTATION}:
            result.tolerated.append(f"GS08 {version} relabelled {IMPLEMENTATION} from ST03")
        else:
            result.codes.append("2")
    if not _DIGITS.fullmatch(gs.get(6)) or len(gs.get(6)) > 9:
        result.codes.append("6")
    if group.ge is None:
        result.codes.append("3")
    else:
        if group.ge.get(2) != gs.get(6):
            result.codes.append("4")
        if group.ge.get(1) != str(len(group.transactions)):
            result.codes.append("5")
    return result


def duplicate_control_numbers(group: Group) -> set[int]:
    """Indexes of transactions whose ST02 repeats an earlier one in the group (IK5 23)."""
    seen: set[str] = set()
    dupes: set[int] = set()
    for index, transaction in enumerate(group.transactions):
        number = transaction.st.get(2)
        if number in seen:
            dupes.add(index)
        seen.add(number)
    return dupes
