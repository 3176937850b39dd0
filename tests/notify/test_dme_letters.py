"""DME and home health letters name the equipment and the services the way a supplier and a
member read them (issue 13 item 6): the program's description, rental or purchase, the months of
a rental, the visits, the documents a hold asks for, never only a code. Requests go through the
real HTTP app (X12 and PAS), the outbox delivers, and the faxes and member letters are read back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from gateway.service.core import Core
from gateway.settings import REPO_ROOT, Settings
from gateway.submit import deliver_due_jobs
from tests.conftest import make_settings

SAMPLES = REPO_ROOT / "samples"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """The outbox is delivered by the test, not by the app in the background: the letters are
    all in the spool and the member-mail batch when they are read."""
    return make_settings(tmp_path)


def letters(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.pdf")):
        pages = PdfReader(io.BytesIO(path.read_bytes())).pages
        out.append(" ".join(" ".join((page.extract_text() or "").split()) for page in pages))
    return out


def one(found: list[str], phrase: str) -> str:
    chosen = [text for text in found if phrase in text]
    assert chosen, f"no letter says {phrase!r}"
    return chosen[0]


def post_x12(client: TestClient, name: str) -> None:
    response = client.post(
        "/x12/278",
        content=(SAMPLES / "x12" / name).read_bytes(),
        headers={"Content-Type": "application/edi-x12"},
    )
    assert response.status_code == 200, response.text


def post_pas(client: TestClient, name: str) -> None:
    response = client.post(
        "/fhir/Claim/$submit",
        content=(SAMPLES / "pas" / name).read_bytes(),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code == 200, response.text
    assert json.loads(response.text)["entry"][0]["resource"]["outcome"] == "complete"


@pytest.mark.parametrize("channel", ["x12", "pas"])
def test_a_dme_rental_approval_names_the_equipment_months_and_dates(
    client: TestClient, core: Core, settings: Settings, channel: str
) -> None:
    if channel == "x12":
        post_x12(client, "278-dme-hospital-bed-rental.x12")  # SV1 E0250 RR, 10 units
    else:
        post_pas(client, "dme-hospital-bed-rental.json")  # a DeviceRequest: 10 months' rental
    deliver_due_jobs(core, settings)
    fax = one(letters(settings.fax_spool), "Prior authorization approved")
    assert "Hospital bed with mattress and side rails (E0250)" in fax
    assert "Rental, 10 months" in fax
    assert "December 1, 2026 through November 1, 2027" in fax  # the months plus one
    # The program's own desk: its name and number, not the oncology program's.
    assert "Home Health and Durable Medical Equipment" in fax and "(800) 555-0140" in fax
    assert "Oncology" not in fax
    assert "approved equipment or services needs a new authorization" in fax
    member = one(letters(settings.member_mail_dir), "approved")
    assert "Hospital bed with mattress and side rails (rented for 10 months)" in member
    assert "E0250" not in member  # a member reads the equipment, not its code


def test_a_pas_purchase_approval_says_purchase(
    client: TestClient, core: Core, settings: Settings
) -> None:
    post_pas(client, "dme-wheelchair-purchase.json")  # K0001 NU
    deliver_due_jobs(core, settings)
    fax = one(letters(settings.fax_spool), "Prior authorization approved")
    assert "Standard wheelchair (K0001)" in fax
    assert "Purchase" in fax
    assert "December 1, 2026 through March 1, 2027" in fax  # 90 days
    member = one(letters(settings.member_mail_dir), "approved")
    assert "Standard wheelchair (bought for you to keep)" in member


def test_a_home_health_hold_names_the_visits_and_the_document(
    client: TestClient, core: Core, settings: Settings
) -> None:
    post_x12(client, "278-home-health-without-order.x12")  # G0299 12 visits, G0151 8 visits
    deliver_due_jobs(core, settings)
    fax = one(letters(settings.fax_spool), "on hold")
    assert "Skilled nursing visits (registered nurse) (G0299)" in fax
    assert "12 visits" in fax and "8 visits" in fax
    assert "The physician's order (signed and dated)" in fax
    assert "physician_order" not in fax
