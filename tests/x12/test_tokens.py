"""Tokenizer: delimiters from the ISA, tolerant of BOM / line breaks / indentation."""

from __future__ import annotations

import io

import pytest

from gateway.x12.engine import answer_interchange
from gateway.x12.numbers import MemoryControlNumbers
from gateway.x12.tokens import X12SyntaxError, detect_delimiters, iter_segments, tokenize
from tests.x12.helpers import NOW, X12_ID, approve, sample

ISA = (
    "ISA*00*          *00*          *ZZ*SENDER         *ZZ*GATEWAYUM      *261120*0930*^*"
    "00501*000000001*0*T*>"
)


def test_delimiters_come_from_the_isa_positions():
    text = ISA.replace("*", "|") + "!GS|HI!"
    delims, start = detect_delimiters("\ufeff  " + text)
    assert (delims.element, delims.component, delims.repetition, delims.segment) == (
        "|",
        ">",
        "^",
        "!",
    )
    assert start == 3


def test_isa12_00401_has_no_repetition_separator():
    delims, _ = detect_delimiters(ISA.replace("*^*00501", "*U*00401") + "~")
    assert delims.repetition is None


def test_line_breaks_bom_indentation_and_trailing_blanks_are_dropped():
    text = sample("278-act-dd-jane-doe.x12")
    messy = "\ufeff" + "\r\n".join(
        "    " + line + "   " if line else line for line in text.splitlines()
    )
    _, clean_segments = tokenize(text)
    _, messy_segments = tokenize(messy.encode("utf-8"))
    assert [s.elements for s in messy_segments][:-1] == [s.elements for s in clean_segments][:-1]


def test_streaming_matches_whole_text():
    text = sample("278-batch.x12")
    _, whole = tokenize(text)
    streamed = [seg for _, seg in iter_segments(io.StringIO(text), chunk_size=7)]
    assert [s.elements for s in streamed] == [s.elements for s in whole]
    assert [s.seg_id for s in streamed] == [s.seg_id for s in whole]


def test_not_x12_gets_a_ta1():
    with pytest.raises(X12SyntaxError):
        tokenize("hello")
    answer = answer_interchange(
        b"hello", x12_id=X12_ID, submit=approve, control_numbers=MemoryControlNumbers(), now=NOW
    )
    assert answer.kind == "ta1" and answer.note_code == "022"


def test_isa_without_fixed_widths_is_still_read_and_refused_precisely():
    text = sample("278-act-dd-jane-doe.x12").replace("CLEARINGHOUSE01", "CH01", 1)
    delims, segments = tokenize(text)
    assert delims.segment == "~" and segments[1].seg_id == "GS"
    answer = answer_interchange(
        text, x12_id=X12_ID, submit=approve, control_numbers=MemoryControlNumbers(), now=NOW
    )
    assert answer.note_code == "006"  # ISA06 must be 15 characters
