"""The one X12 answering engine: interchanges answered as their segments stream by.

Two policies over the same engine (DESIGN.md decision 2, CAQH CORE):

- batch (`answer_batch`, streamed from a file of any size): every functional group gets a 999,
  then the 278 responses of the accepted transaction sets follow in one response interchange;
- real time (`answer_received`, over the segments the edge read into memory, gateway.x12.edge):
  the 278 response(s) alone when every group is accepted, the 999 (then the responses of the
  accepted sets) when a group is not, and accepted 005010X215 inquiries answered from the store
  through a `lookup` (gateway.x12.inquiry).

Either way a broken interchange envelope is answered with a TA1 and nothing in it is submitted,
and a sound one whose ISA14 is 1 (acknowledgment requested) gets a TA1 too, TA104 A (or E when
it was accepted with a tolerated fault, ISA12 00401: note 017), as its own interchange ahead
of the 999 and the responses.
The segments are walked twice:

1. a scan: the envelope only (ISA/IEA and GS/GE control numbers and counts, misplaced segments;
   envelope.check_isa, check_trailer, check_group_envelope). Whether an interchange gets a TA1,
   or a group a rejecting AK9, is known before anything is submitted. A stream that cannot seek
   is copied to a temporary file while it is scanned.
2. the answer: each transaction set is validated with the request map and, when its group and
   it are accepted, submitted (intake.submit_transaction). The batch policy writes each 278
   response at once, and a group's AK2..IK5 lines wait in a temporary file until its GE; only
   the transaction set being read is held in memory. The real-time policy holds its answer
   until the interchange ends, since whether a 999 goes back depends on every group.

A batch file may hold several interchanges; each is answered on its own (TA1, or a 999
interchange and a 278 response interchange). A real-time body is one interchange: a second ISA
is data after the IEA (TA105 022). Batch and real time agree byte for byte on a file with one
interchange when real time is asked for the batch policy (tests/x12/test_batch_stream.py).
"""

from __future__ import annotations

import io
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Protocol, TextIO

from gateway.domain.case import Case, Determination
from gateway.x12.ack import GroupAck, ack_999_body, write_999, write_ta1
from gateway.x12.edge import ReceivedInterchange, receive
from gateway.x12.envelope import (
    ACK_IMPLEMENTATION,
    IMPLEMENTATION,
    INQUIRY,
    EnvelopeEvent,
    EnvelopeWalker,
    GroupCheck,
    InterchangeTally,
    SeenControlNumbers,
    Transaction,
    check_group_envelope,
    check_isa,
    check_trailer,
    gs_readable,
)
from gateway.x12.grammar import REPO_MAP_DIR
from gateway.x12.inquiry import Lookup, X12Inquiry, read_inquiry, write_inquiry_interchange
from gateway.x12.intake import (
    REQUEST_GRAMMAR,
    Submit,
    X12Answer,
    request_implementation,
    submit_transaction,
    syntax_note,
)
from gateway.x12.numbers import ControlNumbers
from gateway.x12.outbound import ReceivedHeader, StreamingInterchange, seg
from gateway.x12.tokens import Delimiters, Segment, X12SyntaxError, isa_fields, iter_segments
from gateway.x12.validate import TransactionReport, validate_transaction
from gateway.x12.writer import (
    forget_responses,
    response_body,
    reusing_responses,
    write_278_interchange,
)

CHUNK = 1 << 16
log = logging.getLogger(__name__)


# ---------------------------------------------------------------- pass 1: the envelope


@dataclass
class GroupScan:
    """A functional group's envelope verdict, known before its transaction sets are answered."""

    check: GroupCheck
    included: int | None  # GE01 when readable (AK902)
    transactions: int


@dataclass
class InterchangeScan:
    isa: Segment | None  # None: the data did not begin with a readable ISA
    delims: Delimiters = field(default_factory=Delimiters)
    first_gs: Segment | None = None
    note: str | None = None  # TA105 when the envelope is broken
    groups: list[GroupScan] = field(default_factory=list)
    transactions: int = 0
    tally: InterchangeTally = field(default_factory=lambda: InterchangeTally(None, 0))

    @property
    def header(self) -> ReceivedHeader:
        return ReceivedHeader.from_isa(self.isa, self.first_gs)

    def judge(self, x12_id: str) -> None:
        """The TA105 note, as check_interchange gives it for the same interchange."""
        if self.isa is not None:
            self.note = check_isa(self.isa, self.delims, x12_id) or check_trailer(
                self.isa, self.tally
            )


