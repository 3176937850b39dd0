"""Appeals through the real HTTP app and the X12 route (issue 12 item 4, issue 13 item 5):
an appeal within the plan's window is forwarded to the payer through the payer feed with its
clock, the payer's decision comes back through a payer-system route and goes out like any
determination; a late appeal is refused with the date it was due; a reconsideration after an
appeal is refused. Clock frozen at tests.conftest.NOW (2026-11-23 15:00 UTC)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import NOW, bearer, jane_doe_request
from tests.test_peer_to_peer import DENIAL, MEDICARE_MEMBER, denied_case, submit
from tests.test_reconsideration import ASK, reconsider
from tests.x12.test_followup import first

PAYER = "sample-payer-62308"
SAMPLES_X12 = "samples/x12"


def zulu(moment: datetime) -> str:
    """A UTC moment as the API writes it."""
    return moment.isoformat().replace("+00:00", "Z")


def appeal(client, case_id: str, headers: dict[str, str] | None = None, **body: object):
    body = {"appellant": "provider", **body}
    return client.post(f"/cases/{case_id}/appeal", json=body, headers=headers)


def payer_decides(client, core, auth_settings, case_id: str, outcome: str, **extra: object):
    body = {"outcome": outcome, "decided_by": "payer-appeals-md-2", **extra}
    return client.post(
        f"/cases/{case_id}/appeal/decision",
        json=body,
        headers=bearer(core, auth_settings, PAYER),
    )


def feed_lines(settings) -> list[dict]:
    lines = []
    for path in sorted(settings.payer_feed_dir.glob("*/*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return lines


@pytest.mark.store
def test_a_provider_appeal_is_forwarded_to_the_payer_with_its_60_day_clock(client, settings):
    denied = denied_case(client)
    response = appeal(client, denied["id"], reason="The regimen is supported by new data.")
    assert response.status_code == 200, response.text
    case = response.json()
    assert case["status"] == "pended"
    determination = case["determination"]
    assert determination["reason"]["code"] == "APPEAL_RECEIVED"
    assert determination["reason"]["plan_rule"] == "cigna-62308-commercial:appeal"
    filed = determination["filed_appeal"]
    assert filed["appellant"] == "provider" and filed["expedited"] is False
    assert filed["due_at"] == zulu(NOW + timedelta(days=60))
    assert determination["due_by"] == filed["due_at"]  # the work list's clock
    assert filed["window_ends"] == "2027-05-22"  # 180 days from the denial of 2026-11-23
    assert filed["appealed"]["status"] == "denied"
    assert [(e["from_status"], e["to_status"]) for e in case["events"]][-1] == (
        "denied",
        "pended",
    )
    # No letter from the UM vendor: the appeal goes to the payer in its feed.
    new_jobs = [j for j in case["jobs"] if j["feed_event"] == "appeal"]
    assert [j["kind"] for j in new_jobs] == ["payer_feed"]
    letters = [j["letter"] for j in case["jobs"] if j["letter"]]
    assert letters == [j["letter"] for j in denied["jobs"] if j["letter"]]
    client.app.state.run_outbox_once()
    [line] = [line for line in feed_lines(settings) if line.get("event") == "appeal"]
    assert line["case_id"] == denied["id"]
    assert line["appeal"]["due_at"] == filed["due_at"]
    assert line["appeal"]["appealed_status"] == "denied"
    assert line["appeal"]["reason"] == "The regimen is supported by new data."


def test_an_expedited_appeal_is_due_72_hours_after_receipt_and_reaches_the_feed(
    client, clock, settings
):
    denied = denied_case(client)
    clock.now = NOW + timedelta(days=3, hours=2)
    case = appeal(client, denied["id"], appellant="member", expedited=True).json()
    filed = case["determination"]["filed_appeal"]
    assert filed["due_at"] == zulu(clock.now + timedelta(hours=72))
    assert case["determination"]["urgency"] == "urgent"
    client.app.state.run_outbox_once()
    [line] = [line for line in feed_lines(settings) if line.get("event") == "appeal"]
    assert line["appeal"]["expedited"] is True
    assert line["appeal"]["due_at"] == filed["due_at"]


def test_a_member_standard_appeal_is_due_in_30_days(client):
    denied = denied_case(client)
    case = appeal(client, denied["id"], appellant="member").json()
    assert case["determination"]["filed_appeal"]["due_at"] == zulu(NOW + timedelta(days=30))


def test_an_appeal_on_day_181_is_refused_with_the_date_it_was_due(client, clock):
    denied = denied_case(client)
    other = denied_case(client, request_id="other")
    # Day 180 (2027-05-22 in New York) is in time.
    clock.now = datetime(2027, 5, 23, 3, 30, tzinfo=UTC)  # 23:30 on May 22 in New York
    assert appeal(client, other["id"]).status_code == 200
    clock.now = datetime(2027, 5, 23, 15, 0, tzinfo=UTC)  # day 181
    late = appeal(client, denied["id"])
    assert late.status_code == 422
    body = late.json()
    assert body["code"] == "APPEAL_LATE"
    assert body["due"] == "2027-05-22"
    assert "due by 2027-05-22" in body["detail"]
    after = client.get(f"/cases/{denied['id']}").json()
    assert after["status"] == "denied"
    assert len(after["events"]) == len(denied["events"])  # nothing recorded


def test_the_second_plans_medicare_member_appeals_within_its_plans_window(client):
    denied = denied_case(client, member=MEDICARE_MEMBER, payer_id="SHP01")
    response = appeal(client, denied["id"], appellant="member")
    assert response.status_code == 200, response.text
    determination = response.json()["determination"]
    assert determination["reason"]["plan_rule"] == "second-plan-oncology:appeal"
    assert determination["filed_appeal"]["window_ends"] == "2027-05-22"


@pytest.mark.store
def test_the_payers_decision_overturns_with_letters_and_the_feed(
    client, core, auth_settings, settings
):
    denied = denied_case(client)
    assert appeal(client, denied["id"]).status_code == 200
    # Only the payer's system decides: not the submitter, not the UM vendor's reviewer.
    ehr = bearer(core, auth_settings, "sample-oncology-ehr")
    refused = client.post(
        f"/cases/{denied['id']}/appeal/decision",
        json={"outcome": "overturned", "decided_by": "x"},
        headers=ehr,
    )
    assert refused.status_code == 403
    reviewer = client.post(f"/cases/{denied['id']}/determination", json=DENIAL)
    assert reviewer.status_code == 409
    assert "under appeal" in reviewer.json()["detail"]

    decided = payer_decides(
        client, core, auth_settings, denied["id"], "overturned", rationale="Criteria met."
    )
    assert decided.status_code == 200, decided.text
    case = decided.json()
    assert case["status"] == "approved"
    determination = case["determination"]
    assert determination["auth_number"] == "ONC" + denied["id"].removeprefix("PA")
    assert determination["reason"]["code"] == "APPEAL_OVERTURNED"
    assert determination["outcome_of"] == "appeal"
    assert determination["filed_appeal"]["outcome"] == "overturned"
    letters = {(j["kind"], j["letter"], j["recipient_role"]) for j in case["jobs"]}
    assert {
        ("fax", "appeal_outcome", "ordering"),
        ("fax", "appeal_outcome", "facility"),
        ("member_mail", "appeal_outcome", "member"),
    } <= letters
    client.app.state.run_outbox_once()
    jobs = client.get(f"/cases/{denied['id']}").json()["jobs"]
    assert {j["state"] for j in jobs if j["letter"] == "appeal_outcome"} == {"delivered"}
    approved = [line for line in feed_lines(settings) if line["status"] == "approved"]
    assert approved and approved[-1]["auth_number"] == determination["auth_number"]
    # A second decision of the same appeal is refused.
    again = payer_decides(client, core, auth_settings, denied["id"], "upheld", rationale="x")
    assert again.status_code == 409


def test_an_upheld_appeal_leaves_no_reconsideration_and_no_second_appeal(
    client, core, auth_settings
):
    denied = denied_case(client)
    assert appeal(client, denied["id"]).status_code == 200
    # While the payer decides, the case is not denied: no reconsideration either.
    assert reconsider(client, denied["id"]).status_code == 409
    missing = payer_decides(client, core, auth_settings, denied["id"], "upheld")
    assert missing.status_code == 422
    upheld = payer_decides(
        client,
        core,
        auth_settings,
        denied["id"],
        "upheld",
        rationale="The appeal review confirms the denial.",
        guideline="Sample oncology pathway, breast v1",
    )
    assert upheld.status_code == 200, upheld.text
    case = upheld.json()
    assert case["status"] == "denied"
    assert case["determination"]["reason"]["code"] == "APPEAL_UPHELD"
    assert ("fax", "appeal_outcome") in {(j["kind"], j["letter"]) for j in case["jobs"]}
    # The letters render and go out (provider fax, member mail), nothing dead.
    client.app.state.run_outbox_once()
    jobs = client.get(f"/cases/{denied['id']}").json()["jobs"]
    assert {j["state"] for j in jobs if j["letter"] == "appeal_outcome"} == {"delivered"}
    refused = reconsider(client, denied["id"])
    assert refused.status_code == 422
    assert refused.json()["code"] == "RECONSIDERATION_AFTER_APPEAL"
    second = appeal(client, denied["id"])
    assert second.status_code == 409
    assert second.json()["code"] == "APPEAL_ALREADY_DECIDED"


def test_an_appeal_after_a_reconsideration_is_fine_and_its_window_starts_at_the_denial(
    client, clock
):
    denied = denied_case(client)
    assert reconsider(client, denied["id"], body=ASK).status_code == 200
    clock.now = NOW + timedelta(days=2)
    upheld = client.post(
        f"/cases/{denied['id']}/reconsideration/decision",
        json={
            "reviewer": "dr-avery-lin",
            "outcome": "upheld",
            **{k: DENIAL[k] for k in ("rationale", "guideline")},
        },
    )
    assert upheld.status_code == 200, upheld.text
    # The reconsideration's outcome is told by its own letter.
    assert ("fax", "reconsideration_outcome") in {
        (j["kind"], j["letter"]) for j in upheld.json()["jobs"]
    }
    response = appeal(client, denied["id"])
    assert response.status_code == 200, response.text
    assert response.json()["determination"]["filed_appeal"]["window_ends"] == "2027-05-22"


def test_only_an_adverse_determination_is_appealed_and_only_by_who_may_read_it(
    client, core, auth_settings
):
    approved = submit(client, jane_doe_request())
    refused = appeal(client, approved["id"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "APPEAL_NOT_ADVERSE"
    denied = denied_case(client)
    stranger = bearer(core, auth_settings, "sample-clearinghouse")
    assert appeal(client, denied["id"], headers=stranger).status_code == 404
    assert client.post(f"/cases/{denied['id']}/appeal", json={}).status_code == 422
    assert appeal(client, "PA2699999999").status_code == 404
    assert payer_decides(client, core, auth_settings, denied["id"], "upheld").status_code == 422
    not_open = payer_decides(client, core, auth_settings, denied["id"], "overturned", rationale="x")
    assert not_open.status_code == 409
    assert appeal(client, denied["id"]).status_code == 200
    twice = appeal(client, denied["id"])
    assert twice.status_code == 409
    assert twice.json()["code"] == "APPEAL_OPEN"


# -- X12: UM02 1 (immediate) and 2 (standard) ------------------------------------------------


def _x12_appeal(case_id: str, certification: str, control: str) -> bytes:
    """The TC request sent again as an appeal of case `case_id` (REF*NT names it)."""
    from gateway.settings import REPO_ROOT

    text = (REPO_ROOT / SAMPLES_X12 / "278-tc-jane-doe.x12").read_text()
    text = text.replace("000000202", control).replace("TC0001*", f"AP{control[-4:]}*", 1)
    text = text.replace(
        "UM*HS*I*78*11:B~\nDTP*AAH", f"UM*HS*{certification}*78*11:B~\nREF*NT*{case_id}~\nDTP*AAH"
    )
    return text.replace("SE*42*0001", "SE*43*0001").encode()


def _post_x12(client, data: bytes, headers: dict[str, str]):
    response = client.post(
        "/x12/278", content=data, headers={"Content-Type": "application/edi-x12", **headers}
    )
    assert response.status_code == 200, response.text
    return response


@pytest.mark.store
def test_an_x12_standard_appeal_is_answered_pended_and_the_payers_decision_follows_up(
    client, core, auth_settings
):
    from gateway.settings import REPO_ROOT

    clearinghouse = bearer(core, auth_settings, "sample-clearinghouse")
    first_answer = _post_x12(
        client, (REPO_ROOT / SAMPLES_X12 / "278-tc-jane-doe.x12").read_bytes(), clearinghouse
    )
    case_id = first_answer.headers["X-Case-Ids"].split(",")[0]
    denied = client.post(f"/cases/{case_id}/determination", json=DENIAL)
    assert denied.json()["status"] == "denied"

    answer = _post_x12(client, _x12_appeal(case_id, "2", "000000301"), clearinghouse)
    assert first(answer.content, "HCR")[1] == "A4"
    assert first(answer.content, "UM")[2] == "2"
    assert "forwarded to the payer" in first(answer.content, "MSG")[1]
    assert first(answer.content, "BHT")[6] == "19"  # updates follow
    case = client.get(f"/cases/{case_id}").json()
    assert case["status"] == "pended"
    filed = case["determination"]["filed_appeal"]
    assert (filed["channel"], filed["appellant"], filed["expedited"]) == ("x12", "provider", False)

    decided = payer_decides(
        client, core, auth_settings, case_id, "overturned", rationale="Criteria met."
    )
    assert decided.status_code == 200, decided.text
    kinds = [j["kind"] for j in decided.json()["jobs"]]
    assert "x12_followup" in kinds  # the unsolicited 278 to the clearinghouse's mailbox


def test_an_x12_appeal_past_the_window_gets_aaa_naming_the_due_date(
    client, core, auth_settings, clock
):
    from gateway.settings import REPO_ROOT

    clearinghouse = bearer(core, auth_settings, "sample-clearinghouse")
    first_answer = _post_x12(
        client, (REPO_ROOT / SAMPLES_X12 / "278-tc-jane-doe.x12").read_bytes(), clearinghouse
    )
    case_id = first_answer.headers["X-Case-Ids"].split(",")[0]
    client.post(f"/cases/{case_id}/determination", json=DENIAL)
    clock.now = NOW + timedelta(days=181)
    answer = _post_x12(client, _x12_appeal(case_id, "1", "000000302"), clearinghouse)
    aaa = first(answer.content, "AAA")
    assert aaa[3:5] == ["56", "N"]
    assert "due by 2027-05-22" in first(answer.content, "MSG")[1]
    assert client.get(f"/cases/{case_id}").json()["status"] == "denied"
    # An appeal naming nothing is refused as a change naming nothing is (AAA MA).
    text = _x12_appeal(case_id, "2", "000000303").decode().replace(f"REF*NT*{case_id}~\n", "")
    missing = _post_x12(client, text.replace("SE*43", "SE*42").encode(), clearinghouse)
    assert first(missing.content, "AAA")[3] == "MA"


def test_a_home_health_denial_is_appealed_under_the_programs_own_numbers(
    client, core, auth_settings
):
    from gateway.settings import REPO_ROOT

    clearinghouse = bearer(core, auth_settings, "sample-clearinghouse")
    held = _post_x12(
        client,
        (REPO_ROOT / SAMPLES_X12 / "278-home-health-without-order.x12").read_bytes(),
        clearinghouse,
    )
    case_id = held.headers["X-Case-Ids"].split(",")[0]
    assert client.get(f"/cases/{case_id}").json()["case"]["program"] == "HOME_HEALTH"
    denied = client.post(f"/cases/{case_id}/determination", json=DENIAL)
    assert denied.json()["status"] == "denied", denied.text
    response = appeal(client, case_id, appellant="member")
    assert response.status_code == 200, response.text
    determination = response.json()["determination"]
    # mappings/programs/home-health-dme.yaml `appeal:` (standard member: 30 days).
    assert determination["reason"]["plan_rule"] == "home-health-dme:appeal"
    assert determination["filed_appeal"]["due_at"] == zulu(NOW + timedelta(days=30))


def test_a_pas_claim_update_with_certification_type_2_is_an_appeal(client):
    from tests.fhir.test_pas_changes import case_id_of, update_of
    from tests.test_fhir_routes import item_actions, load
    from tests.test_fhir_routes import submit as submit_pas

    original = load("tc-her2neg.json")
    first = submit_pas(client, original)
    case_id = case_id_of(first)
    assert client.post(f"/cases/{case_id}/determination", json=DENIAL).status_code == 200
    claim_id = original["entry"][0]["resource"]["identifier"][0]["value"]
    answer = submit_pas(client, update_of(original, "AP1", claim_id, certification="2"))
    assert answer.status_code == 200, answer.text
    assert set(item_actions(answer.json())) == {"A4"}
    assert case_id_of(answer) == case_id
    case = client.get(f"/cases/{case_id}").json()
    assert case["determination"]["reason"]["code"] == "APPEAL_RECEIVED"
    assert case["determination"]["filed_appeal"]["appellant"] == "provider"


def test_home_health_reconsideration_stays_open_after_the_service_date_until_an_appeal(
    client, core, auth_settings, clock
):
    from gateway.settings import REPO_ROOT

    held = _post_x12(
        client,
        (REPO_ROOT / SAMPLES_X12 / "278-home-health-without-order.x12").read_bytes(),
        bearer(core, auth_settings, "sample-clearinghouse"),
    )
    case_id = held.headers["X-Case-Ids"].split(",")[0]
    assert client.post(f"/cases/{case_id}/determination", json=DENIAL).status_code == 200
    oncology = denied_case(client)
    clock.now = NOW + timedelta(days=60)  # past both service dates
    assert reconsider(client, oncology["id"]).json()["code"] == "RECONSIDERATION_AFTER_SERVICE_DATE"
    # The home health program: any time until an appeal (mappings/programs, issue 13 item 5).
    assert reconsider(client, case_id).status_code == 200
