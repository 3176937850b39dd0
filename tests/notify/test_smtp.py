"""E-mail through a real SMTP server (aiosmtpd) started in the test, down and then back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from gateway.notify.worker import Dispatcher
from gateway.settings import Settings

from .conftest import free_port, job_rows, store_case
from .factories import DIAGNOSIS, DRUG, MEMBER_FIRST, MEMBER_LAST, make_case, make_determination

NOW = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)


class Collector:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


def test_smtp_down_retries_with_backoff_then_delivers_once(settings: Settings, sessions) -> None:
    port = free_port()
    smtp = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    # An approval: the e-mail job is picked out by kind; the other four deliver to local folders.
    store_case(
        sessions,
        make_case(),
        make_determination("approval"),
        settings=smtp,
        previous_status="pended",
    )
    dispatcher = Dispatcher(sessions, smtp, backoff_base=30, jitter=0.1, clock=lambda: NOW)

    # The server is down: every other job goes out, the e-mail waits with a backoff.
    assert dispatcher.run_once(now=NOW) == 4
    (email,) = job_rows(sessions, kind="email")
    assert email["state"] == "queued" and email["attempts"] == 1
    assert email["last_error"].startswith("MailError: SMTP delivery failed")
    first_retry = datetime.fromisoformat(email["next_attempt_at"])
    assert timedelta(seconds=30) <= first_retry - NOW <= timedelta(seconds=33)

    assert dispatcher.run_once(now=first_retry) == 0  # still down
    (email,) = job_rows(sessions, kind="email")
    second_retry = datetime.fromisoformat(email["next_attempt_at"])
    assert email["attempts"] == 2
    assert timedelta(seconds=60) <= second_retry - first_retry <= timedelta(seconds=66)

    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert dispatcher.run_once(now=second_retry - timedelta(seconds=1)) == 0  # not yet due
        assert collector.messages == []
        assert dispatcher.run_once(now=second_retry) == 1
        assert dispatcher.run_once(now=second_retry + timedelta(hours=5)) == 0
    finally:
        controller.stop()

    assert len(collector.messages) == 1  # delivered once, never twice
    (email,) = job_rows(sessions, kind="email")
    assert email["state"] == "delivered" and email["attempts"] == 3
    envelope = collector.messages[0]
    assert envelope.rcpt_tos == ["orders@clinic.example"]
    assert envelope.mail_from == smtp.mail_from
    message = message_from_bytes(envelope.content)
    body = message.get_payload(decode=True).decode()
    assert "PA2025000001" in body and "Approved" in body
    assert "https://portal.example.invalid/cases/PA2025000001" in body
    for secret in (MEMBER_FIRST, MEMBER_LAST, DIAGNOSIS, DRUG, "J9267", "U9988776601"):
        assert secret not in envelope.content.decode(), secret


def _self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for 127.0.0.1, made here (no network, no fixture files)."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


def test_starttls_is_used_when_the_server_offers_it(settings: Settings, tmp_path) -> None:
    import ssl

    from gateway.notify.email import MailError, SmtpTransport, status_notice
    from gateway.notify.jobs import outbound_jobs

    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    collector = Collector()
    port = free_port()
    # require_starttls: the server refuses mail on a plain session, so delivery proves TLS.
    controller = Controller(
        collector, hostname="127.0.0.1", port=port, tls_context=server_tls, require_starttls=True
    )
    controller.start()
    try:
        spec = next(
            s
            for s in outbound_jobs(
                make_case(), make_determination("approval"), previous_status=None, settings=settings
            )
            if s.kind == "email"
        )
        message = status_notice(
            spec.payload, job_key=spec.idempotency_key, mail_from=settings.mail_from
        )
        # Certificates are verified: an unknown issuer is refused, not silently accepted.
        with pytest.raises(MailError):
            SmtpTransport(f"smtp://127.0.0.1:{port}").send(spec.idempotency_key, message)
        transport = SmtpTransport(f"smtp://127.0.0.1:{port}", cert_bundle=cert)
        transport.send(spec.idempotency_key, message)
    finally:
        controller.stop()
    assert len(collector.messages) == 1


def test_starttls_then_auth_with_the_urls_credentials(settings: Settings, tmp_path) -> None:
    """A relay that takes AUTH only over TLS (aiosmtpd's default): the user and password of
    GATEWAY_SMTP_URL log in after STARTTLS; a wrong password is a MailError, nothing sent."""
    import ssl

    from aiosmtpd.smtp import AuthResult

    from gateway.notify.email import MailError, SmtpTransport, status_notice
    from gateway.notify.jobs import outbound_jobs

    cert, key = _self_signed(tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    logins: list[tuple[str, str, bool]] = []

    def authenticator(server, session, envelope, mechanism, auth_data) -> AuthResult:
        user, password = auth_data.login.decode(), auth_data.password.decode()
        logins.append((user, mechanism, session.ssl is not None))
        # handled=False: aiosmtpd answers a failure with 535 itself.
        return AuthResult(success=(user, password) == ("gateway", "s3cret p@ss"), handled=False)

    collector = Collector()
    port = free_port()
    controller = Controller(
        collector,
        hostname="127.0.0.1",
        port=port,
        tls_context=server_tls,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=True,
    )
    controller.start()
    try:
        spec = next(
            s
            for s in outbound_jobs(
                make_case(), make_determination("approval"), previous_status=None, settings=settings
            )
            if s.kind == "email"
        )
        message = status_notice(
            spec.payload, job_key=spec.idempotency_key, mail_from=settings.mail_from
        )
        wrong = SmtpTransport(f"smtp://gateway:wrong@127.0.0.1:{port}", cert_bundle=cert)
        with pytest.raises(MailError, match="SMTPAuthenticationError"):
            wrong.send(spec.idempotency_key, message)
        assert collector.messages == []
        # The password percent-encoded in the URL, as a URL must carry it.
        right = SmtpTransport(f"smtp://gateway:s3cret%20p%40ss@127.0.0.1:{port}", cert_bundle=cert)
        right.send(spec.idempotency_key, message)
    finally:
        controller.stop()
    assert len(collector.messages) == 1
    # Every login (smtplib tries the next mechanism after a refusal) went over TLS.
    assert logins and all(over_tls for _, _, over_tls in logins)


def test_smtp_send_from_inside_an_event_loop(settings: Settings) -> None:
    """An in-process dispatcher called on a running loop still sends (the client is sync)."""
    import asyncio

    from gateway.notify.email import SmtpTransport, status_notice
    from gateway.notify.jobs import outbound_jobs

    collector = Collector()
    port = free_port()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    spec = next(
        s
        for s in outbound_jobs(
            make_case(), make_determination("hold"), previous_status=None, settings=settings
        )
        if s.kind == "email"
    )
    message = status_notice(
        spec.payload, job_key=spec.idempotency_key, mail_from=settings.mail_from
    )

    async def on_the_loop() -> None:
        SmtpTransport(f"smtp://127.0.0.1:{port}").send(spec.idempotency_key, message)

    try:
        asyncio.run(on_the_loop())
    finally:
        controller.stop()
    assert len(collector.messages) == 1