@dataclass
class BatchScan:
    interchanges: list[InterchangeScan] = field(default_factory=list)

    @property
    def transactions(self) -> int:
        return sum(scan.transactions for scan in self.interchanges)


class _Scanner:
    """The envelope facts of one interchange, fed segment by segment."""

    def __init__(self, delims: Delimiters, isa: Segment, x12_id: str):
        self.x12_id = x12_id
        self.walker = EnvelopeWalker()
        self.scan = InterchangeScan(isa, delims)
        self._gs: Segment | None = None
        self._count = 0
        self._st03s: set[str] = set()

    def feed(self, segment: Segment) -> None:
        for event in self.walker.feed(segment):
            self._on(event)

    def finish(self) -> InterchangeScan:
        for event in self.walker.end():
            self._on(event)
        self.scan.judge(self.x12_id)
        return self.scan

    def _on(self, event: EnvelopeEvent) -> None:
        kind, scan, tally = event.kind, self.scan, self.scan.tally
        if kind == "group":
            assert event.segment is not None
            self._gs, self._count, self._st03s = event.segment, 0, set()
            tally.groups += 1
            if scan.first_gs is None:
                scan.first_gs = event.segment
            if not gs_readable(event.segment, self.x12_id):
                tally.gs_fault = True
        elif kind == "transaction":
            assert event.transaction is not None
            self._count += 1
            self._st03s.add(event.transaction.st.get(3))
            scan.transactions += 1
        elif kind == "group_end":
            assert self._gs is not None
            ge = event.segment
            ge01 = ge.get(1) if ge is not None else ""
            check = check_group_envelope(self._gs, ge, self._count, self._st03s)
            scan.groups.append(GroupScan(check, int(ge01) if ge01.isdigit() else None, self._count))
        elif kind == "iea":
            tally.iea = event.segment
        elif kind == "stray":
            tally.stray = True
        else:
            tally.after_iea = True


def _scan(
    segments: Iterable[tuple[Delimiters, Segment]], x12_id: str, *, several: bool = True
) -> BatchScan:
    """The envelope facts of every interchange; with `several` False (a real-time body) all
    that follows the first IEA is that interchange's data after the IEA."""
    result = BatchScan()
    scanner: _Scanner | None = None
    try:
        for delims, segment in segments:
            if scanner is None:
                scanner = _Scanner(delims, segment, x12_id)
                continue
            scanner.feed(segment)
            if several and scanner.walker.ended:  # the tokenizer starts over at the next ISA
                result.interchanges.append(scanner.finish())
                scanner = None
    except X12SyntaxError as exc:
        # The tokenizer raises only where an ISA should begin.
        if result.interchanges:
            # Data after the IEA that is not an interchange: TA105 022, as in real time.
            last = result.interchanges[-1]
            last.tally.after_iea = True
            last.judge(x12_id)
        else:
            result.interchanges.append(InterchangeScan(None, note=syntax_note(exc)))
    if scanner is not None:
        result.interchanges.append(scanner.finish())
    return result


def scan_batch(stream: TextIO | BinaryIO, *, x12_id: str, chunk_size: int = CHUNK) -> BatchScan:
    """The envelope verdicts and transaction counts of a batch file (pass 1 on its own: what a
    progress bar needs to know the total). Reads the stream to its end."""
    text = _text(stream)
    try:
        return _scan(iter_segments(_chunks(text, chunk_size), chunk_size), x12_id)
    finally:
        _release(stream, text)


# ---------------------------------------------------------------- pass 2: the answer


