"""Log lines carry case and partner ids, never the member's id, name or birth date."""

from __future__ import annotations

import logging

from gateway.logs import JsonFormatter
from tests.auth.conftest import CLEARINGHOUSE, EHR, OPERATOR, REVIEWER, keyed_for

PHI = ("U1234567801", "JANE", "DOE", "1960-04-12", "C50.911")


def test_request_logs_carry_no_phi(anonymous, as_partner, caplog):
    caplog.set_level(logging.DEBUG)
    formatter = JsonFormatter()
    case = keyed_for(anonymous, as_partner, EHR, diagnoses=[{"code": "C50.911", "primary": True}])
    anonymous.get(f"/cases/{case['id']}", headers=as_partner(EHR))
    anonymous.get(f"/cases/{case['id']}", headers=as_partner(CLEARINGHOUSE))
    anonymous.post(
        f"/cases/{case['id']}/clinical",
        json={"facts": {"HER2": "negative"}},
        headers=as_partner(EHR),
    )
    anonymous.get(
        "/eligibility/U1234567801", params={"date": "2026-12-01"}, headers=as_partner(EHR)
    )
    anonymous.get(
        "/eligibility/U1234567801", params={"date": "not-a-date"}, headers=as_partner(EHR)
    )
    anonymous.get("/cases", params={"member": "U1234567801"}, headers=as_partner(REVIEWER))
    anonymous.get("/audit", params={"case": case["id"]}, headers=as_partner(OPERATOR))
    anonymous.get("/eligibility/U1234567801")  # refused: no credentials
    anonymous.get("/nowhere/U1234567801", headers=as_partner(EHR))

    # httpx is the test's own client logging the URLs it calls; the gateway is everything else.
    records = [r for r in caplog.records if not r.name.startswith("httpx")]
    lines = [formatter.format(record) for record in records]
    requests = [r for r in records if r.name == "gateway.http"]
    assert len(requests) == 10
    assert {r.path for r in requests} >= {
        "/cases",
        "/cases/{case_id}",
        "/eligibility/{member_id}",
        "(unmatched)",
    }
    assert {r.partner_id for r in requests} >= {EHR, CLEARINGHOUSE, REVIEWER, OPERATOR, None}
    assert all(isinstance(r.duration_ms, float) for r in requests)
    assert any(getattr(r, "case_id", None) == case["id"] for r in requests)
    for line in lines:
        for phi in PHI:
            assert phi not in line, line
    # The raw records too: no attribute of a gateway record holds member data.
    for record in records:
        for phi in PHI:
            assert phi not in str(record.__dict__), record.name
