"""`gateway conformance run`, as a user runs it: every suite passes; a broken expectation fails
with a precise difference and a non-zero exit."""

from __future__ import annotations

import logging
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
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


@dataclass
class FullRun:
    """One `gateway conformance run` of every suite, as a user runs it, and what it left: the
    printed output, the JUnit and Markdown files, and every log record it emitted."""

    exit_code: int
    output: str
    junit: Path
    report: Path
    records: list[logging.LogRecord]


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FullRun]:
    """The whole conformance run once for this module (it replays every suite, the slowest
    thing the CLI does): the tests below read its output, its files and its logs."""
    folder = tmp_path_factory.mktemp("full-run")
    junit, report = folder / "conformance.xml", folder / "conformance.md"
    root = logging.getLogger()
    collect = _Collect()
    level = root.level
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GATEWAY_DATABASE_URL", f"sqlite:///{folder / 'unused.db'}")
        patch.setenv("COLUMNS", "300")
        get_settings.cache_clear()
        root.addHandler(collect)
        root.setLevel(logging.DEBUG)
        try:
            result = CliRunner().invoke(
                app, ["conformance", "run", "--junit", str(junit), "--report", str(report)]
            )
        finally:
            root.removeHandler(collect)
            root.setLevel(level)
            get_settings.cache_clear()
    yield FullRun(result.exit_code, result.output, junit, report, collect.records)


def test_every_suite_passes_and_writes_junit_and_report(full_run: FullRun):
    assert full_run.exit_code == 0, full_run.output
    assert " 0 failed" in full_run.output
    suites = ET.parse(full_run.junit).getroot()
    names = {suite.get("name") for suite in suites}
    assert {"x12", "pas", "cross-channel", "lifecycle", "plans"} <= names
    assert all(suite.get("failures") == "0" and suite.get("errors") == "0" for suite in suites)
    assert sum(int(suite.get("tests")) for suite in suites) >= 30
    assert "x12/ddact-her2-negative" in full_run.report.read_text()


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


def test_a_full_conformance_run_logs_no_member_identifiers(full_run: FullRun):
    """Issue 5: no log line of a full conformance run holds a sample member's name, birth date
    or member id (every member of the demo roster and of the inferno profile, in the forms X12
    and FHIR carry them)."""
    from gateway.logs import JsonFormatter

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
    assert full_run.exit_code == 0, full_run.output
    formatter = JsonFormatter()
    lines = [formatter.format(record) for record in full_run.records]
    lines += [record.getMessage() for record in full_run.records]
    assert len(lines) > 50  # the run did log: the scan below has something to read
    pattern = re.compile(r"\b(" + "|".join(re.escape(v) for v in sorted(values)) + r")\b")
    leaks = [line for line in lines if pattern.search(line)]
    assert leaks == []
