"""The X12 follow-up: an unsolicited 278 response when a pended X12 request is decided later.

A pended 278 promises updates (BHT06 19, DOMAIN.md: After the first answer); the clearinghouse
learns the later decision by an unsolicited 278 response. This job planner runs inside the
storing transaction of every later change of a case (a reviewer's determination, additional
clinical information, the hold clock, a peer-to-peer outcome) and, for a case the X12 channel
received, plans one outbox job `x12_followup` carrying the whole interchange (ISA..IEA), ready
for the submitting partner's mailbox and its callback URL (gateway.notify.x12_mailbox).

What the interchange says, and why:
- it is addressed to the request's sender: ISA08 its ISA06 (and qualifier), ISA15 its usage;
- the 2000E TRN*2 echo the request's trace numbers and the 2000F TRN*2 each line's, BHT03 the
  request's BHT03, so the submitter can match the answer to what it sent; TRN*1 and REF*NT carry
  the gateway's case id, as in the real-time answer (gateway.x12.intake);
- ISA13 and GS06 come from the store's counters inside this transaction, the series the
  real-time answers use, so they never repeat (DESIGN.md decision 2).

A supportive case split from a request (related_case_id) gets its own follow-up: its own
determination, its own case id in TRN*1/REF*NT, and the request's 2000E traces with the one
2000F of its drug (matched by the line's place in the request, ServiceLine.source_ref).
"""

from __future__ import annotations

import hashlib
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

from gateway.domain.case import Case, Channel, Determination
from gateway.notify.jobs import JobSpec
from gateway.store.reads import PlannerReads
from gateway.x12.grammar import REPO_MAP_DIR
from gateway.x12.outbound import ReceivedHeader
from gateway.x12.writer import write_278_interchange

log = logging.getLogger("gateway.x12.followup")

KIND = "x12_followup"


class _StoreControlNumbers:
    """ISA13 and GS06 from the store's counters in the planner's transaction (the series of
    gateway.x12.realtime.CoreControlNumbers: the same names, the same range)."""

    def __init__(self, reads: PlannerReads):
        self.reads = reads

    def next(self, kind: str) -> int:
        return self.reads.next_number(f"x12:{kind}") % 1_000_000_000 or 1


def followup_key(case: Case, determination: Determination) -> str:
    """One follow-up per (case, event): the event is the determination's time and status, so a
    determination stored again never plans a second one (the outbox key is unique)."""
    return f"{KIND}:{case.id}:{determination.decided_at.isoformat()}:{determination.status.value}"


def mailbox_item_id(case_id: str, key: str) -> str:
    """The id a partner fetches the interchange by: its case and a digest of the job key."""
    return f"{case_id}-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def _addressed_to(case: Case) -> ReceivedHeader:
    control: dict[str, Any] = (case.submission.echo.get("x12") or {}).get("control") or {}
    return ReceivedHeader(
        sender_qualifier=str(control.get("isa05") or "ZZ"),
        sender_id=case.submission.submitter_id or "",
        receiver_qualifier=str(control.get("isa07") or "ZZ"),
        usage="T" if control.get("isa15") == "T" else "P",
    )


def _own_lines(case: Case) -> Case:
    """The case with its channel echo narrowed to its own service lines: a supportive case
    holds one line of the request, whose 2000F echo sits at that line's place (source_ref)."""
    x12 = dict(case.submission.echo.get("x12") or {})
    services = x12.get("services") or []
    if not case.related_case_id or not services or len(services) == len(case.service_lines):
        return case
    picked = []
    for line in case.service_lines:
        ref = line.source_ref or ""
        index = int(ref) - 1 if ref.isdigit() else -1
        picked.append(services[index] if 0 <= index < len(services) else {})
    x12["services"] = picked
    submission = case.submission.model_copy(update={"echo": {**case.submission.echo, "x12": x12}})
    return case.model_copy(update={"submission": submission})


def unsolicited_278(
    case: Case,
    determination: Determination,
    reads: PlannerReads,
    *,
    x12_id: str,
    now: datetime,
    map_dir: Path = REPO_MAP_DIR,
) -> str:
    """The unsolicited 278 response interchange for a stored X12 case's new determination."""
    assert case.id is not None
    return write_278_interchange(
        [(_own_lines(case), determination, case.id)],
        _addressed_to(case),
        x12_id=x12_id,
        control_numbers=_StoreControlNumbers(reads),
        now=now,
        map_dir=map_dir,
    )


class X12FollowUp:
    """Job planner: a later change of an X12 case's status becomes one `x12_followup` job for
    the partner that submitted it. The first answer (previous_status None) went back in real
    time or in the batch's responses, and a change that leaves the status as it was (more
    information on a case still pended) tells the submitter nothing new: neither plans one."""

    def __init__(self, x12_id: str, map_dir: Path = REPO_MAP_DIR):
        self.x12_id = x12_id
        self.map_dir = map_dir

    def __call__(
        self,
        reads: PlannerReads,
        case: Case,
        determination: Determination,
        previous_status: str | None,
    ) -> list[JobSpec]:
        if case.submission.channel is not Channel.X12 or case.id is None:
            return []
        if previous_status is None or previous_status == determination.status.value:
            return []
        if determination.requested_by == f"x12:{case.submission.submitter_id}":
            # A change the submitter itself sent over X12 (a cancel, a revision): its answer
            # went back in real time; no unsolicited copy (gateway.domain.changes).
            return []
        partner = reads.submitting_partner(case.submission.submitter_id)
        if partner is None:
            # No enabled partner owns the sender id (an in-process `gateway submit`, a partner
            # since disabled): there is no mailbox to put it in, and no one to call.
            log.info("x12 follow-up: no partner for the submitter", extra={"case_id": case.id})
            return []
        key = followup_key(case, determination)
        interchange = unsolicited_278(
            case,
            determination,
            reads,
            x12_id=self.x12_id,
            now=determination.decided_at,
            map_dir=self.map_dir,
        )
        payload = {
            "partner_id": partner.partner_id,
            "callback_url": partner.callback_url,
            "item_id": mailbox_item_id(case.id, key),
            "status": determination.status.value,
            "interchange": interchange,
        }
        return [JobSpec(KIND, key, payload)]
