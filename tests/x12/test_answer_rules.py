"""The situational rules of the X12 answers (issue 14, X12 items), through the real HTTP app and
the real `gateway submit`: what a trading partner's validator checks beyond the structure."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gateway.conformance.observe import observe_x12
from gateway.domain.case import Reason
from gateway.domain.review_reasons import (
    ReviewReasons,
    load_review_reasons,
    review_reason,
)
from gateway.settings import REPO_ROOT
from gateway.x12.engine import answer_batch, answer_interchange
from gateway.x12.numbers import MemoryControlNumbers
from gateway.x12.oracle import run_pyx12
from gateway.x12.writer import msg_text, review_reasons
from tests.cli import run_in_process
from tests.x12.helpers import (
    NOW,
    VARIANTS,
    X12_ID,
    sample,
    segments_of,
)

CONFORMANCE_FILES = REPO_ROOT / "conformance" / "x12" / "files"


def post(client, data: str | bytes):
    body = data.encode() if isinstance(data, str) else data
    return client.post("/x12/278", content=body, headers={"Content-Type": "application/edi-x12"})


def seg(body: str, seg_id: str) -> list[list[str]]:
    return [s.split("*") for s in segments_of(body) if s.startswith(seg_id + "*")]


def isa_with(text: str, index: int, value: str) -> str:
    isa, rest = text.split("~", 1)
    parts = isa.split("*")
    assert len(parts[index]) == len(value)
    parts[index] = value
    return "*".join(parts) + "~" + rest


def interchanges(body: str) -> list[str]:
    return ["ISA" + part for part in body.split("ISA")[1:]]


# ---------------------------------------------------------------- item 1: no 2000E after 2010C


def test_a_rejection_at_2010c_ends_the_answer_at_the_subscriber(client):
    response = post(client, sample("278-unknown-member.x12"))
    body = response.text
    assert seg(body, "HL")[-1] == ["HL", "3", "2", "22", "0"]  # no child level follows
    assert seg(body, "AAA") == [["AAA", "N", "", "75", "C"]]
    for absent in ("TRN", "UM", "HCR", "MSG", "DTP"):
        assert seg(body, absent) == [], absent
    assert run_pyx12(response.content).valid


# ---------------------------------------------------------------- item 2: HCR03


def test_a_hold_answers_hcr03_0u_at_every_level(client):
    body = post(client, sample("278-act-without-z1732.x12")).text
    hcrs = seg(body, "HCR")
    assert len(hcrs) == 4 and all(hcr == ["HCR", "A4", "", "0U"] for hcr in hcrs)


def test_an_approval_on_pathway_carries_no_hcr03(client):
    body = post(client, sample("278-act-dd-jane-doe.x12")).text
    assert all(len(hcr) == 3 and hcr[1] == "A1" for hcr in seg(body, "HCR"))


def test_the_crosswalk_names_a_reason_for_every_a3_and_a6():
    crosswalk = load_review_reasons()
    denied = Reason(code="REVIEWER_DENIED", text="Not medically necessary as requested.")
    assert review_reason(crosswalk, "A3", denied) == "0J"
    # An action that needs a reason gets its default when the reason has no entry of its own.
    other = Reason(code="SOMETHING_NEW", text="A reviewer's reason.")
    assert review_reason(crosswalk, "A3", other) == "0J"
    assert review_reason(crosswalk, "A6", other) == "0K"
    # A pend carries one only when its reason is known; an approval none.
    assert review_reason(crosswalk, "A4", other) is None
    hold = Reason(code="MISSING_CLINICAL_INFO", text="Clinical information needed.")
    assert review_reason(crosswalk, "A4", hold) == "0U"
    assert (
        review_reason(crosswalk, "A1", Reason(code="PATHWAY_PREFERRED", text="On pathway.")) is None
    )
    # A code the determination already carries wins.
    chosen = Reason(code="REVIEWER_DENIED", text="Denied.", x12_reason="0K")
    assert review_reason(crosswalk, "A3", chosen) == "0K"


def test_every_crosswalk_code_is_one_the_response_map_lets_through():
    from gateway.x12.writer import hcr03_codes

    crosswalk = review_reasons()
    sent = set(crosswalk.by_reason.values()) | set(crosswalk.by_action.values())
    assert sent and sent <= hcr03_codes()


def test_an_empty_crosswalk_sends_no_reason(tmp_path: Path):
    assert load_review_reasons(tmp_path / "absent.yaml") == ReviewReasons()
    bad = tmp_path / "bad.yaml"
    bad.write_text("by_reason: [0U]\n")
    with pytest.raises(ValueError, match="by_reason"):
        load_review_reasons(bad)


def test_a_denied_answer_carries_hcr03_at_the_event_and_every_line():
    from gateway.domain.case import CaseStatus, Determination, LineDetermination

    def deny(case, key):
        stored = case.model_copy(update={"id": "CASE-0003"})
        return stored, Determination(
            status=CaseStatus.DENIED,
            review_action="A3",
            reason=Reason(code="REVIEWER_DENIED", text="Not medically necessary as requested."),
            decided_at=NOW,
            lines=[
                LineDetermination(sequence=line.sequence, code=line.code, review_action="A3")
                for line in case.service_lines
            ],
        )

    answer = answer_interchange(
        sample("278-act-dd-jane-doe.x12"),
        x12_id=X12_ID,
        submit=deny,
        control_numbers=MemoryControlNumbers(),
        now=NOW,
    )
    assert seg(answer.body, "HCR") == [["HCR", "A3", "", "0J"]] * 4
    assert run_pyx12(answer.body).valid


# ---------------------------------------------------------------- item 3: TA1 for ISA14 1


def test_isa14_1_gets_a_ta1_a_ahead_of_the_278(client):
    text = isa_with(sample("278-act-dd-jane-doe.x12"), 14, "1")
    response = post(client, text)
    first, second = interchanges(response.text)
    assert seg(first, "TA1") == [["TA1", "000000201", "261120", "0930", "A", "000"]]
    assert seg(first, "IEA")[0][1] == "0"  # a TA1 alone in its interchange
    assert seg(second, "HCR")[0][1] == "A1"
    assert observe_x12(response.content)["kind"] == "ta1+278"
    assert run_pyx12(second).valid


def test_isa14_1_on_a_broken_envelope_gets_the_ta1_r_alone(client):
    text = isa_with(sample("278-act-dd-jane-doe.x12"), 14, "1").replace(
        "IEA*1*000000201", "IEA*1*000000299"
    )
    response = post(client, text)
    [only] = interchanges(response.text)
    assert seg(only, "TA1") == [["TA1", "000000201", "261120", "0930", "R", "001"]]
    assert response.headers["X-Case-Ids"] == ""


def test_isa14_0_gets_no_ta1_when_all_is_well(client):
    response = post(client, sample("278-act-dd-jane-doe.x12"))
    assert seg(response.text, "TA1") == []


def test_isa14_1_with_the_tolerated_isa12_00401_is_accepted_with_errors():
    text = sample("278-act-dd-jane-doe.x12")
    text = isa_with(isa_with(isa_with(text, 14, "1"), 12, "00401"), 11, "U")
    from tests.x12.helpers import approve

    answer = answer_interchange(
        text, x12_id=X12_ID, submit=approve, control_numbers=MemoryControlNumbers(), now=NOW
    )
    assert seg(answer.body, "TA1")[0][4:] == ["E", "017"]
    assert answer.ta1 is not None and answer.body.startswith(answer.ta1)
    assert seg(answer.body, "HCR")


def test_a_batch_with_isa14_1_gets_the_ta1_then_the_999():
    from tests.x12.helpers import approve

    acks, responses = io.StringIO(), io.StringIO()
    summary = answer_batch(
        io.StringIO(isa_with(sample("278-batch.x12"), 14, "1")),
        x12_id=X12_ID,
        submit=approve,
        control_numbers=MemoryControlNumbers(),
        now=NOW,
        acks_out=acks,
        responses_out=responses,
    )
    ta1, ack = interchanges(acks.getvalue())
    assert seg(ta1, "TA1")[0][4:] == ["A", "000"]
    assert seg(ack, "ST")[0][1] == "999"
    assert summary.ta1 == 0 and summary.ta1_accepted == 1 and summary.acks == 1
    assert seg(responses.getvalue(), "HCR")


def test_gateway_submit_writes_the_ta1_ahead_of_the_999(tmp_path: Path):
    request = tmp_path / "isa14.x12"
    request.write_text((CONFORMANCE_FILES / "isa14-jane-doe.x12").read_text())
    env = {
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'gateway.db'}",
        "GATEWAY_FAX_SPOOL": str(tmp_path / "fax"),
        "GATEWAY_MAIL_DIR": str(tmp_path / "mail"),
        "GATEWAY_MEMBER_MAIL_DIR": str(tmp_path / "member-mail"),
        "GATEWAY_PAYER_FEED_DIR": str(tmp_path / "payer-feed"),
        "GATEWAY_FAX_GATEWAY": "spool",
        "GATEWAY_FROZEN_TIME": "2026-11-23T15:00:00Z",
        "COLUMNS": "300",
    }
    ran = run_in_process(
        env, "submit", str(request), "--out", str(tmp_path / "out"), "--no-dispatch"
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    acks = (tmp_path / "out" / "isa14.999").read_text()
    ta1, ack = interchanges(acks)
    assert seg(ta1, "TA1")[0][4:] == ["A", "000"]
    assert seg(ack, "IK5") == [["IK5", "A"]]


# ---------------------------------------------------------------- item 5: TA102/TA103 echoed


@pytest.mark.parametrize(
    "index,value,note",
    [(9, "261399", "014"), (10, "2575", "015")],
)
def test_the_ta1_echoes_an_invalid_isa09_or_isa10(client, index, value, note):
    text = isa_with(sample("278-act-dd-jane-doe.x12"), index, value)
    [ta1] = seg(post(client, text).text, "TA1")
    assert ta1[4:] == ["R", note]
    assert ta1[index - 7] == value  # TA102 is ISA09, TA103 ISA10


# ---------------------------------------------------------------- item 6: ISA05 / GS02


def test_the_answer_comes_from_the_qualifier_the_gateway_was_addressed_with(client):
    text = isa_with(isa_with(sample("278-act-dd-jane-doe.x12"), 5, "01"), 7, "01")
    body = post(client, text).text
    [isa] = seg(body, "ISA")
    assert (isa[5], isa[6].strip(), isa[7], isa[8].strip()) == (
        "01",
        "GATEWAYUM",
        "01",
        "CLEARINGHOUSE01",
    )
    assert seg(body, "GS")[0][2:4] == ["GATEWAYUM", "CLEARINGHOUSE01"]


# ---------------------------------------------------------------- item 7: CTX in real time


@pytest.mark.parametrize("variant", ["missing NM1*IL", "UM02 Z", "bad BHT04 date"])
def test_the_real_time_999_carries_the_ctx_of_the_batch_999(variant):
    text = VARIANTS[variant](sample("278-act-dd-jane-doe.x12"))

    def refuse(case, key):
        raise AssertionError("a rejected transaction set was submitted")

    real_time = answer_interchange(
        text, x12_id=X12_ID, submit=refuse, control_numbers=MemoryControlNumbers(), now=NOW
    )
    acks, responses = io.StringIO(), io.StringIO()
    answer_batch(
        io.StringIO(text),
        x12_id=X12_ID,
        submit=refuse,
        control_numbers=MemoryControlNumbers(),
        now=NOW,
        acks_out=acks,
        responses_out=responses,
    )
    contexts = seg(real_time.body, "CTX")
    assert contexts and all(ctx == ["CTX", "TRN02:ACTDD0001"] for ctx in contexts)
    assert contexts == seg(acks.getvalue(), "CTX")

    # The whole AK1..AK9 agrees too, not only the CTX lines.
    def loop(body: str) -> list[str]:
        segments = segments_of(body)
        return segments[segments.index(next(s for s in segments if s.startswith("AK1"))) :][:-3]

    assert loop(real_time.body) == loop(acks.getvalue())


# ---------------------------------------------------------------- item 8: MSG text


def test_msg_text_replaces_delimiters_with_what_they_read_as():
    assert msg_text("clinical information needed: HER2 status") == (
        "Clinical information needed - HER2 status."
    )
    assert msg_text("J9267^J9000 requested") == "J9267 / J9000 requested."
    assert msg_text("dose 2*3 mg~daily.") == "Dose 2 x 3 mg - daily."
    assert msg_text("Already a sentence!") == "Already a sentence!"
    assert msg_text("  \x07 ") == ""


def test_msg_text_is_cut_at_a_word_within_264_characters():
    text = msg_text("word " * 100)
    assert len(text) <= 264 and text.endswith("word.") and "  " not in text


def test_a_reason_with_a_colon_keeps_its_meaning_in_msg(client):
    body = post(client, sample("278-act-without-z1732.x12")).text
    [event_msg, *_] = seg(body, "MSG")
    assert event_msg[1].startswith("Clinical information needed to review against the pathway - ")
    assert event_msg[1].endswith(".")


# ---------------------------------------------------------------- item 9: no principal diagnosis


def test_no_principal_diagnosis_gets_aaa_15_and_creates_no_case(client):
    text = sample("278-act-dd-jane-doe.x12").replace(
        "HI*ABK:C50911*ABF:Z1732~", "HI*ABF:C50911*ABF:Z1732~"
    )
    response = post(client, text)
    assert response.headers["X-Case-Ids"] == ""
    body = response.text
    assert seg(body, "AAA") == [["AAA", "N", "", "15", "C"]]
    assert seg(body, "HCR") == []
    [msg] = seg(body, "MSG")
    assert "principal diagnosis" in msg[1] and "ABK" in msg[1]
    assert run_pyx12(response.content).valid


def test_a_principal_diagnosis_under_bk_is_reviewed():
    from tests.x12.helpers import approve

    seen = []

    def spy(case, key):
        seen.append(case.primary_diagnosis)
        return approve(case, key)

    text = sample("278-act-dd-jane-doe.x12").replace("HI*ABK:C50911", "HI*BK:1749")
    answer_interchange(
        text, x12_id=X12_ID, submit=spy, control_numbers=MemoryControlNumbers(), now=NOW
    )
    assert seen and seen[0] is not None and seen[0].primary


def test_a_rejection_above_the_event_sends_no_dependent_level_either():
    from gateway.domain.case import CaseStatus, Determination, Rejection

    # A 2000D must have its 2000E (HL04 1 only), so the answer ends at the subscriber.
    def unavailable(case, key):
        return case, Determination(
            status=CaseStatus.REJECTED,
            review_action="CT",
            reason=Reason(code="GATEWAY_UNAVAILABLE", text="Unable to respond at this time."),
            rejection=Rejection(loop="2000A", aaa_code="42", follow_up="R", text="Resubmit."),
            decided_at=NOW,
        )

    # The demo request for a dependent: 2000D between the subscriber and the event, the levels
    # below renumbered and SE01 counting the three segments more.
    text = sample("278-act-dd-jane-doe.x12")
    for number in (7, 6, 5):
        text = text.replace(f"HL*{number}*4*SS*0~", f"HL*{number + 1}*5*SS*0~")
    text = text.replace(
        "HL*4*3*EV*1~", "HL*4*3*23*1~\nNM1*QC*1*DOE*JIM~\nDMG*D8*20100101*M~\nHL*5*4*EV*1~"
    ).replace("SE*47*0001~", "SE*50*0001~")
    answer = answer_interchange(
        text,
        x12_id=X12_ID,
        submit=unavailable,
        control_numbers=MemoryControlNumbers(),
        now=NOW,
    )
    if answer.kind != "278":
        pytest.fail(f"the dependent request was not accepted: {answer.body}")
    assert [hl[3:] for hl in seg(answer.body, "HL")] == [
        ["20", "1"],
        ["21", "1"],
        ["22", "0"],
    ]
    assert seg(answer.body, "AAA") == [["AAA", "N", "", "42", "R"]]
    assert run_pyx12(answer.body).valid


def test_a_payer_edits_the_crosswalk_not_python(tmp_path: Path):
    import shutil

    from gateway.domain.case import CaseStatus, Determination
    from gateway.x12.grammar import x12_map_dir

    mappings = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", mappings)
    crosswalk = mappings / "crosswalks" / "review_reasons.yaml"
    crosswalk.write_text(
        crosswalk.read_text().replace("REVIEWER_DENIED: 0J", "REVIEWER_DENIED: 0U")
    )

    def deny(case, key):
        return case.model_copy(update={"id": "CASE-0004"}), Determination(
            status=CaseStatus.DENIED,
            review_action="A3",
            reason=Reason(code="REVIEWER_DENIED", text="Not medically necessary as requested."),
            decided_at=NOW,
        )

    answer = answer_interchange(
        sample("278-act-dd-jane-doe.x12"),
        x12_id=X12_ID,
        submit=deny,
        control_numbers=MemoryControlNumbers(),
        now=NOW,
        map_dir=x12_map_dir(mappings),
    )
    assert seg(answer.body, "HCR")[0] == ["HCR", "A3", "", "0U"]
    # The repository's crosswalk is untouched by the copy.
    assert review_reasons().by_reason["REVIEWER_DENIED"] == "0J"
