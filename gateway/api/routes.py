"""Mounting a router's routes on an app."""

from __future__ import annotations

from fastapi import APIRouter, FastAPI


def mount(app: FastAPI, router: APIRouter) -> None:
    """Put `router`'s routes on `app` as they are.

    The routers are module-level, so each route's handler and dependency tree is built once a
    process, when its module is imported (APIRouter.add_api_route bakes the router's prefix and
    dependencies into every route). `app.include_router` would instead build every route of the
    router again for each app, on the app's first request (FastAPI 0.163 resolves an included
    router lazily, about 0.1 s of CPU for this gateway's routes), and walk the included routers'
    versions on every request after. No route here uses the app's dependency overrides, the one
    thing an included route takes from the app."""
    app.router.routes.extend(router.routes)
