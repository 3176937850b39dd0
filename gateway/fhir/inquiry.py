"""What a PAS $inquire bundle asks: the keys a stored case is matched on.

The inquiry Claim (profile-claim-inquiry) is a query by example: the payer matches on the
Claim's identifiers, the patient's member id, the requesting provider and, when given, the
items (trace numbers, authorization numbers, codes).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from gateway.domain.case import Case
from gateway.fhir import constants as k
from gateway.fhir.bundle import BundleIndex
from gateway.fhir.elements import items
from gateway.fhir.reader import read_case


@dataclass
class InquiryQuery:
    """What a $inquire bundle asks for: the keys a stored case is matched on (PAS inquiry:
    the payer matches on identifiers, patient, provider and, when given, the items)."""

    case: Case
    claim_identifiers: list[str] = field(default_factory=list)
    member_id: str | None = None
    payer_id: str | None = None
    provider_npi: str | None = None
    trace_numbers: list[str] = field(default_factory=list)
    auth_numbers: list[str] = field(default_factory=list)
    service_codes: list[str] = field(default_factory=list)


def read_inquiry(bundle: dict[str, Any], received_at: datetime | None = None) -> InquiryQuery:
    case = read_case(bundle, received_at=received_at, operation="inquire")
    claim = next(e for e in BundleIndex(bundle).entries if e.resource_type == "Claim").resource
    auth = [
        str(ext.get("valueString"))
        for element in (claim, *items(claim))
        for ext in element.get("extension") or []
        if isinstance(ext, dict)
        and ext.get("url") == k.EXT_AUTHORIZATION_NUMBER
        and ext.get("valueString")
    ]
    return InquiryQuery(
        case=case,
        claim_identifiers=list(case.submission.trace_numbers),
        member_id=case.member.member_id or None,
        payer_id=case.payer_id,
        provider_npi=case.requester.npi if case.requester else None,
        trace_numbers=[line.trace_number for line in case.service_lines if line.trace_number],
        auth_numbers=auth,
        service_codes=[line.code for line in case.service_lines if line.code],
    )
