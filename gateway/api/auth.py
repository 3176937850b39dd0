"""Authentication and access control over HTTP: FastAPI dependencies for the routers, the SMART
token endpoint, the audit export and the partner admin routes.

Routers use:
  - `authenticated` -> Principal (the guard middleware has already refused anyone else),
  - `require_role("reviewer")` / `require_role("operator")`, `require_scope("Claim", "write")`,
  - `readable_or_404(request, principal, case_id)` before touching a case,
  - `audited(request, event, action, case_id=...)` around a create, read, update or export,
  - `x12_sender_allowed(principal, isa06)` (X12), `submitter_for(principal, claimed)`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Unpack

import jwt
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from gateway import audit
from gateway.api.responses import REST_SECURITY, oauth_errors, rest_errors
from gateway.api.routes import mount
from gateway.audit.fhir import audit_bundle
from gateway.domain.reviewer import InvalidDecision
from gateway.partners.credentials import generate_secret, verify_secret
from gateway.partners.guard import BASIC_METHOD, CHALLENGE, GatewayGuard, route_template
from gateway.partners.isolation import can_read, readable_case, readable_cases
from gateway.partners.limits import RateLimiter, retry_after
from gateway.partners.models import PartnerRow
from gateway.partners.principal import (
    AUTH_DISABLED_OPERATOR,
    LOCAL_OPERATOR,
    Principal,
    Role,
    acts_for,
    submitter_for,
    x12_sender_allowed,
)
from gateway.partners.registry import (
    PARTNER_ID,
    PartnerError,
    PartnerSpec,
    add_partner,
    callback_problem,
    list_partners,
    partner_view,
    principal_for,
    seed_partners,
    set_callback,
    set_enabled,
)
from gateway.partners.settings import AuthSettings
from gateway.partners.smart import CLIENT_ASSERTION_TYPE, verify_client_assertion
from gateway.partners.tokens import ScopeError, TokenError, grant_scopes, mint_access_token
from gateway.service.core import CaseNotFound, Core, InvalidTransition
from gateway.store.models import CaseRow

__all__ = [
    "LOCAL_OPERATOR",
    "OPERATOR",
    "REVIEWER",
    "Principal",
    "RequestAudit",
    "acts_for",
    "audit_request",
    "audited",
    "authenticated",
    "can_read",
    "install",
    "readable_or_404",
    "require_role",
    "require_scope",
    "submitter_for",
    "visible_cases",
    "x12_sender_allowed",
]

log = logging.getLogger("gateway.auth")

router = APIRouter(tags=["auth"])


class Forbidden(Exception):
    pass


def auth_settings(request: Request) -> AuthSettings:
    settings = getattr(request.app.state, "auth_settings", None)
    return settings if settings is not None else AuthSettings()


def authenticated(request: Request) -> Principal:
    """The principal of this request (set by the guard middleware)."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        if not auth_settings(request).auth_enabled:
            return AUTH_DISABLED_OPERATOR
        raise HTTPException(401, "authentication required", headers={"WWW-Authenticate": CHALLENGE})
    return principal


def require_role(*roles: str) -> Callable[[Request], Principal]:
    """A dependency: the principal, if it holds one of `roles`; else 403 (audited)."""
    wanted = "/".join(roles)

    def dependency(request: Request) -> Principal:
        principal = authenticated(request)
        if not principal.has_role(*roles):
            audit_request(
                request,
                event="access.refused",
                action=audit.EXECUTE,
                outcome=audit.MINOR_FAILURE,
                status_code=403,
                outcome_desc=f"needs the {wanted} role",
                case_id=request.path_params.get("case_id"),
            )
            raise Forbidden(f"this needs the {wanted} role")
        return principal

    return dependency


def require_scope(resource: str, access: str) -> Callable[[Request], Principal]:
    """A dependency for FHIR routes: the principal, if its token holds a SMART system scope for
    `resource` (Claim, Subscription, ...) and `access` (read or write); else 403 (audited)."""

    def dependency(request: Request) -> Principal:
        principal = authenticated(request)
        if principal.auth_method == BASIC_METHOD:
            # The guard refuses these first (401); this keeps the rule if a route moves.
            raise HTTPException(
                401,
                "FHIR routes take an OAuth bearer token",
                headers={"WWW-Authenticate": CHALLENGE},
            )
        if not principal.has_scope(resource, access):
            audit_request(
                request,
                event="access.refused",
                action=audit.EXECUTE,
                outcome=audit.MINOR_FAILURE,
                status_code=403,
                outcome_desc=f"needs scope system/{resource}.{access}",
            )
            raise Forbidden(f"this needs the scope system/{resource}.{access}")
        return principal

    return dependency


