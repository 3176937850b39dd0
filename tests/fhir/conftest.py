"""Fixtures of the PAS channel tests: the demo sample bundles."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fhir.pas_refs import SAMPLES, load


@pytest.fixture
def ddact() -> dict[str, Any]:
    return load(SAMPLES / "ddact-her2neg.json")


@pytest.fixture
def ddact_qr() -> dict[str, Any]:
    return load(SAMPLES / "ddact-questionnaire.json")
