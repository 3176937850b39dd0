"""`gateway conformance run inferno`, as a user runs it: the Inferno PAS kit's presets come back
the way the kit expects (issue 14 items 19 and 20), read from the run's own report."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gateway.conformance.suite import discover
from gateway.settings import get_settings
from tests.cli import Ran, run_in_process
from tests.conformance_runs import SuiteRun, suite_run

PRESETS = get_settings().reference_dir / "pas" / "inferno"
needs_presets = pytest.mark.skipif(
    not (PRESETS / "inferno221_approval_pa_submit_request_payload_0.json").is_file(),
    reason="the Inferno presets (GATEWAY_REFERENCE_DIR/pas/inferno) are not on this machine",
)


def _conformance(tmp_path: Path, *args: str) -> Ran:
    env = {
        **os.environ,
        "GATEWAY_DATABASE_URL": f"sqlite:///{tmp_path / 'unused.db'}",
        "GATEWAY_LOG_LEVEL": "WARNING",
        "COLUMNS": "300",
    }
    return run_in_process(env, "conformance", "run", *args)


def _steps(report: str) -> dict[str, list[str]]:
    """case id -> its step lines ("name: ok; review actions A1, A1") from the Markdown report."""
    cases: dict[str, list[str]] = {}
    current = None
    for line in report.splitlines():
        if line.startswith("## "):
            current = line[3:].strip()
            cases[current] = []
        elif current and line.startswith("- "):
            cases[current].append(line[2:])
    return cases


@pytest.fixture
def inferno_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[SuiteRun, dict[str, list[str]]]:
    """The session's one run of the inferno suite (tests/conformance_runs.py), shared with
    tests/test_conformance_run.py, and its report read into each case's step lines."""
    if not PRESETS.is_dir():
        pytest.skip("the Inferno presets are not on this machine")
    run = suite_run("inferno", tmp_path_factory)
    return run, _steps(run.report.read_text(encoding="utf-8"))


@needs_presets
def test_the_inferno_suite_passes_through_the_cli(inferno_run) -> None:
    run, steps = inferno_run
    assert run.exit_code == 0, run.output
    assert "0 failed, 0 skipped" in run.output
    suite = ET.parse(run.junit).getroot().find("testsuite")
    assert suite is not None and suite.get("name") == "inferno"
    assert suite.get("failures") == "0" and suite.get("errors") == "0"
    assert int(suite.get("tests") or 0) == len(steps) >= 16


@needs_presets
def test_the_approval_preset_is_certified_in_total(inferno_run) -> None:
    _, steps = inferno_run
    assert steps["inferno/approval"] == ["submit: ok; review actions A1, A1"]
    for preset in ("must-support-submit-0", "must-support-submit-1"):
        assert steps[f"inferno/{preset}"] == ["submit: ok; review actions A1, A1"]


@needs_presets
def test_the_denial_preset_is_denied_by_the_reviewer(inferno_run) -> None:
    """The machine never denies: pended on $submit, the reviewer's denial (REST), A3 on
    $inquire."""
    _, steps = inferno_run
    assert steps["inferno/denial"] == [
        "submit: ok; review actions A4, A4",
        "reviewer denial: ok",
        "inquire: ok; inquiry answers A3, A3",
    ]


@needs_presets
def test_the_pended_preset_is_pended_and_its_subscriber_notified(inferno_run) -> None:
    _, steps = inferno_run
    assert steps["inferno/pended"] == [
        "subscribe: ok",
        "submit: ok; review actions A4, A4",
        "handshake delivered: ok",
        "reviewer approval: ok",
        # the event notification, full-resource: the response Bundle with every item decided
        "notification delivered: ok; notification carries A1, A1",
        "inquire: ok; inquiry answers A1, A1",
    ]


@needs_presets
def test_every_claim_update_answers_every_item(inferno_run) -> None:
    _, steps = inferno_run
    assert steps["inferno/claim-update-cancel-all"] == [
        "initial: ok; review actions A1",
        "add item: ok; review actions A1, A1",
        "modify and cancel: ok; review actions A1, C",
        "cancel all: ok; review actions C, C",
    ]


@needs_presets
def test_non_conformant_bundles_get_an_operation_outcome(inferno_run) -> None:
    _, steps = inferno_run
    for case in (
        "missing-referenced-resource",
        "invalid-first-entry-response-bundle",
        "response-bundle-as-request",
    ):
        assert steps[f"inferno/{case}"] == ["submit: ok; OperationOutcome 400"]


@needs_presets
def test_without_the_profile_the_kit_member_is_unknown(inferno_run) -> None:
    """The profile is data a case names (roster and mappings): the demo roster has no such
    member."""
    _, steps = inferno_run
    assert steps["inferno/approval-preset-demo-roster"] == ["submit: ok; ClaimResponse.error 75"]


def test_the_suites_hold_at_least_sixty_cases() -> None:
    cases = discover()
    assert len(cases) >= 60
    suites = {case.suite for case in cases}
    assert {"inferno", "cross-channel"} <= suites
    assert all(case.mappings for case in cases if case.roster and case.suite == "inferno")


def test_a_broken_inferno_expectation_names_the_preset_answer(tmp_path: Path) -> None:
    """The suite is replayed for real: expecting the approval preset denied fails with what
    came back."""
    if not PRESETS.is_dir():
        pytest.skip("the Inferno presets are not on this machine")
    from gateway.settings import REPO_ROOT

    suite = tmp_path / "suites" / "inferno"
    suite.mkdir(parents=True)
    text = (REPO_ROOT / "conformance/inferno/approval.yaml").read_text(encoding="utf-8")
    profile = REPO_ROOT / "conformance/inferno/profile"
    text = text.replace("profile/", f"{profile}/").replace("items: [A1, A1]", "items: [A3, A3]")
    (suite / "approval-expected-denied.yaml").write_text(text, encoding="utf-8")
    ran = _conformance(tmp_path, "inferno", "--dir", str(tmp_path / "suites"))
    assert ran.returncode == 1
    assert "items[0]: expected 'A3', got 'A1'" in ran.stdout.replace("\n", " ")


@pytest.mark.store
def test_a_second_update_of_a_claim_applies_to_its_newest_authorization(client) -> None:
    """Inferno's claim updates keep the sender's claim identifier: each update names it, and
    each applies to the authorization now in force, not the first one, which the first update
    already replaced (a 422 "cancelled and cannot take a revised" before)."""
    from tests.fhir.test_pas_changes import case_id_of, update_of
    from tests.test_fhir_routes import item_actions, load, submit
    from tests.x12.test_changes import case_of

    original = load("ddact-her2neg.json")
    claim_identifier = original["entry"][0]["resource"]["identifier"][0]["value"]
    first_id = case_id_of(submit(client, original))
    revised_ids = []
    for suffix, start in (("U1", "2027-02-01"), ("U2", "2027-03-01")):
        update = update_of(original, suffix, claim_identifier)
        for item in update["entry"][0]["resource"]["item"]:
            item["servicedPeriod"] = {"start": start, "end": "2027-05-31"}
        answer = submit(client, update)
        assert answer.status_code == 200, answer.text
        assert set(item_actions(answer.json())) == {"A1"}
        revised_ids.append(case_id_of(answer))
    newest = case_of(client, revised_ids[1])
    assert newest["case"]["prior_case_id"] == revised_ids[0] != first_id
    assert newest["determination"]["period_start"] == "2027-03-01"
    assert case_of(client, revised_ids[0])["determination"]["period_end"] == "2027-02-28"
