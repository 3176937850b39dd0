"""What the API documents about each route: its security scheme, its request body and the error
statuses it can answer, with their bodies. Shared, so that every router says it the same way.

A router uses them in its decorators:

    @router.get("/cases/{case_id}", summary=..., responses=rest_errors(404),
                dependencies=REST_SECURITY)
    @router.post("/fhir/Claim/$submit", responses=fhir_errors(400, 409, 413, 422),
                 openapi_extra=fhir_body(...), dependencies=fhir_security("Claim", "write"))

The security dependencies only describe the schemes (they never refuse: `auto_error=False`);
the guard middleware (gateway/partners/guard.py) does the checking, before any router runs.
Every error list includes 401 (no or bad credentials), 403 (not this partner's role or scope)
and 429 (the partner's rate limit), which the guard can answer on any authenticated route.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Security
from fastapi.openapi.models import OAuthFlowClientCredentials, OAuthFlows
from fastapi.params import Depends
from fastapi.security import HTTPBasic, HTTPBearer, OAuth2

FHIR_JSON = "application/fhir+json"
EDI_X12 = "application/edi-x12"

# The three schemes the gateway takes (issue 5, issue 18): SMART Backend Services tokens from
# /auth/token (client credentials), the same tokens as a plain bearer for REST, and HTTP Basic
# with a partner id and its secret for X12 (CAQH CORE connectivity) and REST.
SMART_SCOPES = {
    "system/Claim.write": "submit and update PAS requests ($submit)",
    "system/Claim.read": "ask about the partner's own requests ($inquire)",
    "system/Subscription.write": "create rest-hook subscriptions",
    "system/Subscription.read": "read the partner's own subscriptions",
}


class _Described:
    """A security scheme that only describes: the guard has checked the credentials already, so
    the dependency reads nothing (FastAPI's own classes would refuse a Basic secret they cannot
    decode as ASCII, which the guard accepts)."""

    async def __call__(self, request: Request) -> None:
        return None


class _OAuth2(_Described, OAuth2):
    pass


class _HTTPBasic(_Described, HTTPBasic):
    pass


class _HTTPBearer(_Described, HTTPBearer):
    pass


smart = _OAuth2(
    flows=OAuthFlows(
        clientCredentials=OAuthFlowClientCredentials(tokenUrl="/auth/token", scopes=SMART_SCOPES)
    ),
    scheme_name="smartBackendServices",
    description="SMART Backend Services: a client_credentials grant at /auth/token with a "
    "private_key_jwt assertion (RS384/ES384) or the partner's shared secret.",
    auto_error=False,
)
basic = _HTTPBasic(
    scheme_name="partnerBasic",
    description="A partner id and its shared secret (X12 and REST routes; not FHIR).",
    auto_error=False,
)
bearer = _HTTPBearer(
    scheme_name="bearerToken",
    bearerFormat="JWT",
    description="An access token from /auth/token (or `gateway token PARTNER`).",
    auto_error=False,
)

X12_SECURITY: list[Depends] = [Security(basic)]
# A FHIR read that needs a token but no particular scope (questionnaires).
FHIR_SECURITY: list[Depends] = [Security(smart)]
REST_SECURITY: list[Depends] = [Security(basic), Security(bearer)]


def fhir_security(resource: str, access: str) -> list[Depends]:
    """The OAuth scheme with the one SMART system scope a FHIR route needs."""
    return [Security(smart, scopes=[f"system/{resource}.{access}"])]


# -- error bodies ------------------------------------------------------------------------------

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "required": ["error", "detail"],
    "properties": {
        "error": {"type": "string", "description": "what went wrong, in a few words"},
        "detail": {
            "description": "why: a sentence, or for 422 a list of {location, message}",
            "anyOf": [
                {"type": "string"},
                {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "location": {"type": "string"},
                            "message": {"type": "string"},
                        },
                    },
                },
            ],
        },
    },
}
OPERATION_OUTCOME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "OperationOutcome",
    "required": ["resourceType", "issue"],
    "properties": {
        "resourceType": {"type": "string", "enum": ["OperationOutcome"]},
        "issue": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["severity", "code"],
                "properties": {
                    "severity": {"type": "string", "enum": ["fatal", "error", "warning"]},
                    "code": {"type": "string", "description": "FHIR issue-type code"},
                    "diagnostics": {"type": "string"},
                    "expression": {"type": "array", "items": {"type": "string"}},
                },
            },
        },
    },
}
X12_SCHEMA: dict[str, Any] = {
    "type": "string",
    "description": "An X12 interchange: a TA1 (envelope refused) or a 999 (group refused).",
}

# What each status means on this gateway; a router may pass its own words instead.
REASONS: dict[int, str] = {
    400: "The body cannot be read (not JSON, not a Bundle, a required element missing).",
    401: "No credentials, or credentials the gateway does not accept (WWW-Authenticate says "
    "which schemes).",
    403: "Authenticated, but this partner's role or scope does not allow the route.",
    404: "No such resource, or one this partner may not see.",
    408: "The request body did not arrive in time (GATEWAY_BODY_READ_SECONDS).",
    409: "Conflicts with the stored state (a decided case, a replayed id with other content).",
    413: "The body is larger than the channel's limit (GATEWAY_MAX_BODY_X12 / _PAS).",
    415: "The body is not of a media type the route reads.",
    422: "The body or a parameter is well-formed but invalid.",
    429: "The partner's rate limit; Retry-After says when to try again.",
}
# The guard answers these on every route that needs credentials.
GUARDED = (401, 403, 429)


def _pick(codes: tuple[int, ...], guarded: bool) -> list[int]:
    return sorted(set(codes) | (set(GUARDED) if guarded else set()))


def rest_errors(*codes: int, guarded: bool = True) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a JSON route: each status with the JSON problem body."""
    return {
        code: {
            "description": REASONS[code],
            "content": {
                "application/json": {
                    "schema": PROBLEM_SCHEMA,
                    "example": {"error": "forbidden", "detail": REASONS[code]},
                }
            },
        }
        for code in _pick(codes, guarded)
    }


