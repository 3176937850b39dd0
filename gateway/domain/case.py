"""The canonical case: what every channel maps a request to, and what review decides on.

Every field listed under "What a request carries" in DOMAIN.md has a home here, so that a 278 and
a PAS bundle carrying the same request produce the same Case and no channel loses what it was
given. Channels fill it; the core reads it; nothing here knows X12 or FHIR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)


class Program(StrEnum):
    """The program a request falls under (DOMAIN.md: Service)."""

    CHEMO = "CHEMO"  # medical oncology, primary therapy
    SPORT = "SPORT"  # medical oncology, supportive drugs (antiemetics, growth factors, ...)
    DME = "DME"
    HOME_HEALTH = "HOME_HEALTH"
    SLEEP = "SLEEP"  # sleep testing (the home health / DME program; reviewed by the UM vendor)


class Urgency(StrEnum):
    STANDARD = "standard"
    URGENT = "urgent"


class Channel(StrEnum):
    X12 = "x12"
    PAS = "pas"
    API = "api"


class Gender(StrEnum):
    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class Address(Model):
    lines: list[str] = Field(default_factory=list)
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Member(Model):
    member_id: str
    last_name: str | None = None
    first_name: str | None = None
    middle_name: str | None = None
    birth_date: date | None = None
    gender: Gender = Gender.UNKNOWN
    phone: str | None = None
    address: Address | None = None
    # 2000D: a dependent patient is carried beside the subscriber's id.
    relationship: str | None = None


class Provider(Model):
    """A person or organization in a role: ordering/requesting, rendering, facility."""

    role: str  # requester, ordering, rendering, facility, servicing
    entity_code: str | None = None  # X12 NM101 (1P, DK, SJ, FA, ...)
    organization_name: str | None = None
    last_name: str | None = None
    first_name: str | None = None
    npi: str | None = None
    tin: str | None = None
    taxonomy: str | None = None
    address: Address | None = None
    phone: str | None = None
    fax: str | None = None
    email: str | None = None
    contact_name: str | None = None
    # A provider who opted in gets an e-mail notice of every status change (DOMAIN.md: Notices).
    email_opt_in: bool = False

    @property
    def display_name(self) -> str:
        if self.organization_name:
            return self.organization_name
        return " ".join(p for p in (self.first_name, self.last_name) if p) or "(unnamed)"


class Diagnosis(Model):
    code: str  # ICD-10-CM, stored with its dot (C50.911)
    primary: bool = False
    onset_date: date | None = None


class Dosing(Model):
    dose: str | None = None  # free text as sent, e.g. "175 mg/m2"
    schedule: str | None = None  # e.g. "every 14 days x 4"
    route: str | None = None


class ServiceLine(Model):
    sequence: int
    code: str  # HCPCS J/Q code or CPT
    code_system: str = "HCPCS"
    modifiers: list[str] = Field(default_factory=list)
    description: str | None = None
    units: float | None = None
    unit_type: str | None = None  # X12 SV104 (UN units, MJ minutes, DA days)
    start_date: date | None = None
    end_date: date | None = None
    place_of_service: str | None = None
    dosing: Dosing | None = None
    trace_number: str | None = None  # 2000F TRN02
    # Home health / DME facts (DOMAIN.md: Home Health and DME), the same from both channels
    # (X12 SV1 modifiers and quantity, HSD, MSG; PAS item modifier and quantity, DeviceRequest /
    # ServiceRequest): filled in from the program's items by gateway.domain.criteria.
    rental: bool | None = None  # True a rental (modifier RR), False a purchase (NU)
    rental_months: int | None = None  # months of a monthly rental
    already_delivered: bool | None = None
    visits: int | None = None  # home health: the visits asked for
    discipline: str | None = None  # home health: skilled nursing, physical therapy, ...
    quantity_frequency: str | None = None  # HSD as sent
    # PAS: what the channel needs to echo the item back exactly.
    source_ref: str | None = None
    cancelled: bool = False


class Attachment(Model):
    """Clinical documentation sent or announced with the request (X12 PWK, PAS supportingInfo)."""

    report_type: str | None = None  # PWK01 / attachment type
    transmission: str | None = None  # PWK02 (EL electronic, FX fax, ...)
    control_number: str | None = None  # PWK06
    filename: str | None = None
    content_type: str | None = None
    size_bytes: int | None = None
    description: str | None = None


class ClinicalFacts(Model):
    """Facts the pathway decides on (DOMAIN.md: Clinical facts for the pathway).

    `values` holds every fact by its pathway name (her2_status, distant_metastasis,
    line_of_therapy, ...); `sources` says where each came from (diagnosis code, channel, reviewer),
    so that an explanation can cite it.
    """

    values: dict[str, Any] = Field(default_factory=dict)
    sources: dict[str, str] = Field(default_factory=dict)
    height_cm: float | None = None
    weight_kg: float | None = None
    comorbidities: list[str] = Field(default_factory=list)
    prior_treatments: list[str] = Field(default_factory=list)
    clinical_trial: bool | None = None
    notes: list[str] = Field(default_factory=list)

    def merged(self, values: dict[str, Any], source: str) -> ClinicalFacts:
        """A copy with `values` added over the existing ones, each tagged with its source."""
        out = self.model_copy(deep=True)
        for name, value in values.items():
            if value is None or value == "":
                continue
            out.values[name] = value
            out.sources[name] = source
        return out


class Submission(Model):
    """Where the request came from and how to recognise it again (DESIGN.md decision 7)."""

    channel: Channel
    submitter_id: str | None = None  # ISA06 / partner id / PAS sender
    received_at: datetime
    bht_reference: str | None = None  # BHT03
    trace_numbers: list[str] = Field(default_factory=list)  # 2000E TRN02 values
    bundle_identifier: str | None = None  # PAS Bundle.identifier.value
    claim_identifier: str | None = None  # PAS Claim.identifier.value
    content_hash: str | None = None
    # Channel-specific detail a writer needs to answer in kind (fullUrls, HL ids, ...).
    echo: dict[str, Any] = Field(default_factory=dict)


class ChangeReference(Model):
    """The certification a change request names. `qualifier`: BB (an authorization number),
    NT (the administrative reference the gateway answered with: the case id, or the submitter's
    own trace of the original request), or claim (a PAS Claim.related identifier)."""

    qualifier: str
    value: str


class Case(Model):
    """One prior-authorization request for a member's treatment plan."""

    id: str | None = None
    payer_id: str | None = None  # 2010A NM109 / PAS insurer identifier
    payer_name: str | None = None
    member: Member
    subscriber: Member | None = None  # when the patient is a dependent (2000D)
    requester: Provider | None = None  # 2010B: who sent it (often the ordering provider)
    ordering: Provider | None = None  # 2010EA DK
    rendering: Provider | None = None  # 2010EA SJ
    facility: Provider | None = None  # 2010EA FA / 77
    program: Program = Program.CHEMO
    request_category: str = "HS"  # UM01: HS health services review, SC specialty care, AR
    certification_type: str = "I"  # UM02: I initial, 1 appeal, 3 cancel, 4 extension, S revised
    service_type: str | None = "78"  # UM03: 78 chemotherapy
    place_of_service: str | None = None  # UM04-1 / Claim.item.locationCodeableConcept
    start_date: date | None = None
    end_date: date | None = None
    diagnoses: list[Diagnosis] = Field(default_factory=list)
    service_lines: list[ServiceLine] = Field(default_factory=list)
    facts: ClinicalFacts = Field(default_factory=ClinicalFacts)
    urgency: Urgency = Urgency.STANDARD
    attachments: list[Attachment] = Field(default_factory=list)
    same_tin_billing: bool | None = None
    messages: list[str] = Field(default_factory=list)  # 2000E MSG free text
    submission: Submission
    related_case_id: str | None = None  # a supportive case points at its primary case
    prior_case_id: str | None = None  # an update or cancel points at the case it changes
    # What a change request names as the certification it changes, as sent (X12 REF*BB / REF*NT,
    # PAS Claim.related); the case service resolves it to `prior_case_id` (gateway.domain.changes).
    change_reference: ChangeReference | None = None

    @property
    def primary_diagnosis(self) -> Diagnosis | None:
        for diagnosis in self.diagnoses:
            if diagnosis.primary:
                return diagnosis
        return self.diagnoses[0] if self.diagnoses else None

    @property
    def active_lines(self) -> list[ServiceLine]:
        return [line for line in self.service_lines if not line.cancelled]

    @property
    def hospital_discharge_pending(self) -> bool:
        """DOMAIN.md: a "hospital discharge pending" request heads the work list (X12 MSG
        HOSPITAL_DISCHARGE_PENDING=Y, PAS supportingInfo dischargeDates or the same message)."""
        value = self.facts.values.get("hospital_discharge_pending")
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in {"true", "yes", "y", "1"}

    @property
    def service_date(self) -> date | None:
        dates = [line.start_date for line in self.active_lines if line.start_date]
        return self.start_date or (min(dates) if dates else None)


