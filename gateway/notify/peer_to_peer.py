"""The ordering provider's confirmation of a booked, moved or cancelled peer-to-peer call.

Pure, like jobs.py: the case and the appointment in, `JobSpec`s out, stored by the peer-to-peer
service in the same transaction as the booking. A letter (fax, or mail when the fax number is
unknown) to the ordering provider, and an e-mail notice when that provider opted in; both say
the time in the provider's own zone and the number to call. Keys name the booking and its slot,
so a moved call is confirmed again and a repeated store sends nothing twice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gateway.domain.case import Case, Determination
from gateway.notify.jobs import JobSpec, provider_recipient
from gateway.settings import Settings

# (case, its current determination, the appointment) -> the jobs to store with the booking.
Confirmations = Callable[[Case, Determination, dict[str, Any]], list[JobSpec]]


def confirmation_jobs(settings: Settings) -> Confirmations:
    """`plan(case, determination, appointment) -> jobs` for the peer-to-peer service.

    `appointment`: booking_id, state (booked | cancelled), rescheduled, when (spoken, in the
    provider's zone), start (ISO 8601 with the provider's offset), time_zone, phone, reviewer,
    specialty, mode, mode_reason.
    """

    def plan(
        case: Case, determination: Determination, appointment: dict[str, Any]
    ) -> list[JobSpec]:
        if not case.id:
            raise ValueError("a confirmation needs a stored case")
        provider = case.ordering or case.requester
        if provider is None:
            return []
        role = "ordering" if case.ordering else "requester"
        stamp = f"{appointment['booking_id']}:{appointment['state']}:{appointment['start']}"
        recipient = {**provider_recipient(role, provider), "appointment": appointment}
        payload = {
            "case_id": case.id,
            "letter": "peer_to_peer_scheduled",
            "recipient": recipient,
            "determination": determination.model_dump(mode="json"),
        }
        kind = "fax" if recipient["fax"] else "provider_mail"
        jobs = [JobSpec(kind, f"{case.id}:p2p:{stamp}:letter:{role}", payload)]
        if provider.email_opt_in and provider.email:
            cancelled = appointment["state"] == "cancelled"
            details = [
                "",
                f"Peer-to-peer call {'cancelled' if cancelled else 'booked'}: "
                f"{appointment['when']} ({appointment['time_zone']})",
            ]
            if not cancelled:
                details.append(f"Call {appointment['phone']} at that time, quoting the case number")
            details.append("")
            notice = {
                "case_id": case.id,
                "to": provider.email.strip(),
                "role": role,
                "status": "peer_to_peer_cancelled" if cancelled else "peer_to_peer_scheduled",
                "previous_status": None,
                "portal_url": f"{settings.portal_url.rstrip('/')}/{case.id}",
                "details": details,
            }
            jobs.append(JobSpec("email", f"{case.id}:p2p:{stamp}:email:{role}", notice))
        return jobs

    return plan
