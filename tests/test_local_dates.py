"""Retrospective windows count calendar days where the provider is, not in UTC (DOMAIN.md:
first plan within 30 calendar days of the service, second plan none)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gateway.domain.case import Address
from gateway.domain.local_dates import zone_of_address
from gateway.settings import REPO_ROOT
from tests.conftest import jane_doe_request

HARTFORD = {"lines": ["200 ELM STREET"], "city": "HARTFORD", "state": "CT", "postal_code": "06106"}
LOS_ANGELES = {
    "lines": ["1 GRAND AVE"],
    "city": "LOS ANGELES",
    "state": "CA",
    "postal_code": "90012",
}
SPRINGFIELD = {"lines": ["9 MAIN ST"], "city": "SPRINGFIELD", "state": "MA", "postal_code": "01103"}


def request_at(client, clock, moment: datetime, address: dict | None, **changes) -> dict:
    clock.now = moment
    body = jane_doe_request(**changes)
    body["rendering"] = {**body["rendering"], "address": address}
    response = client.post("/cases", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def outcome(case: dict) -> str:
    rejection = case["determination"].get("rejection")
    return f"AAA {rejection['aaa_code']}" if rejection else case["status"]


@pytest.mark.parametrize(
    ("moment", "address", "expected"),
    [
        # 23:30 in Hartford on the 30th day after 2026-11-30; already the 31st in UTC.
        (datetime(2026, 12, 31, 4, 30, tzinfo=UTC), HARTFORD, "approved"),
        # 00:30 in Hartford on the 31st day.
        (datetime(2026, 12, 31, 5, 30, tzinfo=UTC), HARTFORD, "AAA 62"),
        # 07:30 UTC is 23:30 on the 30th in Los Angeles, 02:30 on the 31st in Hartford.
        (datetime(2026, 12, 31, 7, 30, tzinfo=UTC), LOS_ANGELES, "approved"),
        (datetime(2026, 12, 31, 7, 30, tzinfo=UTC), HARTFORD, "AAA 62"),
        # No address: the plan's time_zone (America/New_York) decides.
        (datetime(2026, 12, 31, 4, 30, tzinfo=UTC), None, "approved"),
        (datetime(2026, 12, 31, 5, 30, tzinfo=UTC), None, "AAA 62"),
    ],
)
def test_first_plan_retro_window_counts_days_in_the_provider_local_date(
    client, clock, moment, address, expected
):
    case = request_at(client, clock, moment, address, start_date="2026-11-30")
    assert outcome(case) == expected
    if expected.startswith("AAA"):
        assert "31 days after the service" in case["determination"]["rejection"]["text"]


def test_second_plan_takes_a_request_on_its_service_day_in_the_evening(client, clock):
    # 22:00 on 2026-12-01 in Springfield, MA is 03:00 on 2026-12-02 in UTC: not retrospective.
    second_plan = {
        "payer_id": "SHP01",
        "member": {
            "member_id": "S9876543201",
            "last_name": "SAMPLE",
            "first_name": "SAM",
            "birth_date": "1966-07-21",
            "gender": "male",
        },
        "start_date": "2026-12-01",
    }
    evening = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    assert outcome(request_at(client, clock, evening, SPRINGFIELD, **second_plan)) == "approved"
    next_morning = datetime(2026, 12, 2, 14, 0, tzinfo=UTC)
    late = request_at(client, clock, next_morning, SPRINGFIELD, **second_plan)
    assert outcome(late) == "AAA 62"
    assert "not accepted by this plan" in late["determination"]["rejection"]["text"]


def test_a_fixed_sample_a_year_later_is_refused_as_retro_so_the_demo_writes_its_own(client, clock):
    clock.now = datetime(2027, 11, 23, 15, 0, tzinfo=UTC)
    data = (REPO_ROOT / "samples" / "x12" / "278-act-dd-jane-doe.x12").read_bytes()
    response = client.post(
        "/x12/278", content=data, headers={"Content-Type": "application/edi-x12"}
    )
    assert b"AAA*N**62*N~" in response.content  # 357 days after 2026-12-01


@pytest.mark.parametrize(
    ("state", "postal_code", "zone"),
    [
        ("CT", "06103", "America/New_York"),
        ("TX", "75201", "America/Chicago"),  # Dallas
        ("TX", "79901", "America/Denver"),  # El Paso
        ("FL", "33101", "America/New_York"),  # Miami
        ("FL", "32501", "America/Chicago"),  # Pensacola
        ("TN", "37902", "America/New_York"),  # Knoxville
        ("AZ", "85004", "America/Phoenix"),
        ("ca", None, "America/Los_Angeles"),
        (None, None, None),
        ("ZZ", "00000", None),
    ],
)
def test_zone_of_an_address_from_its_state_and_zip(state, postal_code, zone):
    assert zone_of_address(Address(state=state, postal_code=postal_code)) == zone
