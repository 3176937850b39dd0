"""Shared helpers for the PAS channel tests: the reference bundles and the demo samples."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from gateway.settings import get_settings

REFERENCE = get_settings().reference_dir / "pas"
SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "pas"

# The reference files the Inferno kit treats as non-conformant requests.
BAD_REQUESTS = {
    "fixture_missing_referenced_resource_request_bundle.json",
    # PractitionerRole.practitioner and .location point outside the bundle: every reference
    # must resolve inside a $submit bundle, so the gateway refuses the IG's own example.
    "Bundle-SurgicalRequestBundleExample.json",
}


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def reference_files() -> list[Path]:
    if not REFERENCE.exists():
        return []
    return sorted(REFERENCE.glob("*/*.json"))


def is_request(data: dict[str, Any]) -> bool:
    entries = data.get("entry") or []
    return (
        data.get("resourceType") == "Bundle"
        and data.get("type") == "collection"
        and bool(entries)
        and entries[0].get("resource", {}).get("resourceType") == "Claim"
    )


def is_response(data: dict[str, Any]) -> bool:
    entries = data.get("entry") or []
    return (
        data.get("resourceType") == "Bundle"
        and data.get("type") == "collection"
        and any(e.get("resource", {}).get("resourceType") == "ClaimResponse" for e in entries)
    )


def operation_of(path: Path) -> str:
    """$inquire for the inquiry bundles (their file names say so), else $submit."""
    return "inquire" if "inquir" in path.name.lower() else "submit"


def request_paths() -> list[Path]:
    return [p for p in reference_files() if is_request(load(p)) and p.name not in BAD_REQUESTS]


def response_paths() -> list[Path]:
    return [p for p in reference_files() if is_response(load(p))]


def sample_paths() -> list[Path]:
    return sorted(SAMPLES.glob("*.json"))


needs_reference = pytest.mark.skipif(not REFERENCE.exists(), reason="reference material absent")
