"""Small, defensive accessors for FHIR JSON elements (extensions, codings, dates, items)."""

from __future__ import annotations

from datetime import date
from typing import Any

from gateway.fhir import constants as k

Resource = dict[str, Any]


def codes(concept: Any, system: str | tuple[str, ...] | None = None) -> list[str]:
    """The codes of a CodeableConcept, optionally only those of one system (or systems)."""
    if not isinstance(concept, dict):
        return []
    systems = (system,) if isinstance(system, str) else system
    out: list[str] = []
    for coding in concept.get("coding") or []:
        if not isinstance(coding, dict) or not isinstance(coding.get("code"), str):
            continue
        if systems is None or coding.get("system") in systems:
            out.append(coding["code"])
    return out


def first_code(concept: Any, system: str | tuple[str, ...] | None = None) -> str | None:
    found = codes(concept, system)
    return found[0] if found else None


def ext(element: Any, url: str, key: str = "extension") -> Resource | None:
    """The first extension (or modifierExtension with key=) of `url` on an element."""
    if not isinstance(element, dict):
        return None
    for found in element.get(key) or []:
        if isinstance(found, dict) and found.get("url") == url:
            return found
    return None


def ext_code(element: Any, url: str, system: str | None = None) -> str | None:
    found = ext(element, url)
    return first_code(found.get("valueCodeableConcept"), system) if found else None


def date_of(value: Any) -> date | None:
    """The date part of a FHIR date/dateTime string, None when absent or unreadable."""
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def items(claim: Resource) -> list[Resource]:
    return [i for i in claim.get("item") or [] if isinstance(i, dict)]


def cancelled(item: Resource) -> bool:
    """PAS modifierextension-infoCancelled: the item is withdrawn by a Claim update."""
    found = ext(item, k.EXT_INFO_CANCELLED, key="modifierExtension")
    return bool(found and found.get("valueBoolean") is True)