@dataclass
class BatchSummary:
    interchanges: int = 0
    groups: int = 0
    transactions: int = 0
    accepted: int = 0  # transaction sets accepted by the 999 (and submitted)
    rejected: int = 0  # everything else, all of them under a TA1
    cases: int = 0  # case ids the core returned
    ta1: int = 0  # interchanges answered with a TA1
    ta1_accepted: int = 0  # TA1 A/E sent because ISA14 asked for one (the interchange is answered)
    acks: int = 0  # 999 interchanges written
    responses: int = 0  # 278 responses written
    note_codes: list[str] = field(default_factory=list)  # TA105 of every TA1

    @property
    def kind(self) -> str:
        """What went back: "ta1", "999", "999+278", or "ta1+999..." for a mixed file."""
        parts = [
            name
            for name, present in (("ta1", self.ta1), ("999", self.acks), ("278", self.responses))
            if present
        ]
        return "+".join(parts) or "none"


def _ak9(group: GroupScan, received: int, accepted: int) -> str:
    # AK901..AK904 as ack.GroupAck gives them: R when the group is rejected or nothing in it
    # is accepted, P when only some transaction sets are; AK905.. the group's codes.
    codes = group.check.codes
    accepted = 0 if codes else accepted
    status = (
        "R" if codes or received == 0 or accepted == 0 else ("A" if accepted == received else "P")
    )
    included = group.included if group.included is not None else received
    return seg("AK9", status, str(included), str(received), str(accepted), *codes[:5])


class _GroupAnswer:
    """One functional group's 999 under the batch policy: its lines wait in a temporary file
    until GE."""

    def __init__(self, gs: Segment, scan: GroupScan):
        self.gs = gs
        self.scan = scan
        self.lines = tempfile.TemporaryFile("w+", encoding="utf-8")
        self.received = 0
        self.accepted = 0

    def ack(self, report: TransactionReport) -> None:
        # ack_999_body renders AK1, the AK2..IK5 loop of each report, AK9; the middle is this
        # report's loop, with the group's codes deciding IK5 as they do for the whole group.
        loop = ack_999_body(GroupAck("", "", "", reports=[report], codes=self.scan.check.codes))
        for line in loop[1:-1]:
            self.lines.write(line + "\n")
        self.received += 1
        if report.accepted:
            self.accepted += 1

    def body(self) -> Iterator[str]:
        yield ack_999_body(GroupAck(self.gs.get(1), self.gs.get(6), self.gs.get(8)))[0]
        self.lines.seek(0)
        for line in self.lines:
            yield line.rstrip("\n")
        yield _ak9(self.scan, self.received, self.accepted)

    def close(self) -> None:
        self.lines.close()


class _Policy(Protocol):
    """What goes back for one interchange, told each fact as the engine meets it."""

    def group(self, gs: Segment, scan: GroupScan) -> None: ...

    def transaction(self, report: TransactionReport) -> None: ...

    def group_end(self) -> None: ...

    def response(self, case: Case, determination: Determination, trace: str) -> None: ...

    def inquiry(self, transaction: Transaction, delims: Delimiters, isa: Segment) -> None: ...

    def finish(self) -> None: ...


class _BatchPolicy:
    """Batch: a 999 per functional group, always, then the 278 responses; both streamed."""

    def __init__(self, scan: InterchangeScan, run: _Run):
        assert run.acks_out is not None and run.responses_out is not None
        self.run = run
        header = scan.header
        self.acks = StreamingInterchange(
            run.acks_out, header, fic="FA", version=ACK_IMPLEMENTATION, **run.envelope
        )
        self.responses = StreamingInterchange(
            run.responses_out, header, fic="HI", version=IMPLEMENTATION, **run.envelope
        )
        self.acks.start()  # batch: a 999 always goes back, even for a group with no sets
        self._group: _GroupAnswer | None = None

    def group(self, gs: Segment, scan: GroupScan) -> None:
        self._group = _GroupAnswer(gs, scan)

    def transaction(self, report: TransactionReport) -> None:
        assert self._group is not None
        self._group.ack(report)

    def group_end(self) -> None:
        assert self._group is not None
        self.acks.add_set("999", self._group.body())
        self._group.close()
        self._group = None

    def response(self, case: Case, determination: Determination, trace: str) -> None:
        run = self.run
        self.responses.add_set(
            "278",
            response_body(
                case,
                determination,
                now=run.now,
                trace_id=trace,
                x12_id=run.x12_id,
                map_dir=run.map_dir,
            ),
        )

    def inquiry(self, transaction: Transaction, delims: Delimiters, isa: Segment) -> None:
        # A batch X215 inquiry gets its 999 only, for now (docs/x12-companion-guide.md).
        return None

    def finish(self) -> None:
        self.acks.close()
        summary = self.run.summary
        summary.acks += 1
        if self.responses.close():
            summary.responses += self.responses.sets


