"""E-mail notices (maildir), member mail batches and the payer feed, each deduplicated by key."""

from __future__ import annotations

import mailbox
from datetime import date
from pathlib import Path

from gateway.notify.email import MaildirTransport, SmtpTransport, status_notice
from gateway.notify.jobs import outbound_jobs
from gateway.notify.letters import count_pages, render_letter
from gateway.notify.member_mail import MemberMailBatch
from gateway.notify.payer_feed import PayerFeed
from gateway.settings import Settings

from .factories import DIAGNOSIS, DRUG, MEMBER_FIRST, MEMBER_LAST, make_case, make_determination


def email_job(settings: Settings, kind: str = "denial"):
    specs = outbound_jobs(
        make_case(), make_determination(kind), previous_status="pended", settings=settings
    )
    return next(s for s in specs if s.kind == "email")


def test_email_notice_is_minimum_necessary(settings: Settings) -> None:
    spec = email_job(settings)
    message = status_notice(
        spec.payload, job_key=spec.idempotency_key, mail_from=settings.mail_from
    )
    body = message.get_content()
    everything = str(message)
    assert "PA2025000001" in body
    assert "Denied" in body
    assert "https://portal.example.invalid/cases/PA2025000001" in body
    case = make_case()
    for secret in [
        MEMBER_FIRST,
        MEMBER_LAST,
        DIAGNOSIS,
        "C50",
        DRUG,
        "J9267",
        "Q5114",
        "trastuzumab",
        case.member.member_id,
        "1961",
        "Testwell",
    ]:
        assert secret.lower() not in everything.lower(), secret
    assert message["To"] == "orders@clinic.example"
    assert message["Message-ID"].endswith("@gateway.invalid>")


def test_maildir_delivers_once_per_key(settings: Settings) -> None:
    spec = email_job(settings)
    transport = MaildirTransport(settings.mail_dir)
    message = status_notice(
        spec.payload, job_key=spec.idempotency_key, mail_from=settings.mail_from
    )
    first = transport.send(spec.idempotency_key, message)
    again = transport.send(spec.idempotency_key, message)
    assert again["duplicate"] is True and again["key"] == first["key"]
    box = mailbox.Maildir(settings.mail_dir, create=False)
    assert len(box) == 1
    assert "PA2025000001" in next(iter(box.values()))["Subject"]


def test_smtp_url_is_parsed() -> None:
    plain = SmtpTransport("smtp://notices:p%40ss@mail.example.invalid:2525")
    assert (plain.hostname, plain.port, plain.username, plain.password) == (
        "mail.example.invalid",
        2525,
        "notices",
        "p@ss",
    )
    assert plain.implicit_tls is False
    secure = SmtpTransport("smtps://mail.example.invalid")
    assert secure.implicit_tls is True and secure.port == 465


def test_member_mail_batch_and_manifest(tmp_path: Path) -> None:
    case = make_case()
    pdf = render_letter(
        "approval",
        case,
        make_determination("approval"),
        {"role": "member", "name": "Quillon Zabrowski"},
    )
    batch = MemberMailBatch(tmp_path)
    day = date(2025, 3, 4)
    first = batch.add(
        job_key="k1",
        job_id=7,
        case_id=case.id,
        pdf=pdf,
        pages=count_pages(pdf),
        day=day,
        recipient_role="member",
        letter="approval",
    )
    again = batch.add(
        job_key="k1",
        job_id=7,
        case_id=case.id,
        pdf=pdf,
        pages=count_pages(pdf),
        day=day,
        recipient_role="member",
        letter="approval",
    )
    assert first == again
    folder = tmp_path / "2025-03-04"
    assert (folder / first["file"]).read_bytes() == pdf
    manifest = batch.manifest(day)
    assert manifest == [
        {
            "job_id": 7,
            "case_id": "PA2025000001",
            "file": first["file"],
            # The letter and its page of language-assistance taglines.
            "pages": 2,
            "recipient": "member",
            "letter": "approval",
        }
    ]
    text = (folder / "manifest.jsonl").read_text()
    assert MEMBER_LAST not in text and MEMBER_FIRST not in text


def test_payer_feed_appends_each_key_once(tmp_path: Path, settings: Settings) -> None:
    specs = outbound_jobs(
        make_case(), make_determination("approval"), previous_status=None, settings=settings
    )
    spec = next(s for s in specs if s.kind == "payer_feed")
    feed = PayerFeed(tmp_path)
    day = date(2025, 3, 5)
    result = feed.append(
        job_key=spec.idempotency_key, payer_id="62308", record=spec.payload["record"], day=day
    )
    assert result == {"file": "62308/2025-03-05.jsonl"}
    assert feed.append(
        job_key=spec.idempotency_key,
        payer_id="62308",
        record=spec.payload["record"],
        day=date(2025, 3, 6),
    )["duplicate"]
    lines = feed.lines("62308", day)
    assert len(lines) == 1
    line = lines[0]
    assert line["case_id"] == "PA2025000001" and line["member_id"] == "U9988776601"
    assert line["auth_number"] == "AUTH0001" and line["status"] == "approved"
    assert line["review_action"] == "A1"
    assert (line["period_start"], line["period_end"]) == ("2025-03-04", "2026-01-03")
    assert [c["code"] for c in line["codes"]] == ["J9267", "Q5114"]
    assert line["idempotency_key"] == spec.idempotency_key and line["x12_278"] is None
    assert not (tmp_path / "62308" / "2025-03-06.jsonl").exists()
    # A payer id from a request cannot walk out of the feed folder.
    odd = feed.append(job_key="other", payer_id="../../etc", record={"case_id": "X"}, day=day)
    assert odd == {"file": "etc/2025-03-05.jsonl"}
    assert (tmp_path / "etc" / "2025-03-05.jsonl").exists()


def test_two_writers_list_each_letter_and_feed_key_once(tmp_path: Path) -> None:
    """Two workers' batches and feeds over one folder: each reads what the other appended
    since it last looked (under the file lock), so a job one wrote is never written again."""
    day = date(2025, 3, 4)
    first, second = MemberMailBatch(tmp_path / "mail"), MemberMailBatch(tmp_path / "mail")

    def add(batch: MemberMailBatch, key: str, job_id: int) -> None:
        batch.add(
            job_key=key,
            job_id=job_id,
            case_id="PA2025000001",
            pdf=b"%PDF-1.4 synthetic",
            pages=1,
            day=day,
            recipient_role="member",
            letter="approval",
        )

    for batch, key, job_id in [
        (first, "k1", 1),
        (second, "k1", 1),  # the other worker's retry of a job the first one filed
        (second, "k2", 2),
        (first, "k2", 2),
        (first, "k3", 3),
        (second, "k3", 3),
    ]:
        add(batch, key, job_id)
    assert [entry["job_id"] for entry in first.manifest(day)] == [1, 2, 3]

    feeds = PayerFeed(tmp_path / "feed"), PayerFeed(tmp_path / "feed")
    for n, feed in enumerate([*feeds, *feeds, *reversed(feeds)]):
        result = feed.append(
            job_key=f"key-{n // 2}", payer_id="PAYER1", record={"n": n // 2}, day=day
        )
        assert result.get("duplicate", False) is bool(n % 2)
    assert [line["n"] for line in feeds[0].lines("PAYER1", day)] == [0, 1, 2]
