"""`gateway submit FILE... [--out DIR] [--no-dispatch]`: files through the gateway in-process.

Each file is recognised by its content, not its name: X12 (an ISA after an optional byte-order
mark and blanks), a PAS request (JSON whose resourceType is Bundle or Parameters) or a canonical
case (a JSON object with "member", as POST /cases takes it). It goes through the same code as
its HTTP channel, acting as the local operator, and what would go back is written to --out:

    X12    <stem>.999 (or <stem>.ta1 when the envelope is broken) and <stem>.278; batch
           semantics (DESIGN.md decision 2): a 999 for every functional group, always
    PAS    <stem>.response.json, or <stem>.operation-outcome.json when refused
    case   <stem>.case.json (as GET /cases/{id} shows it), or <stem>.errors.json when invalid

Then, unless --no-dispatch, the outbox dispatcher delivers every due job in-process, and a table
shows where each case's letters and notices went. Printed output names case ids, job kinds and
file paths only, never a member's name, id or birth date.

Exit codes: 0 when every file was read (rejections included: they are answers), 2 when a file is
missing, unreadable or of an unknown kind; such files are reported before anything is submitted.
"""

from __future__ import annotations

import gc
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer

from gateway.x12.tokens import lead_length

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress

    from gateway.service.core import Core
    from gateway.settings import Settings

Kind = Literal["x12", "pas", "case"]
_LEAD = b" \t\r\n"
TABLE_CASES = 25  # cases listed one by one; the rest are counted (a batch may hold thousands)
PROGRESS_STEP = 50  # transaction sets answered between two advances of the progress bar


class InputError(Exception):
    """A file that cannot be read or is of no kind the gateway takes."""


@dataclass
class InputFile:
    path: Path
    kind: Kind
    body: Any = None  # the parsed JSON of a PAS request or a case
    stem: str = ""


@dataclass
class FileResult:
    path: Path
    kind: Kind
    answer: str  # a short description of what went back
    written: list[Path] = field(default_factory=list)
    case_ids: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- recognising a file


