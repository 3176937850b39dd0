"""Single-pass validation of one 278 transaction set (ST..SE) against the compiled map.

The walk follows the map the way X12 implementation guides are read, and the way pyx12 reads
them, so that both engines point at the same segment: from the current segment, look forward
(by map position) in the current loop; when nothing fits, climb to the enclosing loop and look
forward from that loop's position, which also lets a loop repeat. A required segment or loop
passed over is reported at the position of the segment that revealed its absence; a segment
that fits nowhere is reported where it stands and the walk stays put.

Results are 999 facts: per segment IK3 (id, position in ST..SE, loop id, IK304 code) with its
IK4 element errors, and per transaction set the IK5 codes.

Where the walk goes depends on nothing but each segment's id and the qualifier values that tell
same-named segments apart (SegmentSpec.key), so a batch's transaction sets of one shape (the
same segments with the same qualifiers) are walked once: the map segments they match and the
structure faults met are kept by shape (`_Shapes`); the element checks run for every set.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from threading import Lock

from gateway.x12.elements import ElementError, check_segment
from gateway.x12.envelope import IMPLEMENTATION, IMPLEMENTATIONS, INQUIRY  # noqa: F401 - re-exported
from gateway.x12.grammar import (
    REPO_MAP_DIR,
    Grammar,
    LoopSpec,
    SegmentSpec,
    load_grammar,
    map_registry,
)
from gateway.x12.tokens import Delimiters, Segment

# The 278 guides with maps in mappings/x12/maps.xml: 005010X217 (request for review) and
# 005010X215 (inquiry after a review already requested), each with its response.


def implementation_of(st03: str | None, gs08: str | None = None) -> str:
    """The guide a transaction set is validated with: its ST03 when the gateway has a map for
    it (ST03 governs the transaction set), else the group's GS08, else 005010X217."""
    for version in (st03, gs08):
        if version in IMPLEMENTATIONS:
            return version
    return IMPLEMENTATION


@dataclass(slots=True)
class SegmentError:
    seg_id: str  # IK301
    position: int  # IK302: ST is 1
    loop_id: str | None  # IK303
    code: str  # IK304: 1 unrecognized, 2 unexpected, 3 required missing, 4 loop over maximum,
    #            5 segment over maximum, 8 data element errors
    elements: list[ElementError] = field(default_factory=list)
    note: str = ""


@dataclass
class TransactionReport:
    st01: str
    st02: str
    st03: str
    errors: list[SegmentError] = field(default_factory=list)
    set_codes: list[str] = field(default_factory=list)  # IK502..: 2, 3, 4, 5, 6, 23, I6 ...
    business_unit: str | None = None  # 2000E TRN02, for the 999 CTX
    purpose: str | None = None  # BHT02
    # The map loop each segment was matched in (loop ids as the map names them: HEADER, 2000E,
    # 2010EA ...; None for a segment the map has no place for), one per segment from ST on:
    # the reader maps by these instead of re-deriving loops (gateway.x12.reader).
    loops: list[str | None] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        return not self.errors and not self.set_codes

    @property
    def ik5_codes(self) -> list[str]:
        codes = list(self.set_codes)
        if self.errors and "5" not in codes:
            codes.append("5")
        return codes[:5]


# Each loop's children's map positions, in order (the grammar is compiled once a process).
_POSITIONS: dict[LoopSpec, list[int]] = {}


def _positions(loop: LoopSpec) -> list[int]:
    found = _POSITIONS.get(loop)
    if found is None:
        found = _POSITIONS[loop] = [child.pos for child in loop.children]
    return found


