"""Home health and DME through PAS (issue 13 items 2, 3 and 7): a PAS request carries what the
X12 278 carries (rental or purchase, months of rental, delivered already, hospital discharge
pending, start of care, disciplines and visits), the canonical case holds it alike from both
channels, both channels get the same decision, and the IG's Homecare examples are answered with
conformant PAS responses. Requests go through the real HTTP app with the clock frozen."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fhir.resources.R4B.bundle import Bundle

from gateway.conformance.observe import observe_fhir, observe_x12
from gateway.domain.case import ServiceLine
from gateway.fhir.bundle import BundleIndex
from gateway.fhir.homecare import claim_facts, fact_pairs, line_details
from gateway.fhir.profile import check_response
from gateway.fhir.reader import read_case
from gateway.settings import REPO_ROOT, Settings
from gateway.wiring import build
from tests.conftest import NOW, bearer, make_auth_settings
from tests.fhir.pas_refs import REFERENCE, SAMPLES, load

X12 = REPO_ROOT / "samples" / "x12"
DME_FILES = REPO_ROOT / "conformance" / "dme" / "files"
IG_ROSTER = DME_FILES / "roster-ig-homecare.yaml"
HOMECARE = REFERENCE / "examples" / "Bundle-HomecareAuthorizationBundleExample.json"
HOMECARE_UPDATE = REFERENCE / "examples" / "Bundle-HomecareAuthorizationUpdateBundleExample.json"
LINE_FIELDS = ("code", "rental", "rental_months", "visits", "discipline", "already_delivered")
# The same request in both channels: (X12 sample, PAS sample, status, period end).
PAIRS = [
    ("278-dme-wheelchair-purchase.x12", "dme-wheelchair-purchase.json", "approved", "2027-03-01"),
    ("278-dme-hospital-bed-rental.x12", "dme-hospital-bed-rental.json", "approved", "2027-11-01"),
    (
        "278-dme-oxygen-discharge-pending.x12",
        "dme-oxygen-discharge-pending.json",
        "approved",
        "2027-03-01",
    ),
    ("278-dme-cpap.x12", "dme-cpap.json", "not_required", None),
    ("278-dme-at-skilled-nursing.x12", "dme-at-skilled-nursing.json", "not_required", None),
    ("278-home-health-without-order.x12", "home-health-without-order.json", "held", None),
    ("278-home-health-same-day.x12", "home-health-same-day.json", "redirected", None),
    ("278-dme-retro.x12", "dme-retro.json", "redirected", None),
]


@pytest.fixture
def app_client(settings: Settings) -> Iterator[TestClient]:
    """The real app, the demo roster plus the IG's example member, acting as the operator."""
    from gateway.api.app import create_app

    settings = settings.model_copy(update={"roster": IG_ROSTER})
    core = build(settings, clock=lambda: NOW).core
    auth = make_auth_settings()
    with TestClient(create_app(settings, core=core, auth_settings=auth)) as client:
        client.headers.update(bearer(core, auth, "ops-console"))
        yield client
    core.engine.dispose()


