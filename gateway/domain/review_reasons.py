"""The reason behind a review action as an X12 886 code (HCR03, PAS reviewAction.reasonCode).

One crosswalk (mappings/crosswalks/review_reasons.yaml) for both channels: the gateway's own
reason codes (Reason.code) map to code source 886, and an action that always needs a reason
(A3 not certified, A6 modified: the 005010X217 HCR03 note) falls back to its default. A pend
(A4) carries a code only when its reason has one (a hold for missing information: 0U, as in
the worked example 3.3.2); an approval (A1) none unless its reason names one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from gateway.domain.case import Reason
from gateway.domain.yamlfiles import safe_load

_PACKAGE = Path(__file__).resolve().parents[1]
# The repository's crosswalk: the checkout's mappings/, or the copy a wheel embeds (setup.py).
REVIEW_REASONS_FILE = next(
    (
        path
        for path in (
            _PACKAGE.parent / "mappings" / "crosswalks" / "review_reasons.yaml",
            _PACKAGE / "embedded" / "mappings" / "crosswalks" / "review_reasons.yaml",
        )
        if path.is_file()
    ),
    _PACKAGE.parent / "mappings" / "crosswalks" / "review_reasons.yaml",
)
# Actions the 005010X217 HCR03 note says always carry a reason.
REASON_REQUIRED = frozenset({"A3", "A6"})


@dataclass(frozen=True)
class ReviewReasons:
    """The crosswalk: by_reason (Reason.code -> 886), by_action (the default of an action)."""

    by_reason: Mapping[str, str] = field(default_factory=dict)
    by_action: Mapping[str, str] = field(default_factory=dict)


def review_reason(
    crosswalk: ReviewReasons, review_action: str, reason: Reason | None
) -> str | None:
    """The 886 code for `review_action` taken for `reason`, or None when there is none to send.

    A code the determination already carries (Reason.x12_reason, set by a reviewer) wins; then
    the reason's own entry; then, for A3 and A6 only, the action's default."""
    if reason is not None:
        if reason.x12_reason:
            return reason.x12_reason
        code = crosswalk.by_reason.get(reason.code)
        if code:
            return code
    if review_action in REASON_REQUIRED:
        return crosswalk.by_action.get(review_action)
    return None


@cache
def review_reasons_in(mappings_dir: Path) -> ReviewReasons:
    """The crosswalk of the mappings folder `mappings_dir` (Settings.mappings_dir), read once a
    process; the repository's when that folder has none."""
    path = mappings_dir / "crosswalks" / REVIEW_REASONS_FILE.name
    return load_review_reasons(path if path.is_file() else REVIEW_REASONS_FILE)


def load_review_reasons(path: Path = REVIEW_REASONS_FILE) -> ReviewReasons:
    """Read the crosswalk file (a missing file: no codes at all; a wrong shape: ValueError)."""
    if not path.is_file():
        return ReviewReasons()
    raw = safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a mapping with by_reason and by_action")
    tables: dict[str, dict[str, str]] = {}
    for name in ("by_reason", "by_action"):
        table = raw.get(name) or {}
        if not isinstance(table, dict):
            raise ValueError(f"{path}: {name} must map codes to 886 codes")
        tables[name] = {str(key): str(value) for key, value in table.items()}
    return ReviewReasons(tables["by_reason"], tables["by_action"])
