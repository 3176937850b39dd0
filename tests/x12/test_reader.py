"""The 278 request reader keeps every field the case needs (checked field by field)."""

from __future__ import annotations

from datetime import date

from gateway.domain.case import Channel, Gender, Urgency
from gateway.x12.reader import icd_with_dot, parse_msg_pairs, read_request
from tests.x12.helpers import NOW, reference, sample, set_element, transactions


def read(text: str):
    delims, found = transactions(text)
    transaction = found[0]
    return read_request(
        transaction.segments,
        delims,
        submitter="CLEARINGHOUSE01",
        received_at=NOW,
        content_hash="abc",
    )


def test_sample_request_field_by_field():
    case = read(sample("278-act-dd-jane-doe.x12"))
    assert (case.payer_id, case.payer_name) == ("62308", "CIGNA")
    member = case.member
    assert (member.member_id, member.last_name, member.first_name) == ("U1234567801", "DOE", "JANE")
    assert (member.birth_date, member.gender) == (date(1960, 4, 12), Gender.FEMALE)
    assert case.subscriber is None
    requester = case.requester
    assert requester is not None
    assert (requester.role, requester.entity_code, requester.npi, requester.tin) == (
        "requester",
        "1P",
        "1234567893",
        "123456789",
    )
    assert (requester.phone, requester.fax, requester.contact_name, requester.taxonomy) == (
        "5555550100",
        "5555550101",
        "FRONT DESK",
        "207RX0202X",
    )
    assert requester.address and requester.address.lines == ["100 MAIN STREET", "SUITE 200"]
    assert (requester.address.city, requester.address.state, requester.address.postal_code) == (
        "HARTFORD",
        "CT",
        "06103",
    )
    ordering = case.ordering
    assert ordering and (ordering.entity_code, ordering.last_name, ordering.first_name) == (
        "DK",
        "ONCOLOGIST",
        "OLIVIA",
    )
    assert (ordering.npi, ordering.tin, ordering.fax) == ("1234567893", "123456789", "5555550101")
    rendering = case.rendering
    assert rendering and (rendering.entity_code, rendering.organization_name) == (
        "SJ",
        "SAMPLE INFUSION CENTER",
    )
    assert (rendering.npi, rendering.tin, rendering.phone, rendering.fax) == (
        "1245319599",
        "987654321",
        "5555550200",
        "5555550201",
    )
    assert case.facility is None
    assert (case.request_category, case.certification_type, case.service_type) == ("HS", "I", "78")
    assert case.place_of_service == "11"
    assert case.urgency == Urgency.STANDARD
    assert (case.start_date, case.end_date) == (date(2026, 12, 1), None)
    assert [(d.code, d.primary) for d in case.diagnoses] == [("C50.911", True), ("Z17.32", False)]
    assert case.messages == ["LINE_OF_THERAPY=1;ECOG=1;HER2=NEGATIVE"]
    assert case.facts.values == {"line_of_therapy": 1, "ecog": 1, "her2_status": "negative"}
    assert set(case.facts.sources.values()) == {"x12:MSG"}
    lines = case.service_lines
    assert [(s.sequence, s.code, s.units, s.unit_type) for s in lines] == [
        (1, "J9000", 4, "UN"),
        (2, "J9070", 4, "UN"),
        (3, "J9267", 12, "UN"),
    ]
    assert all(s.code_system == "HCPCS" and s.place_of_service == "11" for s in lines)
    assert all(s.start_date == date(2026, 12, 1) for s in lines)
    assert [s.trace_number for s in lines] == ["ACTDD0001-1", "ACTDD0001-2", "ACTDD0001-3"]
    sub = case.submission
    assert (sub.channel, sub.submitter_id, sub.bht_reference, sub.trace_numbers) == (
        Channel.X12,
        "CLEARINGHOUSE01",
        "ACTDD0001",
        ["ACTDD0001"],
    )
    assert sub.content_hash == "abc" and sub.received_at == NOW
    echo = sub.echo["x12"]
    assert echo["event_trn"] == [["1", "ACTDD0001", "9CLEARHOUS"]]
    assert len(echo["services"]) == 3


def test_urgency_facility_attachments_and_dosing():
    text = sample("278-emergency-room.x12")
    text = set_element(text, "UM*", 6, "U")
    text = text.replace(
        "MSG*LINE_OF_THERAPY=1;ECOG=1;HER2=NEGATIVE~",
        "PWK*OB*EL***AC*DOC123*PATHOLOGY REPORT~\n"
        "MSG*HEIGHT_CM=165;WEIGHT_KG=70.5;COMORBIDITIES=DIABETES,CKD;"
        "CLINICAL_TRIAL=N;SAME_TIN=Y~",
    )
    text = text.replace(
        "SV1*HC:J9000**UN*4~",
        "SV1*HC:J9000:JW**UN*4~\nMSG*DOSE=60 MG/M2;SCHEDULE=Q14D X4;ROUTE=IV~",
    )
    text = text.replace("SE*46*", "SE*48*")
    case = read(text)
    assert case.urgency == Urgency.URGENT
    assert case.place_of_service == "23"
    assert case.facility and (case.facility.entity_code, case.facility.npi) == ("FA", "1999999992")
    [attachment] = case.attachments
    assert (
        attachment.report_type,
        attachment.transmission,
        attachment.control_number,
        attachment.description,
    ) == ("OB", "EL", "DOC123", "PATHOLOGY REPORT")
    facts = case.facts
    assert (facts.height_cm, facts.weight_kg, facts.comorbidities, facts.clinical_trial) == (
        165.0,
        70.5,
        ["diabetes", "ckd"],
        False,
    )
    assert case.same_tin_billing is True
    first = case.service_lines[0]
    assert first.modifiers == ["JW"]
    assert first.dosing and (first.dosing.dose, first.dosing.schedule, first.dosing.route) == (
        "60 MG/M2",
        "Q14D X4",
        "IV",
    )


def test_reference_example_with_admission_and_institutional_line():
    case = read(reference("Example_3_2_1_Request.txt"))
    assert case.payer_id == "789312" and case.request_category == "AR"
    assert case.start_date == date(2005, 5, 16)
    assert [d.code for d in case.diagnoses] == ["410.90"]  # BF (ICD-9-CM) keeps its own dot
    [line] = case.service_lines
    assert (line.code, line.code_system, line.start_date) == ("33510", "HCPCS", date(2005, 5, 16))
    assert case.facility and case.facility.organization_name == "MONTGOMERY HOSPITAL"


def test_helpers():
    assert icd_with_dot("C50911", "ABK") == "C50.911"
    assert icd_with_dot("Z1732", "ABF") == "Z17.32"
    assert icd_with_dot("C50.911", "ABK") == "C50.911"
    assert icd_with_dot("C50", "ABK") == "C50"
    assert parse_msg_pairs("A=1;B=TWO") == {"A": "1", "B": "TWO"}
    assert parse_msg_pairs("PLEASE CALL THE OFFICE") is None
