"""The 005010X217 map (pyx12 map XML in mappings/x12) compiled once into plain Python objects.

The same files drive pyx12 (the oracle); this loader reads them with lxml and keeps only what
validation needs: loops with their segments ordered by position, each segment's elements with
type, length and codes resolved from dataele.xml and codes.xml. The folder is always given by
the caller (Settings.mappings_dir / "x12", through `x12_map_dir`); `load_grammar()` is cached
per folder and file, so a process pays the parse once (about 0.1 s) and every transaction reuses
it. The XML is the truth: a code a payer adds to codes.xml is valid on the next start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.compiled import compiled
from gateway.settings import DATA_ROOT

if TYPE_CHECKING:
    from lxml import etree

# The checkout's mappings/x12, or the copy an installed wheel carries (gateway/settings.py).
REPO_MAP_DIR = DATA_ROOT / "mappings" / "x12"


def x12_map_dir(mappings_dir: Path | str) -> Path:
    """The X12 map folder of a mappings directory (Settings.mappings_dir)."""
    return Path(mappings_dir) / "x12"


@dataclass(slots=True, eq=False)
class ElementSpec:
    xid: str
    seq: int
    data_ele: str
    name: str
    usage: str
    dtype: str
    min_len: int
    max_len: int
    codes: frozenset[str] | None  # None: any value; external code sets are merged in


@dataclass(slots=True, eq=False)
class CompositeSpec:
    xid: str
    seq: int
    name: str
    usage: str
    subs: list[ElementSpec]


@dataclass(slots=True, eq=False)
class SegmentSpec:
    seg_id: str
    name: str
    usage: str
    pos: int
    max_use: int
    items: list[ElementSpec | CompositeSpec]
    syntax: list[tuple[str, tuple[int, ...]]]
    loop: LoopSpec | None = None
    # Where the qualifier that tells same-named segments apart lives (pyx12's rule): element 1
    # when it is a required ID with codes, else the first component of composite 1, HL03 for HL.
    key: tuple[int, int | None, frozenset[str]] | None = None

    def matches(self, seg_id: str, elements: list[str], component_sep: str) -> bool:
        if seg_id != self.seg_id:
            return False
        if self.key is None:
            return True
        idx, sub, codes = self.key
        value = elements[idx - 1] if len(elements) >= idx else ""
        if sub is not None:
            value = value.split(component_sep)[0] if value else ""
        return value in codes


@dataclass(slots=True, eq=False)
class LoopSpec:
    loop_id: str
    name: str
    usage: str
    pos: int
    repeat: int
    wrapper: bool
    children: list[LoopSpec | SegmentSpec] = field(default_factory=list)
    parent: LoopSpec | None = None

    @property
    def first(self) -> LoopSpec | SegmentSpec | None:
        return self.children[0] if self.children else None

    @property
    def reported_id(self) -> str | None:
        """The loop id a 999 names in IK303 (envelope and table wrappers have none)."""
        if self.wrapper or self.loop_id.endswith("_LOOP"):
            return self.parent.reported_id if self.parent else None
        return self.loop_id


MAXINT = 2**31 - 1


def _text(node: etree._Element, tag: str) -> str | None:
    value = node.get(tag)
    return value if value is not None else node.findtext(tag)


def _repeat(value: str | None) -> int:
    if value is None or value.strip() in (">1", "&gt;1"):
        return MAXINT
    return int(value)


@dataclass
class Grammar:
    """One compiled transaction map plus the shared dictionaries."""

    name: str
    root: LoopSpec
    st_loop: LoopSpec
    segment_ids: frozenset[str]

    def find_loop(self, loop_id: str) -> LoopSpec:
        stack = [self.root]
        while stack:
            loop = stack.pop()
            if loop.loop_id == loop_id:
                return loop
            stack.extend(c for c in loop.children if isinstance(c, LoopSpec))
        raise KeyError(loop_id)


class _Compiler:
    def __init__(self, map_dir: Path):
        from lxml import etree

        self.dataele: dict[str, tuple[str, int, int]] = {}
        for node in etree.parse(str(map_dir / "dataele.xml")).iter("data_ele"):
            self.dataele[node.get("ele_num")] = (
                node.get("data_type"),
                int(node.get("min_len")),
                int(node.get("max_len")),
            )
        self.external: dict[str, frozenset[str]] = {}
        for node in etree.parse(str(map_dir / "codes.xml")).iter("codeset"):
            self.external[node.findtext("id")] = frozenset(
                c.text for c in node.iterfind("version/code")
            )

    def element(self, node: etree._Element) -> ElementSpec:
        data_ele = _text(node, "data_ele") or ""
        dtype, lo, hi = self.dataele[data_ele]
        codes: frozenset[str] | None = None
        valid = node.find("valid_codes")
        if valid is not None:
            found = {c.text for c in valid.iterfind("code") if c.text is not None}
            external = valid.get("external")
            if external:
                found |= self.external[external]
            codes = frozenset(found) if found or external else None
        return ElementSpec(
            node.get("xid"),
            int(_text(node, "seq")),
            data_ele,
            _text(node, "name") or "",
            _text(node, "usage") or "S",
            dtype,
            lo,
            hi,
            codes,
        )

    def segment(self, node: etree._Element) -> SegmentSpec:
        items: list[ElementSpec | CompositeSpec] = []
        for child in node:
            if child.tag == "element":
                items.append(self.element(child))
            elif child.tag == "composite":
                subs = [self.element(sub) for sub in child.iterfind("element")]
                items.append(
                    CompositeSpec(
                        child.get("xid"),
                        int(_text(child, "seq")),
                        _text(child, "name") or "",
                        _text(child, "usage") or "S",
                        subs,
                    )
                )
        items.sort(key=lambda item: item.seq)
        syntax = []
        for rule in node.iterfind("syntax"):
            text = rule.text or ""
            syntax.append((text[0], tuple(int(text[i : i + 2]) for i in range(1, len(text), 2))))
        seg = SegmentSpec(
            node.get("xid"),
            _text(node, "name") or "",
            _text(node, "usage") or "S",
            int(_text(node, "pos")),
            _repeat(_text(node, "max_use")),
            items,
            syntax,
        )
        seg.key = self._key(seg)
        return seg

    @staticmethod
    def _key(seg: SegmentSpec) -> tuple[int, int | None, frozenset[str]] | None:
        first = seg.items[0] if seg.items else None
        if (
            isinstance(first, ElementSpec)
            and first.dtype == "ID"
            and first.usage == "R"
            and first.codes
        ):
            return (1, None, first.codes)
        if isinstance(first, CompositeSpec) and first.subs[0].dtype == "ID" and first.subs[0].codes:
            return (1, 1, first.subs[0].codes)
        if (
            seg.seg_id == "HL"
            and len(seg.items) > 2
            and isinstance(seg.items[2], ElementSpec)
            and seg.items[2].codes
        ):
            return (3, None, seg.items[2].codes)
        return None

    def loop(self, node: etree._Element, parent: LoopSpec | None) -> LoopSpec:
        loop = LoopSpec(
            node.get("xid"),
            _text(node, "name") or "",
            _text(node, "usage") or "S",
            int(_text(node, "pos")),
            _repeat(_text(node, "repeat")),
            node.get("type") == "wrapper",
            parent=parent,
        )
        for child in node:
            if child.tag == "loop":
                loop.children.append(self.loop(child, loop))
            elif child.tag == "segment":
                seg = self.segment(child)
                seg.loop = loop
                loop.children.append(seg)
        # Stable by position, like the map: same-position children keep document order.
        loop.children.sort(key=lambda c: c.pos)
        return loop


def _all_segment_ids(loop: LoopSpec) -> set[str]:
    ids: set[str] = set()
    for child in loop.children:
        ids |= _all_segment_ids(child) if isinstance(child, LoopSpec) else {child.seg_id}
    return ids


@cache
def load_grammar(map_file: str, map_dir: Path = REPO_MAP_DIR) -> Grammar:
    """Compile one map file of a map folder (cached per folder and file: the hot path asks for
    it once a transaction, so the key is the folder as given, with no file system look-up).
    A process takes the compiled form an earlier one stored for the same bytes of the map,
    dataele.xml, codes.xml and this compiler (gateway/compiled.py), else compiles with lxml."""
    directory = Path(map_dir)
    return compiled(
        "x12-grammar",
        map_file,
        [directory / map_file, directory / "dataele.xml", directory / "codes.xml"],
        [Path(__file__)],
        lambda: _compile(map_file, directory),
        _encode_grammar,
        _decode_grammar,
    )


def _compile(map_file: str, directory: Path) -> Grammar:
    from lxml import etree

    compiler = _Compiler(directory)
    tree = etree.parse(str(directory / map_file))
    top = tree.getroot()
    root = compiler.loop(top.find("loop"), None)
    return _grammar(top.findtext("name") or map_file, root)


def _grammar(name: str, root: LoopSpec) -> Grammar:
    gs_loop = next(c for c in root.children if isinstance(c, LoopSpec))
    st_loop = next(c for c in gs_loop.children if isinstance(c, LoopSpec))
    return Grammar(name, root, st_loop, frozenset(_all_segment_ids(st_loop)))


@cache
def map_registry(map_dir: Path = REPO_MAP_DIR) -> dict[tuple[str, str], str]:
    """(GS08, BHT02) -> map file, from maps.xml (the same registry pyx12 reads), per folder."""
    directory = Path(map_dir)
    found: dict[tuple[str, str], str] = compiled(
        "x12-maps",
        "maps.xml",
        [directory / "maps.xml"],
        [Path(__file__)],
        lambda: _read_registry(directory),
        lambda registry: [[*pair, file] for pair, file in registry.items()],
        lambda rows: {(str(gs08), str(bht02)): str(file) for gs08, bht02, file in rows},
    )
    return found


def _read_registry(directory: Path) -> dict[tuple[str, str], str]:
    from lxml import etree

    found: dict[tuple[str, str], str] = {}
    for node in etree.parse(str(directory / "maps.xml")).iter("map"):
        tspc = node.get("tspc")
        if node.get("vriic") and tspc:
            found.setdefault((node.get("vriic"), tspc), node.text.strip())
    return found


# ---------------------------------------------------------------- the compiled form as JSON
# Each spec is a list: a tag ("L" loop, "S" segment, "C" composite, "E" element), its fields in
# the order below, then its children (loop), items and syntax rules (segment), elements
# (composite) or code set (element: an index into the entry's code sets, -1 for any value, so a
# set the map shares stays one object).
_LOOP = ("loop_id", "name", "usage", "pos", "repeat", "wrapper")
_SEGMENT = ("seg_id", "name", "usage", "pos", "max_use")
_COMPOSITE = ("xid", "seq", "name", "usage")
_ELEMENT = ("xid", "seq", "data_ele", "name", "usage", "dtype", "min_len", "max_len")


def _encode_grammar(grammar: Grammar) -> dict[str, Any]:
    code_sets: list[frozenset[str]] = []
    index: dict[int, int] = {}

    def codes(value: frozenset[str] | None) -> int:
        if value is None:
            return -1
        if id(value) not in index:
            index[id(value)] = len(code_sets)
            code_sets.append(value)
        return index[id(value)]

    def fields(spec: object, names: tuple[str, ...]) -> list[Any]:
        return [getattr(spec, name) for name in names]

    def item(spec: ElementSpec | CompositeSpec) -> list[Any]:
        if isinstance(spec, CompositeSpec):
            return ["C", *fields(spec, _COMPOSITE), [item(sub) for sub in spec.subs]]
        return ["E", *fields(spec, _ELEMENT), codes(spec.codes)]

    def child(node: LoopSpec | SegmentSpec) -> list[Any]:
        if isinstance(node, LoopSpec):
            return ["L", *fields(node, _LOOP), [child(c) for c in node.children]]
        rules = [[rule, list(at)] for rule, at in node.syntax]
        return ["S", *fields(node, _SEGMENT), [item(i) for i in node.items], rules]

    tree = child(grammar.root)
    return {"name": grammar.name, "root": tree, "codes": [sorted(c) for c in code_sets]}


def _decode_grammar(value: dict[str, Any]) -> Grammar:
    code_sets = [frozenset(codes) for codes in value["codes"]]

    def element(row: list[Any]) -> ElementSpec:
        if row[0] != "E":
            raise ValueError(f"an element expected, not {row[0]!r}")
        return ElementSpec(*row[1:-1], code_sets[row[-1]] if row[-1] >= 0 else None)

    def item(row: list[Any]) -> ElementSpec | CompositeSpec:
        if row[0] == "C":
            return CompositeSpec(*row[1:-1], [element(sub) for sub in row[-1]])
        return element(row)

    def child(row: list[Any], parent: LoopSpec | None) -> LoopSpec | SegmentSpec:
        if row[0] == "L":
            loop = LoopSpec(*row[1:-1], parent=parent)
            loop.children = [child(c, loop) for c in row[-1]]
            return loop
        if row[0] != "S" or parent is None:
            raise ValueError(f"a segment of a loop expected, not {row[0]!r}")
        items = [item(i) for i in row[-2]]
        rules = [(rule, tuple(at)) for rule, at in row[-1]]
        seg = SegmentSpec(*row[1:-2], items, rules, loop=parent)
        seg.key = _Compiler._key(seg)
        return seg

    root = child(value["root"], None)
    if not isinstance(root, LoopSpec):
        raise ValueError("a map's root is a loop")
    return _grammar(value["name"], root)
