"""Plan policies and code tables, read once from mappings/ into typed structures.

A rule that differs between plans is a field here, filled from a plan file (STYLE.md: rules as
data); review.py reads the fields and never asks which payer it is looking at.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from gateway.domain.clocks import add_business_days
from gateway.domain.yamlfiles import safe_load


class AuthorizationSpan(BaseModel):
    unit: Literal["months", "days"]
    min: int
    max: int
    anchor: Literal["determination", "service_start"] = "service_start"


class SiteOfCare(BaseModel):
    one_time_days: int
    redirect_to: list[str]
    # DOMAIN.md: the payer follows up before a one-time site-of-care approval expires; the
    # payer feed carries the notice this many days before the last day.
    follow_up_days_before_expiry: int = 7


class Retro(BaseModel):
    allowed: bool
    max_days: int


class Appeal(BaseModel):
    window_days: int
    expedited_hours: int
    standard_member_days: int
    standard_provider_days: int


class LineOfBusinessClock(BaseModel):
    """A regulation's decision clock on one line of business, over the program's own clock
    (the earlier of the two is due): CMS-0057-F for Medicare Advantage (DOMAIN.md)."""

    regulation: str = Field(min_length=1)  # cited in the work list and the refusal
    expedited_hours: int = Field(ge=1)
    standard_calendar_days: int = Field(ge=1)
    # Every denial states a specific reason (an X12 886 reason code beside the rationale).
    specific_denial_reason: bool = False


class Clocks(BaseModel):
    routine_target_business_days: int
    routine_max_business_days: int
    urgent_hours: int
    urgent_max_hours: int
    # Per line of business: a regulatory ceiling on the program's clock.
    lines_of_business: dict[str, LineOfBusinessClock] = Field(default_factory=dict)


class Hold(BaseModel):
    response_business_days: int


class Programs(BaseModel):
    prior_authorization_required: list[str]
    prior_authorization_not_required: list[str] = Field(default_factory=list)


class PeerToPeerRules(BaseModel):
    """How the plan runs peer-to-peer conversations (gateway/domain/peer_to_peer.py)."""

    # The number the ordering physician calls at the booked time.
    phone: str
    # A peer to peer after a denial (not only for a case pended for one).
    after_denial: bool = True
    # Lines of business whose peer to peer is a consultation that cannot overturn a denial.
    consultative_only_lines_of_business: list[str] = Field(default_factory=list)
    slot_minutes: int = Field(default=30, ge=10, le=120)
    minimum_notice_hours: int = Field(default=2, ge=0)
    booking_days: int = Field(default=14, ge=1, le=90)


class LetterContact(BaseModel):
    """A number a reader calls or faxes, and when someone answers."""

    phone: str | None = None
    fax: str | None = None
    tty: str | None = None
    hours: str | None = None


class AppealsOffice(BaseModel):
    name: str
    address: list[str]
    phone: str | None = None
    fax: str | None = None
    expedited_phone: str | None = None


class ReviewerCard(BaseModel):
    """A physician reviewer as a denial letter names them (DOMAIN.md: Denied)."""

    name: str
    credentials: str


class Tagline(BaseModel):
    language: str
    text: str


class LetterData(BaseModel):
    """What the plan's letters print (gateway/notify/letters.py): letterhead, the numbers to
    call, where appeals go, reviewers' names, language-assistance taglines."""

    organization: str
    program: str
    address: list[str] = Field(default_factory=list)
    provider_services: LetterContact
    clinical_fax: str | None = None  # where a hold's documentation is faxed
    peer_to_peer: LetterContact = Field(default_factory=LetterContact)
    member_services: LetterContact
    appeals: AppealsOffice
    external_review: bool = True
    reviewers: dict[str, ReviewerCard] = Field(default_factory=dict)
    taglines: list[Tagline] = Field(default_factory=list)


