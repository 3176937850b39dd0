"""The edge of the X12 route through the real app: the sender checked is the sender processed,
whatever precedes the ISA; bad values, oversized bodies and mangled padding get X12 answers."""

from __future__ import annotations

import codecs

import pytest

from gateway.conformance.observe import observe_x12
from gateway.settings import REPO_ROOT
from gateway.x12.edge import receive
from tests.conftest import bearer, make_auth_settings

SAMPLES = REPO_ROOT / "samples" / "x12"
JANE = (SAMPLES / "278-act-dd-jane-doe.x12").read_text()  # ISA06 CLEARINGHOUSE01, ISA13 201
BATCH = (SAMPLES / "278-batch.x12").read_text()  # five transaction sets, ISA13 207
OWNER = "sample-clearinghouse"  # sends as CLEARINGHOUSE01
OTHERS = ("sample-oncology-ehr", "sample-payer-62308")  # SAMPLEONC; the payer has no sender ids


def _utf8(text: str) -> bytes:
    return text.encode("utf-8")


# Every way a body may be padded before its ISA that the edge takes as padding.
PADDED = {
    "utf8-bom": lambda text: codecs.BOM_UTF8 + _utf8(text),
    "bom-run": lambda text: _utf8("\ufeff" * 1400 + text),  # past a 4,096-byte window
    "boms-and-blanks": lambda text: codecs.BOM_UTF8 * 3 + _utf8("\r\n \t\ufeff\n" * 700 + text),
    "newlines": lambda text: _utf8("\n" * 5000 + text),
    "unicode-spaces": lambda text: _utf8("\u00a0\u2003\u200b\u2060\u3000" * 900 + text),
    "nul-bytes": lambda text: b"\x00" * 5000 + _utf8(text),
    "utf16-bom-before-utf8": lambda text: codecs.BOM_UTF16_LE + _utf8(text),
    "undecodable-bytes": lambda text: b"\xff\xfe\xfd\x80" * 1100 + _utf8(text),
    "utf16-le": lambda text: codecs.BOM_UTF16_LE + ("\ufeff" * 1400 + text).encode("utf-16-le"),
    "utf16-be-no-bom": lambda text: ("\n" * 3 + text).encode("utf-16-be"),
    "utf8-bom-then-utf16": lambda text: (
        codecs.BOM_UTF8 + codecs.BOM_UTF16_LE + text.encode("utf-16-le")
    ),
    "utf32-le": lambda text: codecs.BOM_UTF32_LE + text.encode("utf-32-le"),
}


def post(client, data: bytes, partner: str, core, auth):
    headers = {**bearer(core, auth, partner), "Content-Type": "application/edi-x12"}
    return client.post("/x12/278", content=data, headers=headers)


def stored_cases(client) -> int:
    return len(client.get("/cases").json()["cases"])  # the client acts as the operator


@pytest.mark.parametrize("padding", sorted(PADDED))
def test_padding_never_changes_whose_interchange_it_is(client, core, auth_settings, padding):
    data = PADDED[padding](JANE)
    for partner in OTHERS:
        refused = post(client, data, partner, core, auth_settings)
        assert refused.status_code == 403, (partner, refused.text[:200])
        assert refused.headers["content-type"].startswith("application/edi-x12")
        assert observe_x12(refused.content)["ta1"] == {"ack": "R", "note": "006"}
        assert b"TA1*000000201*" in refused.content  # answers the interchange it refused
    assert stored_cases(client) == 0
    # The padding is dropped, not refused: the owner of CLEARINGHOUSE01 gets its answer.
    answered = post(client, data, OWNER, core, auth_settings)
    assert answered.status_code == 200
    assert observe_x12(answered.content)["review_action"] == "A1"
    assert stored_cases(client) == 1


def _foreign(text: str, sender: str = "SAMPLEONC", control: str = "000000301") -> str:
    """The interchange sent from another sender id (padded to 15) under another ISA13."""
    return (
        text.replace("CLEARINGHOUSE01", sender.ljust(15), 1)
        .replace("*CLEARINGHOUSE01*", f"*{sender}*", 1)
        .replace("000000201", control)
    )


def _other_delimiters(text: str) -> str:
    return text.replace("*", "|").replace("~", "\n").replace("|:\n", "|>\n", 1)


@pytest.mark.parametrize(
    "second",
    [
        lambda text: text,
        lambda text: "\ufeff" * 1400 + text,
        _other_delimiters,
        lambda text: "\r\n\u00a0" + _other_delimiters(text),
    ],
    ids=["same-delimiters", "bom-run", "own-delimiters", "padded-own-delimiters"],
)
def test_a_second_interchange_under_a_foreign_sender_is_refused(
    client, core, auth_settings, second
):
    data = _utf8(JANE + second(_foreign(JANE, sender="CLEARINGHOUSE02")))
    refused = post(client, data, OWNER, core, auth_settings)
    assert refused.status_code == 403
    assert observe_x12(refused.content)["ta1"] == {"ack": "R", "note": "006"}
    # The foreign interchange first, the partner's own second: refused as well.
    swapped = _utf8(_foreign(JANE, sender="CLEARINGHOUSE02") + second(JANE))
    assert post(client, swapped, OWNER, core, auth_settings).status_code == 403
    assert stored_cases(client) == 0


def test_a_second_interchange_of_ones_own_is_refused_as_data_after_iea(client, core, auth_settings):
    data = _utf8(JANE + "\ufeff\n" + _foreign(JANE, sender="SAMPLECH"))  # both the partner's ids
    response = post(client, data, OWNER, core, auth_settings)
    assert response.status_code == 200
    assert observe_x12(response.content)["ta1"] == {"ack": "R", "note": "022"}
    assert stored_cases(client) == 0


