"""Reconsideration through the real HTTP app (issue 12, item 3): additional clinical information
re-opens a denied case for a reviewer, without a peer to peer, where the plan allows it (first
plan: commercial lines; second plan: commercial, never Medicare), on or before the planned
service date in the provider's local date, before an appeal and once; overturned or upheld with
letters; refused with the reason elsewhere. Clock frozen at tests.conftest.NOW."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.conftest import bearer, jane_doe_request
from tests.notify.conftest import normalized, pdf_text
from tests.test_peer_to_peer import DENIAL, MEDICARE_MEMBER, denied_case, spooled_faxes, submit

SECOND_PLAN_COMMERCIAL = {
    "member_id": "S9876543201",
    "last_name": "SAMPLE",
    "first_name": "SAM",
    "birth_date": "1966-07-21",
    "gender": "male",
}
ASK = {
    "reason": "New pathology: the tumour is HER2-low; single agent is the plan of care.",
    "facts": {"ecog": 1, "prior_anthracycline": True},
    "notes": "Pathology report of 2026-11-20 faxed with case number.",
}


def reconsider(client, case_id: str, body: dict = ASK, **kwargs):
    return client.post(f"/cases/{case_id}/reconsideration", json=body, **kwargs)


def decide(client, case_id: str, outcome: str, **extra: object):
    body = {"reviewer": "dr-avery-lin", "outcome": outcome, **extra}
    return client.post(f"/cases/{case_id}/reconsideration/decision", json=body)


@pytest.mark.store
def test_a_commercial_denial_is_reconsidered_with_new_information_and_overturned(
    client, core, auth_settings
):
    denied = denied_case(client)
    # The ordering practice (its NPI is on the case) asks; the case re-opens for a reviewer.
    practice = bearer(core, auth_settings, "sample-oncology-ehr")
    response = reconsider(client, denied["id"], headers=practice)
    assert response.status_code == 200, response.text
    reopened = response.json()
    assert reopened["status"] == "pended"
    determination = reopened["determination"]
    assert determination["pend_kind"] == "clinical_review"  # a reviewer, not a peer to peer
    assert determination["reason"]["code"] == "RECONSIDERATION"
    assert determination["reason"]["plan_rule"] == "cigna-62308-commercial:reconsideration"
    assert determination["auth_number"] is None
    assert determination["due_by"].startswith("2026-11-25")  # two business days
    facts = reopened["case"]["facts"]
    assert facts["values"]["prior_anthracycline"] is True
    assert facts["sources"]["ecog"] == "reconsideration:sample-oncology-ehr"
    assert ASK["notes"] in facts["notes"]
    assert [(e["from_status"], e["to_status"]) for e in reopened["events"]][-1] == (
        "denied",
        "pended",
    )
    # On the reviewer work list, and not open to a peer to peer meanwhile.
    work_list = client.get("/cases", params={"status": "pended"}).json()["cases"]
    assert denied["id"] in [row["id"] for row in work_list]
    assert client.get(f"/cases/{denied['id']}/peer-to-peer/slots").status_code == 409

    overturned = decide(client, denied["id"], "overturned", rationale="HER2-low documented.")
    assert overturned.status_code == 200, overturned.text
    case = overturned.json()
    assert case["status"] == "approved"
    assert case["determination"]["auth_number"] == "ONC" + denied["id"].removeprefix("PA")
    assert "Reconsideration overturned" in case["determination"]["reason"]["text"]
    # Told as the reconsideration's outcome (the letter kind reconsideration_outcome).
    letters = {(j["kind"], j["letter"]) for j in case["jobs"]}
    assert {("fax", "reconsideration_outcome"), ("member_mail", "reconsideration_outcome")} <= (
        letters
    )


def test_the_same_on_the_second_plans_medicare_member_is_refused_with_the_reason(client, settings):
    denied = denied_case(client, member=MEDICARE_MEMBER, payer_id="SHP01")
    # The denial letter offers no reconsideration to this member (appeal rights say so).
    assert denied["determination"]["appeal"]["reconsideration_allowed"] is False
    client.app.state.run_outbox_once()
    [(_, pdf)] = spooled_faxes(settings.fax_spool, f"{denied['id']}:letter:ordering:denied")
    letter = normalized(pdf_text(pdf, settings.fax_spool))
    assert "Prior authorization denied" in letter
    assert "on or before the planned service date" not in letter
    assert "not available for this member's plan; an appeal is" in letter
    assert "may appeal to" in letter
    refused = reconsider(client, denied["id"])
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["code"] == "RECONSIDERATION_LINE_OF_BUSINESS"
    assert "medicare_advantage" in problem["detail"]
    assert "only to commercial members" in problem["detail"]
    assert "appeal" in problem["detail"]
    after = client.get(f"/cases/{denied['id']}").json()
    assert after["status"] == "denied"
    assert len(after["events"]) == len(denied["events"])  # nothing recorded


def test_the_second_plans_commercial_member_may_ask(client):
    denied = denied_case(client, member=SECOND_PLAN_COMMERCIAL, payer_id="SHP01")
    response = reconsider(client, denied["id"])
    assert response.status_code == 200, response.text
    assert response.json()["determination"]["reason"]["plan_rule"] == (
        "second-plan-oncology:reconsideration"
    )


def test_reconsideration_is_asked_on_or_before_the_service_date_where_the_provider_is(
    client, clock
):
    denied = denied_case(client)  # service date 2026-12-01; the provider's default zone: New York
    # 04:00 UTC on December 2 is still December 1 (23:00) in New York: allowed.
    clock.now = datetime(2026, 12, 2, 4, 0, tzinfo=UTC)
    other = denied_case(client, request_id="other")
    assert reconsider(client, other["id"]).status_code == 200
    # 06:00 UTC is 01:00 on December 2 there: the service date has passed.
    clock.now = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
    late = reconsider(client, denied["id"])
    assert late.status_code == 422
    assert late.json()["code"] == "RECONSIDERATION_AFTER_SERVICE_DATE"
    assert "2026-12-01" in late.json()["detail"]
    assert "2026-12-02" in late.json()["detail"]


def test_an_upheld_reconsideration_is_a_denial_letter_and_leaves_only_an_appeal(client):
    denied = denied_case(client)
    assert reconsider(client, denied["id"]).status_code == 200
    incomplete = decide(client, denied["id"], "upheld", rationale="still not supported")
    assert incomplete.status_code == 422
    upheld = decide(
        client, denied["id"], "upheld", **{k: DENIAL[k] for k in ("rationale", "guideline")}
    )
    assert upheld.status_code == 200, upheld.text
    case = upheld.json()
    assert case["status"] == "denied"
    assert case["determination"]["appeal"]["reconsideration_allowed"] is False
    assert ("fax", "denial") in {(j["kind"], j["letter"]) for j in case["jobs"]}
    again = reconsider(client, denied["id"])
    assert again.status_code == 422
    assert again.json()["code"] == "RECONSIDERATION_ALREADY_MADE"


def test_only_a_denied_case_is_reconsidered_and_only_by_who_may_read_it(
    client, core, auth_settings
):
    approved = submit(client, jane_doe_request())
    refused = reconsider(client, approved["id"])
    assert refused.status_code == 409
    assert refused.json()["code"] == "RECONSIDERATION_NOT_DENIED"
    denied = denied_case(client)
    stranger = bearer(core, auth_settings, "sample-clearinghouse")
    assert reconsider(client, denied["id"], headers=stranger).status_code == 404
    assert reconsider(client, denied["id"], body={"reason": "x", "facts": {}}).status_code == 422
    # A reconsideration decision needs a case re-opened by one.
    assert decide(client, denied["id"], "overturned").status_code == 409
