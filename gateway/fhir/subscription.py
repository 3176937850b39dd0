"""PAS subscriptions through the R4 Subscriptions Backport (hl7.fhir.uv.subscriptions-backport.r4
1.1.0): validating what a client POSTs, who a case's notifications go to, and the handshake and
notification Bundles. Delivery (HTTP POST with retries) is the outbox's job.

PAS profile-subscription: criteria is the PAS topic canonical, channel.type rest-hook with an
endpoint, payload content full-resource (backport-payload-content). The topic filters on
orgIdentifier, "the id of the requesting provider organization" (Basic-PASSubscriptionTopic);
Inferno's preset writes it org-identifier=..., so both spellings are accepted.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway import egress
from gateway.domain.case import Case
from gateway.fhir import constants as k
from gateway.fhir.outcome import Issue, error, warning
from gateway.fhir.profile import check_structure

Resource = dict[str, Any]
FILTER_NAMES = ("orgIdentifier", "org-identifier")


@dataclass(frozen=True)
class SubscriptionInfo:
    """What the gateway needs from an accepted Subscription to notify its client."""

    endpoint: str
    org_identifier: str
    org_system: str | None = None
    headers: list[str] = field(default_factory=list)
    payload: str = "application/fhir+json"
    content: str = "full-resource"
    timeout_seconds: int | None = None
    max_count: int | None = None
    end: str | None = None


def _ext_value(element: Any, url: str) -> Any:
    extensions = element.get("extension") if isinstance(element, dict) else None
    for ext in extensions or []:
        if isinstance(ext, dict) and ext.get("url") == url:
            return next((v for key, v in ext.items() if key.startswith("value")), None)
    return None


def parse_filter(criteria: str) -> tuple[str, str | None, str] | None:
    """(name, system, value) of `orgIdentifier=[system|]value`, or None when malformed."""
    name, sep, value = criteria.partition("=")
    name = name.strip()
    if not sep or name not in FILTER_NAMES or not value.strip():
        return None
    system, bar, code = value.strip().rpartition("|")
    return (name, system or None, code) if bar else (name, None, value.strip())


def validate_subscription(resource: Any) -> list[Issue]:
    """Issues with a Subscription a client asks the gateway to accept (empty = acceptable)."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Subscription":
        return [Issue("fatal", "structure", "The body must be a Subscription", ["Subscription"])]
    issues = check_structure(resource)
    if resource.get("criteria") != k.SUBSCRIPTION_TOPIC:
        text = f"criteria must be the PAS topic {k.SUBSCRIPTION_TOPIC}"
        issues.append(error("value", text, "Subscription.criteria"))
    filters = _ext_value(resource.get("_criteria"), k.EXT_BACKPORT_FILTER)
    if not isinstance(filters, str) or parse_filter(filters) is None:
        text = "A backport-filter-criteria 'orgIdentifier=<id>' (or 'org-identifier=') is required"
        issues.append(error("required", text, "Subscription.criteria.extension"))
    channel = resource.get("channel") if isinstance(resource.get("channel"), dict) else {}
    if channel.get("type") != "rest-hook":
        issues.append(error("value", "channel.type must be rest-hook", "Subscription.channel.type"))
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
        text = "channel.endpoint must be an http(s) URL"
        issues.append(error("required", text, "Subscription.channel.endpoint"))
    if _ext_value(channel.get("_payload"), k.EXT_BACKPORT_PAYLOAD) != "full-resource":
        text = "PAS notifications carry the full response Bundle: payload content full-resource"
        issues.append(error("value", text, "Subscription.channel.payload.extension"))
    payload = channel.get("payload")
    if payload and "json" not in str(payload):
        text = "The gateway sends JSON notifications (application/fhir+json)"
        issues.append(warning("not-supported", text, "Subscription.channel.payload"))
    return issues


def destination_issues(resource: Resource, allowed_hosts: Collection[str]) -> list[Issue]:
    """Issues with where a Subscription would make the gateway send (issue 18 item 5): an https
    endpoint at public addresses only, http only for a development allow-listed host. Resolves
    the endpoint's host name (a blocking DNS look-up)."""
    channel = resource.get("channel") if isinstance(resource.get("channel"), dict) else {}
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str):
        return []  # validate_subscription names a missing endpoint
    problem = egress.endpoint_problem(endpoint, allowed_hosts)
    if problem is None:
        return []
    return [error("value", f"Refused: {problem}", "Subscription.channel.endpoint")]


def without_forbidden_headers(resource: Resource) -> tuple[Resource, list[str]]:
    """The Subscription with only the channel headers the gateway forwards, and what it dropped
    (never Host, Authorization, Cookie ...: egress.header_problem). The stored and returned
    resource shows the client what its notifications will carry."""
    channel = resource.get("channel")
    if not isinstance(channel, dict) or not isinstance(channel.get("header"), list):
        return resource, []
    kept = [h for h in channel["header"] if egress.header_problem(h) is None]
    dropped = [egress.header_problem(h) or "" for h in channel["header"] if h not in kept]
    if not dropped:
        return resource, []
    cleaned_channel = {key: value for key, value in channel.items() if key != "header"}
    if kept:
        cleaned_channel["header"] = kept
    return {**resource, "channel": cleaned_channel}, dropped


