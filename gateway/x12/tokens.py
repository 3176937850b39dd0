"""X12 tokenizer: delimiters from the ISA, segments from text, whole or streamed.

The ISA is fixed-length (106 characters): the element separator is its 4th character (index 3),
the repetition separator ISA11 (index 82, from version 00501 on; in 00401 ISA11 is the standards
identifier "U"), the component separator ISA16 (index 104) and the segment terminator follows
at index 105. Real traffic adds a UTF-8 BOM, line breaks after terminators, indentation and
trailing blanks; those are dropped here, never inside a segment. What may precede an ISA is
`is_padding` (the same rule the real-time edge applies, gateway.x12.edge).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TextIO

ISA_LENGTH = 106
# Widths of ISA01..ISA16 (X12.5 interchange control header, fixed-length fields).
ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
_LEAD = " \t\r\n\ufeff"
_LINE_END = "\r\n"


def is_padding(char: str) -> bool:
    """A character that may precede an ISA (gateway.x12.edge): blank, invisible (U+FEFF and
    other format characters), a control character, or not text at all (U+FFFD)."""
    return (
        char.isspace()
        or char in "\ufffd\ufffe"
        or unicodedata.category(char) in ("Cc", "Cf", "Zs", "Zl", "Zp")
    )


def lead_length(text: str) -> int:
    """How many characters of padding precede the first one that is not padding."""
    for index, char in enumerate(text):
        if not is_padding(char):
            return index
    return len(text)


class X12SyntaxError(ValueError):
    """The data does not start with a readable ISA: no delimiters can be taken from it."""


@dataclass(frozen=True, slots=True)
class Delimiters:
    element: str = "*"
    component: str = ":"
    repetition: str | None = "^"
    segment: str = "~"

    def as_tuple(self) -> tuple[str, str, str | None, str]:
        return (self.element, self.component, self.repetition, self.segment)


@dataclass(slots=True)
class Segment:
    """One segment: its id and its elements (elements[0] is element 01)."""

    seg_id: str
    elements: list[str]
    index: int  # 0-based ordinal in the interchange
    line: int = 0  # 1-based line of the source where the segment starts (0 when unknown)

    def get(self, position: int) -> str:
        """Element at 1-based `position`, "" when absent."""
        return self.elements[position - 1] if len(self.elements) >= position else ""

    def text(self, delims: Delimiters) -> str:
        return delims.element.join([self.seg_id, *self.elements])


def detect_delimiters(head: str) -> tuple[Delimiters, int]:
    """Delimiters from the start of an interchange, and the offset of its "ISA".

    Falls back to reading the ISA by its separators when the fixed widths were not kept, so
    the envelope check can still name the field at fault (TA1) instead of failing blind.
    """
    start = lead_length(head)
    if head[start : start + 3] != "ISA" or len(head) < start + 4:
        raise X12SyntaxError("data does not begin with an ISA segment")
    element = head[start + 3]
    if element.isalnum() or element in _LEAD:
        raise X12SyntaxError(f"invalid element separator {element!r}")
    isa = head[start : start + ISA_LENGTH]
    if len(isa) == ISA_LENGTH and isa.count(element) == 16:
        component, terminator = isa[104], isa[105]
        rep = isa[82]
        version = isa[84:89]
    else:
        # Not fixed-width: the 16th separator precedes ISA16, the terminator follows it.
        cut = 0
        for _ in range(16):
            cut = head.find(element, cut + 1 if cut else start)
            if cut < 0:
                raise X12SyntaxError("ISA segment has fewer than 16 elements")
        if len(head) < cut + 3:
            raise X12SyntaxError("ISA segment is truncated")
        component, terminator = head[cut + 1], head[cut + 2]
        fields = head[start:cut].split(element)
        rep = fields[11] if len(fields) > 11 else ""
        version = fields[12] if len(fields) > 12 else ""
    repetition: str | None = rep
    if version < "00501" or len(rep) != 1 or rep.isalnum() or rep in (element, component):
        repetition = None  # 00401: ISA11 is the standards identifier, not a separator
    return Delimiters(element, component, repetition, terminator), start


def _split(segment_text: str, delims: Delimiters, index: int, line: int) -> Segment:
    parts = segment_text.split(delims.element)
    return Segment(parts[0], parts[1:], index, line)


def _clean(piece: str) -> str:
    return piece.lstrip(_LEAD).rstrip(_LINE_END)


def tokenize(data: bytes | str) -> tuple[Delimiters, list[Segment]]:
    """All segments of an interchange held in memory (real-time requests)."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    delims, start = detect_delimiters(text[:4096])
    segments: list[Segment] = []
    line = 1 + text.count("\n", 0, start)
    for piece in text[start:].split(delims.segment):
        cleaned = _clean(piece)
        if cleaned:
            segments.append(_split(cleaned, delims, len(segments), line))
        line += piece.count("\n")
    return delims, segments


def iter_segments(
    stream: TextIO | Iterable[str], chunk_size: int = 1 << 16
) -> Iterator[tuple[Delimiters, Segment]]:
    """Segments from a text stream, read chunk by chunk: memory stays flat for any file size.

    Yields (delimiters, segment); a file may hold several interchanges, each with its own ISA.
    """
    reader = _chunks(stream, chunk_size)
    buffer = ""
    pos = 0  # where the unread text of `buffer` starts (slicing it per segment is quadratic)
    delims: Delimiters | None = None
    terminator = element = ""
    index = 0
    line = 1
    for chunk in reader:
        buffer = buffer[pos:] + chunk
        pos = 0
        while True:
            if delims is None:
                if pos:
                    buffer, pos = buffer[pos:], 0
                if len(buffer) - lead_length(buffer) < ISA_LENGTH:
                    break  # need the whole ISA before the delimiters are known
                delims, start = detect_delimiters(buffer)
                terminator, element = delims.segment, delims.element
                line += buffer.count("\n", 0, start)
                pos = start
            cut = buffer.find(terminator, pos)
            if cut < 0:
                break
            piece, pos = buffer[pos:cut], cut + 1
            # _clean and _split in line: this loop runs for every segment of a batch, twice.
            cleaned = piece.lstrip(_LEAD).rstrip(_LINE_END)
            if cleaned:
                parts = cleaned.split(element)
                seg_id = parts[0]
                yield delims, Segment(seg_id, parts[1:], index, line)
                index += 1
                if seg_id == "IEA":
                    delims = None  # the next interchange brings its own ISA
            line += piece.count("\n")
    buffer = buffer[pos:]
    rest = _clean(buffer) if delims is not None else buffer[lead_length(buffer) :]
    if rest and delims is not None:
        yield delims, _split(rest, delims, index, line)  # unterminated tail (truncated file)
    elif rest:
        raise X12SyntaxError("data after the last interchange does not begin with an ISA")


def _chunks(stream: TextIO | Iterable[str], size: int) -> Iterator[str]:
    read = getattr(stream, "read", None)
    if read is None:
        yield from stream  # type: ignore[misc]
        return
    while True:
        chunk = read(size)
        if not chunk:
            return
        yield chunk


def isa_fields(isa: Segment) -> list[str]:
    """ISA01..ISA16 padded to 16 entries."""
    return (isa.elements + [""] * 16)[:16]
