"""The `gateway` command: serve, worker, submit, conformance, db. `gateway --help` is its manual."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from gateway.settings import get_settings

app = typer.Typer(
    help="Oncology prior-authorization gateway: X12 278 and Da Vinci PAS in, determinations "
    "out. Settings come from GATEWAY_* environment variables (see README).",
    no_args_is_help=True,
    invoke_without_command=True,  # `gateway --version` needs no command
    add_completion=False,
    # Markdown: a docstring's line breaks are only wrapping (one paragraph reads as one), so
    # the help fits any terminal width; backticks show commands as code.
    rich_markup_mode="markdown",
)


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", help="Print the version and exit.", is_eager=True),
    ] = False,
) -> None:
    if version:
        from gateway import __version__

        typer.echo(f"gateway {__version__}")
        raise typer.Exit()
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(2)


db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)
app.add_typer(db_app, name="db")


def _logging() -> None:
    from gateway.logs import configure

    try:
        configure(get_settings().log_level)
    except ValueError as exc:
        typer.echo(f"GATEWAY_LOG_LEVEL: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Server processes sharing the port. On PostgreSQL they share the database and "
            "the outbox (each process's dispatcher claims its own jobs); on SQLite they queue "
            "on its one writer. Rate limits are counted per process.",
        ),
    ] = 1,
) -> None:
    """Serve the HTTP gateway (X12, PAS, cases, eligibility) with the outbox dispatcher."""
    with _starting():
        import uvicorn

        from gateway.api.app import create_app

        _logging()
        with _mappings_checked():
            # Built once here even with several workers: the schema migrated, the demo partners
            # seeded and the signing key made by one process, before any worker races to.
            application = create_app()
    # No access log: uvicorn prints full URLs, and /eligibility/{member_id} carries a member id.
    if workers == 1:
        uvicorn.run(application, host=host, port=port, log_config=None, access_log=False)
        return
    application.state.core.engine.dispose()  # the workers open their own connections
    uvicorn.run(
        "gateway.api.app:serve_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        # uvicorn kills a worker that misses a 5 s health ping, and one still importing and
        # loading the mappings on a busy machine can: it was killed and restarted over and over.
        timeout_worker_healthcheck=60,
    )


@contextmanager
def _starting() -> Iterator[None]:
    """A long-running command's start-up without the cyclic garbage collector: its imports and
    its case service make some 300,000 objects that live as long as the process and about a
    thousand of garbage, and the collections they would set off cost a tenth of a second of
    CPU or more a process (issue 10: the tests start many). What start-up made is then frozen
    (gc.freeze: kept out of later collections, which need not walk it again) and collection
    resumes as before, for everything the command does after."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@contextmanager
def _mappings_checked() -> Iterator[None]:
    """A mappings file the gateway cannot run on stops the command with its name, not a
    traceback (exit 2)."""
    from gateway.mappings import MappingsError

    try:
        yield
    except MappingsError as exc:
        typer.echo(f"error: mappings: {exc}", err=True)
        raise typer.Exit(2) from exc


