"""mappings/reviewers.yaml is read and checked with the rest of mappings/ at start-up: a wrong
field stops the gateway naming the file and the field (gateway/mappings.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from gateway.mappings import MappingsError, load_mappings
from gateway.settings import REPO_ROOT


@pytest.fixture
def mappings(tmp_path: Path) -> Path:
    copy = tmp_path / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", copy)
    return copy


def _edit_reviewer(mappings: Path, index: int, **changes: object) -> Path:
    path = mappings / "reviewers.yaml"
    data = yaml.safe_load(path.read_text())
    data["reviewers"][index].update(changes)
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_repository_reviewers_load():
    reviewers = load_mappings(REPO_ROOT / "mappings").reviewers
    assert {r.id for r in reviewers} >= {"dr-avery-lin", "dr-jordan-reyes", "dr-morgan-patel"}
    assert all(r.weekly and r.credentials and r.specialty for r in reviewers)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"time_zone": "Eastern"}, "reviewers.0.time_zone"),
        ({"weekly": {"monday": ["9 to 5"]}}, "reviewers.0.weekly"),
        ({"credentials": None}, "reviewers.0.credentials"),
        ({"plans": ["no-such-plan"]}, "reviewers.0.plans"),
    ],
)
def test_a_wrong_reviewer_field_names_the_file_and_the_field(mappings, changes, field):
    path = _edit_reviewer(mappings, 0, **changes)
    with pytest.raises(MappingsError) as refused:
        load_mappings(mappings)
    assert refused.value.path == path
    assert field in str(refused.value)


def test_a_missing_reviewers_file_stops_the_start(mappings):
    (mappings / "reviewers.yaml").unlink()
    with pytest.raises(MappingsError, match="file not found"):
        load_mappings(mappings)


def test_a_plan_without_its_peer_to_peer_rules_is_named(mappings):
    path = mappings / "plans" / "second-plan-oncology.yaml"
    plan = yaml.safe_load(path.read_text())
    del plan["peer_to_peer"]["phone"]
    path.write_text(yaml.safe_dump(plan))
    with pytest.raises(MappingsError) as refused:
        load_mappings(mappings)
    assert refused.value.path == path
    assert "peer_to_peer.phone" in str(refused.value)
