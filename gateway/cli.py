"""The `gateway` command: serve, worker, submit, conformance, db. `gateway --help` is its manual."""

from __future__ import annotations

from typing import Annotated

import typer

from gateway.settings import get_settings

app = typer.Typer(
    help="Oncology prior-authorization gateway: X12 278 and Da Vinci PAS in, determinations "
    "out. Settings come from GATEWAY_* environment variables (see README).",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _logging() -> None:
    from gateway.logs import configure

    configure(get_settings().log_level)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the HTTP gateway (X12, PAS, cases, eligibility) with the outbox dispatcher."""
    import uvicorn

    from gateway.api.app import create_app

    _logging()
    uvicorn.run(create_app(), host=host, port=port, log_config=None)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema of GATEWAY_DATABASE_URL to the newest migration."""
    from gateway.store.db import make_engine, upgrade

    upgrade(make_engine(get_settings().database_url))
    typer.echo("schema is up to date")


def main() -> None:  # pragma: no cover - console entry point
    app()
