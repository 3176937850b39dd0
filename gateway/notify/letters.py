"""Letters as PDF: the facts a letter needs, handed to its template (letter_templates.py) and
laid out by letter_layout.py (reportlab).

A letter reads as its reader acts on it (issue 15): the program's name and numbers from the plan
file (mappings/plans: `letters`), drugs and equipment by name, dates in one format and times in
the reader's time zone, what to do next and by when. What the gateway keeps for itself (plan
rule and pathway row ids, reason codes, fact keys, ISO timestamps) never reaches a letter: the
reason the review recorded (`determination.reason`) is the 278's and the ClaimResponse's; a
letter says the same thing in words from the determination's fields.

`render_letter` is deterministic (reportlab's invariant mode, the determination's date in the
file): rendering a job again after a crash gives the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml

from gateway.domain.actions import APPROVALS, ReviewAction
from gateway.domain.case import Address, Case, CaseStatus, Determination, Provider
from gateway.domain.criteria import PROGRAM_OF_SERVICE
from gateway.domain.icd10cm import description
from gateway.domain.local_dates import zone_of_address
from gateway.domain.policy import (
    AppealsOffice,
    LetterContact,
    LetterData,
    PlanPolicy,
    ReviewerCard,
)
from gateway.domain.site_of_care import (
    authorized,
    is_one_time,
    one_time_authorization,
    requested_place,
)
from gateway.notify import letter_layout
from gateway.notify.letter_templates import KINDS, cover_template, template

LETTER_KINDS = KINDS
DEFAULT_ZONE = "America/New_York"
UNIT_WORDS = {"UN": "units", "MJ": "minutes", "DA": "days", "VS": "visits", "HR": "hours"}
# Line review actions (X12 306) as the templates switch on them.
LINE_DECISIONS = {
    ReviewAction.NOT_CERTIFIED.value: "denied",
    ReviewAction.PENDED.value: "pended",
    "C": "cancelled",
    "NA": "not_required",
    "CT": "pended",
}


@dataclass(frozen=True)
class LetterBook:
    """What letters read from mappings/: plans, drug and equipment names, regimen names, the
    words for each clinical fact. Read once per mappings folder."""

    plans: dict[str, PlanPolicy]
    drugs: dict[str, str] = field(default_factory=dict)
    # Equipment and home health services as the program names them (mappings/programs/).
    equipment: dict[str, str] = field(default_factory=dict)
    # A coverage-criteria program's own desk, by payer id and case program (DME, HOME_HEALTH,
    # SLEEP): its name and the numbers its letters give (mappings/programs/ `name`, `contact`).
    program_desks: dict[tuple[str, str], tuple[str, dict[str, str]]] = field(default_factory=dict)
    regimens: dict[str, str] = field(default_factory=dict)
    facts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, mappings_dir: Path) -> LetterBook:
        return _load_book(Path(mappings_dir).resolve())

    def plan_for(self, case: Case, determination: Determination) -> PlanPolicy | None:
        if determination.plan_id and determination.plan_id in self.plans:
            return self.plans[determination.plan_id]
        return self.plan_for_payer(case.payer_id)

    def plan_for_payer(self, payer_id: str | None) -> PlanPolicy | None:
        """The plan of `payer_id`, else the primary plan (the payer the gateway runs for)."""
        same_payer = [p for p in self.plans.values() if p.payer_id == payer_id]
        primary = [p for p in self.plans.values() if p.primary]
        chosen = same_payer or primary or list(self.plans.values())
        return chosen[0] if chosen else None


@lru_cache(maxsize=8)
def _load_book(root: Path) -> LetterBook:
    from gateway.mappings import load_mappings

    mappings = load_mappings(root)
    regimens: dict[str, str] = {}
    for path in sorted((root / "pathways").glob("*.yaml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        prefix = raw.get("cancer_type") or raw.get("program", "").lower()
        for row in raw.get("regimens") or raw.get("rules") or []:
            regimens[f"{prefix}:{row['id']}"] = row.get("name", "")
    raw_facts = yaml.safe_load((root / "codes" / "facts.yaml").read_text(encoding="utf-8"))
    facts = dict((raw_facts or {}).get("labels") or {})
    equipment: dict[str, str] = {}
    desks: dict[tuple[str, str], tuple[str, dict[str, str]]] = {}
    for program in mappings.programs.values():
        for served in program.code_prefixes:
            key = (program.payer_id, PROGRAM_OF_SERVICE[served].value)
            desks[key] = (program.name, dict(program.contact))
        # A hold names the program's documents as the program words them ("the physician's
        # order (signed and dated)"), not their keys.
        for key, words in program.documents.items():
            facts.setdefault(key, words)
        equipment.update(
            {
                code: item.description[:1].upper() + item.description[1:]
                for code, item in program.items.items()
            }
        )
    return LetterBook(
        plans=dict(mappings.plans),
        drugs={code: drug.name for code, drug in mappings.tables.drugs.items()},
        equipment=equipment,
        program_desks=desks,
        regimens=regimens,
        facts=facts,
    )


def default_book() -> LetterBook:
    from gateway.settings import Settings

    return LetterBook.load(Settings().mappings_dir)


# ---------------------------------------------------------------- the facts a template reads


def _letter_data(plan: PlanPolicy | None, case: Case) -> LetterData:
    """The plan's letter block, or one made from its contact block and name."""
    if plan is not None and plan.letters is not None:
        return plan.letters
    contact = plan.contact if plan else {}
    name = (plan.name if plan else None) or case.payer_name or "Prior Authorization Program"
    desk = LetterContact(phone=contact.get("phone"), fax=contact.get("fax"))
    return LetterData(
        organization=case.payer_name or name,
        program=name,
        provider_services=desk,
        clinical_fax=contact.get("fax"),
        peer_to_peer=desk,
        member_services=desk,
        appeals=AppealsOffice(name=name, address=[], phone=desk.phone, fax=desk.fax),
    )


