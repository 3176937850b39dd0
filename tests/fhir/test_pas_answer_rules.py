"""What the PAS answers say beyond their structure (issue 14 items 12, 13, 16, 17, 18): the
reason code on A3, A6 and A4 as the 278's HCR03, a hold's request for information as
CommunicationRequests, the one-time site-of-care authorization alike in addItem and the 278,
who reviewed, echoed resources that break their profile, and fullUrls on the gateway's base.
Writer units checked with the R4B models and the PAS response rules, then the HTTP answer."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

from fhir.resources.R4B.communicationrequest import CommunicationRequest

from gateway.domain.case import CaseStatus, Determination, LineDetermination, PendKind, Reason
from gateway.fhir import constants as k
from gateway.fhir.writer import response_bundle
from tests.fhir.pas_refs import REFERENCE, load, needs_reference
from tests.fhir.test_pas_writer import _case, approval, assert_conformant

DECIDED = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 15, 0, 1, tzinfo=UTC)
BASE = "https://pas.payer.example/fhir"
FHIR = {"Content-Type": "application/fhir+json"}


def reason_codes(bundle: dict[str, Any]) -> list[str | None]:
    """reviewAction.reasonCode (X12 886) of each ClaimResponse.item, None where there is none."""
    found: list[str | None] = []
    for item in bundle["entry"][0]["resource"]["item"]:
        parts = item["adjudication"][0]["extension"][0]["extension"]
        codes = [p["valueCodeableConcept"]["coding"][0] for p in parts if p["url"] == "reasonCode"]
        assert all(c["system"] == k.CS_X12_886 for c in codes)
        found.append(codes[0]["code"] if codes else None)
    return found


def held() -> Determination:
    return Determination(
        status=CaseStatus.HELD,
        review_action="A4",
        reason=Reason(code="MISSING_CLINICAL_INFO", text="HER2 status is needed."),
        pend_kind=PendKind.HOLD,
        missing_facts=["her2_status", "stage"],
        hold_due=datetime(2026, 11, 27, 15, 0, tzinfo=UTC),
        decided_at=DECIDED,
    )


def test_a_hold_asks_for_what_is_missing_as_communication_requests(ddact: dict[str, Any]) -> None:
    case = _case(ddact)
    bundle = response_bundle(case, held(), ddact, now=NOW, base=BASE)
    response = assert_conformant(bundle, ddact)
    assert reason_codes(bundle) == ["0U", "0U", "0U"]  # the worked example's pend: HCR*A4**0U
    urls = [ref["reference"] for ref in response["communicationRequest"]]
    assert urls == [
        f"{BASE}/CommunicationRequest/PA-2026-000042-info-1",
        f"{BASE}/CommunicationRequest/PA-2026-000042-info-2",
    ]
    by_url = {entry["fullUrl"]: entry["resource"] for entry in bundle["entry"]}
    asked = [by_url[url] for url in urls]
    for request in asked:
        CommunicationRequest.model_validate(request)
        assert request["meta"]["profile"] == [f"{k.SD}profile-communicationrequest"]
        assert request["status"] == "active"
        assert request["occurrencePeriod"] == {"end": "2026-11-27T15:00:00+00:00"}
        # Every reference resolves inside the response Bundle.
        for ref in (request["subject"], request["requester"], request["sender"]):
            assert ref["reference"] in by_url
    assert [r["payload"][0]["contentString"] for r in asked] == [
        "her2 status (her2_status)",
        "stage",
    ]
    # The text stays for people.
    assert any("her2_status" in note["text"] for note in response["processNote"])


def test_an_approval_asks_for_nothing(ddact: dict[str, Any]) -> None:
    bundle = response_bundle(_case(ddact), approval(), ddact, now=NOW)
    assert "communicationRequest" not in bundle["entry"][0]["resource"]
    assert reason_codes(bundle) == [None, None, None]
    assert "CommunicationRequest" not in {e["resource"]["resourceType"] for e in bundle["entry"]}


def test_a3_and_a6_always_carry_a_reason_code(ddact: dict[str, Any]) -> None:
    denied = Determination(
        status=CaseStatus.DENIED,
        review_action="A3",
        reason=Reason(code="REVIEWER_DENIED", text="Not medically necessary as requested."),
        decided_at=DECIDED,
        decided_by="dr-1",
    )
    bundle = response_bundle(_case(ddact), denied, ddact, now=NOW)
    assert_conformant(bundle, ddact)
    assert reason_codes(bundle) == ["0J", "0J", "0J"]
    # A reason with no entry of its own still gets the action's code (the HCR03 note).
    unlisted = denied.model_copy(update={"reason": Reason(code="SOMETHING_NEW", text="No.")})
    assert reason_codes(response_bundle(_case(ddact), unlisted, ddact, now=NOW)) == ["0J"] * 3


def site_of_care() -> Determination:
    one_time = Reason(
        code="SITE_OF_CARE_ONE_TIME",
        text="One-time 30-day authorization for paclitaxel at a hospital outpatient site.",
    )
    return Determination(
        status=CaseStatus.MODIFIED,
        review_action="A6",
        reason=Reason(code="SITE_OF_CARE_ONE_TIME", text="Continue at home (12) or office (11)."),
        auth_number="ONC2600000042",
        period_start=date(2026, 12, 1),
        period_end=date(2027, 9, 30),
        site_of_care_redirect="12",
        decided_at=DECIDED,
        lines=[
            LineDetermination(
                sequence=1, code="J9000", review_action="A1", auth_number="ONC2600000042"
            ),
            LineDetermination(
                sequence=2, code="J9070", review_action="A1", auth_number="ONC2600000042"
            ),
            LineDetermination(
                sequence=3,
                code="J9267",
                review_action="A6",
                auth_number="ONC2600000042",
                period_start=date(2026, 12, 1),
                period_end=date(2026, 12, 31),
                units=1400,
                place_of_service="12",
                reason=one_time,
            ),
        ],
    )


def test_the_one_time_site_of_care_authorization_is_the_same_in_add_item(
    ddact: dict[str, Any],
) -> None:
    request = copy.deepcopy(ddact)
    for item in request["entry"][0]["resource"]["item"]:
        item["locationCodeableConcept"]["coding"][0]["code"] = "22"
    bundle = response_bundle(_case(request), site_of_care(), request, now=NOW)
    response = assert_conformant(bundle, request)
    (added,) = response["addItem"]
    assert added["itemSequence"] == [3]
    # The site asked for (as the 278's UM04 and the letter), not the place asked for later.
    assert added["locationCodeableConcept"]["coding"][0]["code"] == "22"
    # The line's one-time period, as the 278's 2000F DTP 007/036, and the one authorization.
    assert added["servicedPeriod"] == {"start": "2026-12-01", "end": "2026-12-31"}
    parts = added["adjudication"][0]["extension"][0]["extension"]
    assert {"url": "number", "valueString": response["preAuthRef"]} in parts
    item3 = response["item"][2]
    granted = [
        e["valuePeriod"] for e in item3["extension"] if e["url"] == k.EXT_ITEM_PREAUTH_PERIOD
    ]
    assert granted == [added["servicedPeriod"]]
    # A6 carries its reason (0K); the A1 lines beside it none, as their 2000F HCR03.
    assert reason_codes(bundle) == [None, None, "0K"]


def test_who_reviewed(ddact: dict[str, Any]) -> None:
    def human(determination: Determination) -> bool:
        response = response_bundle(_case(ddact), determination, ddact, now=NOW)["entry"][0]
        [reviewer] = [e for e in response["resource"]["extension"] if e["url"] == k.EXT_REVIEWER]
        return reviewer["extension"][0]["valueBoolean"]

    assert human(approval()) is False
    assert human(approval().model_copy(update={"decided_by": "dr-1"})) is True
    cancelled = Determination(
        status=CaseStatus.CANCELLED,
        review_action="C",
        reason=Reason(code="CANCELLED_BY_REQUESTER", text="Cancelled by the requester."),
        decided_at=DECIDED,
        decided_by="requester",
    )
    assert human(cancelled) is False


@needs_reference
def test_an_echoed_insurer_with_a_six_digit_npi_is_reported() -> None:
    request = load(REFERENCE / "inferno" / "fixture_conformant_pas_bundle_v110.json")
    bundle = response_bundle(_case(request), approval(), request, now=NOW, base=BASE)
    assert_conformant(bundle, request)
    [report] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "OperationOutcome"]
    assert report["fullUrl"] == f"{BASE}/OperationOutcome/PA-2026-000042-echo"
    [issue] = report["resource"]["issue"]
    assert (issue["severity"], issue["code"]) == ("warning", "invariant")
    assert "us-core-16" in issue["diagnostics"]
    position = int(issue["expression"][0].split("[", 1)[1].split("]", 1)[0])
    insurer = bundle["entry"][position]["resource"]
    assert insurer["resourceType"] == "Organization"
    assert insurer["identifier"][0]["value"] == "789312"  # echoed as sent


def test_a_valid_echo_reports_nothing(ddact: dict[str, Any]) -> None:
    bundle = response_bundle(_case(ddact), approval(), ddact, now=NOW)
    assert "OperationOutcome" not in {e["resource"]["resourceType"] for e in bundle["entry"]}


def test_the_http_answer_puts_what_the_gateway_creates_on_its_base(client, core):
    from tests.fhir.pas_refs import SAMPLES

    request = json.loads((SAMPLES / "ddact-her2neg.json").read_text(encoding="utf-8"))
    answer = client.post("/fhir/Claim/$submit", content=json.dumps(request), headers=FHIR)
    assert answer.status_code == 200, answer.text
    bundle = answer.json()
    case_id = bundle["entry"][0]["resource"]["identifier"][0]["value"]
    assert bundle["entry"][0]["fullUrl"] == f"{core.settings.fhir_base_url}/ClaimResponse/{case_id}"
    sent = {entry["fullUrl"] for entry in request["entry"]}
    assert all(entry["fullUrl"] in sent for entry in bundle["entry"][1:])
