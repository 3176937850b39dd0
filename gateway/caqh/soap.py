"""The SOAP 1.2 binding of the CORE envelope (Connectivity Rule vC2.2.0, section 4): the
envelope fields are the children of one element in the SOAP Body, named by the operation.

Read with lxml, hardened: no DTDs, no entities, no network. What is not a SOAP 1.2 envelope
gets a SOAP fault (env:VersionMismatch for a SOAP 1.1 one, env:Sender for the rest); an envelope
that is SOAP but whose CORE fields are wrong gets a CORE response with the rule's ErrorCode.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from lxml import etree

from gateway.caqh.envelope import RESPONSE_FIELDS, CoreRequest, CoreResponse, Operation

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
CORE_XSD = "http://www.caqh.org/SOAP/WSDL/CORERule2.2.0.xsd"
WSDL_NS = "http://www.caqh.org/SOAP/WSDL/"
MEDIA_TYPE = "application/soap+xml"

REQUEST_ELEMENTS: dict[str, Operation] = {
    "COREEnvelopeRealTimeRequest": Operation.REAL_TIME,
    "COREEnvelopeBatchSubmission": Operation.BATCH_SUBMISSION,
    "COREEnvelopeBatchSubmissionAckRetrievalRequest": Operation.ACK_RETRIEVAL,
    "COREEnvelopeBatchResultsRetrievalRequest": Operation.RESULTS_RETRIEVAL,
}
RESPONSE_ELEMENTS: dict[Operation, str] = {
    Operation.REAL_TIME: "COREEnvelopeRealTimeResponse",
    Operation.BATCH_SUBMISSION: "COREEnvelopeBatchSubmissionResponse",
    Operation.ACK_RETRIEVAL: "COREEnvelopeBatchSubmissionAckRetrievalResponse",
    Operation.RESULTS_RETRIEVAL: "COREEnvelopeBatchResultsRetrievalResponse",
}
# The batch operations carry the payload as xs:base64Binary, real time as xs:string.
BINARY = frozenset(
    {Operation.BATCH_SUBMISSION, Operation.ACK_RETRIEVAL, Operation.RESULTS_RETRIEVAL}
)
XOP = "http://www.w3.org/2004/08/xop/include"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
PASSWORD_TEXT = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0"
    "#PasswordText"
)

_PARSER = etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False
)


@dataclass(frozen=True)
class SoapFault(Exception):
    """A message that is not a CORE envelope over SOAP 1.2 (SOAP 1.2 Part 1, 5.4.6 codes)."""

    code: str  # VersionMismatch, Sender
    reason: str


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def parse(data: bytes) -> CoreRequest:
    """The CORE request in a SOAP 1.2 message, or SoapFault."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise SoapFault("Sender", f"the message is not well-formed XML: {exc.msg}") from None
    if (
        any(isinstance(node, etree._Entity) for node in root.iter())
        or root.getroottree().docinfo.internalDTD
    ):
        raise SoapFault("Sender", "a DTD or entity is not accepted in a SOAP message")
    namespace = etree.QName(root).namespace
    if _local(root.tag) != "Envelope" or namespace not in (SOAP12, SOAP11):
        raise SoapFault("Sender", "the message is not a SOAP envelope")
    if namespace == SOAP11:
        raise SoapFault("VersionMismatch", "this endpoint speaks SOAP 1.2 (CORE vC2.2.0)")
    body = root.find(f"{{{SOAP12}}}Body")
    elements = [child for child in body if isinstance(child.tag, str)] if body is not None else []
    if len(elements) != 1:
        raise SoapFault("Sender", "the SOAP Body must hold exactly one CORE envelope element")
    element = elements[0]
    name = _local(element.tag)
    operation = REQUEST_ELEMENTS.get(name)
    if operation is None or etree.QName(element).namespace not in (CORE_XSD, None):
        raise SoapFault(
            "Sender",
            f"{name} is not a CORE request; send one of {', '.join(REQUEST_ELEMENTS)} "
            f"in the namespace {CORE_XSD}",
        )
    fields: dict[str, str] = {}
    payload: bytes | None = None
    fault: str | None = None
    for child in element:
        if not isinstance(child.tag, str):
            continue
        field = _local(child.tag)
        if field == "Payload":
            payload, fault = _payload(child, operation)
            continue
        text = (child.text or "").strip()
        if text:
            fields[field] = text
    as_sent = (payload.replace(b"\n", b"\r\n"),) if payload and operation not in BINARY else ()
    header = root.find(f"{{{SOAP12}}}Header")
    credentials = username_token(header) if header is not None else None
    return CoreRequest(operation, fields, payload, fault, as_sent, credentials)


def username_token(header: etree._Element) -> tuple[str, str] | None:
    """(Username, Password) of a WS-Security UsernameToken with a plain-text password (the
    rule's Username/Password method; a digest cannot be checked against a stored hash)."""
    token = header.find(f"{{{WSSE}}}Security/{{{WSSE}}}UsernameToken")
    if token is None:
        return None
    username = (token.findtext(f"{{{WSSE}}}Username") or "").strip()
    password = token.find(f"{{{WSSE}}}Password")
    if not username or password is None:
        return None
    kind = password.get("Type", PASSWORD_TEXT)
    if kind != PASSWORD_TEXT:
        return None
    return username, password.text or ""


def _payload(element: etree._Element, operation: Operation) -> tuple[bytes | None, str | None]:
    if element.find(f"{{{XOP}}}Include") is not None:
        return None, "an MTOM attachment is not accepted; send the payload inline as base64."
    text = element.text or ""
    if not text.strip():
        return None, None
    if operation not in BINARY:
        return text.encode("utf-8"), None
    try:
        return base64.b64decode("".join(text.split()), validate=True), None
    except (binascii.Error, ValueError):
        return None, "it is not valid base64 (xs:base64Binary)."


def render(response: CoreResponse) -> bytes:
    """The SOAP 1.2 response message."""
    envelope = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soapenv": SOAP12})
    etree.SubElement(envelope, f"{{{SOAP12}}}Header")
    body = etree.SubElement(envelope, f"{{{SOAP12}}}Body")
    element = etree.SubElement(
        body, f"{{{CORE_XSD}}}{RESPONSE_ELEMENTS[response.operation]}", nsmap={"cor": CORE_XSD}
    )
    for name in RESPONSE_FIELDS:
        value: str | None
        if name == "Payload":
            if response.payload is None:
                continue
            value = (
                base64.b64encode(response.payload).decode("ascii")
                if response.operation in BINARY
                else response.payload.decode("utf-8")
            )
        else:
            value = response.fields.get(name)
        if value is None:
            continue
        # The schema's children are unqualified (elementFormDefault="unqualified").
        etree.SubElement(element, name).text = value
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")


def fault(error: SoapFault) -> bytes:
    """A SOAP 1.2 Fault message."""
    envelope = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soapenv": SOAP12})
    body = etree.SubElement(envelope, f"{{{SOAP12}}}Body")
    fault_element = etree.SubElement(body, f"{{{SOAP12}}}Fault")
    code = etree.SubElement(fault_element, f"{{{SOAP12}}}Code")
    etree.SubElement(code, f"{{{SOAP12}}}Value").text = f"soapenv:{error.code}"
    reason = etree.SubElement(fault_element, f"{{{SOAP12}}}Reason")
    text = etree.SubElement(reason, f"{{{SOAP12}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = error.reason
    return etree.tostring(envelope, xml_declaration=True, encoding="UTF-8")
