"""One received interchange in, the interchange to send back out (CAQH CORE semantics).

Real time: the 278 response interchange when every transaction set was accepted; a 999 when a
functional group is rejected (with the 278 responses of any accepted transaction sets after it
when the group was only partly accepted); a TA1 when the interchange envelope is broken or
addressed to another receiver. Batch: always a 999 per functional group, then the responses.
Both are the one answering engine (gateway.x12.engine) under its two policies; this module holds
what the engine does with one accepted transaction set (read it, submit it, answer its faults).

The core is reached through `submit(case, replay_key) -> (case, determination)`; the replay key
`x12:{ISA06}:{BHT03}:{sha256 of the transaction set}` lets the core return the stored answer to
an exact replay without creating anything. A resubmission (the same ISA06 and BHT03 and the same
business content under new control numbers and dates) gets the stored answer too; the same BHT03
with other content is answered with AAA 33 in 2000E (gateway.service.identity).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

from gateway.domain.actions import ReviewAction
from gateway.domain.case import (
    Case,
    CaseStatus,
    Channel,
    Determination,
    Member,
    Reason,
    Rejection,
    Submission,
)
from gateway.domain.changes import ChangeRefused
from gateway.service.identity import RequestConflict
from gateway.x12.envelope import (
    Transaction,
)
from gateway.x12.grammar import REPO_MAP_DIR
from gateway.x12.numbers import TRACE, ControlNumbers
from gateway.x12.reader import ValueFault, read_request
from gateway.x12.tokens import (
    Delimiters,
    Segment,
    X12SyntaxError,
    isa_fields,
)
from gateway.x12.validate import (
    IMPLEMENTATION,
    TransactionReport,
    grammar_for,
    implementation_of,
)

log = logging.getLogger(__name__)

Submit = Callable[[Case, str], tuple[Case, Determination]]
AnswerKind = Literal["ta1", "999", "278", "999+278"]
MEDIA_TYPE = "application/edi-x12"


def REQUEST_GRAMMAR(  # noqa: N802 - a constant per map folder and guide
    map_dir: Path = REPO_MAP_DIR, implementation: str = IMPLEMENTATION
):
    """The map requests of the guide `implementation` (GS08/ST03: 005010X217 request for
    review, 005010X215 inquiry) are validated with."""
    return grammar_for("13", map_dir, implementation)


def request_implementation(transaction: Transaction, gs: Segment) -> str:
    """The 278 guide of one received transaction set (validate.implementation_of)."""
    return implementation_of(transaction.st.get(3), gs.get(8))


@dataclass
class X12Answer:
    body: str  # what goes back, one or two interchanges
    kind: AnswerKind
    acks: str | None = None  # the TA1 or 999 interchange
    responses: str | None = None  # the 278 response interchange
    note_code: str | None = None  # TA105 when kind is "ta1"
    ta1: str | None = None  # the TA1 A/E an ISA14 1 asked for, sent ahead of the rest of body
    results: list[tuple[Case, Determination]] = field(default_factory=list)
    reports: list[TransactionReport] = field(default_factory=list)
    media_type: str = MEDIA_TYPE


def replay_key(submitter: str, bht03: str, transaction_text: str) -> str:
    digest = hashlib.sha256(transaction_text.encode("utf-8")).hexdigest()
    return f"x12:{submitter}:{bht03}:{digest}"


def syntax_note(exc: X12SyntaxError) -> str:
    """TA105 for data whose ISA cannot be read."""
    text = str(exc)
    if "separator" in text:
        return "026"
    return "022" if "ISA" in text else "023"


def _rejected_by_gateway(case: Case, now: datetime, exc: Exception) -> Determination:
    """The core failed: AAA 42 (unable to respond now), resubmission allowed."""
    log.exception("x12 intake: submit failed for %s", case.submission.bht_reference, exc_info=exc)
    return Determination(
        status=CaseStatus.REJECTED,
        review_action=ReviewAction.CONTACT_PAYER,
        reason=Reason(code="GATEWAY_UNAVAILABLE", text="Unable to respond at this time."),
        rejection=Rejection(
            loop="2000A",
            aaa_code="42",
            follow_up="R",
            text="Unable to respond at this time; please resubmit.",
        ),
        decided_at=now,
    )


def _conflicting_request(case: Case, now: datetime, exc: RequestConflict) -> Determination:
    """A BHT03 the submitter already used for a request with other content: AAA 33 (input
    errors) in 2000E, correct and resubmit under a new BHT03 (docs/x12-companion-guide.md)."""
    return Determination(
        status=CaseStatus.REJECTED,
        review_action="CT",
        reason=Reason(code="DUPLICATE_IDENTIFIER", text="BHT03 already used for another request."),
        rejection=Rejection(
            loop="2000E",
            aaa_code="33",
            follow_up="C",
            text=(
                f"BHT03 {exc.identifier} was already used for a request with other content "
                f"(case {exc.case_id}); send a new request under a new BHT03."
            ),
        ),
        decided_at=now,
    )


def _refused_change(now: datetime, exc: ChangeRefused) -> Determination:
    """A revision, extension, renewal or cancel that cannot be applied: the AAA in 2000E that
    says why (MA, IA, T5, CI or 33; docs/x12-companion-guide.md), correct and resubmit."""
    return Determination(
        status=CaseStatus.REJECTED,
        review_action=ReviewAction.CONTACT_PAYER,
        reason=Reason(code="CHANGE_REFUSED", text=exc.text),
        rejection=Rejection(loop="2000E", aaa_code=exc.aaa_code, follow_up="C", text=exc.text),
        decided_at=now,
    )


def submit_transaction(
    delims: Delimiters,
    isa: Segment,
    transaction: Transaction,
    submit: Submit,
    now: datetime,
    numbers: ControlNumbers,
    loops: list[str | None] | None = None,
) -> tuple[Case, Determination, str]:
    """Map one accepted transaction set and submit it (the answering engine, gateway.x12.engine);
    `loops` is each segment's map loop as the validator matched it (TransactionReport.loops)."""
    sender = isa_fields(isa)[5].strip()
    text = transaction.text(delims)
    bht03 = next((s.get(3) for s in transaction.segments[:3] if s.seg_id == "BHT"), "")
    key = replay_key(sender, bht03, text)
    fields = isa_fields(isa)
    # ISA05, ISA07 and ISA15 too: an unsolicited 278 later goes back to the same id, from the
    # qualifier the gateway was addressed with, in the same usage (gateway.x12.followup).
    control = {
        "isa13": isa.get(13),
        "st02": transaction.st.get(2),
        "isa05": fields[4],
        "isa07": fields[6],
        "isa15": fields[14],
    }
    # Reading is inside this transaction's boundary: a value the reader cannot take is this
    # transaction's answer (AAA 33 naming it), never the end of the interchange or the batch.
    faults: list[ValueFault] = []
    try:
        case = read_request(
            transaction.segments,
            delims,
            submitter=sender,
            received_at=now,
            content_hash=key.rsplit(":", 1)[1],
            control=control,
            faults=faults,
            loops=loops,
        )
    except Exception as exc:  # a reader bug: still an answer for this transaction alone
        log.error(
            "x12 intake: transaction ST02 %s could not be read (%s)",
            transaction.st.get(2),
            type(exc).__name__,
        )
        case = unread_case(transaction, delims, sender=sender, now=now, control=control)
        faults = faults or [ValueFault("the request", "could not be read")]
    if faults:
        return case, _input_error(faults, now), str(numbers.next(TRACE))
    if case.diagnoses and not any(diagnosis.primary for diagnosis in case.diagnoses):
        # Never review a secondary code as if it were the principal one.
        return case, _principal_missing(now), str(numbers.next(TRACE))
    try:
        stored, determination = submit(case, key)
    except RequestConflict as exc:  # never a second case under the same BHT03
        stored, determination = case, _conflicting_request(case, now, exc)
    except ChangeRefused as exc:  # a change naming nothing it may change: never a new case
        stored, determination = case, _refused_change(now, exc)
    except Exception as exc:  # the answer must still go back (AAA 42, resubmit later)
        stored, determination = case, _rejected_by_gateway(case, now, exc)
    trace = stored.id or str(numbers.next(TRACE))
    return stored, determination, trace