def fhir_errors(*codes: int, guarded: bool = True) -> dict[int | str, dict[str, Any]]:
    """`responses=` for a FHIR route: each status with an OperationOutcome body."""
    return {
        code: {
            "description": REASONS[code],
            "content": {
                FHIR_JSON: {
                    "schema": OPERATION_OUTCOME_SCHEMA,
                    "example": {
                        "resourceType": "OperationOutcome",
                        "issue": [
                            {
                                "severity": "error",
                                "code": "processing",
                                "diagnostics": REASONS[code],
                            }
                        ],
                    },
                }
            },
        }
        for code in _pick(codes, guarded)
    }


def x12_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the X12 route: refusals answered as an X12 acknowledgment."""
    answers = {
        403: "ISA06 is not one of the partner's sender ids: a TA1 (note 006).",
        413: "The interchange is larger than GATEWAY_MAX_BODY_X12: a TA1 (note 024).",
    }
    documented: dict[int | str, dict[str, Any]] = {}
    for code in _pick(codes, True):
        if code in answers:
            documented[code] = {
                "description": answers[code],
                "content": {EDI_X12: {"schema": X12_SCHEMA}},
            }
        else:
            documented[code] = rest_errors(code, guarded=False)[code]
    return documented


def oauth_errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` for the token endpoint: RFC 6749 section 5.2 error bodies."""
    schema = {
        "type": "object",
        "title": "OAuthError",
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    }
    return {
        code: {
            "description": REASONS[code] if code != 401 else "Client authentication failed.",
            "content": {"application/json": {"schema": schema}},
        }
        for code in codes
    }


# -- request bodies ----------------------------------------------------------------------------


def x12_body(description: str, example: str) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads one X12 interchange as its body."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {EDI_X12: {"schema": {"type": "string"}, "example": example}},
        }
    }


def fhir_body(description: str, examples: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """`openapi_extra=` for a route that reads a FHIR resource; `examples` by name, each
    {"summary": ..., "value": resource}."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {
                FHIR_JSON: {
                    "schema": {"type": "object", "required": ["resourceType"]},
                    "examples": examples,
                }
            },
        }
    }


def fhir_ok(description: str) -> dict[int | str, dict[str, Any]]:
    """`responses=` entry for a FHIR success answered as application/fhir+json."""
    return {
        200: {"description": description, "content": {FHIR_JSON: {"schema": {"type": "object"}}}}
    }


# -- examples ----------------------------------------------------------------------------------


def sample_text(relative: str) -> str:
    """A demo request from samples/ (a wheel's embedded copy) as an example body; empty where the
    file is absent, so that the schema never fails to build for want of an example."""
    from gateway.settings import DEMO_DIR

    try:
        return (DEMO_DIR / relative).read_text(encoding="utf-8")
    except OSError:
        return ""


def sample_json(relative: str) -> dict[str, Any]:
    import json

    text = sample_text(relative)
    return json.loads(text) if text else {}
