"""The CORE envelope of CAQH CORE Connectivity Rule vC2.2.0: its fields, PayloadTypes, error
codes and the checks the rule asks of a receiver. Knows no transport: the SOAP binding
(gateway.caqh.soap) and the HTTP MIME multipart one (gateway.caqh.mime) both read into a
`CoreRequest` and write a `CoreResponse`.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

RULE_VERSION = "2.2.0"

# PayloadTypes (the rule's table of payload types for the 005010 HIPAA transactions).
X12_278_REQUEST = "X12_278_Request_005010X217E1_2"
X12_278_RESPONSE = "X12_278_Response_005010X217E1_2"
X12_999_RESPONSE = "X12_999_Response_005010X231A1"
X12_TA1_RESPONSE = "X12_TA1_Response_00501X231A1"
X12_999_RETRIEVAL = "X12_999_RetrievalRequest_005010X231A1"
X12_278_RESULTS_RETRIEVAL = "X12_005010_Request_Batch_Results_278"
NO_ACK_FILE = "X12_005010_Response_NoBatchAckFile"
NO_RESULTS_FILE = "X12_005010_Response_NoBatchResultsFile"
BATCH_RECEIPT = "X12_BatchReceiptConfirmation"
ENVELOPE_ERROR = "CoreEnvelopeError"

REAL_TIME_MODE = "RealTime"
BATCH_MODE = "Batch"

# Envelope processing error codes (the rule's table: Success, <FieldName>Required,
# <FieldName>Illegal, VersionMismatch, UnAuthorized).
SUCCESS = "Success"
VERSION_MISMATCH = "VersionMismatch"
UNAUTHORIZED = "UnAuthorized"
SUCCESS_MESSAGE = "Envelope was processed successfully."


class Operation(StrEnum):
    REAL_TIME = "RealTime"
    BATCH_SUBMISSION = "BatchSubmission"
    ACK_RETRIEVAL = "BatchSubmissionAckRetrieval"
    RESULTS_RETRIEVAL = "BatchResultsRetrieval"


# The envelope's fields in the rule's order; a response adds ErrorCode and ErrorMessage.
FIELDS = (
    "PayloadType",
    "ProcessingMode",
    "PayloadID",
    "PayloadLength",
    "TimeStamp",
    "SenderID",
    "ReceiverID",
    "CORERuleVersion",
    "CheckSum",
    "Payload",
)
RESPONSE_FIELDS = (*FIELDS, "ErrorCode", "ErrorMessage")

_REQUIRED_BASE = (
    "PayloadType",
    "ProcessingMode",
    "PayloadID",
    "TimeStamp",
    "SenderID",
    "ReceiverID",
    "CORERuleVersion",
)
REQUIRED: dict[Operation, tuple[str, ...]] = {
    Operation.REAL_TIME: (*_REQUIRED_BASE, "CheckSum", "Payload"),
    # A batch also says how long its payload is (the receiver checks the transfer was whole).
    Operation.BATCH_SUBMISSION: (*_REQUIRED_BASE, "PayloadLength", "CheckSum", "Payload"),
    Operation.ACK_RETRIEVAL: _REQUIRED_BASE,
    Operation.RESULTS_RETRIEVAL: _REQUIRED_BASE,
}
MODE: dict[Operation, str] = {
    Operation.REAL_TIME: REAL_TIME_MODE,
    Operation.BATCH_SUBMISSION: BATCH_MODE,
    Operation.ACK_RETRIEVAL: BATCH_MODE,
    Operation.RESULTS_RETRIEVAL: BATCH_MODE,
}
PAYLOAD_TYPES: dict[Operation, frozenset[str]] = {
    Operation.REAL_TIME: frozenset({X12_278_REQUEST}),
    Operation.BATCH_SUBMISSION: frozenset({X12_278_REQUEST}),
    # The 999 type itself is taken too: it names what is asked for.
    Operation.ACK_RETRIEVAL: frozenset({X12_999_RETRIEVAL, X12_999_RESPONSE}),
    Operation.RESULTS_RETRIEVAL: frozenset({X12_278_RESULTS_RETRIEVAL, X12_278_RESPONSE}),
}

# Identifiers: printable, no blanks inside, at most 50 characters (the rule's field constraint
# for SenderID and ReceiverID).
_ID = re.compile(r"[!-~]{1,50}")
_HEX40 = re.compile(r"[0-9A-Fa-f]{40}")
_DIGITS = re.compile(r"[0-9]{1,12}")


@dataclass
class CoreRequest:
    """An envelope as received: its fields as text (stripped; a field sent empty is absent) and
    its payload as bytes (the real-time string encoded as UTF-8, the batch base64 decoded)."""

    operation: Operation
    fields: dict[str, str]
    payload: bytes | None = None
    # Set by the binding when the Payload could not be read at all (bad base64, an attachment).
    payload_fault: str | None = None
    # What the sender may have hashed instead of `payload`: an XML parser turns every CR LF of
    # a string payload into LF (XML 1.0, 2.11), so the payload with CR LF again is taken too.
    as_sent: tuple[bytes, ...] = ()
    # (partner id, secret) when the message carried them (WS-Security UsernameToken, MIME
    # Username/Password); never echoed, never shown.
    credentials: tuple[str, str] | None = field(default=None, repr=False)

    def get(self, name: str) -> str | None:
        return self.fields.get(name) or None


@dataclass
class CoreResponse:
    operation: Operation
    fields: dict[str, str] = field(default_factory=dict)
    payload: bytes | None = None

    @property
    def error_code(self) -> str:
        return self.fields.get("ErrorCode", SUCCESS)


@dataclass(frozen=True)
class EnvelopeError:
    code: str
    message: str


def checksum(payload: bytes) -> str:
    """CheckSum: the SHA-1 of the payload, in hexadecimal (upper case, as the rule's examples;
    received values are compared without regard to case)."""
    return hashlib.sha1(payload).hexdigest().upper()  # noqa: S324 - the rule names SHA-1


def timestamp(moment: datetime) -> str:
    """TimeStamp: an XML Schema dateTime in UTC."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def required(name: str) -> EnvelopeError:
    return EnvelopeError(f"{name}Required", f"The field {name} is required but was not provided.")


