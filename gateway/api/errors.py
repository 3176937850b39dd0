"""Errors answered as clear 4xx JSON, never a traceback."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gateway.domain.reviewer import InvalidDecision
from gateway.service.core import CaseNotFound, InvalidTransition

log = logging.getLogger("gateway.api")


def problem(status: int, title: str, detail: object) -> JSONResponse:
    return JSONResponse({"error": title, "detail": detail}, status_code=status)


def install(app: FastAPI) -> None:
    @app.exception_handler(CaseNotFound)
    async def _not_found(_: Request, exc: CaseNotFound) -> JSONResponse:
        return problem(404, "case not found", f"no case {exc.args[0]}")

    @app.exception_handler(InvalidTransition)
    async def _conflict(_: Request, exc: InvalidTransition) -> JSONResponse:
        return problem(409, "invalid transition", str(exc))

    @app.exception_handler(InvalidDecision)
    async def _invalid_decision(_: Request, exc: InvalidDecision) -> JSONResponse:
        return problem(422, "invalid decision", str(exc))

    from gateway.partners.guard import BodyReadTimeout, BodyTooLarge, body_refusal

    async def _body_refused(request: Request, exc: Exception) -> JSONResponse:
        # A body that came too big (chunked) or too slowly: refused as the guard refuses, so a
        # FHIR client reads an OperationOutcome (issue 18).
        assert isinstance(exc, (BodyTooLarge, BodyReadTimeout))
        return body_refusal(request.scope, exc)

    app.add_exception_handler(BodyTooLarge, _body_refused)
    app.add_exception_handler(BodyReadTimeout, _body_refused)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            {"location": ".".join(str(p) for p in err.get("loc", ())), "message": err.get("msg")}
            for err in exc.errors()
        ]
        return problem(422, "invalid request", issues)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged with the route template only: paths and bodies may carry member ids (PHI).
        from gateway.partners.guard import route_template

        log.exception("unhandled error on %s", route_template(request.scope))
        return problem(500, "internal error", "the gateway could not process the request")
