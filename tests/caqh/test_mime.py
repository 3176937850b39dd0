"""CAQH CORE HTTP MIME multipart through the real app, sent by a real multipart client (httpx
builds the form) and read back with the standard library's MIME parser."""

from __future__ import annotations

import email
import email.policy
import hashlib
import uuid

from gateway.caqh.envelope import timestamp
from gateway.conformance.observe import observe_x12
from tests.caqh.conftest import BATCH, CLEARINGHOUSE, EHR, JANE, envelope


def form(payload: bytes | None, **changes) -> dict[str, str]:
    fields = envelope(payload, **changes)
    return {
        name: (timestamp(value) if name == "TimeStamp" else str(value))
        for name, value in fields.items()
        if value is not None
    }


def send(client, fields: dict[str, str], payload: bytes | None, auth=CLEARINGHOUSE):
    """POST the fields as multipart/form-data, the payload as a file part."""
    files: dict = {name: (None, value) for name, value in fields.items()}
    if payload is not None:
        files["Payload"] = ("payload.x12", payload, "application/edi-x12")
    return client.post("/core/mime", files=files, auth=auth)


def parts(response) -> dict[str, bytes]:
    """The response's form parts by name."""
    head = f"Content-Type: {response.headers['content-type']}\r\n\r\n".encode()
    message = email.message_from_bytes(head + response.content, policy=email.policy.HTTP)
    read = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        read[name] = part.get_payload(decode=True)
    return read


def test_real_time_278_over_mime(app_client):
    fields = form(JANE)
    response = send(app_client, fields, JANE)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("multipart/form-data")
    answer = parts(response)
    assert answer["ErrorCode"] == b"Success"
    assert answer["PayloadID"].decode() == fields["PayloadID"]
    assert answer["PayloadType"] == b"X12_278_Response_005010X217E1_2"
    payload = answer["Payload"]
    assert b"HCR*A1" in payload
    assert answer["CheckSum"].decode() == hashlib.sha1(payload).hexdigest().upper()
    assert observe_x12(payload)["review_action"] == "A1"


def test_real_time_payload_may_be_a_plain_field(app_client):
    fields = form(JANE)
    fields["Payload"] = JANE.decode()
    response = send(app_client, fields, None)
    assert parts(response)["ErrorCode"] == b"Success"


def test_mime_errors_get_the_rules_codes(app_client):
    wrong = send(app_client, form(JANE, CheckSum="B" * 40), JANE)
    assert wrong.status_code == 400
    assert parts(wrong)["ErrorCode"] == b"CheckSumIllegal"
    missing = send(app_client, form(JANE, PayloadID=None), JANE)
    assert missing.status_code == 400
    assert parts(missing)["ErrorCode"] == b"PayloadIDRequired"
    foreign = send(app_client, form(JANE), JANE, auth=EHR)
    assert foreign.status_code == 403
    assert parts(foreign)["ErrorCode"] == b"UnAuthorized"
    version = send(app_client, form(JANE, CORERuleVersion="4.0.0"), JANE)
    assert parts(version)["ErrorCode"] == b"VersionMismatch"
    no_payload = send(app_client, form(JANE), None)
    assert parts(no_payload)["ErrorCode"] == b"PayloadRequired"


def test_batch_over_mime_acknowledged_then_results_retrieved_once(app_client):
    batch_id = str(uuid.uuid4())
    fields = form(BATCH, ProcessingMode="Batch", PayloadID=batch_id, PayloadLength=len(BATCH))
    submitted = send(app_client, fields, BATCH)
    assert submitted.status_code == 200
    assert parts(submitted)["ErrorCode"] == b"Success"

    def retrieve(payload_type: str) -> dict[str, bytes]:
        request = form(None, ProcessingMode="Batch", PayloadType=payload_type, PayloadID=batch_id)
        response = send(app_client, request, None)
        assert response.status_code == 200
        return parts(response)

    ack = retrieve("X12_999_RetrievalRequest_005010X231A1")
    assert ack["PayloadType"] == b"X12_999_Response_005010X231A1"
    assert ack["PayloadID"].decode() == batch_id
    assert b"AK9*A*5*5*5" in ack["Payload"]
    results = retrieve("X12_005010_Request_Batch_Results_278")
    assert results["PayloadType"] == b"X12_278_Response_005010X217E1_2"
    assert results["Payload"].count(b"ST*278*") == 5
    assert results["CheckSum"].decode() == hashlib.sha1(results["Payload"]).hexdigest().upper()
    assert retrieve("X12_005010_Request_Batch_Results_278")["PayloadType"] == (
        b"X12_005010_Response_NoBatchResultsFile"
    )
    assert "Payload" not in retrieve("X12_999_RetrievalRequest_005010X231A1")


def test_a_body_that_is_not_a_form_gets_a_problem(app_client):
    response = app_client.post(
        "/core/mime",
        content=JANE,
        headers={"Content-Type": "application/edi-x12"},
        auth=CLEARINGHOUSE,
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported media type"


def test_mime_without_credentials_is_refused(app_client):
    response = send(app_client, form(JANE), JANE, auth=None)
    assert response.status_code == 401


def test_a_real_time_278_asking_for_a_ta1_is_still_a_278_response(app_client):
    # ISA14 1: the TA1 A goes first in the payload; the PayloadType names the answer after it.
    isa, rest = JANE.decode().split("~", 1)
    elements = isa.split("*")
    elements[14] = "1"
    payload = ("*".join(elements) + "~" + rest).encode()
    answer = parts(send(app_client, form(payload), payload))
    assert answer["ErrorCode"] == b"Success"
    assert answer["PayloadType"] == b"X12_278_Response_005010X217E1_2"
    observed = observe_x12(answer["Payload"])
    assert observed["kind"] == "ta1+278" and observed["ta1"] == {"ack": "A", "note": "000"}
