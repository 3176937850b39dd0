"""Conformance suites as data: one YAML file a case, in conformance/<suite>/.

A case names the moment it is replayed at (`as_of`), the roster it assumes, and a list of steps.
A step sends something (an X12 interchange, a PAS bundle, a JSON case) or acts on the case the
earlier step created (additional clinical information, a reviewer decision), and states what
must come back. Paths in a case are relative to the case file.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from gateway.domain.yamlfiles import safe_load
from gateway.settings import REPO_ROOT

SUITES_DIR = REPO_ROOT / "conformance"
REFERENCE_PREFIX = "@reference/"


# What a step can do besides running the outbox worker (`worker: true`).
ACTIONS = ("x12", "pas", "inquire", "case", "subscribe", "clinical", "decide")


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    x12: str | None = None  # path of an interchange
    pas: str | None = None  # path of a PAS request bundle ($submit)
    inquire: str | None = None  # path of a PAS inquiry bundle ($inquire)
    case: str | None = None  # path of a JSON canonical case (POST /cases)
    # Path of an R4 backport Subscription (POST /fhir/Subscription): its endpoint is replaced by
    # the runner's notification receiver, whose deliveries every later step observes.
    subscribe: str | None = None
    clinical: dict[str, Any] | None = None  # POST /cases/{id}/clinical on the previous case
    decide: dict[str, Any] | None = None  # POST /cases/{id}/determination on the previous case
    worker: bool = False  # run the outbox dispatcher once, then check
    expect: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        actions = [getattr(self, name) for name in ACTIONS]
        if sum(action is not None for action in actions) + int(self.worker) != 1:
            raise ValueError(f"a step does exactly one of {', '.join(ACTIONS)}, worker")
        return self

    @property
    def action(self) -> str:
        for name in ACTIONS:
            if getattr(self, name) is not None:
                return name
        return "worker"


class ConformanceCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    description: str
    as_of: datetime = datetime.fromisoformat("2026-11-23T15:00:00+00:00")
    roster: str | None = None  # defaults to the demo roster
    # A folder laid over the gateway's mappings for this case: each file it holds (plans/x.yaml,
    # programs/y.yaml ...) adds to or replaces the one of the same name. A conformance profile
    # (conformance/inferno/profile/) is a roster and such a folder.
    mappings: str | None = None
    plan: str | None = None  # documents which plan the case assumes
    # Same determination across steps (cross-channel): indexes of steps to compare.
    same_determination: list[int] = Field(default_factory=list)
    steps: list[Step] = Field(min_length=1)

    # Filled by the loader.
    suite: str = ""
    name: str = ""
    path: Path = Path()

    def resolve(self, relative: str) -> Path:
        """A path relative to the case file, or `@reference/...` inside the public reference
        material (GATEWAY_REFERENCE_DIR)."""
        if relative.startswith(REFERENCE_PREFIX):
            from gateway.settings import get_settings

            return get_settings().reference_dir / relative.removeprefix(REFERENCE_PREFIX)
        return (self.path.parent / relative).resolve()

    def missing_inputs(self) -> list[str]:
        """Inputs that are not on this machine (reference material not beside the clone)."""
        paths = [
            p
            for step in self.steps
            for p in (step.x12, step.pas, step.inquire, step.case, step.subscribe)
            if p
        ]
        return [p for p in paths if not self.resolve(p).is_file()]


class SuiteError(ValueError):
    pass


def load_case(path: Path, suite: str) -> ConformanceCase:
    try:
        raw = safe_load(path.read_text(encoding="utf-8"))
        case = ConformanceCase.model_validate(raw)
    except Exception as exc:  # a broken case file is a failure of its own, named
        raise SuiteError(f"{path}: {exc}") from exc
    case.suite, case.name, case.path = suite, path.stem, path
    return case


def discover(suites: list[str] | None = None, root: Path = SUITES_DIR) -> list[ConformanceCase]:
    """Every case of the named suites (all suites when none is named), in a stable order."""
    available = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    wanted = suites or available
    unknown = sorted(set(wanted) - set(available))
    if unknown:
        raise SuiteError(f"no such suite: {', '.join(unknown)} (have: {', '.join(available)})")
    cases = []
    for suite in wanted:
        for path in sorted((root / suite).glob("*.yaml")):
            cases.append(load_case(path, suite))
    return cases


Verdict = Literal["pass", "fail", "error", "skip"]