def detect(path: Path) -> InputFile:
    """What kind of request the file holds (raises InputError with a message for the user)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(1 << 16)
            # What may precede the ISA is what the X12 tokenizer drops (BOM runs, blanks ...).
            text = head.decode("utf-8", errors="replace")
            if text.startswith("ISA", lead_length(text)):
                return InputFile(path, "x12")
            raw = head + handle.read()
    except IsADirectoryError as exc:
        raise InputError(f"{path}: is a directory, not a file") from exc
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not raw.strip(_LEAD):
        raise InputError(f"{path}: is empty")
    try:
        body = json.loads(raw.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path}: neither X12 (no ISA at the start) nor JSON ({_json_problem(exc)})"
        ) from exc
    if isinstance(body, dict) and body.get("resourceType") in ("Bundle", "Parameters"):
        return InputFile(path, "pas", body)
    if isinstance(body, dict) and "member" in body and "resourceType" not in body:
        return InputFile(path, "case", body)
    found = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
    raise InputError(
        f"{path}: JSON, but neither a PAS request (resourceType Bundle or Parameters) nor a "
        f'canonical case (an object with "member"); found {found or "an object"}'
    )


def _json_problem(exc: Exception) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON at line {exc.lineno} column {exc.colno}"
    return "not UTF-8 text"


def _unique_stems(inputs: list[InputFile]) -> None:
    """<stem> of every output; a stem met twice (same name in two folders) gets -2, -3 ..."""
    used: Counter[str] = Counter()
    for item in inputs:
        stem = item.path.stem or "input"
        used[stem] += 1
        item.stem = stem if used[stem] == 1 else f"{stem}-{used[stem]}"


# ---------------------------------------------------------------- the channels


def _replace(out_dir: Path, stem: str, suffixes: tuple[str, ...]) -> None:
    """Outputs of an earlier run for the same stem go, so no stale answer is left beside."""
    for suffix in suffixes:
        (out_dir / f"{stem}{suffix}").unlink(missing_ok=True)


def _x12(core: Core, item: InputFile, out_dir: Path, progress: Progress) -> FileResult:
    from gateway.x12.engine import answer_batch
    from gateway.x12.grammar import x12_map_dir
    from gateway.x12.realtime import CoreControlNumbers, submitter

    _replace(out_dir, item.stem, (".999", ".ta1", ".278"))
    case_ids: list[str] = []
    submit_to_core = submitter(core)

    def submit(case, replay_key):  # type: ignore[no-untyped-def]
        stored, determination = submit_to_core(case, replay_key)
        if stored.id:
            case_ids.append(stored.id)
        return stored, determination

    task = progress.add_task(f"{item.path.name}: transactions", total=None)
    unshown = [0]

    def advance(count: int) -> None:
        # The bar is redrawn a few times a second: a lock and a task update per transaction
        # set would be work nobody sees.
        unshown[0] += count
        if unshown[0] >= PROGRESS_STEP:
            progress.advance(task, unshown[0])
            unshown[0] = 0

    acks_tmp = out_dir / f".{item.stem}.acks.tmp"
    responses_tmp = out_dir / f".{item.stem}.278.tmp"
    try:
        with (
            item.path.open("rb") as stream,
            acks_tmp.open("w", encoding="utf-8") as acks,
            responses_tmp.open("w", encoding="utf-8") as responses,
        ):
            # Many cases to a database transaction (each one still all or nothing): a rerun
            # after a crash answers what committed as replays and stores the rest.
            with core.store.batch(core.settings.submit_batch_size):
                summary = answer_batch(
                    stream,
                    x12_id=core.settings.x12_id,
                    submit=submit,
                    control_numbers=CoreControlNumbers(core),
                    now=core.clock(),
                    acks_out=acks,
                    responses_out=responses,
                    progress=advance,
                    on_scan=lambda scan: progress.update(task, total=scan.transactions),
                    map_dir=x12_map_dir(core.settings.mappings_dir),
                )
        written = []
        acks_path = out_dir / f"{item.stem}{'.999' if summary.acks else '.ta1'}"
        acks_tmp.replace(acks_path)
        written.append(acks_path)
        if summary.responses:
            responses_path = out_dir / f"{item.stem}.278"
            responses_tmp.replace(responses_path)
            written.append(responses_path)
    finally:
        acks_tmp.unlink(missing_ok=True)
        responses_tmp.unlink(missing_ok=True)
        progress.remove_task(task)
    if summary.ta1 and not summary.acks:
        answer = f"TA1 (note {', '.join(summary.note_codes)}): interchange rejected"
    else:
        answer = (
            f"999: {summary.accepted} of {summary.transactions} transaction sets "
            f"accepted; {summary.responses} responses"
        )
        if summary.ta1:
            answer += f"; TA1 for {summary.ta1} interchanges"
    return FileResult(item.path, "x12", answer, written, case_ids)


def _pas(core: Core, item: InputFile, out_dir: Path) -> FileResult:
    from gateway.fhir.intake import submit_bundle
    from gateway.partners.principal import LOCAL_OPERATOR

    _replace(out_dir, item.stem, (".response.json", ".operation-outcome.json"))
    answer = submit_bundle(core, item.body, submitter_id=LOCAL_OPERATOR.partner_id)
    resource = answer.resource()
    if answer.is_outcome:
        path = out_dir / f"{item.stem}.operation-outcome.json"
        issues = resource.get("issue") or []
        summary = f"OperationOutcome ({answer.status}): {len(issues)} issues"
    else:
        path = out_dir / f"{item.stem}.response.json"
        summary = f"response Bundle, reviewAction {_review_actions(resource)}"
    path.write_text(json.dumps(resource, indent=2) + "\n", encoding="utf-8")
    return FileResult(item.path, "pas", summary, [path], list(answer.case_ids))


def _review_actions(bundle: dict[str, Any]) -> str:
    """The ClaimResponse items' review actions (X12 306), for the summary line."""
    from gateway.conformance.observe import observe_fhir

    actions = [action or "?" for action in observe_fhir(bundle).get("items") or []]
    return ", ".join(dict.fromkeys(actions)) or "?"