def illegal(name: str, why: str) -> EnvelopeError:
    return EnvelopeError(f"{name}Illegal", f"Illegal value provided for {name}: {why}")


def _datetime(value: str) -> bool:
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return False
    # xs:dateTime needs the date and the time.
    return "T" in value.upper() and parsed is not None


def check(request: CoreRequest, *, receiver_id: str) -> EnvelopeError | None:
    """The first envelope error of the request, in the rule's order: a missing field, then the
    rule version, then an illegal value; None when the envelope is sound."""
    operation = request.operation
    for name in REQUIRED[operation]:
        if name == "Payload":
            if request.payload is None and request.payload_fault is None:
                return required(name)
        elif request.get(name) is None:
            return required(name)
    version = request.get("CORERuleVersion")
    if version != RULE_VERSION:
        return EnvelopeError(
            VERSION_MISMATCH,
            f"CORERuleVersion {version} is not supported; this receiver implements {RULE_VERSION}.",
        )
    mode = request.get("ProcessingMode")
    if mode != MODE[operation]:
        return illegal("ProcessingMode", f"{operation.value} takes {MODE[operation]}, not {mode}.")
    payload_type = request.get("PayloadType")
    if payload_type not in PAYLOAD_TYPES[operation]:
        accepted = ", ".join(sorted(PAYLOAD_TYPES[operation]))
        return illegal("PayloadType", f"{operation.value} takes {accepted}, not {payload_type}.")
    payload_id = request.get("PayloadID") or ""
    try:
        uuid.UUID(payload_id)
    except ValueError:
        return illegal("PayloadID", "it must be a UUID (RFC 4122) in hexadecimal notation.")
    if not _datetime(request.get("TimeStamp") or ""):
        return illegal("TimeStamp", "it must be an XML Schema dateTime, e.g. 2026-12-01T14:00:00Z.")
    for name in ("SenderID", "ReceiverID"):
        if not _ID.fullmatch(request.get(name) or ""):
            return illegal(name, "at most 50 printable characters, no blanks.")
    if request.get("ReceiverID") != receiver_id.strip():
        return illegal("ReceiverID", f"this receiver is {receiver_id.strip()}.")
    if request.payload_fault is not None:
        return illegal("Payload", request.payload_fault)
    if request.payload is not None and operation in (
        Operation.REAL_TIME,
        Operation.BATCH_SUBMISSION,
    ):
        length = request.get("PayloadLength")
        lengths = {len(request.payload), *map(len, request.as_sent)}
        if length is not None and (not _DIGITS.fullmatch(length) or int(length) not in lengths):
            return illegal(
                "PayloadLength", f"the payload is {len(request.payload)} bytes, not {length}."
            )
        sent = request.get("CheckSum") or ""
        if not _HEX40.fullmatch(sent):
            return illegal("CheckSum", "it must be the SHA-1 of the payload in hexadecimal.")
        if sent.upper() not in {checksum(request.payload), *map(checksum, request.as_sent)}:
            return illegal("CheckSum", "it does not match the SHA-1 of the payload received.")
    return None


def answer(
    request: CoreRequest,
    *,
    payload_type: str,
    sender_id: str,
    now: datetime,
    payload: bytes | None = None,
    error: EnvelopeError | None = None,
    payload_id: str | None = None,
) -> CoreResponse:
    """The response envelope: the responder is now the sender (`sender_id`, the gateway) and
    the requester's SenderID the receiver; PayloadID echoes the request's unless given."""
    fields: dict[str, str] = {
        "PayloadType": payload_type,
        "ProcessingMode": MODE[request.operation],
        "PayloadID": payload_id or request.get("PayloadID") or "",
        "TimeStamp": timestamp(now),
        "SenderID": sender_id.strip(),
        "ReceiverID": request.get("SenderID") or "",
        "CORERuleVersion": RULE_VERSION,
    }
    if payload is not None:
        fields["PayloadLength"] = str(len(payload))
        fields["CheckSum"] = checksum(payload)
    fields["ErrorCode"] = error.code if error else SUCCESS
    fields["ErrorMessage"] = error.message if error else SUCCESS_MESSAGE
    return CoreResponse(request.operation, fields, payload)


def refusal(
    request: CoreRequest, error: EnvelopeError, *, sender_id: str, now: datetime
) -> CoreResponse:
    """An envelope the receiver will not process: PayloadType CoreEnvelopeError, no payload."""
    return answer(request, payload_type=ENVELOPE_ERROR, sender_id=sender_id, now=now, error=error)
