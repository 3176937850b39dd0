"""Which outbound jobs a determination causes (DOMAIN.md: Notices, Outcomes).

Pure: takes the case and its determination, returns `JobSpec`s the core inserts as outbox rows in
the same transaction as the case. Each spec's idempotency key names the case, the channel, the
recipient role and the determination (status and decision time), so storing the same
determination again makes no new job (the outbox key is unique).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from gateway.domain.case import Case, CaseStatus, Determination, PendKind, Provider
from gateway.domain.outcomes import member_unidentified
from gateway.domain.site_of_care import authorized
from gateway.settings import Settings

# Statuses that are answered by a letter to the member (DOMAIN.md: "the member receives a letter
# by mail"); a partial approval is an approval and a denial at once, so the member hears of it.
MEMBER_LETTER_STATUSES = frozenset(
    {
        CaseStatus.APPROVED,
        CaseStatus.MODIFIED,
        CaseStatus.PARTIALLY_APPROVED,
        CaseStatus.DENIED,
        CaseStatus.OUT_OF_SCOPE,
    }
)
# Final determinations that are letters to the ordering provider and the rendering facility.
DETERMINATION_LETTER_STATUSES = MEMBER_LETTER_STATUSES | {
    CaseStatus.NOT_REQUIRED,
    CaseStatus.REDIRECTED,
}
# The payer's claims system pays only what was authorized, so it hears of every determination,
# and of a cancelled or withdrawn case (an authorization it may hold no longer stands). A rejected
# request was never reviewed: it is answered in-band (AAA / OperationOutcome), not in the feed.
PAYER_FEED_STATUSES = DETERMINATION_LETTER_STATUSES | {CaseStatus.CANCELLED, CaseStatus.WITHDRAWN}


@dataclass(frozen=True)
class JobSpec:
    """One outbound delivery, ready to become an `OutboxJobRow`."""

    kind: str  # fax, provider_mail, member_mail, email, payer_feed, subscription
    idempotency_key: str
    payload: dict[str, Any] = field(default_factory=dict)


def normalize_fax(raw: str | None) -> tuple[str | None, str | None]:
    """(ten-digit US number, None) or (None, "unknown" | "invalid").

    Fax numbers are confirmed per request and may be unknown (DOMAIN.md: Notices); a number that
    is not a dialable NANP number is treated as unknown rather than faxed to a stranger.
    """
    if raw is None or not raw.strip():
        return None, "unknown"
    digits = re.sub(r"[\s().\-+/]", "", raw)
    if not digits.isdigit():
        return None, "invalid"
    if len(digits) == 11 and digits.startswith("1"):
        digits = digits[1:]
    # NANP: neither the area code nor the exchange starts with 0 or 1.
    if len(digits) != 10 or digits[0] in "01" or digits[3] in "01":
        return None, "invalid"
    return digits, None


# The determinations a second look decides are told by that look's outcome letter.
OUTCOME_LETTER_STATUSES = frozenset(
    {
        CaseStatus.APPROVED,
        CaseStatus.MODIFIED,
        CaseStatus.PARTIALLY_APPROVED,
        CaseStatus.DENIED,
    }
)
OUTCOME_LETTERS = {
    "reconsideration": "reconsideration_outcome",
    "appeal": "appeal_outcome",
}


def appeal_open(determination: Determination) -> bool:
    """Pended while the payer decides an appeal (gateway.domain.appeals.forwarded)."""
    filed = determination.filed_appeal
    return determination.status is CaseStatus.PENDED and filed is not None and filed.outcome is None


def letter_kind(determination: Determination) -> str | None:
    """The letter template a determination is told with, or None when no letter goes out."""
    status = determination.status
    if determination.outcome_of in OUTCOME_LETTERS and status in OUTCOME_LETTER_STATUSES:
        return OUTCOME_LETTERS[determination.outcome_of]
    if appeal_open(determination):
        return None  # the payer acknowledges the appeal it decides; the feed carries it
    if status is CaseStatus.MODIFIED and (
        determination.site_of_care_redirect or determination.pend_kind is PendKind.SITE_OF_CARE
    ):
        return "site_of_care"
    if status is CaseStatus.PENDED:
        if determination.pend_kind is PendKind.PEER_TO_PEER:
            return "peer_to_peer"
        return "clinical_review"
    return {
        CaseStatus.APPROVED: "approval",
        CaseStatus.MODIFIED: "approval",
        CaseStatus.PARTIALLY_APPROVED: "partial_approval",
        CaseStatus.DENIED: "denial",
        CaseStatus.HELD: "hold",
        CaseStatus.OUT_OF_SCOPE: "out_of_scope",
        CaseStatus.NOT_REQUIRED: "not_required",
        CaseStatus.REDIRECTED: "redirected",
        # A cancelled request or authorization is confirmed to the providers who hold it.
        CaseStatus.CANCELLED: "cancellation",
    }.get(status)


def letter_recipients(case: Case, determination: Determination) -> list[tuple[str, Provider]]:
    """(role, provider) pairs a provider letter goes to, one per distinct provider."""
    status = determination.status
    if status is CaseStatus.HELD:
        # Hold letters go to the requesting provider (DOMAIN.md: Notices).
        candidates = [("requester", case.requester or case.ordering)]
    elif status is CaseStatus.PENDED:
        # Scheduling a peer to peer or sending documentation is the ordering physician's to do.
        candidates = [("ordering", case.ordering or case.requester)]
    elif status in DETERMINATION_LETTER_STATUSES or status is CaseStatus.CANCELLED:
        # Approval and denial letters go to the ordering provider and the rendering facility.
        candidates = [
            ("ordering", case.ordering or case.requester),
            ("facility", case.facility or case.rendering),
        ]
    else:
        return []
    out: list[tuple[str, Provider]] = []
    seen: set[tuple[str | None, str | None]] = set()
    for role, provider in candidates:
        if provider is None:
            continue
        identity = (provider.npi, normalize_fax(provider.fax)[0])
        if identity != (None, None) and identity in seen:
            continue
        seen.add(identity)
        out.append((role, provider))
    return out


def provider_recipient(role: str, provider: Provider) -> dict[str, Any]:
    number, problem = normalize_fax(provider.fax)
    return {
        "role": role,
        "name": provider.display_name,
        "npi": provider.npi,
        "contact_name": provider.contact_name,
        "address": provider.address.model_dump(mode="json") if provider.address else None,
        "fax": number,
        "fax_as_given": provider.fax,
        "fax_problem": problem,
    }


def member_recipient(case: Case) -> dict[str, Any]:
    member = case.member
    name = " ".join(p for p in (member.first_name, member.last_name) if p) or None
    return {
        "role": "member",
        "name": name,
        "address": member.address.model_dump(mode="json") if member.address else None,
    }


def outbound_jobs(
    case: Case,
    determination: Determination,
    *,
    previous_status: str | None,
    settings: Settings,
    primary_payer_ids: Collection[str] = (),
    email_notices: bool = True,
) -> list[JobSpec]:
    """Every delivery `determination` of `case` causes, keyed so a re-store adds none.
    `email_notices`: the submitting partner's preference (false: no e-mail notice at all).
    `primary_payer_ids`: the payers of the plans marked `primary` in mappings/plans."""
    if not case.id:
        raise ValueError("outbound jobs need a stored case (case.id is empty)")
    status = determination.status
    stamp = f"{status.value}:{determination.decided_at.isoformat()}"
    if determination.outcome_of:
        # A second look's outcome is its own letter, even in the same instant as the first.
        stamp += f":{determination.outcome_of}"
    snapshot = determination.model_dump(mode="json")
    if determination.expired_at is not None:
        # The approval's period is over (the worker's clock): only the payer hears of it.
        return [expiry_feed_job(case, determination, primary_payer_ids)]
    kind = letter_kind(determination)
    jobs: list[JobSpec] = []

    def key(channel: str, role: str) -> str:
        return f"{case.id}:{channel}:{role}:{stamp}"

    if kind is not None:
        for role, provider in letter_recipients(case, determination):
            recipient = provider_recipient(role, provider)
            payload = {
                "case_id": case.id,
                "letter": kind,
                "recipient": recipient,
                "determination": snapshot,
            }
            # An unknown or invalid fax number: the letter goes by mail to the practice instead.
            job_kind = "fax" if recipient["fax"] else "provider_mail"
            # Both ways of sending one letter share a key, so a corrected fax number on a
            # re-store does not send the same letter twice.
            jobs.append(JobSpec(job_kind, key("letter", role), payload))
    if kind is not None and status in MEMBER_LETTER_STATUSES:
        payload = {
            "case_id": case.id,
            "letter": kind,
            "recipient": member_recipient(case),
            "determination": snapshot,
        }
        jobs.append(JobSpec("member_mail", key("letter", "member"), payload))
    # No e-mail notice of a request whose member was not identified (AAA 75 ...): there is
    # nobody whose case it is, and the requester had the AAA / ClaimResponse.error already.
    if previous_status != status.value and email_notices and not member_unidentified(determination):
        jobs.extend(_email_jobs(case, determination, previous_status, settings, key))
    if status in PAYER_FEED_STATUSES:
        feed = _feed_payload(case, snapshot, primary_payer_ids, places=_places(case, determination))
        jobs.append(JobSpec("payer_feed", key("payer_feed", "payer"), feed))
    elif appeal_open(determination):
        # First-level appeals are the payer's: the feed forwards it with its clock.
        feed = _feed_payload(
            case,
            snapshot,
            primary_payer_ids,
            event="appeal",
            places=_places(case, determination),
        )
        jobs.append(JobSpec("payer_feed", key("payer_feed", "appeal"), feed))
    return jobs


def expiry_feed_job(
    case: Case, determination: Determination, primary_payer_ids: Collection[str] = ()
) -> JobSpec:
    """The payer feed's record that an approval ended with its period (one per period)."""
    snapshot = determination.model_dump(mode="json")
    feed = _feed_payload(
        case, snapshot, primary_payer_ids, event="expiry", places=_places(case, determination)
    )
    return JobSpec("payer_feed", f"{case.id}:payer_feed:expiry:{determination.period_end}", feed)


