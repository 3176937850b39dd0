"""`gateway cases list|show|decide|clinical`, `gateway jobs list`, `gateway --version`: the
operator's day on the command line (issue 17), run as an operator runs it, on a gateway of its
own (the `env` fixture of the submit tests)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from gateway import __version__
from gateway.audit.models import AuditRow
from gateway.cli import app
from tests import test_submit_cli
from tests.test_submit_cli import SAMPLES, submit

env = test_submit_cli.env  # the fixture: a gateway of its own under tmp_path

HELD = SAMPLES / "x12" / "278-act-without-z1732.x12"  # HER2 status missing: held
PENDED = SAMPLES / "cases" / "paclitaxel-single-agent.json"  # not a pathway regimen: pended


def gateway(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def case_ids(env: Path) -> dict[str, str]:
    code, out, _ = gateway("cases", "list", "--json")
    assert code == 0
    return {item["status"]: item["id"] for item in json.loads(out)}


def test_version_and_help_fit_80_columns(monkeypatch):
    code, out, _ = gateway("--version")
    assert (code, out.strip()) == (0, f"gateway {__version__}")
    monkeypatch.setenv("COLUMNS", "80")
    for command in ([], ["cases"], ["cases", "decide"], ["jobs"], ["worker"]):
        code, out, _ = gateway(*command, "--help")
        assert code == 0, command
        assert max(len(line) for line in out.splitlines()) <= 80, command
    code, out, _ = gateway("--help")
    for command in ("cases", "jobs", "serve", "worker", "submit", "conformance"):
        assert f"\n│ {command} " in out, command
    # A paragraph of a docstring is one paragraph: no line cut short where the source broke.
    assert "run the review clocks until stopped" in " ".join(out.split())


def test_a_reviewer_works_the_list_from_the_command_line(env: Path):
    submit(env, HELD, PENDED, "--out", env / "out", "--no-dispatch")
    ids = case_ids(env)
    assert set(ids) == {"held", "pended"}

    code, out, _ = gateway("cases", "list", "--status", "pended")
    assert code == 0 and ids["pended"] in out and ids["held"] not in out
    code, _, err = gateway("cases", "list", "--status", "bogus")
    assert code == 2 and "one of approved" in err

    code, out, _ = gateway("cases", "show", ids["held"])
    assert code == 0
    assert f"case {ids['held']}  held" in out
    assert "missing    her2_status" in out
    assert max(len(line) for line in out.splitlines()) <= 80
    code, out, _ = gateway("cases", "show", ids["held"], "--json")
    view = json.loads(out)
    assert view["id"] == ids["held"] and view["determination"]["review_action"] == "A4"
    code, _, err = gateway("cases", "show", "PA0000000000")
    assert (code, err.strip()) == (1, "no case PA0000000000")

    # A denial needs its rationale and guideline, as on the API.
    code, _, err = gateway("cases", "decide", ids["pended"], "deny", "--reviewer", "dr-lee")
    assert code == 2 and "rationale" in err
    code, out, _ = gateway(
        "cases",
        "decide",
        ids["pended"],
        "deny",
        "--reviewer",
        "dr-lee",
        "--rationale",
        "Single-agent paclitaxel is not a first-line regimen here.",
        "--guideline",
        "Sample breast pathway 2026",
        "--json",
    )
    assert code == 0, out
    decided = json.loads(out)
    assert decided["status"] == "denied"
    assert decided["determination"]["decided_by"] == "dr-lee"
    assert decided["determination"]["appeal"]["appeal_window_days"] > 0
    assert any(job["kind"] == "fax" for job in decided["jobs"])
    # Decided once: a second decision is refused, and says why.
    code, _, err = gateway("cases", "decide", ids["pended"], "approve", "--reviewer", "dr-lee")
    assert code == 1 and "only pended or held cases" in err

    # The missing fact arrives: the held case is reviewed again and approved.
    code, out, _ = gateway("cases", "clinical", ids["held"], "her2_status=negative", "--json")
    assert code == 0, out
    approved = json.loads(out)
    assert approved["status"] == "approved"
    assert approved["determination"]["auth_number"]
    code, _, err = gateway("cases", "clinical", ids["held"], "no-equals-sign")
    assert code == 2 and "KEY=VALUE" in err

    code, out, _ = gateway("jobs", "list", "--case", ids["held"])
    assert code == 0 and "fax" in out
    code, out, _ = gateway("jobs", "list", "--dead")
    assert (code, out.strip()) == (0, "no jobs")

    # Audited as the local operator, as the API audits its reads and updates.
    engine = create_engine(f"sqlite:///{env / 'gateway.db'}")
    with engine.connect() as connection:
        rows = connection.execute(
            select(AuditRow.event, AuditRow.partner_id, AuditRow.case_id).where(
                AuditRow.method == "CLI"
            )
        ).all()
    engine.dispose()
    assert ("case.update", "local-operator", ids["pended"]) in rows
    assert ("case.read", "local-operator", ids["held"]) in rows


def test_python_dash_m_runs_the_command(capsys, monkeypatch):
    """`python -m gateway` and `python -m gateway.cli` are the command, where no script is:
    `-m gateway.cli` in a process of its own; gateway/__main__.py as `-m` runs it (runpy), in
    this process (tests/startup_runs.py starts `gateway` that way in processes of their own)."""
    import runpy
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (done.returncode, done.stdout.strip()) == (0, f"gateway {__version__}")
    monkeypatch.setattr(sys, "argv", ["gateway", "--version"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_module("gateway", run_name="__main__", alter_sys=True)
    assert exited.value.code in (0, None)
    assert capsys.readouterr().out.strip() == f"gateway {__version__}"
