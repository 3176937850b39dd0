"""mappings/ loaded once, at start-up, into one validated object passed down.

Everything a payer edits without touching code: plans, code tables, pathways, crosswalks, the
X12 maps. A file that is missing or a field that is wrong stops the start with the file and the
field named (`MappingsError`), never a KeyError in the middle of a request.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from threading import Lock
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.domain.criteria import CriteriaProgram
from gateway.domain.peer_to_peer import Reviewer, Reviewers
from gateway.domain.policy import CodeTables, PlanPolicy, load_code_tables
from gateway.domain.yamlfiles import safe_load


class MappingsError(ValueError):
    """A mappings file the gateway cannot run on: which file, which field, what is wrong."""

    def __init__(self, path: Path, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class Mappings:
    root: Path
    plans: dict[str, PlanPolicy]
    tables: CodeTables
    crosswalks: dict[str, dict[str, Any]]
    x12_dir: Path
    # Programs decided by coverage criteria (mappings/programs/*.yaml): a new program is a file.
    programs: dict[str, CriteriaProgram] = field(default_factory=dict)
    # Physician reviewers who take peer-to-peer calls (mappings/reviewers.yaml).
    reviewers: tuple[Reviewer, ...] = ()

    @cached_property
    def primary_payer_ids(self) -> frozenset[str]:
        """The payers whose determinations form the primary feed (plans marked `primary`).
        Asked for every stored case; the plans are read once, so the answer is kept."""
        return frozenset(plan.payer_id for plan in self.plans.values() if plan.primary)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"field {where}: {first['msg']}"


def _yaml(path: Path) -> Any:
    if not path.is_file():
        raise MappingsError(path, "file not found")
    try:
        return safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingsError(path, f"not YAML: {exc}") from exc


# Tables already read in this process, by folder and by the bytes of the files they came from.
# A process reads its mappings once; the tests build an app per test, and a folder whose files
# change (a test's edited copy) gets a new fingerprint and is read and checked again.
_LOADED: OrderedDict[tuple[Path, bytes], Mappings] = OrderedDict()
_LOADED_GUARD = Lock()
_LOADED_KEEP = 8


def _fingerprint(root: Path) -> bytes:
    """A digest of the names and bytes of every file load_mappings reads under `root`."""
    digest = hashlib.blake2b(digest_size=20)
    for folder, pattern in (
        ("plans", "*.yaml"),
        ("codes", "*.yaml"),
        ("pathways", "*.yaml"),
        ("crosswalks", "*.yaml"),
        ("programs", "*.yaml"),
        (".", "reviewers.yaml"),
        ("x12", "maps.xml"),
    ):
        for path in sorted((root / folder).glob(pattern)):
            digest.update(f"{folder}/{path.name}\0".encode())
            try:
                digest.update(path.read_bytes())
            except OSError:
                digest.update(b"\0unreadable")
            digest.update(b"\0")
    return digest.digest()


def load_mappings(root: Path) -> Mappings:
    """Read and check every table of the mappings folder `root` (once a process for the same
    files: the result is immutable by use, so later calls share it)."""
    root = Path(root)
    if not root.is_dir():
        raise MappingsError(root, "the mappings folder does not exist (GATEWAY_MAPPINGS_DIR)")
    key = (root.resolve(), _fingerprint(root))
    with _LOADED_GUARD:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key]
    mappings = _read_mappings(root)
    # Kept only when no file changed while it was read (else the key would not describe it).
    if _fingerprint(root) == key[1]:
        with _LOADED_GUARD:
            _LOADED[key] = mappings
            while len(_LOADED) > _LOADED_KEEP:
                _LOADED.popitem(last=False)
    return mappings


def _read_mappings(root: Path) -> Mappings:
    plans: dict[str, PlanPolicy] = {}
    for path in sorted((root / "plans").glob("*.yaml")):
        try:
            plan = PlanPolicy.model_validate(_yaml(path))
        except ValidationError as exc:
            raise MappingsError(path, _problem(exc)) from exc
        plans[plan.id] = plan
    if not plans:
        raise MappingsError(root / "plans", "no plan policy (*.yaml)")
    for name in ("drugs.yaml", "diagnosis_scope.yaml", "facts.yaml"):
        if not isinstance(_yaml(root / "codes" / name), dict):
            raise MappingsError(root / "codes" / name, "expected a mapping at the top level")
    try:
        tables = load_code_tables(root)
    except ValidationError as exc:
        raise MappingsError(root / "codes" / "drugs.yaml", _problem(exc)) from exc
    except KeyError as exc:
        raise MappingsError(root / "codes", f"field {exc.args[0]} is missing") from exc
    for path in sorted((root / "pathways").glob("*.yaml")):
        if not isinstance(_yaml(path), dict):
            raise MappingsError(path, "expected a mapping at the top level")
    crosswalk_file = root / "crosswalks" / "pas.yaml"
    raw = _yaml(crosswalk_file)
    if not isinstance(raw, dict):
        raise MappingsError(crosswalk_file, "expected a mapping of tables")
    crosswalks = {key: value for key, value in raw.items() if isinstance(value, dict)}
    x12_dir = root / "x12"
    if not (x12_dir / "maps.xml").is_file():
        raise MappingsError(x12_dir / "maps.xml", "file not found (the X12 map registry)")
    programs: dict[str, CriteriaProgram] = {}
    for path in sorted((root / "programs").glob("*.yaml")):
        try:
            program = CriteriaProgram.model_validate(_yaml(path))
        except ValidationError as exc:
            raise MappingsError(path, _problem(exc)) from exc
        unknown = [p for p in program.plans if p not in plans]
        if unknown:
            raise MappingsError(path, f"field plans names no plan policy: {', '.join(unknown)}")
        for code, item in program.items.items():
            for criterion in item.criteria:
                if criterion.document not in program.documents:
                    raise MappingsError(
                        path,
                        f"field items.{code}.criteria names document {criterion.document!r}, "
                        "which documents does not list",
                    )
        programs[program.id] = program
    reviewers = _reviewers(root / "reviewers.yaml", plans)
    return Mappings(root, plans, tables, crosswalks, x12_dir, programs, reviewers)


def _reviewers(path: Path, plans: dict[str, PlanPolicy]) -> tuple[Reviewer, ...]:
    try:
        loaded = Reviewers.model_validate(_yaml(path))
    except ValidationError as exc:
        raise MappingsError(path, _problem(exc)) from exc
    for index, reviewer in enumerate(loaded.reviewers):
        unknown = sorted(set(reviewer.plans) - set(plans))
        if unknown:
            raise MappingsError(
                path, f"field reviewers.{index}.plans: no plan {', '.join(unknown)} in plans/"
            )
    return tuple(loaded.reviewers)
