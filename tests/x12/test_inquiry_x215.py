"""The 278 inquiry (005010X215): its own map, its own 999, answers from the store.

The inquiry map is data in mappings/x12 like the X217 one, so pyx12 is its oracle too: both
engines must agree on accept/reject and on the IK3/IK4 positions of a good inquiry and of broken
variants, and pyx12 must accept every X215 response the gateway writes.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gateway.conformance.observe import observe_x12
from gateway.settings import REPO_ROOT
from gateway.x12.grammar import REPO_MAP_DIR, map_registry
from gateway.x12.oracle import run_pyx12
from gateway.x12.validate import grammar_for
from tests.x12.helpers import join, run_submit, sample, segments_of, set_element
from tests.x12.test_map_is_data import gateway_verdict, pyx12_verdict

INQUIRY = (REPO_ROOT / "samples" / "x12" / "x215" / "278-inquiry-jane-doe.x12").read_text()


def post(client, text: str):
    return client.post(
        "/x12/278", content=text.encode(), headers={"Content-Type": "application/edi-x12"}
    )


def recount(text: str) -> str:
    """SE01 made right again after segments were added or removed."""
    segs = segments_of(text)
    st = next(i for i, s in enumerate(segs) if s.startswith("ST*"))
    se = next(i for i, s in enumerate(segs) if s.startswith("SE*"))
    segs[se] = f"SE*{se - st + 1}*{segs[se].split('*')[2]}"
    return join(segs)


def insert_after(text: str, prefix: str, segment: str) -> str:
    segs = segments_of(text)
    at = next(i for i, s in enumerate(segs) if s.startswith(prefix))
    return recount(join(segs[: at + 1] + [segment] + segs[at + 1 :]))


def drop(text: str, prefix: str) -> str:
    return recount(join([s for s in segments_of(text) if not s.startswith(prefix)]))


def test_the_registry_names_both_x215_maps():
    registry = map_registry()
    assert registry[("005010X215", "13")] == "278.5010.X215.request.xml"
    assert registry[("005010X215", "11")] == "278.5010.X215.response.xml"
    assert grammar_for("13", implementation="005010X215").name != grammar_for("13").name


BROKEN = {
    # BHT06 is used by the X217 request (RU) and not by the inquiry.
    "bht06-not-used": lambda t: set_element(t, "BHT*", 6, "RU"),
    # The subscriber's NM1 is required in 2010C.
    "2010c-name-missing": lambda t: drop(t, "NM1*IL*"),
    # The UM of the patient event is required.
    "um-missing": lambda t: drop(t, "UM*"),
    # A member address is no part of the inquiry (it is of the X217 request).
    "member-address": lambda t: insert_after(t, "NM1*IL*", "N3*1 ELM STREET"),
    # TRN01 of an inquiry's patient event is 1 (the submitter's current trace).
    "trn01-code": lambda t: set_element(t, "TRN*", 1, "2"),
    # DTP qualifier outside the inquiry's event dates.
    "dtp-qualifier": lambda t: set_element(t, "DTP*", 1, "472"),
    # HCR belongs to the response.
    "hcr-in-inquiry": lambda t: insert_after(t, "UM*", "HCR*A1*ONC1"),
    # REF BB with no value.
    "ref-empty": lambda t: insert_after(t, "UM*", "REF*BB"),
}


def test_a_good_inquiry_is_accepted_by_both_engines():
    ours = gateway_verdict(INQUIRY, REPO_MAP_DIR)
    theirs = pyx12_verdict(INQUIRY, REPO_MAP_DIR)
    assert ours.valid and theirs.valid, (ours, theirs)


def test_the_inquiry_is_judged_by_its_own_map_not_the_x217_one():
    text = BROKEN["bht06-not-used"](INQUIRY)
    assert not gateway_verdict(text, REPO_MAP_DIR).valid
    # The same transaction labelled 005010X217 is a valid request for review.
    relabelled = text.replace("005010X215", "005010X217")
    assert gateway_verdict(relabelled, REPO_MAP_DIR).valid
    assert pyx12_verdict(relabelled, REPO_MAP_DIR).valid


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_both_engines_agree_on_broken_inquiries(name: str):
    text = BROKEN[name](INQUIRY)
    ours = gateway_verdict(text, REPO_MAP_DIR)
    theirs = pyx12_verdict(text, REPO_MAP_DIR)
    assert not ours.valid and not theirs.valid, (ours, theirs)
    assert ours.ik3 == theirs.ik3, (ours, theirs)
    assert ours.ik4 == theirs.ik4, (ours, theirs)


# ---------------------------------------------------------------- through the route


def _answer_sets(body: bytes) -> list[str]:
    return re.findall(r"ST\*(\d{3})\*", body.decode())


def test_an_inquiry_about_no_stored_request_is_answered_with_aaa_not_a_decision(client):
    response = post(client, INQUIRY)
    assert response.status_code == 200
    body = response.content.decode()
    assert "ST*278*0001*005010X215" in body and "GS*HI*" in body
    assert "AAA*N**T5*C" in body and "HCR*" not in body
    assert run_pyx12(response.content).valid, run_pyx12(response.content).findings


def test_a_broken_inquiry_gets_a_999_with_ik3(client):
    response = post(client, BROKEN["um-missing"](INQUIRY))
    body = response.content.decode()
    assert _answer_sets(response.content) == ["999"], body
    assert "AK1*HI*301*005010X215" in body
    assert "IK3*" in body and "IK5*R" in body


def _approve_then_ask(client, inquiry: str) -> tuple[dict, str]:
    request = post(client, sample("278-act-dd-jane-doe.x12"))
    decided = observe_x12(request.content)
    assert decided["review_action"] == "A1"
    answer = post(client, inquiry)
    assert answer.status_code == 200
    assert run_pyx12(answer.content).valid, run_pyx12(answer.content).findings
    return decided, answer.content.decode()


def test_an_inquiry_by_trace_returns_the_stored_decision(client):
    decided, body = _approve_then_ask(client, INQUIRY)
    auth = decided["auth_numbers"][0]
    assert f"HCR*A1*{auth}" in body
    assert "TRN*2*ACTDD0001*9CLEARHOUS~" in body
    assert re.search(r"DTP\*AAH\*RD8\*\d{8}-\d{8}", body)
    assert "AAA*" not in body


def test_an_inquiry_by_certification_number_returns_the_stored_decision(client):
    request = post(client, sample("278-act-dd-jane-doe.x12"))
    auth = observe_x12(request.content)["auth_numbers"][0]
    by_number = insert_after(drop(INQUIRY, "TRN*"), "UM*", f"REF*BB*{auth}")
    assert gateway_verdict(by_number, REPO_MAP_DIR).valid
    body = post(client, by_number).content.decode()
    assert f"HCR*A1*{auth}" in body and "AAA*" not in body


@pytest.mark.parametrize(
    "change",
    [
        lambda t: set_element(t, "NM1*1P*", 9, "1992753880"),  # another requester NPI
        lambda t: set_element(t, "DMG*", 2, "19600413"),  # another birth date
        lambda t: set_element(t, "TRN*", 2, "ACTDD9999"),  # a trace never sent
    ],
    ids=["npi", "birth-date", "trace"],
)
def test_an_inquiry_whose_keys_do_not_all_match_learns_nothing(client, change):
    _, body = _approve_then_ask(client, change(INQUIRY))
    assert "AAA*N**T5*C" in body and "HCR*" not in body


def test_gateway_submit_answers_a_batch_inquiry_with_its_999(tmp_path: Path):
    """The real CLI: an X215 batch gets IK5*A for the inquiry, and no case is created."""
    source = tmp_path / "inquiry.x12"
    source.write_text(INQUIRY)
    done, out = run_submit(source, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    ack = (out / "inquiry.999").read_text()
    assert "AK1*HI*301*005010X215" in ack and "IK5*A" in ack and "AK9*A*1*1*1" in ack, ack
    assert not (out / "inquiry.278").exists()
