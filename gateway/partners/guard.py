"""The gate every HTTP request passes: body size, authentication, rate limit, operator paths,
and one structured log line per request.

An ASGI middleware rather than a route dependency so that it is deny-by-default: a router added
later (X12, PAS, jobs) is covered without a line of its own, and a request is refused before its
body is read. Routers then ask for the principal with `gateway.api.auth.authenticated`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import time
from typing import Any

from fastapi import HTTPException
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway import audit
from gateway.partners.credentials import hash_secret, remembered, verify_secret
from gateway.partners.limits import RateLimiter, body_limit, retry_after
from gateway.partners.models import PartnerRow
from gateway.partners.principal import AUTH_DISABLED_OPERATOR, LOCAL_OPERATOR, Principal, Role
from gateway.partners.registry import PARTNER_ID, principal_for
from gateway.partners.settings import AuthSettings
from gateway.partners.tokens import TokenError, verified_before, verify_bearer

log = logging.getLogger("gateway.http")

# No credentials needed (issue 5): liveness, the FHIR CapabilityStatement, the token endpoint
# and SMART discovery (clients read it before they hold a token); the API documentation and its
# schema (issue 17: a browser reads them before it has credentials; gateway/api/docs.py).
PUBLIC_PATHS = frozenset(
    {
        "/healthz",
        "/fhir/metadata",
        "/auth/token",
        "/.well-known/smart-configuration",
        "/fhir/.well-known/smart-configuration",  # discovery at the FHIR base (SMART App Launch 2)
        "/docs",
        "/docs/oauth2-redirect",
        "/redoc",
        "/openapi.json",
        "/core/wsdl",  # the CAQH CORE WSDL (issue 16)
    }
)
# The Swagger UI and ReDoc scripts and styles the documentation pages load.
PUBLIC_PREFIX = "/docs/assets/"
# CAQH CORE (issue 16): the partner id and secret may travel in the message itself (a SOAP
# WS-Security UsernameToken, MIME Username/Password parts). A request to these paths without an
# Authorization header goes on to its route, which must authenticate it with
# `admit_credentials` before anything else; `authenticated` refuses it until then.
ENVELOPE_CREDENTIAL_PATHS = frozenset({"/core/soap", "/core/mime"})
# Paths only some roles may use, whatever router serves them.
PATH_ROLES: tuple[tuple[str, frozenset[str]], ...] = (
    ("/audit", frozenset({Role.OPERATOR.value})),
    ("/partners", frozenset({Role.OPERATOR.value})),
    ("/jobs", frozenset({Role.OPERATOR.value})),
)
CHALLENGE = 'Bearer realm="pa-gateway", Basic realm="pa-gateway"'
# FHIR routes take OAuth bearer tokens only (SMART Backend Services, issue 18): an X12 partner's
# shared secret is for the X12 and REST routes, not for PAS.
FHIR_PREFIX = "/fhir/"
FHIR_CHALLENGE = 'Bearer realm="pa-gateway", scope="system/Claim.write system/Claim.read"'
# The principal's auth_method when it proved itself with a shared secret over HTTP Basic.
BASIC_METHOD = "basic"

_dummy_hash: str | None = None


def _equal_time_miss(secret: str) -> None:
    """Spend the same time on an unknown partner id as on a wrong secret."""
    global _dummy_hash
    if _dummy_hash is None:
        _dummy_hash = hash_secret("x" * 32)
    verify_secret(secret, _dummy_hash)


# What `authenticate(..., quick=True)` answers when the answer needs work that must not run on
# the event loop: scrypt (a secret not checked lately, an unknown partner's equal-time miss) or
# the first check of a token (an external issuer's keys may be fetched).
NEEDS_THREAD = None


def authenticate(
    sessions: sessionmaker[Session],
    auth: AuthSettings,
    authorization: str | None,
    local_token: str | None = None,
    *,
    quick: bool = False,
) -> tuple[Principal | None, str, str | None] | None:
    """(principal, why not, claimed partner id) from an Authorization header. With `quick`,
    NEEDS_THREAD instead of any slow step (the guard then asks again in the thread pool)."""
    if not authorization:
        return None, "no credentials", None
    scheme, _, value = authorization.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer" and local_token and hmac.compare_digest(value, local_token):
        return LOCAL_OPERATOR, "", None
    if scheme == "bearer":
        verified = verified_before(value, auth)
        if verified is None:
            if quick:
                return NEEDS_THREAD
            try:
                verified = verify_bearer(value, auth)
            except TokenError as exc:
                return None, str(exc), None
        # Read on every request, never cached: disabling a partner cuts off its tokens at once.
        row = _partner(sessions, verified.partner_id)
        if row is None or not row.enabled:
            return None, "token of an unknown or disabled partner", verified.partner_id
        return principal_for(row, scopes=verified.scopes, auth_method=verified.method), "", None
    if scheme == "basic":
        try:
            partner_id, colon, secret = (
                base64.b64decode(value, validate=True).decode().partition(":")
            )
        except (binascii.Error, UnicodeDecodeError):
            return None, "malformed basic credentials", None
        if not colon or not PARTNER_ID.fullmatch(partner_id):
            # No "id:secret" pair: what was sent may be the secret itself, so none of it is
            # recorded as the claimed partner (secrets never reach the audit trail).
            return None, "malformed basic credentials", None
        row = _partner(sessions, partner_id)
        if row is None or not row.enabled or not row.secret_hash:
            if quick:
                return NEEDS_THREAD
            _equal_time_miss(secret)
            # An unknown id is not recorded: it may be a secret typed into the wrong field.
            return None, "unknown or disabled partner", partner_id if row is not None else None
        if quick and not remembered(secret, row.secret_hash):
            return NEEDS_THREAD
        if not verify_secret(secret, row.secret_hash):
            return None, "wrong secret", partner_id
        return principal_for(row, auth_method=BASIC_METHOD), "", None
    return None, "unsupported authorization scheme", None


_PARTNERS = PartnerRow.__table__
# What authentication needs of a partner, read with a Core statement on a pooled connection: no
# session, identity map or ORM loading for a read made on every request (issue 19 item 3).
_PARTNER_FOR_AUTH = select(
    *(
        _PARTNERS.c[name]
        for name in (
            "id",
            "kind",
            "enabled",
            "sender_ids",
            "npis",
            "tins",
            "org_identifier",
            "roles",
            "scopes",
            "secret_hash",
            "rate_limit_per_second",
        )
    )
).where(_PARTNERS.c.id == bindparam("partner_id"))


def _partner(sessions: sessionmaker[Session], partner_id: str) -> PartnerRow | None:
    """The partner as the registry has it now (a detached row holding the columns above)."""
    with sessions.kw["bind"].connect() as connection:
        found = connection.execute(_PARTNER_FOR_AUTH, {"partner_id": partner_id}).mappings().first()
    return PartnerRow(**found) if found is not None else None


def _is_bearer(authorization: str) -> bool:
    return authorization.strip().partition(" ")[0].lower() == "bearer"


def body_refusal(scope: Scope, exc: HTTPException) -> JSONResponse:
    """The 408/413 answer to a body that came too slowly or too big (an OperationOutcome on
    /fhir paths, as every refusal of the guard)."""
    title = "request timeout" if exc.status_code == 408 else "payload too large"
    state: dict[str, Any] = scope.setdefault("state", {})
    return GatewayGuard._refuse(scope, state, exc.status_code, title, str(exc.detail))


def _required_roles(path: str) -> frozenset[str] | None:
    for prefix, roles in PATH_ROLES:
        if path == prefix or path.startswith(prefix + "/"):
            return roles
    return None


def route_template(scope: Scope) -> str:
    """The route's path template (/cases/{case_id}): never the raw path or query, which may carry
    a member id. A request refused before routing is matched against the routes here."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    app = scope.get("app")
    for candidate in getattr(getattr(app, "router", None), "routes", []):
        try:
            match, _ = candidate.matches(scope)
        except Exception:  # a route that cannot judge this scope is not the one
            continue
        if match is not Match.NONE and getattr(candidate, "path", None):
            return str(candidate.path)
    return "(unmatched)"


