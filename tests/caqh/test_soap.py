"""CAQH CORE SOAP 1.2 through the real app, driven by a real SOAP client (zeep) that reads the
served WSDL: real time, batch submission, ack retrieval, results retrieval, and the rule's
error codes."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from gateway.conformance.observe import observe_x12
from tests.caqh.conftest import BATCH, CLEARINGHOUSE, EHR, JANE, envelope


def real_time(client, payload: bytes = JANE, **changes):
    fields = envelope(payload, **changes)
    fields.setdefault("Payload", payload.decode())
    return fields, client.service.RealTimeTransaction(**fields)


def test_wsdl_is_served_without_credentials_and_names_the_four_operations(app_client):
    response = app_client.get("/core/wsdl")
    assert response.status_code == 200
    for action in (
        "RealTimeTransaction",
        "BatchSubmitTransaction",
        "BatchSubmitAckRetrievalTransaction",
        "BatchResultsRetrievalTransaction",
    ):
        assert f'soapAction="{action}"' in response.text
    assert 'location="http://testserver/core/soap"' in response.text


def test_real_time_278_gets_the_278_response_with_checksum_and_payload_id(soap, app_client):
    fields, response = real_time(soap())
    assert response.ErrorCode == "Success"
    assert response.PayloadID == fields["PayloadID"]
    assert response.PayloadType == "X12_278_Response_005010X217E1_2"
    assert response.ProcessingMode == "RealTime"
    assert (response.SenderID, response.ReceiverID) == ("GATEWAYUM", "CLEARINGHOUSE01")
    payload = response.Payload.encode()
    assert response.CheckSum == hashlib.sha1(payload).hexdigest().upper()
    assert int(response.PayloadLength) == len(payload)
    assert "HCR*A1" in response.Payload
    assert observe_x12(payload)["review_action"] == "A1"
    # The same interchange POST /x12/278 gives (it answers the interchange it has seen again).
    x12 = app_client.post("/x12/278", content=JANE, auth=CLEARINGHOUSE)
    assert x12.status_code == 200
    assert x12.content == payload


def test_a_payload_id_sent_again_gets_the_stored_response(soap):
    client = soap()
    fields, first = real_time(client)
    second = client.service.RealTimeTransaction(**fields)
    assert second.ErrorCode == "Success"
    assert second.Payload == first.Payload and second.PayloadID == first.PayloadID


def test_a_payload_id_reused_for_another_payload_is_refused(soap):
    client = soap()
    fields, _ = real_time(client)
    other = JANE.replace(b"*201*", b"*202*")  # another control number: another interchange
    _, response = real_time(client, other, PayloadID=fields["PayloadID"])
    assert response.ErrorCode == "PayloadIDIllegal"
    assert response.PayloadType == "CoreEnvelopeError"
    assert response.Payload is None


def test_wrong_checksum_gets_checksum_illegal_and_nothing_is_processed(soap, core):
    _, response = real_time(soap(), CheckSum="0" * 40)
    assert response.ErrorCode == "CheckSumIllegal"
    assert "SHA-1" in response.ErrorMessage
    assert response.Payload is None
    assert core.list_cases(limit=5) == []


def test_missing_payload_id_gets_payload_id_required(soap):
    _, response = real_time(soap(), PayloadID=None)
    assert response.ErrorCode == "PayloadIDRequired"
    assert response.PayloadType == "CoreEnvelopeError"


def test_a_sender_id_that_is_not_the_partners_is_unauthorized(soap, core):
    # The EHR may send as SAMPLEONC only; CLEARINGHOUSE01 belongs to the clearinghouse.
    _, response = real_time(soap(EHR))
    assert response.ErrorCode == "UnAuthorized"
    assert response.ErrorMessage.startswith("Sender not authorized")
    assert core.list_cases(limit=5) == []


def test_an_isa06_that_is_not_the_partners_gets_a_ta1_006_under_unauthorized(soap):
    # The envelope's SenderID is the EHR's own, the interchange inside claims the clearinghouse.
    _, response = real_time(soap(EHR), sender="SAMPLEONC")
    assert response.ErrorCode == "UnAuthorized"
    assert response.PayloadType == "X12_TA1_Response_00501X231A1"
    assert observe_x12(response.Payload.encode())["ta1"]["note"] == "006"


def test_another_rule_version_gets_version_mismatch(soap):
    _, response = real_time(soap(), CORERuleVersion="2.1.0")
    assert response.ErrorCode == "VersionMismatch"


@pytest.mark.store
def test_batch_is_acknowledged_with_a_999_and_its_results_retrieved_once(soap):
    client = soap()
    batch_id = str(uuid.uuid4())
    submitted = client.service.BatchSubmitTransaction(
        **envelope(
            BATCH,
            ProcessingMode="Batch",
            PayloadID=batch_id,
            PayloadLength=len(BATCH),
            Payload=BATCH,
        )
    )
    assert submitted.ErrorCode == "Success"
    assert submitted.PayloadID == batch_id

    def retrieve(operation, payload_type: str):
        fields = envelope(None, ProcessingMode="Batch", PayloadType=payload_type)
        return getattr(client.service, operation)(**fields)

    ack = retrieve("BatchSubmitAckRetrievalTransaction", "X12_999_RetrievalRequest_005010X231A1")
    assert ack.ErrorCode == "Success"
    assert ack.PayloadType == "X12_999_Response_005010X231A1"
    assert ack.PayloadID == batch_id
    assert ack.CheckSum == hashlib.sha1(ack.Payload).hexdigest().upper()
    observed = observe_x12(ack.Payload)
    assert observed["kind"] == "999"
    assert b"AK9*A*5*5*5" in ack.Payload

    results = retrieve("BatchResultsRetrievalTransaction", "X12_005010_Request_Batch_Results_278")
    assert results.ErrorCode == "Success"
    assert results.PayloadType == "X12_278_Response_005010X217E1_2"
    assert results.PayloadID == batch_id
    assert results.Payload.count(b"ST*278*") == 5
    assert results.CheckSum == hashlib.sha1(results.Payload).hexdigest().upper()

    # Handed out once: a later retrieval finds nothing waiting.
    again = retrieve("BatchSubmitAckRetrievalTransaction", "X12_999_RetrievalRequest_005010X231A1")
    assert again.PayloadType == "X12_005010_Response_NoBatchAckFile"
    assert again.Payload is None
    again = retrieve("BatchResultsRetrievalTransaction", "X12_005010_Request_Batch_Results_278")
    assert again.PayloadType == "X12_005010_Response_NoBatchResultsFile"
    assert again.Payload is None


def test_a_batch_sent_again_under_its_payload_id_is_not_processed_twice(soap):
    client = soap()
    fields = envelope(BATCH, ProcessingMode="Batch", PayloadLength=len(BATCH), Payload=BATCH)
    assert client.service.BatchSubmitTransaction(**fields).ErrorCode == "Success"
    assert client.service.BatchSubmitTransaction(**fields).ErrorCode == "Success"
    retrieval = envelope(
        None,
        ProcessingMode="Batch",
        PayloadType="X12_999_RetrievalRequest_005010X231A1",
    )
    assert client.service.BatchSubmitAckRetrievalTransaction(**retrieval).Payload is not None
    retrieval["PayloadID"] = str(uuid.uuid4())
    second = client.service.BatchSubmitAckRetrievalTransaction(**retrieval)
    assert second.PayloadType == "X12_005010_Response_NoBatchAckFile"


def test_batch_errors_get_the_rules_codes(soap):
    client = soap()
    wrong_sum = envelope(
        BATCH, ProcessingMode="Batch", PayloadLength=len(BATCH), Payload=BATCH, CheckSum="A" * 40
    )
    assert client.service.BatchSubmitTransaction(**wrong_sum).ErrorCode == "CheckSumIllegal"
    no_id = envelope(
        BATCH, ProcessingMode="Batch", PayloadLength=len(BATCH), Payload=BATCH, PayloadID=None
    )
    assert client.service.BatchSubmitTransaction(**no_id).ErrorCode == "PayloadIDRequired"
    no_length = envelope(BATCH, ProcessingMode="Batch", Payload=BATCH)
    assert client.service.BatchSubmitTransaction(**no_length).ErrorCode == "PayloadLengthRequired"
    foreign = envelope(
        BATCH, ProcessingMode="Batch", PayloadLength=len(BATCH), Payload=BATCH, SenderID="SAMPLEONC"
    )
    assert client.service.BatchSubmitTransaction(**foreign).ErrorCode == "UnAuthorized"


def test_one_partners_batch_answers_are_not_another_partners(soap):
    client = soap()
    fields = envelope(BATCH, ProcessingMode="Batch", PayloadLength=len(BATCH), Payload=BATCH)
    assert client.service.BatchSubmitTransaction(**fields).ErrorCode == "Success"
    ehr = soap(EHR)
    retrieval = envelope(
        None,
        sender="SAMPLEONC",
        ProcessingMode="Batch",
        PayloadType="X12_999_RetrievalRequest_005010X231A1",
        PayloadID=fields["PayloadID"],
    )
    other = ehr.service.BatchSubmitAckRetrievalTransaction(**retrieval)
    assert other.PayloadType == "X12_005010_Response_NoBatchAckFile"


def test_a_batch_with_a_broken_envelope_is_acknowledged_by_a_ta1_and_has_no_results(soap, core):
    client = soap()
    broken = BATCH.replace(b"IEA*1*000000207", b"IEA*1*000000999")  # IEA02 is not ISA13
    fields = envelope(broken, ProcessingMode="Batch", PayloadLength=len(broken), Payload=broken)
    assert client.service.BatchSubmitTransaction(**fields).ErrorCode == "Success"
    retrieval = envelope(
        None,
        ProcessingMode="Batch",
        PayloadType="X12_999_RetrievalRequest_005010X231A1",
        PayloadID=fields["PayloadID"],
    )
    ack = client.service.BatchSubmitAckRetrievalTransaction(**retrieval)
    assert ack.PayloadType == "X12_TA1_Response_00501X231A1"
    assert observe_x12(ack.Payload)["ta1"] == {"ack": "R", "note": "001"}
    retrieval["PayloadType"] = "X12_005010_Request_Batch_Results_278"
    results = client.service.BatchResultsRetrievalTransaction(**retrieval)
    assert results.PayloadType == "X12_005010_Response_NoBatchResultsFile"
    assert core.list_cases(limit=5) == []


def test_the_endpoint_serves_its_wsdl_to_a_partner_too(app_client):
    response = app_client.get("/core/soap?wsdl", auth=CLEARINGHOUSE)
    assert response.status_code == 200
    assert "COREEnvelopeRealTimeRequest" in response.text
