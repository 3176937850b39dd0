"""Authorization lookup for providers (issue 11, item 5): by authorization number with an NPI of
the case, or by member (id and date of birth) with an NPI.

Read-only over the store. What a caller may see is decided here, with the one isolation check
(`gateway.partners.isolation.can_read`) on every case before anything of it is read out, and a
case the caller may not see is answered exactly like one that does not exist.

"Acts for the NPI": a caller names the provider it asks for. A partner whose registry entry lists
NPIs acts only for those (an EHR of one practice may not look up its referral partner's
authorizations by naming the partner's NPI, even on a case it may read); a partner with no NPIs
registered (a clearinghouse relaying for many practices) is not held to a list it does not have,
and `can_read` alone bounds it (the cases it sent, the organizations of its TINs). Reviewers and
operators look up on a provider's behalf and act for any NPI.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain.actions import ReviewAction
from gateway.domain.case import Case, CaseStatus, Determination, LineDetermination, Provider
from gateway.domain.changes import IN_FORCE
from gateway.domain.outcomes import (
    CASE_PREFIX,
    auth_number_for,
    auth_number_for_id,
    case_id_for_auth_number,
)
from gateway.partners.isolation import PARTY_ROLES, can_read
from gateway.partners.principal import Principal, acts_for
from gateway.store.lookup import member_case_ids
from gateway.store.models import CaseEventRow, CaseRow, OutboxJobRow

# Outbound jobs that are a letter or notice to a provider or the member (gateway.notify.jobs);
# the payer feed and subscription notifications are system traffic, not letters.
LETTER_KINDS = ("fax", "provider_mail", "member_mail", "email")
# Statuses whose determination issues an authorization number (A1, A2, A6). A case that was
# once in one of them is an authorization still, whatever happened to it since (cancelled,
# withdrawn): a provider who holds the number learns that it no longer stands.
AUTHORIZING = frozenset(
    {CaseStatus.APPROVED.value, CaseStatus.MODIFIED.value, CaseStatus.PARTIALLY_APPROVED.value}
)
# The most authorizations one member lookup answers (a bound on the work of one request).
MEMBER_LIMIT = 20


class AuthorizedDrug(BaseModel):
    """One service line of the authorization as decided."""

    sequence: int
    code: str = Field(description="HCPCS (J/Q) or CPT code as requested")
    name: str | None = Field(default=None, description="the drug's name from the drug table")
    units: float | None = Field(
        default=None, description="units authorized (the units requested when none were set)"
    )
    unit_type: str | None = Field(default=None, description="X12 SV104: UN units, DA days, ...")
    quantity: str | None = Field(default=None, description="quantity and frequency as sent")
    review_action: str | None = Field(
        default=None, description="X12 306 code of the line: A1 A2 A3 A4 A6 CT NA C"
    )
    status: str | None = Field(default=None, description="the review action in words")
    period_start: date | None = None
    period_end: date | None = None
    place_of_service: str | None = None


class LetterSent(BaseModel):
    """A letter or notice the case caused; the recipient by role only."""

    kind: str = Field(description="fax, provider_mail, member_mail or email")
    letter: str | None = Field(
        default=None, description="the letter template (approval, denial, hold, ...)"
    )
    recipient_role: str | None = Field(default=None, description="ordering, facility, member, ...")
    state: str = Field(description="queued, sending, delivered or dead")
    queued_at: datetime
    sent_at: datetime | None = Field(default=None, description="when it was delivered")


class Authorization(BaseModel):
    """An authorization as a provider looks it up. The member appears by the id the caller gave:
    no name, address or date of birth goes back (the caller knows them; nobody else should
    learn them here)."""

    authorization_number: str
    case_id: str
    status: str = Field(description="the case's status now (approved, modified, cancelled, ...)")
    program: str
    member_id: str
    requesting_provider_npi: str | None = None
    ordering_provider_npi: str | None = None
    approved_at: datetime | None = Field(
        default=None, description="when the authorization was decided"
    )
    period_start: date | None = Field(default=None, description="authorized from")
    period_end: date | None = Field(default=None, description="authorized through (expiration)")
    expired: bool = Field(
        default=False, description="the period is over (the worker's clock marked it expired)"
    )
    drugs: list[AuthorizedDrug] = Field(default_factory=list)
    letters: list[LetterSent] = Field(default_factory=list)
    supports: str | None = Field(
        default=None, description="a supportive drug's authorization: the primary's number"
    )
    replaces: str | None = Field(
        default=None, description="the authorization this one changes (the case's prior case)"
    )
    replaced_by: list[str] = Field(
        default_factory=list, description="authorizations of later cases that change this one"
    )


class MemberAuthorizations(BaseModel):
    authorizations: list[Authorization]


def acts_for_npi(principal: Principal, npi: str) -> bool:
    """May this caller ask as the provider with this NPI (see the module's docstring)?"""
    if principal.local or principal.sees_all or not principal.npis:
        return True
    return acts_for(principal, npi=npi)


def names_npi(case: Case, npi: str) -> bool:
    """Is the NPI one of the case's parties (requester, ordering, rendering, facility)?"""
    parties: list[Provider | None] = [getattr(case, role) for role in PARTY_ROLES]
    return any(party is not None and party.npi == npi for party in parties)


@dataclass(frozen=True)
class Lookup:
    """What a lookup found, or why it found nothing (for the audit trail, never the caller)."""

    authorization: Authorization | None
    refusal: str | None = None


class AuthorizationLookup:
    """The two lookups over a session factory (the case service's `core.sessions`)."""

    def __init__(self, sessions: sessionmaker[Session]):
        self.sessions = sessions

    def by_number(self, principal: Principal, number: str, npi: str) -> Lookup:
        case_id = case_id_for_auth_number(number)
        if case_id is None:
            return Lookup(None, "not an authorization number")
        with self.sessions() as session:
            row = session.get(CaseRow, case_id)
            if row is None:
                return Lookup(None, "no such case")
            # The one isolation check first: nothing else is read of a case the caller may not see.
            if not can_read(principal, row):
                return Lookup(None, "another partner's case")
            case = Case.model_validate(row.case_json)
            if not names_npi(case, npi):
                return Lookup(None, "the NPI is no party of the case")
            if not acts_for_npi(principal, npi):
                return Lookup(None, "the caller does not act for the NPI")
            views = _Views(session, principal, [(row, case)])
            authorization = views.one(row, case)
            if authorization is None:
                return Lookup(None, "no authorization was issued on the case")
            return Lookup(authorization)

    def for_member(
        self,
        principal: Principal,
        member_id: str,
        birth_date: date,
        npi: str,
        limit: int = MEMBER_LIMIT,
    ) -> list[Authorization]:
        """The member's authorizations naming the NPI, newest first: the newest `limit` cases of
        the member that name it (one indexed read), those the caller may see, whose member has
        this date of birth and that were issued an authorization."""
        if not acts_for_npi(principal, npi):
            return []
        with self.sessions() as session:
            ids = member_case_ids(session, member_id.strip().upper(), npi, limit=limit)
            rows = {
                row.id: row
                for row in session.execute(select(CaseRow).where(CaseRow.id.in_(ids))).scalars()
            }
            found: list[tuple[CaseRow, Case]] = []
            for case_id in ids:
                row = rows.get(case_id)
                if row is None or not can_read(principal, row):
                    continue
                case = Case.model_validate(row.case_json)
                if case.member.birth_date != birth_date or not names_npi(case, npi):
                    continue
                found.append((row, case))
            views = _Views(session, principal, found)
            out = [views.one(row, case) for row, case in found]
            return [authorization for authorization in out if authorization is not None]


class _Views:
    """Authorization views of a few cases, with their letters, events and successors read in one
    query each."""

    def __init__(self, session: Session, principal: Principal, cases: list[tuple[CaseRow, Case]]):
        ids = [row.id for row, _ in cases]
        self.letters = _letters(session, ids)
        self.authorized_at = _authorized_at(session, ids)
        self.successors = _successors(session, principal, ids)

    def one(self, row: CaseRow, case: Case) -> Authorization | None:
        """The case as an authorization, or None when it was never issued one."""
        determination = (
            Determination.model_validate(row.determination_json) if row.determination_json else None
        )
        number = auth_number_for(case)
        approved_at: datetime | None = None
        period: tuple[date | None, date | None] = (None, None)
        if (
            determination is not None
            and determination.status in IN_FORCE
            and (
                determination.auth_number == number
                or any(line.auth_number == number for line in determination.lines)
            )
        ):
            # The authorization stands: the current determination gives its date and period.
            approved_at = determination.decided_at
            period = (determination.period_start, determination.period_end)
        elif row.id in self.authorized_at:
            # Issued once, then cancelled or withdrawn: when it was issued; no period stands.
            approved_at = self.authorized_at[row.id]
        else:
            return None
        return Authorization(
            authorization_number=number,
            case_id=row.id,
            status=row.status,
            program=row.program,
            member_id=case.member.member_id,
            requesting_provider_npi=case.requester.npi if case.requester else None,
            ordering_provider_npi=case.ordering.npi if case.ordering else None,
            approved_at=approved_at,
            period_start=period[0],
            period_end=period[1],
            expired=determination is not None and determination.expired_at is not None,
            drugs=_drugs(case, determination),
            letters=self.letters.get(row.id, []),
            supports=_number_of(case.related_case_id),
            replaces=_number_of(case.prior_case_id),
            replaced_by=self.successors.get(row.id, []),
        )


def _case_id_of(reference: str) -> str:
    """The case a prior-case reference names. A PAS update names the prior case by its id; an
    X12 revision (UM02 S, 4, 3) carries the authorization number it changes (2000E REF*BB) and is
    stored as sent, so both spellings lead to the same case."""
    return case_id_for_auth_number(reference) or reference


def _number_of(reference: str | None) -> str | None:
    if not reference:
        return None
    case_id = _case_id_of(reference)
    # A reference that is neither a case id nor a number of ours (another payer's number in
    # REF*BB) is shown as sent rather than dressed up as one of ours.
    return auth_number_for_id(case_id) if case_id.startswith(CASE_PREFIX) else reference


def _drugs(case: Case, determination: Determination | None) -> list[AuthorizedDrug]:
    decided: dict[int, LineDetermination] = (
        {line.sequence: line for line in determination.lines} if determination else {}
    )
    drugs = []
    for line in case.service_lines:
        verdict = decided.get(line.sequence)
        action = verdict.review_action if verdict else None
        drugs.append(
            AuthorizedDrug(
                sequence=line.sequence,
                code=line.code,
                name=line.description,
                units=(verdict.units if verdict and verdict.units is not None else line.units),
                unit_type=line.unit_type,
                quantity=line.quantity_frequency,
                review_action=action,
                status=_reads(action),
                period_start=verdict.period_start if verdict else None,
                period_end=verdict.period_end if verdict else None,
                place_of_service=(verdict.place_of_service if verdict else None)
                or line.place_of_service
                or case.place_of_service,
            )
        )
    return drugs


def _reads(action: str | None) -> str | None:
    try:
        return ReviewAction(action).reads if action else None
    except ValueError:
        return None


def _letters(session: Session, case_ids: Collection[str]) -> dict[str, list[LetterSent]]:
    out: dict[str, list[LetterSent]] = {}
    if not case_ids:
        return out
    query = (
        select(OutboxJobRow)
        .where(OutboxJobRow.case_id.in_(list(case_ids)), OutboxJobRow.kind.in_(LETTER_KINDS))
        .order_by(OutboxJobRow.id)
    )
    for job in session.execute(query).scalars():
        payload: dict[str, Any] = job.payload or {}
        recipient = payload.get("recipient") or {}
        out.setdefault(job.case_id or "", []).append(
            LetterSent(
                kind=job.kind,
                # An e-mail notice tells a status change; it has no letter template.
                letter=payload.get("letter") or ("status_notice" if job.kind == "email" else None),
                recipient_role=recipient.get("role") or payload.get("role"),
                state=job.state,
                queued_at=job.created_at,
                sent_at=job.delivered_at,
            )
        )
    return out


def _authorized_at(session: Session, case_ids: Collection[str]) -> dict[str, datetime]:
    """When each case was last given an authorizing status, for the cases that ever were."""
    if not case_ids:
        return {}
    query = (
        select(CaseEventRow.case_id, CaseEventRow.at)
        .where(CaseEventRow.case_id.in_(list(case_ids)), CaseEventRow.to_status.in_(AUTHORIZING))
        .order_by(CaseEventRow.id)
    )
    return {case_id: at for case_id, at in session.execute(query)}


def _successors(
    session: Session, principal: Principal, case_ids: Iterable[str]
) -> dict[str, list[str]]:
    """The authorization numbers of the cases that change each case (their prior_case_id, by
    case id or by authorization number), of those the caller may see."""
    ids = list(case_ids)
    out: dict[str, list[str]] = {}
    if not ids:
        return out
    references = ids + [auth_number_for_id(case_id) for case_id in ids]
    query = select(CaseRow).where(CaseRow.prior_case_id.in_(references)).order_by(CaseRow.id)
    for row in session.execute(query).scalars():
        if row.prior_case_id and can_read(principal, row):
            out.setdefault(_case_id_of(row.prior_case_id), []).append(auth_number_for_id(row.id))
    return out
