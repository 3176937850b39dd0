"""Validation issues and the OperationOutcome that carries them back (R4 operationoutcome)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True)
class Issue:
    """One finding: severity and code from R4 issue-severity / issue-type, where as FHIRPath."""

    severity: Severity
    code: str  # R4 issue-type: structure, required, value, invariant, not-found, duplicate, ...
    diagnostics: str
    expression: list[str] = field(default_factory=list)

    @property
    def is_error(self) -> bool:
        return self.severity in ("fatal", "error")

    def to_fhir(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def error(code: str, diagnostics: str, *expression: str) -> Issue:
    return Issue("error", code, diagnostics, list(expression))


def warning(code: str, diagnostics: str, *expression: str) -> Issue:
    return Issue("warning", code, diagnostics, list(expression))


def has_errors(issues: Iterable[Issue]) -> bool:
    return any(issue.is_error for issue in issues)


def errors(issues: Iterable[Issue]) -> list[Issue]:
    return [issue for issue in issues if issue.is_error]


def operation_outcome(issues: Iterable[Issue], outcome_id: str | None = None) -> dict[str, Any]:
    """An OperationOutcome for the issues; R4 requires at least one, so none reads as all-ok."""
    items = [issue.to_fhir() for issue in issues]
    if not items:
        items = [{"severity": "information", "code": "informational", "diagnostics": "OK"}]
    out: dict[str, Any] = {"resourceType": "OperationOutcome"}
    if outcome_id:
        out["id"] = outcome_id
    out["issue"] = items
    return out


def single(
    code: str, diagnostics: str, severity: Severity = "error", expression: str | None = None
) -> dict[str, Any]:
    """An OperationOutcome with one issue (not-found on $inquire, unsupported media, ...)."""
    return operation_outcome(
        [Issue(severity, code, diagnostics, [expression] if expression else [])]
    )


def http_status(issues: Iterable[Issue]) -> int:
    """The HTTP status the FHIR API answers with: 200 when nothing is in error, else 400.

    Inferno's PAS server suite expects a non-2xx status and an OperationOutcome for a
    non-conformant bundle; 400 is R4 http.html's "resource could not be parsed or failed basic
    FHIR validation rules".
    """
    return 400 if has_errors(issues) else 200