def _program_desk(
    letters: LetterData, case: Case, plan: PlanPolicy | None, book: LetterBook
) -> LetterData:
    """A home health or DME case's letters name that program and give its numbers (the
    program's desk takes its calls and its faxed documents); member services stay the plan's."""
    payer_id = plan.payer_id if plan is not None else case.payer_id
    desk = book.program_desks.get((payer_id or "", case.program.value))
    if desk is None:
        return letters
    name, contact = desk
    phone = contact.get("phone") or letters.provider_services.phone
    fax = contact.get("fax") or letters.provider_services.fax
    services = letters.provider_services.model_copy(update={"phone": phone, "fax": fax})
    return letters.model_copy(
        update={"program": name, "provider_services": services, "clinical_fax": fax}
    )


def _zone(name: str | None) -> ZoneInfo:
    for candidate in (name, DEFAULT_ZONE):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    raise ZoneInfoNotFoundError(DEFAULT_ZONE)


def _reader_zone(recipient: Mapping[str, Any], plan: PlanPolicy | None) -> ZoneInfo:
    """The reader's time zone: its address's, else the plan's (mappings/plans time_zone)."""
    raw = recipient.get("address")
    address = Address.model_validate(raw) if isinstance(raw, dict) else None
    return _zone(zone_of_address(address) or (plan.time_zone if plan else None))


def _respond_by(determination: Determination) -> datetime | None:
    """When the provider's answer to an offered alternative is due (stored as ISO 8601)."""
    value = (determination.alternative or {}).get("respond_by")
    return datetime.fromisoformat(value) if value else None


def _local(value: datetime | None, zone: ZoneInfo) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(zone)


def _words(name: str, labels: Mapping[str, str]) -> str:
    """A clinical fact as a reader says it (facts.yaml labels), never its key."""
    label = labels.get(name)
    if label:
        return label[:1].upper() + label[1:]
    text = " ".join(w.upper() if len(w) <= 3 else w for w in re.split(r"[_\-\s]+", name) if w)
    return text[:1].upper() + text[1:]


def _diagnosis(code: str) -> str:
    try:
        # The package's tree, loaded on the first letter that names a diagnosis (a worker),
        # not when gateway.wiring imports this module (issue 19 item 2).
        return description(code.replace(".", ""))
    except ValueError:
        return ""


def _person(name: str) -> str:
    """A name as a letter's sentences say it: channels often send names in capitals (X12 NM1),
    which read as shouting in a sentence; the envelope window keeps them as sent (USPS)."""
    return name.title() if name.isupper() else name