# Route parameters: `principal: Principal = REVIEWER` (module-level, so ruff's B008 is content).
REVIEWER = Depends(require_role(Role.REVIEWER))
OPERATOR = Depends(require_role(Role.OPERATOR))


# -- audit helpers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestAudit:
    """Who made a request and to which route, as its audit records name them: taken on the
    event loop, so that work done in another thread (a group of intake requests) records them
    without the request."""

    principal: Principal | None
    source_address: str | None
    method: str
    path: str

    @classmethod
    def of(cls, request: Request) -> RequestAudit:
        return cls(
            principal=getattr(request.state, "principal", None),
            source_address=request.client.host if request.client else None,
            method=request.method,
            path=route_template(request.scope),
        )

    def entries(self, **facts: Unpack[audit.AuditFacts]) -> list[dict[str, Any]]:
        return audit.entries(
            **facts,
            principal=self.principal,
            source_address=self.source_address,
            method=self.method,
            path=self.path,
        )

    @contextmanager
    def audited(self, rows: list[dict[str, Any]], event: str, action: str) -> Iterator[AuditEntry]:
        """As `audited`, with the records appended to `rows` (their caller inserts them)."""
        with _audited_block(self, AuditEntry(), event, action, rows.extend) as entry:
            yield entry


@contextmanager
def _audited_block(
    made: RequestAudit,
    entry: AuditEntry,
    event: str,
    action: str,
    keep: Callable[[list[dict[str, Any]]], None],
) -> Iterator[AuditEntry]:
    """The block's audit records given to `keep`: success when it returns, a minor failure
    when it refuses the request, a serious one when it fails; with what the block filled in
    `entry` (its cases, another event or action, detail)."""

    def note(outcome: str, outcome_desc: str | None = None) -> None:
        keep(
            made.entries(
                event=entry.event or event,
                action=entry.action or action,
                outcome=outcome,
                case_ids=entry.case_ids,
                outcome_desc=outcome_desc,
                detail=entry.detail,
            )
        )

    try:
        yield entry
    except _CLIENT_ERRORS as exc:
        note(audit.MINOR_FAILURE, type(exc).__name__)
        raise
    except Exception as exc:
        note(audit.SERIOUS_FAILURE, type(exc).__name__)
        raise
    note(audit.SUCCESS)


def audit_request(request: Request, **facts: Unpack[audit.AuditFacts]) -> None:
    """Append an audit record for this request: its partner, source address, method and route
    template come from the request."""
    made = RequestAudit.of(request).entries(**facts)
    audit.append(request.app.state.core, made)


@dataclass
class AuditEntry:
    """What an `audited` block fills in when it knows more than at its start: the case ids,
    a different event and action (a replay reads), detail (the ids a search returned)."""

    case_ids: list[str] = field(default_factory=list)
    event: str | None = None
    action: str | None = None
    detail: dict[str, Any] | None = None


# Exceptions that are the client's doing: audited as refused (4), not as failures (8).
_CLIENT_ERRORS = (CaseNotFound, InvalidTransition, InvalidDecision, Forbidden, HTTPException)


@contextmanager
def audited(
    request: Request, event: str, action: str, *, case_id: str | None = None
) -> Iterator[AuditEntry]:
    """Audit the block: success when it returns, refused or failed when it raises."""
    entry = AuditEntry(case_ids=[case_id] if case_id else [])
    core = request.app.state.core
    with _audited_block(
        RequestAudit.of(request), entry, event, action, lambda rows: audit.append(core, rows)
    ):
        yield entry


def readable_or_404(
    request: Request, principal: Principal, case_id: str, *, action: str = audit.READ
) -> CaseRow:
    """The case, if the principal may see it. Otherwise CaseNotFound (404, as for a case that
    does not exist: a 403 would tell another partner that the id is real), audited."""
    with request.app.state.core.sessions() as session:
        row = readable_case(session, principal, case_id)
        exists = row is not None or session.get(CaseRow, case_id) is not None
    if row is None:
        audit_request(
            request,
            event="access.refused",
            action=action,
            outcome=audit.MINOR_FAILURE,
            case_id=case_id,
            status_code=404,
            outcome_desc="another partner's case" if exists else "no such case",
        )
        raise CaseNotFound(case_id)
    return row


