"""Run one delivery to a destination and SIGKILL this process right after its Nth durable step.

tests/drills/test_destinations.py forks a process per kill that calls crash_after(N), then
deliver(KIND, ROOT); `python -m tests.drills.crash_at KIND N ROOT` does the same by hand. KIND
is fax, email, member_mail or payer_feed; the steps counted are the calls that make a write
durable or visible (os.fsync, os.replace, os.rename, os.link). The process kills itself with
SIGKILL after the Nth such call returns, exactly as a worker killed at that instant would
stop; it exits 0 when the delivery has fewer than N steps. The test then delivers the same job
again and counts what landed.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

JOB_KEY = "PA2026000001:drill:1"
DAY = date(2026, 11, 23)
PDF = b"%PDF-1.4\n% a synthetic letter\n%%EOF\n"


def deliver(kind: str, root: Path) -> None:
    """The delivery a worker makes for one job of `kind`, to the embedded destination."""
    if kind == "fax":
        from gateway.notify.fax.spool import SpoolFaxGateway

        SpoolFaxGateway(root).submit(JOB_KEY, "5555550101", PDF)
    elif kind == "email":
        from gateway.notify.email import MaildirTransport, message_id

        message = EmailMessage()
        message["To"] = "orders@clinic.example"
        message["Subject"] = "Prior authorization case PA2026000001: Approved"
        message["Message-ID"] = message_id(JOB_KEY, "pa-notices@gateway.invalid")
        message.set_content("Case number: PA2026000001\n")
        MaildirTransport(root).send(JOB_KEY, message)
    elif kind == "member_mail":
        from gateway.notify.member_mail import MemberMailBatch

        MemberMailBatch(root).add(
            job_key=JOB_KEY,
            job_id=1,
            case_id="PA2026000001",
            pdf=PDF,
            pages=1,
            day=DAY,
            recipient_role="member",
            letter="approval",
        )
    elif kind == "payer_feed":
        from gateway.notify.payer_feed import PayerFeed

        PayerFeed(root).append(
            job_key=JOB_KEY,
            payer_id="62308",
            record={"case_id": "PA2026000001", "status": "approved"},
            day=DAY,
        )
    else:
        raise SystemExit(f"unknown kind {kind}")


def crash_after(steps: int) -> None:
    count = 0

    def counted(original: Callable[..., Any]) -> Callable[..., Any]:
        def step(*args: Any, **kwargs: Any) -> Any:
            nonlocal count
            result = original(*args, **kwargs)
            count += 1
            if count == steps:
                os.kill(os.getpid(), signal.SIGKILL)
            return result

        return step

    for name in ("fsync", "replace", "rename", "link"):
        setattr(os, name, counted(getattr(os, name)))


if __name__ == "__main__":
    kind, steps, root = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3])
    crash_after(steps)
    deliver(kind, root)
