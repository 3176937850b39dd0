"""The FastAPI app, wired from settings in one place (STYLE.md: the app wires the adapters)."""

from __future__ import annotations

from fastapi import FastAPI

from gateway.api import cases, eligibility, errors
from gateway.core import Core
from gateway.settings import Settings, get_settings


def create_app(settings: Settings | None = None, core: Core | None = None) -> FastAPI:
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

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        with core.engine.connect() as connection:
            connection.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    app.include_router(cases.router)
    app.include_router(eligibility.router)
    return app
