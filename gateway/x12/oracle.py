"""pyx12 4.0.0 driven programmatically with the project's map: the independent oracle.

Used by the tests and the conformance runner to check that the gateway's validator and pyx12
agree (DESIGN.md decision 1). Not on the hot path. pyx12 parses its map files again on every
call (half a second each); the parsed maps are kept for the process instead (see _map_loader).

How pyx12 is driven here:
- `pyx12.x12n_document.x12n_document(param, src, fd_997, fd_html, fd_xmldoc, fd_json,
  map_path=...)` with `param = pyx12.params.params()`; `map_path` is a folder holding maps.xml,
  the transaction maps, x12.control.00401/00501.xml, dataele.xml and codes.xml.
- Error positions come from its JSON visitor (`fd_json`): interchange, group and transaction
  errors, then per segment `seg_id`, `seg_count` (the IK302 position inside ST..SE), and element
  errors with `ele_pos` / `subele_pos`.
- pyx12 4.0.0 chooses a 005010 map by (ISA12, GS08, GS01) only; BHT02 (tspc) is honoured just
  for 004010X094. Responses (BHT02 11) therefore run against a derived map folder whose
  maps.xml lists the response map first (the files themselves are the project's, linked).
- `x12n_document` loads its maps through `pyx12.map_if.load_map_file` (the control map, then
  the transaction map). A loaded map is only read while a document is validated: the walk
  keeps its own counters (`map_walker.walk_tree`), so one loaded map serves any number of
  documents alike.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from lxml import etree

from gateway.x12.grammar import REPO_MAP_DIR

# pyx12 logs every finding at ERROR level; the oracle reports them as data instead.
logging.getLogger("pyx12").setLevel(logging.CRITICAL)


@dataclass(frozen=True, order=True)
class Finding:
    """One thing pyx12 flagged. `position` is the segment's place in ST..SE (IK302)."""

    level: str  # isa, gs, st, seg, ele
    code: str
    segment: str | None = None
    position: int | None = None
    element: int | None = None
    component: int | None = None
    transaction: str | None = None  # ST02 of the transaction set the finding belongs to


@dataclass
class OracleResult:
    valid: bool
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None  # pyx12 refused the file outright (not X12, map not found, ...)

    @property
    def segment_positions(self) -> set[tuple[str | None, str | None, int | None]]:
        """(ST02, segment id, position) of every segment-level finding."""
        return {
            (f.transaction, f.segment, f.position)
            for f in self.findings
            if f.level in ("seg", "ele")
        }


def normalize_reference(raw: bytes | str) -> str:
    """The documented normalization of the shared reference examples before pyx12 sees them.

    pyx12 needs the ISA at byte 0 and treats leading blanks as an error, so: drop the UTF-8
    BOM, strip each line's indentation and line end, and relabel GS08 005010X279 (the 270/271
    guide) as 005010X217, which ST03 of the same examples names. Nothing else changes; the
    gateway itself tolerates all three (see docs/x12-companion-guide.md).
    """
    text = raw.decode("utf-8-sig") if isinstance(raw, bytes) else raw.lstrip("\ufeff")
    text = "".join(line.strip() for line in text.splitlines())
    return re.sub(r"(GS(?:\*[^*~]*){7}\*)005010X279", r"\g<1>005010X217", text, count=0)


@cache
def _response_map_dir(map_dir: str) -> str:
    """A folder with the project's map files linked and maps.xml filtered to BHT02 11."""
    target = Path(tempfile.mkdtemp(prefix="x12-oracle-"))
    for entry in Path(map_dir).iterdir():
        if entry.name != "maps.xml":
            os.symlink(entry, target / entry.name)
    tree = etree.parse(str(Path(map_dir) / "maps.xml"))
    for node in tree.iter("map"):
        if node.get("vriic") and node.get("tspc") != "11":  # 005010X217 and 005010X215
            node.getparent().remove(node)
    tree.write(str(target / "maps.xml"), xml_declaration=True, encoding="UTF-8")
    return str(target)


# The files a loaded map is made of (besides the map itself): pyx12's map_if reads both.
_MAP_COMPANIONS = ("codes.xml", "dataele.xml")
_MAPS: dict[tuple[Any, ...], Any] = {}
_MAPS_GUARD = threading.Lock()


