"""Demo data never goes stale: the sample requests dated from any day get, on that day, the
answers the fixed copies get under the suites' frozen clock (issue 18, item 10)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gateway.conformance.observe import observe_fhir, observe_x12
from gateway.samples import FOLDERS, SAMPLES_DAY, redate_json, redate_x12, write_samples
from gateway.settings import REPO_ROOT
from gateway.x12.oracle import run_pyx12
from tests.cli import run_in_process
from tests.conftest import NOW

SAMPLES = REPO_ROOT / "samples"
X12 = {"Content-Type": "application/edi-x12"}
FHIR = {"Content-Type": "application/fhir+json"}


def fixed_copies() -> list[Path]:
    return [p for folder, glob in FOLDERS.items() for p in sorted((SAMPLES / folder).glob(glob))]


def segment(text: str, tag: str) -> list[str]:
    return [s.strip().split("*") for s in text.split("~") if s.strip().startswith(tag + "*")]


def test_the_fixed_copies_are_the_samples_of_the_frozen_day(tmp_path: Path):
    # The command in this process (tests/cli.py), as below; the real one runs in
    # tests/test_readme_walkthrough.py (`make run`'s) and tests/test_wheel.py (installed).
    ran = run_in_process(
        {**os.environ}, "samples", "--date", SAMPLES_DAY.isoformat(), "--out", str(tmp_path)
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    for path in fixed_copies():
        written = tmp_path / path.parent.name / path.name
        assert written.read_bytes() == path.read_bytes(), path.name
    assert SAMPLES_DAY == NOW.date()  # the suites and the tests freeze the same day


@pytest.mark.parametrize("days", [1, 365, 731, -30])
def test_moving_dates_and_back_gives_the_fixed_copy(days: int):
    for path in fixed_copies():
        text = path.read_text()
        redate = redate_x12 if path.suffix == ".x12" else redate_json
        moved = redate(text, days)
        assert moved != text, path.name
        assert redate(moved, -days) == text, path.name


def test_a_278_a_year_later_moves_its_dates_and_control_numbers_not_the_birth_date():
    fixed = (SAMPLES / "x12" / "278-act-dd-jane-doe.x12").read_text()
    moved = redate_x12(fixed, 365)
    [isa], [gs], [ge], [iea] = (segment(moved, tag) for tag in ("ISA", "GS", "GE", "IEA"))
    assert (isa[9], gs[4], segment(moved, "BHT")[0][4]) == ("271120", "20271120", "20271120")
    assert {s[3] for s in segment(moved, "DTP")} == {"20271201"}
    assert segment(moved, "DMG") == segment(fixed, "DMG")  # DMG*D8*19600412: the roster's
    assert isa[13] == iea[2] != segment(fixed, "ISA")[0][13]
    assert gs[6] == ge[2] != segment(fixed, "GS")[0][6]
    assert len(moved.split("~")[0]) == len(fixed.split("~")[0]) == 105  # ISA stays fixed-width
    assert run_pyx12(moved.encode()).valid


def test_a_pas_bundle_a_year_later_keeps_the_birth_date():
    fixed = json.loads((SAMPLES / "pas" / "ddact-her2neg.json").read_text())
    moved = json.loads(redate_json(json.dumps(fixed, indent=2) + "\n", 365))
    claim, moved_claim = fixed["entry"][0]["resource"], moved["entry"][0]["resource"]
    assert moved_claim["created"] == claim["created"].replace("2026-11-20", "2027-11-20")
    patients = [
        e["resource"]
        for bundle in (fixed, moved)
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Patient"
    ]
    assert patients[0]["birthDate"] == patients[1]["birthDate"] == "1960-04-12"


def test_the_default_day_is_the_demo_providers_today_on_the_gateway_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # 03:00 UTC on 2028-11-23 is still the 22nd in Hartford, where the demo providers are.
    frozen = {"GATEWAY_FROZEN_TIME": "2028-11-23T03:00:00+00:00"}
    monkeypatch.chdir(tmp_path)  # var/samples/ is the working directory's
    ran = run_in_process({**os.environ, **frozen}, "samples")
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "for 2028-11-22 written to var/samples/" in ran.stdout
    interchange = (tmp_path / "var" / "samples" / "x12" / "278-act-dd-jane-doe.x12").read_text()
    assert segment(interchange, "ISA")[0][9] == "281119"  # sent three days before that day


def _answers(client, folder: Path) -> dict[str, object]:
    """What comes back for every sample request in `folder`, without ids and dates."""
    answers: dict[str, object] = {}
    for path in sorted((folder / "x12").glob("*.x12")):
        observed = observe_x12(
            client.post("/x12/278", content=path.read_bytes(), headers=X12).content
        )
        answers[path.name] = (
            observed["kind"],
            observed.get("review_action"),
            observed.get("items"),
            observed.get("aaa"),
        )
    for path in sorted((folder / "pas").glob("*.json")):
        response = client.post("/fhir/Claim/$submit", content=path.read_bytes(), headers=FHIR)
        observed = observe_fhir(response.json())
        answers[path.name] = (response.status_code, observed.get("kind"), observed.get("items"))
    for path in sorted((folder / "cases").glob("*.json")):
        response = client.post(
            "/cases", content=path.read_bytes(), headers={"Content-Type": "application/json"}
        )
        body = response.json()
        answers[path.name] = (
            response.status_code,
            body.get("status"),
            [line["review_action"] for line in body["determination"]["lines"]],
        )
    return answers


@pytest.mark.parametrize("years", [1, 2])
def test_samples_of_a_later_year_get_the_answers_of_the_fixed_copies(
    client, clock, tmp_path, years
):
    expected = _answers(client, SAMPLES)  # the fixed copies under the frozen clock
    assert expected["278-act-dd-jane-doe.x12"] == ("278", "A1", ["A1", "A1", "A1"], [])
    assert expected["ddact-her2neg.json"][2] == ["A1", "A1", "A1"]
    assert expected["second-plan-ddact.json"][1] == "approved"

    clock.now = NOW.replace(year=NOW.year + years)
    write_samples(clock.now.date(), tmp_path)
    assert _answers(client, tmp_path) == expected
