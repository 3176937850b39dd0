"""The CORE connectivity service: one checked envelope in, the response envelope out, for the
four operations of Connectivity Rule vC2.2.0 the gateway serves (RealTime, BatchSubmission,
BatchSubmissionAckRetrieval, BatchResultsRetrieval). Both bindings (SOAP, MIME) call it; it
knows no HTTP.

The X12 inside is answered by the X12 channel's own real-time service
(gateway.x12.realtime.answer), so a real-time 278 gets the very interchange `POST /x12/278`
gives, and a batch the 999 and 278 responses of the batch policy. The sender rules are the X12
route's too: the envelope's SenderID and every ISA06 of the payload must be the partner's.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from gateway.caqh import batches
from gateway.caqh.envelope import (
    BATCH_RECEIPT,
    NO_ACK_FILE,
    NO_RESULTS_FILE,
    UNAUTHORIZED,
    X12_278_RESPONSE,
    X12_999_RESPONSE,
    X12_TA1_RESPONSE,
    CoreRequest,
    CoreResponse,
    EnvelopeError,
    Operation,
    answer,
    check,
    checksum,
    illegal,
    refusal,
)
from gateway.partners.principal import Principal, x12_sender_allowed
from gateway.service.core import Core
from gateway.x12.edge import receive
from gateway.x12.realtime import answer as answer_x12
from gateway.x12.realtime import foreign_sender, refuse_sender

log = logging.getLogger("gateway.caqh")


@dataclass
class Outcome:
    """The response, the cases it concerns (for the audit trail) and what became of it."""

    response: CoreResponse
    case_ids: list[str] = field(default_factory=list)
    # accepted, replay, refused (envelope error), unauthorized (a sender not the partner's)
    status: str = "accepted"


def interchanges(text: str) -> list[str]:
    """The interchanges of an answer, in order (the gateway writes one after the other)."""
    parts: list[str] = []
    rest = text.lstrip()
    while rest.startswith("ISA") and len(rest) > 106:
        element, terminator = rest[3], rest[105]
        # The writer may put a line break after each segment terminator.
        trailer = re.search(f"{re.escape(terminator)}\\s*IEA{re.escape(element)}", rest)
        close = rest.find(terminator, trailer.end()) if trailer else -1
        if close < 0:
            parts.append(rest)
            break
        parts.append(rest[: close + 1])
        rest = rest[close + 1 :].lstrip()
    return parts


def payload_type_of(interchange: str) -> str:
    """The PayloadType of one answer interchange: by its functional group (FA a 999, HI a 278),
    a TA1 when it has none."""
    element = interchange[3] if len(interchange) > 3 else "*"
    if f"GS{element}FA{element}" in interchange:
        return X12_999_RESPONSE
    if f"GS{element}HI{element}" in interchange:
        return X12_278_RESPONSE
    return X12_TA1_RESPONSE


class Connectivity:
    def __init__(self, core: Core):
        self.core = core
        self.receiver_id = core.settings.x12_id.strip()

    def handle(self, principal: Principal, request: CoreRequest) -> Outcome:
        error = check(request, receiver_id=self.receiver_id)
        if error is not None:
            return Outcome(self._refuse(request, error), status="refused")
        sender = request.get("SenderID") or ""
        if not x12_sender_allowed(principal, sender):
            error = EnvelopeError(
                UNAUTHORIZED,
                f"Sender not authorized: SenderID {sender} is not one of the partner's "
                "registered sender ids.",
            )
            return Outcome(self._refuse(request, error), status="unauthorized")
        if request.operation is Operation.REAL_TIME:
            return self._real_time(principal, request)
        if request.operation is Operation.BATCH_SUBMISSION:
            return self._submit_batch(principal, request)
        kind = batches.ACK if request.operation is Operation.ACK_RETRIEVAL else batches.RESULTS
        return self._retrieve(principal, request, kind)

    # -- operations ----------------------------------------------------------------------------

    def _real_time(self, principal: Principal, request: CoreRequest) -> Outcome:
        assert request.payload is not None
        key = f"core:realtime:{principal.partner_id}:{request.get('PayloadID')}"
        sent = checksum(request.payload)
        stored = self.core.exchange(key)
        if stored is not None:
            # PayloadID is unique per sender: the same envelope again gets the stored answer,
            # another payload under a used PayloadID is refused.
            if stored["checksum"] != sent:
                return Outcome(self._refuse(request, _reused(request)), status="refused")
            response = self._answer(
                request, stored["payload_type"], stored["payload"].encode("utf-8")
            )
            return Outcome(response, stored["case_ids"], status="replay")
        received = receive(request.payload)
        foreign = foreign_sender(principal, received)
        if foreign is not None:
            ta1 = refuse_sender(self.core, foreign)
            error = EnvelopeError(
                UNAUTHORIZED,
                "Sender not authorized: an ISA06 of the payload is not one of the partner's "
                "sender ids (TA1 note 006 in the payload).",
            )
            response = self._answer(request, X12_TA1_RESPONSE, ta1.encode("utf-8"), error=error)
            return Outcome(response, status="unauthorized")
        body, case_ids, _kind = answer_x12(self.core, received)
        # A TA1 A that ISA14 1 asked for precedes the answer: the answer names the PayloadType.
        types = [payload_type_of(part) for part in interchanges(body)]
        payload_type = next((t for t in types if t != X12_TA1_RESPONSE), X12_TA1_RESPONSE)
        self.core.remember_exchange(
            key,
            {"checksum": sent, "payload_type": payload_type, "payload": body, "case_ids": case_ids},
            case_ids,
        )
        return Outcome(self._answer(request, payload_type, body.encode("utf-8")), case_ids)

    def _submit_batch(self, principal: Principal, request: CoreRequest) -> Outcome:
        assert request.payload is not None
        payload_id = request.get("PayloadID") or ""
        sent = checksum(request.payload)
        sessions = self.core.sessions
        prior = batches.submission(sessions, principal.partner_id, payload_id)
        if prior is not None:
            return self._resubmitted(request, prior, sent)
        received = receive(request.payload)
        foreign = foreign_sender(principal, received)
        if foreign is not None:
            error = EnvelopeError(
                UNAUTHORIZED,
                "Sender not authorized: an ISA06 of the batch is not one of the partner's "
                "sender ids; nothing in it was processed.",
            )
            return Outcome(self._refuse(request, error), status="unauthorized")
        body, case_ids, _kind = answer_x12(self.core, received, batch=True)
        payloads = []
        for part in interchanges(body):
            payload_type = payload_type_of(part)
            kind = batches.RESULTS if payload_type == X12_278_RESPONSE else batches.ACK
            payloads.append(batches.Payload(kind, payload_type, part))
        stored = batches.record_submission(
            sessions,
            partner_id=principal.partner_id,
            payload_id=payload_id,
            sender_id=request.get("SenderID") or "",
            checksum=sent,
            case_ids=case_ids,
            payloads=payloads,
            now=self.core.clock(),
        )
        if not stored:
            prior = batches.submission(sessions, principal.partner_id, payload_id)
            return self._resubmitted(request, prior or "", sent)
        log.info(
            "CORE batch received",
            extra={"partner_id": principal.partner_id, "case_ids": case_ids},
        )
        return Outcome(self._receipt(request), case_ids)

    def _retrieve(self, principal: Principal, request: CoreRequest, kind: str) -> Outcome:
        waiting = batches.take(
            self.core.sessions,
            principal.partner_id,
            kind,
            request.get("PayloadID"),
            self.core.clock(),
        )
        if waiting is None:
            none = NO_ACK_FILE if kind == batches.ACK else NO_RESULTS_FILE
            error = EnvelopeError(
                "Success",
                f"No batch {'acknowledgment' if kind == batches.ACK else 'results'} "
                "is waiting for retrieval.",
            )
            return Outcome(self._answer(request, none, None, error=error))
        response = self._answer(
            request,
            waiting.payload_type,
            waiting.payload.encode("utf-8"),
            payload_id=waiting.payload_id,
        )
        return Outcome(response)

    # -- helpers -------------------------------------------------------------------------------

    def _resubmitted(self, request: CoreRequest, prior: str, sent: str) -> Outcome:
        if prior != sent:
            return Outcome(self._refuse(request, _reused(request)), status="refused")
        return Outcome(self._receipt(request), status="replay")

    def _receipt(self, request: CoreRequest) -> CoreResponse:
        received = EnvelopeError(
            "Success", "Batch received; its acknowledgment is ready for retrieval."
        )
        return self._answer(request, BATCH_RECEIPT, None, error=received)

    def _answer(
        self,
        request: CoreRequest,
        payload_type: str,
        payload: bytes | None,
        *,
        error: EnvelopeError | None = None,
        payload_id: str | None = None,
    ) -> CoreResponse:
        return answer(
            request,
            payload_type=payload_type,
            sender_id=self.receiver_id,
            now=self.core.clock(),
            payload=payload,
            error=error,
            payload_id=payload_id,
        )

    def _refuse(self, request: CoreRequest, error: EnvelopeError) -> CoreResponse:
        return refusal(request, error, sender_id=self.receiver_id, now=self.core.clock())


def _reused(request: CoreRequest) -> EnvelopeError:
    return illegal(
        "PayloadID",
        f"{request.get('PayloadID')} was already used by this sender for another payload "
        "(a PayloadID is unique per sender).",
    )