def _city(city: str | None, state: str | None, postal_code: str | None) -> str:
    """The last line of a US address: Springfield, IL 62701."""
    tail = " ".join(p for p in (state, postal_code) if p)
    return ", ".join(p for p in (city, tail) if p)


def _provider(provider: Provider | None) -> dict[str, Any] | None:
    if provider is None:
        return None
    address = provider.address
    city = _city(address.city, address.state, address.postal_code) if address else ""
    return {
        "name": _person(provider.display_name),
        "npi": provider.npi,
        "phone": provider.phone,
        "fax": provider.fax,
        "address": ", ".join([*(address.lines if address else []), city] if city else []),
    }


def _services(case: Case, determination: Determination, book: LetterBook) -> list[dict[str, Any]]:
    decided = {line.sequence: line for line in determination.lines}
    out = []
    status = determination.status
    for line in case.active_lines:
        verdict = decided.get(line.sequence)
        # Dates and site as the 278 and the ClaimResponse give them: a one-time site-of-care
        # line is authorized at the site asked for, not at the redirect (issue 14 item 13).
        granted = authorized(case, line, verdict, determination) if verdict else None
        action = verdict.review_action if verdict else None
        if action in APPROVALS:
            decision = "changed" if action == ReviewAction.MODIFIED else "approved"
        elif action:
            decision = LINE_DECISIONS.get(action, "pended")
        else:
            decision = {
                CaseStatus.OUT_OF_SCOPE: "closed",
                CaseStatus.NOT_REQUIRED: "not_required",
                CaseStatus.REDIRECTED: "redirected",
                CaseStatus.CANCELLED: "cancelled",
                CaseStatus.WITHDRAWN: "cancelled",
                CaseStatus.DENIED: "denied",
            }.get(status, "pended")
        units = verdict.units if verdict and verdict.units is not None else line.units
        dosing = line.dosing
        out.append(
            {
                "code": line.code,
                # Equipment and home health services by the program's name for them (what a
                # supplier and a member read), drugs by the request's or the drug table's.
                "name": book.equipment.get(line.code.upper())
                or line.description
                or book.drugs.get(line.code)
                or "",
                "units": units,
                "unit_words": UNIT_WORDS.get(line.unit_type or "UN", "units"),
                "units_changed": bool(
                    verdict and verdict.units is not None and verdict.units != line.units
                ),
                "rental": line.rental,
                "rental_months": line.rental_months,
                "visits": line.visits,
                "discipline": line.discipline,
                "already_delivered": line.already_delivered,
                "dosing": ", ".join(p for p in (dosing.dose, dosing.schedule) if p)
                if dosing
                else "",
                "start": (verdict.period_start if verdict else None) or line.start_date,
                "end": (verdict.period_end if verdict else None) or line.end_date,
                "place": (granted.place_of_service if granted else None)
                or requested_place(case, line),
                "one_time": is_one_time(verdict, determination),
                "decision": decision,
                "auth_number": (verdict.auth_number if verdict else None),
            }
        )
    return out


def _appeal(
    case: Case, determination: Determination, plan: PlanPolicy | None, today: date
) -> dict[str, Any]:
    """Appeal and reconsideration with real dates (DOMAIN.md: Clocks): the appeal within the
    plan's window from this determination; reconsideration on or before the service date."""
    given = dict(determination.appeal or {})

    def pick(*names: str, default: Any = None) -> Any:
        for name in names:
            if given.get(name) not in (None, ""):
                return given[name]
        return default

    rules = plan.appeal if plan else None
    window = pick("appeal_window_days", "window_days", default=rules.window_days if rules else 180)
    appeal_by = pick("appeal_by")
    by = (
        date.fromisoformat(str(appeal_by)[:10])
        if appeal_by
        else today + timedelta(days=int(window))
    )
    allowed = pick("reconsideration_allowed")
    if allowed is None and isinstance(given.get("reconsideration"), bool):
        allowed = given["reconsideration"]
    raw_by = pick("reconsideration_by")
    service_date = date.fromisoformat(str(raw_by)[:10]) if raw_by else case.service_date
    if allowed is False:
        state = "not_allowed"
    elif service_date is None:
        state = "open"
    elif service_date > today:
        state = "until"
    elif service_date == today:
        state = "today"
    else:
        state = "passed"
    return {
        "window_days": int(window),
        "by": by,
        "expedited_hours": pick(
            "expedited_appeal_hours",
            "expedited_hours",
            default=rules.expedited_hours if rules else 72,
        ),
        "member_days": pick(
            "standard_member_appeal_days",
            "standard_member_days",
            default=rules.standard_member_days if rules else 30,
        ),
        "provider_days": pick(
            "standard_provider_appeal_days",
            "standard_provider_days",
            default=rules.standard_provider_days if rules else 60,
        ),
        "reconsideration": state,
        "reconsideration_by": service_date,
    }


