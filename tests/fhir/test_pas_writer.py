"""(Case, Determination, request) -> PAS response Bundle (gateway.fhir.writer), checked with the
R4B models, the PAS response rules and where Inferno looks for the review action."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.parameters import Parameters

from gateway.domain.case import (
    Case,
    CaseStatus,
    Determination,
    LineDetermination,
    PendKind,
    Reason,
    Rejection,
)
from gateway.fhir import constants as k
from gateway.fhir.inquiry import read_inquiry
from gateway.fhir.profile import check_response, check_structure
from gateway.fhir.reader import read_case
from gateway.fhir.writer import inquiry_parameters, inquiry_response_bundle, response_bundle
from tests.fhir.pas_refs import REFERENCE, load, needs_reference, request_paths

DECIDED = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 20, 15, 0, 1, tzinfo=UTC)
PREFERRED = Reason(
    code="PATHWAY_PREFERRED",
    text="Dose-dense AC-T is a preferred regimen for HER2-negative breast cancer.",
    pathway_row="breast:her2neg-ddact",
)


def _case(bundle: dict[str, Any], case_id: str = "PA-2026-000042") -> Case:
    case = read_case(bundle, received_at=DECIDED)
    case.id = case_id
    return case


def approval() -> Determination:
    return Determination(
        status=CaseStatus.APPROVED,
        review_action="A1",
        reason=PREFERRED,
        auth_number="AUTH-62308-0001",
        period_start=date(2026, 12, 1),
        period_end=date(2027, 9, 30),
        decided_at=DECIDED,
    )


def review_actions(bundle: dict[str, Any]) -> dict[int, list[str]]:
    """item.sequence -> codes, found the way Inferno's PAS server tests look for them."""
    found: dict[int, list[str]] = {}
    claim_response = bundle["entry"][0]["resource"]
    for item in claim_response.get("item", []):
        for adjudication in item.get("adjudication", []):
            for ext in adjudication.get("extension", []):
                if ext["url"] != k.EXT_REVIEW_ACTION:
                    continue
                for sub in ext["extension"]:
                    if sub["url"] != k.EXT_REVIEW_ACTION_CODE:
                        continue
                    for coding in sub["valueCodeableConcept"]["coding"]:
                        if coding["system"] == "https://codesystem.x12.org/005010/306":
                            found.setdefault(item["itemSequence"], []).append(coding["code"])
    return found


