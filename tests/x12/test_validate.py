"""The gateway's validator against pyx12 (same map), and the acknowledgments it leads to."""

from __future__ import annotations

import pytest

from gateway.x12.engine import answer_interchange
from gateway.x12.envelope import check_interchange, parse_interchange
from gateway.x12.numbers import MemoryControlNumbers
from gateway.x12.oracle import run_pyx12
from gateway.x12.tokens import Segment, X12SyntaxError, tokenize
from gateway.x12.validate import grammar_for, validate_transaction
from tests.x12.helpers import (
    BROKEN_REFERENCES,
    HAVE_REFERENCE,
    NOW,
    VALID_REFERENCES,
    VARIANTS,
    X12_ID,
    bad_um02,
    check_groups,
    drop_subscriber_name,
    reference,
    sample,
    sample_names,
    segments_of,
    transactions,
    wrong_iea02,
    wrong_se01,
)


def gateway_verdict(
    text: str, receiver: str | None = None, application: str | None = None
) -> tuple[bool, set]:
    """(valid, {(ST02, segment, position)} and {(ST02, IK5 code)} of the trailer codes 3 and 4)
    as the gateway sees one interchange."""
    try:
        delims, segments = tokenize(text)
    except X12SyntaxError:
        return False, set()
    ix = parse_interchange(delims, segments)
    isa08 = receiver or ix.receiver
    if check_interchange(ix, isa08, application) is not None:
        return False, set()
    positions = set()
    valid = True
    for _group, ack in check_groups(ix) if _is_request(ix) else _responses(ix):
        valid &= ack.status == "A"
        for report in ack.reports:
            positions |= {(report.st02, e.seg_id, e.position) for e in report.errors}
            positions |= {(report.st02, code) for code in report.set_codes if code in TRAILER}
    return valid, positions


# IK5 codes of a trailer contradicting its transaction set: 3 SE02 is not ST02, 4 SE01 count.
TRAILER = ("3", "4")


def _is_request(ix) -> bool:
    return all(
        t.segments[1].get(2) != "11"
        for g in ix.groups
        for t in g.transactions
        if len(t.segments) > 1
    )


def _responses(ix):
    from gateway.x12.ack import GroupAck
    from gateway.x12.envelope import check_group

    for group in ix.groups:
        ack = GroupAck("HI", group.gs.get(6), group.gs.get(8), codes=check_group(group).codes)
        ack.reports = [
            validate_transaction(t.segments, ix.delims, grammar_for("11"))
            for t in group.transactions
        ]
        yield group, ack


def pyx12_verdict(text: str) -> tuple[bool, set]:
    result = run_pyx12(text)
    positions = set(result.segment_positions)
    # pyx12 reports SE01/SE02 disagreements on the transaction set, as the 999's IK5 codes do.
    for finding in result.findings:
        if finding.level == "st" and finding.code in TRAILER:
            positions.add((finding.transaction, finding.code))
    return result.valid and result.error is None, positions


def corpus() -> list[tuple[str, str]]:
    references = VALID_REFERENCES + BROKEN_REFERENCES if HAVE_REFERENCE else []
    valid = [(f"ref {n}", reference(n)) for n in references]
    valid += [(f"sample {n}", sample(n)) for n in sample_names()]
    broken = []
    bases = [
        ("sample 278-act-dd-jane-doe.x12", sample("278-act-dd-jane-doe.x12")),
        ("sample 278-batch.x12", sample("278-batch.x12")),
        *([("ref 3.2.1", reference("Example_3_2_1_Request.txt"))] if HAVE_REFERENCE else []),
    ]
    for base_name, text in bases:
        for variant, make in VARIANTS.items():
            broken.append((f"{base_name} / {variant}", make(text)))
    broken.append(
        (
            "batch / NM1*IL dropped in the 2nd transaction",
            drop_subscriber_name(sample("278-batch.x12"), 1),
        )
    )
    return valid + broken


@pytest.mark.parametrize("name,text", corpus(), ids=[n for n, _ in corpus()])
def test_gateway_and_pyx12_agree(name, text):
    # The guide's examples address ISA08 9088877320000 and GS03 908887732000.
    ids = ("9088877320000", "908887732000") if name.startswith("ref") else (None, None)
    ours, our_positions = gateway_verdict(text, *ids)
    theirs, their_positions = pyx12_verdict(text)
    assert ours == theirs, (our_positions, their_positions)
    assert our_positions == their_positions


