"""`gateway jobs`: the outbox from the command line (operators): dead jobs with their reason,
and a dead job put back in the queue. The same listing as GET /jobs, without payloads."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from gateway.settings import get_settings

jobs_app = typer.Typer(
    help="Outbound jobs: `gateway jobs list --dead` lists dead ones with their reason "
    "(`gateway jobs --dead` too); `gateway jobs retry ID` queues a dead job again.",
    invoke_without_command=True,
)

STATES = ("queued", "sending", "delivered", "dead")


def _sessions():  # type: ignore[no-untyped-def]
    from gateway.store.db import make_engine, session_factory, upgrade

    engine = make_engine(get_settings().database_url)
    upgrade(engine)
    return engine, session_factory(engine)


DeadOption = Annotated[bool, typer.Option("--dead", help="Only dead jobs (same as --state dead).")]
StateOption = Annotated[str | None, typer.Option(help="queued, sending, delivered or dead.")]
CaseOption = Annotated[str | None, typer.Option(help="Only this case's jobs.")]
KindOption = Annotated[str | None, typer.Option(help="fax, email, subscription ...")]
LimitOption = Annotated[int, typer.Option(help="At most this many jobs.")]
JsonOption = Annotated[bool, typer.Option("--json", help="One JSON array instead of lines.")]


@jobs_app.command("list")
def list_command(
    dead: DeadOption = False,
    state: StateOption = None,
    case: CaseOption = None,
    kind: KindOption = None,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
) -> None:
    """List outbound jobs (id, kind, case, state, tries, why a dead one stopped)."""
    _list(dead, state, case, kind, limit, as_json)


@jobs_app.callback()
def list_jobs(
    ctx: typer.Context,
    dead: DeadOption = False,
    state: StateOption = None,
    case: CaseOption = None,
    kind: KindOption = None,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
) -> None:
    """List outbound jobs (id, kind, case, state, tries, why a dead one stopped)."""
    if ctx.invoked_subcommand is not None:
        return
    _list(dead, state, case, kind, limit, as_json)


def _list(
    dead: bool, state: str | None, case: str | None, kind: str | None, limit: int, as_json: bool
) -> None:
    from gateway.store import outbox

    if dead:
        state = "dead"
    if state is not None and state not in STATES:
        typer.echo(f"unknown state {state!r}: one of {', '.join(STATES)}", err=True)
        raise typer.Exit(2)
    engine, sessions = _sessions()
    try:
        with sessions() as session:
            rows = outbox.list_jobs(session, state=state, case_id=case, kind=kind, limit=limit)
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        typer.echo("no jobs")
        return
    for row in rows:
        line = (
            f"{row['id']:>6}  {row['kind']:<13} {row['case_id'] or '-':<14} {row['state']:<9} "
            f"tries {row['attempts']}"
        )
        if row["state"] == "dead":
            line += f"  {row['dead_reason']}"
        elif row["state"] == "queued" and row["last_error"]:
            line += f"  next {row['next_attempt_at']}; last error: {row['last_error']}"
        typer.echo(line)


@jobs_app.command("retry")
def retry_job(job_id: Annotated[int, typer.Argument(help="The dead job's id.")]) -> None:
    """Put a dead job back in the queue with a fresh set of tries."""
    from gateway.store import outbox
    from gateway.store.db import writing

    engine, sessions = _sessions()
    try:
        with writing(sessions) as session:
            job = outbox.retry(session, job_id)
    except outbox.JobNotFound as exc:
        typer.echo(f"no job {job_id}", err=True)
        raise typer.Exit(1) from exc
    except outbox.JobNotDead as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(f"job {job['id']} ({job['kind']}) queued again")
