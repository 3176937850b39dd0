"""The HTTP MIME multipart binding of the CORE envelope (Connectivity Rule vC2.2.0, section 4):
the envelope fields are the parts of a multipart/form-data body, one part per field, the
Payload a part of its own (a file part or a plain field). The response is multipart/form-data
with the same field names plus ErrorCode and ErrorMessage.

There is no operation element as in SOAP: the PayloadType and ProcessingMode say which it is.
"""

from __future__ import annotations

import secrets

from gateway.caqh.envelope import (
    BATCH_MODE,
    PAYLOAD_TYPES,
    RESPONSE_FIELDS,
    X12_278_REQUEST,
    CoreRequest,
    CoreResponse,
    Operation,
)

FIELD_LIMIT = 1024  # bytes of an envelope field other than the Payload


def operation_of(fields: dict[str, str]) -> Operation:
    """The operation a MIME request asks for (by PayloadType, then ProcessingMode)."""
    payload_type = fields.get("PayloadType")
    batch = fields.get("ProcessingMode") == BATCH_MODE
    if payload_type in PAYLOAD_TYPES[Operation.ACK_RETRIEVAL]:
        return Operation.ACK_RETRIEVAL
    if payload_type in PAYLOAD_TYPES[Operation.RESULTS_RETRIEVAL]:
        return Operation.RESULTS_RETRIEVAL
    if payload_type == X12_278_REQUEST or not payload_type:
        return Operation.BATCH_SUBMISSION if batch else Operation.REAL_TIME
    # An unknown PayloadType: checked (and refused) as the submission its mode says.
    return Operation.BATCH_SUBMISSION if batch else Operation.REAL_TIME


def parse(parts: dict[str, str | bytes]) -> CoreRequest:
    """The CORE request in a form's parts (text fields as str, file parts as bytes)."""
    fields: dict[str, str] = {}
    payload: bytes | None = None
    fault: str | None = None
    username, password = parts.pop("Username", None), parts.pop("Password", None)
    credentials = None
    if username and password is not None:
        credentials = (_text(username).strip(), _text(password))
    for name, value in parts.items():
        if name == "Payload":
            payload = value.encode("utf-8") if isinstance(value, str) else value
            if not payload:
                payload = None
            continue
        text = _text(value).strip()
        if text:
            fields[name] = text[:FIELD_LIMIT]
    return CoreRequest(operation_of(fields), fields, payload, fault, credentials=credentials)


def _text(value: str | bytes) -> str:
    if isinstance(value, str):
        return value
    return value[:FIELD_LIMIT].decode("utf-8", errors="replace")


def render(response: CoreResponse) -> tuple[bytes, str]:
    """(body, content type) of the multipart/form-data response."""
    boundary = f"core-{secrets.token_hex(12)}"
    chunks: list[bytes] = []
    for name in RESPONSE_FIELDS:
        if name == "Payload":
            if response.payload is None:
                continue
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="Payload"; '
                'filename="payload.x12"\r\nContent-Type: application/edi-x12\r\n\r\n'
            )
            chunks += [head.encode("ascii"), response.payload, b"\r\n"]
            continue
        value = response.fields.get(name)
        if value is None:
            continue
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        chunks += [head.encode("ascii"), value.encode("utf-8"), b"\r\n"]
    chunks.append(f"--{boundary}--\r\n".encode("ascii"))
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"
