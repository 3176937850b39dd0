"""What a job planner may see of the store while a determination is being stored.

Planners run inside the storing transaction (a case, its events and its jobs commit together),
so they get this narrow interface over that transaction instead of the session itself: the
active subscriptions of a submitter, the next event number of one, and who a partner is now.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.orm import Session

# The interface is the case service's (gateway.service.store); its SQL implementation is here.
from gateway.service.store import PlannerReads, SubscriptionRecord
from gateway.store.models import SubscriptionRow

if TYPE_CHECKING:
    from gateway.partners.principal import Principal

__all__ = ["PlannerReads", "SessionReads", "SubscriptionRecord"]


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