class PlanPolicy(BaseModel):
    id: str
    payer_id: str
    name: str
    lines_of_business: list[str]
    programs: Programs
    excluded_places_of_service: dict[str, str]
    excluded_settings: list[str]
    hospital_outpatient_places: list[str]
    partial_approvals: bool
    authorization: AuthorizationSpan
    site_of_care: SiteOfCare
    retro: Retro
    # The payer the gateway is run for: its determinations are the primary payer feed.
    primary: bool = False
    reconsideration: dict[str, list[str]]
    peer_to_peer: PeerToPeerRules
    appeal: Appeal
    clocks: Clocks
    hold: Hold
    contact: dict[str, str] = Field(default_factory=dict)
    # IANA zone of a provider whose address does not say where it is: retro windows count
    # calendar days in the provider's local date (gateway/local_dates.py).
    time_zone: str = "America/New_York"
    letters: LetterData | None = None

    def rule(self, name: str) -> str:
        """A citation for a determination's reason: which plan rule decided."""
        return f"{self.id}:{name}"

    def line_clock(self, line_of_business: str | None) -> LineOfBusinessClock | None:
        """The regulation's clock on this line of business, when one applies."""
        return self.clocks.lines_of_business.get(line_of_business or "")

    def review_due(
        self,
        received: datetime,
        *,
        expedited: bool,
        complete: bool,
        line_of_business: str | None = None,
    ) -> datetime:
        """When a decision is due: the program's clock (urgent hours; two business days after
        complete information, five at most), capped by the line of business's regulation
        (CMS-0057-F: 72 hours expedited, 7 calendar days standard)."""
        if expedited:
            due = received + timedelta(hours=self.clocks.urgent_hours)
        else:
            days = (
                self.clocks.routine_target_business_days
                if complete
                else self.clocks.routine_max_business_days
            )
            due = add_business_days(received, days)
        regulation = self.line_clock(line_of_business)
        if regulation is not None:
            ceiling = received + (
                timedelta(hours=regulation.expedited_hours)
                if expedited
                else timedelta(days=regulation.standard_calendar_days)
            )
            due = min(due, ceiling)
        return due

    def specific_denial_reason(self, line_of_business: str | None) -> bool:
        """Every denial on this line must state a specific reason (CMS-0057-F)."""
        regulation = self.line_clock(line_of_business)
        return regulation is not None and regulation.specific_denial_reason

    def reconsideration_allowed(self, line_of_business: str) -> bool:
        return line_of_business in self.reconsideration.get("lines_of_business", [])


class Drug(BaseModel):
    code: str
    name: str
    drug_class: str = Field(alias="class")  # chemo | supportive
    benefit: Literal["medical", "pharmacy"] = "medical"
    site_of_care: bool = False
    family: str | None = None
    supportive_class: str | None = None  # growth factor, antiemetic, ESA, bone agent

    model_config = {"populate_by_name": True}


def _icd_key(code: str) -> str:
    return code.replace(".", "").upper()


class DiagnosisScope(BaseModel):
    in_scope: list[tuple[str, str]]
    facts: dict[str, dict[str, object]]
    absent_means_false: list[str]

    def is_valid(self, code: str) -> bool:
        """A billable-or-category ICD-10-CM code, checked against the code set, not a hand list."""
        # The precomputed item set (gateway.domain.icd10cm), not the package's tree: building
        # that takes seconds of CPU at import, for one membership test (issue 19 item 2).
        from gateway.domain.icd10cm import is_valid_item

        return is_valid_item(_icd_key(code))

    def in_oncology_scope(self, code: str) -> bool:
        category = _icd_key(code)[:3]
        return any(low <= category <= high for low, high in self.in_scope)

    def facts_for(self, codes: list[str]) -> dict[str, object]:
        """Facts ICD-10-CM states directly (Z17.x receptor status, C77-C79 spread)."""
        found: dict[str, object] = {}
        for code in codes:
            key = _icd_key(code)
            for prefix, facts in self.facts.items():
                if key.startswith(_icd_key(prefix)):
                    found.update(facts)
        for name in self.absent_means_false:
            found.setdefault(name, False)
        return found


def normalize_icd(code: str) -> str:
    """ICD-10-CM with its dot after the category (C50911 -> C50.911)."""
    key = _icd_key(code.strip())
    return key if len(key) <= 3 else f"{key[:3]}.{key[3:]}"


class CodeTables(BaseModel):
    drugs: dict[str, Drug]
    scope: DiagnosisScope


def _load_yaml(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        return safe_load(handle) or {}


def load_code_tables(mappings_dir: Path) -> CodeTables:
    raw_drugs = _load_yaml(mappings_dir / "codes" / "drugs.yaml")["drugs"]
    drugs = {}
    for code, row in raw_drugs.items():
        row = dict(row)
        row["supportive_class"] = row.pop("drug_class", None)
        drugs[code] = Drug.model_validate({"code": code, **row})
    scope_raw = _load_yaml(mappings_dir / "codes" / "diagnosis_scope.yaml")
    scope = DiagnosisScope(
        in_scope=[tuple(pair) for pair in scope_raw["oncology"]["in_scope"]],
        facts=scope_raw["facts"],
        absent_means_false=scope_raw.get("absent_means_false", []),
    )
    return CodeTables(drugs=drugs, scope=scope)


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    # Clamp to the month's last day (Jan 31 + 1 month -> Feb 28/29).
    for candidate in (31, 30, 29, 28):
        try:
            return date(year, month, min(day.day, candidate))
        except ValueError:
            continue
    raise ValueError(day)
