"""The conformance runner's `http` steps read answers by path (`pick`, `bind`): the paths the
PAS cases use, checked on a small answer."""

from __future__ import annotations

import pytest

from gateway.conformance.observe import pick
from gateway.conformance.suite import Step

ANSWER = {
    "resourceType": "Bundle",
    "entry": [
        {
            "fullUrl": "https://gw/fhir/ClaimResponse/1",
            "resource": {"resourceType": "ClaimResponse"},
        },
        {
            "fullUrl": "https://gw/fhir/OperationOutcome/1",
            "resource": {"resourceType": "OperationOutcome", "issue": [{"code": "invariant"}]},
        },
    ],
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("entry[0].fullUrl", "https://gw/fhir/ClaimResponse/1"),
        ("entry[*].resource.resourceType", ["ClaimResponse", "OperationOutcome"]),
        ("entry[?resource.resourceType=OperationOutcome].resource.issue[0].code", "invariant"),
        ("entry[5].fullUrl", None),
        ("entry[?resource.resourceType=Patient].fullUrl", None),
        ("resourceType.nothing", None),
    ],
)
def test_pick(path: str, value: object) -> None:
    assert pick(ANSWER, path) == value


def test_an_http_step_is_one_action() -> None:
    step = Step.model_validate(
        {"http": {"method": "PUT", "path": "/fhir/Subscription/{{id}}", "json": {"a": 1}}}
    )
    assert step.action == "http"
    assert step.http is not None and step.http.json_body == {"a": 1}
    with pytest.raises(ValueError, match="exactly one"):
        Step.model_validate({"http": {"path": "/fhir/metadata"}, "pas": "x.json"})