class _RealTimePolicy:
    """Real time (CAQH CORE): the 278 response(s) alone when every group is accepted, else the
    999 first; accepted X215 inquiries answered through `lookup` (with none: the 999 says A and
    nothing else goes back for them). `always_999` asks for the batch answer instead, in
    memory. The answer is held until the interchange ends: only then is it known whether a 999
    goes back, and control numbers are taken only for what does."""

    def __init__(
        self, scan: InterchangeScan, run: _Run, *, lookup: Lookup | None, always_999: bool
    ):
        self.run = run
        self.header = scan.header
        self.lookup = lookup
        self.always_999 = always_999
        self.acks: list[GroupAck] = []
        self.results: list[tuple[Case, Determination, str]] = []
        self.inquiries: list[tuple[X12Inquiry, list[tuple[Case, Determination]]]] = []
        self.unanswered = False  # an accepted inquiry with no store to answer it
        self.answer = X12Answer(body="", kind="278")

    def group(self, gs: Segment, scan: GroupScan) -> None:
        self.acks.append(
            GroupAck(
                gs.get(1), gs.get(6), gs.get(8), codes=scan.check.codes, included=scan.included
            )
        )

    def transaction(self, report: TransactionReport) -> None:
        self.acks[-1].reports.append(report)
        self.answer.reports.append(report)

    def group_end(self) -> None:
        return None

    def response(self, case: Case, determination: Determination, trace: str) -> None:
        self.results.append((case, determination, trace))
        self.answer.results.append((case, determination))

    def inquiry(self, transaction: Transaction, delims: Delimiters, isa: Segment) -> None:
        if self.lookup is None:
            self.unanswered = True
            return
        inquiry = read_inquiry(transaction.segments, delims)
        self.inquiries.append((inquiry, self.lookup(inquiry, isa_fields(isa)[5].strip())))

    def finish(self) -> None:
        run, answer = self.run, self.answer
        x12_id, numbers, now = run.x12_id, run.control_numbers, run.now
        if self.always_999 or self.unanswered or any(ack.status != "A" for ack in self.acks):
            answer.acks = write_999(
                self.acks, self.header, x12_id=x12_id, control_numbers=numbers, now=now
            )
        if self.results:
            answer.responses = write_278_interchange(
                self.results,
                self.header,
                x12_id=x12_id,
                control_numbers=numbers,
                now=now,
                map_dir=run.map_dir,
            )
        if self.inquiries:
            # A second interchange only when one held both guides (a group per guide is the rule).
            answer.responses = (answer.responses or "") + write_inquiry_interchange(
                self.inquiries, self.header, x12_id=x12_id, control_numbers=numbers, now=now
            )
        answer.body = "".join(part for part in (answer.acks, answer.responses) if part)
        answer.kind = (
            "999+278" if answer.acks and answer.responses else ("999" if answer.acks else "278")
        )


