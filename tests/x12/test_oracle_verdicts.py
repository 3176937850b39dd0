"""The oracle (gateway.x12.oracle) answers a document it has validated against an unchanged map
folder from its verdicts, and validates again once a file of the folder changed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from gateway.settings import REPO_ROOT
from gateway.x12 import oracle
from gateway.x12.grammar import REPO_MAP_DIR


def test_a_verdict_is_kept_until_the_map_folder_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    maps = tmp_path / "x12"
    shutil.copytree(REPO_MAP_DIR, maps)
    validated: list[str] = []
    validate = oracle._validate

    def counting(text: str, map_path: str) -> oracle.OracleResult:
        validated.append(map_path)
        return validate(text, map_path)

    monkeypatch.setattr(oracle, "_validate", counting)
    sent = (REPO_ROOT / "samples/x12/278-tc-jane-doe.x12").read_bytes()
    broken = oracle.normalize_reference(sent).replace("NM1*IL", "NM1*XX", 1)
    first = oracle.run_pyx12(broken, maps)
    assert not first.valid and first.findings
    first.findings.clear()  # a caller's result is its own
    again = oracle.run_pyx12(broken, maps)
    assert validated == [str(maps)]
    assert not again.valid and again.findings
    # A map file changed on disk (here only its time): validated against it again.
    stamp = (maps / "maps.xml").stat().st_mtime_ns + 1_000_000_000
    os.utime(maps / "maps.xml", ns=(stamp, stamp))
    assert oracle.run_pyx12(broken, maps).findings == again.findings
    assert validated == [str(maps), str(maps)]
