"""E-mail notices follow what the channel carries (issue 15 item 5): a requester who gives an
e-mail address in its 278 PER (EM) gets the status notices; one who gives none gets none."""

from __future__ import annotations

from tests.x12.helpers import sample


def post(client, text: str) -> str:
    response = client.post(
        "/x12/278", content=text.encode(), headers={"Content-Type": "application/edi-x12"}
    )
    assert response.status_code == 200, response.text
    return response.headers["X-Case-Ids"].split(",")[0]


def email_jobs(client, case_id: str) -> list[dict]:
    jobs = client.get(f"/cases/{case_id}").json()["jobs"]
    return [job for job in jobs if job["kind"] == "email"]


def test_an_address_in_per_asks_for_the_e_mail_notices(client):
    original = sample("278-act-dd-jane-doe.x12")
    with_email = original.replace(
        "PER*IC*FRONT DESK*TE*5555550100*FX*5555550101~",
        "PER*IC*FRONT DESK*TE*5555550100*EM*FRONTDESK@PRACTICE.EXAMPLE~",
        1,
    )
    assert with_email != original
    case_id = post(client, with_email.replace("ACTDD0001", "ACTDDEM01"))
    [notice] = email_jobs(client, case_id)
    assert notice["recipient_role"] == "requester"
    # Delivered into the maildir (no SMTP relay in the tests) to the address the PER gave.
    while client.app.state.run_outbox_once():
        pass
    mail = client.app.state.settings.mail_dir
    delivered = [p.read_text() for p in mail.rglob("*") if p.is_file()]
    assert any("frontdesk@practice.example" in text.lower() for text in delivered)


def test_no_address_no_notice(client):
    assert email_jobs(client, post(client, sample("278-act-dd-jane-doe.x12"))) == []


def test_a_partner_that_turned_the_notices_off_gets_none(client, core):
    """The registry's preference: the clearinghouse registered with email_notices false."""
    from gateway.partners.models import PartnerRow
    from gateway.partners.registry import partner_for_sender

    with core.sessions.begin() as session:
        row = partner_for_sender(session, "CLEARINGHOUSE01")
        assert isinstance(row, PartnerRow)
        row.email_notices = False
    text = sample("278-act-dd-jane-doe.x12").replace(
        "PER*IC*FRONT DESK*TE*5555550100*FX*5555550101~",
        "PER*IC*FRONT DESK*TE*5555550100*EM*FRONTDESK@PRACTICE.EXAMPLE~",
        1,
    )
    case_id = post(client, text.replace("ACTDD0001", "ACTDDEM02"))
    assert email_jobs(client, case_id) == []
    assert client.get("/partners").json()  # the registry still answers (an operator's view)