def _case(core: Core, item: InputFile, out_dir: Path) -> FileResult:
    from pydantic import ValidationError

    from gateway.api.cases import CaseRequest, case_view
    from gateway.partners.principal import LOCAL_OPERATOR, submitter_for
    from gateway.store.outbox import jobs_for_case

    _replace(out_dir, item.stem, (".case.json", ".errors.json"))
    try:
        request = CaseRequest.model_validate(item.body)
    except ValidationError as exc:
        # As POST /cases answers 422: where and what, never the values (they may be PHI).
        issues = [
            {"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg")}
            for err in exc.errors(include_input=False)
        ]
        path = out_dir / f"{item.stem}.errors.json"
        path.write_text(
            json.dumps({"error": "invalid request", "detail": issues}, indent=2) + "\n",
            encoding="utf-8",
        )
        return FileResult(item.path, "case", f"invalid case: {len(issues)} problems", [path])
    request.submitter_id = submitter_for(LOCAL_OPERATOR, request.submitter_id)
    key = f"api:{request.submitter_id}:{request.request_id}" if request.request_id else None
    result = core.submit(
        request.to_case(core.clock()), actor=LOCAL_OPERATOR.partner_id, replay_key=key
    )
    case_id = result.case.id or ""
    stored = core.get(case_id)
    with core.sessions() as session:
        view = case_view(stored, jobs_for_case(session, case_id))
    path = out_dir / f"{item.stem}.case.json"
    path.write_text(json.dumps(view, indent=2) + "\n", encoding="utf-8")
    answer = f"case {stored.status.value}" + (" (replay)" if result.replayed else "")
    return FileResult(item.path, "case", answer, [path], [case_id])


# ---------------------------------------------------------------- delivering


def deliver_due_jobs(
    core: Core, settings: Settings, on_job: Callable[[], None] | None = None
) -> tuple[int, int]:
    """Run the outbox dispatcher until no due job remains: (delivered, failed). A failed job
    waits for its retry time (or is dead) and is not due again in this run."""
    from gateway.notify.deliver import Deliverer
    from gateway.notify.worker import Dispatcher

    deliverer = Deliverer(settings, clock=core.clock)
    attempts = 0

    def deliver(job, case_json):  # type: ignore[no-untyped-def]
        nonlocal attempts
        attempts += 1
        try:
            return deliverer(job, case_json)
        finally:
            if on_job is not None:
                on_job()

    dispatcher = Dispatcher(
        core.sessions, settings, deliver=deliver, clock_tick=core.expire_holds, clock=core.clock
    )
    delivered = 0
    while True:
        before = attempts
        delivered += dispatcher.run_once()
        if attempts == before:  # the pass claimed nothing: no job is due
            return delivered, attempts - delivered


def due_jobs(core: Core) -> int:
    from sqlalchemy import func, select

    from gateway.store.models import OutboxJobRow

    with core.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OutboxJobRow)
                .where(OutboxJobRow.state == "queued", OutboxJobRow.next_attempt_at <= core.clock())
            )
            or 0
        )


def delivered_to(job: dict[str, Any], settings: Settings) -> str:
    """Where a job went, from what its deliverer returned (the job's `result`)."""
    result = job.get("result") or {}
    if job.get("state") != "delivered":
        return job.get("last_error") or "not yet delivered"
    kind = job.get("kind")
    if kind == "fax":
        if result.get("gateway") == "spool":
            return f"fax spool {settings.fax_spool / str(result.get('fax_id'))}"
        return f"fax gateway {result.get('gateway')}: {result.get('fax_id')}"
    if kind in ("member_mail", "provider_mail"):
        where = settings.member_mail_dir / str(result.get("batch")) / str(result.get("file"))
        return f"member-mail batch {where}"
    if kind == "email":
        if result.get("transport") == "maildir":
            key = str(result.get("key"))
            found = [
                settings.mail_dir / box / key
                for box in ("new", "cur")
                if (settings.mail_dir / box / key).exists()
            ]
            return f"maildir {found[0] if found else settings.mail_dir / 'new' / key}"
        return f"{result.get('transport', 'mail')}: {result.get('message_id')}"
    if kind == "payer_feed":
        return f"payer feed {settings.payer_feed_dir / str(result.get('file'))}"
    if kind == "subscription":
        return f"subscriber answered HTTP {result.get('status_code')}"
    return json.dumps(result)[:120]


