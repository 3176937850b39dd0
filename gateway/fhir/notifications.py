"""PAS subscription notifications: the job planner that tells a subscriber of a decision.

A planner sees the store through a narrow read interface (gateway.store.reads.PlannerReads),
never a database session.
"""

from __future__ import annotations

from gateway.domain.case import Case, CaseStatus, Determination
from gateway.notify.jobs import JobSpec
from gateway.store.reads import PlannerReads


class SubscriptionNotifier:
    """Job planner: when a pended or held case is decided, each matching subscriber of the
    system that sent the request gets a notification carrying the full PAS response bundle."""

    def __init__(self, base: str):
        self.base = base

    def __call__(
        self,
        reads: PlannerReads,
        case: Case,
        determination: Determination,
        previous_status: str | None,
    ) -> list[JobSpec]:
        pending = (CaseStatus.PENDED.value, CaseStatus.HELD.value)
        if previous_status not in pending or determination.status.value in pending:
            return []
        # The PAS writer and the subscription rules only for a decision someone may hear of:
        # a process that only stores new cases never imports them (issue 19 item 2).
        from gateway.fhir import subscription, writer
        from gateway.partners.isolation import can_read

        jobs = []
        # Active subscriptions only: one still `requested` (its handshake not yet delivered)
        # or in `error` gets no event notification, neither now nor later. The R4 Subscriptions
        # Backport workflow sends notifications once the handshake has made the subscription
        # active (R4 subscription-status `requested`: "the server has not yet set it up"); the
        # dispatcher sets the status (gateway.notify.handshakes), and $inquire answers a
        # decision a subscriber did not hear of.
        for row in reads.active_subscriptions(case.submission.submitter_id):
            info = subscription.parse_subscription(row.resource)
            # Only the system that sent the request hears of its cases.
            subscriber = reads.partner(row.submitter_id)
            if subscriber is None or not can_read(subscriber, case):
                continue  # the one isolation check: a disabled partner hears of nothing
            if not subscription.matches(info, case):
                continue
            events = reads.next_subscription_event(row.id)
            # The focus is the response Bundle at {base}/Bundle/{case id}, which
            # GET /fhir/Bundle/{id} answers (issue 14 item 16: the focus URL resolves).
            # The event's moment is the decision's, on the review clock (never the wall clock).
            moment = determination.decided_at
            response = writer.response_bundle(
                case, determination, now=moment, base=self.base, bundle_id=case.id
            )
            body = subscription.notification_bundle(
                row.resource, response, events, now=moment, base_url=self.base
            )
            key = f"subscription:{row.id}:{case.id}:{determination.decided_at.isoformat()}"
            jobs.append(
                JobSpec(
                    "subscription",
                    key,
                    {"endpoint": info.endpoint, "headers": info.headers, "body": body},
                )
            )
        return jobs
