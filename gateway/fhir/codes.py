"""The PAS crosswalks (mappings/crosswalks/pas.yaml) loaded once, plus small code helpers.

The tables are data a payer edits (DESIGN.md: mappings/ live outside code); this module only
reads them and answers look-ups with a safe default when a code is not listed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from gateway.domain.yamlfiles import safe_load
from gateway.settings import DATA_ROOT

_DEFAULT_DIR = DATA_ROOT / "mappings"  # the checkout's, or the copy inside an installed wheel


# The tables of the mappings the gateway was built with (gateway.wiring installs them once, from
# the one Mappings object); a library caller with none gets the packaged tables.
_installed: dict[str, dict[str, Any]] | None = None


def use_crosswalks(tables: dict[str, dict[str, Any]]) -> None:
    """Answer look-ups from these tables (gateway.mappings.Mappings.crosswalks)."""
    global _installed
    _installed = tables


def crosswalks(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """All crosswalk tables by name: the installed ones, or `path`'s, or the packaged ones."""
    if path is None and _installed is not None:
        return _installed
    return _read_crosswalks(path or _DEFAULT_DIR / "crosswalks" / "pas.yaml")


@lru_cache(maxsize=4)
def _read_crosswalks(file: Path) -> dict[str, dict[str, Any]]:
    with file.open(encoding="utf-8") as handle:
        data = safe_load(handle) or {}
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