class _InterchangeAnswer:
    """The engine for one interchange whose envelope the scan found sound: each transaction set
    validated, and submitted when it and its group are accepted; `policy` makes the answer."""

    def __init__(
        self,
        scan: InterchangeScan,
        delims: Delimiters,
        isa: Segment,
        run: _Run,
        policy: _Policy,
    ):
        self.scan = scan
        self.delims = delims
        self.isa = isa
        self.run = run
        self.policy = policy
        self.walker = EnvelopeWalker()
        self.gs: Segment | None = None
        self.group_scan: GroupScan | None = None
        self.seen = SeenControlNumbers()
        self.group_index = 0

    def feed(self, segment: Segment) -> None:
        for event in self.walker.feed(segment):
            self._on(event)

    def finish(self) -> None:
        for event in self.walker.end():
            self._on(event)
        self.policy.finish()

    def _on(self, event: EnvelopeEvent) -> None:
        if event.kind == "group":
            assert event.segment is not None
            self.gs = event.segment
            self.group_scan = self.scan.groups[self.group_index]
            self.group_index += 1
            self.seen = SeenControlNumbers()
            for note in self.group_scan.check.tolerated:
                log.info("x12 intake: %s", note)
            self.policy.group(self.gs, self.group_scan)
            self.run.summary.groups += 1
        elif event.kind == "transaction" and self.gs is not None:
            assert event.transaction is not None
            self._transaction(event.transaction)
        elif event.kind == "group_end" and self.gs is not None:
            self.policy.group_end()
            self.gs = self.group_scan = None

    def _transaction(self, transaction: Transaction) -> None:
        run, gs, group_scan = self.run, self.gs, self.group_scan
        assert gs is not None and group_scan is not None
        # Only requests come in: BHT02 other than 13/01 is an invalid code, not a response.
        implementation = request_implementation(transaction, gs)
        report = validate_transaction(
            transaction.segments, self.delims, REQUEST_GRAMMAR(run.map_dir, implementation)
        )
        if self.seen.add(transaction.st.get(2)):
            report.set_codes.append("23")
        self.policy.transaction(report)
        summary = run.summary
        summary.transactions += 1
        accepted = report.accepted and not group_scan.check.rejected
        if accepted and implementation == INQUIRY:
            # An inquiry is answered from the store (or by its 999), never submitted.
            summary.accepted += 1
            self.policy.inquiry(transaction, self.delims, self.isa)
        elif accepted:
            summary.accepted += 1
            case, determination, trace = submit_transaction(
                self.delims,
                self.isa,
                transaction,
                run.submit,
                run.now,
                run.control_numbers,
                loops=report.loops,
            )
            if case.id:
                summary.cases += 1
            self.policy.response(case, determination, trace)
            forget_responses()  # this set's case is answered: nothing else renders it again
        else:
            summary.rejected += 1
        run.advance(1)


@dataclass
class _Run:
    x12_id: str
    submit: Submit
    control_numbers: ControlNumbers
    now: datetime
    acks_out: TextIO | None = None  # the batch policy's outputs
    responses_out: TextIO | None = None
    progress: Callable[[int], None] | None = None
    map_dir: Path = REPO_MAP_DIR
    summary: BatchSummary = field(default_factory=BatchSummary)

    @property
    def envelope(self) -> dict[str, object]:
        return {"x12_id": self.x12_id, "control_numbers": self.control_numbers, "now": self.now}

    def advance(self, count: int) -> None:
        if self.progress is not None and count:
            self.progress(count)

    def ta1(self, scan: InterchangeScan) -> None:
        assert scan.note is not None and self.acks_out is not None
        self.acks_out.write(
            write_ta1(
                scan.header,
                note_code=scan.note,
                x12_id=self.x12_id,
                control_numbers=self.control_numbers,
                now=self.now,
            )
        )
        summary = self.summary
        summary.ta1 += 1
        summary.note_codes.append(scan.note)
        summary.transactions += scan.transactions
        summary.rejected += scan.transactions
        summary.groups += len(scan.groups)
        self.advance(scan.transactions)


def acknowledgment(
    scan: InterchangeScan, *, x12_id: str, control_numbers: ControlNumbers, now: datetime
) -> str | None:
    """The TA1 a sound interchange asked for (ISA14 1): A 000, or E 017 for the tolerated ISA12
    00401; None when ISA14 is 0."""
    header = scan.header
    if scan.isa is None or scan.note is not None or not header.acknowledgment_requested:
        return None
    tolerated = isa_fields(scan.isa)[11] == "00401"
    return write_ta1(
        header,
        note_code="017" if tolerated else "000",
        ack_code="E" if tolerated else "A",
        x12_id=x12_id,
        control_numbers=control_numbers,
        now=now,
    )


