"""The rules engine over mappings/pathways: one YAML file per cancer type, read once."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from gateway.domain.pathway import Match, PathwayResult, Regimen
from gateway.domain.yamlfiles import safe_load


class Pathway(BaseModel):
    cancer_type: str
    label: str
    diagnosis_prefixes: list[str]
    questionnaire: str | None = None
    regimens: list[Regimen]


class FactVocabulary:
    """Canonical fact names and values (mappings/codes/facts.yaml)."""

    def __init__(self, raw: dict[str, Any]):
        self.aliases: dict[str, str] = {}
        for name, others in raw["facts"].items():
            self.aliases[name] = name
            for other in others:
                self.aliases[other] = name
        self.true_values = {str(v).lower() for v in raw["true_values"]}
        self.false_values = {str(v).lower() for v in raw["false_values"]}
        self.status_facts = set(raw["status_facts"])
        self.labels: dict[str, str] = raw.get("labels", {})

    def describe(self, name: str) -> str:
        """A fact as a provider reads it, with the name to send it under: "HER2 status
        (her2_status)"."""
        label = self.labels.get(name)
        return f"{label} ({name})" if label else name

    @staticmethod
    def _key(name: str) -> str:
        return re.sub(r"[\s\-]+", "_", name.strip().lower())

    def canonical_name(self, name: str) -> str:
        key = self._key(name)
        return self.aliases.get(key, key)

    def canonical(self, values: dict[str, Any]) -> dict[str, Any]:
        return {self.canonical_name(name): value for name, value in values.items()}

    def normalize_value(self, name: str, value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        text = str(value).strip().lower()
        if name in self.status_facts:
            if text in self.true_values:
                return "positive"
            if text in self.false_values:
                return "negative"
            return text
        if text in self.true_values:
            return True
        if text in self.false_values:
            return False
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        return text

    def holds(self, name: str, expected: Any, actual: Any) -> bool:
        wanted = expected if isinstance(expected, list) else [expected]
        have = self.normalize_value(name, actual)
        return any(self.normalize_value(name, option) == have for option in wanted)


class PathwayEngine:
    """Implements the pathway port over the data in mappings/pathways."""

    def __init__(
        self, pathways: list[Pathway], supportive: list[Regimen], vocabulary: FactVocabulary
    ):
        self.pathways = pathways
        self.supportive = supportive
        self.vocabulary = vocabulary

    @classmethod
    def from_dir(cls, mappings_dir: Path) -> PathwayEngine:
        pathways, supportive = [], []
        for path in sorted((mappings_dir / "pathways").glob("*.yaml")):
            raw = safe_load(path.read_text(encoding="utf-8"))
            if raw.get("program") == "SPORT":
                supportive = [Regimen.model_validate(rule) for rule in raw["rules"]]
            else:
                pathways.append(Pathway.model_validate(raw))
        facts = safe_load((mappings_dir / "codes" / "facts.yaml").read_text(encoding="utf-8"))
        return cls(pathways, supportive, FactVocabulary(facts))

    def pathway_for(self, diagnosis_code: str) -> Pathway | None:
        code = diagnosis_code.replace(".", "").upper()
        best: tuple[int, Pathway] | None = None
        for pathway in self.pathways:
            for prefix in pathway.diagnosis_prefixes:
                key = prefix.replace(".", "").upper()
                if code.startswith(key) and (best is None or len(key) > best[0]):
                    best = (len(key), pathway)
        return best[1] if best else None

    def regimen(self, row: str) -> tuple[str, Regimen] | None:
        cancer_type, _, regimen_id = row.partition(":")
        for pathway in self.pathways:
            if pathway.cancer_type == cancer_type:
                for regimen in pathway.regimens:
                    if regimen.id == regimen_id:
                        return cancer_type, regimen
        return None

    def clinical_facts(self, values: dict[str, Any]) -> dict[str, Any]:
        return {
            name: self.vocabulary.normalize_value(name, value)
            for name, value in self.vocabulary.canonical(values).items()
        }

    def describe_fact(self, name: str) -> str:
        return self.vocabulary.describe(name)

    def cancer_type(self, diagnosis_code: str) -> str | None:
        pathway = self.pathway_for(diagnosis_code)
        return pathway.cancer_type if pathway else None

    def _conditions(self, regimen: Regimen, facts: dict[str, Any]) -> tuple[bool, list[str]]:
        """(no fact contradicts the row, facts the row needs that nobody gave)."""
        missing = []
        for name, expected in regimen.when.items():
            if facts.get(name) is None:
                missing.append(name)
            elif not self.vocabulary.holds(name, expected, facts[name]):
                return False, []
        return True, missing

    def evaluate(
        self, diagnosis_code: str, codes: list[str], facts: dict[str, Any]
    ) -> PathwayResult:
        pathway = self.pathway_for(diagnosis_code)
        if pathway is None:
            return PathwayResult(match=Match.NO_PATHWAY)
        requested = set(codes)
        full: list[tuple[Regimen, list[str]]] = []
        partial: list[tuple[Regimen, list[str]]] = []
        for regimen in pathway.regimens:
            slots_filled = all(requested & set(slot) for slot in regimen.drugs)
            if not slots_filled:
                continue
            covered = {code for slot in regimen.drugs for code in slot}
            extra = sorted(requested - covered)
            (partial if extra else full).append((regimen, extra))
        considered = [regimen.id for regimen, _ in full + partial]
        base: dict[str, Any] = {"cancer_type": pathway.cancer_type, "considered": considered}

        waiting: list[tuple[Regimen, list[str]]] = []
        listed: Regimen | None = None
        for regimen, _ in full:
            consistent, missing = self._conditions(regimen, facts)
            if not consistent:
                continue
            if missing:
                waiting.append((regimen, missing))
            elif regimen.preferred:
                return PathwayResult(match=Match.PREFERRED, regimen=regimen, **base)
            elif listed is None:
                listed = regimen
        if listed is not None:
            return PathwayResult(match=Match.LISTED, regimen=listed, **base)
        if waiting:
            names = sorted({name for _, missing in waiting for name in missing})
            return PathwayResult(
                match=Match.MISSING_FACTS, regimen=waiting[0][0], missing=names, **base
            )
        for regimen, extra in partial:
            consistent, missing = self._conditions(regimen, facts)
            if consistent and not missing and regimen.preferred:
                return PathwayResult(
                    match=Match.PARTIAL, regimen=regimen, extra_codes=extra, **base
                )
        return PathwayResult(match=Match.NO_MATCH, **base)

    def evaluate_supportive(self, supportive_class: str, facts: dict[str, Any]) -> PathwayResult:
        base: dict[str, Any] = {"cancer_type": "supportive"}
        for rule in self.supportive:
            if supportive_class not in rule.classes:
                continue
            consistent, missing = self._conditions(rule, facts)
            if consistent and not missing:
                return PathwayResult(match=Match.PREFERRED, regimen=rule, **base)
        return PathwayResult(match=Match.NO_MATCH, **base)
