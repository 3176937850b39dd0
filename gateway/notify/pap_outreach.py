"""The PAP compliance outreach a DME supplier and an ordering physician receive (by fax, or by
e-mail when no fax number is known): where the member's use stands and what the program needs.
It names the device and the numbers, not the member's clinical details."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate
from io import BytesIO
from typing import Any

from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

from gateway.notify.email import message_id


def outreach_lines(payload: dict[str, Any]) -> list[str]:
    rule = payload["rule"]
    return [
        f"PAP compliance outreach, day {payload['day']} of therapy",
        f"Device: {payload['device']} ({payload['device_code']}), therapy started "
        f"{payload['start_date']}. Member id: {payload['member_id']}.",
        f"The member has not yet met the compliance rule: at least {rule['min_hours']:g} hours a "
        f"night on {round(rule['share_of_nights'] * 100)}% of nights within "
        f"{rule['window_nights']} consecutive nights, inside the first {rule['within_days']} days.",
        f"Nights at or above {rule['min_hours']:g} hours in the best {rule['window_nights']}-night "
        f"window so far: {payload['best_window_nights']} of the {payload['nights_needed']} needed "
        f"({payload['nights_reported']} nights reported).",
        "Please contact the member about mask fit, comfort and use, and send the next usage "
        f"download. Questions: {payload.get('contact_phone') or 'the plan'}.",
    ]


def outreach_pdf(payload: dict[str, Any]) -> bytes:
    styles = getSampleStyleSheet()
    out = BytesIO()
    document = SimpleDocTemplate(out, pagesize=LETTER, title="PAP compliance outreach")
    lines = outreach_lines(payload)
    recipient = payload["recipient"]
    story: list[Any] = [
        Paragraph(lines[0], styles["Title"]),
        Paragraph(f"To: {recipient.get('name') or recipient['role']}", styles["Normal"]),
        Spacer(1, 12),
    ]
    for line in lines[1:]:
        story += [Paragraph(line, styles["Normal"]), Spacer(1, 8)]
    document.build(story)
    return out.getvalue()


def outreach_email(payload: dict[str, Any], *, job_key: str, mail_from: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = payload["recipient"]["email"]
    message["Subject"] = f"PAP compliance outreach, day {payload['day']} of therapy"
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = message_id(job_key, mail_from)
    message.set_content("\n\n".join(outreach_lines(payload)) + "\n")
    return message