def submit_pas(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    response = client.post(
        "/fhir/Claim/$submit",
        content=json.dumps(bundle),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def submit_x12(client: TestClient, name: str) -> tuple[dict[str, Any], str]:
    response = client.post(
        "/x12/278",
        content=(X12 / name).read_bytes(),
        headers={"Content-Type": "application/edi-x12"},
    )
    assert response.status_code == 200, response.text
    return observe_x12(response.content), response.headers["X-Case-Ids"].split(",")[0]


def stored(client: TestClient, case_id: str) -> dict[str, Any]:
    response = client.get(f"/cases/{case_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def conformant(bundle: dict[str, Any], request: dict[str, Any]) -> dict[str, Any]:
    Bundle.model_validate(bundle)
    issues = [i.to_fhir() for i in check_response(bundle, request) if i.is_error]
    assert issues == []
    claim_response: dict[str, Any] = bundle["entry"][0]["resource"]
    assert claim_response["resourceType"] == "ClaimResponse"
    return claim_response


@pytest.mark.parametrize(("x12", "pas", "status", "period_end"), PAIRS)
def test_both_channels_carry_the_same_case_and_get_the_same_decision(
    app_client: TestClient, x12: str, pas: str, status: str, period_end: str | None
) -> None:
    answer, x12_case = submit_x12(app_client, x12)
    request = load(SAMPLES / pas)
    response = submit_pas(app_client, request)
    observed = observe_fhir(response)
    conformant(response, request)
    assert observed["items"] == answer["items"]
    from_x12, from_pas = stored(app_client, x12_case), stored(app_client, observed["case_id"])
    for view in (from_x12, from_pas):
        assert view["status"] == status
        assert view["determination"]["period_end"] == period_end
    x12_lines = [{f: line[f] for f in LINE_FIELDS} for line in from_x12["case"]["service_lines"]]
    pas_lines = [{f: line[f] for f in LINE_FIELDS} for line in from_pas["case"]["service_lines"]]
    assert pas_lines == x12_lines
    x12_facts, pas_facts = from_x12["case"]["facts"]["values"], from_pas["case"]["facts"]["values"]
    for name in ("start_of_care", "hospital_discharge_pending", "physician_order"):
        assert pas_facts.get(name) == x12_facts.get(name), name


def test_a_ten_month_rental_is_carried_as_ten_months_and_approved_for_eleven(
    app_client: TestClient,
) -> None:
    request = load(SAMPLES / "dme-hospital-bed-rental.json")
    case_id = observe_fhir(submit_pas(app_client, request))["case_id"]
    view = stored(app_client, case_id)
    line = view["case"]["service_lines"][0]
    assert (line["rental"], line["rental_months"], line["already_delivered"]) == (True, 10, False)
    assert view["determination"]["period_start"] == "2026-12-01"
    assert view["determination"]["period_end"] == "2027-11-01"  # 10 months plus one


def test_home_health_lines_carry_discipline_and_visits(app_client: TestClient) -> None:
    request = load(SAMPLES / "home-health-without-order.json")
    response = submit_pas(app_client, request)
    view = stored(app_client, observe_fhir(response)["case_id"])
    lines = [(ln["discipline"], ln["visits"]) for ln in view["case"]["service_lines"]]
    assert lines == [("skilled nursing", 12), ("physical therapy", 8)]
    assert view["case"]["facts"]["values"]["start_of_care"] == "2026-12-01"
    assert view["determination"]["missing_facts"] == ["physician_order"]
    notes = " ".join(n["text"] for n in response["entry"][0]["resource"]["processNote"])
    assert "physician's order" in notes


def test_hospital_discharge_pending_is_urgent_from_pas(app_client: TestClient) -> None:
    request = load(SAMPLES / "dme-oxygen-discharge-pending.json")
    view = stored(app_client, observe_fhir(submit_pas(app_client, request))["case_id"])
    facts = view["case"]["facts"]["values"]
    assert facts["hospital_discharge_pending"] is True
    assert facts["discharge_date"] == "2026-11-30"
    assert facts["oxygen_saturation"] == 86
    assert view["determination"]["urgency"] == "urgent"  # heads the work list
    assert view["status"] == "approved"  # decided in real time


def test_same_day_start_of_care_is_told_to_call_the_payer(app_client: TestClient) -> None:
    response = submit_pas(app_client, load(SAMPLES / "home-health-same-day.json"))
    claim_response = response["entry"][0]["resource"]
    assert observe_fhir(response)["items"] == ["CT"]
    notes = " ".join(n["text"] for n in claim_response["processNote"])
    assert "Call (800) 555-0140" in notes and "today" in notes


@pytest.mark.skipif(not HOMECARE.exists(), reason="PAS reference examples not on this machine")
def test_the_ig_homecare_examples_as_published_get_conformant_answers(
    app_client: TestClient,
) -> None:
    request = load(HOMECARE)
    response = submit_pas(app_client, request)
    claim_response = conformant(response, request)
    # The IG's insurer is another payer (known by an NPI): an error response, not a 500.
    assert claim_response["outcome"] == "error"
    assert observe_fhir(response)["errors"] == ["78"]
    update = app_client.post(
        "/fhir/Claim/$submit",
        content=HOMECARE_UPDATE.read_bytes(),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert update.status_code in (400, 404, 409, 422), update.text
    assert update.json()["resourceType"] == "OperationOutcome"


def test_the_homecare_examples_addressed_to_this_payer_answer_every_item(
    app_client: TestClient,
) -> None:
    request = load(DME_FILES / "homecare-62308.json")
    first = conformant(submit_pas(app_client, request), request)
    bundle = {"resourceType": "Bundle", "entry": [{"resource": first}]}
    assert [observe_fhir(bundle)["items"]] == [["A4", "A4"]]
    update_request = load(DME_FILES / "homecare-62308-update.json")
    update = submit_pas(app_client, update_request)
    conformant(update, update_request)
    # Every item of the claim update gets its review action: kept, cancelled, added.
    assert observe_fhir(update)["items"] == ["A4", "C", "A4"]


def test_device_request_parameters_and_timing_say_purchase_months_and_delivery() -> None:
    bundle = load(SAMPLES / "dme-hospital-bed-rental.json")
    device = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "DeviceRequest")
    resource = device["resource"]
    resource["parameter"] = [
        {"code": {"text": "acquisition"}, "valueCodeableConcept": {"text": "purchase"}},
        {"code": {"text": "delivered"}, "valueBoolean": True},
    ]
    assert read_case(bundle).service_lines[0].rental is False
    assert read_case(bundle).service_lines[0].already_delivered is True
    resource["parameter"] = [{"code": {"coding": [{"code": "RR"}]}}]
    resource["occurrenceTiming"] = {"repeat": {"count": 6, "periodUnit": "mo"}}
    line = read_case(bundle).service_lines[0]
    assert (line.rental, line.rental_months, line.units) == (True, 6, 6.0)


def test_item_modifier_rr_or_nu_decides_over_nothing_said() -> None:
    bundle = load(SAMPLES / "dme-wheelchair-purchase.json")
    assert read_case(bundle).service_lines[0].rental is False  # NU
    rented = copy.deepcopy(bundle)
    rented["entry"][0]["resource"]["item"][0]["modifier"] = [{"coding": [{"code": "RR"}]}]
    assert read_case(rented).service_lines[0].rental is True
    bare = copy.deepcopy(bundle)
    del bare["entry"][0]["resource"]["item"][0]["modifier"]
    assert read_case(bare).service_lines[0].rental is None


def test_service_request_count_is_the_visits() -> None:
    line = ServiceLine(sequence=1, code="G0151")
    bundle = {
        "resourceType": "Bundle",
        "entry": [
            {
                "fullUrl": "http://x.example/fhir/Claim/c",
                "resource": {"resourceType": "Claim", "id": "c"},
            },
            {
                "fullUrl": "http://x.example/fhir/ServiceRequest/pt",
                "resource": {
                    "resourceType": "ServiceRequest",
                    "id": "pt",
                    "occurrenceTiming": {
                        "repeat": {"count": 9, "frequency": 3, "period": 1, "periodUnit": "wk"}
                    },
                },
            },
        ],
    }
    index = BundleIndex(bundle)
    item = {
        "extension": [
            {
                "url": "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-requestedService",
                "valueReference": {"reference": "ServiceRequest/pt"},
            }
        ]
    }
    line_details(index, index.entries[0], item, line)
    assert (line.visits, line.units, line.quantity_frequency) == (9, 9.0, "3 per 1 wk")


def test_free_form_messages_carry_the_companion_guide_pairs() -> None:
    assert fact_pairs("PHYSICIAN_ORDER=Y;OXYGEN_SATURATION=86;ALREADY_DELIVERED=N") == {
        "physician_order": True,
        "oxygen_saturation": 86,
        "already_delivered": False,
    }
    assert fact_pairs("Patient prefers morning deliveries") is None


def test_a_claim_update_keeps_the_start_of_care_of_the_claim_it_names() -> None:
    bundle = load(DME_FILES / "homecare-62308-update.json")
    index = BundleIndex(bundle)
    claim = next(e for e in index.entries if e.resource.get("id", "").endswith("UpdateExample"))
    assert claim_facts(index, claim, [])["start_of_care"] == "2026-12-01"


def test_samples_are_the_ig_examples_addressed_to_this_payer() -> None:
    """The Homecare samples differ from the IG's only in the insurer and the dates."""
    if not HOMECARE.exists():
        pytest.skip("PAS reference examples not on this machine")
    ours, theirs = load(DME_FILES / "homecare-62308.json"), load(HOMECARE)
    assert [i["productOrService"] for i in ours["entry"][0]["resource"]["item"]] == [
        i["productOrService"] for i in theirs["entry"][0]["resource"]["item"]
    ]
    update, their_update = load(DME_FILES / "homecare-62308-update.json"), load(HOMECARE_UPDATE)
    assert [i["productOrService"] for i in update["entry"][0]["resource"]["item"]] == [
        i["productOrService"] for i in their_update["entry"][0]["resource"]["item"]
    ]


@pytest.mark.parametrize(
    "broken",
    [
        {"parameter": "rental", "occurrenceTiming": ["10 months"]},
        {"parameter": [{"code": "rental", "valueQuantity": "ten"}], "occurrenceTiming": 10},
        {"occurrenceTiming": {"repeat": {"boundsDuration": {"value": True, "code": "mo"}}}},
    ],
)
def test_a_malformed_device_request_is_answered_never_a_500(
    app_client: TestClient, broken: dict[str, Any]
) -> None:
    bundle = load(SAMPLES / "dme-hospital-bed-rental.json")
    device = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "DeviceRequest")
    device["resource"].update(broken)
    response = app_client.post(
        "/fhir/Claim/$submit",
        content=json.dumps(bundle),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code in (200, 400, 422), response.text
    assert response.json()["resourceType"] in ("Bundle", "OperationOutcome")


@pytest.mark.skipif(not HOMECARE.exists(), reason="PAS reference examples not on this machine")
def test_the_ig_homecare_example_as_published_gets_a_review_action_on_every_item(
    client: TestClient,
) -> None:
    """On the gateway's own (demo) data, as `make run` serves it: the IG's example insurer is a
    demo plan and its member is on the demo roster, so the published example is reviewed item
    by item. Its 2005 start of care is past: every item is told to call the payer (CT)."""
    request = load(HOMECARE)
    response = submit_pas(client, request)
    claim_response = conformant(response, request)
    assert claim_response["outcome"] == "complete"
    items = observe_fhir(response)["items"]
    assert len(items) == len(request["entry"][0]["resource"]["item"]) and set(items) == {"CT"}
