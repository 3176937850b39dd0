"""`gateway conformance run`, as a user runs it: every suite passes; a broken expectation fails
with a precise difference and a non-zero exit."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gateway.cli import app
from gateway.conformance.suite import discover
from gateway.settings import REPO_ROOT, get_settings
from tests.conformance_runs import SUITES, suite_run


@pytest.fixture
def runner(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{tmp_path / 'unused.db'}")
    monkeypatch.setenv("COLUMNS", "300")  # one table row a line, so differences read whole
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def test_every_suite_is_run() -> None:
    """The suites the tests below run one by one are all there are (`gateway conformance run`
    with no suite named runs them all)."""
    cases = discover()
    assert set(SUITES) == {case.suite for case in cases}
    assert {"x12", "pas", "cross-channel", "lifecycle", "plans", "inferno"} <= set(SUITES)
    assert len(cases) >= 30


@pytest.mark.parametrize("suite", SUITES)
def test_every_suite_passes_and_writes_junit_and_report(
    suite: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run = suite_run(suite, tmp_path_factory)
    assert run.exit_code == 0, run.output
    assert " 0 failed" in run.output
    names = [case.name for case in discover([suite])]
    (written,) = ET.parse(run.junit).getroot()
    assert written.get("name") == suite
    assert written.get("failures") == "0" and written.get("errors") == "0"
    assert [case.get("name") for case in written] == names
    report = run.report.read_text(encoding="utf-8")
    assert all(f"{suite}/{name}" in report for name in names)


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


@pytest.mark.parametrize("suite", SUITES)
def test_a_conformance_run_logs_no_member_identifiers(
    suite: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Issue 5: no log line of a conformance run, suite by suite, holds a sample member's name,
    birth date or member id (every member of the demo roster and of the inferno profile, in
    the forms X12 and FHIR carry them)."""
    # The demo roster, and the Inferno kit's member on the inferno profile's rosters.
    rosters = [REPO_ROOT / "samples" / "roster.yaml"]
    rosters += sorted(
        (REPO_ROOT / "conformance" / "inferno" / "profile" / "rosters").glob("*.yaml")
    )
    roster = [m for path in rosters for m in yaml.safe_load(path.read_text())["members"]]
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
    run = suite_run(suite, tmp_path_factory)
    assert run.exit_code == 0, run.output
    # The run did log (every case at least once): the scan below has something to read.
    assert len(run.log_lines) >= len(discover([suite]))
    pattern = re.compile(r"\b(" + "|".join(re.escape(v) for v in sorted(values)) + r")\b")
    leaks = [line for line in run.log_lines if pattern.search(line)]
    assert leaks == []
