"""The R4B structure check skips entry resources it already found valid (gateway.fhir.structure):
what it answers must stay fhir.resources' own answer. Through the real app: a bundle first
accepted, then sent again with one fault, is refused with the issue fhir.resources reports for
that bundle, whichever of its entries were seen before."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from pydantic import ValidationError

from gateway.fhir.memo import DigestMemo
from tests.fhir.pas_refs import SAMPLES, load

FHIR = {"Content-Type": "application/fhir+json"}


def fhir_resources_messages(bundle: dict[str, Any]) -> list[str]:
    """What fhir.resources itself says of the bundle (the oracle)."""
    with pytest.raises(ValidationError) as refused:
        Bundle.model_validate(bundle)
    return [item["msg"] for item in refused.value.errors(include_input=False, include_url=False)]


def entry_of(bundle: dict[str, Any], resource_type: str) -> int:
    return next(
        position
        for position, entry in enumerate(bundle["entry"])
        if entry["resource"]["resourceType"] == resource_type
    )


def refused(client: Any, bundle: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/fhir/Claim/$submit", json=bundle, headers=FHIR)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return [issue for issue in body["issue"] if issue["code"] == "structure"]


def test_a_fault_in_a_resource_after_the_bundle_was_accepted_is_fhir_resources_issue(client):
    bundle = load(SAMPLES / "ddact-her2neg.json")
    assert client.post("/fhir/Claim/$submit", json=bundle, headers=FHIR).status_code == 200
    faulty = copy.deepcopy(bundle)
    patient = entry_of(faulty, "Patient")
    faulty["entry"][patient]["resource"]["birthDate"] = "the day before yesterday"

    issues = refused(client, faulty)

    assert [issue["diagnostics"] for issue in issues] == fhir_resources_messages(faulty)
    assert issues[0]["expression"] == [f"Bundle.entry[{patient}].resource.birthDate"]


def test_a_fault_in_the_bundle_itself_is_found_when_every_entry_was_seen_valid(client):
    bundle = load(SAMPLES / "tc-her2neg.json")
    assert client.post("/fhir/Claim/$submit", json=bundle, headers=FHIR).status_code == 200
    faulty = copy.deepcopy(bundle)
    faulty["timestamp"] = "yesterday"
    faulty["entry"][1]["fullUrl"] = 42

    issues = refused(client, faulty)

    assert [issue["diagnostics"] for issue in issues] == fhir_resources_messages(faulty)
    assert {expression for issue in issues for expression in issue["expression"]} == {
        "Bundle.timestamp",
        "Bundle.entry[1].fullUrl",
    }


def test_the_memo_keeps_the_most_recently_used_digests():
    memo: DigestMemo[bool] = DigestMemo(size=2)
    for digest in (b"patient", b"coverage"):
        memo.put(digest, True)
    assert memo.get(b"patient")  # used again: the coverage is now the oldest
    memo.put(b"insurer", True)
    assert memo.get(b"coverage") is None
    assert memo.get(b"patient") and memo.get(b"insurer")
