"""The X12 278 channel's real-time service: one received interchange in, the interchange that
goes back out (CAQH CORE real time: the 278 response, a 999 only when a group is rejected, a TA1
when the envelope is). The HTTP router and `gateway submit` call it; it knows no HTTP.

An interchange sent again (same ISA06 and ISA13, same segments) gets the answer it got the first
time, and one that reuses a control number for other content gets a TA1 with note 025.
"""

from __future__ import annotations

from collections.abc import Callable

from gateway.domain.case import Case, Determination
from gateway.partners.principal import Principal, x12_sender_allowed
from gateway.service.core import Core
from gateway.x12.ack import write_ta1
from gateway.x12.edge import ReceivedInterchange, receive
from gateway.x12.engine import answer_interchange
from gateway.x12.envelope import check_isa
from gateway.x12.grammar import x12_map_dir
from gateway.x12.inquiry import core_lookup
from gateway.x12.outbound import ReceivedHeader
from gateway.x12.tokens import Segment


class CoreControlNumbers:
    """ISA13, GS06 and the gateway's own trace numbers from the store's counters, so they stay
    unique across restarts and processes (DESIGN.md decision 2)."""

    def __init__(self, core: Core):
        self.core = core

    def next(self, kind: str) -> int:
        return self.core.next_number(f"x12:{kind}") % 1_000_000_000 or 1


def submitter(core: Core) -> Callable[[Case, str], tuple[Case, Determination]]:
    """The engine's `submit`: one read transaction set into the case service."""

    def submit(case: Case, replay_key: str) -> tuple[Case, Determination]:
        result = core.submit(
            case, actor=f"x12:{case.submission.submitter_id}", replay_key=replay_key
        )
        return result.case, result.determination

    return submit


def interchange_identity(received: ReceivedInterchange) -> tuple[str, str] | None:
    """(ISA06, ISA13) of the interchange as the engine processes it (gateway.x12.edge)."""
    return received.identity


def answer(
    core: Core, data: bytes | ReceivedInterchange, *, batch: bool = False
) -> tuple[str, list[str], str]:
    """(interchange to send back, case ids, answer kind) for one received interchange."""
    settings = core.settings
    numbers = CoreControlNumbers(core)
    received = data if isinstance(data, ReceivedInterchange) else receive(data)
    identity = interchange_identity(received)
    digest = received.digest()
    # Only a sound ISA has an identity to remember (a faulty one gets its TA1 from the engine):
    # ISA06 and ISA13 are then printable ids, fit to be a store key.
    sound = received.isa is not None and received.delims is not None
    if sound and check_isa(received.isa, received.delims, settings.x12_id) is not None:
        sound = False
    key = f"isa:{identity[0]}:{identity[1]}" if identity and sound else None
    if key:
        stored = core.exchange(key)
        if stored is not None:
            # The same interchange: its segments match (padding and line breaks aside), or, for
            # a record kept before digests were taken of the segments, its bytes do.
            if stored["digest"] in (digest, received.raw_digest):
                return stored["response"], stored["case_ids"], "replay"
            # X12 I18 025: duplicate interchange control number.
            header = ReceivedHeader.from_isa(received.isa)
            ta1 = write_ta1(
                header,
                note_code="025",
                x12_id=settings.x12_id,
                control_numbers=numbers,
                now=core.clock(),
            )
            return ta1, [], "ta1"
    result = answer_interchange(
        received,
        x12_id=settings.x12_id,
        submit=submitter(core),
        control_numbers=numbers,
        now=core.clock(),
        batch=batch,
        map_dir=x12_map_dir(settings.mappings_dir),
        lookup=core_lookup(core),
    )
    case_ids = [case.id for case, _ in result.results if case.id]
    if key and result.kind != "ta1":
        core.remember_exchange(
            key, {"digest": digest, "response": result.body, "case_ids": case_ids}, case_ids
        )
    return result.body, case_ids, result.kind


def foreign_sender(principal: Principal, received: ReceivedInterchange) -> Segment | None:
    """The first ISA of the body whose ISA06 the partner may not send from: the one processed,
    or any other the body holds (a second interchange, an ISA read under another decoding)."""
    for sender, isa in received.senders:
        if not x12_sender_allowed(principal, sender):
            return isa
    return None


def refuse_sender(core: Core, isa: Segment) -> str:
    """TA1 for an interchange from a sender id the partner may not use (X12 I18 006: invalid
    interchange sender id)."""
    header = ReceivedHeader.from_isa(isa)
    return write_ta1(
        header,
        note_code="006",
        x12_id=core.settings.x12_id,
        control_numbers=CoreControlNumbers(core),
        now=core.clock(),
    )
