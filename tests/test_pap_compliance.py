"""PAP compliance through the real app: a supplier registers a therapy, sends nights of usage,
and the outreach of the program (days 3, 7, 14, 21, 30, 60, 90 while not compliant) is queued and
faxed to the supplier and the ordering physician; compliance stops it. The clock is frozen at
tests.conftest.NOW (2026-11-23)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from gateway.domain.pap import PapRule, evaluate, outreach_due
from gateway.store.models import OutboxJobRow

RULE = PapRule(
    min_hours=4,
    share_of_nights=0.7,
    window_nights=30,
    within_days=90,
    outreach_days=[3, 7, 14, 21, 30, 60, 90],
)
START = date(2026, 10, 25)  # NOW (2026-11-23) is day 30 of therapy
PARTIES = {
    "supplier": {"name": "SAMPLE HOME MEDICAL SUPPLY", "fax": "5555550301"},
    "physician": {"name": "SLEEP MEDICINE SAMPLE", "npi": "1234567893", "fax": "5555550302"},
}


def register(client, start: date = START) -> str:
    body = {
        "member_id": "U1234567801",
        "device_code": "E0601",
        "start_date": start.isoformat(),
        **PARTIES,
    }
    response = client.post("/pap/therapies", json=body)
    assert response.status_code == 201, response.text
    return response.json()["therapy_id"]


def nights(hours: float, count: int = 30, start: date = START) -> list[dict]:
    return [{"date": (start + timedelta(days=i)).isoformat(), "hours": hours} for i in range(count)]


def outreach_jobs(core) -> list[OutboxJobRow]:
    with core.sessions() as session:
        query = select(OutboxJobRow).where(OutboxJobRow.kind == "pap_outreach")
        return list(session.execute(query.order_by(OutboxJobRow.id)).scalars())


@pytest.mark.store
def test_thirty_nights_at_three_hours_bring_the_day_30_outreach(client, core, settings):
    therapy = register(client)
    response = client.post(f"/pap/therapies/{therapy}/usage", json={"nights": nights(3)})
    assert response.status_code == 200, response.text
    status = response.json()
    assert status["compliant"] is False and status["therapy_day"] == 30
    assert status["outreach_now"] == 30 and status["outreach_sent"] == [30]
    jobs = outreach_jobs(core)
    assert sorted(job.payload["recipient"]["role"] for job in jobs) == ["physician", "supplier"]
    assert {job.payload["day"] for job in jobs} == {30}
    # Delivered by fax, one PDF to each party.
    while client.app.state.run_outbox_once():
        pass
    assert {job.state for job in outreach_jobs(core)} == {"delivered"}
    assert len(list((settings.fax_spool).iterdir())) == 2
    # The same nights sent again queue nothing more.
    again = client.post(f"/pap/therapies/{therapy}/usage", json={"nights": nights(3)}).json()
    assert again["outreach_now"] is None and len(outreach_jobs(core)) == 2


@pytest.mark.store
def test_thirty_nights_at_five_hours_meet_compliance_and_stop_the_outreach(client, core):
    therapy = register(client)
    status = client.post(f"/pap/therapies/{therapy}/usage", json={"nights": nights(5)}).json()
    assert status["compliant"] is True and status["compliant_on"] == "2026-11-23"
    assert status["outreach_now"] is None and outreach_jobs(core) == []
    # Later nights of poor use do not start it again: the rule was met.
    later = nights(1, 30, START + timedelta(days=30))
    assert (
        client.post(f"/pap/therapies/{therapy}/usage", json={"nights": later}).json()[
            "outreach_now"
        ]
        is None
    )
    assert outreach_jobs(core) == []


def test_usage_as_csv_and_bad_usage(client):
    week_ago = date(2026, 11, 17)  # NOW is day 7
    therapy = register(client, start=week_ago)
    csv_body = "date,hours\n" + "\n".join(
        f"{n['date']},{n['hours']}" for n in nights(4.5, 7, week_ago)
    )
    response = client.post(
        f"/pap/therapies/{therapy}/usage", content=csv_body, headers={"Content-Type": "text/csv"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["nights_reported"] == 7
    assert response.json()["outreach_now"] == 7  # day 7 reached, 7 good nights are not 21
    bad = client.post(
        f"/pap/therapies/{therapy}/usage",
        content="2026-11-18,lots\n",
        headers={"Content-Type": "text/csv"},
    )
    assert bad.status_code == 422 and "hours" in bad.text
    assert (
        client.post("/pap/therapies/PAP0/usage", json={"nights": nights(5, 1)}).status_code == 404
    )


def test_only_pap_devices_are_followed(client):
    body = {
        "member_id": "U1234567801",
        "device_code": "E0250",
        "start_date": "2026-11-01",
        **PARTIES,
    }
    response = client.post("/pap/therapies", json=body)
    assert response.status_code == 422 and "E0601" in response.text


@pytest.mark.store
def test_the_worker_clock_sends_the_outreach_when_no_data_comes(client, core):
    therapy = register(client, start=date(2026, 11, 20))  # NOW is day 4
    assert client.get(f"/pap/therapies/{therapy}").json()["outreach_sent"] == []
    client.app.state.run_outbox_once()
    jobs = outreach_jobs(core)
    assert {job.payload["day"] for job in jobs} == {3}
    assert client.get(f"/pap/therapies/{therapy}").json()["outreach_sent"] == [3]


def test_another_partner_cannot_see_the_therapy(client, core, auth_settings):
    from tests.conftest import bearer

    therapy = register(client)
    other = bearer(core, auth_settings, "sample-oncology-ehr")
    assert client.get(f"/pap/therapies/{therapy}", headers=other).status_code == 404


@pytest.mark.parametrize(
    ("hours", "count", "compliant"),
    [(4, 21, True), (4, 20, False), (3.9, 30, False), (6, 25, True)],
)
def test_the_rule(hours, count, compliant):
    used = {START + timedelta(days=i): hours for i in range(count)}
    result = evaluate(START, used, START + timedelta(days=count), RULE)
    assert result.compliant is compliant


def test_a_window_must_fit_in_the_first_90_days():
    late = {START + timedelta(days=70 + i): 8.0 for i in range(21)}  # nights 71-91
    assert evaluate(START, late, START + timedelta(days=95), RULE).compliant is False


def test_outreach_is_the_latest_day_reached_once():
    result = evaluate(START, {}, START + timedelta(days=29), RULE)
    assert outreach_due(result, set(), RULE) == 30
    assert outreach_due(result, {30}, RULE) is None