def site_of_care_follow_up_job(
    case: Case,
    determination: Determination,
    follow_up_on: date,
    expires_after: date,
    primary_payer_ids: Collection[str] = (),
) -> JobSpec:
    """The payer feed's follow-up notice of a one-time site-of-care approval that is about to
    expire (DOMAIN.md: the payer follows up before it expires), one per approval period."""
    snapshot = determination.model_dump(mode="json")
    feed = _feed_payload(
        case,
        snapshot,
        primary_payer_ids,
        event="site_of_care_follow_up",
        places=_places(case, determination),
    )
    feed["record"]["follow_up_on"] = follow_up_on.isoformat()
    feed["record"]["expires_after"] = expires_after.isoformat()
    key = f"{case.id}:payer_feed:site_of_care_follow_up:{expires_after.isoformat()}"
    return JobSpec("payer_feed", key, feed)


def job_planner(settings: Settings) -> Callable[[Case, Determination, str | None], list[JobSpec]]:
    """`outbound_jobs` in the shape of the core's JobPlanner: (case, determination, previous)."""

    def plan(case: Case, determination: Determination, previous: str | None) -> list[JobSpec]:
        return outbound_jobs(case, determination, previous_status=previous, settings=settings)

    return plan


def _email_jobs(
    case: Case,
    determination: Determination,
    previous_status: str | None,
    settings: Settings,
    key: Any,
) -> list[JobSpec]:
    """Opt-in e-mail notices of a status change (DOMAIN.md: Notices), one per address."""
    out: list[JobSpec] = []
    seen: set[str] = set()
    roles = (
        ("requester", case.requester),
        ("ordering", case.ordering),
        ("rendering", case.rendering),
        ("facility", case.facility),
    )
    for role, provider in roles:
        if provider is None or not provider.email_opt_in or not provider.email:
            continue
        address = provider.email.strip().lower()
        if address in seen:
            continue
        seen.add(address)
        payload = {
            "case_id": case.id,
            "to": provider.email.strip(),
            "role": role,
            "status": determination.status.value,
            "previous_status": previous_status,
            "portal_url": f"{settings.portal_url.rstrip('/')}/{case.id}",
        }
        out.append(JobSpec("email", key("email", role), payload))
    return out


