"""Every letter kind renders to a PDF whose text carries the case's facts and the reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.notify.jobs import member_recipient, provider_recipient
from gateway.notify.letters import LETTER_KINDS, count_pages, render_letter

from .conftest import normalized, pdf_text
from .factories import MEMBER_LAST, make_case, make_determination

PORTAL = "https://portal.example.invalid/cases/PA2025000001"

# What each kind must say beyond the common facts (DOMAIN.md: Outcomes, Notices).
EXPECTED = {
    "approval": [
        "Prior authorization approved",
        "AUTH0001",
        "March 4, 2025 through January 3, 2026",
        "Springfield Infusion Center",
        "J9267",
        "paclitaxel",
        "Q5114",
    ],
    "partial_approval": [
        "partially approved",
        "Not approved",
        "Q5114 trastuzumab-dkst",
        "Q5114 is not supported",
        "NCCN Breast Cancer v2.2025",
        "180 days",
    ],
    "hold": [
        "on hold",
        "HER2 status",
        "Performance status",
        "March 7, 2025",
        "(800) 555-0101",
        PORTAL,
        "X12 278",
        "original submission",
    ],
    "peer_to_peer": [
        "Peer-to-peer review needed",
        "breast:nonpreferred-row",
        "(800) 555-0100",
        "time zone",
        "March 11, 2025",
    ],
    "clinical_review": ["pended for clinical review", PORTAL, "March 11, 2025"],
    # The appointment itself (time, number to call) is checked in tests/test_peer_to_peer.py.
    "peer_to_peer_scheduled": ["Peer-to-peer conversation scheduled", "PA2025000001"],
    "site_of_care": [
        "One-time approval",
        "30 days",
        "home (place of service 12)",
        "AUTH0003",
        "April 2, 2025",
        "follow up before it expires",
    ],
    "denial": [
        "Prior authorization denied",
        "physician reviewer",
        "Stage and line of therapy do not meet the pathway",
        "NCCN Breast Cancer v2.2025, BINV-Q",
        "Peer to peer",
        "Reconsideration",
        "within 180 days",
        "72 hours",
    ],
    "out_of_scope": ["outside the oncology program", "not a denial"],
    "not_required": ["No prior authorization required", "not a guarantee of payment"],
    "redirected": ["pharmacy benefit manager", "PBM"],
}


@pytest.mark.parametrize("kind", LETTER_KINDS)
def test_letter_carries_the_case_facts_and_the_reason(kind: str, tmp_path: Path) -> None:
    case = make_case()
    determination = make_determination(kind)
    recipient = provider_recipient("ordering", case.ordering)  # type: ignore[arg-type]
    pdf = render_letter(kind, case, determination, recipient, portal_url=PORTAL)
    assert pdf.startswith(b"%PDF-")
    assert count_pages(pdf) >= 1
    text = normalized(pdf_text(pdf, tmp_path))
    for fact in [
        "PA2025000001",  # case number
        "U9988776601",  # member id
        MEMBER_LAST,
        "July 14, 1961",
        "C50.911",
        "Avery Testwell",
        "NPI 1234567893",
        "Fax: (217) 555-0142",
        determination.reason.text,
        "cigna-62308-commercial:test",
        "breast:test-row",
        *EXPECTED[kind],
    ]:
        assert normalized(fact) in text, f"{kind}: {fact!r} missing"
    assert "SAMPLE" not in text.upper()


def test_rendering_is_deterministic() -> None:
    case, determination = make_case(), make_determination("approval")
    recipient = provider_recipient("facility", case.facility)  # type: ignore[arg-type]
    assert render_letter("approval", case, determination, recipient) == render_letter(
        "approval", case, determination, recipient
    )


def test_member_letter_speaks_to_the_member(tmp_path: Path) -> None:
    case = make_case()
    pdf = render_letter("denial", case, make_determination("denial"), member_recipient(case))
    text = normalized(pdf_text(pdf, tmp_path))
    assert "12 Synthetic Way" in text
    assert "Your rights" in text and "you or your doctor may appeal" in text
    # The peer to peer is the physicians' conversation, not offered in the member's copy.
    assert "Peer to peer" not in text


def test_unknown_kind_is_refused() -> None:
    case = make_case()
    with pytest.raises(ValueError):
        render_letter("fortune", case, make_determination("approval"), member_recipient(case))