class _Walk:
    """Position-ordered search through the map with per-loop-instance occurrence counts."""

    def __init__(self, grammar: Grammar, delims: Delimiters):
        self.grammar = grammar
        self.top = grammar.st_loop
        self.component = delims.component
        # counts[loop] holds occurrences of that loop instance's direct children.
        self.counts: dict[LoopSpec, dict[object, int]] = {self.top: {}}

    def _count(self, node: LoopSpec | SegmentSpec, loop: LoopSpec) -> int:
        return self.counts.setdefault(loop, {}).get(node, 0)

    def _bump(self, node: LoopSpec | SegmentSpec, loop: LoopSpec) -> int:
        bucket = self.counts.setdefault(loop, {})
        bucket[node] = bucket.get(node, 0) + 1
        return bucket[node]

    def _matches(self, spec: SegmentSpec, seg: Segment) -> bool:
        # The id first: most candidates differ in it, and that needs no call (the hot loop).
        return spec.seg_id == seg.seg_id and spec.matches(seg.seg_id, seg.elements, self.component)

    def _loop_match(self, loop: LoopSpec, seg: Segment, missing: list[SegmentSpec]) -> bool:
        children = loop.children
        if not children:
            return False
        first = children[0]
        if isinstance(first, LoopSpec):  # a wrapper: any child loop may start here
            return any(
                self._loop_match(child, seg, missing)
                for child in children
                if isinstance(child, LoopSpec)
            )
        if first.seg_id == seg.seg_id and first.matches(seg.seg_id, seg.elements, self.component):
            return True
        assert loop.parent is not None
        if loop.usage == "R" and self._count(loop, loop.parent) < 1:
            missing.append(first)
        return False

    def _enter(
        self, loop: LoopSpec, seg: Segment, errors: list[SegmentError], position: int
    ) -> SegmentSpec | None:
        first = loop.first
        if isinstance(first, SegmentSpec) and self._matches(first, seg):
            assert loop.parent is not None
            if self._bump(loop, loop.parent) > loop.repeat:
                errors.append(
                    SegmentError(
                        seg.seg_id,
                        position,
                        loop.reported_id,
                        "4",
                        note=f"loop {loop.loop_id} over its maximum",
                    )
                )
            self.counts[loop] = {first: 1}
            return first
        for child in loop.children:
            if isinstance(child, LoopSpec):
                found = self._enter(child, seg, errors, position)
                if found is not None:
                    self.counts.setdefault(loop, {})
                    return found
        return None

    def step(
        self, current: SegmentSpec, seg: Segment, position: int
    ) -> tuple[SegmentSpec | None, list[SegmentError]]:
        """The map segment `seg` is, starting from `current`, and the faults met on the way."""
        errors: list[SegmentError] = []
        missing: list[SegmentSpec] = []
        loop = current.loop
        start = current.pos
        assert loop is not None
        seg_id, elements, component = seg.seg_id, seg.elements, self.component
        while True:
            children = loop.children
            # The first child at `start` or later (children are ordered by position).
            for child in islice(children, bisect_left(_positions(loop), start), None):
                if isinstance(child, SegmentSpec):
                    if child.seg_id == seg_id and child.matches(seg_id, elements, component):
                        if children[0] is child or (
                            loop is not self.top and self._loop_match(loop, seg, missing)
                        ):
                            target = self._enter(loop, seg, errors, position)
                            return target, self._missing(missing, None, position) + errors
                        if self._bump(child, loop) > child.max_use:
                            errors.append(
                                SegmentError(
                                    seg.seg_id,
                                    position,
                                    loop.reported_id,
                                    "5",
                                    note="segment over its maximum use",
                                )
                            )
                        return child, self._missing(missing, child, position) + errors
                    if child.usage == "R" and self._count(child, loop) < 1:
                        missing.append(child)
                elif self._loop_match(child, seg, missing):
                    target = self._enter(child, seg, errors, position)
                    return target, self._missing(missing, None, position) + errors
            if loop is self.top or loop.parent is None:
                code = "2" if seg.seg_id in self.grammar.segment_ids else "1"
                return None, [
                    SegmentError(
                        seg.seg_id,
                        position,
                        current.loop.reported_id if current.loop else None,
                        code,
                        note="segment not expected here",
                    )
                ]
            start = loop.pos
            loop = loop.parent

    @staticmethod
    def _missing(
        missing: list[SegmentSpec], matched: SegmentSpec | None, position: int
    ) -> list[SegmentError]:
        # A required segment at the same map position as the one just matched may still come
        # (e.g. a second DTP), so only those at other positions are reported now.
        if not missing:
            return []
        found: list[SegmentError] = []
        seen: set[int] = set()
        for spec in missing:
            if spec is matched or (matched is not None and spec.pos == matched.pos):
                continue
            if id(spec) in seen:
                continue
            seen.add(id(spec))
            found.append(
                SegmentError(
                    spec.seg_id,
                    position,
                    spec.loop.reported_id if spec.loop else None,
                    "3",
                    note=f"required {spec.seg_id} ({spec.name}) missing",
                )
            )
        return found