class CaseStatus(StrEnum):
    """Where a case stands. X12 review actions are in `Determination.review_action`."""

    APPROVED = "approved"
    MODIFIED = "modified"  # approved other than asked (site-of-care one-time 30 days, ...)
    PARTIALLY_APPROVED = "partially_approved"
    PENDED = "pended"  # clinical review or peer to peer
    HELD = "held"  # waiting for missing clinical information by a date
    DENIED = "denied"  # only ever by a physician reviewer
    NOT_REQUIRED = "not_required"  # no prior authorization needed in this setting
    OUT_OF_SCOPE = "out_of_scope"  # expired: not the program's to decide
    REDIRECTED = "redirected"  # pharmacy benefit with the member's PBM
    REJECTED = "rejected"  # the request cannot be reviewed (member not found, not eligible)
    CANCELLED = "cancelled"
    WITHDRAWN = "withdrawn"

    @property
    def is_final(self) -> bool:
        return self not in (CaseStatus.PENDED, CaseStatus.HELD)


class PendKind(StrEnum):
    CLINICAL_REVIEW = "clinical_review"  # a custom treatment plan
    PEER_TO_PEER = "peer_to_peer"  # a listed, non-preferred regimen
    HOLD = "hold"  # missing clinical information, asked for by a date
    SITE_OF_CARE = "site_of_care"


