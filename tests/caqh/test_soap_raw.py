"""The SOAP endpoint read raw: hand-written envelopes, one per error of the rule, and messages
that are not CORE envelopes (SOAP faults)."""

from __future__ import annotations

import base64
import uuid
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from gateway.caqh.envelope import checksum
from tests.caqh.conftest import BATCH, CLEARINGHOUSE, JANE

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
CORE = "http://www.caqh.org/SOAP/WSDL/CORERule2.2.0.xsd"
HEADERS = {"Content-Type": 'application/soap+xml; charset=utf-8; action="RealTimeTransaction"'}


def fields(payload: bytes = JANE, **changes: str | None) -> dict[str, str | None]:
    values: dict[str, str | None] = {
        "PayloadType": "X12_278_Request_005010X217E1_2",
        "ProcessingMode": "RealTime",
        "PayloadID": str(uuid.uuid4()),
        "TimeStamp": "2026-12-01T14:00:00Z",
        "SenderID": "CLEARINGHOUSE01",
        "ReceiverID": "GATEWAYUM",
        "CORERuleVersion": "2.2.0",
        "CheckSum": checksum(payload),
        "Payload": payload.decode(),
    }
    values.update(changes)
    return values


def message(
    values: dict[str, str | None],
    element: str = "COREEnvelopeRealTimeRequest",
    *,
    prefix: str = "",
    envelope_ns: str = SOAP12,
) -> bytes:
    children = "".join(
        f"<{prefix}{name}>{escape(value)}</{prefix}{name}>"
        for name, value in values.items()
        if value is not None
    )
    return (
        f'<soapenv:Envelope xmlns:soapenv="{envelope_ns}" xmlns:cor="{CORE}"><soapenv:Header/>'
        f"<soapenv:Body><cor:{element}>{children}</cor:{element}></soapenv:Body>"
        "</soapenv:Envelope>"
    ).encode()


def post(client, body: bytes, auth=CLEARINGHOUSE):
    return client.post("/core/soap", content=body, headers=HEADERS, auth=auth)