def test_reference_3_3_faults_are_reported_precisely():
    delims, [transaction] = transactions(reference("Example_3_3_1_Request.txt"))
    report = validate_transaction(transaction.segments, delims)
    [error] = report.errors
    assert (error.seg_id, error.position, error.loop_id, error.code) == ("TRN", 10, "2000E", "8")
    [element] = error.elements
    assert (element.position, element.data_ele, element.code, element.value) == (
        3,
        "509",
        "4",
        "987654321",
    )
    delims, [transaction] = transactions(reference("Example_3_3_2_Response.txt"))
    report = validate_transaction(transaction.segments, delims, grammar_for("11"))
    nm1 = next(e for e in report.errors if e.seg_id == "NM1")
    assert (nm1.position, nm1.loop_id) == (7, "2010B")
    assert {(e.position, e.code) for e in nm1.elements} >= {(8, "5"), (8, "7"), (9, "1")}


def _answer(text: str):
    def refuse(case, key):  # a rejected transaction never reaches the core
        raise AssertionError("submitted a rejected transaction")

    return answer_interchange(
        text, x12_id=X12_ID, submit=refuse, control_numbers=MemoryControlNumbers(), now=NOW
    )


def _segments(body: str, seg_id: str) -> list[list[str]]:
    return [s.split("*") for s in segments_of(body) if s.startswith(seg_id + "*")]


def test_wrong_iea02_gets_ta1_001():
    answer = _answer(wrong_iea02(sample("278-act-dd-jane-doe.x12")))
    assert answer.kind == "ta1" and answer.note_code == "001"
    [ta1] = _segments(answer.body, "TA1")
    assert ta1 == ["TA1", "000000201", "261120", "0930", "R", "001"]
    assert not _segments(answer.body, "GS")


def test_interchange_for_another_receiver_gets_ta1():
    text = sample("278-act-dd-jane-doe.x12").replace("GATEWAYUM      ", "SOMEONEELSE    ")
    answer = _answer(text)
    assert answer.kind == "ta1" and answer.note_code == "008"  # invalid interchange receiver


def test_missing_subscriber_name_is_rejected_at_2010c():
    answer = _answer(drop_subscriber_name(sample("278-act-dd-jane-doe.x12")))
    assert answer.kind == "999"
    ik3 = _segments(answer.body, "IK3")
    assert ["IK3", "NM1", "14", "2010", "3"] in ik3  # required segment missing
    assert _segments(answer.body, "CTX")[0] == ["CTX", "TRN02:ACTDD0001"]
    assert _segments(answer.body, "IK5") == [["IK5", "R", "5"]]
    assert _segments(answer.body, "AK9") == [["AK9", "R", "1", "1", "0"]]


def test_bad_um02_points_at_the_element():
    answer = _answer(bad_um02(sample("278-act-dd-jane-doe.x12")))
    assert _segments(answer.body, "IK3") == [["IK3", "UM", "17", "2000", "8"]]
    assert _segments(answer.body, "IK4") == [["IK4", "2", "1322", "7", "Z"]]
    assert _segments(answer.body, "IK5") == [["IK5", "R", "5"]]


def test_wrong_se01_rejects_the_transaction_set_with_ik5_4():
    # Issue 14 item 4: the count is an IK5 code (4), not an IK3/IK4 on SE; pyx12 agrees.
    text = wrong_se01(sample("278-act-dd-jane-doe.x12"))
    answer = _answer(text)
    assert _segments(answer.body, "IK3") == []
    assert _segments(answer.body, "IK4") == []
    assert _segments(answer.body, "IK5") == [["IK5", "R", "4"]]
    assert _segments(answer.body, "AK9") == [["AK9", "R", "1", "1", "0"]]
    assert {(f.level, f.code) for f in run_pyx12(text).findings} == {("st", "4")}


def test_wrong_se02_rejects_the_transaction_set_with_ik5_3():
    text = sample("278-act-dd-jane-doe.x12").replace("SE*47*0001", "SE*47*0002")
    assert text != sample("278-act-dd-jane-doe.x12")
    answer = _answer(text)
    assert _segments(answer.body, "IK3") == []
    assert _segments(answer.body, "IK5") == [["IK5", "R", "3"]]
    assert {(f.level, f.code) for f in run_pyx12(text).findings} == {("st", "3")}