def _places(case: Case, determination: Determination) -> dict[int, str | None]:
    """Where each decided line that records a place is authorized (gateway.domain.site_of_care,
    as the 278, the ClaimResponse and the letters say): a one-time site-of-care line at the site
    asked for, not the redirect the review records on it; a line a reviewer moved, there."""
    asked = {line.sequence: line for line in case.service_lines}
    return {
        line.sequence: authorized(
            case, asked.get(line.sequence), line, determination
        ).place_of_service
        for line in determination.lines
        if line.place_of_service is not None
    }


def _feed_payload(
    case: Case,
    determination: dict[str, Any],
    primary_payer_ids: Collection[str],
    *,
    event: str | None = None,
    places: dict[int, str | None] | None = None,
) -> dict[str, Any]:
    """The payer feed's line. `event` names what else than a determination it tells: an
    appeal forwarded to the payer, an expiry, a site-of-care follow-up notice. `places`: the
    authorized place of the lines that record one (`_places`)."""
    payer_id = case.payer_id or "unknown"
    places = places or {}
    record = {
        "case_id": case.id,
        "payer_id": payer_id,
        "member_id": case.member.member_id,
        "auth_number": determination.get("auth_number"),
        "status": determination["status"],
        "review_action": determination["review_action"],
        "period_start": determination.get("period_start"),
        "period_end": determination.get("period_end"),
        "decided_at": determination["decided_at"],
        "plan_id": determination.get("plan_id"),
        "reason_code": determination["reason"]["code"],
        "codes": [
            {
                "sequence": line["sequence"],
                "code": line["code"],
                "review_action": line["review_action"],
                "auth_number": line.get("auth_number"),
                "period_start": line.get("period_start"),
                "period_end": line.get("period_end"),
                "units": line.get("units"),
                "place_of_service": places.get(line["sequence"], line.get("place_of_service")),
            }
            for line in determination.get("lines", [])
        ],
    }
    if event is not None:
        record["event"] = event
    if event == "appeal":
        filed = determination["filed_appeal"]
        record["appeal"] = {
            name: filed[name]
            for name in ("received_at", "expedited", "appellant", "due_at", "window_ends")
        }
        record["appeal"]["appealed_status"] = filed["appealed"]["status"]
        record["appeal"]["reason"] = filed.get("reason")
    if event == "expiry":
        record["expired_at"] = determination["expired_at"]
    return {
        "case_id": case.id,
        "payer_id": payer_id,
        # The program's own payer (a plan marked `primary`) or another plan's feed.
        "primary_payer": payer_id in primary_payer_ids,
        "record": record,
        # The X12 team fills this with the 278 response for the payer; not generated here.
        "x12_278": None,
    }