def assert_conformant(bundle: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    Bundle.model_validate(bundle)
    assert check_structure(bundle) == []
    issues = check_response(bundle, request)
    assert not [i for i in issues if i.is_error], [i.to_fhir() for i in issues]
    assert bundle["entry"][0]["resource"]["resourceType"] == "ClaimResponse"
    return bundle["entry"][0]["resource"]


def test_approval_a1(ddact: dict[str, Any]) -> None:
    case = _case(ddact)
    bundle = response_bundle(case, approval(), ddact, now=NOW)
    response = assert_conformant(bundle, ddact)
    assert bundle["meta"]["profile"] == [k.PROFILE_RESPONSE_BUNDLE]
    assert bundle["identifier"] == ddact["identifier"]
    assert bundle["timestamp"] == "2026-11-20T15:00:01+00:00"
    assert response["identifier"][0] == {"system": k.CASE_ID_SYSTEM, "value": "PA-2026-000042"}
    assert response["request"]["reference"] == ddact["entry"][0]["fullUrl"]
    assert response["outcome"] == "complete"
    assert response["preAuthRef"] == "AUTH-62308-0001"
    assert response["preAuthPeriod"] == {"start": "2026-12-01", "end": "2027-09-30"}
    assert review_actions(bundle) == {1: ["A1"], 2: ["A1"], 3: ["A1"]}
    item = response["item"][0]
    action = item["adjudication"][0]["extension"][0]["extension"]
    assert {"url": "number", "valueString": "AUTH-62308-0001"} in action
    period = [e for e in item["extension"] if e["url"] == k.EXT_ITEM_PREAUTH_PERIOD]
    assert period == [
        {
            "url": k.EXT_ITEM_PREAUTH_PERIOD,
            "valuePeriod": {"start": "2026-12-01", "end": "2027-09-30"},
        }
    ]
    assert response["processNote"][0]["text"] == PREFERRED.text
    assert item["noteNumber"] == [1]


def test_echoed_resources_keep_fullurl_id_and_identifiers(ddact: dict[str, Any]) -> None:
    bundle = response_bundle(_case(ddact), approval(), ddact, now=NOW)
    sent = {e["fullUrl"]: e["resource"] for e in ddact["entry"]}
    echoed = bundle["entry"][1:]
    types = {e["resource"]["resourceType"] for e in echoed}
    assert {"Patient", "Organization"} <= types and "Claim" not in types
    for entry in echoed:
        assert entry["resource"] == sent[entry["fullUrl"]]
    response = bundle["entry"][0]["resource"]
    urls = {e["fullUrl"] for e in bundle["entry"]}
    for name in ("patient", "insurer", "requestor"):
        assert response[name]["reference"] in urls


def test_pended_a4(ddact: dict[str, Any]) -> None:
    determination = Determination(
        status=CaseStatus.PENDED,
        review_action="A4",
        reason=Reason(
            code="PEER_TO_PEER", text="Listed non-preferred regimen: peer-to-peer review."
        ),
        pend_kind=PendKind.PEER_TO_PEER,
        decided_at=DECIDED,
    )
    bundle = response_bundle(_case(ddact), determination, ddact, now=NOW)
    response = assert_conformant(bundle, ddact)
    assert response["outcome"] == "complete"
    assert "preAuthRef" not in response
    assert review_actions(bundle) == {1: ["A4"], 2: ["A4"], 3: ["A4"]}
    refs = [e for e in response["item"][0]["extension"] if e["url"] == k.EXT_ADMIN_REFERENCE_NUMBER]
    assert refs[0]["valueString"] == "PA-2026-000042"
    assert all("number" not in str(i["adjudication"]) for i in response["item"])


def test_modified_a6_carries_the_authorized_detail_in_add_item(ddact: dict[str, Any]) -> None:
    site = Reason(code="SITE_OF_CARE", text="Authorized once for 30 days at home.", x12_reason="0U")
    determination = Determination(
        status=CaseStatus.MODIFIED,
        review_action="A6",
        reason=PREFERRED,
        auth_number="AUTH-62308-0002",
        period_start=date(2026, 12, 1),
        period_end=date(2027, 9, 30),
        decided_at=DECIDED,
        lines=[
            LineDetermination(sequence=1, code="J9000", review_action="A1", auth_number="AUTH-1"),
            LineDetermination(sequence=2, code="J9070", review_action="A1", auth_number="AUTH-2"),
            LineDetermination(
                sequence=3,
                code="J9267",
                review_action="A6",
                auth_number="AUTH-3",
                units=700,
                period_start=date(2027, 2, 9),
                period_end=date(2027, 3, 10),
                place_of_service="12",
                reason=site,
            ),
        ],
    )
    bundle = response_bundle(_case(ddact), determination, ddact, now=NOW)
    response = assert_conformant(bundle, ddact)
    assert review_actions(bundle) == {1: ["A1"], 2: ["A1"], 3: ["A6"]}
    (added,) = response["addItem"]
    assert added["itemSequence"] == [3]
    assert added["productOrService"]["coding"][0]["code"] == "J9267"
    assert added["quantity"]["value"] == 700
    assert added["servicedPeriod"] == {"start": "2027-02-09", "end": "2027-03-10"}
    assert added["locationCodeableConcept"]["coding"][0] == {"system": k.CS_POS, "code": "12"}
    codes = added["adjudication"][0]["extension"][0]["extension"]
    assert {"url": "number", "valueString": "AUTH-3"} in codes
    line3 = response["item"][2]
    reason = [
        e for e in line3["adjudication"][0]["extension"][0]["extension"] if e["url"] == "reasonCode"
    ]
    assert reason[0]["valueCodeableConcept"]["coding"][0] == {"system": k.CS_X12_886, "code": "0U"}
    notes = {n["number"]: n["text"] for n in response["processNote"]}
    assert notes[line3["noteNumber"][0]] == site.text
    detail = [e for e in line3["extension"] if e["url"] == k.EXT_ITEM_AUTHORIZED_DETAIL]
    assert detail and detail[0]["extension"][0]["url"] == "productOrServiceCode"


def test_partly_pended_is_partial(ddact: dict[str, Any]) -> None:
    determination = approval().model_copy(
        update={
            "lines": [
                LineDetermination(sequence=1, code="J9000", review_action="A1"),
                LineDetermination(sequence=2, code="J9070", review_action="A1"),
                LineDetermination(sequence=3, code="J9267", review_action="A4"),
            ]
        }
    )
    bundle = response_bundle(_case(ddact), determination, ddact, now=NOW)
    assert assert_conformant(bundle, ddact)["outcome"] == "partial"


def test_rejection_goes_to_error_with_the_aaa_code(ddact: dict[str, Any]) -> None:
    determination = Determination(
        status=CaseStatus.REJECTED,
        review_action="NA",
        reason=Reason(code="MEMBER_NOT_FOUND", text="Subscriber not found."),
        rejection=Rejection(
            loop="2010C", aaa_code="75", follow_up="C", text="Subscriber not found"
        ),
        decided_at=DECIDED,
    )
    bundle = response_bundle(_case(ddact), determination, ddact, now=NOW)
    response = assert_conformant(bundle, ddact)
    assert response["outcome"] == "error"
    assert "item" not in response
    (error,) = response["error"]
    assert error["code"]["coding"][0] == {"system": k.CS_X12_901, "code": "75"}
    by_url = {e["url"]: e for e in error["extension"]}
    assert by_url[k.EXT_ERROR_PATH]["valueString"] == "Bundle.entry[1].resource"  # the Patient
    assert by_url[k.EXT_ERROR_FOLLOWUP]["valueCodeableConcept"]["coding"][0]["code"] == "C"


def test_human_reviewer_and_denial(ddact: dict[str, Any]) -> None:
    determination = Determination(
        status=CaseStatus.DENIED,
        review_action="A3",
        reason=Reason(code="NOT_MEDICALLY_NECESSARY", text="Denied after physician review."),
        decided_at=DECIDED,
        decided_by="reviewer:dr-ng",
        rationale="Regimen not supported for this stage.",
    )
    bundle = response_bundle(_case(ddact), determination, ddact, now=NOW)
    response = assert_conformant(bundle, ddact)
    assert review_actions(bundle) == {1: ["A3"], 2: ["A3"], 3: ["A3"]}
    reviewer = [e for e in response["extension"] if e["url"] == k.EXT_REVIEWER][0]
    assert reviewer["extension"][0]["valueBoolean"] is True
    assert "Regimen not supported for this stage." in [n["text"] for n in response["processNote"]]


def test_answer_from_the_stored_echo_matches_the_answer_from_the_request(
    ddact: dict[str, Any],
) -> None:
    case = _case(ddact)
    with_request = response_bundle(case, approval(), ddact, now=NOW)
    from_echo = response_bundle(case, approval(), None, now=NOW)
    with_request.pop("id")
    from_echo.pop("id")
    assert with_request == from_echo


def test_the_claim_response_full_url_is_on_the_gateway_base(ddact_qr: dict[str, Any]) -> None:
    # Issue 14 item 18: what the gateway creates lives on its own base, whatever the request's
    # style (urn:uuid here, RESTful URLs on the EHR's base elsewhere).
    base = "https://pas.payer.example/fhir"
    bundle = response_bundle(_case(ddact_qr), approval(), ddact_qr, now=NOW, base=base)
    assert_conformant(bundle, ddact_qr)
    response = bundle["entry"][0]
    assert response["fullUrl"] == f"{base}/ClaimResponse/PA-2026-000042"
    assert response["resource"]["id"] == "PA-2026-000042"
    echoed = {e["fullUrl"] for e in ddact_qr["entry"]}
    assert all(e["fullUrl"] in echoed for e in bundle["entry"][1:])


@needs_reference
@pytest.mark.parametrize(
    "path", [p for p in request_paths() if "inquir" not in p.name.lower()], ids=lambda p: p.name
)
def test_every_reference_submit_gets_a_conformant_answer(path: Path) -> None:
    request = load(path)
    bundle = response_bundle(_case(request), approval(), request, now=NOW)
    assert_conformant(bundle, request)
    sequences = [i["sequence"] for i in request["entry"][0]["resource"]["item"]]
    assert [i["itemSequence"] for i in bundle["entry"][0]["resource"]["item"]] == sequences


@needs_reference
def test_claim_update_echoes_every_sequence_and_cancels() -> None:
    inferno = REFERENCE / "inferno"
    request = load(inferno / "inferno221_claim_update_modify_cancel_submit_payload_0.json")
    bundle = response_bundle(_case(request), approval(), request, now=NOW)
    assert_conformant(bundle, request)
    assert review_actions(bundle) == {1: ["A1"], 2: ["C"]}


@needs_reference
def test_inquiry_response_and_parameters() -> None:
    inferno = REFERENCE / "inferno"
    submitted = load(inferno / "inferno221_pended_pa_submit_request_payload_0.json")
    inquiry_bundle = load(inferno / "inferno221_pended_pa_inquire_request_payload_0.json")
    query = read_inquiry(inquiry_bundle)
    bundle = inquiry_response_bundle(
        query.case, [(_case(submitted), approval())], inquiry_bundle, now=NOW
    )
    Bundle.model_validate(bundle)
    issues = check_response(bundle, inquiry_bundle, "inquire")
    assert not [i for i in issues if i.is_error], [i.to_fhir() for i in issues]
    response = bundle["entry"][0]["resource"]
    assert response["meta"]["profile"] == [k.PROFILE_CLAIMINQUIRYRESPONSE]
    assert response["patient"]["reference"] == inquiry_bundle["entry"][4]["fullUrl"]
    assert response["request"]["reference"] == submitted["entry"][0]["fullUrl"]
    assert review_actions(bundle) == {1: ["A1"], 2: ["A1"]}
    parameters = inquiry_parameters(bundle)
    Parameters.model_validate(parameters)
    assert parameters["parameter"][0]["name"] == "return"
    with pytest.raises(ValueError):
        inquiry_response_bundle(query.case, [])
