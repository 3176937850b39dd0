"""`gateway partner callback` and `--callback-url`: where a partner's X12 follow-ups are POSTed,
set from the real command line and checked by the egress rules."""

from __future__ import annotations

import json
import os

from tests.cli import Ran, run_in_process
from tests.conftest import make_settings


def run(env: dict[str, str], *args: str) -> Ran:
    # In this process (tests/cli.py): the partner commands' own process is tested in
    # tests/auth/test_registry.py.
    return run_in_process(env, *args)


def callbacks(env: dict[str, str]) -> dict[str, str | None]:
    listed = json.loads(run(env, "partner", "list", "--json").stdout)
    return {partner["id"]: partner["callback_url"] for partner in listed}


def test_callback_url_set_refused_and_cleared_from_the_cli(tmp_path):
    settings = make_settings(tmp_path)
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": settings.database_url,
        "GATEWAY_TOKEN_KEY_FILE": str(tmp_path / "token.key"),
        "GATEWAY_LOG_LEVEL": "WARNING",
        "GATEWAY_SUBSCRIPTION_ALLOWED_HOSTS": "",
    }
    added = run(
        env,
        "partner",
        "add",
        "cli-ch",
        "--kind",
        "clearinghouse",
        "--sender-id",
        "CLICH",
        "--callback-url",
        "https://203.0.113.9/x12",  # TEST-NET-3: documentation, not public
    )
    assert added.returncode == 2 and "public address" in added.stderr
    added = run(env, "partner", "add", "cli-ch", "--kind", "clearinghouse", "--sender-id", "CLICH")
    assert added.returncode == 0, added.stderr
    assert callbacks(env)["cli-ch"] is None

    refused = run(env, "partner", "callback", "cli-ch", "http://127.0.0.1:9/in")
    assert refused.returncode == 2 and "https" in refused.stderr
    allowed = {**env, "GATEWAY_SUBSCRIPTION_ALLOWED_HOSTS": "127.0.0.1"}
    done = run(allowed, "partner", "callback", "cli-ch", "http://127.0.0.1:9/in")
    assert done.returncode == 0, done.stderr
    assert callbacks(env)["cli-ch"] == "http://127.0.0.1:9/in"
    assert run(env, "partner", "callback", "cli-ch").returncode == 2  # a URL or --clear
    assert run(env, "partner", "callback", "nobody", "--clear").returncode == 1
    assert run(env, "partner", "callback", "cli-ch", "--clear").returncode == 0
    assert callbacks(env)["cli-ch"] is None
