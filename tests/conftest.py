"""Shared fixtures: a real database (SQLite always, PostgreSQL when a server answers), the real
app and demo requests built from the demo roster."""

from __future__ import annotations

import atexit
import os
import shutil
import sqlite3
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.partners.settings import AuthSettings
from gateway.service.core import Core
from gateway.settings import REPO_ROOT, Settings
from gateway.wiring import build

POSTGRES_ADMIN_URL = os.environ.get(
    "GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


def _postgres_available() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2):
            return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, dropped afterwards."""
    if not _postgres_available():
        pytest.skip("no PostgreSQL server answers at GATEWAY_TEST_POSTGRES_URL")
    import psycopg

    name = f"gateway_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    _close_schema_makers(f"{base}/{name}")
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@cache
def _migrated_sqlite() -> Path:
    """A SQLite file migrated to the head once a test process (each xdist worker has its own):
    every test's database starts as a copy of it instead of running the migrations again."""
    from gateway.store.db import make_engine, upgrade

    folder = Path(tempfile.mkdtemp(prefix="gateway-template-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "gateway.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    # The schema lives in the WAL until a checkpoint: fold it into the file a copy takes.
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def outbound_folders(root: Path) -> dict[str, str]:
    """The settings that put a gateway process's outbound files under `root`: the fax spool
    (the embedded fax gateway), the maildir, the member-mail batches, the payer feed and the
    X12 mailbox."""
    return {
        "GATEWAY_FAX_GATEWAY": "spool",
        "GATEWAY_FAX_SPOOL": str(root / "fax"),
        "GATEWAY_MAIL_DIR": str(root / "mail"),
        "GATEWAY_MEMBER_MAIL_DIR": str(root / "member-mail"),
        "GATEWAY_PAYER_FEED_DIR": str(root / "payer-feed"),
        "GATEWAY_X12_MAILBOX_DIR": str(root / "x12-mailbox"),
    }


def migrated_sqlite_url(path: Path) -> str:
    """A SQLite database at `path` holding the migrated schema (a copy of the template), as
    `gateway db upgrade` leaves a new one. An existing file, or one in a folder that does not
    exist yet, is left to the gateway (which migrates what it finds)."""
    if path.parent.is_dir() and not path.exists():
        shutil.copyfile(_migrated_sqlite(), path)
    return f"sqlite:///{path}"


def make_settings(tmp_path: Path, database_url: str | None = None) -> Settings:
    """Settings over files under `tmp_path`; a new SQLite database there (unless
    `database_url` names another) starts with the migrated schema."""
    return _base_settings(_gateway_environment()).model_copy(
        update={
            "database_url": database_url or migrated_sqlite_url(tmp_path / "gateway.db"),
            "fax_spool": tmp_path / "fax",
            "mail_dir": tmp_path / "mail",
            "member_mail_dir": tmp_path / "member-mail",
            "payer_feed_dir": tmp_path / "payer-feed",
            "x12_mailbox_dir": tmp_path / "x12-mailbox",
        }
    )


def _gateway_environment() -> tuple[tuple[str, str], ...]:
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("GATEWAY_")))


@cache
def _base_settings(environment: tuple[tuple[str, str], ...]) -> Settings:
    """The settings every test shares, read (and validated) once for each GATEWAY_*
    environment a test sets up; make_settings copies them with the test's own folders (plain
    paths, which the model's validators do not look at)."""
    del environment  # the cache key: Settings() reads the same variables from os.environ
    return Settings(
        database_url="sqlite://",
        mappings_dir=REPO_ROOT / "mappings",
        roster=REPO_ROOT / "samples" / "roster.yaml",
        dispatch_in_process=False,
    )


# Where the tests' files go when /dev/shm is there: memory-backed, so the fsync calls of the
# fax spool, the maildir and SQLite's checkpoints (each ~10 ms on this machine's disk) cost
# nothing, and the code under test still makes every one of them. Real files all the same.
SHARED_MEMORY = Path("/dev/shm")


def _files_in_memory(config: pytest.Config) -> None:
    """Point the temporary folders (tmp_path, and every subprocess's TMPDIR) at /dev/shm, once,
    in the process that starts the run (xdist's workers take their folders from it)."""
    if config.option.basetemp or os.environ.get("PYTEST_XDIST_WORKER") or "TMPDIR" in os.environ:
        return
    if SHARED_MEMORY.is_dir() and os.access(SHARED_MEMORY, os.W_OK):
        os.environ["TMPDIR"] = str(SHARED_MEMORY)
        tempfile.tempdir = None  # gettempdir() reads TMPDIR again