def visible_cases(
    request: Request, principal: Principal, status: str | None, limit: int
) -> list[CaseRow]:
    """Core.list_cases restricted to what the principal may see."""
    with request.app.state.core.sessions() as session:
        return readable_cases(session, principal, status, limit)


# -- SMART Backend Services token endpoint -----------------------------------------------------


def _oauth_error(status: int, error: str, description: str, **headers: str) -> JSONResponse:
    # RFC 6749 section 5.2
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", **headers},
    )


def _client_secret(request: Request, form: dict[str, str]) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
            client_id, _, secret = decoded.partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return client_id, secret
    if form.get("client_id") and form.get("client_secret"):
        return form["client_id"], form["client_secret"]
    return None


def _authenticate_client(request: Request, form: dict[str, str]) -> PartnerRow:
    auth = auth_settings(request)
    core: Core = request.app.state.core
    if form.get("client_assertion_type") or form.get("client_assertion"):
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            raise TokenError("client_assertion_type must be " + CLIENT_ASSERTION_TYPE)
        if not form.get("client_assertion"):
            raise TokenError("client_assertion is missing")
        partner = verify_client_assertion(core.sessions, auth, form["client_assertion"])
        if form.get("client_id") and form["client_id"] != partner.id:
            raise TokenError("client_id differs from the client assertion's iss")
        return partner
    credentials = _client_secret(request, form)
    if credentials is None:
        raise TokenError("no client authentication")
    client_id, secret = credentials
    with core.sessions() as session:
        partner = session.get(PartnerRow, client_id)
    if partner is None or not partner.enabled or not verify_secret(secret, partner.secret_hash):
        raise TokenError("unknown client or wrong secret")
    return partner


def _claimed_client(request: Request, form: dict[str, str]) -> str | None:
    """Who a failed token request said it was (for the audit trail; never trusted): a registered
    partner id only, so that a secret pasted into client_id is never recorded."""
    claimed = form.get("client_id")
    if not claimed and form.get("client_assertion"):
        try:
            unverified = jwt.decode(form["client_assertion"], options={"verify_signature": False})
            claimed = unverified.get("iss")
        except jwt.PyJWTError:
            claimed = None
    if not claimed or not PARTNER_ID.fullmatch(str(claimed)):
        return None
    with request.app.state.core.sessions() as session:
        return str(claimed) if session.get(PartnerRow, str(claimed)) is not None else None


