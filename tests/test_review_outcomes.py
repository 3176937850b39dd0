"""Every outcome of review, through the real HTTP app, for both plans and both databases."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests.conftest import NOW, jane_doe_request

SECOND_PLAN_MEMBER = {
    "member_id": "S9876543201",
    "last_name": "SAMPLE",
    "first_name": "SAM",
    "birth_date": "1966-07-21",
    "gender": "male",
}


def submit(client, body: dict) -> dict:
    response = client.post("/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def test_pathway_regimen_is_approved_at_once_with_auth_and_period(client):
    case = submit(client, jane_doe_request())
    determination = case["determination"]
    assert case["status"] == "approved"
    assert determination["review_action"] == "A1"
    assert determination["auth_number"].startswith("ONC")
    # First plan: 8-12 months from the final determination.
    assert determination["period_start"] == "2026-12-01"
    assert determination["period_end"] == "2027-07-23"
    assert determination["reason"]["pathway_row"] == "breast:her2neg-ddact"
    assert determination["reason"]["plan_rule"] == "cigna-62308-commercial:authorization"
    assert [line["review_action"] for line in determination["lines"]] == ["A1", "A1", "A1"]
    assert [e["to_status"] for e in case["events"]] == ["approved"]


def test_listed_non_preferred_regimen_goes_to_peer_to_peer(client):
    body = jane_doe_request(
        service_lines=[
            {"sequence": 1, "code": "J9171", "units": 4},
            {"sequence": 2, "code": "J9070", "units": 4},
        ]
    )
    case = submit(client, body)
    determination = case["determination"]
    assert case["status"] == "pended"
    assert determination["review_action"] == "A4"
    assert determination["pend_kind"] == "peer_to_peer"
    assert determination["reason"]["pathway_row"] == "breast:her2neg-tc"
    # Routine: two business days from receipt (Mon 2026-11-23 -> Wed 2026-11-25).
    assert determination["due_by"].startswith("2026-11-25")


def test_missing_her2_status_is_held_naming_the_fact_with_a_due_date(client):
    body = jane_doe_request(diagnoses=[{"code": "C50.911", "primary": True}])
    case = submit(client, body)
    determination = case["determination"]
    assert case["status"] == "held"
    assert determination["review_action"] == "A4"
    assert determination["pend_kind"] == "hold"
    assert determination["missing_facts"] == ["her2_status"]
    assert "her2_status" in determination["reason"]["text"]
    # Three business days to answer; Thanksgiving (2026-11-26) is not one of them.
    assert determination["hold_due"].startswith("2026-11-27")
    assert determination["due_by"].startswith("2026-12-01")


@pytest.mark.store
def test_additional_information_rereviews_a_hold_into_an_approval(client):
    held = submit(client, jane_doe_request(diagnoses=[{"code": "C50.911", "primary": True}]))
    response = client.post(
        f"/cases/{held['id']}/clinical",
        json={"facts": {"HER2": "negative"}, "sender": "ordering-provider"},
    )
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["status"] == "approved"
    assert case["determination"]["review_action"] == "A1"
    assert [e["to_status"] for e in case["events"]] == ["held", "approved"]


@pytest.mark.store
def test_hold_past_due_is_decided_on_the_original_submission(client, clock):
    held = submit(client, jane_doe_request(diagnoses=[{"code": "C50.911", "primary": True}]))
    clock.now = NOW + timedelta(days=10)
    case = client.post(
        f"/cases/{held['id']}/clinical", json={"facts": {"her2_status": "negative"}}
    ).json()
    assert case["status"] == "pended"
    assert case["determination"]["pend_kind"] == "clinical_review"
    assert case["determination"]["reason"]["code"] == "HOLD_EXPIRED"
    assert "her2_status" not in case["case"]["facts"]["values"]


def test_custom_regimen_goes_to_clinical_review(client):
    body = jane_doe_request(service_lines=[{"sequence": 1, "code": "J9267", "units": 12}])
    case = submit(client, body)
    assert case["status"] == "pended"
    assert case["determination"]["pend_kind"] == "clinical_review"
    assert case["determination"]["reason"]["code"] == "CUSTOM_REGIMEN"


def test_site_of_care_drug_at_hospital_gets_one_time_30_days(client):
    body = jane_doe_request(
        place_of_service="22",
        diagnoses=[{"code": "C50.911", "primary": True}, {"code": "Z17.31"}],
        service_lines=[
            {"sequence": 1, "code": "J9171"},
            {"sequence": 2, "code": "J9045"},
            {"sequence": 3, "code": "Q5114"},
            {"sequence": 4, "code": "J9306"},
        ],
    )
    case = submit(client, body)
    determination = case["determination"]
    assert case["status"] == "modified"
    assert determination["review_action"] == "A6"
    assert determination["site_of_care_redirect"] == "12"
    actions = {line["code"]: line for line in determination["lines"]}
    assert actions["J9171"]["review_action"] == "A1"
    assert actions["Q5114"]["review_action"] == "A6"
    start = date.fromisoformat(actions["Q5114"]["period_start"])
    assert date.fromisoformat(actions["Q5114"]["period_end"]) - start == timedelta(days=30)


def test_emergency_room_needs_no_prior_authorization(client):
    case = submit(client, jane_doe_request(place_of_service="23"))
    assert case["status"] == "not_required"
    assert case["determination"]["review_action"] == "NA"
    assert "emergency room" in case["determination"]["reason"]["text"]


def test_non_cancer_diagnosis_is_out_of_scope_and_expires(client):
    case = submit(client, jane_doe_request(diagnoses=[{"code": "M54.50", "primary": True}]))
    assert case["status"] == "out_of_scope"
    assert case["determination"]["review_action"] == "CT"
    assert case["determination"]["review_action"] not in ("A1", "A3")


def test_unknown_member_is_rejected_with_aaa_75_at_2010c(client):
    member = {"member_id": "U9999999999", "last_name": "NOBODY", "first_name": "NO"}
    case = submit(client, jane_doe_request(member=member))
    rejection = case["determination"]["rejection"]
    assert case["status"] == "rejected"
    assert (rejection["loop"], rejection["aaa_code"], rejection["follow_up"]) == (
        "2010C",
        "75",
        "C",
    )


def test_member_not_eligible_on_the_date_is_rejected(client):
    member = {"member_id": "U1234567802", "last_name": "ROE", "first_name": "RICHARD"}
    case = submit(client, jane_doe_request(member=member))
    assert case["status"] == "rejected"
    assert case["determination"]["rejection"]["aaa_code"] == "78"


def test_no_managed_drug(client):
    body = jane_doe_request(service_lines=[{"sequence": 1, "code": "J3490"}])
    case = submit(client, body)
    assert case["status"] == "not_required"
    assert case["determination"]["reason"]["text"] == (
        "Request does not contain any drugs managed for this member under this program."
    )


def test_pharmacy_drug_for_a_pbm_member_is_redirected(client):
    member = {"member_id": "U1234567803", "last_name": "MAJOR", "first_name": "MARY"}
    body = jane_doe_request(
        member=member,
        service_lines=[{"sequence": 1, "code": "J8521"}],
        diagnoses=[{"code": "C18.9", "primary": True}, {"code": "C78.7"}],
    )
    case = submit(client, body)
    assert case["status"] == "redirected"
    assert case["determination"]["review_action"] == "CT"
    assert "Sample Pharmacy Benefit Manager" in case["determination"]["reason"]["text"]


def test_medicare_product_not_managed_by_the_first_plan(client):
    member = {"member_id": "U1234567805", "last_name": "PLACEHOLDER", "first_name": "PAT"}
    case = submit(client, jane_doe_request(member=member))
    assert case["status"] == "not_required"
    assert case["determination"]["reason"]["code"] == "PRODUCT_NOT_MANAGED"


def test_active_transplant_needs_no_prior_authorization(client):
    member = {"member_id": "U1234567804", "last_name": "EXAMPLE", "first_name": "ALEX"}
    case = submit(client, jane_doe_request(member=member))
    assert case["determination"]["reason"]["code"] == "TRANSPLANT_ACTIVE"


@pytest.mark.store
def test_supportive_drug_is_its_own_case_linked_to_the_primary(client):
    body = jane_doe_request()
    body["service_lines"].append({"sequence": 4, "code": "J2506", "units": 4})
    case = submit(client, body)
    assert case["status"] == "approved"
    [child_id] = case["supportive_cases"]
    child = client.get(f"/cases/{child_id}").json()
    assert child["program"] == "SPORT"
    assert child["related_case_id"] == case["id"]
    assert child["status"] == "approved"
    assert child["determination"]["auth_number"] != case["determination"]["auth_number"]


def test_urgent_without_documentation_is_handled_as_standard(client):
    case = submit(
        client,
        jane_doe_request(
            urgency="urgent",
            service_lines=[{"sequence": 1, "code": "J9171"}, {"sequence": 2, "code": "J9070"}],
        ),
    )
    assert case["determination"]["urgency"] == "standard"
    urgent = submit(
        client,
        jane_doe_request(
            urgency="urgent",
            attachments=[{"report_type": "09", "filename": "notes.pdf"}],
            service_lines=[{"sequence": 1, "code": "J9171"}, {"sequence": 2, "code": "J9070"}],
        ),
    )
    assert urgent["determination"]["urgency"] == "urgent"
    # First plan's program page: urgent within 24 hours.
    due = datetime.fromisoformat(urgent["determination"]["due_by"])
    assert due - NOW == timedelta(hours=24)


def test_second_plan_grants_its_own_span_and_partial_approvals(client):
    body = jane_doe_request(member=SECOND_PLAN_MEMBER, payer_id="SHP01")
    case = submit(client, body)
    assert case["status"] == "approved"
    start = date.fromisoformat(case["determination"]["period_start"])
    end = date.fromisoformat(case["determination"]["period_end"])
    assert 240 <= (end - start).days <= 425

    extra = jane_doe_request(member=SECOND_PLAN_MEMBER, payer_id="SHP01")
    extra["service_lines"].append({"sequence": 4, "code": "J9171"})
    partial = submit(client, extra)
    actions = {line["code"]: line["review_action"] for line in partial["determination"]["lines"]}
    assert actions == {"J9000": "A1", "J9070": "A1", "J9267": "A1", "J9171": "A4"}

    first_plan = jane_doe_request()
    first_plan["service_lines"].append({"sequence": 4, "code": "J9171"})
    whole = submit(client, first_plan)
    assert {line["review_action"] for line in whole["determination"]["lines"]} == {"A4"}


def test_second_plan_refuses_retrospective_requests(client):
    body = jane_doe_request(member=SECOND_PLAN_MEMBER, payer_id="SHP01", start_date="2026-11-10")
    case = submit(client, body)
    assert case["status"] == "rejected"
    assert case["determination"]["rejection"]["aaa_code"] == "62"
    first = submit(client, jane_doe_request(start_date="2026-11-10"))
    assert first["status"] == "approved"  # first plan: retro within 30 days


def test_reviewer_denial_carries_appeal_rights_and_is_never_automatic(client):
    pended = submit(client, jane_doe_request(service_lines=[{"sequence": 1, "code": "J9267"}]))
    decision = {
        "reviewer": "dr-reviewer-1",
        "decision": "deny",
        "rationale": "Single-agent therapy is not supported for this presentation.",
        "guideline": "Sample oncology pathway, breast v1",
    }
    case = client.post(f"/cases/{pended['id']}/determination", json=decision).json()
    determination = case["determination"]
    assert case["status"] == "denied"
    assert determination["review_action"] == "A3"
    assert determination["decided_by"] == "dr-reviewer-1"
    assert determination["appeal"]["appeal_window_days"] == 180
    assert determination["appeal"]["reconsideration_allowed"] is True
    again = client.post(f"/cases/{pended['id']}/determination", json=decision)
    assert again.status_code == 409


def test_partial_reviewer_decision_only_where_the_plan_allows_it(client):
    pended = submit(
        client,
        jane_doe_request(
            service_lines=[{"sequence": 1, "code": "J9267"}, {"sequence": 2, "code": "J9171"}]
        ),
    )
    partial = {
        "reviewer": "dr-reviewer-1",
        "decision": "approve",
        "rationale": "in part",
        "lines": [{"sequence": 2, "decision": "deny"}],
    }
    refused = client.post(f"/cases/{pended['id']}/determination", json=partial)
    assert refused.status_code == 422
    assert "no partial approvals" in refused.json()["detail"]


@pytest.mark.store
def test_work_list_orders_pended_cases_by_due_time(client):
    urgent = submit(
        client,
        jane_doe_request(
            urgency="urgent",
            attachments=[{"filename": "a.pdf"}],
            service_lines=[{"sequence": 1, "code": "J9267"}],
        ),
    )
    routine = submit(client, jane_doe_request(service_lines=[{"sequence": 1, "code": "J9267"}]))
    listed = client.get("/cases", params={"status": "pended"}).json()["cases"]
    ids = [row["id"] for row in listed]
    assert ids.index(urgent["id"]) < ids.index(routine["id"])


def test_eligibility_answers_per_program(client):
    answer = client.get("/eligibility/U1234567801", params={"date": "2026-12-01"}).json()
    assert answer["eligible"] is True
    assert (
        "Prior authorization required for: Radiation Therapy, Medical Oncology" in answer["message"]
    )
    assert "No prior authorization required for: Gastroenterology" in answer["message"]
    assert (
        client.get("/eligibility/U1234567802", params={"date": "2026-12-01"}).json()["eligible"]
        is False
    )
    assert client.get("/eligibility/NOPE", params={"date": "2026-12-01"}).status_code == 404


def test_bad_input_gets_a_clear_4xx(client):
    cases = [
        jane_doe_request(diagnoses=[{"code": "C99.999", "primary": True}]),
        jane_doe_request(service_lines=[{"sequence": 1, "code": "NOTACODE"}]),
        jane_doe_request(start_date="2026-02-30"),
        {k: v for k, v in jane_doe_request().items() if k != "member"},
    ]
    for body in cases:
        response = client.post("/cases", json=body)
        assert response.status_code == 422, body
        assert response.json()["error"] == "invalid request"
    assert client.get("/cases/PA0000").status_code == 404
    assert client.get("/eligibility/U1234567801", params={"date": "soon"}).status_code == 422


@pytest.mark.store
def test_exact_replay_returns_the_stored_case_and_creates_nothing(client):
    body = jane_doe_request(request_id="REQ-1", submitter_id="ehr-1")
    first = client.post("/cases", json=body)
    second = client.post("/cases", json=body)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["id"] == second.json()["id"]
    assert len(client.get("/cases").json()["cases"]) == 1


def test_the_payer_feed_carries_the_json_line_and_the_278_response(client, settings):
    import json as _json

    case = submit(client, jane_doe_request())
    run_once = client.app.state.run_outbox_once
    while run_once():
        pass
    feed = next((settings.payer_feed_dir / "62308").glob("*.jsonl"))
    [line] = [_json.loads(row) for row in feed.read_text().splitlines()]
    assert line["case_id"] == case["id"]
    assert line["auth_number"] == case["determination"]["auth_number"]
    assert f"HCR*A1*{case['determination']['auth_number']}~" in line["x12_278"]
