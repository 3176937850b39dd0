"""Building the interchanges the gateway sends: envelope, delimiters and safe element values.

Answers go back to whoever sent the interchange: ISA07/08 and GS03 are taken from the received
ISA05/06 and GS02, and the gateway answers as it was addressed: ISA05 the received ISA07
qualifier (`01` stays `01`; ZZ only when none is known), ISA06 the gateway id, GS02 the received
GS03 (the application id the partner addressed). The gateway always writes its
own delimiters (* : ^ ~) and strips them, and control characters, from every value it echoes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TextIO

from gateway.x12.codelists import ISA_ID_QUALIFIERS
from gateway.x12.numbers import GROUP, INTERCHANGE, ControlNumbers, gs06, isa13
from gateway.x12.tokens import Delimiters, Segment, isa_fields

DELIMS = Delimiters("*", ":", "^", "~")
_ELEMENT, _TERMINATOR = DELIMS.element, DELIMS.segment
_UNSAFE = re.compile(r"[*:^~\x00-\x1f\x7f]")
_RUNS = re.compile(r"\s{2,}")
# What makes a value need cleaning at all; most (codes, ids, dates, plain names) need none.
_NEEDS_CLEANING = re.compile(r"[*:^~\x00-\x1f\x7f]|\s{2,}|^\s|\s$")


def clean(value: object, limit: int | None = None) -> str:
    """A value safe to place in an element: no delimiters or control characters."""
    if value.__class__ is str:
        return _clean_text(value, limit)  # type: ignore[arg-type]
    return _clean_text("" if value is None else str(value), limit)


@lru_cache(maxsize=512)
def _clean_text(text: str, limit: int | None) -> str:
    # Cached: a batch's answers echo the same names, ids and codes over and over (a response
    # writes some fifty values a case). Bounded small, so memory stays flat in the batch size
    # (tests/x12/test_batch_stream.py).
    if _NEEDS_CLEANING.search(text) is not None:
        text = _RUNS.sub(" ", _UNSAFE.sub(" ", text).strip())
    return text[:limit].rstrip() if limit else text


def seg(*elements: str) -> str:
    """One segment from its id and elements; trailing empty elements are suppressed (X12.6)."""
    end = len(elements)
    while end > 1 and elements[end - 1] == "":
        end -= 1
    return _ELEMENT.join(elements[:end] if end < len(elements) else elements) + _TERMINATOR


def comp(*parts: str) -> str:
    values = list(parts)
    while values and values[-1] == "":
        values.pop()
    return DELIMS.component.join(values)


@dataclass(frozen=True)
class ReceivedHeader:
    """What an answer needs from the interchange it answers (ISA, and the GS when known)."""

    sender_qualifier: str = "ZZ"
    sender_id: str = ""
    receiver_id: str = ""
    date: str = ""  # ISA09 as received
    time: str = ""  # ISA10 as received
    control_number: str = ""  # ISA13 as received
    usage: str = "P"
    application_sender: str = ""  # GS02 of the first group
    receiver_qualifier: str = "ZZ"  # ISA07: the qualifier the partner addressed the gateway with
    application_receiver: str = ""  # GS03 of the first group (the gateway's application id)
    acknowledgment_requested: bool = False  # ISA14 1: a TA1 goes back in any case

    @classmethod
    def from_isa(cls, isa: Segment | None, gs: Segment | None = None) -> ReceivedHeader:
        if isa is None:
            return cls()
        fields = isa_fields(isa)
        return cls(
            sender_qualifier=fields[4] if fields[4] in ISA_ID_QUALIFIERS else "ZZ",
            sender_id=fields[5].strip(),
            receiver_id=fields[7].strip(),
            date=fields[8],
            time=fields[9],
            control_number=fields[12],
            usage=fields[14] if fields[14] in ("P", "T") else "P",
            application_sender=gs.get(2) if gs is not None else "",
            receiver_qualifier=fields[6] if fields[6] in ISA_ID_QUALIFIERS else "ZZ",
            application_receiver=gs.get(3) if gs is not None else "",
            acknowledgment_requested=fields[13] == "1",
        )


class InterchangeBuilder:
    """ISA, any number of functional groups, IEA; control numbers from the provider."""

    def __init__(
        self, header: ReceivedHeader, *, x12_id: str, control_numbers: ControlNumbers, now: datetime
    ):
        self.header = header
        self.x12_id = x12_id
        self.numbers = control_numbers
        self.now = now
        self.control = isa13(control_numbers.next(INTERCHANGE))
        self._groups: list[str] = []

    def isa(self) -> str:
        h = self.header
        receiver = clean(h.sender_id)[:15] or "UNKNOWN"
        return seg(
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            h.receiver_qualifier if h.receiver_qualifier in ISA_ID_QUALIFIERS else "ZZ",
            self.x12_id[:15].ljust(15),
            h.sender_qualifier,
            receiver.ljust(15),
            self.now.strftime("%y%m%d"),
            self.now.strftime("%H%M"),
            DELIMS.repetition or "^",
            "00501",
            self.control,
            "0",
            h.usage,
            DELIMS.component,
        )

    def gs(self, fic: str, version: str) -> tuple[str, str]:
        """(GS06, the GS segment) of a new functional group."""
        number = gs06(self.numbers.next(GROUP))
        receiver = clean(self.header.application_sender or self.header.sender_id)[:15] or "UNKNOWN"
        sender = clean(self.header.application_receiver)[:15] or self.x12_id[:15]
        return number, seg(
            "GS",
            fic,
            sender,
            receiver,
            self.now.strftime("%Y%m%d"),
            self.now.strftime("%H%M"),
            number,
            "X",
            version,
        )

    def add_group(self, fic: str, version: str, transactions: list[list[str]]) -> str:
        """Append a functional group of ready transaction sets (each a list of segments)."""
        number, gs_segment = self.gs(fic, version)
        lines = [gs_segment]
        for body in transactions:
            lines += body
        lines.append(seg("GE", str(len(transactions)), number))
        self._groups.append("\n".join(lines))
        return number

    def add_raw(self, segment_text: str) -> None:
        """A segment that sits directly in the interchange (TA1)."""
        self._groups.append(segment_text)

    def render(self, groups: int | None = None) -> str:
        count = groups if groups is not None else sum(1 for g in self._groups if g.startswith("GS"))
        return "\n".join([self.isa(), *self._groups, seg("IEA", str(count), self.control)]) + "\n"


class StreamingInterchange:
    """One interchange holding one functional group, written to `out` as it is made (batch
    answers of any size): ISA and GS go out with the first transaction set, each set as soon as
    it is ready, GE and IEA with their counts at close(). An answer with no transaction sets
    writes nothing. Same envelope and layout as InterchangeBuilder (one segment a line)."""

    def __init__(
        self,
        out: TextIO,
        header: ReceivedHeader,
        *,
        fic: str,
        version: str,
        x12_id: str,
        control_numbers: ControlNumbers,
        now: datetime,
    ):
        self.out = out
        self.header = header
        self.fic = fic
        self.version = version
        self.x12_id = x12_id
        self.numbers = control_numbers
        self.now = now
        self.sets = 0
        self._builder: InterchangeBuilder | None = None
        self._group = ""

    @property
    def started(self) -> bool:
        return self._builder is not None

    def start(self) -> None:
        """Write ISA and GS now (control numbers are taken here, once)."""
        if self._builder is not None:
            return
        self._builder = InterchangeBuilder(
            self.header, x12_id=self.x12_id, control_numbers=self.numbers, now=self.now
        )
        self._group, gs_segment = self._builder.gs(self.fic, self.version)
        self.out.write(self._builder.isa() + "\n" + gs_segment + "\n")

    def add_set(self, st01: str, body: Iterable[str]) -> None:
        """ST, the body segments as they come, SE with its count (see transaction_set)."""
        self.start()
        self.sets += 1
        control = f"{self.sets:04d}"
        write = self.out.write
        write(seg("ST", st01, control, self.version) + "\n")
        count = 1
        for line in body:
            write(line + "\n")
            count += 1
        write(seg("SE", str(count + 1), control) + "\n")

    def close(self) -> bool:
        """GE and IEA; False when nothing was written."""
        if self._builder is None:
            return False
        self.out.write(
            seg("GE", str(self.sets), self._group)
            + "\n"
            + seg("IEA", "1", self._builder.control)
            + "\n"
        )
        return True


def transaction_set(st01: str, number: int, version: str, body: list[str]) -> list[str]:
    """ST + body + SE with the segment count SE01 (ST and SE included)."""
    control = f"{number:04d}"
    segments = [seg("ST", st01, control, version), *body]
    segments.append(seg("SE", str(len(segments) + 1), control))
    return segments