class Reason(Model):
    """Why: which plan rule and which pathway row decided (DESIGN.md decision 4)."""

    code: str  # the gateway's own reason code, e.g. PATHWAY_PREFERRED
    text: str  # one sentence a provider can read (letters, MSG, processNote)
    plan_rule: str | None = None  # e.g. "cigna-62308-commercial:site_of_care"
    pathway_row: str | None = None  # e.g. "breast:her2neg-ddact"
    x12_reason: str | None = None  # HCR03 (industry code list 886 / X12 306 reason)


class Rejection(Model):
    """A request that cannot be reviewed, answered with X12 AAA / PAS error (not a denial)."""

    loop: str  # 2010C, 2000E, 2010A, ...
    aaa_code: str  # AAA03
    follow_up: str = "C"  # AAA04: C correct and resubmit, N resubmission not allowed
    text: str


class LineDetermination(Model):
    sequence: int
    code: str
    review_action: str  # A1, A2, A3, A4, A6, CT, NA, C
    auth_number: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    units: float | None = None
    reason: Reason | None = None
    place_of_service: str | None = None  # set when the approval moves the site of care


class FiledAppeal(Model):
    """An appeal of a determination, forwarded to the payer (issue 12 item 4: first-level
    appeals are the payer's; gateway.domain.appeals holds the rules)."""

    received_at: datetime
    expedited: bool  # X12 UM02 1 (immediate) / 2 (standard)
    appellant: str  # member or provider
    due_at: datetime  # when the payer's appeal decision is due (its clock)
    window_ends: date  # the last day the appeal could be filed
    channel: str  # rest, x12, fhir
    reason: str | None = None
    appealed: dict[str, Any]  # the determination appealed, as stored
    outcome: str | None = None  # overturned / upheld, once the payer decided
    decided_at: datetime | None = None


class Determination(Model):
    status: CaseStatus
    review_action: str  # X12 306 code for the whole case: A1 A2 A3 A4 A6 CT NA C
    reason: Reason
    lines: list[LineDetermination] = Field(default_factory=list)
    auth_number: str | None = None
    period_start: date | None = None
    period_end: date | None = None
    pend_kind: PendKind | None = None
    missing_facts: list[str] = Field(default_factory=list)
    hold_due: datetime | None = None  # when missing information must arrive
    due_by: datetime | None = None  # when the program must decide (the clock)
    urgency: Urgency = Urgency.STANDARD
    rejection: Rejection | None = None
    decided_at: datetime
    decided_by: str = "gateway"  # "gateway" or a reviewer id
    # Who asked for the change this determination answers (a channel actor such as
    # "x12:<ISA06>"), when it answers a requester's change rather than a review or a clock.
    requested_by: str | None = None
    rationale: str | None = None  # reviewer's words (denials, modifications)
    guideline: str | None = None  # guideline relied on
    appeal: dict[str, Any] | None = None  # appeal rights, peer-to-peer, reconsideration
    plan_id: str | None = None
    pathway_regimen: str | None = None
    site_of_care_redirect: str | None = None  # 11 or 12 when the approval moves the drug
    # A reviewer's alternative regimen for a pended case, and the provider's answer
    # (gateway.domain.alternatives): offered, then accepted or declined.
    alternative: dict[str, Any] | None = None
    updates_follow: bool = False  # BHT06: 18 when a pended request will be updated
    # Post-decision machinery (issue 12 items 3-5): an appeal forwarded to the payer, whose
    # decision this is ("reconsideration" / "appeal": the outcome letters), and when an
    # approval's period ended (the worker's clock; the feed hears of it).
    filed_appeal: FiledAppeal | None = None
    outcome_of: str | None = None
    expired_at: datetime | None = None

    @property
    def is_final(self) -> bool:
        return self.status.is_final


@dataclass
class StoredCase:
    """A case as the store holds it: the case, its current determination and its history."""

    case: Case
    determination: Determination | None
    status: CaseStatus
    created_at: datetime
    updated_at: datetime
    events: list[dict[str, Any]] = field(default_factory=list)
    children: list[str] = field(default_factory=list)
