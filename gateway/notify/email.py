"""E-mail notices of a case's status change, for providers who opted in (DOMAIN.md: Notices).

Minimum necessary: the case number, its status and where to look it up (settings.portal_url);
never a member's name, a diagnosis or a drug, since e-mail is not a secure channel. Transport:
SMTP through the standard library's client when settings.smtp_url is set (STARTTLS whenever
the server offers it, AUTH when the URL names a user), else a local maildir (the embedded
default, DESIGN.md decision 6).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import smtplib
import socket
import ssl
import threading
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import unquote, urlsplit

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
    """SMTP through the standard library's client: smtp://[user:pass@]host[:port] (STARTTLS
    whenever the server offers it), or smtps:// for implicit TLS. The outbox lanes that send
    are threads of synchronous code, so the synchronous client is the one meant for them (no
    event loop started per message); certificates are verified against the system's CAs plus
    `cert_bundle` (a private relay's issuer)."""

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
        self.cert_bundle = cert_bundle

    def _tls(self) -> ssl.SSLContext:
        # Made only when the exchange turns to TLS: loading the system's CA certificates is
        # the costliest step of a plain smtp:// delivery to a relay that offers no STARTTLS.
        context = ssl.create_default_context()
        if self.cert_bundle:
            context.load_verify_locations(self.cert_bundle)
        return context

    def send(self, job_key: str, message: EmailMessage) -> dict[str, Any]:
        # The socket timeout bounds each read; the whole exchange gets the same bound, so a
        # relay that answers slowly step by step holds the e-mail channel no longer than one
        # timeout (issue 18 item 6): at the deadline the socket is shut down, which wakes the
        # blocked read.
        expired = threading.Event()
        connected: list[smtplib.SMTP] = []

        def expire() -> None:
            expired.set()
            sock = connected[0].sock if connected else None
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

        deadline = threading.Timer(self.timeout, expire)
        deadline.daemon = True
        deadline.start()
        try:
            # Connects and reads the greeting (each bounded by the socket timeout).
            client = (
                smtplib.SMTP_SSL(
                    self.hostname, self.port, timeout=self.timeout, context=self._tls()
                )
                if self.implicit_tls
                else smtplib.SMTP(self.hostname, self.port, timeout=self.timeout)
            )
            connected.append(client)
            try:
                if expired.is_set():  # the deadline passed while connecting
                    raise TimeoutError("the exchange's deadline passed")
                client.ehlo()
                if not self.implicit_tls and client.has_extn("starttls"):
                    client.starttls(context=self._tls())
                    client.ehlo()
                if self.username:
                    client.login(self.username, self.password or "")
                client.send_message(message)
                with contextlib.suppress(smtplib.SMTPException, OSError):
                    client.quit()
            finally:
                client.close()
        except (smtplib.SMTPException, OSError) as exc:
            if expired.is_set() or _timed_out(exc):
                text = f"SMTP relay did not answer within {self.timeout:g} s"
                raise MailError(text) from exc
            raise MailError(f"SMTP delivery failed: {type(exc).__name__}: {exc}") from exc
        finally:
            deadline.cancel()
        return {"transport": self.name, "message_id": message["Message-ID"]}


def make_mail_transport(settings: Settings) -> MailTransport:
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url, timeout=settings.smtp_timeout_seconds)
    return MaildirTransport(settings.mail_dir)


def _timed_out(exc: BaseException) -> bool:
    """Whether a socket timeout is behind `exc`. smtplib turns a read that timed out into
    SMTPServerDisconnected("Connection unexpectedly closed: timed out") raised while handling
    the TimeoutError, and the socket timeout can fire before the exchange's deadline timer has
    run (both are `timeout`), so the chain is what tells a silent relay from a closed one."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