@app.command()
def worker() -> None:
    """Deliver outbox jobs (fax, e-mail, member mail, payer feed, notifications) and run the
    review clocks until stopped (SIGINT/SIGTERM finishes the job in hand)."""
    with _starting():
        from gateway.notify.worker import run_worker
        from gateway.wiring import build

        _logging()
        # The same case service as `serve`, job planners included: a hold that expires here
        # queues the same letters and notices the server would.
        with _mappings_checked():
            gateway = build(get_settings())
    # The hold clock runs on the case service's clock (GATEWAY_FROZEN_TIME included); leases and
    # retries on the wall clock, so a killed worker's job is claimed again once its lease ends.
    core = gateway.core
    run_worker(gateway.settings, clock_tick=lambda _now: core.expire_holds())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the schema of GATEWAY_DATABASE_URL to the newest migration."""
    from gateway.store.db import make_engine, upgrade

    upgrade(make_engine(get_settings().database_url))
    typer.echo("schema is up to date")


conformance_app = typer.Typer(
    help="Conformance runs: replay suites and compare.", no_args_is_help=True
)
app.add_typer(conformance_app, name="conformance")


@conformance_app.command("run")
def conformance_run(
    suites: Annotated[
        list[str] | None,
        typer.Argument(
            help="Suites to run (folders of conformance/, e.g. x12, pas, inferno); all if none."
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="Run against a gateway at this URL instead of in-process.")
    ] = None,
    token: Annotated[
        str | None, typer.Option(help="Bearer token for --url (see `gateway token`).")
    ] = None,
    junit: Annotated[Path | None, typer.Option(help="Write JUnit XML here.")] = None,
    report: Annotated[Path | None, typer.Option(help="Write a Markdown report here.")] = None,
    suites_dir: Annotated[
        Path | None, typer.Option("--dir", help="Folder holding the suites (default conformance/).")
    ] = None,
) -> None:
    """Replay conformance suites; print a table and exit non-zero on any failure.

    `gateway conformance run` replays every suite; `gateway conformance run inferno` the
    Inferno Da Vinci PAS kit's presets on their own profile (roster and plan data of
    conformance/inferno/profile/). Cases that need the public reference material skip where
    GATEWAY_REFERENCE_DIR is absent. --report writes each step's answer (review actions,
    inquiry answers, notifications) as Markdown.
    """
    from rich.console import Console
    from rich.progress import Progress

    from gateway.conformance.report import print_table, summary, write_junit, write_markdown
    from gateway.conformance.runner import run
    from gateway.conformance.suite import SuiteError, discover

    console = Console(stderr=False)
    try:
        cases = discover(suites or None, **({"root": suites_dir} if suites_dir else {}))
    except SuiteError as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(2) from exc
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("replaying", total=len(cases))
        results = run(cases, url=url, token=token, progress=lambda _: progress.advance(task))
    print_table(results, console)
    if junit:
        write_junit(results, junit)
    if report:
        write_markdown(results, report)
    console.print(summary(results))
    if any(result.verdict in ("fail", "error") for result in results):
        raise typer.Exit(1)


def main() -> None:
    """The console entry point: `app`, with the errors of set-up (a setting the gateway cannot
    run on) said in one line on stderr, exit 2, instead of a traceback."""
    try:
        app()
    except Exception as exc:
        # The store's module (SQLAlchemy) is imported by the commands that open a database,
        # not to start: `gateway --help` never loads it.
        from gateway.store.db import DatabaseDriverMissing

        if not isinstance(exc, DatabaseDriverMissing):
            raise
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


# Trading partners and access tokens (issue 5): `gateway partner add|list|disable|enable`,
# `gateway token PARTNER`.
from gateway.partners.cli import partner_app  # noqa: E402
from gateway.partners.cli import token as token_command  # noqa: E402

app.add_typer(partner_app, name="partner")
app.command("token")(token_command)

# `gateway submit FILE... [--out DIR] [--no-dispatch]` (gateway/submit.py).
from gateway.submit import submit_command  # noqa: E402

app.command("submit")(submit_command)

# Outbound jobs (issue 18 item 6): `gateway jobs [--dead]`, `gateway jobs retry ID`.
from gateway.notify.cli import jobs_app  # noqa: E402

app.add_typer(jobs_app, name="jobs")

# `gateway samples [--date D] [--out DIR]` (gateway/samples.py): demo requests dated from a day.
from gateway.samples import samples_command  # noqa: E402

app.command("samples")(samples_command)

# `gateway cases list|show|decide|clinical` (gateway/cases_cli.py): the reviewer's day.
from gateway.cases_cli import cases_app  # noqa: E402

app.add_typer(cases_app, name="cases")


if __name__ == "__main__":  # `python -m gateway.cli ...`, as the console script
    main()
