"""Batch files answered while streaming agree with the real-time batch answer, in flat memory."""

from __future__ import annotations

import io
import os
import random
import tracemalloc
from collections.abc import Callable

import pytest

from gateway.x12.engine import BatchSummary, answer_batch, answer_interchange, scan_batch
from gateway.x12.envelope import SeenControlNumbers
from gateway.x12.intake import X12Answer
from gateway.x12.numbers import MemoryControlNumbers
from tests.x12.helpers import (
    NOW,
    VARIANTS,
    X12_ID,
    approve,
    join,
    member_not_found,
    pend,
    sample,
    sample_names,
    segments_of,
    set_element,
)

BATCH = sample("278-batch.x12")


def streamed(text: str | bytes, submit=approve, **kwargs) -> tuple[BatchSummary, str, str]:
    acks, responses = io.StringIO(), io.StringIO()
    stream = io.BytesIO(text) if isinstance(text, bytes) else io.StringIO(text)
    summary = answer_batch(
        stream,
        x12_id=X12_ID,
        submit=submit,
        control_numbers=MemoryControlNumbers(),
        now=NOW,
        acks_out=acks,
        responses_out=responses,
        **kwargs,
    )
    return summary, acks.getvalue(), responses.getvalue()


def real_time(text: str, submit=approve) -> X12Answer:
    return answer_interchange(
        text,
        x12_id=X12_ID,
        submit=submit,
        control_numbers=MemoryControlNumbers(),
        now=NOW,
        batch=True,
    )


def segs(body: str | None, seg_id: str) -> list[list[str]]:
    return [s.split("*") for s in segments_of(body or "") if s.startswith(seg_id + "*")]


# -- broken variants beyond the shared ones (tests/x12/helpers.py) ----------------------------


def ge_count_wrong(text: str) -> str:
    return set_element(text, "GE*", 1, "7")


def gs_version_wrong(text: str) -> str:
    return set_element(text, "GS*", 8, "004010X094A1")


def gs_not_hi(text: str) -> str:
    return set_element(text, "GS*", 1, "HS")


def duplicate_st02(text: str) -> str:
    text = set_element(text, "ST*", 2, "0001", nth=2)
    return set_element(text, "SE*", 2, "0001", nth=2)


def missing_se(text: str) -> str:
    segments = segments_of(text)
    first_se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    del segments[first_se]
    return join(segments)


def stray_segment(text: str) -> str:
    segments = segments_of(text)
    first_se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    segments.insert(first_se + 1, "REF*EI*123456789")
    return join(segments)


def after_iea(text: str) -> str:
    return text + "NOT X12 AT ALL~\n"


def two_groups(text: str) -> str:
    segments = segments_of(text)
    gs = next(s for s in segments if s.startswith("GS*"))
    second_st = [i for i, s in enumerate(segments) if s.startswith("ST*")][2]
    segments[second_st:second_st] = ["GE*2*207", gs.replace("*207*", "*208*")]
    segments = [s if not s.startswith("GE*5") else "GE*3*208" for s in segments]
    segments = [s if not s.startswith("IEA") else s.replace("IEA*1", "IEA*2") for s in segments]
    return join(segments)


def crlf_and_bom(text: str) -> str:
    return "\ufeff" + text.replace("\n", "\r\n")


BATCH_VARIANTS: dict[str, Callable[[str], str]] = {
    "as sent": lambda text: text,
    **VARIANTS,
    "GE01 wrong": ge_count_wrong,
    "GS08 another guide": gs_version_wrong,
    "GS01 not HI": gs_not_hi,
    "duplicate ST02": duplicate_st02,
    "missing SE": missing_se,
    "segment between transaction sets": stray_segment,
    "data after IEA": after_iea,
    "two groups": two_groups,
    "CRLF and BOM": crlf_and_bom,
    "not X12": lambda text: "hello, world\n" * 20,
}


@pytest.mark.parametrize("name", sorted(BATCH_VARIANTS))
def test_streamed_answer_agrees_with_the_real_time_batch_answer(name):
    text = BATCH_VARIANTS[name](BATCH)
    expected = real_time(text)
    summary, acks, responses = streamed(text)
    # Same control-number provider and clock on both sides: the answers agree to the byte.
    assert acks == expected.acks
    assert responses == (expected.responses or "")
    assert summary.kind == expected.kind
    assert summary.note_codes == ([expected.note_code] if expected.note_code else [])
    # Spelled out: the 999 verdicts, the IK3 positions and the HCR01s.
    assert segs(acks, "AK9") == segs(expected.acks, "AK9")
    assert segs(acks, "IK5") == segs(expected.acks, "IK5")
    assert [s[1:3] for s in segs(acks, "IK3")] == [s[1:3] for s in segs(expected.acks, "IK3")]
    assert segs(responses, "HCR") == segs(expected.responses, "HCR")
    assert summary.accepted == len(expected.results)
    assert summary.cases == len([case for case, _ in expected.results if case.id])


@pytest.mark.parametrize("submit", [approve, pend, member_not_found])
@pytest.mark.parametrize("name", sample_names())
def test_every_sample_agrees(name, submit):
    text = sample(name)
    expected = real_time(text, submit)
    summary, acks, responses = streamed(text, submit)
    assert (acks, responses) == (expected.acks, expected.responses or "")
    assert summary.transactions == summary.accepted + summary.rejected