def _file_identity(path: str) -> tuple[str, int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (os.path.realpath(path), found.st_mtime_ns, found.st_size)


def _map_loader(load: Callable[..., Any]) -> Callable[..., Any]:
    """pyx12's `load_map_file`, once for each map file, folder and setting it reads: a map file
    changed on disk (or its codes.xml, dataele.xml) is loaded again."""

    def load_once(map_file: str, param: Any, map_path: str | None = None) -> Any:
        if map_path is None:  # pyx12's own package maps: left to pyx12
            return load(map_file, param, map_path)
        files = [os.path.join(map_path, name) for name in (map_file, *_MAP_COMPANIONS)]
        key = (
            map_file,
            tuple(_file_identity(path) for path in files),
            # The settings a map_if keeps from its params (codes.ExternalCodes, element checks).
            param.get("exclude_external_codes"),
            param.get("charset"),
        )
        with _MAPS_GUARD:
            if key not in _MAPS:
                _MAPS[key] = load(map_file, param, map_path)
            return _MAPS[key]

    load_once.loads_once = True  # type: ignore[attr-defined]
    return load_once


def _use_loaded_maps() -> None:
    """Route pyx12's map loading (x12n_document calls it as pyx12.map_if.load_map_file)
    through _map_loader, once a process."""
    import pyx12.map_if

    if not getattr(pyx12.map_if.load_map_file, "loads_once", False):
        pyx12.map_if.load_map_file = _map_loader(pyx12.map_if.load_map_file)


def _purpose(text: str) -> str | None:
    match = re.search(r"BHT(.)[^~\r\n]*", text)
    if not match:
        return None
    parts = match.group(0).split(match.group(1))
    return parts[2] if len(parts) > 2 else None


# pyx12's verdicts of this process, by (document, map folder, that folder's files): a conformance
# run sends the same sample interchanges in several cases (the cross-channel suite replays the
# x12 suite's), and pyx12 takes ~20 ms to validate one. Bounded: oldest first out.
_VERDICTS: OrderedDict[tuple[Any, ...], OracleResult] = OrderedDict()
_VERDICTS_KEEP = 512


def _folder_identity(map_path: str) -> tuple[tuple[str, int, int], ...]:
    """Each file of the map folder (through its links) as `_file_identity` has it: a map
    changed on disk is a new folder to the verdicts, as to the loaded maps."""
    with os.scandir(map_path) as entries:
        found = [_file_identity(entry.path) for entry in entries]
    return tuple(sorted(identity for identity in found if identity is not None))


def run_pyx12(data: bytes | str, map_dir: Path = REPO_MAP_DIR) -> OracleResult:
    """Validate one interchange with pyx12 against the 278 maps in `map_dir` (the same
    folder the gateway's validator loads: x12_map_dir(Settings.mappings_dir)).

    The same document against the same unchanged map folder is answered from the verdicts
    already found (each caller gets a result of its own)."""
    text = data.decode("utf-8") if isinstance(data, bytes) else data
    base = str(map_dir)
    map_path = _response_map_dir(base) if _purpose(text) == "11" else base
    try:
        key = (text, map_path, _folder_identity(map_path))
    except OSError:  # no such folder: pyx12 says so
        return _validate(text, map_path)
    with _MAPS_GUARD:
        known = _VERDICTS.get(key)
        if known is not None:
            _VERDICTS.move_to_end(key)
    if known is None:
        known = _validate(text, map_path)
        with _MAPS_GUARD:
            _VERDICTS[key] = known
            while len(_VERDICTS) > _VERDICTS_KEEP:
                _VERDICTS.popitem(last=False)
    return OracleResult(known.valid, list(known.findings), known.error)


def _validate(text: str, map_path: str) -> OracleResult:
    import pyx12.errors
    import pyx12.params
    import pyx12.x12n_document

    _use_loaded_maps()
    param = pyx12.params.params()
    out_json = io.StringIO()
    try:
        ok = pyx12.x12n_document.x12n_document(
            param, io.StringIO(text), None, None, None, out_json, map_path=map_path
        )
    except (pyx12.errors.X12Error, pyx12.errors.EngineError, OSError) as exc:
        return OracleResult(valid=False, error=str(exc))
    result = OracleResult(valid=bool(ok))
    raw = out_json.getvalue()
    if not raw:
        if not ok:
            result.error = "pyx12 rejected the file before validating it"
        return result
    doc = json.loads(raw)
    for isa in doc.get("interchanges", []):
        result.findings += [Finding("isa", err["err_cde"]) for err in isa["errors"]]
        for group in isa.get("groups", []):
            result.findings += [Finding("gs", err["err_cde"]) for err in group["errors"]]
            for trn in group.get("transactions", []):
                st02 = trn.get("trn_set_control_num")
                result.findings += [
                    Finding("st", err["err_cde"], transaction=st02) for err in trn["errors"]
                ]
                for seg in trn.get("segments", []):
                    for err in seg["errors"]:
                        result.findings.append(
                            Finding(
                                "seg",
                                err["err_cde"],
                                seg["seg_id"],
                                seg["seg_count"],
                                transaction=st02,
                            )
                        )
                    for ele in seg.get("elements", []):
                        for err in ele["errors"]:
                            result.findings.append(
                                Finding(
                                    "ele",
                                    err["err_cde"],
                                    seg["seg_id"],
                                    seg["seg_count"],
                                    ele["ele_pos"],
                                    ele["subele_pos"],
                                    st02,
                                )
                            )
    return result
