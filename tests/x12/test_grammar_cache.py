"""The compiled X12 map kept between processes (gateway/compiled.py, issue 19 item 2): the same
map as compiling the XML, compiled again when a file of it changes, and never needed."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.settings import get_settings
from gateway.x12 import grammar
from gateway.x12.grammar import REPO_MAP_DIR, load_grammar, map_registry

MAPS = (
    "278.5010.X217.request.xml",
    "278.5010.X217.response.xml",
    "278.5010.X215.request.xml",
    "278.5010.X215.response.xml",
)


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """GATEWAY_CACHE_DIR of the test's own, and no map compiled earlier in this process."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("GATEWAY_CACHE_DIR", str(folder))
    get_settings.cache_clear()
    load_grammar.cache_clear()
    map_registry.cache_clear()
    yield folder
    get_settings.cache_clear()
    load_grammar.cache_clear()
    map_registry.cache_clear()


def entries(cache: Path, map_file: str) -> list[Path]:
    return sorted((cache / "x12-grammar" / map_file).glob("*.json"))


def shape(spec: grammar.Grammar) -> object:
    """Everything validation reads of a compiled map, links and qualifiers included."""

    def item(node: grammar.ElementSpec | grammar.CompositeSpec) -> object:
        if isinstance(node, grammar.CompositeSpec):
            return ("C", node.xid, node.seq, node.name, node.usage, [item(s) for s in node.subs])
        return (
            "E",
            node.xid,
            node.seq,
            node.data_ele,
            node.name,
            node.usage,
            node.dtype,
            node.min_len,
            node.max_len,
            node.codes,
        )

    def child(node: grammar.LoopSpec | grammar.SegmentSpec) -> object:
        if isinstance(node, grammar.LoopSpec):
            parent = node.parent.loop_id if node.parent else None
            return (
                "L",
                node.loop_id,
                node.name,
                node.usage,
                node.pos,
                node.repeat,
                node.wrapper,
                parent,
                node.reported_id,
                [child(c) for c in node.children],
            )
        assert node.loop is not None
        return (
            "S",
            node.seg_id,
            node.name,
            node.usage,
            node.pos,
            node.max_use,
            node.syntax,
            node.key,
            node.loop.loop_id,
            [item(i) for i in node.items],
        )

    return (spec.name, spec.st_loop.loop_id, spec.segment_ids, child(spec.root))


@pytest.mark.parametrize("map_file", MAPS)
def test_the_stored_map_is_the_compiled_one(cache: Path, map_file: str) -> None:
    compiled = load_grammar(map_file, REPO_MAP_DIR)  # compiled from the XML, then stored
    assert len(entries(cache, map_file)) == 1
    load_grammar.cache_clear()  # as a new process: the stored entry is read
    stored = load_grammar(map_file, REPO_MAP_DIR)
    assert stored is not compiled
    assert shape(stored) == shape(compiled)
    # A segment's qualifier is its element's own code set, as compiled (one object, not two).
    keyed = [segment for segment in segments(stored) if segment.key is not None]
    assert keyed
    for segment in keyed:
        assert segment.key is not None
        index, sub, codes = segment.key
        element = segment.items[index - 1]
        if sub is not None:
            assert isinstance(element, grammar.CompositeSpec)
            element = element.subs[sub - 1]
        assert isinstance(element, grammar.ElementSpec) and element.codes is codes


def segments(spec: grammar.Grammar) -> list[grammar.SegmentSpec]:
    found, stack = [], [spec.root]
    while stack:
        loop = stack.pop()
        for child in loop.children:
            if isinstance(child, grammar.LoopSpec):
                stack.append(child)
            else:
                found.append(child)
    return found


def test_a_changed_map_file_is_compiled_again(cache: Path, tmp_path: Path) -> None:
    request = MAPS[0]
    original, edited, again = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    for folder in (original, edited, again):
        shutil.copytree(REPO_MAP_DIR, folder)
    # A payer adds a state code to codes.xml: valid on the next start, cache or not.
    codes = edited / "codes.xml"
    text = codes.read_text(encoding="utf-8")
    codes.write_text(text.replace("<code>AA</code>", "<code>AA</code><code>QQ</code>", 1))
    before = load_grammar(request, original)
    after = load_grammar(request, edited)
    same = load_grammar(request, again)  # other folder, same bytes: the first entry serves

    def states(spec: grammar.Grammar) -> set[str]:
        """The codes the map takes for a state (data element 156, N402)."""
        found: set[str] = set()
        for segment in segments(spec):
            for item in segment.items:
                if isinstance(item, grammar.ElementSpec) and item.data_ele == "156":
                    found |= item.codes or set()
        assert found, "the map lost its state codes"
        return found

    assert "QQ" not in states(before) and "QQ" in states(after)
    assert len(entries(cache, request)) == 2
    assert shape(same) == shape(before)
    load_grammar.cache_clear()
    assert "QQ" in states(load_grammar(request, edited))  # read back from its own entry


def test_a_damaged_entry_is_compiled_again_and_replaced(cache: Path) -> None:
    request = MAPS[0]
    compiled = load_grammar(request, REPO_MAP_DIR)
    (entry,) = entries(cache, request)
    for damage in (b"{not json", json.dumps({"name": "x", "root": ["Z"], "codes": []}).encode()):
        entry.write_bytes(damage)
        load_grammar.cache_clear()
        assert shape(load_grammar(request, REPO_MAP_DIR)) == shape(compiled)
        assert entries(cache, request) == [entry]
        load_grammar.cache_clear()
        assert shape(load_grammar(request, REPO_MAP_DIR)) == shape(compiled)  # the new entry


def test_a_cache_folder_that_cannot_be_written_only_means_compiling(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled = load_grammar(MAPS[0], REPO_MAP_DIR)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    monkeypatch.setenv("GATEWAY_CACHE_DIR", str(blocker / "cache"))  # no folder can be made
    get_settings.cache_clear()
    load_grammar.cache_clear()
    map_registry.cache_clear()
    assert map_registry(REPO_MAP_DIR)[("005010X217", "13")] == MAPS[0]
    assert shape(load_grammar(MAPS[0], REPO_MAP_DIR)) == shape(compiled)
    assert blocker.read_text() == "not a folder\n"
