"""Replay conformance cases against the gateway, in-process or at a URL, and compare.

In-process, every case gets a gateway of its own (a fresh SQLite database, spool and maildir in a
temporary folder) whose clock is frozen at the case's `as_of`, so a suite replays the same way on
any day; the database is a new copy of one migrated once a process, under an engine kept from
case to case (see case_database). Against a URL, the steps go over HTTP to a running gateway
with its own clock.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from gateway.conformance.observe import CASE_FACTS, observe_case, observe_response, pick
from gateway.conformance.receiver import NotificationReceiver
from gateway.conformance.suite import REFERENCE_PREFIX, ConformanceCase, Step, SuiteError
from gateway.domain.outcomes import auth_number_for_id
from gateway.partners.settings import AuthSettings
from gateway.settings import Settings, get_settings
from gateway.x12.grammar import x12_map_dir

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@dataclass
class StepResult:
    name: str
    observed: dict[str, Any]
    difference: str | None = None


@dataclass
class CaseResult:
    suite: str
    name: str
    description: str
    verdict: str  # pass | fail | error
    difference: str | None = None
    seconds: float = 0.0
    steps: list[StepResult] = field(default_factory=list)

    @property
    def id(self) -> str:
        return f"{self.suite}/{self.name}"


def first_difference(expected: Any, observed: Any, where: str = "") -> str | None:
    """The first place where `observed` does not hold what `expected` asks for.

    Dicts are compared as subsets (only the keys a case names), lists element by element and in
    full, scalars as text (so 001 and "001" agree).
    """
    if isinstance(expected, dict):
        if not isinstance(observed, dict):
            return f"{where or 'response'}: expected an object, got {observed!r}"
        for key, value in expected.items():
            if key not in observed:
                return f"{where}{'.' if where else ''}{key}: expected {value!r}, not present"
            found = first_difference(value, observed[key], f"{where}{'.' if where else ''}{key}")
            if found:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(observed, list):
            return f"{where}: expected a list {expected!r}, got {observed!r}"
        if len(expected) != len(observed):
            return f"{where}: expected {len(expected)} entries {expected!r}, got {observed!r}"
        for index, (want, have) in enumerate(zip(expected, observed, strict=True)):
            found = first_difference(want, have, f"{where}[{index}]")
            if found:
                return found
        return None
    if str(expected) != str(observed):
        return f"{where}: expected {expected!r}, got {observed!r}"
    return None


class Target:
    """Where steps go: an in-process app or a running gateway."""

    def __init__(
        self,
        client: httpx.Client | Any,
        worker: Callable[[], int] | None = None,
        map_dir: Path | None = None,
        receiver: NotificationReceiver | None = None,
        token_for: Callable[[str], str] | None = None,
        advance: Callable[[timedelta], datetime] | None = None,
    ):
        self.client = client
        self.worker = worker
        # In-process: an access token for a seeded partner (a step's `as_partner`).
        self.token_for = token_for
        # Moves the clock on (in-process only: a running gateway keeps its own time).
        self.advance = advance
        # The X12 map folder pyx12 (the oracle) runs with: the gateway's own, from its settings.
        self.map_dir = map_dir
        # Where the Subscriptions of `subscribe` steps send their notifications.
        self.receiver = receiver


def _test_client() -> type:
    """Starlette's in-process client. Starlette 1.x asks for httpx2 and warns, on import, when it
    finds only httpx (the gateway's pinned HTTP client): that warning is about the test client's
    transport, not about the run, so it is not printed in the middle of an operator's report
    (issue 17). Only that one warning, only for this import."""
    import warnings

    from starlette.exceptions import StarletteDeprecationWarning

    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Using `httpx` with", category=StarletteDeprecationWarning
        )
        from fastapi.testclient import TestClient
    return TestClient


@contextmanager
def in_process_target(
    case: ConformanceCase, base: Settings, auth: AuthSettings | None = None
) -> Iterator[Target]:
    """The case's own gateway. `auth`: the run's access settings (read from the environment
    once a run; each case's app gets a copy of its own, which it may complete)."""
    from gateway.api.app import create_app
    from gateway.store.repository import SqlCaseStore
    from gateway.wiring import build

    auth = auth or run_auth_settings()
    with ExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="conformance-")))
        receiver = stack.enter_context(NotificationReceiver())
        mappings = (
            overlaid_mappings(base.mappings_dir, case.resolve(case.mappings))
            if case.mappings
            else base.mappings_dir
        )
        # The case's own database: a copy of one migrated (and seeded) once a process, so
        # every case starts from the store a new gateway starts with, and no case sees another.
        database_url, engine = stack.enter_context(case_database(seeded_template(auth.seed_file)))
        settings = base.model_copy(
            update={
                "database_url": database_url,
                "roster": case.resolve(case.roster) if case.roster else base.roster,
                "mappings_dir": mappings,
                # The case's own subscriber, on the loopback: a development host.
                "subscription_allowed_hosts": [*base.subscription_allowed_hosts, receiver.host],
                "fax_spool": folder / "fax",
                "mail_dir": folder / "mail",
                "member_mail_dir": folder / "member-mail",
                "payer_feed_dir": folder / "payer-feed",
                "smtp_url": None,
                "fax_gateway": "spool",
                "frozen_time": case.as_of,
                "dispatch_in_process": False,
            }
        )
        clock = SteppedClock(case.as_of)
        # migrate=False: the copy is of a template this process migrated to the head.
        store = SqlCaseStore(engine, migrate=False)
        core = build(settings, clock=clock, store=store).core
        app = create_app(settings, core=core, auth_settings=auth.model_copy())
        with _test_client()(app, headers=_local_operator_headers(app)) as client:
            yield Target(
                client,
                worker=getattr(app.state, "run_outbox_once", None),
                map_dir=x12_map_dir(settings.mappings_dir),
                receiver=receiver,
                token_for=_partner_tokens(app, core),
                advance=clock.advance,
            )