def answer_received(
    received: ReceivedInterchange,
    *,
    x12_id: str,
    submit: Submit,
    control_numbers: ControlNumbers,
    now: datetime,
    always_999: bool = False,
    map_dir: Path = REPO_MAP_DIR,
    lookup: Lookup | None = None,
) -> X12Answer:
    """Answer one real-time interchange (a body the edge read without fault, its segments in
    memory) under the real-time policy, or the batch one with `always_999`."""
    assert received.delims is not None and received.segments
    delims, segments = received.delims, received.segments
    scan = _scan(((delims, segment) for segment in segments), x12_id, several=False)
    [interchange] = scan.interchanges
    if interchange.note is not None:
        body = write_ta1(
            interchange.header,
            note_code=interchange.note,
            ack_code="R",
            x12_id=x12_id,
            control_numbers=control_numbers,
            now=now,
        )
        return X12Answer(body=body, kind="ta1", acks=body, note_code=interchange.note)
    ta1 = acknowledgment(interchange, x12_id=x12_id, control_numbers=control_numbers, now=now)
    run = _Run(x12_id, submit, control_numbers, now, map_dir=map_dir)
    policy = _RealTimePolicy(interchange, run, lookup=lookup, always_999=always_999)
    engine = _InterchangeAnswer(interchange, delims, segments[0], run, policy)
    for segment in segments[1:]:
        engine.feed(segment)
    engine.finish()
    answer = policy.answer
    if ta1 is not None:
        answer.ta1 = ta1
        answer.body = ta1 + answer.body
    return answer


def answer_batch(
    stream: TextIO | BinaryIO,
    *,
    x12_id: str,
    submit: Submit,
    control_numbers: ControlNumbers,
    now: datetime,
    acks_out: TextIO,
    responses_out: TextIO,
    progress: Callable[[int], None] | None = None,
    on_scan: Callable[[BatchScan], None] | None = None,
    chunk_size: int = CHUNK,
    map_dir: Path = REPO_MAP_DIR,
) -> BatchSummary:
    """Answer a batch file under the batch policy: TA1 or a 999 per functional group to
    `acks_out`, the 278 responses to `responses_out` as one interchange (per received
    interchange), streamed.

    `submit(case, replay_key)` reaches the core as in intake.answer_interchange. `progress` is
    called with the number of transaction sets just answered; `on_scan` once with the envelope
    scan (how many transaction sets there are) before the first is answered. `map_dir` is the
    X12 map folder (x12_map_dir(Settings.mappings_dir)).
    """
    text = _text(stream)
    spool: TextIO | None = None
    start = _tell(text)
    if start is None:  # a pipe: keep a copy on disk for the second pass
        spool = tempfile.TemporaryFile("w+", encoding="utf-8")
        first = iter_segments(_copying(_chunks(text, chunk_size), spool), chunk_size)
        scan = _scan(first, x12_id)
        spool.seek(0)
        second: TextIO = spool
    else:
        scan = _scan(iter_segments(_chunks(text, chunk_size), chunk_size), x12_id)
        text.seek(start)
        second = text
    if on_scan is not None:
        on_scan(scan)
    run = _Run(x12_id, submit, control_numbers, now, acks_out, responses_out, progress, map_dir)
    run.summary.interchanges = len(scan.interchanges)
    try:
        # The payer feed's 278 of a decided request (planned while it is stored) and its
        # answer in the batch's 278 are one rendering (gateway.x12.writer.reusing_responses).
        with reusing_responses():
            _answer(scan, second, run, chunk_size)
    finally:
        if spool is not None:
            spool.close()
        _release(stream, text)
    return run.summary


