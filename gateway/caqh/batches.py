"""Durable CORE batches (table core_batches): what a partner submitted and what waits for it to
retrieve. A waiting payload is handed out once: it is marked retrieved in the transaction that
reads it, so two retrievals racing get it once between them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.caqh.envelope import checksum
from gateway.store.db import writing
from gateway.store.models import CoreBatchRow

SUBMISSION = "submission"
ACK = "ack"
RESULTS = "results"


@dataclass(frozen=True)
class Waiting:
    """A payload to hand to the partner, and the PayloadID to send it under."""

    payload_id: str
    payload_type: str
    payload: str


@dataclass(frozen=True)
class Payload:
    kind: str  # ACK or RESULTS
    payload_type: str
    text: str


def submission(sessions: sessionmaker[Session], partner_id: str, payload_id: str) -> str | None:
    """The CheckSum of the batch the partner submitted under `payload_id`, if it did."""
    with sessions() as session:
        row = session.scalars(
            select(CoreBatchRow).where(
                CoreBatchRow.partner_id == partner_id,
                CoreBatchRow.kind == SUBMISSION,
                CoreBatchRow.payload_id == payload_id,
            )
        ).first()
        return row.checksum if row is not None else None


def record_submission(
    sessions: sessionmaker[Session],
    *,
    partner_id: str,
    payload_id: str,
    sender_id: str,
    checksum: str,
    case_ids: list[str],
    payloads: list[Payload],
    now: datetime,
) -> bool:
    """Store a batch and its answers in one transaction; False when the partner's PayloadID
    was stored meanwhile (a concurrent submission of the same batch: the first one stands)."""
    try:
        with writing(sessions) as session:
            session.add(
                CoreBatchRow(
                    partner_id=partner_id,
                    kind=SUBMISSION,
                    payload_id=payload_id,
                    submission_id=payload_id,
                    sender_id=sender_id,
                    payload_type="",
                    payload=None,  # the batch itself is not kept: its cases are
                    checksum=checksum,
                    case_ids=case_ids,
                    created_at=now,
                )
            )
            for payload in payloads:
                queue(
                    session, partner_id, payload, now, sender_id=sender_id, submission_id=payload_id
                )
    except IntegrityError:
        return False
    return True


def queue(
    session: Session,
    partner_id: str,
    payload: Payload,
    now: datetime,
    *,
    sender_id: str = "",
    submission_id: str | None = None,
    case_ids: list[str] | None = None,
) -> None:
    """Add a payload for the partner to retrieve (a batch's 999 or 278 responses; a 278 that
    answers no batch, such as a later decision, may be queued the same way)."""
    session.add(
        CoreBatchRow(
            partner_id=partner_id,
            kind=payload.kind,
            payload_id=str(uuid.uuid4()),
            submission_id=submission_id,
            sender_id=sender_id,
            payload_type=payload.payload_type,
            payload=payload.text,
            checksum=checksum(payload.text.encode("utf-8")),
            case_ids=case_ids or [],
            created_at=now,
        )
    )


def take(
    sessions: sessionmaker[Session], partner_id: str, kind: str, prefer: str | None, now: datetime
) -> Waiting | None:
    """The payload of `kind` waiting for the partner, marked retrieved: the one answering batch
    `prefer` (a submission's PayloadID) when there is one, else the oldest."""
    with writing(sessions) as session:
        waiting = (
            select(CoreBatchRow)
            .where(
                CoreBatchRow.partner_id == partner_id,
                CoreBatchRow.kind == kind,
                CoreBatchRow.retrieved_at.is_(None),
            )
            .order_by(CoreBatchRow.id)
        )
        row = None
        if prefer:
            row = session.scalars(waiting.where(CoreBatchRow.submission_id == prefer)).first()
        if row is None:
            row = session.scalars(waiting).first()
        if row is None:
            return None
        claimed = session.execute(
            update(CoreBatchRow)
            .where(CoreBatchRow.id == row.id, CoreBatchRow.retrieved_at.is_(None))
            .values(retrieved_at=now)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None  # another retrieval took it between the read and the update
        return Waiting(row.submission_id or row.payload_id, row.payload_type, row.payload or "")
