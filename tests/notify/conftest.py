"""Fixtures for the outbound side: a temporary SQLite store and settings under tmp_path."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain.case import Case, Determination
from gateway.notify.jobs import outbound_jobs
from gateway.settings import Settings
from gateway.store import outbox
from gateway.store.db import make_engine, session_factory, upgrade
from gateway.store.models import CaseRow
from tests.conftest import _fresh_schema_url, migrated_sqlite_url


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        # Starts as a copy of the migrated template (tests/conftest.py): the migrations run
        # once a process, not once a test; `sessions` still upgrades it (a no-op at the head).
        database_url=migrated_sqlite_url(tmp_path / "gateway.db"),
        fax_gateway="spool",
        fax_spool=tmp_path / "fax",
        mail_dir=tmp_path / "mail",
        smtp_url=None,
        member_mail_dir=tmp_path / "member-mail",
        payer_feed_dir=tmp_path / "payer-feed",
        portal_url="https://portal.example.invalid/cases",
    )


@pytest.fixture
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(settings.database_url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()


def store_case(
    sessions: sessionmaker[Session],
    case: Case,
    determination: Determination | None,
    *,
    settings: Settings | None = None,
    previous_status: str | None = None,
) -> int:
    """Insert (or update) the case row by hand and, with settings, its outbound jobs."""
    assert case.id
    with sessions.begin() as session:
        row = session.get(CaseRow, case.id)
        if row is None:
            row = CaseRow(
                id=case.id,
                status=determination.status.value if determination else "received",
                program=case.program.value,
                payer_id=case.payer_id,
                channel=case.submission.channel.value,
                case_json=case.model_dump(mode="json"),
                original_json=case.model_dump(mode="json"),
            )
            session.add(row)
        if determination is not None:
            row.status = determination.status.value
            row.determination_json = determination.model_dump(mode="json")
        if settings is None or determination is None:
            return 0
        specs = outbound_jobs(
            case, determination, previous_status=previous_status, settings=settings
        )
        # Enqueued when decided, so tests can pin the dispatcher's clock after it.
        return outbox.enqueue(session, case.id, specs, now=determination.decided_at)


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    """The letter's text, read back by poppler's pdftotext where installed, else by pypdf (a
    test dependency), so the letter checks never skip on a fresh machine."""
    if shutil.which("pdftotext") is None:
        import io

        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(io.BytesIO(pdf)).pages)
    path = tmp_path / "letter.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, check=True, text=True
    )
    return done.stdout


def normalized(text: str) -> str:
    """Whitespace folded, so a phrase wrapped over two lines still matches."""
    return " ".join(text.split())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def job_rows(sessions: sessionmaker[Session], **filters: Any) -> list[dict[str, Any]]:
    with sessions() as session:
        return outbox.list_jobs(session, limit=10_000, **filters)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_sessions(
    request: pytest.FixtureRequest, settings: Settings
) -> Iterator[sessionmaker[Session]]:
    """The store on SQLite, and on PostgreSQL (FOR UPDATE SKIP LOCKED) when a server answers
    (the root conftest's `postgres_url`, which skips otherwise); one schema per test."""
    url = settings.database_url
    if request.param == "postgresql":
        url = _fresh_schema_url(request.getfixturevalue("postgres_url"))
    engine = make_engine(url)
    upgrade(engine)
    yield session_factory(engine)
    engine.dispose()