def core_fields(response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/soap+xml")
    root = etree.fromstring(response.content)
    body = root.find(f"{{{SOAP12}}}Body")
    [element] = list(body)
    return {etree.QName(child).localname: child.text or "" for child in element}


def fault_code(response) -> str:
    root = etree.fromstring(response.content)
    return root.findtext(f".//{{{SOAP12}}}Fault/{{{SOAP12}}}Code/{{{SOAP12}}}Value")


ERRORS = [
    (dict(PayloadType=None), "PayloadTypeRequired"),
    (dict(ProcessingMode=None), "ProcessingModeRequired"),
    (dict(PayloadID=None), "PayloadIDRequired"),
    (dict(TimeStamp=None), "TimeStampRequired"),
    (dict(SenderID=None), "SenderIDRequired"),
    (dict(ReceiverID=None), "ReceiverIDRequired"),
    (dict(CORERuleVersion=None), "CORERuleVersionRequired"),
    (dict(CheckSum=None), "CheckSumRequired"),
    (dict(Payload=None), "PayloadRequired"),
    (dict(CORERuleVersion="2.1.0"), "VersionMismatch"),
    (dict(ProcessingMode="Batch"), "ProcessingModeIllegal"),
    (dict(PayloadType="X12_270_Request_005010X279A1"), "PayloadTypeIllegal"),
    (dict(PayloadID="not-a-uuid"), "PayloadIDIllegal"),
    (dict(TimeStamp="yesterday"), "TimeStampIllegal"),
    (dict(ReceiverID="SOMEONEELSE"), "ReceiverIDIllegal"),
    (dict(PayloadLength="5"), "PayloadLengthIllegal"),
    (dict(CheckSum="xyz"), "CheckSumIllegal"),
    (dict(CheckSum=checksum(b"another payload")), "CheckSumIllegal"),
    (dict(SenderID="SAMPLEONC"), "UnAuthorized"),
]


@pytest.mark.parametrize(("changes", "code"), ERRORS, ids=[code for _, code in ERRORS])
def test_each_envelope_error_gets_its_code_and_no_payload(app_client, core, changes, code):
    values = fields(**changes)
    answer = core_fields(post(app_client, message(values)))
    assert answer["ErrorCode"] == code
    assert answer["ErrorMessage"]
    assert answer["PayloadType"] == "CoreEnvelopeError"
    assert "Payload" not in answer
    if values.get("PayloadID"):
        assert answer["PayloadID"] == values["PayloadID"]
    assert core.list_cases(limit=5) == []


def test_qualified_field_elements_are_read_too(app_client):
    answer = core_fields(post(app_client, message(fields(), prefix="cor:")))
    assert answer["ErrorCode"] == "Success"
    assert "HCR*A1" in answer["Payload"]


def test_soap_11_gets_a_version_mismatch_fault(app_client):
    body = message(fields(), envelope_ns="http://schemas.xmlsoap.org/soap/envelope/")
    response = post(app_client, body)
    assert response.status_code == 400
    assert fault_code(response) == "soapenv:VersionMismatch"


@pytest.mark.parametrize(
    "body",
    [
        b"ISA*00*not xml",
        b"<notsoap/>",
        message(fields(), element="COREEnvelopeSomethingElse"),
        b'<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x "boom">]>'
        + message(fields()).replace(b"<soapenv:Header/>", b"<soapenv:Header>&x;</soapenv:Header>"),
    ],
    ids=["not-xml", "not-soap", "unknown-element", "dtd-entity"],
)
def test_what_is_not_a_core_envelope_gets_a_sender_fault(app_client, body):
    response = post(app_client, body)
    assert response.status_code == 400
    assert fault_code(response) == "soapenv:Sender"


def batch_fields(**changes: str | None) -> dict[str, str | None]:
    values = fields(
        BATCH,
        ProcessingMode="Batch",
        PayloadLength=str(len(BATCH)),
        Payload=base64.b64encode(BATCH).decode(),
    )
    values.update(changes)
    return values


def test_batch_payload_that_is_not_base64_is_illegal(app_client):
    body = message(batch_fields(Payload="@@not base64@@"), "COREEnvelopeBatchSubmission")
    assert core_fields(post(app_client, body))["ErrorCode"] == "PayloadIllegal"


def test_batch_payload_as_an_mtom_attachment_is_refused(app_client):
    body = message(batch_fields(Payload="PLACEHOLDER"), "COREEnvelopeBatchSubmission").replace(
        b"PLACEHOLDER",
        b'<xop:Include xmlns:xop="http://www.w3.org/2004/08/xop/include" href="cid:1"/>',
    )
    answer = core_fields(post(app_client, body))
    assert answer["ErrorCode"] == "PayloadIllegal"
    assert "MTOM" in answer["ErrorMessage"]


def test_raw_batch_submission_is_acknowledged(app_client):
    answer = core_fields(post(app_client, message(batch_fields(), "COREEnvelopeBatchSubmission")))
    assert answer["ErrorCode"] == "Success"
    assert answer["PayloadType"] == "X12_BatchReceiptConfirmation"


def test_soap_without_credentials_is_refused(app_client):
    assert post(app_client, message(fields()), auth=None).status_code == 401


def test_checksum_over_crlf_line_breaks_survives_xml_line_end_normalization(app_client):
    # The sender hashed its payload with CR LF after each segment; the XML parser hands the
    # gateway LF only (XML 1.0, 2.11). The payload as sent is what the CheckSum is checked on.
    payload = JANE.replace(b"\n", b"").replace(b"~", b"~\r\n")
    values = fields(payload)
    answer = core_fields(post(app_client, message(values)))
    assert answer["ErrorCode"] == "Success"
    assert "HCR*A1" in answer["Payload"]
