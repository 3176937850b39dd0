"""REST edge behaviour (issue 17): an eligibility look-up without a date asks about today, an
unknown filter value is a 422 that names the allowed ones, and a member not eligible on the
date is answered as such with no program listed as "not required"."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.conftest import NOW

JANE = "U1234567801"  # covered from 2026-01-01, open-ended
RICHARD = "U1234567802"  # covered through 2025-12-31 only


def test_eligibility_without_a_date_is_today_in_the_plans_time_zone(client, clock):
    answer = client.get(f"/eligibility/{JANE}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["date"] == NOW.date().isoformat()
    assert answer.json()["eligible"] is True
    assert answer.json()["prior_authorization_required"]
    # 02:00 UTC on the 24th is still the evening of the 23rd in Hartford (the plan's zone).
    clock.now = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
    assert client.get(f"/eligibility/{JANE}").json()["date"] == "2026-11-23"
    # A date given is the date asked about; a malformed one is a 422 naming the parameter.
    assert client.get(f"/eligibility/{JANE}?date=2026-02-01").json()["date"] == "2026-02-01"
    refused = client.get(f"/eligibility/{JANE}?date=yesterday")
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["location"] == "query.date"


def test_an_ineligible_member_is_told_so_and_nothing_is_listed(client):
    answer = client.get(f"/eligibility/{RICHARD}?date=2026-11-23")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["eligible"] is False
    assert body["prior_authorization_required"] == []
    assert body["prior_authorization_not_required"] == []
    assert body["message"] == "Member is not eligible on 2026-11-23."
    # On a covered date the same member gets the per-program answer.
    covered = client.get(f"/eligibility/{RICHARD}?date=2025-06-01").json()
    assert covered["eligible"] is True and covered["prior_authorization_required"]


def test_an_unknown_status_filter_is_a_422_naming_the_allowed_values(client):
    refused = client.get("/cases?status=bogus")
    assert refused.status_code == 422
    body = refused.json()
    assert body["error"] == "invalid request"
    [issue] = body["detail"]
    assert issue["location"] == "query.status"
    for status in ("pended", "held", "approved", "denied"):
        assert status in issue["message"]
    assert client.get("/cases?status=pended").status_code == 200
