"""`gateway conformance run`, as a user runs it: every suite passes; a broken expectation fails
with a precise difference and a non-zero exit."""

from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gateway.cli import app
from gateway.settings import REPO_ROOT, get_settings


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.setenv("COLUMNS", "300")  # one table row a line, so differences read whole
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_every_suite_passes_and_writes_junit_and_report(runner: CliRunner, tmp_path: Path):
    junit, report = tmp_path / "conformance.xml", tmp_path / "conformance.md"
    result = runner.invoke(
        app, ["conformance", "run", "--junit", str(junit), "--report", str(report)]
    )
    assert result.exit_code == 0, result.output
    assert " 0 failed" in result.output
    suites = ET.parse(junit).getroot()
    names = {suite.get("name") for suite in suites}
    assert {"x12", "pas", "cross-channel", "lifecycle", "plans"} <= names
    assert all(suite.get("failures") == "0" and suite.get("errors") == "0" for suite in suites)
    assert sum(int(suite.get("tests")) for suite in suites) >= 30
    assert "x12/ddact-her2-negative" in report.read_text()


def test_a_broken_expectation_fails_with_the_first_difference(runner: CliRunner, tmp_path: Path):
    suite = tmp_path / "suites" / "x12"
    suite.mkdir(parents=True)
    case = yaml.safe_load((REPO_ROOT / "conformance/x12/tc.yaml").read_text())
    case["steps"][0]["x12"] = str(REPO_ROOT / "samples/x12/278-tc-jane-doe.x12")
    case["steps"][0]["expect"]["review_action"] = "A1"  # TC is pended, not approved
    (suite / "tc-wrongly-expected.yaml").write_text(yaml.safe_dump(case))
    shutil.copy(REPO_ROOT / "conformance/x12/ddact-her2-negative.yaml", suite / "ok.yaml")
    ok = yaml.safe_load((suite / "ok.yaml").read_text())
    ok["steps"][0]["x12"] = str(REPO_ROOT / "samples/x12/278-act-dd-jane-doe.x12")
    (suite / "ok.yaml").write_text(yaml.safe_dump(ok))
    junit = tmp_path / "junit.xml"
    result = runner.invoke(
        app, ["conformance", "run", "x12", "--dir", str(tmp_path / "suites"), "--junit", str(junit)]
    )
    assert result.exit_code == 1
    assert "review_action: expected 'A1', got 'A4'" in result.output.replace("\n", " ")
    failures = ET.parse(junit).getroot().findall(".//failure")
    assert len(failures) == 1
    assert "expected 'A1', got 'A4'" in failures[0].get("message")


def test_an_unknown_suite_is_named(runner: CliRunner):
    result = runner.invoke(app, ["conformance", "run", "nonsense"])
    assert result.exit_code == 2
    assert "no such suite: nonsense" in result.output


def test_a_full_conformance_run_logs_no_member_identifiers(caplog: pytest.LogCaptureFixture):
    """Issue 5: no log line of a full conformance run holds a sample member's name, birth date
    or member id (every member of the demo roster, in the forms X12 and FHIR carry them)."""
    import logging
    import re

    from gateway.conformance.runner import run
    from gateway.conformance.suite import discover
    from gateway.logs import JsonFormatter

    roster = yaml.safe_load((REPO_ROOT / "samples" / "roster.yaml").read_text())["members"]
    values = set()
    for member in roster:
        born = str(member["birth_date"])
        values |= {
            member["member_id"],
            member["last_name"],
            member["first_name"],
            born,
            born.replace("-", ""),
        }
    caplog.set_level(logging.DEBUG)
    results = run(discover())
    assert results and all(result.verdict != "error" for result in results)
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in caplog.records]
    lines += [record.getMessage() for record in caplog.records]
    assert len(lines) > 50  # the run did log: the scan below has something to read
    pattern = re.compile(r"\b(" + "|".join(re.escape(v) for v in sorted(values)) + r")\b")
    leaks = [line for line in lines if pattern.search(line)]
    assert leaks == []
