"""The FastAPI app, wired from settings in one place (STYLE.md: the app wires the adapters)."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from gateway.api import auth, cases, eligibility, errors, fhir, jobs, x12, x12_limits
from gateway.core import Core
from gateway.partners.settings import AuthSettings
from gateway.settings import Settings, get_settings
from gateway.worker import Dispatcher


def wire_outbound(core: Core, settings: Settings) -> None:
    """The job planners that turn a stored determination into outbound jobs, once per core."""
    if core.job_planners:
        return
    from gateway.notify.jobs import outbound_jobs
    from gateway.x12.grammar import x12_map_dir
    from gateway.x12.writer import write_response

    def letters_notices_and_feed(_session, case, determination, previous):  # type: ignore[no-untyped-def]
        jobs = outbound_jobs(case, determination, previous_status=previous, settings=settings)
        for job in jobs:
            if job.kind == "payer_feed":
                # The payer's claims system takes the 278 response beside the JSON line (issue 4).
                job.payload["x12_278"] = "\n".join(
                    write_response(
                        case,
                        determination,
                        number=1,
                        now=determination.decided_at,
                        trace_id=case.id or "",
                        x12_id=settings.x12_id,
                        map_dir=x12_map_dir(settings.mappings_dir),
                    )
                )
        return jobs

    core.job_planners.append(letters_notices_and_feed)
    core.job_planners.append(fhir.SubscriptionNotifier(settings.fhir_base_url))


def create_app(
    settings: Settings | None = None,
    core: Core | None = None,
    auth_settings: AuthSettings | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    core = core or Core(settings)
    app = FastAPI(
        title="Oncology prior-authorization gateway",
        version="0.1.0",
        description="X12 278 and Da Vinci PAS in, determinations out.",
    )
    app.state.settings = settings
    app.state.core = core
    app.state.sessions = core.sessions
    errors.install(app)
    # Partner authentication, isolation, limits, audit (issue 5): every route but /healthz,
    # /fhir/metadata and /auth/token needs credentials.
    auth.install(app, core, auth_settings)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with core.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    app.include_router(cases.router)
    app.include_router(eligibility.router)
    app.include_router(fhir.router)
    app.include_router(x12.router)
    app.include_router(jobs.router)
    app.state.jobs_for_case = jobs.jobs_for_case
    app.state.x12_refusal = x12_limits.guard_refusal(core)  # a 413 on /x12/ as a TA1
    wire_outbound(core, settings)
    dispatcher = Dispatcher(core.sessions, settings, clock_tick=core.expire_holds, clock=core.clock)
    app.state.run_outbox_once = dispatcher.run_once
    if settings.dispatch_in_process:
        app.router.lifespan_context = _dispatching(dispatcher)
    return app


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
