"""Letters as PDF: one template per kind (letter_templates.py), one layout for all (reportlab).

`render_letter` takes only the case, the determination and the recipient, and is deterministic
(reportlab's invariant mode): rendering a job again after a crash gives the same bytes. The
letter always shows `determination.reason.text` and the plan rule and pathway row behind it
(DESIGN.md decision 4).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from io import BytesIO
from typing import Any
from xml.sax.saxutils import escape

import jinja2
from reportlab.lib import colors
from reportlab.lib.pagesizes import LETTER
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.platypus import ListFlowable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from gateway.domain.actions import APPROVALS, ReviewAction
from gateway.domain.case import Case, Determination
from gateway.notify.letter_templates import OPTIONS, TEMPLATES

LETTER_KINDS = tuple(TEMPLATES)

PLACES = {
    "11": "the office (place of service 11)",
    "12": "home (place of service 12)",
    "19": "an off-campus outpatient hospital (place of service 19)",
    "22": "an on-campus outpatient hospital (place of service 22)",
}
# X12 306 review actions as a reader says them.
ACTIONS = {action.value: action.reads for action in ReviewAction}
APPROVED_ACTIONS = APPROVALS
ACRONYMS = {"her2": "HER2", "er": "ER", "pr": "PR", "ecog": "ECOG", "pd": "PD", "l1": "L1"}
APPEAL_KNOWN = frozenset(
    {
        "window_days",
        "expedited_hours",
        "standard_member_days",
        "standard_provider_days",
        "peer_to_peer",
        "reconsideration",
        "contact",
    }
)


def _day(value: date | str | None) -> str:
    if value in (None, ""):
        return "(not set)"
    if isinstance(value, str):
        value = date.fromisoformat(value[:10])
    return f"{value:%B} {value.day}, {value.year}"


def _period(start: date | None, end: date | None) -> str:
    if start and end:
        return f"{_day(start)} - {_day(end)}"
    if start:
        return f"from {_day(start)}"
    return f"through {_day(end)}" if end else ""


def _moment(value: datetime | str | None) -> str:
    if value in (None, ""):
        return "(not set)"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    zone = value.tzname() or ""
    return f"{_day(value.date())} {value:%H:%M} {zone}".strip()


def _place(code: str | None) -> str:
    if not code:
        return "the site named in the request"
    return PLACES.get(code, f"place of service {code}")


def _fact_name(name: str) -> str:
    words = [ACRONYMS.get(w.lower(), w) for w in name.replace("-", "_").split("_") if w]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


_env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, autoescape=False)
_env.filters.update(day=_day, moment=_moment, place=_place, fact_name=_fact_name)


def _services(case: Case, determination: Determination) -> list[dict[str, Any]]:
    decided = {line.sequence: line for line in determination.lines}
    out = []
    for line in case.active_lines:
        verdict = decided.get(line.sequence)
        action = verdict.review_action if verdict else None
        start = (verdict.period_start if verdict else None) or line.start_date
        end = (verdict.period_end if verdict else None) or line.end_date
        period = _period(start, end)
        out.append(
            {
                "code": line.code,
                "description": line.description or "",
                "units": "" if line.units is None else f"{line.units:g}",
                "place": (verdict.place_of_service if verdict else None)
                or line.place_of_service
                or case.place_of_service
                or "",
                "period": period,
                "decision": ACTIONS.get(action or "", action or ""),
                "auth_number": verdict.auth_number if verdict else None,
                "approved": action in APPROVED_ACTIONS,
                "denied": action == ReviewAction.NOT_CERTIFIED,
            }
        )
    return out


def _appeal(determination: Determination) -> tuple[dict[str, Any], dict[str, Any], list]:
    appeal = dict(determination.appeal or {})
    contact = appeal.get("contact") if isinstance(appeal.get("contact"), dict) else {}
    other = []
    for name, value in appeal.items():
        if name in APPEAL_KNOWN or value in (None, "", [], {}):
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{_fact_name(k)} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        other.append((_fact_name(name), str(value)))
    return appeal, contact or {}, other


def _site(case: Case) -> str:
    facility = case.facility or case.rendering
    place = case.place_of_service or next(
        (line.place_of_service for line in case.active_lines if line.place_of_service), None
    )
    where = _place(place)
    if facility is None:
        return where
    return f"{facility.display_name}, {where}"


def letter_text(
    kind: str,
    case: Case,
    determination: Determination,
    recipient: Mapping[str, Any],
    *,
    portal_url: str | None = None,
) -> str:
    """The body of a letter as markup (title, headings, bullets, paragraphs)."""
    if kind not in TEMPLATES:
        raise ValueError(f"unknown letter kind {kind!r}")
    appeal, contact, appeal_other = _appeal(determination)
    services = _services(case, determination)
    context: dict[str, Any] = {
        "case": case,
        "d": determination,
        "to_member": recipient.get("role") == "member",
        "recipient": recipient,
        "services": services,
        "site": _site(case),
        "requested_site": _place(
            case.place_of_service or next((s["place"] for s in services if s["place"]), None)
        ),
        "appeal": appeal,
        "appeal_other": appeal_other,
        "contact": contact,
        "portal": portal_url or contact.get("portal") or "the provider portal",
        "days": _days(determination),
    }
    context["options"] = _env.from_string(OPTIONS).render(context)
    return _env.from_string(TEMPLATES[kind]).render(context)


def _days(determination: Determination) -> int | None:
    if determination.period_start and determination.period_end:
        return (determination.period_end - determination.period_start).days + 1
    return None


def render_letter(
    kind: str,
    case: Case,
    determination: Determination,
    recipient: Mapping[str, Any],
    *,
    portal_url: str | None = None,
) -> bytes:
    """The letter `kind` for `recipient` as PDF bytes."""
    body = letter_text(kind, case, determination, recipient, portal_url=portal_url)
    styles = _styles()
    story: list[Any] = [
        Paragraph(escape(case.payer_name or "Health plan"), styles["letterhead"]),
        Paragraph("Oncology Prior Authorization Program", styles["small"]),
        Spacer(1, 10),
        Paragraph(escape(_day(determination.decided_at.date())), styles["body"]),
        Spacer(1, 6),
        *_address_block(recipient, styles),
        Spacer(1, 8),
        _facts_table(case, determination, recipient),
        Spacer(1, 8),
    ]
    story.extend(_markup(body, styles))
    services = _services(case, determination)
    if services:
        story += [Paragraph("Services", styles["heading"]), _services_table(services)]
    reason = determination.reason
    story += [
        Spacer(1, 8),
        Paragraph("<b>Reason:</b> " + escape(reason.text), styles["body"]),
    ]
    basis = [
        f"plan rule {reason.plan_rule}" if reason.plan_rule else "",
        f"pathway {reason.pathway_row}" if reason.pathway_row else "",
        f"reason code {reason.code}",
    ]
    story.append(Paragraph("Basis: " + escape("; ".join(b for b in basis if b)), styles["small"]))
    buffer = BytesIO()
    # invariant: no creation date or random id in the file, so a re-render is byte-identical.
    doc = SimpleDocTemplate(
        buffer,
        pagesize=LETTER,
        invariant=True,
        leftMargin=0.8 * inch,
        rightMargin=0.8 * inch,
        topMargin=0.7 * inch,
        bottomMargin=0.8 * inch,
        title=f"Prior authorization case {case.id}",
        author=case.payer_name or "",
    )

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 8)
        canvas.drawString(0.8 * inch, 0.5 * inch, f"Case {case.id} - page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


def count_pages(pdf: bytes) -> int:
    """Pages of a reportlab PDF (its page objects are never compressed)."""
    return len(re.findall(rb"/Type\s*/Page\b", pdf))


def _styles() -> dict[str, ParagraphStyle]:
    base = getSampleStyleSheet()
    return {
        "letterhead": ParagraphStyle("letterhead", parent=base["Heading2"], spaceAfter=0),
        "title": ParagraphStyle("title", parent=base["Heading1"], fontSize=15, spaceAfter=6),
        "heading": ParagraphStyle("heading", parent=base["Heading3"], spaceBefore=6),
        "body": ParagraphStyle("body", parent=base["BodyText"], fontSize=10, leading=13),
        "small": ParagraphStyle("small", parent=base["BodyText"], fontSize=8, leading=10),
    }


def _address_block(recipient: Mapping[str, Any], styles: dict[str, ParagraphStyle]) -> list:
    lines = [recipient.get("name") or ("Member" if recipient.get("role") == "member" else "")]
    if recipient.get("contact_name"):
        lines.append(f"Attention: {recipient['contact_name']}")
    address = recipient.get("address") or {}
    lines += list(address.get("lines") or [])
    city = " ".join(
        p for p in (address.get("city"), address.get("state"), address.get("postal_code")) if p
    )
    if city:
        lines.append(city)
    fax = recipient.get("fax")
    if fax:
        lines.append(f"Fax: ({fax[:3]}) {fax[3:6]}-{fax[6:]}")
    return [Paragraph(escape(line), styles["body"]) for line in lines if line]


def _facts_table(case: Case, determination: Determination, recipient: Mapping[str, Any]) -> Table:
    member = case.member
    name = " ".join(p for p in (member.first_name, member.middle_name, member.last_name) if p)
    rows = [
        ("Case number", case.id or ""),
        ("Member", name or "(not given)"),
        ("Member ID", member.member_id),
        ("Date of birth", _day(member.birth_date) if member.birth_date else "(not given)"),
    ]
    for label, provider in (
        ("Ordering provider", case.ordering or case.requester),
        ("Rendering facility", case.facility or case.rendering),
    ):
        if provider is not None:
            npi = f" (NPI {provider.npi})" if provider.npi else ""
            rows.append((label, provider.display_name + npi))
    diagnosis = case.primary_diagnosis
    if diagnosis is not None:
        rows.append(("Diagnosis", ", ".join(d.code for d in case.diagnoses)))
    rows.append(("Status", ACTIONS.get(determination.review_action, determination.status.value)))
    table = Table([[k, v] for k, v in rows], colWidths=[1.6 * inch, 5.0 * inch], hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 9),
                ("FONT", (0, 0), (0, -1), "Helvetica-Bold", 9),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1),
                ("TOPPADDING", (0, 0), (-1, -1), 1),
            ]
        )
    )
    return table


def _services_table(services: list[dict[str, Any]]) -> Table:
    style = ParagraphStyle("cell", fontName="Helvetica", fontSize=8, leading=10)
    head = ["Code", "Drug or service", "Units", "Place", "Dates", "Decision"]
    rows: list[list[Any]] = [head]
    for line in services:
        decision = line["decision"]
        if line["auth_number"]:
            decision = f"{decision} ({line['auth_number']})".strip()
        rows.append(
            [
                line["code"],
                Paragraph(escape(line["description"]), style),
                line["units"],
                line["place"],
                Paragraph(escape(line["period"]), style),
                Paragraph(escape(decision), style),
            ]
        )
    widths = [0.7, 2.0, 0.5, 0.5, 1.6, 1.3]
    table = Table(rows, colWidths=[w * inch for w in widths], hAlign="LEFT", repeatRows=1)
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
                ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
                ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _markup(text: str, styles: dict[str, ParagraphStyle]) -> list:
    """Template markup to flowables: '# ' title, '## ' heading, '- ' bullets, else paragraphs."""
    out: list[Any] = []
    bullets: list[Paragraph] = []

    def flush() -> None:
        if bullets:
            out.append(ListFlowable(list(bullets), bulletType="bullet", leftIndent=12))
            bullets.clear()

    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("- "):
            bullets.append(Paragraph(escape(line[2:]), styles["body"]))
            continue
        flush()
        if not line:
            continue
        if line.startswith("## "):
            out.append(Paragraph(escape(line[3:]), styles["heading"]))
        elif line.startswith("# "):
            out.append(Paragraph(escape(line[2:]), styles["title"]))
        else:
            out.append(Paragraph(escape(line), styles["body"]))
    flush()
    return out
