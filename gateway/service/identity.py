"""The identity of a request: who sent it, under which business identifier, with what content.

DESIGN.md decision 7 and issue 18 item 3. A resubmission of the same request (a new ST02, ISA13,
GS06, envelope dates, BHT04/BHT05; a new Bundle.id, Bundle.timestamp, Bundle.identifier or
renamed entry fullUrls) is the same request: it gets the stored answer and creates nothing. The
envelope's control numbers and timestamps are therefore never part of it. What is:

- the identity key: channel, submitter and the sender's business identifier of the request
  (PAS Claim.identifier, X12 BHT03, the operator API's request id), and
- the business content: what review depends on (member, providers, service lines, diagnoses,
  dates, clinical facts ...), taken from the canonical case after reading, so that two
  spellings of the same request (other delimiters, other fullUrls, reordered entries) agree.

A request under a known identity with other business content is a conflict: the channel refuses
it (X12: AAA 33 in 2000E; PAS: OperationOutcome 409), it never becomes a second case.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from gateway.domain.case import Case

# Contact details and provenance do not change what is decided: a resubmission that spells a
# phone number differently is still the same request.
_PERSON_CONTACT = ("phone", "address")
_PROVIDER_CONTACT = ("address", "phone", "fax", "email", "contact_name", "email_opt_in")
# Per line: the channel's echo (source_ref), the line's own trace (an identifier, not content)
# and the display text of the code (the code is what is reviewed).
_LINE_ECHO = ("source_ref", "trace_number", "description")
_PROVIDERS = ("requester", "ordering", "rendering", "facility")


class RequestConflict(Exception):
    """A request under a known identity whose business content differs from the stored one."""

    def __init__(self, identity: str, case_id: str, identifier: str):
        self.identity = identity
        self.case_id = case_id
        self.identifier = identifier  # the sender's identifier as sent (BHT03, Claim.identifier)
        super().__init__(
            f"request {identifier!r} was already received with other content (case {case_id})"
        )


def business_identifier(case: Case) -> str | None:
    """The sender's own identifier of the request: Claim.identifier, else BHT03 (or the API's
    request id), else Bundle.identifier."""
    submission = case.submission
    return submission.claim_identifier or submission.bht_reference or submission.bundle_identifier


def identity_key(case: Case) -> str | None:
    """`request:{channel}:{submitter}:{identifier}`, or None when the request names none."""
    identifier = business_identifier(case)
    if not identifier:
        return None
    submission = case.submission
    return f"request:{submission.channel.value}:{submission.submitter_id or ''}:{identifier}"


def business_content(case: Case) -> dict[str, Any]:
    """The JSON-ready content of a request that review depends on (see module docstring)."""
    data = case.model_dump(mode="json", exclude={"id", "submission", "payer_name"})
    for person in (data.get("member"), data.get("subscriber")):
        if person:
            for name in _PERSON_CONTACT:
                person.pop(name, None)
    for role in _PROVIDERS:
        provider = data.get(role)
        if provider:
            for name in _PROVIDER_CONTACT:
                provider.pop(name, None)
    lines = data.get("service_lines") or []
    for line in lines:
        for name in _LINE_ECHO:
            line.pop(name, None)
    data["service_lines"] = sorted(lines, key=lambda line: line["sequence"])
    # The principal diagnosis first; the others in any order mean the same.
    data["diagnoses"] = sorted(
        data.get("diagnoses") or [], key=lambda d: (not d["primary"], d["code"])
    )
    facts = data.get("facts") or {}
    facts.pop("sources", None)  # where a fact came from is provenance, not the fact
    for attachment in data.get("attachments") or []:
        for name in ("filename", "size_bytes", "description"):
            attachment.pop(name, None)
    return data


def business_fingerprint(case: Case) -> str:
    """sha256 of the business content in canonical JSON."""
    text = json.dumps(
        business_content(case), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
