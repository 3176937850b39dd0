"""The API documentation (issue 17): /docs, /redoc and /openapi.json are public and need no
internet, every operation says what it does, what it takes and every error it can answer, and
a real browser (Debian's chromium, headless, on loopback) renders them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from gateway.settings import REPO_ROOT
from tests.servers import clean_environment, serving
from tests.test_readme_walkthrough import gateway_script

PUBLIC = {
    "/core/wsdl",
    "/healthz",
    "/fhir/metadata",
    "/auth/token",
    "/.well-known/smart-configuration",
    "/fhir/.well-known/smart-configuration",
}
# Routes that read a body of their own (not a pydantic model): the documentation must declare it.
RAW_BODIES = {
    ("/x12/278", "post"): "application/edi-x12",
    ("/fhir/Claim/$submit", "post"): "application/fhir+json",
    ("/fhir/Claim/$inquire", "post"): "application/fhir+json",
    ("/fhir/Subscription", "post"): "application/fhir+json",
    ("/auth/token", "post"): "application/x-www-form-urlencoded",
}


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    ]


@pytest.fixture
def anonymous(settings, core, auth_settings):
    from gateway.api.app import create_app

    with TestClient(create_app(settings, core=core, auth_settings=auth_settings)) as client:
        yield client


def test_docs_and_schema_are_public_and_load_nothing_from_outside(anonymous):
    for page in ("/docs", "/redoc"):
        answer = anonymous.get(page)
        assert answer.status_code == 200, page
        # Every script and style the page loads is the gateway's own (no CDN, no web fonts).
        sources = re.findall(r'(?:src|href)="([^"]+)"', answer.text)
        assert sources, page
        assert all(source.startswith("/") for source in sources), sources
        for source in sources:
            assert anonymous.get(source).status_code == 200, source
    assert anonymous.get("/openapi.json").status_code == 200
    assert anonymous.get("/docs/oauth2-redirect").status_code == 200
    # The data behind the documentation still needs credentials.
    assert anonymous.get("/cases").status_code == 401
    assert anonymous.get("/docs/assets/../cases").status_code in (401, 404)


def test_every_operation_is_described_with_its_security_body_and_errors(anonymous):
    spec = anonymous.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["smartBackendServices"]["flows"]["clientCredentials"]["tokenUrl"] == (
        "/auth/token"
    )
    assert schemes["partnerBasic"]["scheme"] == "basic"
    assert schemes["bearerToken"]["scheme"] == "bearer"
    found = operations(spec)
    assert len(found) >= 22
    for path, method, operation in found:
        where = f"{method.upper()} {path}"
        assert operation.get("summary"), where
        assert operation.get("description"), where
        responses = operation["responses"]
        if path not in PUBLIC:
            assert operation.get("security"), where
            assert {"401", "403", "429"} <= set(responses), where
        for status, response in responses.items():
            if status.startswith(("4", "5")):
                # Every error has a body with a schema: never FastAPI's default 422 shape.
                [content] = response["content"].values()
                assert content["schema"], (where, status)
                assert "HTTPValidationError" not in str(content["schema"]), (where, status)
        if method == "post" and path not in {"/jobs/{job_id}/retry"} and "able" not in path:
            assert "requestBody" in operation, where
    for (path, method), media_type in RAW_BODIES.items():
        body = spec["paths"][path][method]["requestBody"]
        assert media_type in body["content"], path
    # The channel's own error bodies: OperationOutcome for FHIR, a TA1 for X12's refusals.
    submit = spec["paths"]["/fhir/Claim/$submit"]["post"]
    assert {"400", "409", "413", "422"} <= set(submit["responses"])
    outcome = submit["responses"]["409"]["content"]["application/fhir+json"]["schema"]
    assert outcome["properties"]["resourceType"]["enum"] == ["OperationOutcome"]
    examples = submit["requestBody"]["content"]["application/fhir+json"]["examples"]
    assert examples["ddact"]["value"]["resourceType"] == "Bundle"
    x12 = spec["paths"]["/x12/278"]["post"]
    assert x12["requestBody"]["content"]["application/edi-x12"]["example"].startswith("ISA*")
    assert "TA1" in x12["responses"]["413"]["description"]
    assert "application/edi-x12" in x12["responses"]["413"]["content"]


# -- a real browser ----------------------------------------------------------------------------


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def rendered(browser: str, url: str, profile: Path) -> str:
    """The DOM of `url` after its scripts ran (headless, no network but loopback)."""
    run = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",  # root in CI
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=20000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    return run.stdout


@pytest.mark.skipif(
    chromium() is None,
    reason="no chromium on this machine (apt-get install chromium; .ci/run installs it)",
)
def test_a_headless_browser_renders_every_operation_with_bodies_and_errors(tmp_path: Path):
    browser = chromium()
    assert browser is not None
    env = clean_environment(
        PYTHONPATH=str(REPO_ROOT),
        GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path / 'gateway.db'}",
        GATEWAY_FAX_SPOOL=str(tmp_path / "fax"),
        GATEWAY_MAIL_DIR=str(tmp_path / "mail"),
        GATEWAY_TOKEN_SECRET="docs-test-token-signing-secret-0123456789abcdef",
        GATEWAY_DISPATCH_IN_PROCESS="false",
    )
    with serving(gateway_script(), env, tmp_path) as base:
        spec = httpx.get(f"{base}/openapi.json").json()
        found = operations(spec)

        # Swagger UI lists every operation by its summary.
        page = rendered(browser, f"{base}/docs", tmp_path / "profile")
        summaries = re.findall(r'opblock-summary-description">([^<]*)<', page)
        expected = [operation["summary"] for _, _, operation in found]
        assert sorted(summaries) == sorted(expected)
        assert "authorize" in page  # the Authorize button: security schemes are declared

        # One operation per channel opened (a deep link): its request body and every status.
        for path, method in (("/x12/278", "post"), ("/fhir/Claim/$submit", "post")):
            operation = spec["paths"][path][method]
            tag = operation["tags"][0]
            page = rendered(
                browser, f"{base}/docs#/{tag}/{operation['operationId']}", tmp_path / "profile"
            )
            assert "Request body" in page, path
            statuses = re.findall(r'response-col_status">(\d{3})<', page)
            assert set(statuses) == set(operation["responses"]), path

        # ReDoc shows every operation expanded: each declared request body with its media type.
        page = rendered(browser, f"{base}/redoc", tmp_path / "profile")
        bodies = re.findall(r"Request Body schema: <span[^>]*>([^<]+)<", page)
        # A body of one media type is labelled "Request Body schema: <type>"; one of several
        # (JSON or CSV usage data) gets ReDoc's media-type selector instead, checked by name.
        declared = [
            media
            for _, _, operation in found
            if len(operation.get("requestBody", {}).get("content", {})) == 1
            for media in operation["requestBody"]["content"]
        ]
        assert sorted(bodies) == sorted(declared), (sorted(bodies), sorted(declared))
        for _, _, operation in found:
            if len(operation.get("requestBody", {}).get("content", {})) > 1:
                assert all(media in page for media in operation["requestBody"]["content"])
        assert "application/edi-x12" in bodies
