"""`gateway cases`: the reviewer's and operator's day on the command line, in-process, as the
local operator: the work list, one case, a reviewer's decision, clinical information sent later.
The same case service as the API (`gateway.wiring.build`), the same views as GET /cases/{id},
and audited as the API is (partner `local-operator`, method CLI)."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any

import typer

from gateway.domain.case import CaseStatus

cases_app = typer.Typer(
    help="Cases: the work list, one case, a reviewer's decision, clinical information.",
    no_args_is_help=True,
)

STATUSES = [status.value for status in CaseStatus]


@contextmanager
def _core() -> Iterator[Any]:
    """The case service from settings, its engine disposed afterwards."""
    from gateway.mappings import MappingsError
    from gateway.settings import get_settings
    from gateway.wiring import build

    try:
        core = build(get_settings()).core
    except MappingsError as exc:  # as `gateway serve` says it: the file, not a traceback
        typer.echo(f"error: mappings: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        yield core
    finally:
        core.engine.dispose()


def _audit(core: Any, event: str, action: str, case_id: str | None, **detail: Any) -> None:
    from gateway import audit
    from gateway.partners.principal import LOCAL_OPERATOR

    audit.record(
        core,
        event=event,
        action=action,
        principal=LOCAL_OPERATOR,
        case_id=case_id,
        method="CLI",
        path=f"gateway cases {event.split('.')[-1]}",
        detail=detail or None,
    )


def _view(core: Any, case_id: str) -> dict[str, Any]:
    from gateway.api.cases import case_view
    from gateway.store import outbox

    stored = core.get(case_id)
    with core.sessions() as session:
        jobs = outbox.jobs_for_case(session, case_id)
    return case_view(stored, jobs)


def _print_case(view: dict[str, Any]) -> None:
    determination = view["determination"] or {}
    case = view["case"]
    member = case.get("member") or {}
    lines = [
        f"case {view['id']}  {view['status']}  ({view['program']})",
        f"  member     {member.get('member_id', '-')}",
        f"  start      {case.get('start_date', '-')}",
        f"  diagnoses  {', '.join(d['code'] for d in case.get('diagnoses', [])) or '-'}",
        f"  services   {', '.join(s['code'] for s in case.get('service_lines', [])) or '-'}",
    ]
    if determination:
        reason = determination.get("reason") or {}
        lines.append(
            f"  decision   {determination['review_action']} by {determination['decided_by']}"
        )
        # Wrapped to 80 columns under its label: a reason is a sentence or two.
        text = f"{reason.get('code', '-')}: {reason.get('text', '')}"
        lines.append(
            textwrap.fill(text, 78, initial_indent="  reason     ", subsequent_indent=" " * 13)
        )
        if determination.get("auth_number"):
            period = f"{determination.get('period_start')} to {determination.get('period_end')}"
            lines.append(f"  auth       {determination['auth_number']}  {period}")
        if determination.get("missing_facts"):
            lines.append(
                f"  missing    {', '.join(determination['missing_facts'])} "
                f"by {str(determination.get('hold_due'))[:16]}"
            )
    if view["related_case_id"]:
        lines.append(f"  related    {view['related_case_id']}")
    if view["supportive_cases"]:
        lines.append(f"  supportive {', '.join(view['supportive_cases'])}")
    lines.append("  history")
    for event in view["events"]:
        moved = f"{event['from_status'] or 'new'} -> {event['to_status']}"
        lines.append(f"    {event['at'][:16]}  {moved:<28} {event['actor']}")
    lines.append(f"  jobs       {len(view['jobs'])}")
    for job in view["jobs"]:
        lines.append(f"    {job['id']:>6}  {job['kind']:<13} {job['state']}")
    typer.echo("\n".join(lines))


def _not_found(case_id: str) -> typer.Exit:
    typer.echo(f"no case {case_id}", err=True)
    return typer.Exit(1)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


@cases_app.command("list")
def list_cases(
    status: Annotated[
        str | None, typer.Option(help="Only this status: pended, held, approved, ...")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many cases.")] = 200,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array.")] = False,
) -> None:
    """The work list: cases, the earliest due first."""
    if status is not None and status not in STATUSES:
        typer.echo(f"unknown status {status!r}: one of {', '.join(STATUSES)}", err=True)
        raise typer.Exit(2)
    with _core() as core:
        rows = core.list_cases(status, limit)
        _audit(core, "case.search", "R", None, case_ids=[row.case.id or "" for row in rows])
    listed = [
        {
            "id": row.case.id,
            "status": row.status.value,
            "program": row.case.program.value,
            "plan": row.determination.plan_id if row.determination else None,
            "due_by": _iso(row.determination.due_by if row.determination else None),
            "hold_due": _iso(row.determination.hold_due if row.determination else None),
        }
        for row in rows
    ]
    if as_json:
        typer.echo(json.dumps(listed, indent=2))
        return
    if not listed:
        typer.echo("no cases")
        return
    for item in listed:
        due = item["hold_due"] or item["due_by"] or "-"
        typer.echo(
            f"{item['id']:<14} {item['status']:<18} {item['program']:<8} "
            f"{item['plan'] or '-':<16} due {due[:16]}"
        )


@cases_app.command("show")
def show_case(
    case_id: Annotated[str, typer.Argument(help="The case id (as in X-Case-Ids, GET /cases).")],
    as_json: Annotated[
        bool, typer.Option("--json", help="The full view, as GET /cases/{id} answers it.")
    ] = False,
) -> None:
    """One case: its status, determination, history and outbound jobs."""
    from gateway.service.core import CaseNotFound

    with _core() as core:
        try:
            view = _view(core, case_id)
        except CaseNotFound:
            raise _not_found(case_id) from None
        _audit(core, "case.read", "R", case_id)
    if as_json:
        typer.echo(json.dumps(view, indent=2))
    else:
        _print_case(view)


@cases_app.command("decide")
def decide(
    case_id: Annotated[str, typer.Argument(help="The pended or held case.")],
    decision: Annotated[str, typer.Argument(help="approve, modify or deny.")],
    reviewer: Annotated[str, typer.Option(help="Who decides (recorded on the case).")],
    rationale: Annotated[str | None, typer.Option(help="Why (required to modify or deny).")] = None,
    guideline: Annotated[
        str | None, typer.Option(help="The guideline relied on (required to deny).")
    ] = None,
    period_start: Annotated[str | None, typer.Option(help="Authorized from (YYYY-MM-DD).")] = None,
    period_end: Annotated[str | None, typer.Option(help="Authorized to (YYYY-MM-DD).")] = None,
    place_of_service: Annotated[
        str | None, typer.Option(help="Two-digit place of service (a modified approval).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The case view as JSON.")] = False,
) -> None:
    """Record a reviewer's decision, as POST /cases/{id}/determination does: letters and
    notices are queued with it (a running `gateway serve` or `gateway worker` sends them)."""
    from pydantic import ValidationError

    from gateway.domain.reviewer import InvalidDecision, ReviewerDecision
    from gateway.service.core import CaseNotFound, InvalidTransition

    try:
        body = ReviewerDecision(
            reviewer=reviewer,
            decision=decision,  # type: ignore[arg-type]
            rationale=rationale,
            guideline=guideline,
            period_start=date.fromisoformat(period_start) if period_start else None,
            period_end=date.fromisoformat(period_end) if period_end else None,
            place_of_service=place_of_service,
        )
    except (ValidationError, ValueError) as exc:
        typer.echo(f"invalid decision: {_first_error(exc)}", err=True)
        raise typer.Exit(2) from None
    with _core() as core:
        try:
            core.decide(case_id, body)
        except CaseNotFound:
            raise _not_found(case_id) from None
        except (InvalidTransition, InvalidDecision) as exc:
            typer.echo(f"cannot decide case {case_id}: {exc}", err=True)
            raise typer.Exit(1) from None
        _audit(core, "case.update", "U", case_id)
        view = _view(core, case_id)
    if as_json:
        typer.echo(json.dumps(view, indent=2))
    else:
        _print_case(view)


@cases_app.command("clinical")
def add_clinical(
    case_id: Annotated[str, typer.Argument(help="The case the information is for.")],
    facts: Annotated[
        list[str],
        typer.Argument(help="KEY=VALUE facts, e.g. her2_status=negative ecog=1."),
    ],
    notes: Annotated[str | None, typer.Option(help="Free-text notes kept with the facts.")] = None,
    sender: Annotated[str, typer.Option(help="Who sent the information.")] = "provider",
    as_json: Annotated[bool, typer.Option("--json", help="The case view as JSON.")] = False,
) -> None:
    """Add clinical information and run the review again, as POST /cases/{id}/clinical does."""
    from gateway.service.core import CaseNotFound, InvalidTransition

    parsed: dict[str, Any] = {}
    for fact in facts:
        key, separator, value = fact.partition("=")
        if not separator or not key.strip():
            typer.echo(f"not KEY=VALUE: {fact!r}", err=True)
            raise typer.Exit(2)
        parsed[key.strip()] = _value(value.strip())
    with _core() as core:
        try:
            core.add_clinical(case_id, parsed, actor=sender, notes=notes)
        except CaseNotFound:
            raise _not_found(case_id) from None
        except InvalidTransition as exc:
            typer.echo(f"cannot update case {case_id}: {exc}", err=True)
            raise typer.Exit(1) from None
        _audit(core, "case.update", "U", case_id)
        view = _view(core, case_id)
    if as_json:
        typer.echo(json.dumps(view, indent=2))
    else:
        _print_case(view)


def _value(text: str) -> Any:
    """`1` is a number, `true` a boolean, anything else the text as given."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, (int, float, bool)) else text


def _first_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        message = str(first.get("msg", exc)).removeprefix("Value error, ")
        return f"{where}: {message}" if where else message
    return str(exc)
