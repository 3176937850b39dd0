"""SQLAlchemy 2 tables. The Alembic migrations in gateway/store/migrations mirror these."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class CaseRow(Base):
    __tablename__ = "cases"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    program: Mapped[str] = mapped_column(String(16))
    payer_id: Mapped[str | None] = mapped_column(String(32))
    plan_id: Mapped[str | None] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(8))
    submitter_id: Mapped[str | None] = mapped_column(String(64), index=True)
    member_key: Mapped[str | None] = mapped_column(String(64), index=True)
    related_case_id: Mapped[str | None] = mapped_column(String(32), index=True)
    prior_case_id: Mapped[str | None] = mapped_column(String(32), index=True)
    due_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    hold_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    case_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    original_json: Mapped[dict[str, Any]] = mapped_column(JSON)
    determination_json: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (Index("ix_cases_status_due", "status", "due_by"),)


class CaseLookupRow(Base):
    """One row per (case, party NPI, trace number): the $inquire lookup (gateway.store.lookup,
    migration 0004). Unbounded strings: the values come from the request as sent."""

    __tablename__ = "case_lookup"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    member_key: Mapped[str | None] = mapped_column(String())
    npi: Mapped[str] = mapped_column(String())
    trace_number: Mapped[str | None] = mapped_column(String())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_case_lookup_member_npi", "member_key", "npi", "created_at"),)


class CaseEventRow(Base):
    """Every status change with who, when and why (issue 2, item 7)."""

    __tablename__ = "case_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    actor: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(32))
    to_status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ReplayRow(Base):
    """What was answered to a request or interchange, so an exact replay gets it again."""

    __tablename__ = "replays"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    case_ids: Mapped[list[str]] = mapped_column(JSON)
    response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxJobRow(Base):
    """An outbound delivery stored with the determination that caused it."""

    __tablename__ = "outbox_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str | None] = mapped_column(ForeignKey("cases.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # fax, email, member_mail, payer_feed, ...
    idempotency_key: Mapped[str] = mapped_column(String(255), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    # queued -> sending -> delivered, or dead after the last retry
    state: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    locked_by: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (Index("ix_outbox_state_next", "state", "next_attempt_at"),)


class CounterRow(Base):
    """Monotonic counters: X12 control numbers, authorization numbers (unique across restarts)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


class SubscriptionRow(Base):
    """PAS subscriptions (R4 backport): who gets notified of which organization's cases."""

    __tablename__ = "subscriptions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    org_identifier: Mapped[str] = mapped_column(String(128), index=True)
    submitter_id: Mapped[str | None] = mapped_column(String(64))
    endpoint: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    resource: Mapped[dict[str, Any]] = mapped_column(JSON)
    events_sent: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PapTherapyRow(Base):
    """A member's PAP therapy whose usage is followed for compliance (gateway.domain.pap,
    migration 0006). Parties are kept as sent: the supplier and the ordering physician."""

    __tablename__ = "pap_therapies"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    submitter_id: Mapped[str | None] = mapped_column(String(64), index=True)
    case_id: Mapped[str | None] = mapped_column(String(32))
    member_key: Mapped[str] = mapped_column(String(64))
    device_code: Mapped[str] = mapped_column(String(16))
    start_date: Mapped[date] = mapped_column(Date)
    supplier: Mapped[dict[str, Any]] = mapped_column(JSON)
    physician: Mapped[dict[str, Any]] = mapped_column(JSON)
    outreach_sent: Mapped[list[int]] = mapped_column(JSON, default=list)
    compliant_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PapNightRow(Base):
    """Hours of PAP use on one night; a night sent again replaces what was stored."""

    __tablename__ = "pap_nights"

    therapy_id: Mapped[str] = mapped_column(ForeignKey("pap_therapies.id"), primary_key=True)
    night: Mapped[date] = mapped_column(Date, primary_key=True)
    hours: Mapped[float] = mapped_column(Float)


class PeerToPeerBookingRow(Base):
    """A booked peer-to-peer call with a reviewer (migration 0007).

    `held_start` is the slot start while the booking holds its slot (booked or held by a
    recorded call) and NULL once cancelled; the unique (reviewer, held_start) pair makes a
    double booking fail in the database too (NULLs never collide), so a cancelled slot is free.
    """

    __tablename__ = "peer_to_peer_bookings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_id: Mapped[str] = mapped_column(ForeignKey("cases.id"), index=True)
    reviewer_id: Mapped[str] = mapped_column(String(64))
    slot_start: Mapped[datetime] = mapped_column(UTCDateTime())
    slot_end: Mapped[datetime] = mapped_column(UTCDateTime())
    held_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # booked -> completed (an outcome recorded) | cancelled
    state: Mapped[str] = mapped_column(String(16), default="booked")
    mode: Mapped[str] = mapped_column(String(16))  # decisive | consultative
    provider_time_zone: Mapped[str] = mapped_column(String(64))
    booked_by: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16))
    outcome_notes: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (UniqueConstraint("reviewer_id", "held_start", name="uq_p2p_reviewer_slot"),)


class CoreBatchRow(Base):
    """CAQH CORE batch connectivity (gateway.caqh.batches, migration 0008): one row per batch a
    partner submitted (kind "submission": its PayloadID and CheckSum, no payload kept) and one
    per payload waiting for the partner to retrieve it (kind "ack": the 999 or TA1; "results":
    the 278 responses). A payload is handed out once: `retrieved_at` is set as it goes."""

    __tablename__ = "core_batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # The submission's PayloadID as the partner sent it; for a payload, the gateway's own UUID.
    payload_id: Mapped[str] = mapped_column(String(64))
    # The PayloadID of the batch a payload answers (None for one that answers no batch).
    submission_id: Mapped[str | None] = mapped_column(String(64))
    sender_id: Mapped[str] = mapped_column(String(64))
    payload_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str | None] = mapped_column(Text)
    checksum: Mapped[str] = mapped_column(String(40))
    case_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    retrieved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        UniqueConstraint("partner_id", "kind", "payload_id", name="uq_core_batches_payload"),
        Index("ix_core_batches_waiting", "partner_id", "kind", "retrieved_at", "id"),
    )
