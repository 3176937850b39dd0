"""The PAS crosswalks (mappings/crosswalks/pas.yaml) loaded once, plus small code helpers.

The tables are data a payer edits (DESIGN.md: mappings/ live outside code); this module only
reads them and answers look-ups with a safe default when a code is not listed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from gateway.settings import DATA_ROOT

_DEFAULT_DIR = DATA_ROOT / "mappings"  # the checkout's, or the copy inside an installed wheel


def _mappings_dir() -> Path:
    try:
        from gateway.settings import get_settings

        return Path(get_settings().mappings_dir)
    except Exception:  # settings unavailable (bare library use): the repository's own tables
        return _DEFAULT_DIR


@lru_cache(maxsize=4)
def crosswalks(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """All crosswalk tables by name; `path` overrides the mappings directory's pas.yaml."""
    file = path or _mappings_dir() / "crosswalks" / "pas.yaml"
    if not file.exists():
        file = _DEFAULT_DIR / "crosswalks" / "pas.yaml"
    with file.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return {key: value for key, value in data.items() if isinstance(value, dict)}


def lookup(table: str, code: str | None, default: Any = None) -> Any:
    if code is None:
        return default
    return crosswalks().get(table, {}).get(str(code), default)


def review_action_display(code: str) -> str:
    return lookup("review_action", code, code)


def icd10_with_dot(code: str) -> str:
    """ICD-10-CM as the Case keeps it: with its dot after the category (C50911 -> C50.911)."""
    code = code.strip().upper()
    if "." in code or len(code) <= 3:
        return code
    return f"{code[:3]}.{code[3:]}"


def npi_is_valid(npi: str | None) -> bool:
    """NPI check digit: Luhn over the number prefixed with 80840 (CMS NPI standard)."""
    if not npi or len(npi) != 10 or not npi.isdigit():
        return False
    digits = [int(d) for d in "80840" + npi]
    total = 0
    for index, digit in enumerate(reversed(digits)):
        if index % 2 == 1:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0