def _named(text: str | None, book: LetterBook) -> str | None:
    """`text` with each HCPCS code the drug table knows replaced by the drug's name."""
    if not text:
        return text
    return re.sub(r"\b[A-Z]\d{4}\b", lambda m: book.drugs.get(m.group(0), m.group(0)), text)


def _reviewer(determination: Determination, letters: LetterData) -> ReviewerCard | None:
    """The physician reviewer as the plan's roster names them; a reviewer the roster does not
    know is named as the decision recorded them."""
    who = determination.decided_by
    if not who or who in ("gateway", "requester"):
        return None
    card = letters.reviewers.get(who)
    if card is not None:
        return card
    return ReviewerCard(name=who.strip(), credentials="physician reviewer")


def _one_time(
    case: Case, determination: Determination, plan: PlanPolicy | None
) -> dict[str, Any] | None:
    """The one-time site-of-care authorization as the letter states it: the period and place of
    the one-time lines (the 278's 2000F DTP 007/036 and UM04, the PAS addItem), the drugs it
    covers, and where the program asks care to continue (a recommendation, not authorized)."""
    one_time = one_time_authorization(case, determination)
    if one_time is None:
        return None
    redirect = list(plan.site_of_care.redirect_to) if plan else []
    if one_time.continue_at and one_time.continue_at not in redirect:
        redirect.insert(0, one_time.continue_at)
    return {
        "sequences": list(one_time.sequences),
        "auth_number": one_time.auth_number,
        "start": one_time.period_start,
        "end": one_time.period_end,
        "place": one_time.place_of_service,
        # The plan's own count, as the 278 MSG and the ClaimResponse say it ("one-time 30-day").
        "days": plan.site_of_care.one_time_days if plan else None,
        "continue_at": redirect,
    }


def letter_context(
    kind: str,
    case: Case,
    determination: Determination,
    recipient: Mapping[str, Any],
    book: LetterBook,
) -> dict[str, Any]:
    plan = book.plan_for(case, determination)
    letters = _program_desk(_letter_data(plan, case), case, plan, book)
    zone = _reader_zone(recipient, plan)
    decided = _local(determination.decided_at, zone) or determination.decided_at
    today = decided.date()
    member = case.member
    provider_roles = {
        "requester": case.requester or case.ordering,
        "ordering": case.ordering or case.requester,
        "facility": case.facility or case.rendering,
        "rendering": case.rendering or case.facility,
    }
    address = recipient.get("address") or {}
    city = _city(address.get("city"), address.get("state"), address.get("postal_code"))
    window = [
        recipient.get("name") or ("Member" if recipient.get("role") == "member" else ""),
        *([f"Attn: {recipient['contact_name']}"] if recipient.get("contact_name") else []),
        *(address.get("lines") or []),
        *([city] if city else []),
    ]
    days = None
    if determination.period_start and determination.period_end:
        days = (determination.period_end - determination.period_start).days + 1
    return {
        "kind": kind,
        "case": case,
        "d": determination,
        "status": determination.status.value,
        "letters": letters,
        "plan_name": plan.name if plan else letters.program,
        "recipient": recipient,
        "to_member": recipient.get("role") == "member",
        "window": [line for line in window if line],
        "today": today,
        "zone": getattr(zone, "key", DEFAULT_ZONE),
        "hold_due": _local(determination.hold_due, zone),
        "due_by": _local(determination.due_by, zone),
        "alternative_respond_by": _local(_respond_by(determination), zone),
        "member": {
            "name": _person(
                " ".join(p for p in (member.first_name, member.middle_name, member.last_name) if p)
            ),
            "first_name": _person(member.first_name or ""),
            "id": member.member_id,
            "birth_date": member.birth_date,
        },
        "ordering": _provider(provider_roles["ordering"]),
        "facility": _provider(provider_roles["facility"]),
        "requester": _provider(provider_roles["requester"]),
        "diagnoses": [
            {"code": d.code, "words": _diagnosis(d.code), "primary": d.primary}
            for d in case.diagnoses
        ],
        "services": _services(case, determination, book),
        "one_time": _one_time(case, determination, plan),
        "regimen": book.regimens.get(determination.pathway_regimen or "") or None,
        "missing": [_words(name, book.facts) for name in determination.missing_facts],
        "appeal": _appeal(case, determination, plan, today),
        "reviewer": _reviewer(determination, letters),
        # The reviewer's words for a member: drugs by name where they wrote a code.
        "member_rationale": _named(determination.rationale, book),
        "days": days,
        "urgent": determination.urgency.value == "urgent",
        "received": _local(case.submission.received_at, zone),
    }


