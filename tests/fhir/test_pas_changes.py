"""After the first answer, on PAS: a claim update (Claim.related) with a certification type is
the same change as on X12 (gateway.domain.changes), and a change made on one channel is seen on
the other."""

from __future__ import annotations

import copy

import pytest

from gateway.fhir import constants as k
from tests.test_fhir_routes import item_actions, load, submit
from tests.x12.test_changes import ORIGINAL, case_of, change, post


def update_of(bundle: dict, suffix: str, related: str, certification: str | None = None) -> dict:
    """A PASClaimUpdate of `bundle`: its own identifiers, Claim.related naming `related`."""
    update = copy.deepcopy(bundle)
    claim = update["entry"][0]["resource"]
    claim["identifier"][0]["value"] += f"-{suffix}"
    update["identifier"]["value"] += f"-{suffix}"
    claim["related"] = [
        {
            "claim": {"identifier": {"value": related}},
            "relationship": {"coding": [{"code": "prior"}]},
        }
    ]
    if certification:
        claim.setdefault("extension", []).append(
            {
                "url": k.EXT_CERTIFICATION_TYPE,
                "valueCodeableConcept": {
                    "coding": [{"system": k.CS_X12_1322, "code": certification}]
                },
            }
        )
    return update


def case_id_of(response) -> str:
    return response.headers["X-Case-Ids"].split(",")[0]


@pytest.mark.store
def test_a_claim_update_of_an_approved_claim_is_a_new_authorization_from_the_change(client):
    original = load("ddact-her2neg.json")
    first = submit(client, original)
    assert set(item_actions(first.json())) == {"A1"}
    first_id = case_id_of(first)
    update = update_of(original, "U1", original["entry"][0]["resource"]["identifier"][0]["value"])
    for item in update["entry"][0]["resource"]["item"]:
        item["servicedPeriod"] = {"start": "2027-02-01", "end": "2027-03-29"}
    answer = submit(client, update)
    assert answer.status_code == 200, answer.text
    assert set(item_actions(answer.json())) == {"A1"}
    revised = case_of(client, case_id_of(answer))
    assert revised["id"] != first_id and revised["case"]["prior_case_id"] == first_id
    assert revised["determination"]["period_start"] == "2027-02-01"
    assert case_of(client, first_id)["determination"]["period_end"] == "2027-01-31"


@pytest.mark.store
def test_an_explicit_change_naming_an_unknown_claim_is_a_404_not_a_new_case(client):
    before = len(client.get("/cases").json())
    update = update_of(load("ddact-her2neg.json"), "U2", "NEVER-SEEN", certification="3")
    answer = submit(client, update)
    assert answer.status_code == 404, answer.text
    assert answer.json()["resourceType"] == "OperationOutcome"
    assert "NEVER-SEEN" in answer.json()["issue"][0]["diagnostics"]
    assert len(client.get("/cases").json()) == before


@pytest.mark.store
def test_a_pas_cancel_naming_an_x12_authorization_cancels_it_for_both_channels(client):
    x12_answer = post(client, ORIGINAL)
    auth = next(s for s in x12_answer.split("~") if s.strip().startswith("HCR*A1")).split("*")[2]
    case_id = "PA" + auth.removeprefix("ONC")
    cancel = update_of(load("ddact-her2neg.json"), "CX", auth, certification="3")
    answer = submit(client, cancel)
    assert answer.status_code == 200, answer.text
    assert set(item_actions(answer.json())) == {"C"}
    assert case_of(client, case_id)["status"] == "cancelled"
    # The X12 submitter cancelling it again hears that it is cancelled.
    again = post(client, change(ORIGINAL, um02="3", n=21, reference=auth))
    assert "HCR*C" in again and "AAA*" not in again


@pytest.mark.store
def test_an_x12_change_may_name_the_original_by_its_trace_or_the_case_reference(client):
    x12_answer = post(client, ORIGINAL)
    case_id = next(s for s in x12_answer.split("~") if s.strip().startswith("REF*NT")).split("*")[2]
    by_trace = post(client, change(ORIGINAL, um02="3", n=22, reference="ACTDD0001", qualifier="NT"))
    assert "HCR*C" in by_trace and "AAA*" not in by_trace
    assert case_of(client, case_id)["status"] == "cancelled"
    by_case = post(client, change(ORIGINAL, um02="3", n=23, reference=case_id, qualifier="NT"))
    assert "HCR*C" in by_case and "AAA*" not in by_case
