"""Engine, sessions and schema upgrades (Alembic) for SQLite and PostgreSQL."""

from __future__ import annotations

import ast
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# The execution option of a SQLite write transaction (BEGIN IMMEDIATE; see make_engine).
IMMEDIATE = "gateway_sqlite_immediate"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # timeout: SQLite's busy timeout. Several processes (`gateway serve --workers N`, a
        # `gateway worker` beside the server) share the file and take turns as its one writer;
        # a process that finds the write lock held waits for it up to 30 s instead of failing.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            # WAL lets the API read while the dispatcher writes; foreign keys are off by default.
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            # The transactions are begun below, not by the driver (which defers BEGIN to the
            # first write and cannot say IMMEDIATE).
            dbapi_connection.isolation_level = None

        @event.listens_for(engine, "begin")
        def _sqlite_begin(connection):  # type: ignore[no-untyped-def]
            # A write transaction (`writing`) takes the write lock at BEGIN: one that read first
            # and wrote later could find another process's commit in between, and SQLite then
            # answers "database is locked" at once (a stale snapshot waits in no busy handler).
            immediate = connection.get_execution_options().get(IMMEDIATE, False)
            # Straight to the driver: the statement needs none of SQLAlchemy's execution path.
            connection.connection.driver_connection.execute(
                "BEGIN IMMEDIATE" if immediate else "BEGIN"
            )

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("postgresql+psycopg"):
        _need_psycopg()
    return create_engine(url, pool_pre_ping=True)


class DatabaseDriverMissing(RuntimeError):
    """The database URL names a server whose driver is not installed."""


def _need_psycopg() -> None:
    # PostgreSQL support is an extra (pip install 'pa-gateway[postgres]'): SQLite, the embedded
    # default, needs no driver, so a plain install carries none.
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise DatabaseDriverMissing(
            "GATEWAY_DATABASE_URL names PostgreSQL, but its driver (psycopg) is not installed: "
            "pip install 'pa-gateway[postgres]'"
        ) from exc


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


@cache
def _heads() -> frozenset[str]:
    """The newest revisions of the migrations folder (read once a process: the scripts are
    part of the installed package). Read from the scripts' `revision` and `down_revision`
    literals, not through alembic: importing alembic costs a third of a second at every start
    (issue 19 item 2), and it is needed only when there is something to migrate."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        names = _revision_literals(script.read_text(encoding="utf-8"))
        revision, down = names.get("revision"), names.get("down_revision")
        if not isinstance(revision, str):
            continue
        revisions.add(revision)
        if isinstance(down, str):
            parents.add(down)
        elif isinstance(down, tuple | list):
            parents.update(str(d) for d in down)
    return frozenset(revisions - parents)


_REVISION_NAMES = ("revision", "down_revision")


def _revision_literals(source: str) -> dict[str, object]:
    """A script's module-level `revision` and `down_revision` values. Only the lines that
    assign them are parsed (a whole script's syntax tree is ten times the work); a value
    spread over several lines sends the whole script to the parser."""
    lines = [line for line in source.splitlines() if line.startswith(_REVISION_NAMES)]
    try:
        body = ast.parse("\n".join(lines)).body
    except SyntaxError:
        body = ast.parse(source).body
    names: dict[str, object] = {}
    for node in body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in _REVISION_NAMES:
            names[target.id] = ast.literal_eval(value)
    return names


def _current_heads(engine: Engine) -> frozenset[str]:
    """What alembic_version holds (empty for a database never migrated)."""
    try:
        with engine.connect() as connection:
            # Plain SQL, nothing to compile: every new engine (each app a test builds) asks.
            rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version")
            return frozenset(str(row[0]) for row in rows)
    except DBAPIError:
        return frozenset()


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration (idempotent)."""
    # A schema already at the head is left as it is after one read of alembic_version; a full
    # `alembic upgrade` would load env.py and every script again to find nothing to do, and
    # every process start (and every app a test builds) comes here.
    current = _current_heads(engine)
    if current and current == _heads():
        return
    from alembic import command

    command.upgrade(alembic_config(engine), "head")


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


_WRITERS: dict[str, threading.RLock] = {}
_WRITERS_GUARD = threading.Lock()


@contextmanager
def writing(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """A write transaction. SQLite takes one writer at a time and makes the others sleep and
    retry in its busy handler (tens of milliseconds a try), so the threads of one process queue
    on a lock instead; PostgreSQL writes concurrently and takes no lock here. On SQLite the
    transaction begins IMMEDIATE: it holds the file's write lock from its first statement, so a
    transaction that reads and then writes cannot find that another process (a second `serve`
    worker, the `gateway worker`) wrote in between and fail with "database is locked"."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        with sessions.begin() as session:
            yield session
        return
    if engine in _held.__dict__.setdefault("engines", set()):
        # Nested in this thread's own write transaction: a second connection taking the write
        # lock would wait on the first, so it begins as the driver would (deferred).
        with sessions.begin() as session:
            yield session
        return
    with writing_lock(sessions), sessions(bind=immediate(engine)) as session, session.begin():
        yield session


@contextmanager
def writing_lock(sessions: sessionmaker[Session]) -> Iterator[None]:
    """This process's turn to write to a SQLite file (a no-op on PostgreSQL): `writing` and a
    batch of the case store (gateway.store.repository) hold it."""
    engine = sessions.kw["bind"]
    if engine.dialect.name != "sqlite":
        yield
        return
    with _WRITERS_GUARD:
        lock = _WRITERS.setdefault(str(engine.url), threading.RLock())
    with lock:
        held = engine in _held.__dict__.setdefault("engines", set())
        _held.engines.add(engine)
        try:
            yield
        finally:
            if not held:
                _held.engines.discard(engine)


_held = threading.local()  # the engines whose write transaction this thread is in


def immediate(engine: Engine) -> Engine:
    """The engine whose transactions begin IMMEDIATE on SQLite (the engine itself elsewhere),
    kept on the engine (the options engine shares its pool; the two go together when the
    engine does)."""
    if engine.dialect.name != "sqlite":
        return engine
    made: Engine | None = engine.__dict__.get("_gateway_immediate")
    if made is None:
        made = engine.execution_options(**{IMMEDIATE: True})
        engine.__dict__["_gateway_immediate"] = made
    return made
