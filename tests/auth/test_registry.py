"""The registry and its commands (`gateway partner ...`, `gateway token`), run as a user runs
them (the first `partner` command as the console script in a process of its own, the rest
through the same app in this process; `gateway token` runs as a process of its own in
tests/test_readme_walkthrough.py), and the checks the X12 and FHIR routers call."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from gateway.api.app import create_app
from gateway.domain.case import Case
from gateway.partners.isolation import can_read
from gateway.partners.principal import (
    LOCAL_OPERATOR,
    Principal,
    acts_for,
    scope_allows,
    submitter_for,
    x12_sender_allowed,
)
from gateway.partners.settings import AuthSettings
from gateway.partners.tokens import ScopeError, grant_scopes, signing_key
from gateway.wiring import build
from tests.auth.conftest import es384_key
from tests.cli import Ran, run_in_process
from tests.conftest import NOW, jane_doe_request, make_settings

GATEWAY = Path(sys.executable).parent / "gateway"

CLEARINGHOUSE = Principal(
    "ch",
    "clearinghouse",
    frozenset({"submitter"}),
    sender_ids=frozenset({"SAMPLECH", "9012345720000"}),
)
EHR = Principal(
    "ehr",
    "ehr",
    frozenset({"submitter"}),
    npis=frozenset({"1234567893"}),
    tins=frozenset({"123456789"}),
    org_identifier="urn:npi|1234567893",
)


def test_x12_sender_ids():
    assert x12_sender_allowed(CLEARINGHOUSE, "SAMPLECH       ")  # ISA06 is space-padded
    assert x12_sender_allowed(CLEARINGHOUSE, "9012345720000  ", "SAMPLECH")
    assert not x12_sender_allowed(CLEARINGHOUSE, "SOMEONEELSE    ")
    assert not x12_sender_allowed(CLEARINGHOUSE, "SAMPLECH", "SOMEONEELSE")
    assert not x12_sender_allowed(EHR, "SAMPLECH")
    assert x12_sender_allowed(LOCAL_OPERATOR, "ANYTHING")


def test_can_read_by_submitter_or_organization():
    case = Case.model_validate(
        {
            **jane_doe_request(),
            "submission": {"channel": "api", "submitter_id": "ch", "received_at": NOW.isoformat()},
        }
    )
    assert can_read(CLEARINGHOUSE, case)  # it sent it
    assert can_read(EHR, case)  # it acts for the ordering NPI
    stranger = Principal("other", "ehr", npis=frozenset({"1609876543"}))
    assert not can_read(stranger, case)
    by_isa06 = case.model_copy(deep=True)
    by_isa06.submission.submitter_id = "SAMPLECH"  # recorded under the interchange sender id
    assert can_read(CLEARINGHOUSE, by_isa06) and not can_read(stranger, by_isa06)
    assert can_read(Principal("rev", "reviewer", frozenset({"reviewer"})), case)
    assert acts_for(EHR, tin="123456789") and acts_for(EHR, org_identifier="urn:npi|1234567893")
    assert not acts_for(EHR, npi="1609876543")
    assert submitter_for(EHR, "someone-else") == "ehr"
    assert submitter_for(LOCAL_OPERATOR, "ch") == "ch"


def test_scopes():
    assert scope_allows({"system/*.read"}, "Claim", "read")
    assert not scope_allows({"system/*.read"}, "Claim", "write")
    assert scope_allows({"system/Claim.cud"}, "Claim", "write")
    assert scope_allows({"system/Claim.rs"}, "Claim", "read")
    assert not scope_allows({"system/Claim.rs?status=active"}, "Claim", "read")
    assert not scope_allows({"patient/*.read", "user/Claim.write"}, "Claim", "write")
    allowed = ["system/Claim.read", "system/Claim.write"]
    assert grant_scopes("system/Claim.read", allowed) == {"system/Claim.read"}
    assert grant_scopes("system/*.*", allowed) == set(allowed)
    assert grant_scopes(None, allowed) == set(allowed)
    with pytest.raises(ScopeError):
        grant_scopes("system/Patient.read", allowed)


def test_signing_key_is_made_once_and_kept_private(tmp_path):
    auth = AuthSettings(token_key_file=tmp_path / "var" / "token.key")
    key = signing_key(auth)
    assert len(key) == 32
    mode = stat.S_IMODE(os.stat(tmp_path / "var" / "token.key").st_mode)
    assert mode == 0o600
    assert signing_key(auth) == key
    with pytest.raises(RuntimeError):
        signing_key(AuthSettings(token_secret="too-short"))


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The console script in a process of its own."""
    return subprocess.run(
        [str(GATEWAY), *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def here(env: dict[str, str], *args: str, stdin: str | None = None) -> Ran:
    """The same command in this process (tests/cli.py): the rest of the conversation."""
    return run_in_process(env, *args, stdin=stdin)


def test_partner_commands_and_token(tmp_path):
    settings = make_settings(tmp_path)
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_TOKEN_KEY_FILE": str(tmp_path / "token.key"),
        "GATEWAY_LOG_LEVEL": "WARNING",
    }
    env.pop("GATEWAY_TOKEN_SECRET", None)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(es384_key().jwks))

    added = run(
        env,
        "partner",
        "add",
        "cli-ehr",
        "--kind",
        "ehr",
        "--npi",
        "1609876543",
        "--sender-id",
        "CLIEHR",
        "--jwks",
        str(jwks),
        "--generate-secret",
    )
    assert added.returncode == 0, added.stderr
    assert "shared secret (shown once): " in added.stdout
    assert here(env, "partner", "add", "cli-ehr", "--kind", "ehr").returncode == 1
    bad = here(env, "partner", "add", "bad", "--kind", "ehr", "--npi", "12")
    assert bad.returncode == 2 and "NPI" in bad.stderr

    listed = json.loads(here(env, "partner", "list", "--json").stdout)
    ids = {p["id"]: p for p in listed}
    assert "ops-console" in ids  # the demo partners were seeded into the empty registry
    assert ids["cli-ehr"]["sender_ids"] == ["CLIEHR"] and ids["cli-ehr"]["jwks_key_ids"]
    assert "scrypt" not in json.dumps(listed)
    assert "cli-ehr" in here(env, "partner", "list").stdout

    # In this process: `gateway token` runs as a process of its own in the README walk-through.
    minted = here(env, "token", "cli-ehr")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    auth = AuthSettings(token_key_file=tmp_path / "token.key", token_secret=None)
    core = build(settings).core
    with TestClient(create_app(settings, core=core, auth_settings=auth)) as client:
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/cases", headers=headers).status_code == 200
        assert here(env, "partner", "disable", "cli-ehr").returncode == 0
        assert client.get("/cases", headers=headers).status_code == 401
    assert here(env, "token", "cli-ehr").returncode == 1
    assert here(env, "partner", "disable", "nobody").returncode == 1