def _compiled_in_the_run() -> None:
    """Compiled mappings (gateway/compiled.py) go to a folder of the run's, removed with it,
    not to the user's cache; xdist's workers and every subprocess inherit the variable."""
    if "GATEWAY_CACHE_DIR" in os.environ:
        return
    folder = tempfile.mkdtemp(prefix="gateway-cache-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    os.environ["GATEWAY_CACHE_DIR"] = folder


def pytest_configure(config: pytest.Config) -> None:
    _files_in_memory(config)
    _compiled_in_the_run()
    config.addinivalue_line(
        "markers",
        "store: exercises the store (replays, counters, row locks, the outbox): runs on SQLite "
        "and on PostgreSQL; every other test runs on the embedded SQLite alone",
    )


# The longest tests (seconds to tens of seconds each: real processes killed and started again,
# conformance suites, real servers) start first, so neither xdist worker is left with one of
# them at the end while the other waits; worksteal (pyproject) then evens out the rest. The
# conformance suites are replayed one a test (tests/conformance_runs.py: each suite once a
# session, whichever worker asks first), so they spread over the workers too; the inferno
# tests read the inferno run the tests before them made.
LONG_FIRST = (
    "tests/drills/test_kill_submit.py",
    "tests/drills/test_kill_worker.py",
    "tests/test_conformance_run.py",
    "tests/test_conformance_inferno.py",
    "tests/test_conformance_output.py",
    "tests/x12/test_batch_stream.py",
    "tests/test_readme_walkthrough.py",
    "tests/auth/test_serve_safety.py",
    "tests/test_wheel.py",
    "tests/test_wiring.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        path = item.nodeid.split("::", 1)[0]
        return LONG_FIRST.index(path) if path in LONG_FIRST else len(LONG_FIRST)

    items.sort(key=rank)  # stable: the order within each file and among the rest is kept


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "settings" in metafunc.fixturenames and metafunc.definition.get_closest_marker("store"):
        metafunc.parametrize("settings", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """The gateway's settings over a fresh database: SQLite, or PostgreSQL for tests marked
    `store` (their second run)."""
    if getattr(request, "param", "sqlite") == "postgresql":
        base = request.getfixturevalue("postgres_url")
        return make_settings(tmp_path, _fresh_schema_url(base))
    return make_settings(tmp_path)


def _fresh_schema_url(base: str, *, migrated: bool = True) -> str:
    """Each test gets its own schema in the session database, so tests never see each other.
    The schema holds what the migrations make (`migrated`): their statements replayed, as
    `_migration_script` recorded them; `migrated=False` leaves it empty, for the gateway (or
    `gateway db upgrade`) to migrate for real."""
    return _schema_url(base, _new_schema(base, _migration_script(base) if migrated else None))


def _new_schema(base: str, script: bytes | None = None) -> str:
    """A new schema in the database at `base` (its name), with `script` run in it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with _SCHEMA_MAKERS_GUARD:
        connection = _SCHEMA_MAKERS.get(base)
        if connection is None or connection.closed:
            import psycopg

            connection = _SCHEMA_MAKERS[base] = psycopg.connect(base)
        # One transaction: the schema appears whole, with its tables, or not at all.
        with connection.transaction():
            connection.execute(f'CREATE SCHEMA "{schema}"')
            if script is not None:
                connection.execute(f'SET LOCAL search_path TO "{schema}"')
                connection.execute(script)
    return schema


# One connection a test process makes its schemas on: a new server process for each schema
# would load the catalog's caches afresh before the DDL, which doubles the server's CPU for a
# schema (~0.2 s instead of ~0.1 s here). Closed before the session's database is dropped.
_SCHEMA_MAKERS: dict[str, Any] = {}
_SCHEMA_MAKERS_GUARD = threading.Lock()


def _close_schema_makers(base: str) -> None:
    with _SCHEMA_MAKERS_GUARD:
        connection = _SCHEMA_MAKERS.pop(base, None)
    if connection is not None:
        connection.close()


def _schema_url(base: str, schema: str) -> str:
    # synchronous_commit off: a commit returns before the server flushes its WAL to disk
    # (~10 ms a commit here). Only a crash of the server itself could lose such a commit, and
    # no test crashes PostgreSQL; what others see, and what survives a killed client, is alike.
    return f"{base}?options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"


@cache
def _migration_script(base: str) -> bytes:
    """What the migrations send PostgreSQL, as one script: a template schema migrated once a
    test process with the gateway's own `upgrade` (Alembic, every script), each statement that
    changes the schema or its rows recorded with its parameters bound. Replaying it costs a
    new schema one round trip (~10 ms) instead of Alembic's ~0.5 s (loading env.py and nine
    scripts, inspecting the schema); tests/test_schema_replay.py checks that a replayed
    schema is the one `gateway db upgrade` makes."""
    import psycopg
    from sqlalchemy import event

    from gateway.store.db import make_engine, upgrade

    schema = _new_schema(base)
    statements: list[str] = []

    def record(
        _conn: object, cursor: Any, statement: str, parameters: Any, _ctx: object, many: bool
    ) -> None:
        # Reads (alembic_version, the inspection of the catalog) change nothing to replay.
        if statement.lstrip().upper().startswith("SELECT"):
            return
        # Bound as psycopg binds them (a `%%` in a statement with parameters is one `%`).
        render = psycopg.ClientCursor(cursor.connection).mogrify
        for values in parameters if many else [parameters]:
            statements.append(statement if values is None else render(statement, values))

    engine = make_engine(_schema_url(base, schema))
    event.listen(engine, "before_cursor_execute", record)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    # The statements resolve their names through search_path: one naming the template's
    # schema would make every replayed schema reach into the template.
    assert statements and not any(schema in statement for statement in statements)
    return ";\n".join(statements).encode()


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path)


# The demo roster covers 2026; tests review "as of" a fixed moment so they keep passing later.
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the core (hold due dates, retro windows)."""

    def __init__(self, now: datetime = NOW):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def core(settings: Settings, clock: Clock) -> Iterator[Core]:
    gateway = build(settings, clock=clock).core
    yield gateway
    # Close pooled connections now: a PostgreSQL server allows only so many clients.
    gateway.engine.dispose()


def make_auth_settings(**changes: object) -> AuthSettings:
    """Authentication ON, the demo partners seeded, a fixed signing key (no file under var/)."""
    # A copy each: the app a test builds may complete its own (the public URL from the FHIR
    # base, gateway/api/fhir.py), and that must not reach the next test's.
    return _auth_settings(_gateway_environment(), tuple(sorted(changes.items()))).model_copy()


@cache
def _auth_settings(
    environment: tuple[tuple[str, str], ...], changes: tuple[tuple[str, object], ...]
) -> AuthSettings:
    # Settings objects are not changed after they are made: tests with the same environment
    # and the same changes share one (reading the environment again costs each app ~20 ms).
    del environment  # the cache key
    values: dict = {
        "auth_enabled": True,
        "token_secret": "test-only-token-signing-secret-0123456789",
        "partners_seed": str(REPO_ROOT / "samples" / "partners.yaml"),
    }
    values.update(changes)
    return AuthSettings(**values)


@pytest.fixture
def auth_settings() -> AuthSettings:
    return make_auth_settings()


def bearer(core: Core, auth: AuthSettings, partner_id: str) -> dict[str, str]:
    """An Authorization header with an access token for a seeded partner."""
    from gateway.partners.tokens import token_for_partner

    return {"Authorization": f"Bearer {token_for_partner(core.sessions, auth, partner_id)}"}


# The seeded partner the `client` fixture acts as: operator and reviewer.
OPERATOR_PARTNER = "ops-console"


@pytest.fixture
def client(settings: Settings, core: Core, auth_settings: AuthSettings) -> Iterator[TestClient]:
    """The real app with authentication on, acting as the seeded operator (ops-console)."""
    from gateway.api.app import create_app

    with TestClient(create_app(settings, core=core, auth_settings=auth_settings)) as test_client:
        test_client.headers.update(bearer(core, auth_settings, OPERATOR_PARTNER))
        yield test_client


def jane_doe_request(**changes: object) -> dict:
    """The demo member's dose-dense AC-T request (HER2-negative breast cancer, office)."""
    body: dict = {
        "payer_id": "62308",
        "member": {
            "member_id": "U1234567801",
            "last_name": "DOE",
            "first_name": "JANE",
            "birth_date": "1960-04-12",
            "gender": "female",
        },
        "ordering": {
            "role": "ordering",
            "last_name": "ONCOLOGIST",
            "first_name": "OLIVIA",
            "npi": "1234567893",
            "tin": "123456789",
            "phone": "5555550100",
            "fax": "5555550101",
        },
        "rendering": {
            "role": "rendering",
            "organization_name": "SAMPLE INFUSION CENTER",
            "npi": "1245319599",
            "fax": "5555550201",
        },
        "place_of_service": "11",
        "start_date": "2026-12-01",
        "diagnoses": [{"code": "C50.911", "primary": True}, {"code": "Z17.32"}],
        "service_lines": [
            {"sequence": 1, "code": "J9000", "units": 4},
            {"sequence": 2, "code": "J9070", "units": 4},
            {"sequence": 3, "code": "J9267", "units": 12},
        ],
    }
    body.update(changes)
    return body


@contextmanager
def unthrottled_client(settings: Settings) -> Iterator[TestClient]:
    """The real app as the operator, with no rate limit and server errors answered as 500s
    (not raised): for tests that send thousands of hostile bodies."""
    from gateway.api.app import create_app

    core = build(settings, clock=lambda: NOW).core
    auth = make_auth_settings(rate_limit_per_second=10_000, rate_limit_burst=10_000)
    app = create_app(settings, core=core, auth_settings=auth)
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers.update(bearer(core, auth, OPERATOR_PARTNER))
        yield client
    core.engine.dispose()