def test_what_else_precedes_the_isa_is_refused(client, core, auth_settings):
    # 022: not an interchange from its first character; 026: "ISAX" has no separator.
    for lead, note in (("hello\n", "022"), ("ISAX\n", "026"), ("~", "022"), ("{}", "022")):
        mine = post(client, _utf8(lead + JANE), OWNER, core, auth_settings)
        assert mine.status_code == 200, lead
        assert observe_x12(mine.content)["ta1"] == {"ack": "R", "note": note}, lead
        foreign = post(client, _utf8(lead + JANE), OTHERS[0], core, auth_settings)
        assert foreign.status_code == 403, lead
        assert observe_x12(foreign.content)["ta1"]["note"] == "006"
    assert stored_cases(client) == 0


def test_a_reused_isa13_behind_padding_is_still_a_replay(client, core, auth_settings):
    first = post(client, _utf8(JANE), OWNER, core, auth_settings)
    assert observe_x12(first.content)["review_action"] == "A1"
    other_content = JANE.replace("J9267", "J9171")
    for padding in ("utf8-bom", "bom-run", "newlines", "utf16-le", "undecodable-bytes"):
        reused = post(client, PADDED[padding](other_content), OWNER, core, auth_settings)
        assert observe_x12(reused.content)["ta1"] == {"ack": "R", "note": "025"}, padding
        # The same interchange behind padding is the same interchange: the stored answer.
        again = post(client, PADDED[padding](JANE), OWNER, core, auth_settings)
        assert again.headers["X-Answer-Kind"] == "replay", padding
        assert again.content == first.content
    assert stored_cases(client) == 1


def test_the_edge_reads_the_identity_from_the_segments_it_hands_on():
    for name, pad in PADDED.items():
        received = receive(pad(JANE))
        assert received.fault is None, name
        assert received.segments[0] is received.isa
        assert received.identity == ("CLEARINGHOUSE01", "000000201"), name
        assert [sender for sender, _ in received.senders] == ["CLEARINGHOUSE01"], name
        # Padding aside it is the same interchange: one digest for the replay check.
        assert received.digest() == receive(_utf8(JANE)).digest(), name


def test_a_patient_named_lisa_is_not_a_second_interchange():
    text = JANE.replace("NM1*IL*1*DOE*JANE*", "NM1*IL*1*DOE*LISA*", 1).replace(
        "PER*IC*FRONT DESK*", "PER*IC*ISA*", 1
    )
    assert [sender for sender, _ in receive(_utf8(text)).senders] == ["CLEARINGHOUSE01"]


# ---------------------------------------------------------------- values the reader cannot take


@pytest.mark.parametrize(
    ("msg", "named"),
    [
        ("HEIGHT_CM=abc", b"HEIGHT_CM"),
        ("WEIGHT_KG=nan", b"WEIGHT_KG"),
        ("HEIGHT_CM=-3", b"HEIGHT_CM"),
        ("PROGRAM=XYZ", b"PROGRAM"),
    ],
)
def test_a_bad_msg_value_gets_an_aaa_naming_it(client, msg, named):
    data = JANE.replace("MSG*LINE_OF_THERAPY=1;", f"MSG*{msg};LINE_OF_THERAPY=1;", 1)
    response = client.post("/x12/278", content=_utf8(data))
    assert response.status_code == 200
    observed = observe_x12(response.content)
    assert observed["kind"] == "278"
    assert {"loop": "2000E", "code": "33", "follow_up": "C"} in observed["aaa"]
    msg_text = response.content.split(b"AAA*N**33*C~")[1].split(b"MSG*", 1)[1].split(b"~")[0]
    assert named in msg_text
    assert msg.split("=")[1].encode() not in msg_text  # what it must be, not what was sent
    assert stored_cases(client) == 0


def test_a_bad_value_in_one_transaction_leaves_the_others_answered(client):
    bad = BATCH.replace("MSG*LINE_OF_THERAPY=1;", "MSG*PROGRAM=XYZ;LINE_OF_THERAPY=1;", 1)
    response = client.post("/x12/278", content=_utf8(bad))
    assert response.status_code == 200
    assert response.content.count(b"ST*278*") == 5
    assert response.content.count(b"AAA*N**33*C~") == 1
    assert len(response.headers["X-Case-Ids"].split(",")) == 4 == stored_cases(client)


# ---------------------------------------------------------------- 413


def test_an_oversized_body_gets_a_ta1_an_x12_client_reads(settings, core):
    from fastapi.testclient import TestClient

    from gateway.api.app import create_app

    auth = make_auth_settings(max_body_x12=8 * 1024)
    body = _utf8(JANE.replace("MSG*LINE_OF_THERAPY=1;", "MSG*" + "NOTE=X;" * 2000, 1))
    with TestClient(create_app(settings, core=core, auth_settings=auth)) as client:
        headers = {**bearer(core, auth, OWNER), "Content-Type": "application/edi-x12"}
        by_length = client.post("/x12/278", content=body, headers=headers)
        streamed = client.post(
            "/x12/278",
            content=(body[at : at + 1024] for at in range(0, len(body), 1024)),
            headers=headers,
        )
        for response in (by_length, streamed):
            assert response.status_code == 413
            assert response.headers["content-type"].startswith("application/edi-x12")
            assert response.headers["X-Answer-Kind"] == "ta1"
            assert "exceeds" in response.headers["X-Refusal-Reason"]
            assert observe_x12(response.content)["ta1"] == {"ack": "R", "note": "024"}
            assert b"TA1*000000201*261120*0930*R*024~" in response.content
            assert b"*ZZ*CLEARINGHOUSE01*" in response.content  # addressed to the sender
        assert (
            len(client.get("/cases", headers=bearer(core, auth, "ops-console")).json()["cases"])
            == 0
        )