# ---------------------------------------------------------------- the command


def run(
    files: list[Path], out_dir: Path, *, dispatch: bool = True, console: Console | None = None
) -> int:
    """Everything `gateway submit` does; the exit code."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    console = console or Console()
    errors = Console(stderr=True)
    inputs: list[InputFile] = []
    problems: list[str] = []
    for path in files:
        try:
            inputs.append(detect(path))
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        for problem in problems:
            errors.print(f"[red]error:[/] {problem}", highlight=False, soft_wrap=True)
        errors.print("Nothing was submitted.")
        return 2
    _unique_stems(inputs)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        errors.print(f"[red]error:[/] --out {out_dir}: {exc.strerror or exc}", highlight=False)
        return 2

    from gateway.logs import configure
    from gateway.settings import get_settings
    from gateway.wiring import build

    settings = get_settings()
    # Warnings and errors only (JSON, ids only): a batch of thousands must not bury the table.
    wanted = logging.getLevelName(settings.log_level.upper())
    configure(
        settings.log_level.upper()
        if isinstance(wanted, int) and wanted > logging.WARNING
        else "WARNING"
    )
    core = build(settings).core  # the outbound jobs a determination causes, as under serve
    # What start-up made (modules, the X12 map, the mappings) lives as long as the command: the
    # collector leaves it out of its full passes while the files are read (a batch's first
    # full pass went through all of it: 0.15 s of a 2,000-set batch's 0.2 s in the collector).
    gc.freeze()
    results: list[FileResult] = []
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    try:
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("files", total=len(inputs))
            for item in inputs:
                try:
                    if item.kind == "x12":
                        results.append(_x12(core, item, out_dir, progress))
                    elif item.kind == "pas":
                        results.append(_pas(core, item, out_dir))
                    else:
                        results.append(_case(core, item, out_dir))
                except OSError as exc:
                    errors.print(
                        f"[red]error:[/] {item.path}: {exc.strerror or exc}", highlight=False
                    )
                    return 2
                _audit(core, results[-1])
                progress.advance(task)
        _print_files(console, results)
        case_ids = [case_id for result in results for case_id in result.case_ids]
        if dispatch:
            with Progress(*columns, console=console, transient=True) as progress:
                task = progress.add_task("delivering", total=due_jobs(core))
                delivered, failed = deliver_due_jobs(
                    core, settings, on_job=lambda: progress.advance(task)
                )
            console.print(
                f"Outbox: {delivered} jobs delivered"
                + (f", {failed} failed (see the table)" if failed else "")
                + "."
            )
        else:
            console.print(
                "Outbox: not dispatched (--no-dispatch); jobs stay queued for `gateway worker`."
            )
        _print_cases(console, core, settings, case_ids)
    finally:
        gc.unfreeze()  # an in-process caller's objects are collectable again
        core.engine.dispose()
    return 0


def _audit(core: Core, result: FileResult) -> None:
    """The operator's submission in the audit trail (ids only), as the HTTP routes record it."""
    from gateway import audit
    from gateway.partners.principal import LOCAL_OPERATOR

    for chunk in _chunks(result.case_ids):  # a large batch: a bounded number of rows at once
        audit.record(
            core,
            event="case.create",
            action=audit.CREATE,
            principal=LOCAL_OPERATOR,
            case_ids=chunk,
            source_address="cli",
            outcome_desc=f"gateway submit ({result.kind})",
        )


