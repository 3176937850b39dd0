"""The domain's ports, and an in-memory double beside each (STYLE.md: httpx ships its mock
transport): any test can review a case with no file, database or network.

- `EligibilityPort` (gateway/domain/eligibility.py): is the member covered, under which plan.
- `PathwayPort` (gateway/domain/pathway.py): is the regimen a pathway regimen for these facts.

The real adapters (the embedded roster, the pathway tables of mappings/) live in
gateway/adapters and are constructed only by gateway.wiring.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.domain.criteria import CriteriaProgram
from gateway.domain.eligibility import EligibilityPort, Enrollment
from gateway.domain.pathway import Match, PathwayPort, PathwayResult, Regimen
from gateway.domain.peer_to_peer import Reviewer
from gateway.domain.policy import CodeTables, PlanPolicy

__all__ = [
    "EligibilityPort",
    "InMemoryEligibility",
    "InMemoryPathways",
    "PathwayPort",
    "Ports",
]


@dataclass(frozen=True)
class Ports:
    """What review consults: the two ports and the data read once from mappings/."""

    eligibility: EligibilityPort
    pathways: PathwayPort
    tables: CodeTables
    plans: dict[str, PlanPolicy]
    # Programs decided by coverage criteria (home health and DME), by id (mappings/programs/).
    programs: dict[str, CriteriaProgram] = field(default_factory=dict)

    def criteria_program(self, payer_id: str | None, plan_id: str | None) -> CriteriaProgram | None:
        """The criteria program of a payer serving this plan's members, when there is one."""
        for program in self.programs.values():
            if (payer_id is None or program.payer_id == payer_id) and (
                plan_id is None or plan_id in program.plans
            ):
                return program
        return None

    # Physician reviewers who take peer-to-peer calls, with their hours (mappings/reviewers.yaml).
    reviewers: tuple[Reviewer, ...] = ()


@dataclass
class InMemoryEligibility:
    """An eligibility port over enrollments held in memory; every NPI in `network` is in every
    payer's network (or every NPI, when `network` is None)."""

    enrollments: dict[str, Enrollment] = field(default_factory=dict)
    network: set[str] | None = None

    def enrollment(self, member_id: str) -> Enrollment | None:
        return self.enrollments.get(member_id)

    def in_network(self, payer_id: str, npi: str | None) -> bool:
        return self.network is None or (npi is not None and npi in self.network)


@dataclass
class InMemoryPathways:
    """A pathway port that answers what a test tells it: `answer(diagnosis, codes, facts)` for
    primary therapy, `supportive(class, facts)` for supportive drugs; facts pass through as
    given (names lower-cased)."""

    answer: Callable[[str, list[str], dict[str, Any]], PathwayResult] = field(
        default=lambda _diagnosis, _codes, _facts: PathwayResult(match=Match.NO_PATHWAY)
    )
    supportive: Callable[[str, dict[str, Any]], PathwayResult] = field(
        default=lambda _class, _facts: PathwayResult(match=Match.NO_PATHWAY)
    )
    cancer_types: dict[str, str] = field(default_factory=dict)  # ICD-10-CM prefix -> type
    rows: dict[str, tuple[str, Regimen]] = field(default_factory=dict)  # pathway rows by id

    def clinical_facts(self, values: dict[str, Any]) -> dict[str, Any]:
        return {name.strip().lower(): value for name, value in values.items()}

    def describe_fact(self, name: str) -> str:
        return name

    def cancer_type(self, diagnosis_code: str) -> str | None:
        code = diagnosis_code.upper().replace(".", "")
        for prefix, cancer_type in self.cancer_types.items():
            if code.startswith(prefix.upper().replace(".", "")):
                return cancer_type
        return None

    def evaluate(
        self, diagnosis_code: str, codes: list[str], facts: dict[str, Any]
    ) -> PathwayResult:
        return self.answer(diagnosis_code, codes, facts)

    def evaluate_supportive(self, supportive_class: str, facts: dict[str, Any]) -> PathwayResult:
        return self.supportive(supportive_class, facts)

    def regimen(self, row: str) -> tuple[str, Regimen] | None:
        return self.rows.get(row)
