"""E-mail notices of a case's status change, for providers who opted in (DOMAIN.md: Notices).

Minimum necessary: the case number, its status and where to look it up (settings.portal_url);
never a member's name, a diagnosis or a drug, since e-mail is not a secure channel. Transport:
SMTP through aiosmtplib when settings.smtp_url is set (STARTTLS whenever the server offers it),
else a local maildir (the embedded default, DESIGN.md decision 6).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from collections.abc import Callable, Coroutine
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from gateway.settings import Settings

STATUS_WORDS = {
    "approved": "Approved",
    "modified": "Approved with changes",
    "partially_approved": "Partially approved",
    "pended": "Pended for review",
    "held": "On hold: information needed",
    "denied": "Denied",
    "not_required": "No authorization required",
    "out_of_scope": "Closed: outside the program",
    "redirected": "Redirected to the pharmacy benefit manager",
    "rejected": "Could not be reviewed",
    "cancelled": "Cancelled",
    "withdrawn": "Withdrawn",
    "peer_to_peer_scheduled": "Peer-to-peer call scheduled",
    "peer_to_peer_cancelled": "Peer-to-peer call cancelled",
}


LOOPBACK = frozenset({"localhost", "::1", "[::1]", "0.0.0.0"})


class MailError(Exception):
    """The notice could not be handed to the transport; the outbox retries."""


def message_id(job_key: str, mail_from: str) -> str:
    domain = mail_from.rpartition("@")[2] or "gateway.invalid"
    return f"<{hashlib.sha256(job_key.encode()).hexdigest()[:32]}@{domain}>"


def page_link(url: str | None) -> str | None:
    """`url` when it is a page a provider's office can open; None for the gateway's own
    loopback address (the operator API, which needs credentials: issue 15)."""
    if not url:
        return None
    host = (urlsplit(url).hostname or "").lower()
    if not host or host in LOOPBACK or host.startswith("127."):
        return None
    return url


def status_notice(
    payload: dict[str, Any],
    *,
    job_key: str,
    mail_from: str,
    program: str | None = None,
    phone: str | None = None,
) -> EmailMessage:
    """The notice for an `email` outbox job: case number and status, a link only to a page
    that exists, the program's number; never a member's name, a diagnosis or a drug."""
    case_id = payload["case_id"]
    status = STATUS_WORDS.get(payload["status"], payload["status"].replace("_", " ").title())
    message = EmailMessage()
    message["From"] = mail_from
    message["To"] = payload["to"]
    message["Subject"] = f"Prior authorization case {case_id}: {status}"
    message["Date"] = formatdate(usegmt=True)
    # Derived from the job key: a receiver can drop a notice delivered twice (at least once).
    message["Message-ID"] = message_id(job_key, mail_from)
    lines = [
        "A prior authorization case you follow has a new status.",
        "",
        f"Case number: {case_id}",
        f"Status: {status}",
    ]
    previous = payload.get("previous_status")
    if previous:
        lines.append(f"Previous status: {STATUS_WORDS.get(previous, previous)}")
    # A peer-to-peer confirmation: the time in the provider's zone and the number to call.
    lines += [str(line) for line in payload.get("details") or []]
    link = page_link(payload.get("portal_url"))
    if link:
        lines.append(f"Case page: {link}")
    lines += [
        "",
        "This notice carries no member or clinical information. A letter with the details",
        "goes to the fax number given on the request.",
    ]
    if phone:
        lines.append(f"Questions: call {program or 'the program'} at {phone}, case {case_id}.")
    lines.append(
        "You receive this notice because you opted in to e-mail notices of status changes."
    )
    message.set_content("\n".join(lines) + "\n")
    return message


class MailTransport(Protocol):
    name: str

    def send(self, job_key: str, message: EmailMessage) -> dict[str, Any]: ...


class MaildirTransport:
    """A local maildir (settings.mail_dir); one message per job key.

    The message's file name is derived from the job key, so the name itself records the
    delivery: a worker killed after the message landed and before the outbox recorded it finds
    the message on its retry and writes no second copy (no separate marker that a kill could
    leave unwritten). The file is written in tmp/ and linked into new/ (maildir's atomic step);
    the link fails when the name is already there.
    """

    name = "maildir"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def file_name(self, job_key: str) -> str:
        return hashlib.sha256(job_key.encode()).hexdigest()[:32]

    def _delivered(self, name: str) -> bool:
        # A reader moves a message from new/ to cur/ and may add ":2,<flags>" to its name.
        cur = self.root / "cur"
        return (
            (self.root / "new" / name).exists()
            or (cur / name).exists()
            or any(cur.glob(f"{name}:*"))
        )

    def send(self, job_key: str, message: EmailMessage) -> dict[str, Any]:
        name = self.file_name(job_key)
        if self._delivered(name):
            return {"transport": self.name, "key": name, "duplicate": True}
        for folder in ("tmp", "new", "cur"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        staged = self.root / "tmp" / f"{name}.{os.getpid()}.{threading.get_ident()}"
        try:
            with staged.open("wb") as handle:
                handle.write(message.as_bytes())
                handle.flush()
                os.fsync(handle.fileno())
            try:
                os.link(staged, self.root / "new" / name)
            except FileExistsError:  # another worker delivered the same job first
                return {"transport": self.name, "key": name, "duplicate": True}
        finally:
            staged.unlink(missing_ok=True)
        return {"transport": self.name, "key": name, "message_id": message["Message-ID"]}


class SmtpTransport:
    """SMTP through aiosmtplib: smtp://[user:pass@]host[:port], or smtps:// for implicit TLS."""

    name = "smtp"

    def __init__(self, url: str, *, timeout: float = 30.0, cert_bundle: str | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("GATEWAY_SMTP_URL must look like smtp://user:pass@host:port")
        self.hostname = parts.hostname
        self.implicit_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout
        self.cert_bundle = cert_bundle  # extra CA certificates (a private mail relay's)

    def send(self, job_key: str, message: EmailMessage) -> dict[str, Any]:
        try:
            _run_blocking(lambda: self._send(message))
        except (TimeoutError, aiosmtplib.SMTPTimeoutError) as exc:
            text = f"SMTP relay did not answer within {self.timeout:g} s"
            raise MailError(text) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise MailError(f"SMTP delivery failed: {type(exc).__name__}: {exc}") from exc
        return {"transport": self.name, "message_id": message["Message-ID"]}

    async def _send(self, message: EmailMessage) -> None:
        # aiosmtplib's timeout bounds each step (connect, greeting, every command); the whole
        # exchange gets the same bound, so a relay that answers slowly step by step holds the
        # e-mail channel no longer than one timeout (issue 18 item 6). TimeoutError is an OSError.
        await asyncio.wait_for(self._exchange(message), timeout=self.timeout)

    async def _exchange(self, message: EmailMessage) -> None:
        await aiosmtplib.send(
            message,
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.implicit_tls,
            # None: upgrade with STARTTLS whenever the server offers it.
            start_tls=False if self.implicit_tls else None,
            timeout=self.timeout,
            cert_bundle=self.cert_bundle,
        )


def _run_blocking(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to the end from synchronous code; from inside a running event loop (an
    in-process dispatcher called without a thread) on a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(make())
        return
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(make())
        except BaseException as exc:  # handed back to the caller's thread
            failure.append(exc)

    worker = threading.Thread(target=run, name="smtp-send")
    worker.start()
    worker.join()
    if failure:
        raise failure[0]


def make_mail_transport(settings: Settings) -> MailTransport:
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url, timeout=settings.smtp_timeout_seconds)
    return MaildirTransport(settings.mail_dir)
