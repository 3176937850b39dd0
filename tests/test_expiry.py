"""The end of an approval through the real app and the worker's clock (issue 12 item 5): an
approval past its last day is marked expired (the case and the authorization lookup show it, the
payer feed carries a record); a one-time site-of-care approval makes the payer feed carry a
follow-up notice `site_of_care.follow_up_days_before_expiry` days (plan data: 7) before its
30 days end; both are due items another engineer's work list lists (appeal_due_items)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest

from gateway.store.appeals import appeal_due_items
from tests.conftest import jane_doe_request
from tests.test_peer_to_peer import submit

ORDERING_NPI = "1234567893"


def site_of_care_request() -> dict:
    """Drugs asked for at an on-campus hospital outpatient site (22): a one-time 30 days."""
    return jane_doe_request(
        place_of_service="22",
        diagnoses=[{"code": "C50.911", "primary": True}, {"code": "Z17.31"}],
        service_lines=[
            {"sequence": 1, "code": "J9171"},
            {"sequence": 2, "code": "J9045"},
            {"sequence": 3, "code": "Q5114"},
            {"sequence": 4, "code": "J9306"},
        ],
    )


def feed(settings, event: str) -> list[dict]:
    lines = []
    for path in sorted(settings.payer_feed_dir.glob("*/*.jsonl")):
        lines += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [line for line in lines if line.get("event") == event]


def new_york_morning(day: date) -> datetime:
    """09:00 in New York (14:00 UTC in winter, 13:00 in summer) on `day`."""
    from zoneinfo import ZoneInfo

    return datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo("America/New_York"))


@pytest.mark.store
def test_a_site_of_care_approval_produces_its_follow_up_notice_before_day_30(
    client, core, clock, settings
):
    case = submit(client, site_of_care_request())
    assert case["status"] == "modified"
    lines = {line["code"]: line for line in case["determination"]["lines"]}
    start = date.fromisoformat(lines["Q5114"]["period_start"])
    ends = date.fromisoformat(lines["Q5114"]["period_end"])
    assert ends - start == timedelta(days=30)
    notice_day = ends - timedelta(days=7)

    # The day before the notice is due, nothing is.
    clock.now = new_york_morning(notice_day - timedelta(days=1))
    assert [i for i in appeal_due_items(core, clock.now) if i.case_id == case["id"]] == []
    client.app.state.run_outbox_once()
    assert feed(settings, "site_of_care_follow_up") == []

    clock.now = new_york_morning(notice_day)
    [item] = [i for i in appeal_due_items(core, clock.now) if i.case_id == case["id"]]
    assert (item.kind, item.due_at.date()) == ("site_of_care_follow_up", notice_day)
    client.app.state.run_outbox_once()
    client.app.state.run_outbox_once()  # a second tick sends nothing twice
    [line] = feed(settings, "site_of_care_follow_up")
    assert line["case_id"] == case["id"]
    assert (line["follow_up_on"], line["expires_after"]) == (
        notice_day.isoformat(),
        ends.isoformat(),
    )
    assert date.fromisoformat(line["follow_up_on"]) < ends  # before day 30
    after = client.get(f"/cases/{case['id']}").json()
    assert after["status"] == "modified"  # a notice, not a change of the approval
    codes = [(e["detail"] or {}).get("reason_code") for e in after["events"]]
    assert codes.count("SITE_OF_CARE_FOLLOW_UP") == 1
    assert [i for i in appeal_due_items(core, clock.now) if i.case_id == case["id"]] == []


@pytest.mark.store
def test_an_approval_expires_after_its_last_day(client, core, clock, settings):
    case = submit(client, jane_doe_request())
    assert case["status"] == "approved"
    number = case["determination"]["auth_number"]
    last = date.fromisoformat(case["determination"]["period_end"])
    due = [i for i in appeal_due_items(core, new_york_morning(last)) if i.case_id == case["id"]]
    assert due == []
    # The expiry is due at midnight at the end of the last day, in the plan's zone.
    expiry_at = new_york_morning(last + timedelta(days=1)) - timedelta(hours=9)
    [item] = [i for i in appeal_due_items(core, expiry_at) if i.case_id == case["id"]]
    assert (item.kind, item.due_at) == ("expiry", expiry_at)
    assert item.as_dict()["due_at"] == expiry_at.isoformat()

    clock.now = new_york_morning(last)
    client.app.state.run_outbox_once()
    assert client.get(f"/cases/{case['id']}").json()["determination"]["expired_at"] is None

    clock.now = new_york_morning(last + timedelta(days=1))
    client.app.state.run_outbox_once()
    client.app.state.run_outbox_once()
    after = client.get(f"/cases/{case['id']}").json()
    assert after["status"] == "approved"  # what was authorized stays what it was
    assert after["determination"]["expired_at"] == clock.now.astimezone(UTC).isoformat().replace(
        "+00:00", "Z"
    )
    expiries = [j for j in after["jobs"] if j["feed_event"] == "expiry"]
    assert [(j["kind"], j["state"]) for j in expiries] == [("payer_feed", "delivered")]
    # No letter and no notice: the providers hold the period in their approval letter.
    assert len([j for j in after["jobs"] if j["letter"]]) == len(
        [j for j in case["jobs"] if j["letter"]]
    )
    [line] = feed(settings, "expiry")
    assert (line["auth_number"], line["period_end"]) == (number, last.isoformat())
    found = client.get(f"/authorizations/{number}", params={"npi": ORDERING_NPI}).json()
    assert found["expired"] is True
    assert found["period_end"] == last.isoformat()
    assert [i for i in appeal_due_items(core, clock.now) if i.case_id == case["id"]] == []


@pytest.mark.store
def test_an_appeal_due_from_the_payer_is_a_due_item(client, core, clock):
    from tests.test_peer_to_peer import denied_case

    denied = denied_case(client)
    appealed = client.post(
        f"/cases/{denied['id']}/appeal", json={"appellant": "member", "expedited": True}
    ).json()
    due_at = datetime.fromisoformat(appealed["determination"]["filed_appeal"]["due_at"])
    assert appeal_due_items(core, due_at - timedelta(minutes=1)) == []
    [item] = appeal_due_items(core, due_at)
    assert (item.case_id, item.kind, item.due_at) == (denied["id"], "appeal_due", due_at)
