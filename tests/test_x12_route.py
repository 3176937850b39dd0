"""The X12 channel through the real HTTP app: what a clearinghouse sees."""

from __future__ import annotations

import pytest

from gateway.conformance.observe import observe_x12
from gateway.settings import REPO_ROOT
from gateway.x12.oracle import run_pyx12

SAMPLES = REPO_ROOT / "samples" / "x12"


def post(client, data: bytes):
    return client.post("/x12/278", content=data, headers={"Content-Type": "application/edi-x12"})


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_ddact_her2_negative_is_approved_with_auth_and_period(client):
    response = post(client, sample("278-act-dd-jane-doe.x12"))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/edi-x12")
    observed = observe_x12(response.content)
    assert observed["kind"] == "278"
    assert observed["review_action"] == "A1"
    assert set(observed["items"]) == {"A1"}
    assert observed["auth_numbers"] and observed["auth_numbers"][0].startswith("ONC")
    assert b"DTP*AAH*RD8*" in response.content
    assert run_pyx12(response.content).valid


def test_tc_is_pended_with_updates_to_follow(client):
    response = post(client, sample("278-tc-jane-doe.x12"))
    observed = observe_x12(response.content)
    assert observed["review_action"] == "A4"
    assert b"BHT*0007*11*" in response.content and b"*19~" in response.content.split(b"BHT")[1][:80]


def test_missing_her2_status_is_held_naming_it(client):
    response = post(client, sample("278-act-without-z1732.x12"))
    observed = observe_x12(response.content)
    assert observed["review_action"] == "A4"
    assert b"HER2" in response.content.upper()


def test_non_cancer_diagnosis_is_not_approved(client):
    observed = observe_x12(post(client, sample("278-noncancer-m5450.x12")).content)
    assert observed["review_action"] not in ("A1", "A6")


def test_unknown_member_gets_aaa_75_at_2010c(client):
    response = post(client, sample("278-unknown-member.x12"))
    observed = observe_x12(response.content)
    assert {"loop": "2010C", "code": "75", "follow_up": "C"} in observed["aaa"]
    assert run_pyx12(response.content).valid


def test_emergency_room_gets_na(client):
    observed = observe_x12(post(client, sample("278-emergency-room.x12")).content)
    assert observed["review_action"] == "NA"


def test_wrong_iea02_gets_ta1_001(client):
    data = sample("278-act-dd-jane-doe.x12").decode()
    head, tail = data.rsplit("IEA*1*", 1)
    broken = head + "IEA*1*" + "999999999" + tail[9:]
    observed = observe_x12(post(client, broken.encode()).content)
    assert observed["kind"] == "ta1"
    assert observed["ta1"] == {"ack": "R", "note": "001"}


def test_wrong_receiver_gets_ta1(client):
    data = (
        sample("278-act-dd-jane-doe.x12").decode().replace("GATEWAYUM      ", "SOMEONEELSE    ", 1)
    )
    observed = observe_x12(post(client, data.encode()).content)
    assert observed["kind"] == "ta1"
    assert observed["ta1"]["ack"] == "R"


def test_missing_subscriber_name_gets_a_999_pointing_at_it(client):
    data = sample("278-act-dd-jane-doe.x12").decode()
    segments = data.split("~")
    kept = [s for s in segments if not s.strip().startswith("NM1*IL")]
    count = next(s for s in kept if s.strip().startswith("SE*")).strip().split("*")
    kept = [
        s if not s.strip().startswith("SE*") else f"SE*{int(count[1]) - 1}*{count[2]}" for s in kept
    ]
    observed = observe_x12(post(client, "~".join(kept).encode()).content)
    assert observed["kind"] == "999"
    assert observed["ack999"]["ik5"] == ["R"]
    # IK304 3: mandatory segment missing, named as the NM1 of loop 2010C.
    assert {"segment": "NM1", "code": "3"}.items() <= next(
        e for e in observed["ack999"]["errors"] if e["segment"] == "NM1"
    ).items()


def test_bad_um02_gets_a_999_with_ik4(client):
    data = sample("278-act-dd-jane-doe.x12").decode()
    segments = data.split("~")
    for index, segment in enumerate(segments):
        if segment.strip().startswith("UM*"):
            parts = segment.split("*")
            parts[2] = "Z"
            segments[index] = "*".join(parts)
            break
    observed = observe_x12(post(client, "~".join(segments).encode()).content)
    assert observed["kind"] == "999"
    error = observed["ack999"]["errors"][0]
    assert (error["segment"], error["element"]) == ("UM", "2")


@pytest.mark.store
def test_exact_replay_creates_nothing_and_answers_the_same(client):
    first = post(client, sample("278-act-dd-jane-doe.x12"))
    second = post(client, sample("278-act-dd-jane-doe.x12"))
    assert first.content == second.content
    assert first.headers["X-Case-Ids"] == second.headers["X-Case-Ids"]
    assert len(client.get("/cases").json()["cases"]) == 1


@pytest.mark.store
def test_reused_control_number_for_other_content_gets_ta1_025(client):
    post(client, sample("278-act-dd-jane-doe.x12"))
    changed = sample("278-act-dd-jane-doe.x12").replace(b"J9267", b"J9171")
    observed = observe_x12(post(client, changed).content)
    assert observed["ta1"] == {"ack": "R", "note": "025"}


@pytest.mark.store
def test_several_transactions_get_one_response_each(client):
    response = post(client, sample("278-batch.x12"))
    assert response.status_code == 200
    case_ids = response.headers["X-Case-Ids"].split(",")
    assert response.content.count(b"ST*278*") == len(case_ids) > 1


def test_garbage_gets_a_ta1_not_a_500(client):
    for data in (b"", b"hello", b"ISA*00*", b"\xff\xfe\x00"):
        response = post(client, data)
        assert response.status_code == 200
        assert observe_x12(response.content)["kind"] == "ta1"


def test_x12_and_pas_decide_the_same_clinical_case_alike(client):
    import json

    x12 = observe_x12(post(client, sample("278-act-dd-jane-doe.x12")).content)
    bundle = (REPO_ROOT / "samples" / "pas" / "ddact-her2neg.json").read_text()
    pas = client.post(
        "/fhir/Claim/$submit", content=bundle, headers={"Content-Type": "application/fhir+json"}
    ).json()
    from gateway.conformance.observe import observe_fhir

    assert observe_fhir(pas)["items"] == x12["items"] == ["A1", "A1", "A1"]
    assert json.loads(bundle)["entry"][0]["resource"]["resourceType"] == "Claim"


def test_a_partner_may_send_only_from_its_own_sender_ids(client, core, auth_settings):
    from tests.conftest import bearer

    data = sample("278-act-dd-jane-doe.x12")  # ISA06 CLEARINGHOUSE01
    allowed = client.post(
        "/x12/278", content=data, headers=bearer(core, auth_settings, "sample-clearinghouse")
    )
    assert allowed.status_code == 200
    assert observe_x12(allowed.content)["review_action"] == "A1"
    refused = client.post(
        "/x12/278", content=data, headers=bearer(core, auth_settings, "sample-oncology-ehr")
    )
    assert refused.status_code == 403
    assert observe_x12(refused.content)["ta1"] == {"ack": "R", "note": "006"}
    assert client.post("/x12/278", content=data, headers={"Authorization": ""}).status_code == 401
