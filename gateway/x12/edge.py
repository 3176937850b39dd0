"""The edge of the X12 channel: the bytes received, made once into the one text every later step
reads (the sender check, the replay check and the answering engine).

Who sent an interchange is ISA06, and that must be the ISA06 the interchange is processed under:
reading it from another window of the data (bytes where the engine reads characters, a different
decoding, a second ISA further on) lets a partner file under another's id or slip a reused ISA13
past the replay check. So the body is decoded once, what precedes the ISA is either transport
padding (dropped) or anything else (refused), the text is tokenized once, and the identity is
taken from the first of those segments. Every other ISA the body holds is listed too, so a
refusal can name a foreign sender wherever it stands.

Padding before the ISA: white space (any Unicode space, line breaks), byte-order marks and other
invisible format characters (U+FEFF, U+200B ...), control characters, and bytes that are not
text at all (an undecodable byte reads as U+FFFD). Encodings: UTF-8 (the rule; a stray UTF-16
byte-order mark before UTF-8 text is padding), else UTF-16 or UTF-32 when the text only reads
as such (with or without its byte-order mark).
"""

from __future__ import annotations

import codecs
import hashlib
from dataclasses import dataclass, field

from gateway.x12.tokens import (
    Delimiters,
    Segment,
    X12SyntaxError,
    detect_delimiters,
    is_padding,
    isa_fields,
    lead_length,
    tokenize,
)

# How far into the data an ISA is looked for when the data does not begin with one (only to
# name the sender in the refusal); a body that is mostly something else is refused either way.
_SEARCH = 1 << 16
_UTF8_BOM = codecs.BOM_UTF8
# BOM-declared encodings, longest mark first (the UTF-32 LE mark begins with the UTF-16 LE one).
_DECLARED = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_WIDE = ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be")


@dataclass
class ReceivedInterchange:
    """A real-time body as the gateway reads it: decoded and tokenized once."""

    delims: Delimiters | None = None
    segments: list[Segment] = field(default_factory=list)  # segments[0] is the ISA
    headers: list[Segment] = field(default_factory=list)  # every ISA in the body, first first
    fault: X12SyntaxError | None = None  # why nothing can be processed (TA1)
    raw_digest: str = ""  # sha256 of the bytes as received

    @property
    def isa(self) -> Segment | None:
        """The ISA the interchange is processed under (None when there is none)."""
        return self.segments[0] if self.segments and self.fault is None else None

    @property
    def identity(self) -> tuple[str, str] | None:
        """(ISA06, ISA13) of the interchange processed: its sender and control number."""
        isa = self.isa
        if isa is None:
            return None
        fields = isa_fields(isa)
        return fields[5].strip(), fields[12].strip()

    @property
    def senders(self) -> list[tuple[str, Segment]]:
        """ISA06 of every ISA the body holds, with that ISA (the first is the one processed)."""
        return [(isa_fields(isa)[5].strip(), isa) for isa in self.headers]

    def digest(self) -> str:
        """sha256 of the interchange as processed (segments with their delimiters, no padding or
        line breaks): a resend that differs only in transport padding is the same interchange."""
        if self.delims is None:
            return self.raw_digest
        terminator = self.delims.segment
        text = "".join(seg.text(self.delims) + terminator for seg in self.segments)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def decode(data: bytes | str) -> str:
    """The body as text, decoded once: UTF-8 unless it only reads as UTF-16 or UTF-32."""
    if isinstance(data, str):
        return data
    utf8 = data.decode("utf-8", errors="replace")
    if _starts_with_isa(utf8):
        return utf8
    body = data
    while body.startswith(_UTF8_BOM):  # a UTF-8 mark before a UTF-16 one: still padding
        body = body[len(_UTF8_BOM) :]
    for mark, codec in _DECLARED:
        if body.startswith(mark):
            text = body[len(mark) :].decode(codec, errors="replace")
            return text if _starts_with_isa(text) else utf8
    if b"\x00" in body[:1024]:
        for codec in _WIDE:
            text = body.decode(codec, errors="replace")
            if _starts_with_isa(text):
                return text
    return utf8


def _starts_with_isa(text: str) -> bool:
    start = lead_length(text)
    return _readable_isa(text, start) is not None


def _readable_isa(text: str, start: int) -> Delimiters | None:
    if not text.startswith("ISA", start):
        return None
    try:
        delims, _ = detect_delimiters(text[start : start + 4096])
    except X12SyntaxError:
        return None
    return delims


def receive(data: bytes | str) -> ReceivedInterchange:
    """Decode, drop the padding before the ISA (or refuse what else precedes it), tokenize."""
    raw = data if isinstance(data, bytes) else data.encode("utf-8", errors="replace")
    received = ReceivedInterchange(raw_digest=hashlib.sha256(raw).hexdigest())
    text = decode(data)
    start = lead_length(text)
    if _readable_isa(text, start) is None:
        # Not an interchange from its first character: refused (TA1). Any ISA further on is
        # listed only so that a foreign sender is refused as one.
        received.headers = _isas_anywhere(data, text)
        if not text[start:].startswith("ISA"):
            received.fault = X12SyntaxError("data does not begin with an ISA segment")
            return received
    try:
        delims, segments = tokenize(text[start:])
    except X12SyntaxError as exc:
        received.fault = exc
        return received
    received.delims, received.segments = delims, segments
    received.headers = [seg for seg in segments if seg.seg_id == "ISA"]
    received.headers += _later_isas(text[start:], delims, segments)
    return received


def _later_isas(text: str, delims: Delimiters, segments: list[Segment]) -> list[Segment]:
    """ISAs the first interchange's delimiters do not split out as segments (a second
    interchange with delimiters of its own) that begin at a segment boundary of the first."""
    found: list[Segment] = []
    at = text.find("ISA", 3)
    while at >= 0:
        if _at_boundary(text, at, delims.segment):
            isa = _isa_at(text, at)
            if isa is not None and not _same_segment(isa, segments):
                found.append(isa)
        at = text.find("ISA", at + 3)
    return found


def _at_boundary(text: str, at: int, terminator: str) -> bool:
    """Only padding lies between a segment terminator and `at` (a segment id starts there)."""
    index = at - 1
    while index >= 0:
        char = text[index]
        if char == terminator:
            return True
        if not is_padding(char):
            return False
        index -= 1
    return True


def _same_segment(isa: Segment, segments: list[Segment]) -> bool:
    """The ISA is one the tokenizer already split out (same elements)."""
    return any(seg.seg_id == "ISA" and seg.elements == isa.elements for seg in segments)


def _isa_at(text: str, at: int) -> Segment | None:
    delims = _readable_isa(text, at)
    if delims is None:
        return None
    end = text.find(delims.segment, at)
    if end < 0:
        return None
    parts = text[at:end].split(delims.element)
    return Segment(parts[0], parts[1:], 0)


def _isas_anywhere(data: bytes | str, text: str) -> list[Segment]:
    """Every readable ISA near the head of a body that does not begin with one, under each
    decoding it might have been meant in."""
    texts = [text[:_SEARCH]]
    if isinstance(data, bytes):
        head = data[:_SEARCH]
        for codec in ("utf-8", *_WIDE):
            texts.append(head.decode(codec, errors="replace"))
    found: list[Segment] = []
    for candidate in texts:
        at = candidate.find("ISA")
        while at >= 0:
            isa = _isa_at(candidate, at)
            if isa is not None and not _same_segment(isa, found):
                found.append(isa)
            at = candidate.find("ISA", at + 3)
    return found
