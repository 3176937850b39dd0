"""A PAS subscription's status as its handshake job ends (R4 Subscriptions Backport).

The backport's subscription workflow: a rest-hook Subscription is `requested` while the server
sends its handshake; the handshake delivered makes it `active`, a handshake that fails makes it
`error`; notifications go to an active subscription only (R4 subscription-status: `requested`,
"the server has not yet set it up"). The dispatcher records the status here, in the same
transaction as the job's own state: the store never says `delivered` of a handshake whose
subscription is still `requested`, nor the other way round.

A handshake that fails and will be tried again leaves the subscription `requested`; only one
parked dead (refused outright, or out of tries) is `error`. Putting the dead job back
(`gateway jobs retry`) and delivering it makes the subscription active after all. A subscription
the client turned off stays off; a handshake that is not the subscription's latest (the client
changed the endpoint since) changes nothing.
"""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from gateway.store.models import OutboxJobRow, SubscriptionRow

KIND = "subscription"


def handshake_key(subscription_id: str, renewal: str | None = None) -> str:
    """The handshake job's idempotency key; `renewal` tells a later handshake (a new endpoint,
    or a subscription in error the client asks for again) from the first."""
    key = f"subscription:{subscription_id}:handshake"
    return f"{key}:{renewal}" if renewal else key


def subscription_of(kind: str, idempotency_key: str) -> str | None:
    """The subscription a handshake job is for, or None when the job is not a handshake (event
    notifications are keyed subscription:{id}:{case id}:{decided at})."""
    parts = idempotency_key.split(":")
    if kind != KIND or len(parts) < 3 or parts[0] != "subscription" or parts[2] != "handshake":
        return None
    return parts[1]


def record(session: Session, kind: str, job_id: int, idempotency_key: str, status: str) -> None:
    """Set the subscription of handshake job `job_id` to `status` (`active` when delivered,
    `error` when it failed for good), in the caller's transaction."""
    subscription_id = subscription_of(kind, idempotency_key)
    if subscription_id is None:
        return
    row = session.get(SubscriptionRow, subscription_id, with_for_update=True)
    if row is None or row.status == "off":
        return
    key = handshake_key(subscription_id)
    latest = session.scalar(
        select(OutboxJobRow.id)
        .where(OutboxJobRow.kind == KIND)
        .where(
            or_(OutboxJobRow.idempotency_key == key, OutboxJobRow.idempotency_key.like(f"{key}:%"))
        )
        .order_by(OutboxJobRow.id.desc())
        .limit(1)
    )
    if latest != job_id:
        return
    row.status = status
    row.resource = {**row.resource, "status": status}