def run_auth_settings() -> AuthSettings:
    """The access settings of the run (GATEWAY_AUTH_*, GATEWAY_PARTNERS_SEED, ...), as
    create_app reads them when given none."""
    return AuthSettings()


@cache
def seeded_template(seed: Path | None) -> Path:
    """A SQLite file migrated to the head, with the partners of `seed` in its registry, made
    once a process: what every new gateway's database holds once its app has started
    (alembic's scripts, then auth.install's seed_partners). Each case's database starts as a
    copy of it: migrating and seeding again for each case cost a third of a run."""
    from gateway.partners.registry import seed_partners
    from gateway.store.db import make_engine, session_factory, upgrade

    folder = Path(tempfile.mkdtemp(prefix="conformance-schema-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = folder / "gateway.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    seed_partners(session_factory(engine), seed)
    engine.dispose()
    # WAL mode: the schema sits in the -wal file until a checkpoint folds it into the one file
    # a copy takes.
    with closing(sqlite3.connect(path)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


# The case databases of this process that no case is using: (file, engine on it).
_FREE_DATABASES: list[tuple[Path, Engine]] = []
_FREE_GUARD = threading.Lock()


@contextmanager
def case_database(template: Path) -> Iterator[tuple[str, Engine]]:
    """A SQLite file holding a copy of `template`, and an engine on it: its URL and the engine.

    The engine is kept from case to case (a file and engine of this process no case is using;
    a new pair when every one is in use). SQLAlchemy keeps the statements it compiled with the
    engine's dialect, so a new engine for every case compiled each of the gateway's statements
    again for every case: a fifth of a run's CPU.
    """
    from gateway.store.db import make_engine

    with _FREE_GUARD:
        slot = _FREE_DATABASES.pop() if _FREE_DATABASES else None
    if slot is None:
        folder = Path(tempfile.mkdtemp(prefix="conformance-db-"))
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = folder / "gateway.db"
        slot = (path, make_engine(f"sqlite:///{path}"))
    path, engine = slot
    # A new file, not the last case's written over: a connection a failed case left open
    # (outside the pool, which dispose emptied) goes on reading the old one, not this copy.
    for name in (path.name, f"{path.name}-wal", f"{path.name}-shm"):
        (path.parent / name).unlink(missing_ok=True)
    shutil.copyfile(template, path)
    try:
        yield f"sqlite:///{path}", engine
    finally:
        # Every pooled connection closed: the next copy is the next case's from its first read.
        engine.dispose()
        with _FREE_GUARD:
            _FREE_DATABASES.append(slot)


# Merged mappings folders of this process, by (base, overlay, overlay content): made once, so
# the gateway's per-folder caches (load_mappings, the X12 grammar) serve every case that uses it.
_OVERLAID: dict[tuple[Path, Path, str], Path] = {}


def overlaid_mappings(base: Path, overlay: Path) -> Path:
    """A mappings folder: `base` with every file of `overlay` added or put in its place."""
    if not overlay.is_dir():
        raise SuiteError(f"mappings overlay {overlay} is not a folder")
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(p for p in overlay.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(overlay)).encode() + b"\0" + path.read_bytes())
    key = (Path(base).resolve(), overlay.resolve(), digest.hexdigest())
    if key not in _OVERLAID or not _OVERLAID[key].is_dir():
        folder = tempfile.mkdtemp(prefix="conformance-mappings-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        merged = Path(folder) / "mappings"
        shutil.copytree(key[0], merged)
        shutil.copytree(overlay, merged, dirs_exist_ok=True)
        _OVERLAID[key] = merged
    return _OVERLAID[key]


def _partner_tokens(app: Any, core: Any) -> Callable[[str], str]:
    def token_for(partner_id: str) -> str:
        from gateway.partners.tokens import token_for_partner

        return token_for_partner(core.sessions, app.state.auth_settings, partner_id)

    return token_for


class SteppedClock:
    """The case's frozen moment, moved on only by its `advance` steps (an appeal on day 181, an
    approval past its last day)."""

    def __init__(self, start: datetime):
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> datetime:
        self.now = self.now + by
        return self.now


def _local_operator_headers(app: Any) -> dict[str, str]:
    mint = getattr(app.state, "local_operator_token", None)
    return {"Authorization": f"Bearer {mint()}"} if mint else {}


def fill(text: str, bound: dict[str, str]) -> str:
    """`{{name}}` replaced by the values earlier steps bound."""
    for name, value in bound.items():
        text = text.replace(f"{{{{{name}}}}}", value)
    return text


def step_content(case: ConformanceCase, relative: str, bound: dict[str, str]) -> bytes:
    """A step's file with the values of the certification an earlier step created filled in:
    `{{case_id}}` and `{{auth_number}}` (a change names the authorization it changes, whose
    number is only known once the gateway answered)."""
    content = case.resolve(relative).read_bytes()
    for name, value in bound.items():
        content = content.replace(f"{{{{{name}}}}}".encode(), value.encode())
    return content


def _send(
    target: Target,
    case: ConformanceCase,
    step: Step,
    case_id: str | None,
    bound: dict[str, str] | None = None,
) -> httpx.Response:
    client = target.client
    bound = bound or {}
    if step.http:
        request = step.http
        headers = dict(request.headers)
        if step.as_partner:
            if target.token_for is None:
                raise SuiteError("as_partner needs the in-process gateway")
            headers["Authorization"] = f"Bearer {target.token_for(step.as_partner)}"
        content: bytes | None = None
        if request.body:
            content = step_content(case, request.body, bound)
        elif request.json_body is not None:
            content = fill(json.dumps(request.json_body), bound).encode()
            headers.setdefault("Content-Type", "application/json")
        path = fill(request.path, bound)
        if "{{" in path:
            raise SuiteError(f"step http {request.path} needs a value from an earlier step")
        return client.request(
            request.method, path, content=content, headers=headers, params=request.params or None
        )
    if step.x12:
        return client.post(
            "/x12/278",
            content=step_content(case, step.x12, bound),
            headers={"Content-Type": "application/edi-x12"},
        )
    if step.pas:
        return client.post(
            "/fhir/Claim/$submit",
            content=step_content(case, step.pas, bound),
            headers={"Content-Type": "application/fhir+json"},
        )
    if step.inquire:
        return client.post(
            "/fhir/Claim/$inquire",
            content=step_content(case, step.inquire, bound),
            headers={"Content-Type": "application/fhir+json"},
        )
    if step.case:
        return client.post(
            "/cases",
            content=step_content(case, step.case, bound),
            headers={"Content-Type": "application/json"},
        )
    if step.subscribe:
        resource = json.loads(step_content(case, step.subscribe, bound))
        if target.receiver is not None and isinstance(resource.get("channel"), dict):
            resource["channel"]["endpoint"] = target.receiver.url
        return client.post(
            "/fhir/Subscription",
            content=json.dumps(resource).encode(),
            headers={"Content-Type": "application/fhir+json"},
        )
    if case_id is None:
        raise SuiteError(f"step {step.action} needs a case from an earlier step")
    if step.clinical is not None:
        return client.post(f"/cases/{case_id}/clinical", json=step.clinical)
    return client.post(f"/cases/{case_id}/determination", json=step.decide)


def oracle_verdict(
    sent: bytes, answer: bytes, observed: dict[str, Any], map_dir: Path | None = None
) -> str:
    """pyx12, run with the gateway's map (`map_dir`, else the repository's), is the independent
    oracle of every X12 exchange: it must agree with the gateway on accepting what was sent, and
    accept every 278 written."""
    from gateway.x12.grammar import REPO_MAP_DIR
    from gateway.x12.oracle import normalize_reference, run_pyx12

    map_dir = map_dir or REPO_MAP_DIR

    kind = str(observed.get("kind"))
    if kind == "ta1":
        return "agree"  # an envelope or routing refusal: nothing reached the validators
    # (A TA1 A ahead of the answer, for ISA14 1, is no refusal: the rest is checked.)
    verdicts = (observed.get("ack999") or {}).get("ik5") or []
    gateway_clean = all(verdict == "A" for verdict in verdicts)
    pyx12_clean = run_pyx12(normalize_reference(sent), map_dir).valid
    if pyx12_clean != gateway_clean:
        return (
            f"disagree: pyx12 finds the request {'valid' if pyx12_clean else 'invalid'}, "
            f"the gateway {'accepted' if gateway_clean else 'rejected'} it"
        )
    for interchange in re.split(rb"(?=ISA\*)", answer):
        if b"ST*278*" in interchange:
            written = run_pyx12(interchange, map_dir)
            if not written.valid:
                return f"disagree: pyx12 rejects the 278 the gateway wrote: {written.findings[:3]}"
    return "agree"


def _json_or_none(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        return None


def run_case(case: ConformanceCase, target: Target) -> CaseResult:
    started = time.perf_counter()
    result = CaseResult(case.suite, case.name, case.description, "pass")
    case_id: str | None = None
    bound: dict[str, str] = {}
    determinations: list[Any] = []
    try:
        for index, step in enumerate(case.steps):
            label = step.name or f"step {index + 1} ({step.action})"
            if step.worker:
                delivered = target.worker() if target.worker else 0
                observed: dict[str, Any] = {"delivered": delivered}
            elif step.advance is not None:
                if target.advance is None:
                    raise SuiteError("advance steps run in-process only (the clock is the case's)")
                observed = {"now": target.advance(timedelta(**step.advance)).isoformat()}
            else:
                response = _send(target, case, step, case_id, bound)
                observed = observe_response(step.action, response)
                case_id = observed.get("case_id") or case_id
                if case_id and "case_id" not in bound:
                    # The first case of the scenario: the certification later steps change.
                    bound.update(case_id=case_id, auth_number=auth_number_for_id(case_id))
                if step.pick or step.bind:
                    answer = _json_or_none(response)
                    for name, path in step.pick.items():
                        observed[name] = pick(answer, fill(path, bound))
                    for name, path in step.bind.items():
                        value = pick(answer, fill(path, bound))
                        if value is not None:
                            bound[name] = str(value)
                if step.x12:
                    observed["oracle"] = oracle_verdict(
                        step_content(case, step.x12, bound),
                        response.content,
                        observed,
                        target.map_dir,
                    )
            # The case as GET /cases reads it, for a step that states something about it: a
            # read for every step was a tenth of a run, and the report shows none of it.
            if case_id and not CASE_FACTS.isdisjoint(step.expect):
                observed.update(observe_case(target.client, case_id))
            if target.receiver is not None:
                observed["notifications"] = target.receiver.observed()
            if "original" in step.expect and bound.get("case_id") and bound["case_id"] != case_id:
                observed["original"] = observe_case(target.client, bound["case_id"])
            determinations.append(observed.get("items"))
            step_result = StepResult(label, observed)
            step_result.difference = first_difference(step.expect, observed)
            if not step_result.difference and observed.get("oracle", "agree") != "agree":
                step_result.difference = f"oracle: {observed['oracle']}"
            result.steps.append(step_result)
            if step_result.difference:
                result.verdict, result.difference = "fail", f"{label}: {step_result.difference}"
                break
        if result.verdict == "pass" and case.same_determination:
            chosen = [determinations[i] for i in case.same_determination]
            if any(d != chosen[0] for d in chosen[1:]):
                result.verdict = "fail"
                result.difference = f"steps {case.same_determination} decided differently: {chosen}"
    except Exception as exc:  # an error in one case must not stop the suite
        result.verdict, result.difference = "error", f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result


def run(
    cases: list[ConformanceCase],
    *,
    url: str | None = None,
    token: str | None = None,
    progress: Callable[[CaseResult], None] | None = None,
) -> list[CaseResult]:
    results = []
    base = get_settings()
    auth = None if url else run_auth_settings()
    for case in cases:
        missing = case.missing_inputs()
        if any(path.startswith(REFERENCE_PREFIX) for path in missing):
            # Reference material is public data kept beside the project, not in it: without it
            # the case cannot run, which is said, not hidden.
            outcome = CaseResult(
                case.suite,
                case.name,
                case.description,
                "skip",
                f"reference material not found: {', '.join(missing)}",
            )
            results.append(outcome)
            if progress:
                progress(outcome)
            continue
        if url:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            with (
                httpx.Client(base_url=url, headers=headers, timeout=30) as client,
                NotificationReceiver() as receiver,
            ):
                # The gateway at `url` reaches the receiver when it runs on this machine and
                # lists the receiver's host in GATEWAY_SUBSCRIPTION_ALLOWED_HOSTS.
                remote = Target(client, map_dir=x12_map_dir(base.mappings_dir), receiver=receiver)
                outcome = run_case(case, remote)
        else:
            with in_process_target(case, base, auth) as target:
                outcome = run_case(case, target)
        results.append(outcome)
        if progress:
            progress(outcome)
    return results
