"""The demo partners' seed (gateway.partners.registry.seed_partners) writes its rows in one
executemany, not through the ORM: each row must be the one add_partner writes for the same
spec, column for column and type for type, on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine

from gateway.partners import registry
from gateway.partners.models import PartnerRow
from gateway.settings import REPO_ROOT
from gateway.store.db import make_engine, session_factory, upgrade
from tests.conftest import _fresh_schema_url, migrated_sqlite_url

SEED = REPO_ROOT / "samples" / "partners.yaml"
AT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)


def raw_rows(engine: Engine) -> list[tuple[object, ...]]:
    """Every partner row as the database holds it: each column's text and its SQL type (a
    JSON null and an SQL NULL are told apart)."""
    columns = [column.name for column in PartnerRow.__table__.columns]
    if engine.dialect.name == "sqlite":
        parts = [f"{name}, typeof({name})" for name in columns]
    else:
        parts = [f"{name}::text, {name} IS NULL, pg_typeof({name})::text" for name in columns]
    with engine.connect() as connection:
        return [
            tuple(row)
            for row in connection.exec_driver_sql(
                f"SELECT {', '.join(parts)} FROM partners ORDER BY id"
            )
        ]


@pytest.fixture(params=["sqlite", "postgresql"])
def two_registries(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[list[Engine]]:
    """Two empty, migrated registries on the same backend."""
    if request.param == "postgresql":
        base = request.getfixturevalue("postgres_url")
        urls = [_fresh_schema_url(base) for _ in range(2)]
    else:
        urls = [migrated_sqlite_url(tmp_path / f"{name}.db") for name in ("a", "b")]
    engines = [make_engine(url) for url in urls]
    for engine in engines:
        upgrade(engine)
    yield engines
    for engine in engines:
        engine.dispose()


def test_the_seed_writes_the_rows_add_partner_writes(
    two_registries: list[Engine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry, "utcnow", lambda: AT)
    seeded, added = two_registries
    assert registry.seed_partners(session_factory(seeded), SEED) == len(registry.load_seed(SEED))
    with session_factory(added).begin() as session:
        for spec in registry.load_seed(SEED):
            registry.add_partner(session, spec, seeded=True)
    rows = raw_rows(seeded)
    assert len(rows) >= 5
    assert rows == raw_rows(added)
    # A registry that holds partners is left alone.
    assert registry.seed_partners(session_factory(seeded), SEED) == 0


def test_a_changed_seed_file_is_read_again(tmp_path: Path) -> None:
    """The parsed seed is kept per content of the file, not per path alone."""
    seed = tmp_path / "partners.yaml"
    text = SEED.read_text()
    seed.write_text(text)
    first = registry._seed_specs(seed)
    assert registry._seed_specs(seed) is first
    seed.write_text(text.replace("Gateway operations console", "Operations"))
    names = {spec.name for spec in registry._seed_specs(seed)}
    assert "Operations" in names and "Gateway operations console" not in names
