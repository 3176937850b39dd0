"""The PostgreSQL tests' schemas are the migrations' statements replayed (tests/conftest.py,
`_migration_script`), not Alembic run again for each: a replayed schema must be, table for
table and trigger for trigger, the one `gateway db upgrade` makes of an empty schema."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gateway.settings import REPO_ROOT
from gateway.store.db import _heads
from tests.conftest import _fresh_schema_url

# What a schema holds, read from the catalog; each query takes the schema's name ($1 as %s).
CATALOG = {
    "relations": """
        SELECT c.relname, c.relkind, c.relpersistence FROM pg_class c
        JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1""",
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, udt_name, is_nullable,
               column_default, character_maximum_length, numeric_precision, numeric_scale,
               datetime_precision, is_identity, is_generated, generation_expression
        FROM information_schema.columns WHERE table_schema = %s ORDER BY 1, 3""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
        WHERE schemaname = %s ORDER BY 1, 2""",
    "constraints": """
        SELECT c.conrelid::regclass::text, c.conname, c.contype, pg_get_constraintdef(c.oid),
               c.condeferrable, c.condeferred
        FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
        WHERE n.nspname = %s ORDER BY 1, 2""",
    "triggers": """
        SELECT t.tgrelid::regclass::text, t.tgname, pg_get_triggerdef(t.oid), t.tgenabled
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s AND NOT t.tgisinternal ORDER BY 1, 2""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid), pg_get_functiondef(p.oid)
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %s ORDER BY 1, 2""",
    "sequences": """
        SELECT sequence_name, data_type, start_value, minimum_value, maximum_value, increment,
               cycle_option
        FROM information_schema.sequences WHERE sequence_schema = %s ORDER BY 1""",
    # Where each sequence stands (a migration's setval, a row it inserted).
    "sequence values": """
        SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = %s ORDER BY 1""",
    "owned sequences": """
        SELECT s.relname, t.relname, a.attname FROM pg_depend d
        JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S'
        JOIN pg_class t ON t.oid = d.refobjid
        JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
        JOIN pg_namespace n ON n.oid = s.relnamespace
        WHERE n.nspname = %s AND d.deptype = 'a' ORDER BY 1""",
    "comments": """
        SELECT c.relname, d.objsubid, d.description FROM pg_description d
        JOIN pg_class c ON c.oid = d.objoid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %s ORDER BY 1, 2""",
}


def schema_of(url: str) -> str:
    return url.split("search_path%3D", 1)[1].split("%20", 1)[0]


def catalog(base: str, schema: str) -> dict[str, list[tuple[object, ...]]]:
    """Everything CATALOG reads of `schema`, its own name written as <schema> (definitions
    name it where the reader's search_path does not reach), and its alembic_version rows."""
    import psycopg

    def unnamed(value: object) -> object:
        return value.replace(schema, "<schema>") if isinstance(value, str) else value

    with psycopg.connect(base) as connection:
        read = {
            part: [tuple(unnamed(v) for v in row) for row in connection.execute(query, [schema])]
            for part, query in CATALOG.items()
        }
        read["alembic_version"] = connection.execute(
            f'SELECT version_num FROM "{schema}".alembic_version ORDER BY 1'
        ).fetchall()
        # The rows a migration writes (none but alembic_version's today), counted per table.
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = %s AND table_type = 'BASE TABLE' ORDER BY 1",
            [schema],
        ).fetchall()
        read["rows"] = [
            (table, *connection.execute(f'SELECT count(*) FROM "{schema}"."{table}"').fetchall())
            for (table,) in tables
        ]
    return read


@pytest.fixture
def migrated_for_real(postgres_url: str) -> str:
    """An empty schema migrated by `gateway db upgrade` (Alembic, every script), in a process
    of its own: the real migrations on PostgreSQL, end to end."""
    url = _fresh_schema_url(postgres_url, migrated=False)
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    upgrade = subprocess.run(
        [sys.executable, "-m", "gateway", "db", "upgrade"],
        env={**environment, "GATEWAY_DATABASE_URL": url},
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
    )
    assert upgrade.returncode == 0, upgrade.stderr[-2000:]
    return schema_of(url)


def test_a_replayed_schema_is_the_one_the_migrations_make(
    postgres_url: str, migrated_for_real: str
) -> None:
    replayed = catalog(postgres_url, schema_of(_fresh_schema_url(postgres_url)))
    migrated = catalog(postgres_url, migrated_for_real)
    # Not two empty readings: the migrations' tables, triggers and head are there.
    assert migrated["alembic_version"] == [(head,) for head in sorted(_heads())]
    assert {"cases", "outbox_jobs", "partners", "audit_events"} <= {
        row[0] for row in migrated["relations"]
    }
    assert migrated["triggers"] and migrated["functions"] and migrated["constraints"]
    for part in migrated:
        assert replayed[part] == migrated[part], part


def test_the_comparison_sees_a_missing_index(postgres_url: str) -> None:
    """The reading above is fine enough to tell two schemas apart by one index."""
    import psycopg

    first, second = (schema_of(_fresh_schema_url(postgres_url)) for _ in range(2))
    assert catalog(postgres_url, first) == catalog(postgres_url, second)
    with psycopg.connect(postgres_url) as connection:
        connection.execute(f'DROP INDEX "{second}".ix_cases_status')
    assert catalog(postgres_url, first)["indexes"] != catalog(postgres_url, second)["indexes"]
