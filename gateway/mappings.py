"""mappings/ loaded once, at start-up, into one validated object passed down.

Everything a payer edits without touching code: plans, code tables, pathways, crosswalks, the
X12 maps. A file that is missing or a field that is wrong stops the start with the file and the
field named (`MappingsError`), never a KeyError in the middle of a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from gateway.domain.peer_to_peer import Reviewer, Reviewers
from gateway.domain.policy import CodeTables, PlanPolicy, load_code_tables


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
    # Physician reviewers who take peer-to-peer calls (mappings/reviewers.yaml).
    reviewers: tuple[Reviewer, ...] = ()

    @property
    def primary_payer_ids(self) -> frozenset[str]:
        """The payers whose determinations form the primary feed (plans marked `primary`)."""
        return frozenset(plan.payer_id for plan in self.plans.values() if plan.primary)


def _problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(top level)"
    return f"field {where}: {first['msg']}"


def _yaml(path: Path) -> Any:
    if not path.is_file():
        raise MappingsError(path, "file not found")
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise MappingsError(path, f"not YAML: {exc}") from exc


def load_mappings(root: Path) -> Mappings:
    """Read and check every table of the mappings folder `root`."""
    root = Path(root)
    if not root.is_dir():
        raise MappingsError(root, "the mappings folder does not exist (GATEWAY_MAPPINGS_DIR)")
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
    reviewers = _reviewers(root / "reviewers.yaml", plans)
    return Mappings(root, plans, tables, crosswalks, x12_dir, reviewers)


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
