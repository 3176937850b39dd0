"""The home health and DME parts of a 278 request read into the canonical case (issue 13 item 2):
SV1 modifiers and quantity, HSD visits, CR6 start of care, MSG facts."""

from __future__ import annotations

from gateway.x12.reader import read_request
from tests.x12.helpers import NOW, sample, transactions


def read(text: str):
    delims, found = transactions(text)
    return read_request(
        found[0].segments, delims, submitter="CLEARINGHOUSE01", received_at=NOW, content_hash="x"
    )


def test_home_health_start_of_care_and_visits():
    case = read(sample("278-home-health-without-order.x12"))
    assert case.facts.values["start_of_care"] == "2026-12-01"
    assert case.facts.values["prognosis"] == "4"
    assert [(line.code, line.units) for line in case.service_lines] == [
        ("G0299", 12.0),
        ("G0151", 8.0),
    ]


def test_hsd_visits_are_the_lines_visits():
    text = sample("278-home-health-same-day.x12")
    with_hsd = text.replace("SV1*HC:G0299**UN*12~", "SV1*HC:G0299**UN*12~\nHSD*VS*10~").replace(
        "SE*33*0001", "SE*34*0001"
    )
    assert with_hsd.count("HSD*VS*10") == 1 and "SE*34*0001" in with_hsd
    line = read(with_hsd).service_lines[0]
    assert (line.visits, line.quantity_frequency) == (10, "VS*10")


def test_dme_facts_and_modifiers():
    case = read(sample("278-dme-oxygen-discharge-pending.x12"))
    assert case.facts.values["hospital_discharge_pending"] is True
    assert case.hospital_discharge_pending
    assert case.facts.values["oxygen_saturation"] == 86
    line = case.service_lines[0]
    assert (line.code, line.modifiers, line.units) == ("E1390", ["RR"], 2.0)
