"""The pathway port: is the requested regimen an evidence-based pathway regimen for these facts.

Answers in plain terms (preferred, peer to peer, missing facts, no match) with the pathway row
that decided, so that review.py can explain every determination (DESIGN.md decision 4).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Protocol

from pydantic import BaseModel, Field


class Regimen(BaseModel):
    id: str
    name: str
    drugs: list[list[str]] = Field(default_factory=list)
    classes: list[str] = Field(default_factory=list)  # supportive rules match a drug class
    when: dict[str, Any] = Field(default_factory=dict)
    preferred: bool = False
    review: str | None = None  # peer_to_peer for a listed non-preferred regimen
    duration_days: int | None = None
    source: str = ""


class Match(StrEnum):
    PREFERRED = "preferred"  # on pathway: approve at once
    LISTED = "listed"  # listed, not preferred: peer to peer or clinical review
    MISSING_FACTS = "missing_facts"  # a pathway could match once these facts are known
    PARTIAL = "partial"  # a preferred regimen plus drugs outside it
    NO_MATCH = "no_match"  # custom treatment plan
    NO_PATHWAY = "no_pathway"  # no pathway file for this cancer type


class PathwayResult(BaseModel):
    match: Match
    cancer_type: str | None = None
    regimen: Regimen | None = None
    missing: list[str] = Field(default_factory=list)
    extra_codes: list[str] = Field(default_factory=list)
    considered: list[str] = Field(default_factory=list)

    @property
    def row(self) -> str | None:
        if self.regimen is None or self.cancer_type is None:
            return None
        return f"{self.cancer_type}:{self.regimen.id}"


class PathwayPort(Protocol):
    def clinical_facts(self, values: dict[str, Any]) -> dict[str, Any]:
        """Facts under their canonical names and values (mappings/codes/facts.yaml)."""

    def describe_fact(self, name: str) -> str:
        """A fact as a provider reads it, with the name to send it under."""

    def cancer_type(self, diagnosis_code: str) -> str | None:
        """The pathway family of a primary diagnosis (breast, colorectal, ...), if any."""

    def evaluate(
        self, diagnosis_code: str, codes: list[str], facts: dict[str, Any]
    ) -> PathwayResult:
        """Match the requested primary-therapy codes against the pathway regimens."""

    def evaluate_supportive(self, supportive_class: str, facts: dict[str, Any]) -> PathwayResult:
        """Match one supportive drug (SPORT) against the supportive-care rules."""

    def regimen(self, row: str) -> tuple[str, Regimen] | None:
        """(cancer type, regimen) of a pathway row `cancer_type:regimen_id`, or None: a
        reviewer's alternative names one (gateway.domain.alternatives)."""