def grammar_for(
    purpose: str | None, map_dir: Path = REPO_MAP_DIR, implementation: str = IMPLEMENTATION
) -> Grammar:
    """The request map for BHT02 13/01 (and anything unknown), the response map for 11, of the
    guide `implementation` (005010X217 or 005010X215), from the map folder `map_dir` (the
    configured one: x12_map_dir(Settings.mappings_dir))."""
    registry = map_registry(map_dir)
    map_file = registry.get((implementation, purpose or "13")) or registry[(implementation, "13")]
    return load_grammar(map_file, map_dir)


# A walk per shape: (the map segment each segment after ST matched, the faults met on the way).
_Walked = tuple[list[SegmentSpec | None], list[list[SegmentError]]]
# How many shapes a grammar keeps: a batch holds a few; a file of all-different ones walks each.
SHAPES_KEPT = 256


class _Shapes:
    """The walks of one grammar by transaction shape, the most recently used kept."""

    def __init__(self, grammar: Grammar):
        self.grammar = grammar  # held, so the id it is filed under names no other grammar
        # For each segment id, the qualifier places (element, component) its specs match on.
        places: dict[str, set[tuple[int, int | None]]] = {}
        stack = [grammar.root]
        while stack:
            loop = stack.pop()
            for child in loop.children:
                if isinstance(child, LoopSpec):
                    stack.append(child)
                elif child.key is not None:
                    places.setdefault(child.seg_id, set()).add(child.key[:2])
        self.places = {seg_id: tuple(sorted(found, key=str)) for seg_id, found in places.items()}
        self.walks: OrderedDict[tuple[object, ...], _Walked] = OrderedDict()

    def shape(self, segments: list[Segment], component: str) -> tuple[object, ...]:
        """What the walk reads of each segment after ST: its id, and the values at the places
        SegmentSpec.matches reads (an element, or the first component of one)."""
        places = self.places
        out: list[object] = []
        for seg in segments[1:]:
            seg_id = seg.seg_id
            found = places.get(seg_id)
            if found is None:
                out.append(seg_id)
                continue
            elements = seg.elements
            key: list[str] = [seg_id]
            for idx, sub in found:
                value = elements[idx - 1] if len(elements) >= idx else ""
                if sub is not None:
                    value = value.split(component)[0] if value else ""
                key.append(value)
            out.append(tuple(key))
        return tuple(out)


_SHAPES: dict[int, _Shapes] = {}


_SHAPES_LOCK = Lock()


def _shapes(grammar: Grammar) -> _Shapes:
    found = _SHAPES.get(id(grammar))
    if found is None or found.grammar is not grammar:
        with _SHAPES_LOCK:
            found = _SHAPES.get(id(grammar))
            if found is None or found.grammar is not grammar:
                found = _SHAPES[id(grammar)] = _Shapes(grammar)
    return found


def _walk(segments: list[Segment], delims: Delimiters, grammar: Grammar) -> _Walked:
    """The map segment each segment after ST is (None: no place for it), and the structure
    faults (IK304 1-5) found at each, walking from ST."""
    walk = _Walk(grammar, delims)
    st_spec = grammar.st_loop.first
    assert isinstance(st_spec, SegmentSpec)
    walk.counts[grammar.st_loop] = {st_spec: 1}
    current = st_spec
    targets: list[SegmentSpec | None] = []
    faults: list[list[SegmentError]] = []
    for position, seg in enumerate(segments[1:], start=2):
        target, found = walk.step(current, seg, position)
        targets.append(target)
        faults.append(found)
        if target is not None:
            current = target
    return targets, faults


def _walked(segments: list[Segment], delims: Delimiters, grammar: Grammar) -> _Walked:
    """_walk, once per shape of transaction set."""
    shapes = _shapes(grammar)
    shape = shapes.shape(segments, delims.component)
    walks = shapes.walks
    # `gateway serve` validates on several threads: the kept walks change under the lock (a
    # walk found and moved to the end in one step), the walk itself runs outside it.
    with _SHAPES_LOCK:
        walked = walks.get(shape)
        if walked is not None:
            walks.move_to_end(shape)
            return walked
    walked = _walk(segments, delims, grammar)
    with _SHAPES_LOCK:
        walks[shape] = walked
        while len(walks) > SHAPES_KEPT:
            walks.popitem(last=False)
    return walked


