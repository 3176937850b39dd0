"""Alternative recommendations through the real HTTP app (issue 12 item 2): a reviewer offers
another pathway row for a pended case; the provider accepts it (a modified approval, A6, with an
authorization number, letters naming the regimen approved instead) or declines it to ask for
reconsideration of the original request (back to a reviewer). Clock frozen at tests.conftest.NOW.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from gateway.store.models import OutboxJobRow
from tests.conftest import bearer, jane_doe_request
from tests.fhir.test_pas_changes import case_id_of, update_of
from tests.notify.conftest import normalized, pdf_text
from tests.subscriber import active_subscription, loopback_endpoint
from tests.test_fhir_routes import item_actions, load
from tests.test_fhir_routes import submit as submit_pas
from tests.test_peer_to_peer import MEDICARE_MEMBER, p2p_request, spooled_faxes, submit
from tests.x12.helpers import sample
from tests.x12.test_changes import ORIGINAL, case_of, change, event_section, post

OFFER = {
    "reviewer": "dr-avery-lin",
    "pathway_row": "breast:her2neg-ddact",
    "rationale": "ddAC-T is the program's preferred regimen for HER2-negative early disease",
}


def offer(client, case_id: str, body: dict = OFFER, **kwargs):
    return client.post(f"/cases/{case_id}/alternative", json=body, **kwargs)


def offered_case(client, **changes: object) -> dict:
    case = submit(client, p2p_request(**changes))
    assert case["status"] == "pended"
    response = offer(client, case["id"])
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.store
def test_an_offered_alternative_accepted_is_a_modified_approval_for_it(client, core, auth_settings):
    case = offered_case(client)
    determination = case["determination"]
    assert case["status"] == "pended"
    assert determination["review_action"] == "A4"
    assert determination["reason"]["code"] == "ALTERNATIVE_OFFERED"
    assert determination["alternative"]["state"] == "offered"
    assert determination["alternative"]["codes"] == ["J9000", "J9070", "J9267"]
    # Three business days: Thanksgiving (2026-11-26) is not one.
    assert determination["alternative"]["respond_by"].startswith("2026-11-27")
    assert "Dose-dense AC" in determination["reason"]["text"]

    practice = bearer(core, auth_settings, "sample-oncology-ehr")
    response = client.post(f"/cases/{case['id']}/alternative/accept", headers=practice)
    assert response.status_code == 200, response.text
    approved = response.json()
    determination = approved["determination"]
    assert approved["status"] == "modified"
    assert determination["review_action"] == "A6"
    assert determination["auth_number"] == "ONC" + case["id"].removeprefix("PA")
    assert determination["pathway_regimen"] == "breast:her2neg-ddact"
    assert determination["reason"]["code"] == "ALTERNATIVE_ACCEPTED"
    assert "instead of the requested J9171, J9070" in determination["reason"]["text"]
    assert {line["review_action"] for line in determination["lines"]} == {"A6"}
    assert determination["alternative"]["state"] == "accepted"
    assert determination["period_start"] == "2026-12-01"
    kinds = {(job["kind"], job.get("letter")) for job in approved["jobs"]}
    assert ("fax", "approval") in kinds
    assert any(job["kind"] == "payer_feed" for job in approved["jobs"])
    # Answered once: a second answer finds no standing offer.
    again = client.post(f"/cases/{case['id']}/alternative/decline", headers=practice)
    assert again.status_code == 409
    assert again.json()["code"] == "ALTERNATIVE_NOT_OFFERED"


def test_a_declined_alternative_goes_back_to_a_reviewer_for_the_original(client):
    case = offered_case(client)
    response = client.post(
        f"/cases/{case['id']}/alternative/decline", json={"notes": "TC: cardiac history"}
    )
    assert response.status_code == 200, response.text
    reopened = response.json()
    determination = reopened["determination"]
    assert reopened["status"] == "pended"
    assert determination["pend_kind"] == "clinical_review"
    assert determination["reason"]["code"] == "ALTERNATIVE_DECLINED"
    assert determination["pathway_regimen"] == "breast:her2neg-tc"
    assert determination["alternative"]["state"] == "declined"
    assert determination["due_by"].startswith("2026-11-25")  # two business days from now
    assert "TC: cardiac history" in reopened["case"]["facts"]["notes"]
    # The reviewer decides the original request.
    decided = client.post(
        f"/cases/{case['id']}/determination",
        json={"reviewer": "dr-avery-lin", "decision": "approve"},
    )
    assert decided.json()["status"] == "approved"


def test_offers_are_refused_with_the_reason(client, core, auth_settings):
    case = submit(client, p2p_request())
    unknown = offer(client, case["id"], {**OFFER, "pathway_row": "breast:no-such-row"})
    assert unknown.status_code == 422
    assert unknown.json()["code"] == "ALTERNATIVE_UNKNOWN_ROW"
    other = offer(client, case["id"], {**OFFER, "pathway_row": "lung:nsclc-carbo-pem"})
    assert other.status_code == 422
    same = offer(client, case["id"], {**OFFER, "pathway_row": "breast:her2neg-tc"})
    assert same.status_code == 422
    assert same.json()["code"] == "ALTERNATIVE_SAME_REGIMEN"
    # Only reviewers offer; a provider may not.
    practice = bearer(core, auth_settings, "sample-oncology-ehr")
    assert offer(client, case["id"], headers=practice).status_code == 403
    # An approved case takes no offer; nor does a case without one take an answer.
    approved = submit(client, jane_doe_request(request_id="approved"))
    assert offer(client, approved["id"]).status_code == 409
    assert client.post(f"/cases/{case['id']}/alternative/accept").status_code == 409


def test_the_second_plans_medicare_denial_needs_a_specific_reason(client):
    """CMS-0057-F: a specific reason on every denial of the Medicare Advantage line."""
    case = submit(client, p2p_request(member=MEDICARE_MEMBER, payer_id="SHP01"))
    denial = {
        "reviewer": "dr-avery-lin",
        "decision": "deny",
        "rationale": "Not medically necessary.",
        "guideline": "Sample oncology pathway, breast v1",
    }
    refused = client.post(f"/cases/{case['id']}/determination", json=denial)
    assert refused.status_code == 422
    assert "CMS-0057-F" in refused.json()["detail"]
    assert "not a specific reason" in refused.json()["detail"]
    assert client.get(f"/cases/{case['id']}").json()["status"] == "pended"
    specific = {
        **denial,
        "reason_code": "0U",
        "rationale": "TC is not supported after prior anthracycline exposure documented 2025-06.",
    }
    denied = client.post(f"/cases/{case['id']}/determination", json=specific)
    assert denied.status_code == 200, denied.text
    assert denied.json()["determination"]["reason"]["x12_reason"] == "0U"
    # A commercial member's denial may be worded as the reviewer likes (the plan's own rule).
    other = submit(client, p2p_request(request_id="commercial"))
    assert client.post(f"/cases/{other['id']}/determination", json=denial).status_code == 200


# -- the answer through the channels ---------------------------------------------------------


def _x12_case(client) -> str:
    """The pended TC request sent as a 278 (the clearinghouse), and its case id."""
    body = post(client, sample("278-tc-jane-doe.x12"))
    assert "HCR*A4" in body
    return client.get("/cases", params={"status": "pended"}).json()["cases"][0]["id"]


@pytest.mark.store
def test_an_x12_revision_naming_the_alternative_accepts_it_and_is_answered_a6(client):
    case_id = _x12_case(client)
    assert offer(client, case_id).status_code == 201
    auth = "ONC" + case_id.removeprefix("PA")
    # UM02 S naming the pended request (REF*BB), with the alternative's drugs (ddAC-T).
    body = post(client, change(ORIGINAL, um02="S", n=41, reference=auth))
    assert f"HCR*A6*{auth}" in body
    assert f"REF*BB*{auth}~" in event_section(body)
    stored = case_of(client, case_id)
    assert stored["status"] == "modified"
    assert stored["determination"]["alternative"]["state"] == "accepted"
    assert stored["determination"]["alternative"]["via"] == "change:S"
    assert stored["determination"]["pathway_regimen"] == "breast:her2neg-ddact"
    # What is authorized is the alternative's drugs the revision names, each line A6.
    lines = stored["determination"]["lines"]
    assert [(line["code"], line["review_action"]) for line in lines] == [
        ("J9000", "A6"),
        ("J9070", "A6"),
        ("J9267", "A6"),
    ]
    assert [line["code"] for line in stored["case"]["service_lines"]] == ["J9000", "J9070", "J9267"]


@pytest.mark.store
def test_a_rest_acceptance_of_an_x12_case_reaches_the_submitters_mailbox(client):
    case_id = _x12_case(client)
    assert offer(client, case_id).status_code == 201
    accepted = client.post(f"/cases/{case_id}/alternative/accept").json()
    assert accepted["status"] == "modified"
    followups = [job for job in accepted["jobs"] if job["kind"] == "x12_followup"]
    assert len(followups) == 1  # the offer (still pended) sent none; the approval one


def test_an_x12_revision_with_the_drugs_first_asked_for_declines_it(client):
    case_id = _x12_case(client)
    assert offer(client, case_id).status_code == 201
    auth = "ONC" + case_id.removeprefix("PA")
    body = post(client, change(sample("278-tc-jane-doe.x12"), um02="S", n=42, reference=auth))
    assert "HCR*A4" in body
    stored = case_of(client, case_id)
    assert stored["status"] == "pended"
    assert stored["determination"]["reason"]["code"] == "ALTERNATIVE_DECLINED"
    assert stored["determination"]["pend_kind"] == "clinical_review"


@pytest.mark.store
def test_a_pas_claim_update_with_the_alternative_accepts_it(client):
    tc = load("tc-her2neg.json")
    first = submit_pas(client, tc)
    assert set(item_actions(first.json())) == {"A4"}
    case_id = case_id_of(first)
    assert offer(client, case_id).status_code == 201
    claim_id = tc["entry"][0]["resource"]["identifier"][0]["value"]
    update = update_of(load("ddact-her2neg.json"), "ALT", claim_id, certification="S")
    answer = submit_pas(client, update)
    assert answer.status_code == 200, answer.text
    assert set(item_actions(answer.json())) == {"A6"}
    stored = case_of(client, case_id)
    assert stored["status"] == "modified"
    assert stored["determination"]["alternative"]["state"] == "accepted"


def test_the_letters_tell_the_offer_and_which_regimen_was_approved_instead(client, settings, clock):
    case = submit(client, p2p_request())
    clock.now += timedelta(hours=2)  # the reviewer offers later the same day
    assert offer(client, case["id"]).status_code == 201
    client.app.state.run_outbox_once()
    # The peer-to-peer letter of the first answer, then the one that tells the offer.
    pended = spooled_faxes(settings.fax_spool, f"{case['id']}:letter:ordering:pended")
    texts = [normalized(pdf_text(pdf, settings.fax_spool)) for _, pdf in pended]
    [offered_letter] = [text for text in texts if "An alternative regimen is offered" in text]
    assert len(texts) == 2
    assert "J9000, J9070, J9267" in offered_letter
    assert "reconsideration of the original request" in offered_letter
    client.post(f"/cases/{case['id']}/alternative/accept")
    client.app.state.run_outbox_once()
    [(_, pdf)] = spooled_faxes(settings.fax_spool, f"{case['id']}:letter:ordering:modified")
    letter = normalized(pdf_text(pdf, settings.fax_spool))
    assert "Approved instead of the regimen requested" in letter
    assert "in place of the regimen requested (J9171, J9070)" in letter
    assert "ONC" + case["id"].removeprefix("PA") in letter


@pytest.mark.store
def test_the_pas_subscriber_hears_of_the_acceptance_once_and_not_of_the_offer(client, core):
    with loopback_endpoint(core) as endpoint:
        active_subscription(client, endpoint)  # its handshake delivered: notified from now on
    case_id = case_id_of(submit_pas(client, load("tc-her2neg.json")))
    assert offer(client, case_id).status_code == 201
    assert client.post(f"/cases/{case_id}/alternative/accept").status_code == 200
    with core.sessions() as session:
        jobs = (
            session.query(OutboxJobRow)
            .filter(OutboxJobRow.case_id == case_id, OutboxJobRow.kind == "subscription")
            .all()
        )
    [notification] = jobs
    focus = notification.payload["body"]["entry"][1]["resource"]
    assert set(item_actions(focus)) == {"A6"}
