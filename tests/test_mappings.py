"""mappings/ is loaded once and checked at start-up: a wrong file stops the gateway with the file
and the field named; business facts (which payer's feed is primary) come from the data."""

from __future__ import annotations

import gc
import os
import shutil
from pathlib import Path

import pytest
import uvicorn
import yaml

from gateway.mappings import MappingsError, load_mappings
from gateway.settings import REPO_ROOT
from gateway.wiring import build
from tests.cli import run_in_process
from tests.conftest import make_settings


@pytest.fixture
def mappings(tmp_path: Path) -> Path:
    copy = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", copy)
    return copy


def _edit_plan(mappings: Path, name: str, **changes: object) -> Path:
    path = mappings / "plans" / f"{name}.yaml"
    plan = yaml.safe_load(path.read_text())
    plan.update(changes)
    path.write_text(yaml.safe_dump(plan))
    return path


def test_the_repository_mappings_load_and_name_the_primary_payer():
    loaded = load_mappings(REPO_ROOT / "mappings")
    assert loaded.primary_payer_ids == {"62308"}
    assert {"cigna-62308-commercial", "second-plan-oncology"} <= set(loaded.plans)


def test_a_wrong_plan_field_names_the_file_and_the_field(mappings: Path):
    path = _edit_plan(mappings, "second-plan-oncology", partial_approvals="sometimes")
    with pytest.raises(MappingsError) as refused:
        load_mappings(mappings)
    assert refused.value.path == path
    assert "partial_approvals" in str(refused.value)


def test_a_missing_crosswalk_stops_the_build(mappings: Path, tmp_path: Path):
    (mappings / "crosswalks" / "pas.yaml").unlink()
    settings = make_settings(tmp_path).model_copy(update={"mappings_dir": mappings})
    with pytest.raises(MappingsError, match="crosswalks/pas.yaml: file not found"):
        build(settings)


def test_the_primary_payer_is_data(mappings: Path, tmp_path: Path):
    _edit_plan(mappings, "cigna-62308-commercial", primary=False)
    _edit_plan(mappings, "second-plan-oncology", primary=True)
    assert load_mappings(mappings).primary_payer_ids == {"SHP01"}


def test_gateway_serve_refuses_to_start_on_a_broken_plan(
    mappings: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The real command in this process (tests/cli.py): `gateway serve` as a process of its own
    starts in tests/test_startup.py, tests/test_wheel.py and the README walk-through."""
    _edit_plan(mappings, "cigna-62308-commercial", retro="yes")
    env = dict(os.environ, GATEWAY_MAPPINGS_DIR=str(mappings))
    env["GATEWAY_DATABASE_URL"] = f"sqlite:///{tmp_path / 'gateway.db'}"

    def served(*_: object, **__: object) -> None:
        raise AssertionError("gateway serve started on a broken plan")

    monkeypatch.setattr(uvicorn, "run", served)  # so a regression fails here, not hangs
    try:
        done = run_in_process(env, "serve", "--port", "1")
    finally:
        gc.unfreeze()  # what the command's start-up froze (gateway/cli.py _starting) is ours
    assert done.returncode == 2
    assert "cigna-62308-commercial.yaml" in done.stderr and "retro" in done.stderr
    assert "Traceback" not in done.stderr
