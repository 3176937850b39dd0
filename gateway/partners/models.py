"""Tables of the trading-partner registry (migrations 0002 and 0004 mirror them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Float, String
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, UTCDateTime, utcnow


class PartnerRow(Base):
    """A trading partner: who it is, what it may send as, whom it acts for, how it logs in."""

    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str | None] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16))  # clearinghouse, ehr, payer, reviewer, operator
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # X12 interchange sender ids (ISA06) and application sender codes (GS02) it may use.
    sender_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The organizations it acts for: their cases are its cases too.
    npis: Mapped[list[str]] = mapped_column(JSON, default=list)
    tins: Mapped[list[str]] = mapped_column(JSON, default=list)
    org_identifier: Mapped[str | None] = mapped_column(String(255))  # FHIR system|value
    roles: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # scrypt hash of the shared secret (bearer/basic); never the secret itself.
    secret_hash: Mapped[str | None] = mapped_column(String(255))
    # Public keys for SMART Backend Services client assertions (a JWK Set).
    jwks: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    rate_limit_per_second: Mapped[float | None] = mapped_column(Float)
    # Where unsolicited X12 278 responses are POSTed besides its mailbox (migration 0004).
    callback_url: Mapped[str | None] = mapped_column(String(2048))
    # The partner's preference for e-mail notices on its cases (migration 0009): when false, no
    # status notice goes out even to an address a request carries.
    email_notices: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UsedAssertionRow(Base):
    """A client assertion's jti, kept until it expires so that a replay is refused
    (SMART Backend Services: the server SHALL reject a jti it has seen before)."""

    __tablename__ = "used_assertions"

    key: Mapped[str] = mapped_column(String(320), primary_key=True)  # client id + jti
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
