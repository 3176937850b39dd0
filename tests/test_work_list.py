"""The work list and the worker's clock through the real app (issue 12 item 6): every open
obligation is a due item `GET /cases?due_before=...` lists, under the same isolation as the case
list, a pending hospital discharge first, then expedited cases; the worker's clock escalates an
overdue review once, however often it ticks. Clock frozen at tests.conftest.NOW (a Monday)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from gateway.wiring import clock_tick
from tests.conftest import NOW, bearer, jane_doe_request
from tests.test_peer_to_peer import MEDICARE_MEMBER, book, p2p_request, submit

WEEK_AHEAD = (NOW + timedelta(days=7)).isoformat()


def work_list(client, before: str = WEEK_AHEAD, **kwargs) -> list[dict]:
    response = client.get("/cases", params={"due_before": before}, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.store
def test_the_work_list_names_every_open_obligation_in_order_with_its_zone(client):
    pended = submit(client, p2p_request())  # Austin office, listed regimen: peer to peer
    held = submit(
        client,
        jane_doe_request(request_id="held", diagnoses=[{"code": "C50.911", "primary": True}]),
    )
    assert held["status"] == "held"
    urgent = submit(
        client,
        p2p_request(
            request_id="urgent",
            urgency="urgent",
            attachments=[{"filename": "notes.pdf", "content_type": "application/pdf"}],
        ),
    )
    discharge = submit(
        client, p2p_request(request_id="discharge", facts={"hospital_discharge_pending": True})
    )
    approved = submit(client, jane_doe_request(request_id="approved"))
    assert approved["status"] == "approved"

    items = work_list(client)
    by_case = {(item["case_id"], item["kind"]): item for item in items}
    # First the discharge, then the expedited case, then the rest by due time.
    assert [item["case_id"] for item in items[:2]] == [discharge["id"], urgent["id"]]
    assert items[0]["priority"] == "discharge_pending"
    assert items[1]["priority"] == "expedited"
    review = by_case[(pended["id"], "review_due")]
    assert review == {
        "case_id": pended["id"],
        "kind": "review_due",
        "due_at": "2026-11-25T09:00:00-06:00",  # two business days, in the office's zone
        "time_zone": "America/Chicago",
        "status": "pended",
        "program": "CHEMO",
        "priority": "standard",
        "detail": "decision due (peer_to_peer)",
    }
    hold = by_case[(held["id"], "hold_due")]
    assert hold["time_zone"] == "America/New_York"
    assert hold["due_at"].endswith("-05:00")
    assert "her2_status" in hold["detail"]
    # The approval's end is months away: not before next week, listed with a later bound.
    assert (approved["id"], "approval_expiry") not in by_case
    later = work_list(client, "2028-01-01T00:00:00+00:00")
    assert (approved["id"], "approval_expiry") in {(i["case_id"], i["kind"]) for i in later}
    # A booked call is a due item in the zone it was booked in.
    slot = client.get(f"/cases/{pended['id']}/peer-to-peer/slots").json()["slots"][0]
    assert book(client, pended["id"], slot).status_code == 201
    calls = [i for i in work_list(client) if i["kind"] == "peer_to_peer"]
    assert [(c["case_id"], c["due_at"]) for c in calls] == [(pended["id"], slot["start"])]


def test_a_partner_sees_only_its_own_due_items_and_a_time_needs_its_offset(
    client, core, auth_settings
):
    case = submit(client, p2p_request())
    clearinghouse = bearer(core, auth_settings, "sample-clearinghouse")
    assert work_list(client, headers=clearinghouse) == []
    practice = bearer(core, auth_settings, "sample-oncology-ehr")
    assert case["id"] in {i["case_id"] for i in work_list(client, headers=practice)}
    naive = client.get("/cases", params={"due_before": "2026-11-30T00:00:00"})
    assert naive.status_code == 422
    assert "offset" in naive.json()["detail"]
    assert client.get("/cases", params={"due_before": "next week"}).status_code == 422


def test_the_second_plans_medicare_advantage_line_follows_cms_0057_f(client):
    # Held (HER2 status missing): the program's five business days end 2026-12-01 over
    # Thanksgiving; CMS-0057-F's seven calendar days end sooner.
    body = jane_doe_request(
        member=MEDICARE_MEMBER,
        payer_id="SHP01",
        diagnoses=[{"code": "C50.911", "primary": True}],
    )
    held = submit(client, body)
    assert held["status"] == "held"
    assert held["determination"]["due_by"].startswith("2026-11-30T15:00")
    commercial = submit(
        client,
        jane_doe_request(
            request_id="commercial",
            member={
                "member_id": "S9876543201",
                "last_name": "SAMPLE",
                "first_name": "SAM",
                "birth_date": "1966-07-21",
                "gender": "male",
            },
            payer_id="SHP01",
            diagnoses=[{"code": "C50.911", "primary": True}],
        ),
    )
    assert commercial["determination"]["due_by"].startswith("2026-12-01T15:00")
    review = [
        i
        for i in work_list(client, "2026-12-15T00:00:00+00:00")
        if i["case_id"] == held["id"] and i["kind"] == "review_due"
    ]
    assert review and "decision due" in review[0]["detail"]


@pytest.mark.store
def test_the_clock_escalates_an_overdue_review_once(client, core, clock, caplog):
    case = submit(client, p2p_request())
    tick = clock_tick(core)
    tick(NOW)  # nothing is overdue yet
    assert not [e for e in client.get(f"/cases/{case['id']}").json()["events"] if _escalation(e)]
    overdue = datetime(2026, 11, 25, 16, 0, tzinfo=UTC)  # an hour past the review due time
    clock.now = overdue
    with caplog.at_level("WARNING", logger="gateway.store.work_list"):
        tick(overdue)
        tick(overdue + timedelta(minutes=5))
        tick(overdue + timedelta(hours=1))
    events = [e for e in client.get(f"/cases/{case['id']}").json()["events"] if _escalation(e)]
    assert len(events) == 1
    [event] = events
    assert event["actor"] == "gateway:clock"
    assert event["from_status"] == event["to_status"] == "pended"
    assert "2026-11-25T09:00:00-06:00" in event["reason"]
    assert event["detail"]["escalation"] == "review_due"
    warnings = [r for r in caplog.records if r.getMessage() == "overdue item escalated"]
    assert [getattr(r, "case_id", None) for r in warnings] == [case["id"]]
    # The case itself is still the reviewer's to decide; the work list still lists it.
    assert client.get(f"/cases/{case['id']}").json()["status"] == "pended"


def _escalation(event: dict) -> bool:
    return bool((event.get("detail") or {}).get("escalation"))


def test_the_work_list_filters_by_status_too(client):
    pended = submit(client, p2p_request())
    held = submit(
        client,
        jane_doe_request(request_id="held", diagnoses=[{"code": "C50.911", "primary": True}]),
    )
    response = client.get("/cases", params={"due_before": WEEK_AHEAD, "status": "held"})
    assert response.status_code == 200, response.text
    assert {item["case_id"] for item in response.json()} == {held["id"]}
    assert pended["id"] in {item["case_id"] for item in work_list(client)}
