"""E-mail notices (issue 15 item 5): no clinical detail, a link only to a page a provider's
office can open, and the program's number to call."""

from __future__ import annotations

from gateway.notify.email import status_notice

PAYLOAD = {
    "case_id": "PA2025000001",
    "to": "orders@clinic.example",
    "role": "ordering",
    "status": "denied",
    "previous_status": "pended",
}


def body(**changes: object) -> str:
    message = status_notice(
        {**PAYLOAD, **changes},
        job_key="k",
        mail_from="notices@gateway.example",
        program="Oncology Prior Authorization Program",
        phone="(800) 555-0100",
    )
    return message.get_content()


def test_the_operator_api_is_never_linked() -> None:
    text = body(portal_url="http://127.0.0.1:8000/cases/PA2025000001")
    assert "127.0.0.1" not in text and "http" not in text
    assert "sign in" not in text.lower()
    assert "Denied" in text and "Previous status: Pended for review" in text
    assert "call Oncology Prior Authorization Program at (800) 555-0100" in text


def test_a_real_portal_page_is_linked() -> None:
    text = body(portal_url="https://portal.example.org/cases/PA2025000001")
    assert "Case page: https://portal.example.org/cases/PA2025000001" in text
