"""Which cases a partner may see: those it submitted (under its partner id or one of its X12
sender ids), and those of the organizations it acts for; reviewers and operators see all. A case
a partner may not see does not exist for it (404, never 403: a 403 would confirm that the case id
is real).

`can_read` is the one isolation check (issue 18): every path that hands a case to a caller (REST
reads and lists, PAS $inquire and updates, subscription notifications) passes through it.
`readable_filter` is the same rule as SQL, used only to narrow a query before `can_read` runs on
what it returns."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from gateway.domain.case import Case
from gateway.partners.models import PartnerRow
from gateway.partners.principal import AUTH_DISABLED_OPERATOR, LOCAL_OPERATOR, Principal
from gateway.partners.registry import principal_for
from gateway.store.models import CaseRow

# The parties of a case whose organization makes it a partner's case (issue 5).
PARTY_ROLES = ("requester", "ordering", "rendering", "facility")


def _parties(case: CaseRow | Case | dict[str, Any]) -> list[dict[str, Any]]:
    if isinstance(case, CaseRow):
        data = case.case_json or {}
    elif isinstance(case, Case):
        data = case.model_dump(mode="json", include=set(PARTY_ROLES))
    else:
        data = case
    return [data[role] for role in PARTY_ROLES if isinstance(data.get(role), dict)]


def _submitter(case: CaseRow | Case | dict[str, Any]) -> str | None:
    if isinstance(case, CaseRow):
        return case.submitter_id
    if isinstance(case, Case):
        return case.submission.submitter_id
    return (case.get("submission") or {}).get("submitter_id")


def can_read(principal: Principal, case: CaseRow | Case | dict[str, Any]) -> bool:
    """May this principal see this case (a CaseRow, a Case, or a case's JSON)?"""
    if principal.local or principal.sees_all:
        return True
    submitter = _submitter(case)
    # A case recorded under one of its X12 sender ids (ISA06) is its own too: the registry gives
    # each sender id to one partner only.
    if submitter and (submitter == principal.partner_id or submitter in principal.sender_ids):
        return True
    for party in _parties(case):
        if party.get("npi") and party["npi"] in principal.npis:
            return True
        if party.get("tin") and party["tin"] in principal.tins:
            return True
    return False


def readable_filter(principal: Principal) -> ColumnElement[bool]:
    """The same rule as `can_read`, as a WHERE clause on CaseRow (SQLite and PostgreSQL JSON)."""
    if principal.local or principal.sees_all:
        return true()
    clauses: list[ColumnElement[bool]] = [CaseRow.submitter_id == principal.partner_id]
    if principal.sender_ids:
        clauses.append(CaseRow.submitter_id.in_(sorted(principal.sender_ids)))
    for role in PARTY_ROLES:
        if principal.npis:
            npi = CaseRow.case_json[(role, "npi")].as_string()
            clauses.append(npi.in_(sorted(principal.npis)))
        if principal.tins:
            tin = CaseRow.case_json[(role, "tin")].as_string()
            clauses.append(tin.in_(sorted(principal.tins)))
    return or_(false(), *clauses)


def readable_cases(
    session: Session, principal: Principal, status: str | None = None, limit: int = 200
) -> list[CaseRow]:
    """Core.list_cases for one principal: the most urgent (earliest due-by time) first."""
    query = select(CaseRow).where(readable_filter(principal))
    if status:
        query = query.where(CaseRow.status == status)
    query = query.order_by(CaseRow.due_by.is_(None), CaseRow.due_by, CaseRow.created_at)
    # The SQL filter narrows the query; the one check decides (they must never disagree, and if
    # they ever do, the stricter answer wins).
    rows = session.execute(query.limit(limit)).scalars()
    return [row for row in rows if can_read(principal, row)]


def readable_case(session: Session, principal: Principal, case_id: str) -> CaseRow | None:
    """The case if it exists and the principal may see it; None either way otherwise."""
    row = session.get(CaseRow, case_id)
    if row is None or not can_read(principal, row):
        return None
    return row


def partner_principal(session: Session, partner_id: str | None) -> Principal | None:
    """The principal a stored partner id acts as now, for work done on its behalf with no request
    in hand (subscription notifications). An unknown or disabled partner acts as no one."""
    if not partner_id:
        return None
    for builtin in (LOCAL_OPERATOR, AUTH_DISABLED_OPERATOR):
        if partner_id == builtin.partner_id:
            return builtin
    row = session.get(PartnerRow, partner_id)
    if row is None or not row.enabled:
        return None
    return principal_for(row)
