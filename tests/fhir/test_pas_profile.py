"""PAS profile rules and R4B structure checks over the IG examples, the Inferno bundles and the
demo samples (gateway.fhir.profile)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B.operationoutcome import OperationOutcome

from gateway.fhir.outcome import has_errors, http_status, operation_outcome
from gateway.fhir.profile import check_request, check_response, check_structure, validate_request
from tests.fhir.pas_refs import (
    REFERENCE,
    SAMPLES,
    load,
    needs_reference,
    operation_of,
    reference_files,
    request_paths,
    response_paths,
)

pytestmark = needs_reference
INFERNO = REFERENCE / "inferno"


def _errors_at(issues: list[Any]) -> set[str]:
    return {expr for issue in issues if issue.is_error for expr in issue.expression}


@pytest.mark.parametrize("path", reference_files(), ids=lambda p: p.name)
def test_every_reference_file_parses_with_r4b(path: Path) -> None:
    assert check_structure(load(path)) == []


def test_the_reference_set_is_complete() -> None:
    # Guards the parametrised tests against an empty or moved reference folder.
    assert len(request_paths()) >= 20
    assert len(response_paths()) >= 9


@pytest.mark.parametrize("path", request_paths(), ids=lambda p: p.name)
def test_reference_requests_pass_the_profile_rules(path: Path) -> None:
    issues = validate_request(load(path), operation_of(path))
    assert not has_errors(issues), [i.to_fhir() for i in issues if i.is_error]


def test_missing_referenced_resource_is_rejected_with_its_fhirpath() -> None:
    bundle = load(INFERNO / "fixture_missing_referenced_resource_request_bundle.json")
    issues = validate_request(bundle)
    assert "Bundle.entry[0].resource.careTeam[0].provider" in _errors_at(issues)
    assert http_status(issues) == 400
    outcome = operation_outcome(issues)
    OperationOutcome.model_validate(outcome)
    assert any(
        "Bundle.entry[0].resource.careTeam[0].provider" in i.get("expression", [])
        for i in outcome["issue"]
    )


def test_response_with_wrong_first_entry_is_rejected() -> None:
    bundle = load(INFERNO / "fixture_invalid_first_entry_response_bundle.json")
    assert "Bundle.entry[0].resource" in _errors_at(check_response(bundle))


def test_response_that_changes_an_echoed_patient_is_rejected() -> None:
    request = load(INFERNO / "fixture_conformant_pas_bundle_v110.json")
    bundle = load(INFERNO / "fixture_response_bundle_patient_wrong_fullurl.json")
    patient = next(
        i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Patient"
    )
    assert f"Bundle.entry[{patient}].resource" in _errors_at(check_response(bundle, request))


@pytest.mark.parametrize(
    "name",
    [
        "fixture_valid_pa_response_bundle.json",
        "fixture_valid_pa_response_bundle_denial.json",
        "fixture_valid_pa_inquire_response_bundle.json",
    ],
)
def test_valid_inferno_responses_only_lack_what_pas_2_2_added(name: str) -> None:
    # Inferno's response fixtures predate PAS 2.x: no Bundle.identifier and no
    # ClaimResponse.request (both 1..1 in 2.2.1); nothing else is wrong with them.
    request = load(INFERNO / "fixture_conformant_pas_bundle_v110.json")
    operation = "inquire" if "inquire" in name else "submit"
    issues = check_response(load(INFERNO / name), request, operation)
    assert _errors_at(issues) <= {"Bundle.identifier", "Bundle.entry[0].resource.request"}


@pytest.mark.parametrize("path", sorted(SAMPLES.glob("*.json")), ids=lambda p: p.name)
def test_samples_pass_except_the_dangling_one(path: Path) -> None:
    issues = validate_request(load(path))
    if "dangling" in path.name:
        assert _errors_at(issues) == {"Bundle.entry[0].resource.careTeam[0].provider"}
    else:
        assert issues == []


def test_ig_surgical_example_is_refused_for_its_dangling_references() -> None:
    bundle = load(REFERENCE / "examples" / "Bundle-SurgicalRequestBundleExample.json")
    issues = check_request(bundle)
    assert {i.code for i in issues if i.is_error} == {"not-found"}
    assert _errors_at(issues) >= {
        "Bundle.entry[6].resource.practitioner",
        "Bundle.entry[6].resource.location[0]",
    }


# -- single rules on a known-good bundle -----------------------------------------------------


def _mutated(bundle: dict[str, Any], change: Any) -> list[Any]:
    copy_ = copy.deepcopy(bundle)
    change(copy_)
    return check_request(copy_)


def _claim(bundle: dict[str, Any]) -> dict[str, Any]:
    return bundle["entry"][0]["resource"]


@pytest.mark.parametrize(
    ("change", "expression"),
    [
        (lambda b: b.update(type="batch"), "Bundle.type"),
        (lambda b: b.pop("identifier"), "Bundle.identifier"),
        (lambda b: b.pop("timestamp"), "Bundle.timestamp"),
        (lambda b: b["entry"][3].pop("fullUrl"), "Bundle.entry[3].fullUrl"),
        (
            lambda b: b["entry"][3].update(fullUrl=b["entry"][2]["fullUrl"]),
            "Bundle.entry[3].fullUrl",
        ),
        (
            lambda b: b["entry"][2].update(request={"method": "POST", "url": "X"}),
            "Bundle.entry[2].request",
        ),
        (lambda b: b["entry"].append(b["entry"].pop(0)), "Bundle.entry[0].resource"),
        (lambda b: _claim(b).pop("identifier"), "Bundle.entry[0].resource.identifier"),
        (lambda b: _claim(b).update(use="claim"), "Bundle.entry[0].resource.use"),
        (lambda b: _claim(b).pop("insurer"), "Bundle.entry[0].resource.insurer"),
        (
            lambda b: _claim(b)["item"][1]["extension"].pop(1),
            "Bundle.entry[0].resource.item[1].extension",
        ),
        (
            lambda b: _claim(b)["item"][0].pop("locationCodeableConcept"),
            "Bundle.entry[0].resource.item[0].location",
        ),
        (
            lambda b: _claim(b)["careTeam"][1].pop("extension"),
            "Bundle.entry[0].resource.careTeam[1].extension",
        ),
        (
            lambda b: _claim(b)["supportingInfo"].append(
                copy.deepcopy(_claim(b)["supportingInfo"][0])
            ),
            "Bundle.entry[0].resource.supportingInfo[1].sequence",
        ),
        (
            lambda b: _claim(b)["item"][0].update(diagnosisSequence=[9]),
            "Bundle.entry[0].resource.item[0].diagnosisSequence",
        ),
        (
            lambda b: _claim(b).update(patient={"reference": "Patient/nobody"}),
            "Bundle.entry[0].resource.patient",
        ),
    ],
)
def test_each_rule_names_its_fhirpath(ddact: dict[str, Any], change: Any, expression: str) -> None:
    assert expression in _errors_at(_mutated(ddact, change))


def test_repeated_item_sequence_is_a_warning(ddact: dict[str, Any]) -> None:
    issues = _mutated(ddact, lambda b: _claim(b)["item"][2].update(sequence=1))
    assert not has_errors(issues)
    assert [i.expression for i in issues] == [["Bundle.entry[0].resource.item[2].sequence"]]


def test_references_resolve_by_fullurl_relative_and_urn_uuid(
    ddact: dict[str, Any], ddact_qr
) -> None:
    absolute = copy.deepcopy(ddact)
    _claim(absolute)["patient"] = {"reference": absolute["entry"][1]["fullUrl"]}
    assert check_request(absolute) == []
    assert check_request(ddact_qr) == []  # urn:uuid fullUrls and references
    wrong_base = copy.deepcopy(ddact)
    _claim(wrong_base)["patient"] = {"reference": "http://elsewhere.example/fhir/Patient/jane-doe"}
    assert "Bundle.entry[0].resource.patient" in _errors_at(check_request(wrong_base))


def test_structure_errors_carry_their_location(ddact: dict[str, Any]) -> None:
    broken = copy.deepcopy(ddact)
    _claim(broken)["item"][0]["sequence"] = "first"
    _claim(broken)["created"] = "yesterday"
    expressions = _errors_at(check_structure(broken))
    assert "Bundle.entry[0].resource.item[0].sequence" in expressions
    assert "Bundle.entry[0].resource.created" in expressions


def test_not_a_bundle_is_fatal() -> None:
    issues = check_request({"resourceType": "Patient"})
    assert issues[0].severity == "fatal"
    assert check_structure({"foo": 1})[0].is_error


def test_inquiry_allows_one_claim_only(ddact: dict[str, Any]) -> None:
    twice = copy.deepcopy(ddact)
    extra = copy.deepcopy(twice["entry"][0])
    extra["fullUrl"] += "-2"
    extra["resource"]["id"] += "-2"
    twice["entry"].append(extra)
    assert not has_errors(check_request(twice, "submit"))
    assert "Bundle.entry" in _errors_at(check_request(twice, "inquire"))


def test_operation_outcome_is_valid_r4() -> None:
    OperationOutcome.model_validate(operation_outcome([]))