def parse_subscription(resource: Resource) -> SubscriptionInfo:
    """The delivery detail of a validated Subscription (ValueError when it has none)."""
    channel = resource.get("channel") or {}
    parsed = parse_filter(str(_ext_value(resource.get("_criteria"), k.EXT_BACKPORT_FILTER) or ""))
    if parsed is None or not channel.get("endpoint"):
        raise ValueError("Subscription without an orgIdentifier filter or an endpoint")
    _, system, value = parsed
    timeout = _ext_value(channel, k.EXT_BACKPORT_TIMEOUT)
    max_count = _ext_value(channel, k.EXT_BACKPORT_MAX_COUNT)
    return SubscriptionInfo(
        endpoint=channel["endpoint"],
        org_identifier=value,
        org_system=system,
        # Filtered again here: rows stored before the header rule carry what they were sent.
        headers=[str(h) for h in channel.get("header") or [] if egress.header_problem(h) is None],
        payload=channel.get("payload") or "application/fhir+json",
        content=str(_ext_value(channel.get("_payload"), k.EXT_BACKPORT_PAYLOAD) or "full-resource"),
        timeout_seconds=timeout if isinstance(timeout, int) else None,
        max_count=max_count if isinstance(max_count, int) else None,
        end=resource.get("end"),
    )


def accepted(resource: Resource, subscription_id: str, status: str = "active") -> Resource:
    """The Subscription as the server stores and returns it: its id and status set (R4
    Subscription.status: requested on create, active once the handshake succeeded)."""
    out = dict(resource)
    out["id"] = subscription_id
    out["status"] = status
    return out


def matches(info: SubscriptionInfo, case: Case) -> bool:
    """True when the case was requested by the subscribed organization (orgIdentifier)."""
    wanted = info.org_identifier
    for provider in (case.requester, case.ordering):
        if provider and wanted in (provider.npi, provider.tin):
            return True
    echo = case.submission.echo or {}
    requestor = echo.get("requestor")
    for item in echo.get("resources") or []:
        if item.get("fullUrl") != requestor:
            continue
        for ident in item.get("resource", {}).get("identifier") or []:
            if ident.get("value") == wanted and info.org_system in (None, ident.get("system")):
                return True
    return False


def _instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.isoformat(timespec="milliseconds")


def status_parameters(
    subscription: Resource,
    notification_type: str,
    events_since_start: int,
    events: list[tuple[int, str, datetime]] | None = None,
    base_url: str = k.GATEWAY_BASE,
) -> Resource:
    """SubscriptionStatus as R4 Parameters (backport-subscription-status-r4); events are
    (event number, focus fullUrl, timestamp)."""
    params: list[Resource] = [
        {
            "name": "subscription",
            "valueReference": {"reference": f"{base_url}/Subscription/{subscription.get('id')}"},
        },
        {"name": "topic", "valueCanonical": k.SUBSCRIPTION_TOPIC},
        {"name": "status", "valueCode": subscription.get("status") or "active"},
        {"name": "type", "valueCode": notification_type},
        {"name": "events-since-subscription-start", "valueString": str(events_since_start)},
    ]
    for number, focus, moment in events or []:
        params.append(
            {
                "name": "notification-event",
                "part": [
                    {"name": "event-number", "valueString": str(number)},
                    {"name": "timestamp", "valueInstant": _instant(moment)},
                    {"name": "focus", "valueReference": {"reference": focus}},
                ],
            }
        )
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [k.PROFILE_BACKPORT_STATUS]},
        "parameter": params,
    }


def _notification(
    subscription: Resource, status: Resource, extra: list[Resource], now: datetime, base_url: str
) -> Resource:
    status_url = f"{base_url}/Subscription/{subscription.get('id')}/$status"
    entries = [
        {
            "fullUrl": f"urn:uuid:{status['id']}",
            "resource": status,
            "request": {"method": "GET", "url": status_url},
            "response": {"status": "200"},
        },
        *extra,
    ]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [k.PROFILE_BACKPORT_NOTIFICATION]},
        "type": "history",  # the backport R4 shape (R5 has type subscription-notification)
        "timestamp": _instant(now),
        "entry": entries,
    }


def handshake_bundle(
    subscription: Resource, now: datetime | None = None, base_url: str = k.GATEWAY_BASE
) -> Resource:
    """The handshake sent to a new rest-hook endpoint before it is activated."""
    status = status_parameters(subscription, "handshake", 0, base_url=base_url)
    return _notification(subscription, status, [], now or datetime.now(UTC), base_url)


def heartbeat_bundle(
    subscription: Resource,
    events_since_start: int,
    now: datetime | None = None,
    base_url: str = k.GATEWAY_BASE,
) -> Resource:
    status = status_parameters(subscription, "heartbeat", events_since_start, base_url=base_url)
    return _notification(subscription, status, [], now or datetime.now(UTC), base_url)


def notification_bundle(
    subscription: Resource,
    response_bundle: Resource,
    event_number: int,
    now: datetime | None = None,
    base_url: str = k.GATEWAY_BASE,
) -> Resource:
    """An event notification carrying the full PAS response Bundle (PAS topic
    result-available): SubscriptionStatus Parameters first, then the response Bundle as the
    event's focus (example Bundle-PASSubscriptionNotification)."""
    moment = now or datetime.now(UTC)
    focus_url = f"{base_url}/Bundle/{response_bundle.get('id')}"
    status = status_parameters(
        subscription,
        "event-notification",
        event_number,
        [(event_number, focus_url, moment)],
        base_url,
    )
    focus = {
        "fullUrl": focus_url,
        "resource": response_bundle,
        "request": {"method": "GET", "url": focus_url},
        "response": {"status": "200"},
    }
    return _notification(subscription, status, [focus], moment, base_url)
