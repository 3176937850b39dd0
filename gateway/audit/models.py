"""The audit trail table: append-only (migration 0002 adds triggers that refuse UPDATE and
DELETE, and the ORM refuses them too)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, Integer, String, event
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, UTCDateTime, utcnow


class AuditRow(Base):
    """Who did what to which case, when, from where, and how it ended (HIPAA 164.312(b) audit
    controls). Holds identifiers only: no names, birth dates, member ids or diagnoses."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # case.create, case.read, case.search, case.update, case.decide, case.export, login,
    # token, access.refused, partner.create, partner.update, ...
    event: Mapped[str] = mapped_column(String(32))
    # FHIR AuditEvent.action: C create, R read, U update, D delete, E execute/export.
    action: Mapped[str] = mapped_column(String(1))
    # FHIR AuditEvent.outcome: 0 success, 4 minor failure (refused), 8 serious, 12 major.
    outcome: Mapped[str] = mapped_column(String(2))
    outcome_desc: Mapped[str | None] = mapped_column(String(255))
    partner_id: Mapped[str | None] = mapped_column(String(64), index=True)
    partner_kind: Mapped[str | None] = mapped_column(String(16))
    auth_method: Mapped[str | None] = mapped_column(String(16))
    case_id: Mapped[str | None] = mapped_column(String(32))
    source_address: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str | None] = mapped_column(String(8))
    path: Mapped[str | None] = mapped_column(String(255))  # the route template, never a query
    status_code: Mapped[int | None] = mapped_column(Integer)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    __table_args__ = (Index("ix_audit_events_case", "case_id", "id"),)


class AppendOnly(RuntimeError):
    pass


@event.listens_for(AuditRow, "before_update")
def _no_update(*_: object) -> None:
    raise AppendOnly("audit records are append-only")


@event.listens_for(AuditRow, "before_delete")
def _no_delete(*_: object) -> None:
    raise AppendOnly("audit records are append-only")
