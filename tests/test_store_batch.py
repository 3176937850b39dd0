"""The case store's batch (issue 19): many units of work to a database transaction, each unit
still all or nothing, a group committed whole or not at all; on SQLite and PostgreSQL (tests
marked `store` run on both), and in the in-memory double the service's tests use.

And through the command: `gateway submit` of a batch file answers byte for byte alike and
stores the same rows whatever the group size.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.service.memory_store import InMemoryCaseStore
from gateway.settings import Settings
from gateway.store import batch as store_batch
from gateway.store.repository import SqlCaseStore
from tests.test_submit_cli import env, submit  # noqa: F401 (the fixture)

AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


class Boom(Exception):
    pass


def stored_keys(settings: Settings) -> list[str]:
    """The replay keys another connection sees (what is committed)."""
    engine = create_engine(settings.database_url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return sorted(row[0] for row in connection.execute(text("SELECT key FROM replays")))
    finally:
        engine.dispose()


@pytest.fixture
def store(settings: Settings) -> SqlCaseStore:
    made = SqlCaseStore.from_url(settings.database_url)
    yield made
    made.dispose()


@pytest.mark.store
def test_a_group_commits_when_full_and_the_rest_at_the_end(
    store: SqlCaseStore, settings: Settings
) -> None:
    with store.batch(size=2):
        for key in ("k1", "k2"):
            with store.transaction() as tx:
                assert tx.remember(key, ["PA1"], None, at=AT)
        assert stored_keys(settings) == ["k1", "k2"]  # the first group, committed
        with store.transaction() as tx:
            assert tx.remember("k3", ["PA1"], None, at=AT)
        assert stored_keys(settings) == ["k1", "k2"]  # the open group: not yet
        with store.read() as tx:  # the batch reads its own writes
            replay = tx.replay("k3")
            assert replay is not None and replay.case_ids == ["PA1"]
        with store.transaction() as tx:  # a key is stored once, in a batch as outside one
            assert not tx.remember("k3", ["PA2"], None, at=AT)
    assert stored_keys(settings) == ["k1", "k2", "k3"]


@pytest.mark.store
def test_a_failed_unit_is_undone_alone(store: SqlCaseStore, settings: Settings) -> None:
    with store.batch(size=10):
        with store.transaction() as tx:
            tx.remember("kept", ["PA1"], None, at=AT)
        with pytest.raises(Boom), store.transaction() as tx:
            tx.remember("undone", ["PA2"], None, at=AT)
            raise Boom
        with store.transaction() as tx:
            tx.remember("after", ["PA3"], None, at=AT)
    assert stored_keys(settings) == ["after", "kept"]


@pytest.mark.store
def test_a_crash_loses_the_open_group_whole_and_nothing_committed(
    store: SqlCaseStore, settings: Settings
) -> None:
    with pytest.raises(Boom), store.batch(size=2):
        for key in ("a", "b", "c"):
            with store.transaction() as tx:
                tx.remember(key, ["PA1"], None, at=AT)
        raise Boom  # as a kill: the group of "c" never commits
    assert stored_keys(settings) == ["a", "b"]


def test_on_sqlite_a_group_holds_the_write_lock_from_its_first_read(
    store: SqlCaseStore, settings: Settings
) -> None:
    # Begun deferred, the group would read on a snapshot and fail "database is locked" at its
    # first write if another process (a `gateway worker`) committed in between; begun
    # IMMEDIATE, the other process is the one that waits.
    path = settings.database_url.split("///", 1)[-1]
    other = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        with store.batch(size=10):
            with store.transaction() as tx:
                assert tx.replay("nothing-yet") is None  # a read only
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # the group committed: the lock is free
        other.execute("ROLLBACK")
    finally:
        other.close()


@pytest.mark.store
def test_counters_never_repeat_across_a_batch_and_after_it(store: SqlCaseStore) -> None:
    with store.batch(size=3):
        numbers = []
        for _ in range(5):
            with store.transaction() as tx:
                numbers.append(tx.next_number("case"))
    with store.transaction() as tx:
        numbers.append(tx.next_number("case"))
    assert numbers == [1, 2, 3, 4, 5, 6]


@pytest.mark.store
def test_a_planners_numbers_and_the_units_are_one_series(store: SqlCaseStore) -> None:
    # The planners' counter (an X12 follow-up's control numbers) and the unit's are the same
    # rows: in a batch neither may count past the other, nor wait on the other's lock.
    with store.batch(size=10):
        numbers = []
        with store.transaction() as tx:
            numbers.append(tx.next_number("x12:isa"))
            numbers.append(tx.reads().next_number("x12:isa"))
        with store.transaction() as tx:
            numbers.append(tx.next_number("x12:isa"))
    with store.transaction() as tx:
        numbers.append(tx.next_number("x12:isa"))
    assert numbers == [1, 2, 3, 4]


@pytest.mark.store
def test_a_unit_that_reads_the_database_sees_the_group_and_fails_alone(
    store: SqlCaseStore, settings: Settings
) -> None:
    # SQLite keeps a group's rows in memory until it commits; a unit that must see the
    # database as written (here a listing of cases) writes them first, and is then undone
    # alone when it fails.
    with store.batch(size=10):
        with store.transaction() as tx:
            assert tx.remember("first", ["PA1"], None, at=AT)
        with pytest.raises(Boom), store.transaction() as tx:
            assert tx.remember("second", ["PA2"], None, at=AT)
            assert tx.by_status(None, 10) == []
            assert tx.replay("first") is not None  # the group's own row, now in the database
            raise Boom
        with store.transaction() as tx:
            assert tx.replay("second") is None
            assert not tx.remember("first", ["PA3"], None, at=AT)
            tx.keep_answer("first", "the answer")
            tx.keep_answer("first", "a later answer")  # the first rendered wins
        with store.transaction() as tx:
            assert tx.remember("third", ["PA4"], None, at=AT)
            tx.keep_answer("third", "answer three")
    assert stored_keys(settings) == ["first", "third"]
    with store.read() as tx:
        first, third = tx.replay("first"), tx.replay("third")
    assert first is not None and (first.case_ids, first.response) == (["PA1"], "the answer")
    assert third is not None and third.response == "answer three"


@pytest.mark.store
def test_a_unit_opened_or_a_read_made_inside_a_unit_sees_what_it_wrote(
    store: SqlCaseStore,
) -> None:
    with store.batch(size=10):
        with store.transaction() as outer:
            numbers = [outer.next_number("case")]
            assert outer.remember("outer", ["PA1"], None, at=AT)
            with store.transaction() as inner:
                numbers.append(inner.next_number("case"))
                assert inner.replay("outer") is not None
            with store.read() as reads:
                assert reads.replay("outer") is not None
            numbers.append(outer.next_number("case"))
    assert numbers == [1, 2, 3]


@pytest.mark.store
def test_a_failed_unit_leaves_no_row_and_the_next_one_commits(
    store: SqlCaseStore, settings: Settings
) -> None:
    with store.batch(size=2):
        with pytest.raises(Boom), store.transaction() as tx:
            tx.remember("failed", ["PA1"], None, at=AT)
            raise Boom
        for key in ("a", "b"):  # the group fills with these two and commits
            with store.transaction() as tx:
                tx.remember(key, ["PA1"], None, at=AT)
        assert stored_keys(settings) == ["a", "b"]


def test_the_in_memory_double_keeps_the_same_promises() -> None:
    store = InMemoryCaseStore()
    with store.batch(size=2):
        with store.transaction() as tx:
            assert tx.remember("kept", ["PA1"], None, at=AT)
        with pytest.raises(Boom), store.transaction() as tx:
            tx.remember("undone", ["PA2"], None, at=AT)
            raise Boom
        with store.read() as tx:
            assert tx.replay("kept") is not None and tx.replay("undone") is None


def test_submit_answers_and_stores_alike_whatever_the_group_size(
    env: Path,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from benchmarks.workload import write_batch
    from gateway.settings import get_settings

    batch = tmp_path / "batch.x12"
    write_batch(batch, 12)
    answers = []
    # The last run sends the group's rows through SQLAlchemy's own executemany (no statement
    # goes straight to the driver): the driver path binds every value as SQLAlchemy would.
    for size, name in (("1", "one"), ("5", "five"), ("5", "sqlalchemy")):
        if name == "sqlalchemy":
            monkeypatch.setattr(store_batch, "_raw_plan", lambda *args: None)
        url = f"sqlite:///{tmp_path / name}.db"
        monkeypatch.setenv("GATEWAY_DATABASE_URL", url)
        monkeypatch.setenv("GATEWAY_SUBMIT_BATCH_SIZE", size)
        get_settings.cache_clear()
        code, output = submit(env, batch, "--out", tmp_path / name, "--no-dispatch")
        assert code == 0 and "12 of 12 transaction sets accepted" in output
        engine = create_engine(url)
        with engine.connect() as connection:
            rows = {
                table: sorted(tuple(r) for r in connection.execute(text(f"SELECT * FROM {table}")))
                for table in ("cases", "case_events", "outbox_jobs", "replays", "case_lookup")
            }
        engine.dispose()
        answers.append(
            (
                (tmp_path / name / "batch.999").read_bytes(),
                (tmp_path / name / "batch.278").read_bytes(),
                rows,
            )
        )
    assert answers[0] == answers[1] == answers[2]
    assert len(answers[0][2]["cases"]) >= 12