def _chunks(items: list[str], size: int = 500) -> list[list[str]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _print_files(console: Console, results: list[FileResult]) -> None:
    from rich.table import Table

    table = Table(title="Files", title_justify="left")
    table.add_column("file", overflow="fold")
    table.add_column("kind")
    table.add_column("answer", overflow="fold")
    table.add_column("written", overflow="fold")
    for result in results:
        table.add_row(
            str(result.path),
            result.kind,
            result.answer,
            "\n".join(str(path) for path in result.written),
        )
    console.print(table)


def _print_cases(console: Console, core: Core, settings: Settings, case_ids: list[str]) -> None:
    from rich.table import Table
    from sqlalchemy import func, or_, select

    from gateway.store.models import CaseRow, OutboxJobRow
    from gateway.store.outbox import jobs_for_case

    unique = list(dict.fromkeys(case_ids))
    if not unique:
        console.print("No cases were created.")
        return
    table = Table(title="Cases and where their letters went", title_justify="left")
    for name in ("case", "status", "action", "job", "state"):
        table.add_column(name, no_wrap=True)
    table.add_column("delivered to", overflow="fold")
    shown = 0
    with core.sessions() as session:
        for case_id in unique[:TABLE_CASES]:
            children = list(
                session.scalars(
                    select(CaseRow.id)
                    .where(CaseRow.related_case_id == case_id)
                    .order_by(CaseRow.id)
                )
            )
            for one in (case_id, *children):
                row = session.get(CaseRow, one)
                if row is None or shown >= TABLE_CASES:
                    continue
                shown += 1
                jobs = jobs_for_case(session, one)
                action = (row.determination_json or {}).get("review_action") or ""
                label = one if one == case_id else f"{one} (supportive of {case_id})"
                if not jobs:
                    table.add_row(label, row.status, action, "-", "-", "no outbound jobs")
                for index, job in enumerate(jobs):
                    first = index == 0
                    table.add_row(
                        label if first else "",
                        row.status if first else "",
                        action if first else "",
                        job["kind"],
                        job["state"],
                        delivered_to(job, settings),
                    )
    console.print(table)
    if len(unique) > TABLE_CASES:
        console.print(
            f"... {len(unique) - TABLE_CASES} more submitted cases not listed "
            "(GET /cases/{id} shows any of them)."
        )
    # Every job of every case (and supportive case) of this run, counted by the database.
    kinds: Counter[tuple[str, str]] = Counter()
    with core.sessions() as session:
        for chunk in _chunks(unique):
            cases = select(CaseRow.id).where(
                or_(CaseRow.id.in_(chunk), CaseRow.related_case_id.in_(chunk))
            )
            counted = session.execute(
                select(OutboxJobRow.kind, OutboxJobRow.state, func.count())
                .where(OutboxJobRow.case_id.in_(cases))
                .group_by(OutboxJobRow.kind, OutboxJobRow.state)
            )
            for kind, state, count in counted:
                kinds[(kind, state)] += count
    if kinds:
        console.print(
            "Jobs: "
            + ", ".join(f"{count} {kind} {state}" for (kind, state), count in sorted(kinds.items()))
        )


def submit_command(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Files to submit: X12 278 interchanges (single or batch), PAS $submit "
            'requests (a Bundle or Parameters, JSON) or canonical cases (JSON with "member"). '
            "The kind is read from the content.",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Folder for the answers: <stem>.999/.ta1 and <stem>.278 for X12, "
            "<stem>.response.json or <stem>.operation-outcome.json for PAS, <stem>.case.json "
            "for a case. Created when missing.",
        ),
    ] = Path("out"),
    no_dispatch: Annotated[
        bool,
        typer.Option(
            "--no-dispatch",
            help="Leave the outbound jobs (fax, mail, e-mail, payer feed) queued for "
            "`gateway worker` instead of delivering them now.",
        ),
    ] = False,
) -> None:
    """Run request files through the gateway in-process, as the local operator.

    Writes what goes back to --out, then delivers the outbound jobs and shows where each
    letter went.

    Exit code 0 when every file was read, rejections included; 2 when a file is missing,
    unreadable or of an unknown kind (then nothing is submitted).
    """
    raise typer.Exit(run(files, out, dispatch=not no_dispatch))