X12_REFUSAL_HEAD = 4096  # bytes of a refused X12 body read for the ISA its TA1 answers


def _x12_refusal(scope: Scope) -> Any:
    """The X12 channel's refusal writer (app.state.x12_refusal) for a request to /x12/."""
    if not str(scope.get("path", "")).startswith("/x12/"):
        return None
    return getattr(getattr(scope.get("app"), "state", None), "x12_refusal", None)


async def _head(receive: Receive, size: int) -> bytes:
    """The first `size` bytes of a request body (no more is read)."""
    head = b""
    while len(head) < size:
        message = await receive()
        if message["type"] != "http.request":
            break
        head += message.get("body", b"")
        if not message.get("more_body", False):
            break
    return head[:size]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int, head: bytes = b""):
        super().__init__(413, f"request body exceeds {limit} bytes for this channel")
        self.head = head  # the body's first bytes (an X12 refusal answers the ISA there)


class BodyReadTimeout(HTTPException):
    def __init__(self, seconds: float):
        super().__init__(408, f"request body not received within {seconds:g} seconds")


# OperationOutcome issue types (FHIR R4 issue-type) for the guard's refusals.
FHIR_ISSUE = {
    401: "login",
    403: "forbidden",
    404: "not-found",
    408: "timeout",
    413: "too-costly",
    429: "throttled",
}


