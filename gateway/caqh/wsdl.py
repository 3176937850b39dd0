"""The WSDL the gateway serves for CORE connectivity (GET /core/wsdl): SOAP 1.2, document/literal,
the CORE envelope schema inline. Written from the rule's element and operation names; the
address is the gateway's own SOAP endpoint as the client reached it.

Every request field is minOccurs="0" in this schema although the rule requires most of them: a
client library then sends what it was given, and the gateway answers a missing field with the
rule's <FieldName>Required ErrorCode instead of the client refusing to send.
"""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from gateway.caqh.envelope import RESPONSE_FIELDS
from gateway.caqh.soap import CORE_XSD, REQUEST_ELEMENTS, RESPONSE_ELEMENTS, WSDL_NS, Operation

# (operation, soapAction) as the rule's WSDL names them.
ACTIONS: dict[Operation, str] = {
    Operation.REAL_TIME: "RealTimeTransaction",
    Operation.BATCH_SUBMISSION: "BatchSubmitTransaction",
    Operation.ACK_RETRIEVAL: "BatchSubmitAckRetrievalTransaction",
    Operation.RESULTS_RETRIEVAL: "BatchResultsRetrievalTransaction",
}
_REQUEST_FIELDS: dict[Operation, tuple[str, ...]] = {
    Operation.REAL_TIME: RESPONSE_FIELDS[:10],
    Operation.BATCH_SUBMISSION: RESPONSE_FIELDS[:10],
    Operation.ACK_RETRIEVAL: (
        "PayloadType",
        "ProcessingMode",
        "PayloadID",
        "TimeStamp",
        "SenderID",
        "ReceiverID",
        "CORERuleVersion",
    ),
    Operation.RESULTS_RETRIEVAL: (
        "PayloadType",
        "ProcessingMode",
        "PayloadID",
        "TimeStamp",
        "SenderID",
        "ReceiverID",
        "CORERuleVersion",
    ),
}
_TYPES = {"PayloadLength": "xsd:int", "TimeStamp": "xsd:dateTime"}


def _field(name: str, operation: Operation, *, response: bool) -> str:
    if name == "Payload":
        kind = "xsd:string" if operation is Operation.REAL_TIME else "xsd:base64Binary"
    else:
        kind = _TYPES.get(name, "xsd:string")
    occurs = "1" if response and name in ("ErrorCode", "ErrorMessage") else "0"
    return f'<xsd:element name="{name}" type="{kind}" minOccurs="{occurs}"/>'


def _element(name: str, fields: tuple[str, ...], operation: Operation, *, response: bool) -> str:
    children = "".join(_field(field, operation, response=response) for field in fields)
    return (
        f'<xsd:element name="{name}"><xsd:complexType><xsd:sequence>{children}'
        "</xsd:sequence></xsd:complexType></xsd:element>"
    )


def schema() -> str:
    """The CORE envelope schema (namespace CORERule2.2.0.xsd)."""
    requests = {operation: name for name, operation in REQUEST_ELEMENTS.items()}
    elements = []
    for operation in Operation:
        elements.append(
            _element(requests[operation], _REQUEST_FIELDS[operation], operation, response=False)
        )
        elements.append(
            _element(RESPONSE_ELEMENTS[operation], RESPONSE_FIELDS, operation, response=True)
        )
    return (
        f'<xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="{CORE_XSD}" '
        f'elementFormDefault="unqualified">{"".join(elements)}</xsd:schema>'
    )


def wsdl(address: str) -> str:
    """The WSDL 1.1 document, its port at `address` (the SOAP endpoint URL)."""
    requests = {operation: name for name, operation in REQUEST_ELEMENTS.items()}
    messages, port_ops, binding_ops = [], [], []
    for operation, action in ACTIONS.items():
        messages.append(
            f'<wsdl:message name="{requests[operation]}Message">'
            f'<wsdl:part name="body" element="CORE:{requests[operation]}"/></wsdl:message>'
            f'<wsdl:message name="{RESPONSE_ELEMENTS[operation]}Message">'
            f'<wsdl:part name="body" element="CORE:{RESPONSE_ELEMENTS[operation]}"/>'
            "</wsdl:message>"
        )
        port_ops.append(
            f'<wsdl:operation name="{action}">'
            f'<wsdl:input message="tns:{requests[operation]}Message"/>'
            f'<wsdl:output message="tns:{RESPONSE_ELEMENTS[operation]}Message"/>'
            "</wsdl:operation>"
        )
        binding_ops.append(
            f'<wsdl:operation name="{action}">'
            f'<soap12:operation soapAction="{action}" style="document"/>'
            '<wsdl:input><soap12:body use="literal"/></wsdl:input>'
            '<wsdl:output><soap12:body use="literal"/></wsdl:output>'
            "</wsdl:operation>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
        'xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" '
        f'xmlns:tns="{WSDL_NS}" xmlns:CORE="{CORE_XSD}" '
        f'targetNamespace="{WSDL_NS}" name="CORETransactions">'
        f"<wsdl:types>{schema()}</wsdl:types>"
        f"{''.join(messages)}"
        f'<wsdl:portType name="CORETransactions">{"".join(port_ops)}</wsdl:portType>'
        '<wsdl:binding name="CoreSoapBinding" type="tns:CORETransactions">'
        '<soap12:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>'
        f"{''.join(binding_ops)}</wsdl:binding>"
        '<wsdl:service name="CoreService"><wsdl:port name="CoreSoapPort" '
        f'binding="tns:CoreSoapBinding"><soap12:address location={quoteattr(address)}/>'
        "</wsdl:port></wsdl:service></wsdl:definitions>"
    )
