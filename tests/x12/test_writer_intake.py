"""278 responses (checked by pyx12 with the project's map), intake modes, batch streaming."""

from __future__ import annotations

import pytest

from gateway.x12.engine import answer_interchange
from gateway.x12.intake import replay_key
from gateway.x12.numbers import MemoryControlNumbers, isa13
from gateway.x12.oracle import run_pyx12
from gateway.x12.validate import grammar_for, validate_transaction
from gateway.x12.writer import MSG_LIMIT
from tests.x12.helpers import (
    NOW,
    X12_ID,
    approve,
    bad_um02,
    member_not_found,
    not_required,
    pend,
    sample,
    sample_names,
    segments_of,
    transactions,
)


def answer(text: str, submit, batch: bool = False, numbers=None):
    return answer_interchange(
        text,
        x12_id=X12_ID,
        submit=submit,
        control_numbers=numbers or MemoryControlNumbers(),
        now=NOW,
        batch=batch,
    )


def seg(body: str, seg_id: str) -> list[list[str]]:
    return [s.split("*") for s in segments_of(body) if s.startswith(seg_id + "*")]


def assert_valid_response(body: str) -> None:
    result = run_pyx12(body)
    assert result.error is None and result.valid, result.findings
    delims, found = transactions(body)
    for transaction in found:
        report = validate_transaction(transaction.segments, delims, grammar_for("11"))
        assert report.accepted, report.errors


@pytest.mark.parametrize("submit", [approve, pend, member_not_found, not_required])
@pytest.mark.parametrize("name", sample_names())
def test_every_response_passes_pyx12(name, submit):
    result = answer(sample(name), submit)
    assert result.kind == "278"
    assert result.responses == result.body
    assert_valid_response(result.body)


def test_approval_echoes_traces_and_carries_the_decision():
    body = answer(sample("278-act-dd-jane-doe.x12"), approve).body
    [isa] = seg(body, "ISA")
    assert isa[6].strip() == X12_ID and isa[8].strip() == "CLEARINGHOUSE01"
    [gs] = seg(body, "GS")
    assert (gs[1], gs[2], gs[3], gs[8]) == ("HI", X12_ID, "CLEARINGHOUSE01", "005010X217")
    [bht] = seg(body, "BHT")
    assert bht[2:4] == ["11", "ACTDD0001"] and bht[6] == "18"
    trns = seg(body, "TRN")
    assert ["TRN", "2", "ACTDD0001", "9CLEARHOUS"] in trns
    assert ["TRN", "1", "CASE-0001", "9GATEWAYUM"] in trns
    assert ["TRN", "2", "ACTDD0001-3", "9CLEARHOUS"] in trns
    hcr = seg(body, "HCR")
    assert hcr[0] == ["HCR", "A1", "AUTH123456"] and len(hcr) == 4
    assert ["DTP", "AAH", "RD8", "20261201-20270930"] in seg(body, "DTP")
    assert ["REF", "NT", "CASE-0001"] in seg(body, "REF")
    assert seg(body, "MSG")[0][1].startswith("Preferred pathway regimen")
    assert [s[1] for s in seg(body, "SV1")] == ["HC:J9000", "HC:J9070", "HC:J9267"]


def test_pended_response_says_updates_follow():
    body = answer(sample("278-act-dd-jane-doe.x12"), pend).body
    [bht] = seg(body, "BHT")
    assert bht[6] == "19"  # X12 640: response, further updates to follow
    assert seg(body, "HCR")[0] == ["HCR", "A4", "", "0U"]
    [msg] = seg(body, "MSG")
    assert len(msg[1]) <= MSG_LIMIT
    assert not any(d[1] == "AAH" for d in seg(body, "DTP"))


def test_member_not_found_gets_aaa_75_inside_2010c():
    body = answer(sample("278-unknown-member.x12"), member_not_found).body
    lines = segments_of(body)
    il = next(i for i, s in enumerate(lines) if s.startswith("NM1*IL"))
    assert lines[il + 1] == "AAA*N**75*C"
    assert not seg(body, "HCR")
    assert seg(body, "BHT")[0][6] == "18"
    assert not any(s[3] == "SS" for s in seg(body, "HL"))


def test_not_required_for_the_emergency_room():
    body = answer(sample("278-emergency-room.x12"), not_required).body
    assert seg(body, "HCR")[0][1] == "NA"
    assert seg(body, "UM")[0][4] == "23:B"


def test_submit_gets_the_case_and_the_replay_key():
    seen: list[tuple] = []

    def spy(case, key):
        seen.append((case, key))
        return approve(case, key)

    answer(sample("278-act-dd-jane-doe.x12"), spy)
    [(case, key)] = seen
    prefix, sender, bht03, digest = key.split(":")
    assert (prefix, sender, bht03, len(digest)) == ("x12", "CLEARINGHOUSE01", "ACTDD0001", 64)
    assert case.submission.content_hash == digest
    delims, [transaction] = transactions(sample("278-act-dd-jane-doe.x12"))
    assert key == replay_key("CLEARINGHOUSE01", "ACTDD0001", transaction.text(delims))
    # The same request with other line breaks is the same replay.
    again: list[str] = []
    answer(
        sample("278-act-dd-jane-doe.x12").replace("\n", "\r\n"),
        lambda c, k: (again.append(k), approve(c, k))[1],
    )
    assert again == [key]


def test_batch_answers_a_999_then_the_responses():
    result = answer(sample("278-batch.x12"), approve, batch=True)
    assert result.kind == "999+278"
    assert result.body.index("ST*999") < result.body.index("ST*278")
    assert seg(result.acks, "AK9") == [["AK9", "A", "5", "5", "5"]]
    assert len(seg(result.responses, "BHT")) == 5
    assert_valid_response(result.responses)


def test_real_time_partial_acceptance_answers_999_and_278():
    text = bad_um02(sample("278-batch.x12"))  # the first transaction's UM02 is wrong
    result = answer(text, approve)
    assert result.kind == "999+278"
    assert seg(result.acks, "AK9") == [["AK9", "P", "5", "5", "4"]]
    assert len(seg(result.responses, "BHT")) == 4


def test_control_numbers_come_from_the_provider():
    numbers = MemoryControlNumbers(start=41)
    first = answer(sample("278-act-dd-jane-doe.x12"), approve, numbers=numbers).body
    second = answer(sample("278-act-dd-jane-doe.x12"), approve, numbers=numbers).body
    assert seg(first, "ISA")[0][13] == isa13(41) and seg(second, "ISA")[0][13] == isa13(42)
    assert seg(first, "IEA")[0][2] == isa13(41)
    assert seg(first, "GS")[0][6] != seg(second, "GS")[0][6]


def test_core_failure_still_answers():
    def broken(case, key):
        raise RuntimeError("database down")

    body = answer(sample("278-act-dd-jane-doe.x12"), broken).body
    assert "AAA*N**42*R" in body
    assert_valid_response(body)
