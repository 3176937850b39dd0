"""The audit trail: an append-only record of every create, read, update and export of a case,
of logins and of refused requests, exportable as FHIR AuditEvent.

Other routers call `record(session_or_core, ...)`; HTTP routers usually call
`gateway.api.auth.audit_request(request, ...)`, which fills in the partner, the source address,
the method and the route template.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, Required, TypedDict, Unpack

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
    "AuditFacts",
    "AuditFields",
    "AuditRow",
    "append",
    "entries",
    "record",
    "trail",
]


class _HasSessions(Protocol):
    sessions: sessionmaker[Session]


class AuditFacts(TypedDict, total=False):
    """What an audited action says of itself: its event and action, the outcome, the cases it
    touched (one record per case in `case_ids`, or one for `case_id`, or one with no case),
    the HTTP status, why it failed and detail. Identifiers only: never names, member ids or
    diagnoses in `detail`."""

    event: Required[str]
    action: Required[str]
    outcome: str
    case_id: str | None
    case_ids: Iterable[str] | None
    status_code: int | None
    outcome_desc: str | None
    detail: dict[str, Any] | None


class AuditFields(AuditFacts, total=False):
    """The facts with who acted and from where (a request fills these in:
    gateway.api.auth.RequestAudit)."""

    principal: Principal | None
    partner_id: str | None
    source_address: str | None
    method: str | None
    path: str | None


def entries(**fields: Unpack[AuditFields]) -> list[dict[str, Any]]:
    """The audit records `record` appends, as column values, for a caller that inserts them
    in a transaction of its own choosing (a group of intake requests, gateway/api/group.py)."""
    principal = fields.get("principal")
    # A search that found nothing is recorded too, as one record without a case.
    ids: list[str | None] = list(fields.get("case_ids") or []) or [fields.get("case_id")]
    common = {
        "recorded_at": utcnow(),
        "event": fields["event"],
        "action": fields["action"],
        "outcome": fields.get("outcome", SUCCESS),
        "outcome_desc": (fields.get("outcome_desc") or "")[:255] or None,
        "partner_id": principal.partner_id if principal else fields.get("partner_id"),
        "partner_kind": principal.kind if principal else None,
        "auth_method": principal.auth_method if principal else None,
        "source_address": fields.get("source_address"),
        "method": fields.get("method"),
        "path": (fields.get("path") or "")[:255] or None,
        "status_code": fields.get("status_code"),
        "detail": fields.get("detail"),
    }
    return [{**common, "case_id": one} for one in ids]


def record(
    target: Session | sessionmaker[Session] | _HasSessions, **fields: Unpack[AuditFields]
) -> None:
    """Append audit records (`entries`). `target`: a Session (joins the caller's transaction),
    a sessionmaker or the Core (commits at once)."""
    append(target, entries(**fields))


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
