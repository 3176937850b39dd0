"""What a job planner may see of the store while a determination is being stored.

Planners run inside the storing transaction (a case, its events and its jobs commit together),
so they get this narrow interface over that transaction instead of the session itself: the
active subscriptions of a submitter, the next event number of one, and who a partner is now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gateway.store.models import SubscriptionRow

if TYPE_CHECKING:
    from gateway.partners.principal import Principal


@dataclass(frozen=True)
class SubscriptionRecord:
    id: str
    submitter_id: str | None
    resource: dict[str, Any]


class PlannerReads(Protocol):
    def active_subscriptions(self, submitter_id: str | None) -> list[SubscriptionRecord]:
        """The active subscriptions a submitter holds (none for an unknown submitter)."""

    def next_subscription_event(self, subscription_id: str) -> int:
        """Count one more event on the subscription and return its number (1, 2, ...)."""

    def partner(self, partner_id: str | None) -> Principal | None:
        """The principal a stored partner id acts as now (None when unknown or disabled)."""


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