def test_a_group_rejected_at_its_ge_submits_nothing():
    submitted = []
    summary, acks, responses = streamed(
        ge_count_wrong(BATCH), lambda case, key: (submitted.append(key), approve(case, key))[1]
    )
    assert submitted == [] and responses == ""
    assert segs(acks, "AK9") == [["AK9", "R", "7", "5", "0", "5"]]
    assert (summary.accepted, summary.rejected, summary.kind) == (0, 5, "999")


def test_several_interchanges_are_answered_each():
    second = BATCH.replace("000000207", "000000208")
    summary, acks, responses = streamed(BATCH + second)
    assert summary.interchanges == 2 and summary.kind == "999+278"
    assert len(segs(acks, "ISA")) == 2 and len(segs(acks, "AK9")) == 2
    assert len(segs(responses, "ISA")) == 2 and len(segs(responses, "BHT")) == 10
    # The second is answered to its own ISA13's sender, with its own control numbers.
    assert len({s[13] for s in segs(responses, "ISA")}) == 2


def test_a_stream_that_cannot_seek_is_answered_the_same():
    class Pipe(io.StringIO):
        def seekable(self) -> bool:
            return False

    acks, responses = io.StringIO(), io.StringIO()
    summary = answer_batch(
        Pipe(BATCH),
        x12_id=X12_ID,
        submit=approve,
        control_numbers=MemoryControlNumbers(),
        now=NOW,
        acks_out=acks,
        responses_out=responses,
    )
    expected = real_time(BATCH)
    assert (acks.getvalue(), responses.getvalue()) == (expected.acks, expected.responses)
    assert summary.accepted == 5


def test_binary_streams_stay_open_and_progress_counts_every_transaction():
    raw = io.BytesIO(b"\xef\xbb\xbf" + BATCH.encode())
    ticks: list[int] = []
    totals: list[int] = []
    summary, acks, _ = streamed(
        raw.getvalue(), progress=ticks.append, on_scan=lambda scan: totals.append(scan.transactions)
    )
    assert sum(ticks) == summary.transactions == 5 and totals == [5]
    assert scan_batch(raw, x12_id=X12_ID).transactions == 5
    assert not raw.closed
    assert segs(acks, "AK9") == [["AK9", "A", "5", "5", "5"]]


def test_seen_control_numbers_match_a_plain_set():
    rng = random.Random(7)
    values = [f"{rng.randint(1, 60):04d}" for _ in range(400)] + ["A1", "A1", "12", "012"]
    seen = SeenControlNumbers()
    plain: set[str] = set()
    for value in values:
        assert seen.add(value) == (value in plain), value
        plain.add(value)


# -- memory -------------------------------------------------------------------------------


def generated_batch(count: int) -> io.StringIO:
    """`count` copies of the sample's first transaction set, numbered 1..count."""
    segments = segments_of(BATCH)
    head, body = segments[:2], segments[2:-2]
    one = body[: next(i for i, s in enumerate(body) if s.startswith("SE*")) + 1]
    parts = list(head)
    for n in range(1, count + 1):
        parts += [
            s.replace("*0001", f"*{n:06d}")
            if s.startswith(("ST*", "SE*"))
            else s.replace("BATCH0001", f"BATCH{n:06d}")
            for s in one
        ]
    parts += [f"GE*{count}*207", "IEA*1*000000207"]
    return io.StringIO("~\n".join(parts) + "~\n")


def peak_rise(stream: io.StringIO) -> tuple[BatchSummary, int]:
    """The batch answered under the running tracemalloc: how far the traced heap rose above
    what it held before (the input stream is made before, so it is not counted)."""
    with open(os.devnull, "w") as sink:
        base, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        summary = answer_batch(
            stream,
            x12_id=X12_ID,
            submit=approve,
            control_numbers=MemoryControlNumbers(),
            now=NOW,
            acks_out=sink,
            responses_out=sink,
            chunk_size=4096,
        )
        _, top = tracemalloc.get_traced_memory()
    return summary, top - base


def test_memory_does_not_grow_with_the_number_of_transactions():
    # tracemalloc slows each allocation several-fold, so the batches are small (was 100 and
    # 1000 sets, 13 s). One trace over all three runs: the warm-up loads the maps and code
    # lists and fills the bounded caches (clean's lru_cache, the validator's shapes) with
    # traced entries of these very sets, so the measured runs find them there instead of
    # counting evicted untraced entries replaced by traced ones as growth.
    large_text = generated_batch(60).getvalue()
    tracemalloc.start()
    try:
        peak_rise(io.StringIO(large_text))
        small, small_rise = peak_rise(generated_batch(10))
        large, large_rise = peak_rise(io.StringIO(large_text))
    finally:
        tracemalloc.stop()
    assert (small.accepted, large.accepted) == (10, 60)
    # Six times the transactions; flat memory measures ~1.25x here. Keeping each transaction
    # set (~20 KB) would be ~9x, keeping even 1 KB a set ~1.7x: both fail.
    assert large_rise < small_rise * 1.5, (small_rise, large_rise)