def _input_error(faults: list[ValueFault], now: datetime) -> Determination:
    """AAA 33 (input errors) at 2000E, C: correct and resubmit; MSG names every value at
    fault and what it should be. Nothing is stored: the request was not reviewed."""
    named = list(dict.fromkeys(str(fault) for fault in faults))
    text = "Input error: " + "; ".join(named) + "."
    return Determination(
        status=CaseStatus.REJECTED,
        review_action="CT",
        reason=Reason(code="INPUT_ERROR", text=text),
        rejection=Rejection(loop="2000E", aaa_code="33", follow_up="C", text=text),
        decided_at=now,
    )


def _principal_missing(now: datetime) -> Determination:
    """HI with diagnoses but none principal (no ABK, or BK for ICD-9): AAA 15 (required
    application data missing) at 2000E, C, as the companion guide names it for a missing
    principal diagnosis. Nothing is stored: the request was not reviewed."""
    text = (
        "The request names no principal diagnosis: send it as the first HI code with "
        "qualifier ABK (other diagnoses with ABF)."
    )
    return Determination(
        status=CaseStatus.REJECTED,
        review_action="CT",
        reason=Reason(code="DIAGNOSIS_MISSING", text=text),
        rejection=Rejection(loop="2000E", aaa_code="15", follow_up="C", text=text),
        decided_at=now,
    )


def unread_case(
    transaction: Transaction,
    delims: Delimiters,
    *,
    sender: str,
    now: datetime,
    control: dict[str, str],
) -> Case:
    """What a response must echo (BHT03, the 2010A/B/C names, the 2000E traces), taken from
    the segments as they are, for a transaction the reader could not map."""
    echo: dict[str, object] = {"control": control, "component": delims.component}
    names = {"20": "umo", "21": "requester", "22": "subscriber"}
    level = ""
    for seg in transaction.segments:
        if seg.seg_id == "BHT":
            echo["bht03"] = seg.get(3)
        elif seg.seg_id == "HL":
            level = seg.get(3)
        elif seg.seg_id == "NM1" and level in names and names[level] not in echo:
            echo[names[level]] = list(seg.elements)
        elif seg.seg_id == "TRN" and level == "EV":
            echo.setdefault("event_trn", []).append(seg.elements[:4])  # type: ignore[union-attr]
    return Case(
        member=Member(member_id=""),
        submission=Submission(
            channel=Channel.X12,
            submitter_id=sender,
            received_at=now,
            bht_reference=str(echo.get("bht03") or "") or None,
            echo={"x12": echo},
        ),
    )
