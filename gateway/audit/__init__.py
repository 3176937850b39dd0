"""The audit trail: an append-only record of every create, read, update and export of a case,
of logins and of refused requests, exportable as FHIR AuditEvent.

Other routers call `record(session_or_core, ...)`; HTTP routers usually call
`gateway.api.auth.audit_request(request, ...)`, which fills in the partner, the source address,
the method and the route template.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from gateway.audit.models import AuditRow
from gateway.partners.principal import Principal
from gateway.store.models import utcnow

# FHIR AuditEvent.action
CREATE, READ, UPDATE, DELETE, EXECUTE = "C", "R", "U", "D", "E"
# FHIR AuditEvent.outcome
SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE, MAJOR_FAILURE = "0", "4", "8", "12"

__all__ = [
    "CREATE",
    "DELETE",
    "EXECUTE",
    "MAJOR_FAILURE",
    "MINOR_FAILURE",
    "READ",
    "SERIOUS_FAILURE",
    "SUCCESS",
    "UPDATE",
    "AuditRow",
    "append",
    "entries",
    "record",
    "trail",
]


class _HasSessions(Protocol):
    sessions: sessionmaker[Session]


def entries(
    *,
    event: str,
    action: str,
    outcome: str = SUCCESS,
    principal: Principal | None = None,
    partner_id: str | None = None,
    case_id: str | None = None,
    case_ids: Iterable[str] | None = None,
    source_address: str | None = None,
    method: str | None = None,
    path: str | None = None,
    status_code: int | None = None,
    outcome_desc: str | None = None,
    detail: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """The audit records `record` appends, as column values (one per case in `case_ids`, or
    one for `case_id`, or one with no case), for a caller that inserts them in a transaction
    of its own choosing (a group of intake requests, gateway/api/group.py)."""
    now = utcnow()
    # A search that found nothing is recorded too, as one record without a case.
    ids: list[str | None] = list(case_ids or []) or [case_id]
    common = {
        "recorded_at": now,
        "event": event,
        "action": action,
        "outcome": outcome,
        "outcome_desc": (outcome_desc or "")[:255] or None,
        "partner_id": principal.partner_id if principal else partner_id,
        "partner_kind": principal.kind if principal else None,
        "auth_method": principal.auth_method if principal else None,
        "source_address": source_address,
        "method": method,
        "path": (path or "")[:255] or None,
        "status_code": status_code,
        "detail": detail,
    }
    return [{**common, "case_id": one} for one in ids]


def record(
    target: Session | sessionmaker[Session] | _HasSessions,
    *,
    event: str,
    action: str,
    outcome: str = SUCCESS,
    principal: Principal | None = None,
    partner_id: str | None = None,
    case_id: str | None = None,
    case_ids: Iterable[str] | None = None,
    source_address: str | None = None,
    method: str | None = None,
    path: str | None = None,
    status_code: int | None = None,
    outcome_desc: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append audit records: one per case in `case_ids` (or one for `case_id`, or one with no
    case). `target`: a Session (joins the caller's transaction), a sessionmaker or the Core
    (commits at once). Identifiers only: never put names, member ids or diagnoses in `detail`."""
    rows = entries(
        event=event,
        action=action,
        outcome=outcome,
        principal=principal,
        partner_id=partner_id,
        case_id=case_id,
        case_ids=case_ids,
        source_address=source_address,
        method=method,
        path=path,
        status_code=status_code,
        outcome_desc=outcome_desc,
        detail=detail,
    )
    append(target, rows)


def append(
    target: Session | sessionmaker[Session] | _HasSessions, rows: list[dict[str, Any]]
) -> None:
    """Audit records already made (`entries`) appended: joining the caller's transaction when
    `target` is a Session, else in a transaction of their own."""
    if isinstance(target, Session):
        target.add_all([AuditRow(**values) for values in rows])
        return
    sessions = target if isinstance(target, sessionmaker) else target.sessions
    with sessions.begin() as session:
        # A transaction of its own: the rows go in as one executemany (a batch's submission
        # names hundreds of cases), not one ORM object and flush step each.
        session.execute(insert(AuditRow), rows)


def trail(
    session: Session,
    *,
    case_id: str | None = None,
    partner_id: str | None = None,
    limit: int = 500,
) -> list[AuditRow]:
    """Audit records, oldest first, for one case and/or one partner."""
    query = select(AuditRow)
    if case_id is not None:
        query = query.where(AuditRow.case_id == case_id)
    if partner_id is not None:
        query = query.where(AuditRow.partner_id == partner_id)
    return list(session.execute(query.order_by(AuditRow.id).limit(limit)).scalars())