@router.post(
    "/auth/token",
    response_model=None,
    summary="Get an access token (SMART Backend Services)",
    description="OAuth 2.0 `client_credentials` grant, form-encoded: a `private_key_jwt` client "
    "assertion (RS384/ES384, the partner's registered key) or the partner's shared secret "
    "(`client_secret_basic` / `client_secret_post`). The token lasts 5 minutes.",
    responses=oauth_errors(400, 401, 429),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["grant_type"],
                        "properties": {
                            "grant_type": {"type": "string", "enum": ["client_credentials"]},
                            "scope": {"type": "string", "example": "system/Claim.write"},
                            "client_assertion_type": {
                                "type": "string",
                                "example": CLIENT_ASSERTION_TYPE,
                            },
                            "client_assertion": {"type": "string"},
                            "client_id": {"type": "string"},
                            "client_secret": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def token(request: Request) -> JSONResponse:
    """OAuth 2.0 client-credentials grant: a SMART Backend Services client assertion
    (private_key_jwt, RS384/ES384), or a shared secret (client_secret_basic/post)."""
    auth = auth_settings(request)
    try:
        form = {key: str(value) for key, value in (await request.form()).items()}
    except Exception:
        return _oauth_error(400, "invalid_request", "send application/x-www-form-urlencoded")
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "only client_credentials is supported")
    try:
        partner = await run_in_threadpool(_authenticate_client, request, form)
    except TokenError as exc:
        reason = str(exc)
        claimed = await run_in_threadpool(_claimed_client, request, form)
        await run_in_threadpool(
            lambda: audit_request(
                request,
                event="login",
                action=audit.EXECUTE,
                outcome=audit.MINOR_FAILURE,
                status_code=401,
                outcome_desc=reason,
                detail={"claimed_partner": claimed} if claimed else None,
            )
        )
        limiter: RateLimiter = request.app.state.rate_limiter
        client = request.client.host if request.client else "unknown"
        wait = limiter.take(
            f"login:{client}", auth.login_failures_per_minute / 60.0, auth.login_failures_burst
        )
        if wait:
            return _oauth_error(
                429,
                "invalid_client",
                "too many failed attempts",
                **{"Retry-After": retry_after(wait)},
            )
        return _oauth_error(401, "invalid_client", "client authentication failed")
    try:
        scopes = grant_scopes(form.get("scope"), partner.scopes or [])
    except ScopeError as exc:
        return _oauth_error(400, "invalid_scope", str(exc))
    access_token, lifetime = mint_access_token(auth, partner.id, scopes)
    method = "private_key_jwt" if form.get("client_assertion") else "client_secret"
    await run_in_threadpool(
        lambda: audit.record(
            request.app.state.core,
            event="login",
            action=audit.EXECUTE,
            principal=principal_for(partner, auth_method=method[:16]),
            source_address=request.client.host if request.client else None,
            method="POST",
            path="/auth/token",
            status_code=200,
            outcome_desc="access token issued",
        )
    )
    log.info("access token issued", extra={"partner_id": partner.id})
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "bearer",
            "expires_in": lifetime,
            "scope": " ".join(sorted(scopes)),
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.get(
    "/.well-known/smart-configuration",
    summary="SMART discovery",
    description="Public. Where and how a backend service gets a token.",
)
def smart_configuration(request: Request) -> dict[str, Any]:
    """SMART discovery: where and how a backend service gets a token."""
    auth = auth_settings(request)
    return {
        "issuer": auth.issuer,
        "token_endpoint": auth.token_endpoint,
        "grant_types_supported": ["client_credentials"],
        "token_endpoint_auth_methods_supported": [
            "private_key_jwt",
            "client_secret_basic",
            "client_secret_post",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": [
            "system/*.read",
            "system/*.write",
            "system/Claim.read",
            "system/Claim.write",
            "system/Subscription.write",
        ],
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    }


# -- audit export ------------------------------------------------------------------------------

audit_router = APIRouter(tags=["audit"])


@audit_router.get(
    "/audit",
    response_model=None,
    summary="Export the audit trail",
    description="Operators only. The audit records of one case (`case`) or one partner "
    "(`partner`), newest first, as a FHIR Bundle of AuditEvents.",
    responses=rest_errors(422),
    dependencies=REST_SECURITY,
)
def audit_export(
    request: Request,
    case: str | None = Query(default=None, max_length=32),
    partner: str | None = Query(default=None, max_length=64),
    limit: int = Query(default=500, ge=1, le=5000),
    principal: Principal = OPERATOR,
) -> JSONResponse:
    """The audit trail (of one case, or one partner) as a FHIR Bundle of AuditEvents."""
    with request.app.state.core.sessions() as session:
        rows = audit.trail(session, case_id=case, partner_id=partner, limit=limit)
    audit_request(
        request,
        event="case.export" if case else "audit.export",
        action=audit.READ,
        case_id=case,
        status_code=200,
        detail={"partner": partner} if partner else None,
    )
    return JSONResponse(
        audit_bundle(rows, auth_settings(request).issuer), media_type="application/fhir+json"
    )


# -- partner registry administration -----------------------------------------------------------

partners_router = APIRouter(tags=["partners"], prefix="/partners")


class PartnerCreate(PartnerSpec):
    # Make a random shared secret and answer it once (it is stored only hashed).
    generate_secret: bool = False


def _partner_audit(request: Request, action: str, partner_id: str, what: str) -> None:
    audit_request(
        request,
        event=f"partner.{what}",
        action=action,
        status_code=200,
        detail={"partner": partner_id},
    )


@partners_router.get(
    "",
    summary="List trading partners",
    description="Operators only. Ids, roles, sender ids, scopes; never a secret.",
    responses=rest_errors(),
    dependencies=REST_SECURITY,
)
def partners(request: Request, _: Principal = OPERATOR) -> dict[str, Any]:
    with request.app.state.core.sessions() as session:
        return {"partners": [partner_view(row) for row in list_partners(session)]}


@partners_router.get(
    "/{partner_id}",
    response_model=None,
    summary="Read a trading partner",
    description="Operators only.",
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
)
def partner(partner_id: str, request: Request, _: Principal = OPERATOR) -> dict[str, Any]:
    with request.app.state.core.sessions() as session:
        row = session.get(PartnerRow, partner_id)
        if row is None:
            raise HTTPException(404, f"no partner {partner_id}")
        return partner_view(row)


@partners_router.post(
    "",
    status_code=201,
    response_model=None,
    summary="Register a trading partner",
    description="Operators only. With `generate_secret`, a random shared secret is answered "
    "once (it is stored only hashed). A partner id already registered is a 409.",
    responses=rest_errors(409, 422),
    dependencies=REST_SECURITY,
)
def create_partner(
    body: PartnerCreate, request: Request, _: Principal = OPERATOR
) -> dict[str, Any] | JSONResponse:
    secret = generate_secret() if body.generate_secret else None
    refused = _callback_refused(request, body.callback_url)
    if refused is not None:
        return refused
    spec = PartnerSpec.model_validate(
        {**body.model_dump(exclude={"generate_secret", "secret"}), "secret": secret}
    )
    try:
        with request.app.state.core.sessions.begin() as session:
            view = partner_view(add_partner(session, spec))
    except PartnerError as exc:
        return JSONResponse({"error": "invalid partner", "detail": str(exc)}, status_code=409)
    _partner_audit(request, audit.CREATE, spec.id, "create")
    return {**view, "secret": secret} if secret else view


def _set_enabled(request: Request, partner_id: str, enabled: bool) -> dict[str, Any]:
    try:
        with request.app.state.core.sessions.begin() as session:
            view = partner_view(set_enabled(session, partner_id, enabled))
    except PartnerError as exc:
        raise HTTPException(404, str(exc)) from exc
    _partner_audit(request, audit.UPDATE, partner_id, "enable" if enabled else "disable")
    return view


class CallbackBody(BaseModel):
    callback_url: str | None = None  # None clears it: follow-ups go to the mailbox only


def _callback_refused(request: Request, url: str | None) -> JSONResponse | None:
    """A 422 naming why a callback URL is refused (the egress rules, gateway/egress.py)."""
    problem = callback_problem(url, request.app.state.settings.subscription_allowed_hosts)
    if problem is None:
        return None
    return JSONResponse({"error": "invalid callback_url", "detail": problem}, status_code=422)


@partners_router.put(
    "/{partner_id}/callback",
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
    response_model=None,
)
def set_partner_callback(
    partner_id: str, body: CallbackBody, request: Request, _: Principal = OPERATOR
) -> dict[str, Any] | JSONResponse:
    """Where the partner's X12 follow-ups are POSTed (or none, with callback_url null)."""
    refused = _callback_refused(request, body.callback_url)
    if refused is not None:
        return refused
    try:
        with request.app.state.core.sessions.begin() as session:
            view = partner_view(set_callback(session, partner_id, body.callback_url))
    except PartnerError as exc:
        raise HTTPException(404, str(exc)) from exc
    except ValueError as exc:
        return JSONResponse({"error": "invalid callback_url", "detail": str(exc)}, 422)
    _partner_audit(request, audit.UPDATE, partner_id, "callback")
    return view


@partners_router.post(
    "/{partner_id}/disable",
    summary="Disable a trading partner",
    description="Operators only. Its credentials and tokens stop working at once.",
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
)
def disable_partner(partner_id: str, request: Request, _: Principal = OPERATOR) -> dict[str, Any]:
    return _set_enabled(request, partner_id, False)


@partners_router.post(
    "/{partner_id}/enable",
    summary="Enable a trading partner again",
    description="Operators only.",
    responses=rest_errors(404, 422),
    dependencies=REST_SECURITY,
)
def enable_partner(partner_id: str, request: Request, _: Principal = OPERATOR) -> dict[str, Any]:
    return _set_enabled(request, partner_id, True)


# -- wiring ------------------------------------------------------------------------------------


def install(app: FastAPI, core: Core, auth: AuthSettings | None = None) -> AuthSettings:
    """Wire access control into the app: settings, demo partners, the guard middleware, the
    token/audit/partner routes and the 403 answer."""
    auth = auth or AuthSettings()
    app.state.auth_settings = auth
    app.state.rate_limiter = RateLimiter()
    seed_partners(core.sessions, auth.seed_file)
    # In-process use (conformance runs through this app) acts as LOCAL_OPERATOR with a random
    # bearer token that exists only in this process's memory.
    local_token = secrets.token_urlsafe(32)
    app.state.local_operator_token = lambda: local_token
    app.add_middleware(
        GatewayGuard,
        sessions=core.sessions,
        auth=auth,
        limiter=app.state.rate_limiter,
        local_token=local_token,
    )
    mount(app, router)
    mount(app, audit_router)
    mount(app, partners_router)

    @app.exception_handler(Forbidden)
    async def _forbidden(_: Request, exc: Forbidden) -> JSONResponse:
        return JSONResponse({"error": "forbidden", "detail": str(exc)}, status_code=403)

    # uvicorn's access log writes the raw path and query string, which can carry a member id
    # (/eligibility/{member_id}); the guard logs the route template instead.
    logging.getLogger("uvicorn.access").disabled = True
    return auth