def validate_transaction(
    segments: list[Segment], delims: Delimiters, grammar: Grammar | None = None
) -> TransactionReport:
    """Check ST..SE (SE may be missing when the file was cut short) in one pass."""
    st = segments[0]
    purpose = next((s.get(2) for s in segments[1:3] if s.seg_id == "BHT"), None)
    report = TransactionReport(st.get(1), st.get(2), st.get(3), purpose=purpose)
    grammar = grammar or grammar_for(purpose, implementation=implementation_of(st.get(3)))
    st_spec = grammar.st_loop.first
    assert isinstance(st_spec, SegmentSpec)
    loops = report.loops
    loops.append(st_spec.loop.loop_id if st_spec.loop else None)
    hl_count = 0
    hl_ids: dict[LoopSpec, str] = {}
    errors = report.errors
    _check(st_spec, st, 1, delims, errors)
    if st.get(1) != "278":
        report.set_codes.append("6")
    targets, faults = _walked(segments, delims, grammar)
    for position, seg, target, found in zip(
        range(2, len(segments) + 1), segments[1:], targets, faults, strict=True
    ):
        if found:
            # The shape's faults are kept for the next set of its shape: this report gets copies.
            errors += [
                SegmentError(e.seg_id, e.position, e.loop_id, e.code, list(e.elements), e.note)
                for e in found
            ]
        loops.append(target.loop.loop_id if target is not None and target.loop else None)
        if target is None:
            continue
        _check(target, seg, position, delims, errors)
        if seg.seg_id == "HL":
            hl_count += 1
            _check_hl(target, seg, position, hl_count, hl_ids, errors)
        elif (
            seg.seg_id == "TRN"
            and report.business_unit is None
            and target.loop
            and target.loop.loop_id == "2000E"
        ):
            report.business_unit = seg.get(2) or None
    last = segments[-1]
    if last.seg_id != "SE":
        report.set_codes.append("2")  # transaction set trailer missing
    else:
        # A trailer contradicting its transaction set is an IK5 code, not an IK3/IK4 on SE
        # (005010X231A1: IK502 3 control number mismatch, 4 segment count wrong), as pyx12
        # reports it: on the transaction set.
        if last.get(2) != st.get(2):
            report.set_codes.append("3")
        if last.get(1) != str(len(segments)):
            report.set_codes.append("4")
    errors.sort(key=lambda e: e.position)
    return report


def _check(
    spec: SegmentSpec, seg: Segment, position: int, delims: Delimiters, errors: list[SegmentError]
) -> None:
    element_errors = check_segment(spec, seg, delims)
    if seg.elements and seg.elements[-1] == "" and len(seg.elements) <= len(spec.items):
        # Trailing separators must be suppressed (X12.6 3.7); nothing else is wrong with them.
        errors.append(
            SegmentError(
                seg.seg_id,
                position,
                spec.loop.reported_id if spec.loop else None,
                "8",
                note="trailing element separators",
            )
        )
    if element_errors:
        errors.append(
            SegmentError(
                seg.seg_id,
                position,
                spec.loop.reported_id if spec.loop else None,
                "8",
                element_errors,
            )
        )


def _flag(
    errors: list[SegmentError], seg_id: str, position: int, element: str, data_ele: str, value: str
) -> None:
    """An IK4 pattern failure (I12): the value contradicts what the structure implies (HL)."""
    error = ElementError(int(element), None, data_ele, "I12", value or None)
    for existing in errors:
        if existing.position == position and existing.seg_id == seg_id and existing.code == "8":
            existing.elements.append(error)
            return
    errors.append(SegmentError(seg_id, position, None, "8", [error]))


def _check_hl(
    spec: SegmentSpec,
    seg: Segment,
    position: int,
    count: int,
    hl_ids: dict[LoopSpec, str],
    errors: list[SegmentError],
) -> None:
    """HL01 numbers levels 1, 2, 3 ... in order; HL02 names the enclosing level's HL01."""
    loop = spec.loop
    assert loop is not None
    hl_ids[loop] = seg.get(1)
    if seg.get(1) != str(count):
        _flag(errors, "HL", position, "1", "628", seg.get(1))
    parent = loop.parent
    while parent is not None and not (
        isinstance(parent.first, SegmentSpec) and parent.first.seg_id == "HL"
    ):
        parent = parent.parent
    if parent is not None and seg.get(2) and seg.get(2) != hl_ids.get(parent):
        _flag(errors, "HL", position, "2", "734", seg.get(2))
