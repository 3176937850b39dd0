"""The FastAPI app over a case service built by `gateway.wiring.build`."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from gateway import __version__
from gateway.api import alternatives as alternatives_api
from gateway.api import (
    appeals,
    auth,
    authorizations,
    caqh,
    cases,
    docs,
    eligibility,
    errors,
    fhir,
    jobs,
    mailbox,
    pap,
    x12,
    x12_limits,
)
from gateway.api import peer_to_peer as peer_to_peer_api
from gateway.api.group import GroupWriter
from gateway.api.routes import mount
from gateway.notify.worker import Dispatcher
from gateway.partners.settings import AuthSettings
from gateway.service.core import Core
from gateway.settings import Settings, get_settings
from gateway.store.pap_compliance import pap_compliance
from gateway.wiring import build, clock_tick, peer_to_peer_service, work_list

API_DESCRIPTION = """\
Prior authorization for oncology: X12 278 (005010X217) and Da Vinci PAS 2.2.1 requests in,
determinations out.

**Credentials.** Every route but `/healthz`, `/fhir/metadata`, `/auth/token`, SMART discovery and
these pages needs them: FHIR routes a SMART Backend Services bearer token (`/auth/token`,
client credentials), X12 HTTP Basic with the partner id and its secret, REST routes either.

**Errors.** FHIR routes answer an OperationOutcome, `/x12/278` a TA1 or 999 where X12 says so
(else the JSON problem), every other route a JSON problem `{"error": ..., "detail": ...}`;
never a traceback.
"""

TAGS = [
    {"name": "x12", "description": "X12 278 real time (CAQH CORE): one interchange in, one out."},
    {"name": "fhir", "description": "Da Vinci PAS: $submit, $inquire, subscriptions, metadata."},
    {"name": "cases", "description": "The canonical case: work list, reviewer decisions."},
    {"name": "eligibility", "description": "Whether a member's service needs authorization."},
    {"name": "jobs", "description": "Outbound jobs (fax, e-mail, notifications): operators."},
    {"name": "auth", "description": "SMART Backend Services token endpoint and discovery."},
    {"name": "audit", "description": "The audit trail as FHIR AuditEvents: operators."},
    {"name": "partners", "description": "The trading-partner registry: operators."},
    {"name": "health", "description": "Liveness."},
]


def create_app(
    settings: Settings | None = None,
    core: Core | None = None,
    auth_settings: AuthSettings | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    # The composition root builds the case service with its ports and job planners.
    core = core or build(settings).core
    app = FastAPI(
        title="Oncology prior-authorization gateway",
        version=__version__,
        description=API_DESCRIPTION,
        openapi_tags=TAGS,
        # Served from local assets (gateway/api/docs.py), not FastAPI's CDN pages.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.core = core
    app.state.sessions = core.sessions
    # X12 real-time and PAS $submit requests committed in groups, with their audit records
    # (issue 19 item 3; gateway/api/group.py).
    app.state.intake_writer = GroupWriter(core.store, core.sessions)
    errors.install(app)
    docs.install(app)
    # Partner authentication, isolation, limits, audit (issue 5): every route but /healthz,
    # /fhir/metadata and /auth/token needs credentials.
    auth.install(app, core, auth_settings)

    @app.get(
        "/healthz",
        tags=["health"],
        summary="Liveness and database check",
        description='Public. 200 with `{"status": "ok"}` when the database answers.',
    )
    def healthz() -> dict[str, str]:
        with core.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    mount(app, cases.router)
    mount(app, authorizations.router)
    mount(app, eligibility.router)
    mount(app, fhir.router)
    fhir.install(app)  # every /fhir refusal an OperationOutcome (404, 405, 406, 415, 403)
    mount(app, x12.router)
    mount(app, mailbox.router)
    mount(app, pap.router)
    mount(app, caqh.router)
    mount(app, jobs.router)
    # Peer to peer and reconsideration (issue 12): routes, their service and error answers.
    peer_to_peer_api.install(app)
    # Appeals to the payer and the payer's appeal decision (issue 12 item 4).
    appeals.install(app)
    app.state.peer_to_peer = peer_to_peer_service(core, settings)
    # Alternative recommendations and the work list of due items (issue 12 items 2 and 6).
    alternatives_api.install(app)
    app.state.work_list = work_list(core)
    app.state.jobs_for_case = jobs.jobs_for_case
    app.state.x12_refusal = x12_limits.guard_refusal(core)  # a 413 on /x12/ as a TA1
    app.state.pap = pap_compliance(core)
    dispatcher = Dispatcher(core.sessions, settings, clock_tick=clock_tick(core), clock=core.clock)
    app.state.run_outbox_once = dispatcher.run_once
    if settings.dispatch_in_process:
        app.router.lifespan_context = _dispatching(dispatcher)
    return app


def serve_app() -> FastAPI:
    """The app of one `gateway serve --workers N` process (uvicorn's factory, called in each
    worker): its own logging, settings from the environment, as the parent's."""
    from gateway.logs import configure

    settings = get_settings()
    configure(settings.log_level)
    return create_app(settings)


def _dispatching(dispatcher: Dispatcher) -> Callable[[FastAPI], Any]:
    """`gateway serve` delivers outbox jobs in a thread beside the server (the embedded default);
    `gateway worker` processes do it on their own for several workers and nodes."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = threading.Thread(
            target=dispatcher.run_forever, args=(stop,), name="outbox-dispatcher", daemon=True
        )
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)

    return lifespan