class GatewayGuard:
    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: sessionmaker[Session],
        auth: AuthSettings,
        limiter: RateLimiter,
        local_token: str | None = None,
    ):
        self.app = app
        self.sessions = sessions
        self.auth = auth
        self.limiter = limiter
        # In-process callers (conformance runs) present this; it never leaves the process.
        self.local_token = local_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        state: dict[str, Any] = scope.setdefault("state", {})
        status = {"code": 500, "sent": False}

        async def send_tracking(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["sent"] = True
            await send(message)

        try:
            refusal: Response | None = await self._admit(scope, state)
            if refusal is not None:
                render = _x12_refusal(scope)
                if refusal.status_code == 413 and render is not None:
                    # X12 clients read a TA1, not JSON; it answers the ISA at the body's head.
                    head = await _head(receive, X12_REFUSAL_HEAD)
                    refusal = await render(413, state.get("refusal_detail", ""), head)
                await refusal(scope, receive, send_tracking)
                return
            try:
                await self.app(scope, self._limited(scope, state, receive), send_tracking)
            except (BodyTooLarge, BodyReadTimeout) as exc:
                # Raised while reading the body; normally the app's exception handling answers
                # it itself (gateway.api.errors), this is for an app that let it through.
                if status["sent"]:
                    raise
                response = body_refusal(scope, exc)
                await response(scope, receive, send_tracking)
            if state.get("body_too_large"):
                await self._audit(
                    scope,
                    state,
                    event="access.refused",
                    status_code=413,
                    reason="request body exceeds the channel limit",
                )
            if state.get("body_read_timeout"):
                await self._audit(
                    scope,
                    state,
                    event="access.refused",
                    status_code=408,
                    reason="request body not received in time",
                )
        finally:
            self._log(scope, state, status["code"], started)

    async def _admit(self, scope: Scope, state: dict[str, Any]) -> JSONResponse | None:
        """None to let the request through (with state["principal"] set), or the refusal."""
        headers = Headers(scope=scope)
        path: str = scope["path"]
        channel, limit = body_limit(self.auth, path)
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            return await self._refused(
                scope,
                state,
                413,
                "payload too large",
                f"request body exceeds {limit} bytes for the {channel} channel",
            )
        if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIX):
            return None
        if not self.auth.auth_enabled:
            state["principal"] = AUTH_DISABLED_OPERATOR
            return None
        authorization = headers.get("authorization")
        fhir = path.startswith(FHIR_PREFIX)
        if fhir and authorization and not _is_bearer(authorization):
            # Refused before the secret is checked: no scrypt work and no login failure counted
            # for a credential this channel never takes.
            return await self._refused(
                scope,
                state,
                401,
                "unauthorized",
                "FHIR routes take an OAuth bearer token (SMART Backend Services), not Basic",
                headers={"WWW-Authenticate": FHIR_CHALLENGE},
            )
        if not authorization and path in ENVELOPE_CREDENTIAL_PATHS:
            state["envelope_credentials"] = True
            return None
        # A credential checked lately (a cached secret, a token verified before) is settled
        # here, on the event loop: one primary-key read of the partner, no thread hop. The
        # rest (scrypt, a first token check) goes to the thread pool.
        answer = authenticate(
            self.sessions, self.auth, authorization, self.local_token, quick=True
        ) or await run_in_threadpool(
            authenticate, self.sessions, self.auth, authorization, self.local_token
        )
        assert answer is not None  # only `quick` needs a thread
        principal, reason, claimed = answer
        if principal is None:
            return await self._login_failed(scope, state, reason, claimed)
        state["principal"] = principal
        if principal.local:
            return None
        if fhir and not any(scope_.startswith("system/") for scope_ in principal.scopes):
            return await self._refused(
                scope, state, 403, "forbidden", "the token holds no system/* scope"
            )
        rate = principal.rate_limit_per_second or self.auth.rate_limit_per_second
        wait = self.limiter.take(
            f"partner:{principal.partner_id}", rate, self.auth.rate_limit_burst
        )
        if wait:
            return await self._refused(
                scope,
                state,
                429,
                "too many requests",
                "rate limit exceeded",
                headers={"Retry-After": retry_after(wait)},
            )
        roles = _required_roles(path)
        if roles is not None and not principal.has_role(*roles):
            return await self._refused(
                scope, state, 403, "forbidden", f"needs the {'/'.join(sorted(roles))} role"
            )
        return None

    async def _login_failed(
        self, scope: Scope, state: dict[str, Any], reason: str, claimed: str | None
    ) -> JSONResponse:
        await self._audit(
            scope,
            state,
            event="login",
            status_code=401,
            reason=reason,
            detail={"claimed_partner": claimed} if claimed else None,
        )
        client = (scope.get("client") or ("unknown",))[0]
        wait = self.limiter.take(
            f"login:{client}",
            self.auth.login_failures_per_minute / 60.0,
            self.auth.login_failures_burst,
        )
        if wait:
            return self._refuse(
                scope,
                state,
                429,
                "too many requests",
                "too many failed logins",
                {"Retry-After": retry_after(wait)},
            )
        return self._refuse(
            scope,
            state,
            401,
            "unauthorized",
            "authentication required",
            {"WWW-Authenticate": CHALLENGE},
        )

    async def _refused(
        self,
        scope: Scope,
        state: dict[str, Any],
        status_code: int,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        await self._audit(
            scope, state, event="access.refused", status_code=status_code, reason=detail
        )
        return self._refuse(scope, state, status_code, title, detail, headers)

    @staticmethod
    def _refuse(
        scope: Scope,
        state: dict[str, Any],
        status_code: int,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
    ) -> JSONResponse:
        state["refused"] = True
        state["refusal_detail"] = detail
        if str(scope.get("path", "")).startswith("/fhir/"):
            # FHIR clients read refusals as an OperationOutcome (issue type per status).
            outcome = {
                "resourceType": "OperationOutcome",
                "issue": [
                    {
                        "severity": "error",
                        "code": FHIR_ISSUE.get(status_code, "processing"),
                        "diagnostics": f"{title}: {detail}",
                    }
                ],
            }
            return JSONResponse(
                outcome, status_code, headers=headers, media_type="application/fhir+json"
            )
        return JSONResponse({"error": title, "detail": detail}, status_code, headers=headers)

    async def _audit(
        self,
        scope: Scope,
        state: dict[str, Any],
        *,
        event: str,
        status_code: int,
        reason: str,
        detail: dict[str, Any] | None = None,
    ) -> None:
        principal: Principal | None = state.get("principal")
        try:
            await run_in_threadpool(
                lambda: audit.record(
                    self.sessions,
                    event=event,
                    action=audit.EXECUTE,
                    outcome=audit.MINOR_FAILURE,
                    principal=principal,
                    source_address=(scope.get("client") or (None,))[0],
                    method=scope["method"],
                    path=route_template(scope),
                    status_code=status_code,
                    outcome_desc=reason,
                    detail=detail,
                )
            )
        except Exception:
            # A refusal stands even when its audit record cannot be written; say so loudly.
            log.exception("audit record of a refused request failed")

    def _limited(self, scope: Scope, state: dict[str, Any], receive: Receive) -> Receive:
        """Count the body as it streams in (a chunked request has no Content-Length), and give
        it body_read_seconds from the first read to arrive in full (a slow-body client)."""
        _, limit = body_limit(self.auth, scope["path"])
        seconds = self.auth.body_read_seconds
        seen = 0
        complete = False
        deadline: float | None = None
        head = b""

        async def receive_limited() -> Message:
            nonlocal seen, complete, deadline, head
            if complete:
                # After the body only a disconnect comes, which the app may wait for at length.
                return await receive()
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + seconds
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                state["body_read_timeout"] = True
                raise BodyReadTimeout(seconds) from None
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                seen += len(chunk)
                if len(head) < X12_REFUSAL_HEAD:
                    head = (head + chunk)[:X12_REFUSAL_HEAD]
                if seen > limit:
                    state["body_too_large"] = True
                    raise BodyTooLarge(limit, head)
                complete = not message.get("more_body", False)
            else:
                complete = True
            return message

        return receive_limited

    @staticmethod
    def _log(scope: Scope, state: dict[str, Any], status_code: int, started: float) -> None:
        if not log.isEnabledFor(logging.INFO):
            return  # the line would be dropped: its route match and fields are not worth making
        principal: Principal | None = state.get("principal")
        extra: dict[str, Any] = {
            "method": scope["method"],
            "path": route_template(scope),
            "status_code": status_code,
            "partner_id": principal.partner_id if principal else None,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
        }
        case_id = (scope.get("path_params") or {}).get("case_id")
        if case_id:
            extra["case_id"] = case_id
        log.info("request", extra=extra)


async def admit_credentials(
    scope: Scope,
    *,
    sessions: sessionmaker[Session],
    auth: AuthSettings,
    limiter: RateLimiter,
    credentials: tuple[str, str] | None,
) -> Response | None:
    """Authenticate a request to an ENVELOPE_CREDENTIAL_PATHS route by the partner id and secret
    its message carries, as `_admit` does an HTTP Basic header (the same failed-login audit and
    throttle, the partner's rate limit): None with state["principal"] set, or the refusal."""
    guard = GatewayGuard(_no_app, sessions=sessions, auth=auth, limiter=limiter)
    state: dict[str, Any] = scope.setdefault("state", {})
    if credentials is None:
        return await guard._login_failed(scope, state, "no credentials", None)
    token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode("ascii")
    answer = await run_in_threadpool(authenticate, sessions, auth, f"Basic {token}")
    assert answer is not None  # only `quick` needs a thread
    principal, reason, claimed = answer
    if principal is None:
        return await guard._login_failed(scope, state, reason, claimed)
    state["principal"] = principal
    rate = principal.rate_limit_per_second or auth.rate_limit_per_second
    wait = limiter.take(f"partner:{principal.partner_id}", rate, auth.rate_limit_burst)
    if wait:
        return await guard._refused(
            scope,
            state,
            429,
            "too many requests",
            "rate limit exceeded",
            headers={"Retry-After": retry_after(wait)},
        )
    return None


async def _no_app(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("admit_credentials' guard passes nothing on")
