"""The $inquire lookup: which cases a member's provider may ask about, by indexed columns.

Matching a member's cases on the parties' NPIs and the claim identifiers inside case_json meant
parsing the JSON of every case of the member (8,000 cases: seconds, issue 18). One narrow row per
(case, party NPI, trace number) kept beside the case answers the inquiry from one index instead.
Written with the case on intake and rewritten on every later change of it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from gateway.store.models import CaseLookupRow, CaseRow

# The parties whose NPI lets a provider inquire about a case (PAS $inquire, issue 3).
NPI_ROLES = ("requester", "ordering", "rendering", "facility")


def lookup_rows(
    case_id: str, member_key: str | None, case_json: dict[str, Any], created_at: datetime
) -> list[dict[str, object]]:
    """The lookup rows of a stored case, from its JSON (so that a migration needs no model)."""
    parties = [case_json.get(role) for role in NPI_ROLES]
    npis = sorted({str(p["npi"]) for p in parties if isinstance(p, dict) and p.get("npi")})
    submission = case_json.get("submission") or {}
    numbers = submission.get("trace_numbers") or []
    trace_numbers: list[str | None] = sorted({str(n) for n in numbers if n}) or [None]
    return [
        {
            "case_id": case_id,
            "member_key": member_key,
            "npi": npi,
            "trace_number": trace_number,
            "created_at": created_at,
        }
        for npi in npis
        for trace_number in trace_numbers
    ]


def index_case(
    session: Session,
    case_id: str,
    member_key: str | None,
    case_json: dict[str, Any],
    created_at: datetime,
    *,
    new: bool = False,
) -> None:
    """(Re)write the lookup rows of a case in the caller's transaction."""
    if not new:
        session.execute(delete(CaseLookupRow).where(CaseLookupRow.case_id == case_id))
    rows = lookup_rows(case_id, member_key, case_json, created_at)
    if rows:
        session.execute(insert(CaseLookupRow), rows)


def member_case_ids(
    session: Session,
    member_key: str,
    npi: str,
    claim_identifiers: Collection[str] = (),
    limit: int = 20,
) -> list[str]:
    """Ids of a member's cases naming this NPI (and one of the claim identifiers, when given),
    newest first, at most `limit`: read from the (member_key, npi, created_at) index."""
    query = select(CaseLookupRow.case_id, CaseLookupRow.created_at).where(
        CaseLookupRow.member_key == member_key, CaseLookupRow.npi == npi
    )
    if claim_identifiers:
        query = query.where(CaseLookupRow.trace_number.in_(sorted(set(claim_identifiers))))
    query = (
        query.distinct()
        .order_by(CaseLookupRow.created_at.desc(), CaseLookupRow.case_id.desc())
        .limit(limit)
    )
    return [case_id for case_id, _ in session.execute(query)]


def submitter_trace_case_ids(session: Session, submitter_id: str, trace_number: str) -> list[str]:
    """Cases a submitter sent under its own trace number (a change naming the original request
    by the trace it was sent with), newest first."""
    query = (
        select(CaseLookupRow.case_id)
        .join(CaseRow, CaseRow.id == CaseLookupRow.case_id)
        .where(CaseLookupRow.trace_number == trace_number, CaseRow.submitter_id == submitter_id)
        .distinct()
        .order_by(CaseLookupRow.case_id.desc())
        .limit(5)
    )
    return list(session.execute(query).scalars())
