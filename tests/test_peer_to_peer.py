"""Peer to peer through the real HTTP app (issue 12, item 1): slots from the reviewers' hours in
the provider's time zone, bookings (double booking 409, past slot 422), reschedule and cancel,
the provider's faxed confirmation, and the reviewer's outcome under each plan's rules.

The clock is frozen at tests.conftest.NOW (Monday 2026-11-23 15:00 UTC, 10:00 in New York) and
moved by hand; mappings/reviewers.yaml gives the hours (dr-jordan-reyes, Chicago: Mondays
10:00-12:00; dr-avery-lin, New York: Mondays 13:00-16:00)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from gateway.store.db import writing
from gateway.store.models import PeerToPeerBookingRow
from tests.conftest import NOW, bearer, jane_doe_request
from tests.notify.conftest import normalized, pdf_text

AUSTIN = {"lines": ["100 CONGRESS AVE"], "city": "AUSTIN", "state": "TX", "postal_code": "78701"}
MEDICARE_MEMBER = {
    "member_id": "S9876543202",
    "last_name": "TESTER",
    "first_name": "TERRY",
    "birth_date": "1950-11-11",
    "gender": "female",
}
DENIAL = {
    "reviewer": "dr-avery-lin",
    "decision": "deny",
    "rationale": "Single-agent therapy is not supported for this presentation.",
    "guideline": "Sample oncology pathway, breast v1",
}


def p2p_request(**changes: object) -> dict:
    """A listed, non-preferred regimen (TC): pended for peer to peer; ordering office in Texas."""
    body = jane_doe_request(
        service_lines=[
            {"sequence": 1, "code": "J9171", "units": 4},
            {"sequence": 2, "code": "J9070", "units": 4},
        ],
        **changes,
    )
    body["ordering"]["address"] = AUSTIN
    return body


def submit(client, body: dict) -> dict:
    response = client.post("/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def denied_case(client, **changes: object) -> dict:
    """A custom regimen pended for clinical review, then denied by a reviewer."""
    pended = submit(
        client, jane_doe_request(service_lines=[{"sequence": 1, "code": "J9267"}], **changes)
    )
    response = client.post(f"/cases/{pended['id']}/determination", json=DENIAL)
    assert response.json()["status"] == "denied", response.text
    return response.json()


def book(client, case_id: str, slot: dict, **extra: object):
    return client.post(
        f"/cases/{case_id}/peer-to-peer",
        json={"reviewer_id": slot["reviewer_id"], "start": slot["start"], **extra},
    )


def spooled_faxes(fax_spool: Path, marker: str) -> list[tuple[dict, bytes]]:
    out = []
    for job_file in sorted(fax_spool.glob("fx-*/job.json")):
        job = json.loads(job_file.read_text())
        if marker in job["idempotency_key"]:
            out.append((job, (job_file.parent / "document.pdf").read_bytes()))
    return out


@pytest.mark.store
def test_pended_regimen_books_a_slot_in_the_provider_zone_and_a_reversal_approves_it(
    client, clock, settings, tmp_path
):
    case = submit(client, p2p_request())
    assert case["determination"]["pend_kind"] == "peer_to_peer"

    listed = client.get(f"/cases/{case['id']}/peer-to-peer/slots")
    assert listed.status_code == 200, listed.text
    slots = listed.json()
    # The ordering office is in Austin: slots are shown in Central time, with the offset.
    assert slots["time_zone"] == "America/Chicago"
    assert slots["time_zone_source"] == "provider"
    assert slots["mode"] == "decisive"
    assert slots["phone"] == "(800) 555-0110"
    first = slots["slots"][0]
    # NOW + 2 hours' notice is 11:00 in Chicago; dr-jordan-reyes works 10:00-12:00 there.
    assert first == {
        "reviewer_id": "dr-jordan-reyes",
        "reviewer": "Jordan Reyes, DO",
        "specialty": "Hematology and oncology",
        "start": "2026-11-23T11:00:00-06:00",
        "end": "2026-11-23T11:30:00-06:00",
    }
    # dr-avery-lin's 13:00 in New York is noon in Chicago.
    assert any(
        s["reviewer_id"] == "dr-avery-lin" and s["start"] == "2026-11-23T12:00:00-06:00"
        for s in slots["slots"]
    )
    # Thanksgiving (an exception in reviewers.yaml) has no slots.
    assert not any(s["start"].startswith("2026-11-26") for s in slots["slots"])

    booked = book(client, case["id"], first)
    assert booked.status_code == 201, booked.text
    booking = booked.json()
    assert booking["state"] == "booked"
    assert booking["when"] == "Monday, November 23, 2026 at 11:00 AM CST"
    assert first not in client.get(f"/cases/{case['id']}/peer-to-peer/slots").json()["slots"]

    # The ordering provider's confirmation: faxed, with its own time and the number to call.
    client.app.state.run_outbox_once()
    faxes = spooled_faxes(settings.fax_spool, ":p2p:")
    assert len(faxes) == 1
    job, pdf = faxes[0]
    assert job["number"] == "5555550101"
    text = normalized(pdf_text(pdf, tmp_path))
    for fact in (
        "Peer-to-peer conversation scheduled",
        "Monday, November 23, 2026 at 11:00 AM CST",
        "America/Chicago",
        "(800) 555-0110",
        "Jordan Reyes, DO",
        case["id"],
    ):
        assert fact in text, fact

    # The outcome is the reviewer's, once the call has taken place.
    outcome = {"outcome": "approved", "rationale": "Cardiac history: TC over an anthracycline."}
    early = client.post(f"/cases/{case['id']}/peer-to-peer/{booking['id']}/outcome", json=outcome)
    assert early.status_code == 409
    assert "once the call has taken place" in early.json()["detail"]
    clock.now = datetime.fromisoformat(first["start"]) + timedelta(minutes=20)
    done = client.post(f"/cases/{case['id']}/peer-to-peer/{booking['id']}/outcome", json=outcome)
    assert done.status_code == 200, done.text
    result = done.json()
    assert result["status"] == "approved"
    assert result["determination"]["auth_number"] == "ONC" + case["id"].removeprefix("PA")
    assert result["determination"]["decided_by"] == "dr-jordan-reyes"
    assert result["booking"]["state"] == "completed"
    assert result["booking"]["outcome"] == "approved"
    kinds = [e["detail"].get("peer_to_peer") for e in result["events"]]
    assert kinds == [None, "booked", None, "approved"]
    # The approval goes out as any determination: letters and the payer feed.
    letters = {(j["kind"], j["letter"]) for j in result["jobs"]}
    assert ("fax", "approval") in letters
    assert any(j["kind"] == "payer_feed" for j in result["jobs"])


def test_tz_parameter_shows_slots_in_that_zone_and_an_unknown_zone_is_refused(client):
    case = submit(client, p2p_request())
    listed = client.get(
        f"/cases/{case['id']}/peer-to-peer/slots", params={"tz": "America/Los_Angeles"}
    ).json()
    assert listed["time_zone"] == "America/Los_Angeles"
    assert listed["time_zone_source"] == "requested"
    assert listed["slots"][0]["start"] == "2026-11-23T09:00:00-08:00"
    refused = client.get(f"/cases/{case['id']}/peer-to-peer/slots", params={"tz": "Mars/Olympus"})
    assert refused.status_code == 422
    assert "Mars/Olympus" in refused.json()["detail"]


@pytest.mark.store
def test_a_double_booking_is_409_and_a_past_or_unlisted_slot_is_422(client):
    first = submit(client, p2p_request())
    second = submit(client, p2p_request(request_id="second"))
    slot = client.get(f"/cases/{first['id']}/peer-to-peer/slots").json()["slots"][0]
    assert book(client, first["id"], slot).status_code == 201
    taken = book(client, second["id"], slot)
    assert taken.status_code == 409
    assert taken.json()["error"] == "slot taken"
    # The same instant written in another offset is the same slot.
    utc = datetime.fromisoformat(slot["start"]).astimezone().isoformat()
    assert book(client, second["id"], {**slot, "start": utc}).status_code == 409
    # One booking at a time per case.
    other = client.get(f"/cases/{first['id']}/peer-to-peer/slots").json()["slots"][0]
    again = book(client, first["id"], other)
    assert again.status_code == 409
    assert "reschedule or cancel" in again.json()["detail"]

    past = book(client, second["id"], {**slot, "start": "2026-11-20T10:00:00-05:00"})
    assert past.status_code == 422
    assert "in the past" in past.json()["detail"]
    off_hours = book(client, second["id"], {**slot, "start": "2026-11-24T03:00:00-06:00"})
    assert off_hours.status_code == 422
    assert "not one of" in off_hours.json()["detail"]
    naive = book(client, second["id"], {**slot, "start": "2026-11-24T10:00:00"})
    assert naive.status_code == 422
    assert "offset" in naive.json()["detail"]
    nobody = book(client, second["id"], {"reviewer_id": "dr-nobody", "start": slot["start"]})
    assert nobody.status_code == 422


@pytest.mark.store
def test_the_database_refuses_a_double_booking_too(client, core):
    case = submit(client, p2p_request())
    start = NOW + timedelta(days=1)

    def row(case_id: str) -> PeerToPeerBookingRow:
        return PeerToPeerBookingRow(
            case_id=case_id,
            reviewer_id="dr-avery-lin",
            slot_start=start,
            slot_end=start + timedelta(minutes=30),
            held_start=start,
            state="booked",
            mode="decisive",
            provider_time_zone="America/New_York",
            booked_by="test",
            created_at=NOW,
            updated_at=NOW,
        )

    with writing(core.sessions) as session:
        session.add(row(case["id"]))
    with pytest.raises(IntegrityError), writing(core.sessions) as session:
        session.add(row(case["id"]))
        session.flush()
    # A cancelled booking holds no slot (NULL): the slot can be booked again.
    with writing(core.sessions) as session:
        cancelled = row(case["id"])
        cancelled.held_start, cancelled.state = None, "cancelled"
        session.add(cancelled)


@pytest.mark.store
def test_reschedule_moves_the_call_and_cancel_frees_the_slot(client, settings):
    case = submit(client, p2p_request())
    slots = client.get(f"/cases/{case['id']}/peer-to-peer/slots").json()["slots"]
    booking = book(client, case["id"], slots[0]).json()

    later = slots[3]
    moved = client.put(
        f"/cases/{case['id']}/peer-to-peer/{booking['id']}",
        json={"start": later["start"], "reviewer_id": later["reviewer_id"]},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["start"] == later["start"]
    assert moved.json()["reviewer"]["id"] == later["reviewer_id"]
    free = client.get(f"/cases/{case['id']}/peer-to-peer/slots").json()["slots"]
    assert slots[0] in free and later not in free
    past = client.put(
        f"/cases/{case['id']}/peer-to-peer/{booking['id']}",
        json={"start": "2026-11-01T10:00:00-05:00"},
    )
    assert past.status_code == 422

    cancelled = client.delete(f"/cases/{case['id']}/peer-to-peer/{booking['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert later in client.get(f"/cases/{case['id']}/peer-to-peer/slots").json()["slots"]
    assert client.delete(f"/cases/{case['id']}/peer-to-peer/{booking['id']}").status_code == 409
    assert client.delete(f"/cases/{case['id']}/peer-to-peer/999").status_code == 404

    client.app.state.run_outbox_once()
    letters = [
        normalized(pdf_text(pdf, settings.fax_spool))
        for _, pdf in spooled_faxes(settings.fax_spool, ":p2p:")
    ]
    assert len(letters) == 3  # booked, moved, cancelled
    assert sum("Peer-to-peer conversation moved" in text for text in letters) == 1
    assert sum("Peer-to-peer conversation cancelled" in text for text in letters) == 1
    history = [
        e["detail"].get("peer_to_peer") for e in client.get(f"/cases/{case['id']}").json()["events"]
    ]
    assert history == [None, "booked", "rescheduled", "cancelled"]


def test_a_commercial_denial_can_be_reversed_by_a_peer_to_peer(client, clock):
    denied = denied_case(client)
    slots = client.get(f"/cases/{denied['id']}/peer-to-peer/slots").json()
    assert slots["mode"] == "decisive"
    booking = book(client, denied["id"], slots["slots"][0]).json()
    clock.now = datetime.fromisoformat(booking["start"]) + timedelta(minutes=30)
    result = client.post(
        f"/cases/{denied['id']}/peer-to-peer/{booking['id']}/outcome",
        json={"outcome": "approved", "rationale": "Prior anthracycline exposure documented."},
    ).json()
    assert result["status"] == "approved"
    assert result["determination"]["auth_number"].startswith("ONC")
    statuses = [(e["from_status"], e["to_status"]) for e in result["events"]]
    assert ("denied", "pended") in statuses and ("pended", "approved") in statuses
    reopened = next(e for e in result["events"] if e["to_status"] == "pended" and e["from_status"])
    assert reopened["detail"]["reason_code"] == "PEER_TO_PEER_REVERSAL"


def test_second_plan_medicare_peer_to_peer_is_a_consultation_that_cannot_overturn(client, clock):
    denied = denied_case(client, member=MEDICARE_MEMBER, payer_id="SHP01")
    slots = client.get(f"/cases/{denied['id']}/peer-to-peer/slots").json()
    assert slots["mode"] == "consultative"
    assert "cannot overturn" in slots["mode_reason"]
    assert slots["phone"] == "(800) 555-0210"
    # Only the second plan's reviewers take its calls.
    assert {s["reviewer_id"] for s in slots["slots"]} <= {"dr-avery-lin", "dr-morgan-patel"}
    booking = book(client, denied["id"], slots["slots"][0]).json()
    assert booking["mode"] == "consultative"
    clock.now = datetime.fromisoformat(booking["start"]) + timedelta(minutes=30)
    url = f"/cases/{denied['id']}/peer-to-peer/{booking['id']}/outcome"
    refused = client.post(url, json={"outcome": "approved", "rationale": "convinced"})
    assert refused.status_code == 422
    assert refused.json()["code"] == "P2P_CONSULTATIVE_ONLY"
    assert "cannot overturn" in refused.json()["detail"]
    consulted = client.post(url, json={"outcome": "consultative", "notes": "Discussed options."})
    assert consulted.status_code == 200, consulted.text
    assert consulted.json()["status"] == "denied"
    assert consulted.json()["booking"]["outcome"] == "consultative"


def test_after_a_reconsideration_a_peer_to_peer_is_consultative_only(client):
    denied = denied_case(client)
    client.post(
        f"/cases/{denied['id']}/reconsideration",
        json={"reason": "new imaging", "facts": {"ecog": 1}},
    )
    upheld = client.post(
        f"/cases/{denied['id']}/reconsideration/decision",
        json={
            "reviewer": "dr-avery-lin",
            "outcome": "upheld",
            **{k: DENIAL[k] for k in ("rationale", "guideline")},
        },
    )
    assert upheld.json()["status"] == "denied"
    slots = client.get(f"/cases/{denied['id']}/peer-to-peer/slots").json()
    assert slots["mode"] == "consultative"
    assert "exhausted" in slots["mode_reason"]


def test_peer_to_peer_is_offered_only_when_pended_for_it_or_after_a_denial(client):
    approved = submit(client, jane_doe_request())
    refused = client.get(f"/cases/{approved['id']}/peer-to-peer/slots")
    assert refused.status_code == 409
    assert refused.json()["code"] == "P2P_NOT_OFFERED"
    review = submit(client, jane_doe_request(service_lines=[{"sequence": 1, "code": "J9267"}]))
    assert client.get(f"/cases/{review['id']}/peer-to-peer/slots").status_code == 409
    assert client.get("/cases/PA2699999999/peer-to-peer/slots").status_code == 404


def test_another_partner_sees_no_case_and_only_reviewers_record_outcomes(
    client, core, auth_settings
):
    case = submit(client, p2p_request())
    slot = client.get(f"/cases/{case['id']}/peer-to-peer/slots").json()["slots"][0]
    stranger = bearer(core, auth_settings, "sample-clearinghouse")
    assert (
        client.get(f"/cases/{case['id']}/peer-to-peer/slots", headers=stranger).status_code == 404
    )
    assert (
        book(
            client,
            case["id"],
            slot,
        ).status_code
        == 201
    )
    # The practice whose NPI is on the case may see and book, but not record the outcome.
    practice = bearer(core, auth_settings, "sample-oncology-ehr")
    listed = client.get(f"/cases/{case['id']}/peer-to-peer", headers=practice)
    assert listed.status_code == 200
    booking_id = listed.json()["bookings"][0]["id"]
    outcome = client.post(
        f"/cases/{case['id']}/peer-to-peer/{booking_id}/outcome",
        json={"outcome": "approved"},
        headers=practice,
    )
    assert outcome.status_code == 403


def test_an_opted_in_provider_also_gets_an_email_and_an_unknown_fax_a_mailed_letter(
    client, settings
):
    body = p2p_request()
    body["ordering"].update(fax=None, email="scheduling@practice.example", email_opt_in=True)
    case = submit(client, body)
    slot = client.get(f"/cases/{case['id']}/peer-to-peer/slots").json()["slots"][0]
    assert book(client, case["id"], slot).status_code == 201
    jobs = client.get(f"/cases/{case['id']}").json()["jobs"]
    confirmations = [j for j in jobs if j["letter"] == "peer_to_peer_scheduled"]
    assert [j["kind"] for j in confirmations] == ["provider_mail"]
    client.app.state.run_outbox_once()
    messages = [
        message_from_bytes(path.read_bytes(), policy=policy.default).get_body().get_content()
        for path in (settings.mail_dir / "new").iterdir()
    ]
    scheduled = [text for text in messages if "Peer-to-peer call booked" in text]
    assert len(scheduled) == 1
    assert "Monday, November 23, 2026 at 11:00 AM CST (America/Chicago)" in scheduled[0]
    assert "Call (800) 555-0110" in scheduled[0]
    assert "JANE" not in scheduled[0].upper().replace("JANUARY", "")  # no member data


def test_upheld_on_a_pended_case_is_a_denial_that_states_its_guideline(client, clock):
    case = submit(client, p2p_request())
    slot = client.get(f"/cases/{case['id']}/peer-to-peer/slots").json()["slots"][0]
    booking = book(client, case["id"], slot).json()
    # Moving a call onto the slot it holds is no double booking.
    same = client.put(
        f"/cases/{case['id']}/peer-to-peer/{booking['id']}", json={"start": slot["start"]}
    )
    assert same.status_code == 200, same.text
    clock.now = datetime.fromisoformat(slot["start"]) + timedelta(minutes=30)
    url = f"/cases/{case['id']}/peer-to-peer/{booking['id']}/outcome"
    incomplete = client.post(url, json={"outcome": "upheld", "rationale": "Not supported."})
    assert incomplete.status_code == 422
    assert "guideline" in incomplete.json()["detail"]
    assert client.get(f"/cases/{case['id']}").json()["status"] == "pended"
    upheld = client.post(
        url,
        json={"outcome": "upheld", "rationale": "Not supported.", "guideline": "Pathway v1"},
    )
    assert upheld.status_code == 200, upheld.text
    result = upheld.json()
    assert result["status"] == "denied"
    assert result["determination"]["guideline"] == "Pathway v1"
    assert ("fax", "denial") in {(j["kind"], j["letter"]) for j in result["jobs"]}
    # The call is done: its outcome cannot be recorded twice.
    assert client.post(url, json={"outcome": "consultative"}).status_code == 409
