"""What a job planner may see of the store while a determination is being stored.

Planners run inside the storing transaction (a case, its events and its jobs commit together),
so they get this narrow interface over that transaction instead of the session itself: the
active subscriptions of a submitter, the next event number of one, who a partner is now, which
partner a submitter id names, and the next number of a store counter (X12 control numbers).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

# The interface is the case service's (gateway.service.store); its SQL implementation is here.
from gateway.service.store import PartnerContact, PlannerReads, SubscriptionRecord
from gateway.store.models import CounterRow, SubscriptionRow

if TYPE_CHECKING:
    from gateway.partners.principal import Principal

__all__ = ["PartnerContact", "PlannerReads", "SessionReads", "SubscriptionRecord"]


class SessionReads:
    """PlannerReads over the storing transaction."""

    def __init__(self, session: Session):
        self._session = session

    def active_subscriptions(self, submitter_id: str | None) -> list[SubscriptionRecord]:
        if not submitter_id:
            return []
        rows = self._session.execute(
            select(SubscriptionRow.id, SubscriptionRow.submitter_id, SubscriptionRow.resource)
            .where(SubscriptionRow.status == "active")
            .where(SubscriptionRow.submitter_id == submitter_id)
            .order_by(SubscriptionRow.id)
        )
        return [SubscriptionRecord(row.id, row.submitter_id, row.resource) for row in rows]

    def next_subscription_event(self, subscription_id: str) -> int:
        result = self._session.execute(
            update(SubscriptionRow)
            .where(SubscriptionRow.id == subscription_id)
            .values(events_sent=SubscriptionRow.events_sent + 1)
            .returning(SubscriptionRow.events_sent)
        )
        return int(result.scalar_one())

    def partner(self, partner_id: str | None) -> Principal | None:
        from gateway.partners.isolation import partner_principal

        return partner_principal(self._session, partner_id)

    def submitting_partner(self, submitter_id: str | None) -> PartnerContact | None:
        from gateway.partners.models import PartnerRow
        from gateway.partners.registry import partner_for_sender

        if not submitter_id:
            return None
        # An X12 case records ISA06; the registry gives each sender id to one partner only.
        row = partner_for_sender(self._session, submitter_id) or self._session.get(
            PartnerRow, submitter_id
        )
        if row is None or not row.enabled:
            return None
        return PartnerContact(row.id, row.callback_url, row.email_notices is not False)

    def next_number(self, name: str) -> int:
        # The same upsert as Core.next_number: its row lock (PostgreSQL) or the write lock
        # (SQLite) makes the increment atomic across processes, inside this transaction.
        dialect = self._session.get_bind().dialect.name
        if dialect == "postgresql":  # the PostgreSQL dialect's modules only on PostgreSQL
            from sqlalchemy.dialects.postgresql import insert as pg_insert
        insert: Any = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (
            insert(CounterRow)
            .values(name=name, value=1)
            .on_conflict_do_update(index_elements=["name"], set_={"value": CounterRow.value + 1})
            .returning(CounterRow.value)
        )
        return int(self._session.execute(statement).scalar_one())
