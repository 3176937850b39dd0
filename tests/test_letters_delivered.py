"""Letters as the gateway really sends them (issue 15, "How it will be checked"): requests go
through the real HTTP app, a physician reviewer decides through it, the outbox dispatcher
delivers, and the faxes in the spool and the letters in the member-mail batch are read back
as a provider's office and a member would read them."""

from __future__ import annotations

import io
import re
from pathlib import Path

from pypdf import PdfReader

from gateway.settings import Settings
from gateway.submit import deliver_due_jobs
from tests.conftest import jane_doe_request

MEMBER_ADDRESS = {
    "lines": ["77 Sample Lane"],
    "city": "Hartford",
    "state": "CT",
    "postal_code": "06103",
}
ORDERING_ADDRESS = {
    "lines": ["100 Main Street"],
    "city": "Hartford",
    "state": "CT",
    "postal_code": "06103",
}
INTERNAL = re.compile(
    r"\d{4}-\d{2}-\d{2}|cigna-62308|breast:|her2neg|PATHWAY_|REVIEWER_|_status|sample row|"
    r"127\.0\.0\.1|place of service"
)


def texts(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.pdf")):
        pages = PdfReader(io.BytesIO(path.read_bytes())).pages
        out.append(" ".join(" ".join((page.extract_text() or "").split()) for page in pages))
    return out


def one(found: list[str], phrase: str) -> str:
    chosen = [text for text in found if phrase in text]
    assert len(chosen) >= 1, f"no letter says {phrase!r}"
    return chosen[0]


def test_a_reviewer_denial_reaches_provider_and_member_in_words(
    client, core, settings: Settings
) -> None:
    body = jane_doe_request(
        member={**jane_doe_request()["member"], "address": MEMBER_ADDRESS},
        ordering={**jane_doe_request()["ordering"], "address": ORDERING_ADDRESS},
        service_lines=[
            {"sequence": 1, "code": "J9171", "units": 4},
            {"sequence": 2, "code": "J9070", "units": 4},
        ],
    )
    created = client.post("/cases", json=body)
    assert created.status_code == 201, created.text
    case = created.json()
    assert case["determination"]["pend_kind"] == "peer_to_peer"
    decided = client.post(
        f"/cases/{case['id']}/determination",
        json={
            "reviewer": "dr-1",
            "decision": "deny",
            "rationale": "Docetaxel with cyclophosphamide is not supported for this stage.",
            "guideline": "NCCN Breast Cancer v2.2025, BINV-K",
        },
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "denied"
    deliver_due_jobs(core, settings)

    faxes = texts(settings.fax_spool)
    mail = texts(settings.member_mail_dir)
    assert faxes and mail
    for text in faxes + mail:
        assert INTERNAL.findall(text) == [], text[:300]
        assert "(800) 555-01" in text  # every letter has a number to call

    # The peer-to-peer letter: how to schedule, the number, the time zone.
    p2p = one(faxes, "Peer-to-peer review needed")
    assert "Docetaxel and cyclophosphamide (TC)" in p2p
    assert "Call (800) 555-0102" in p2p and "in your time zone (Eastern Time)" in p2p
    assert "Confidentiality notice" in p2p  # each fax job has its cover sheet

    # The denial: reason, guideline, reviewer, rights with real dates (decided 2026-11-23).
    denial = one(faxes, "Prior authorization denied")
    for fact in [
        "Docetaxel with cyclophosphamide is not supported for this stage.",
        "Guideline relied on: NCCN Breast Cancer v2.2025, BINV-K",
        "Reviewed by: Priya Vantongeren, DO, board-certified in medical oncology",
        "by December 1, 2026 (the planned date of service)",
        "by May 22, 2027 (180 days from this determination)",
        "fax (800) 555-0121",
        "decided within 72 hours",
        "External review",
        "docetaxel (J9171)",
    ]:
        assert fact in denial, fact

    # The member's letter: second person, names not codes, member services, taglines.
    member = one(mail, "We did not approve your treatment")
    for fact in [
        "Dear Jane Doe",  # capitals as X12 sends them read as shouting in a sentence
        "77 Sample Lane",
        "docetaxel",
        "Ask by May 22, 2027",
        "(800) 555-0110",
        "Español",
    ]:
        assert fact in member, fact
    assert not re.search(r"\b[JQ]\d{4}\b|C50\.", member)