@pytest.mark.parametrize("make", [drop_subscriber_name, bad_um02, wrong_se01, wrong_iea02])
def test_acknowledgments_pass_pyx12_own_999_and_ta1_maps(make):
    import io

    import pyx12.params
    import pyx12.x12n_document

    body = _answer(make(sample("278-act-dd-jane-doe.x12"))).body
    assert pyx12.x12n_document.x12n_document(
        pyx12.params.params(), io.StringIO(body), None, None, None, None
    )


def test_gs08_mislabel_and_isa12_00401_are_tolerated():
    raw = reference("Example_3_1_1_Request.txt").replace("*X*005010X217~", "*X*005010X279~", 1)
    assert "GS*HI*901234572000*908887732000*20070816*1615*31*X*005010X279~" in raw
    delims, segments = tokenize(raw)
    ix = parse_interchange(delims, segments)
    assert delims.repetition is None  # ISA12 00401: ISA11 "U" is no separator
    assert check_interchange(ix, "9088877320000", "908887732000") is None
    [(group, ack)] = check_groups(ix)
    assert ack.status == "A"


def test_indented_bom_file_reads_like_the_normalized_one():
    from tests.x12.helpers import REFERENCE

    if not HAVE_REFERENCE:
        pytest.skip("shared/reference is not beside the checkout")
    raw = (REFERENCE / "Example_3_2_1_Request.txt").read_bytes()
    _, direct = tokenize(raw)
    _, normalized = tokenize(reference("Example_3_2_1_Request.txt"))
    assert [s.elements for s in direct] != [] and len(direct) == len(normalized)
    assert [s.seg_id for s in direct] == [s.seg_id for s in normalized]


def test_the_validator_names_the_map_loop_of_every_segment():
    """The reader maps by these loop ids (TransactionReport.loops), never by re-reading HL03."""
    delims, found = transactions(sample("278-act-dd-jane-doe.x12"))
    segments = found[0].segments
    report = validate_transaction(segments, delims, grammar_for("13"))
    assert report.accepted and len(report.loops) == len(segments)
    placed = list(zip((s.seg_id for s in segments), report.loops, strict=True))
    assert placed[:2] == [("ST", "ST_LOOP"), ("BHT", "HEADER")] and placed[-1] == ("SE", "ST_LOOP")
    assert [loop for sid, loop in placed if sid == "HL"] == [
        "2000A",
        "2000B",
        "2000C",
        "2000E",
        "2000F",
        "2000F",
        "2000F",
    ]
    assert [loop for sid, loop in placed if sid == "NM1"] == [
        "2010A",
        "2010B",
        "2010C",
        "2010EA",
        "2010EA",
    ]
    # A segment the map has no place for gets no loop (and an error).
    bad = [*segments[:3], Segment("ZZZ", ["1"], 99), *segments[3:]]
    bad_report = validate_transaction(bad, delims, grammar_for("13"))
    assert bad_report.loops[3] is None and not bad_report.accepted


def test_sets_of_one_shape_share_a_walk_and_each_report_keeps_its_own_faults():
    """A batch's sets of one shape are walked through the map once (gateway.x12.validate
    _Shapes): a qualifier that sends a segment elsewhere is another shape, and the faults a
    report carries are its own (changing one changes no later report)."""
    delims, found = transactions(sample("278-act-dd-jane-doe.x12"))
    segments = found[0].segments
    grammar = grammar_for("13")
    # The subscriber's NM101 IL changed: no place for that NM1 or the DMG after it, and the
    # 2010C name missing.
    changed = [
        Segment(s.seg_id, ["ZZ", *s.elements[1:]], s.index, s.line)
        if s.seg_id == "NM1" and s.elements[0] == "IL"
        else s
        for s in segments
    ]
    assert validate_transaction(segments, delims, grammar).accepted
    first = validate_transaction(changed, delims, grammar)
    facts = [(e.seg_id, e.position, e.loop_id, e.code) for e in first.errors]
    assert facts == [
        ("NM1", 13, "2000C", "2"),
        ("DMG", 14, "2000C", "2"),
        ("NM1", 15, "2010C", "3"),
    ]
    first.errors.clear()
    second = validate_transaction(changed, delims, grammar)
    assert [(e.seg_id, e.position, e.loop_id, e.code) for e in second.errors] == facts
    assert validate_transaction(segments, delims, grammar).accepted
