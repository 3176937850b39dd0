"""PAP therapies and nights of usage in the store (gateway.store.pap_compliance decides;
this module reads and writes, in the caller's transaction)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from gateway.store.models import PapNightRow, PapTherapyRow


def add_therapy(session: Session, values: dict[str, Any]) -> None:
    session.execute(insert(PapTherapyRow).values(**values))


def therapy(session: Session, therapy_id: str, *, lock: bool = False) -> PapTherapyRow | None:
    query = select(PapTherapyRow).where(PapTherapyRow.id == therapy_id)
    if lock and session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def put_nights(session: Session, therapy_id: str, nights: dict[date, float]) -> None:
    """Store nights of usage; a night sent again replaces the stored one."""
    if not nights:
        return
    session.execute(
        delete(PapNightRow).where(
            PapNightRow.therapy_id == therapy_id, PapNightRow.night.in_(list(nights))
        )
    )
    session.execute(
        insert(PapNightRow),
        [
            {"therapy_id": therapy_id, "night": night, "hours": hours}
            for night, hours in nights.items()
        ],
    )


def nights_of(session: Session, therapy_id: str) -> dict[date, float]:
    rows = session.execute(
        select(PapNightRow.night, PapNightRow.hours).where(PapNightRow.therapy_id == therapy_id)
    )
    return {night: hours for night, hours in rows}


def open_therapies(session: Session, started_after: date) -> list[str]:
    """Therapies not yet compliant that started recently enough to still be followed."""
    query = select(PapTherapyRow.id).where(
        PapTherapyRow.compliant_on.is_(None), PapTherapyRow.start_date >= started_after
    )
    return list(session.execute(query).scalars())


def touch(row: PapTherapyRow, now: datetime) -> None:
    row.updated_at = now