# ---------------------------------------------------------------- rendering


def letter_text(
    kind: str,
    case: Case,
    determination: Determination,
    recipient: Mapping[str, Any],
    *,
    book: LetterBook | None = None,
) -> str:
    """The letter as markup (letter_layout.py's vocabulary), from its template."""
    reader = "member" if recipient.get("role") == "member" else "provider"
    chosen = template(kind, reader)
    context = letter_context(kind, case, determination, recipient, book or default_book())
    return chosen.render(context)


def _meta(case: Case, determination: Determination, book: LetterBook) -> tuple[str, str]:
    letters = _letter_data(book.plan_for(case, determination), case)
    return f"Prior authorization letter, case {case.id}", letters.organization


def render_letter(
    kind: str,
    case: Case,
    determination: Determination,
    recipient: Mapping[str, Any],
    *,
    book: LetterBook | None = None,
    portal_url: str | None = None,
) -> bytes:
    """The letter `kind` for `recipient` as PDF bytes. `portal_url` is accepted for callers of
    the earlier signature and not printed: the operator API is not a page a reader can open."""
    del portal_url
    book = book or default_book()
    story, footer = letter_layout.letter_story(
        letter_text(kind, case, determination, recipient, book=book)
    )
    title, author = _meta(case, determination, book)
    pdf, _ = letter_layout.build_pdf(
        story, footer=footer, created=determination.decided_at, title=title, author=author
    )
    return pdf


def render_fax(
    kind: str,
    case: Case,
    determination: Determination,
    recipient: Mapping[str, Any],
    *,
    book: LetterBook | None = None,
) -> bytes:
    """A fax job: a cover sheet (to, from, fax numbers, pages, confidentiality notice), then
    the letter."""
    book = book or default_book()
    context = letter_context(kind, case, determination, recipient, book)
    letter_markup = template(kind, "provider").render(context)
    title, author = _meta(case, determination, book)
    # The cover states the page count, known only once the fax is laid out. Faxes of one kind
    # mostly run to the same length, so the count of the last one is tried first: when the
    # layout agrees, that one build is the fax (the same bytes as counting first, then
    # printing); else it is built again with the count it came to.
    pages = _PAGES_SEEN.get(kind, 0)
    for _ in range(3):
        cover = cover_template().render({**context, "pages": pages or None})
        story, footer = letter_layout.letter_story(letter_markup)
        story = letter_layout.with_cover(letter_layout.cover_story(cover), story)
        pdf, counted = letter_layout.build_pdf(
            story,
            footer=footer,
            created=determination.decided_at,
            title=title,
            author=author,
            first_template="cover",
        )
        if counted == pages:
            break
        pages = counted
    _PAGES_SEEN[kind] = pages
    return pdf


# Letter kind -> the page count of its last fax (render_fax's first guess).
_PAGES_SEEN: dict[str, int] = {}


def count_pages(pdf: bytes) -> int:
    """Pages of a reportlab PDF (its page objects are never compressed)."""
    return len(re.findall(rb"/Type\s*/Page\b", pdf))