def _answer(scan: BatchScan, text: TextIO, run: _Run, chunk_size: int) -> None:
    scans = iter(scan.interchanges)
    current: _InterchangeAnswer | None = None
    skipping: EnvelopeWalker | None = None  # an interchange answered with a TA1
    if scan.interchanges and scan.interchanges[0].isa is None:
        run.ta1(scan.interchanges[0])  # not X12 from the first character
        return
    try:
        for delims, segment in iter_segments(_chunks(text, chunk_size), chunk_size):
            if current is None and skipping is None:
                ic = next(scans)
                if ic.note is not None:
                    run.ta1(ic)
                    skipping = EnvelopeWalker()
                else:
                    ta1 = acknowledgment(
                        ic, x12_id=run.x12_id, control_numbers=run.control_numbers, now=run.now
                    )
                    if ta1 is not None:
                        assert run.acks_out is not None
                        run.acks_out.write(ta1)
                        run.summary.ta1_accepted += 1
                    policy = _BatchPolicy(ic, run)
                    current = _InterchangeAnswer(ic, delims, segment, run, policy)
                continue
            if skipping is not None:
                skipping.feed(segment)
                if skipping.ended:
                    skipping = None
                continue
            assert current is not None
            current.feed(segment)
            if current.walker.ended:
                current.finish()
                current = None
    except X12SyntaxError:
        pass  # data after the last IEA: the scan judged it (TA105 022) and it was answered
    if current is not None:
        current.finish()


# ---------------------------------------------------------------- streams


def _text(stream: TextIO | BinaryIO) -> TextIO:
    if isinstance(stream, io.TextIOBase):
        return stream  # type: ignore[return-value]
    if isinstance(stream, io.BufferedIOBase | io.RawIOBase) or "b" in getattr(stream, "mode", ""):
        # utf-8-sig drops a byte-order mark; undecodable bytes become U+FFFD and fail the
        # element checks instead of stopping the file.
        return io.TextIOWrapper(stream, encoding="utf-8-sig", errors="replace")  # type: ignore[arg-type]
    return stream  # type: ignore[return-value]


def _release(stream: object, text: TextIO) -> None:
    """Leave the caller's binary stream open (a TextIOWrapper closes what it wraps)."""
    if text is not stream and isinstance(text, io.TextIOWrapper):
        text.detach()


def _tell(text: TextIO) -> int | None:
    try:
        if not text.seekable():
            return None
        return text.tell()
    except (OSError, ValueError):
        return None


def _chunks(text: TextIO, size: int) -> Iterator[str]:
    while True:
        chunk = text.read(size)
        if not chunk:
            return
        yield chunk


def _copying(chunks: Iterable[str], spool: TextIO) -> Iterator[str]:
    for chunk in chunks:
        spool.write(chunk)
        yield chunk


__all__ = [
    "BatchScan",
    "BatchSummary",
    "GroupScan",
    "InterchangeScan",
    "answer_batch",
    "answer_received",
    "scan_batch",
]


def _ta1(
    header: ReceivedHeader, note: str, *, x12_id: str, numbers: ControlNumbers, now: datetime
) -> X12Answer:
    body = write_ta1(
        header, note_code=note, ack_code="R", x12_id=x12_id, control_numbers=numbers, now=now
    )
    return X12Answer(body=body, kind="ta1", acks=body, note_code=note)


def answer_interchange(
    data: bytes | str | ReceivedInterchange,
    *,
    x12_id: str,
    submit: Submit,
    control_numbers: ControlNumbers,
    now: datetime,
    batch: bool = False,
    map_dir: Path = REPO_MAP_DIR,
    lookup: Lookup | None = None,
) -> X12Answer:
    """Validate, map, submit and answer one interchange (see module docstring); `map_dir` is
    the X12 map folder (x12_map_dir(Settings.mappings_dir)). An accepted 005010X215 inquiry
    is answered from the store through `lookup` (gateway.x12.inquiry), never submitted; with
    no lookup it gets the 999 alone.

    `data` is the body as received, or what gateway.x12.edge.receive made of it (the route reads
    the sender from that before it gets here, so both read the same segments)."""
    received = data if isinstance(data, ReceivedInterchange) else receive(data)
    if received.fault is not None or received.delims is None:
        fault = received.fault or X12SyntaxError("data does not begin with an ISA segment")
        first = received.headers[0] if received.headers else None
        return _ta1(
            ReceivedHeader.from_isa(first),
            syntax_note(fault),
            x12_id=x12_id,
            numbers=control_numbers,
            now=now,
        )
    return answer_received(
        received,
        x12_id=x12_id,
        submit=submit,
        control_numbers=control_numbers,
        now=now,
        always_999=batch,
        map_dir=map_dir,
        lookup=lookup,
    )
