"""PAS request Bundle -> Case (gateway.fhir.reader)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from gateway.domain.case import Case, Channel, Gender, Urgency
from gateway.fhir.inquiry import read_inquiry
from gateway.fhir.questionnaire import QR_SOURCE
from gateway.fhir.reader import PasReadError, content_hash, read_case, unwrap_parameters
from tests.fhir.pas_refs import (
    REFERENCE,
    SAMPLES,
    load,
    needs_reference,
    operation_of,
    request_paths,
)

INFERNO = REFERENCE / "inferno"


@needs_reference
@pytest.mark.parametrize("path", request_paths(), ids=lambda p: p.name)
def test_every_reference_request_reads_into_a_case(path: Path) -> None:
    bundle = load(path)
    case = read_case(bundle, operation=operation_of(path))
    assert isinstance(case, Case)
    assert case.submission.channel is Channel.PAS
    assert case.member.member_id
    assert case.payer_id
    claim = bundle["entry"][0]["resource"]
    assert [line.sequence for line in case.service_lines] == [i["sequence"] for i in claim["item"]]
    assert case.submission.echo["claim"]["fullUrl"] == bundle["entry"][0]["fullUrl"]
    assert [e["fullUrl"] for e in case.submission.echo["entries"]] == [
        e["fullUrl"] for e in bundle["entry"]
    ]
    Case.model_validate_json(case.model_dump_json())  # the echo is JSON-ready


def test_demo_ddact_sample(ddact: dict[str, Any]) -> None:
    received = datetime(2026, 11, 20, 14, 30, tzinfo=UTC)
    case = read_case(ddact, received_at=received)
    assert case.payer_id == "62308"
    assert case.payer_name == "CIGNA"
    member = case.member
    assert (member.member_id, member.first_name, member.last_name) == ("U1234567801", "JANE", "DOE")
    assert member.birth_date == date(1960, 4, 12)
    assert member.gender is Gender.FEMALE
    assert member.phone == "555-010-4477"
    assert member.relationship == "18"
    assert case.subscriber is None

    ordering = case.ordering
    assert ordering is not None
    assert (ordering.npi, ordering.last_name, ordering.entity_code) == ("1234567893", "LEE", "DK")
    assert (ordering.tin, ordering.phone, ordering.fax) == (
        "061234567",
        "860-555-0110",
        "860-555-0111",
    )
    assert ordering.taxonomy == "207RX0202X"
    requester = case.requester
    assert requester is not None
    assert (requester.organization_name, requester.npi) == (
        "HOPE ONCOLOGY ASSOCIATES",
        "1987654328",
    )
    assert requester.contact_name == "ANA RIVERA"
    facility = case.facility
    assert facility is not None
    assert (facility.npi, facility.fax) == ("1543210987", "860-555-0121")
    assert facility.address and facility.address.city == "HARTFORD"

    assert [(d.code, d.primary) for d in case.diagnoses] == [("C50.911", True), ("Z17.32", False)]
    lines = case.service_lines
    assert [line.code for line in lines] == ["J9000", "J9070", "J9267"]
    assert all(line.code_system == "HCPCS" and line.place_of_service == "11" for line in lines)
    assert lines[0].start_date == date(2026, 12, 1)
    assert lines[0].units == 12 and lines[0].unit_type == "UN"
    assert lines[2].trace_number == "DDACT-3"
    assert case.place_of_service == "11"
    assert case.start_date == date(2026, 12, 1)
    assert case.service_type == "78"
    assert (case.request_category, case.certification_type) == ("HS", "I")
    assert case.urgency is Urgency.STANDARD

    assert len(case.attachments) == 1
    attachment = case.attachments[0]
    assert (attachment.report_type, attachment.transmission) == ("LA", "EL")
    assert (attachment.content_type, attachment.size_bytes) == ("application/pdf", 184320)

    submission = case.submission
    assert submission.received_at == received
    assert submission.bundle_identifier == "SUB-DDACT"
    assert submission.claim_identifier == "REQ-DDACT"
    assert submission.trace_numbers == ["REQ-DDACT"]
    assert submission.content_hash == content_hash(ddact)
    echo = submission.echo
    assert echo["patient"].endswith("/Patient/jane-doe")
    assert echo["insurer"].endswith("/Organization/cigna")
    assert echo["requestor"].endswith("/Organization/hope-oncology")
    assert [i["traceNumbers"][0]["value"] for i in echo["items"]] == [
        "DDACT-1",
        "DDACT-2",
        "DDACT-3",
    ]


def test_questionnaire_answers_become_facts(ddact_qr: dict[str, Any]) -> None:
    case = read_case(ddact_qr)
    assert [d.code for d in case.diagnoses] == ["C50.911"]  # no Z17.32: HER2 comes from the QR
    facts = case.facts
    assert facts.values["her2_status"] == "negative"
    assert facts.values["line_of_therapy"] == 1
    assert facts.values["distant_metastasis"] is False
    assert facts.values["performance_status"] == 0
    assert facts.values["biomarkers"] == ["PIK3CA"]
    assert facts.sources["her2_status"] == QR_SOURCE
    assert case.submission.echo["claim"]["fullUrl"].startswith("urn:uuid:")


def test_urgent_level_of_service_and_observations(ddact: dict[str, Any]) -> None:
    bundle = copy.deepcopy(ddact)
    claim = bundle["entry"][0]["resource"]
    claim["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] = "U"
    bundle["entry"].append(
        {
            "fullUrl": "http://ehr.hope-oncology.example/fhir/Observation/weight",
            "resource": {
                "resourceType": "Observation",
                "id": "weight",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]},
                "valueQuantity": {"value": 150, "unit": "lb", "code": "[lb_av]"},
            },
        }
    )
    case = read_case(bundle)
    assert case.urgency is Urgency.URGENT
    assert case.facts.weight_kg == 68.0


def test_dependent_patient_keeps_the_subscriber(ddact: dict[str, Any]) -> None:
    bundle = copy.deepcopy(ddact)
    child = copy.deepcopy(bundle["entry"][1])
    child["fullUrl"] = child["fullUrl"].replace("jane-doe", "sam-doe")
    child["resource"].update(id="sam-doe", name=[{"family": "DOE", "given": ["SAM"]}])
    bundle["entry"].append(child)
    bundle["entry"][0]["resource"]["patient"] = {"reference": "Patient/sam-doe"}
    coverage = bundle["entry"][2]["resource"]
    coverage["beneficiary"] = {"reference": "Patient/sam-doe"}
    coverage["relationship"] = {
        "coding": [{"system": "https://codesystem.x12.org/005010/1069", "code": "19"}]
    }
    case = read_case(bundle)
    assert case.member.first_name == "SAM"
    assert case.member.relationship == "19"
    assert case.subscriber is not None and case.subscriber.first_name == "JANE"


@needs_reference
def test_claim_update_points_at_the_prior_claim_and_cancels_items() -> None:
    case = read_case(load(INFERNO / "inferno221_claim_update_modify_cancel_submit_payload_0.json"))
    assert case.change_reference is not None and case.change_reference.value == "111099"
    assert [line.cancelled for line in case.service_lines] == [False, True]
    assert [line.sequence for line in case.active_lines] == [1]
    assert case.submission.echo["items"][1]["cancelled"] is True


@needs_reference
def test_inferno_approval_request_details() -> None:
    case = read_case(load(INFERNO / "inferno221_approval_pa_submit_request_payload_0.json"))
    assert case.urgency is Urgency.URGENT  # levelOfServiceCode U
    assert case.member.birth_date == date(1987, 2, 20)
    assert case.requester is not None and case.requester.tin == "8189948234"  # USEIN
    assert case.ordering is not None and case.ordering.npi == "1234567893"
    assert case.messages == ["Prior authorization inquiry details provided"]
    assert case.service_lines[1].end_date == date(2016, 8, 12)
    assert case.submission.submitter_id == "INTER-SND-0001"  # TransmissionIdentifiers


@needs_reference
def test_inquiry_keys() -> None:
    query = read_inquiry(load(INFERNO / "inferno221_pended_pa_inquire_request_payload_0.json"))
    assert query.claim_identifiers == ["111099"]
    assert query.member_id == "12345678901"
    assert query.provider_npi == "8189991234"
    assert "1122334" in query.trace_numbers
    assert query.case.submission.echo["operation"] == "inquire"


def test_bundle_without_claim_is_refused() -> None:
    with pytest.raises(PasReadError):
        read_case({"resourceType": "Bundle", "type": "collection", "entry": []})


def test_samples_all_read() -> None:
    for path in sorted(SAMPLES.glob("*.json")):
        assert read_case(load(path)).member.member_id == "U1234567801"


def test_parameters_wrapped_body_is_unwrapped(ddact: dict[str, Any]) -> None:
    wrapped = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": ddact}]}
    assert unwrap_parameters(wrapped) is ddact
    assert unwrap_parameters(ddact) is ddact
