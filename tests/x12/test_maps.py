"""The 005010X217 map in mappings/x12: pyx12 (driven with map_path=) accepts what is valid.

The XML is the source of truth (tests/x12/test_map_is_data.py guards it with both engines);
tools/x12_mapgen.py is only the authoring tool it was first written with.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.settings import REPO_ROOT
from gateway.x12.grammar import load_grammar, map_registry
from gateway.x12.oracle import Finding, normalize_reference, run_pyx12
from tests.x12.helpers import (
    BROKEN_REFERENCES,
    REFERENCE,
    VALID_REFERENCES,
    reference,
    sample,
    sample_names,
)

REQUEST_MAP = "278.5010.X217.request.xml"
RESPONSE_MAP = "278.5010.X217.response.xml"
MAPGEN = REPO_ROOT / "tools" / "x12_mapgen.py"


def test_registry_names_request_and_response_maps():
    registry = map_registry()
    assert registry[("005010X217", "13")] == REQUEST_MAP
    assert registry[("005010X217", "01")] == REQUEST_MAP
    assert registry[("005010X217", "11")] == RESPONSE_MAP


def test_grammar_carries_the_guide_code_lists():
    request = load_grammar(REQUEST_MAP)
    event = request.find_loop("2000E")
    um = next(c for c in event.children if getattr(c, "seg_id", "") == "UM")
    assert {"AR", "HS", "SC"} == um.items[0].codes
    assert "78" in um.items[2].codes  # chemotherapy
    assert {"03", "E", "U"} == um.items[5].codes
    response = load_grammar(RESPONSE_MAP)
    hcr = next(c for c in response.find_loop("2000E").children if getattr(c, "seg_id", "") == "HCR")
    assert {"A1", "A2", "A3", "A4", "A6", "C", "CT", "NA"} == hcr.items[0].codes
    aaa = next(c for c in response.find_loop("2010C").children if getattr(c, "seg_id", "") == "AAA")
    assert {"75", "78"} <= aaa.items[2].codes


def test_normalization_is_only_bom_indentation_and_gs08():
    reference(VALID_REFERENCES[0])  # skips where the reference examples are absent
    raw = (REFERENCE / VALID_REFERENCES[0]).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"005010X279" in raw
    text = normalize_reference(raw)
    assert text.startswith("ISA*") and "005010X279" not in text
    assert text.replace("005010X217", "") == "".join(
        line.strip() for line in raw.decode("utf-8-sig").splitlines()
    ).replace("005010X279", "").replace("005010X217", "")


@pytest.mark.parametrize("name", VALID_REFERENCES)
def test_pyx12_accepts_valid_reference_examples(name):
    result = run_pyx12(reference(name))
    assert result.error is None
    assert result.valid, result.findings


def test_pyx12_reports_the_known_faults_of_example_3_3():
    request = run_pyx12(reference(BROKEN_REFERENCES[0]))
    assert not request.valid
    # TRN03 is AN 10/10; the example's 987654321 has nine characters.
    assert request.findings == [Finding("ele", "4", "TRN", 10, 3, None, "0001")]
    response = run_pyx12(reference(BROKEN_REFERENCES[1]))
    codes = {(f.segment, f.position, f.element, f.code) for f in response.findings}
    # NM1 of 2010B lost a separator: "46" lands in NM107, the NPI in NM108, NM109 is empty.
    assert {
        ("NM1", 7, 8, "5"),
        ("NM1", 7, 8, "7"),
        ("NM1", 7, 9, "1"),
        ("TRN", 11, 3, "4"),
    } <= codes


@pytest.mark.parametrize("name", sample_names())
def test_pyx12_accepts_every_sample(name):
    result = run_pyx12(sample(name))
    assert result.error is None
    assert result.valid, result.findings


def test_nothing_in_the_runtime_imports_the_authoring_tool():
    sources = (REPO_ROOT / "gateway").rglob("*.py")
    offenders = [p for p in sources if "mapgen" in p.read_text(encoding="utf-8")]
    assert offenders == []


def _mapgen(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(MAPGEN), *map(str, args)], capture_output=True, text=True
    )


def test_mapgen_writes_a_map_both_engines_load_and_keeps_edited_files(tmp_path: Path):
    assert "--check" in _mapgen("--help").stdout
    written = _mapgen("--out", tmp_path)
    assert written.returncode == 0, written.stderr
    assert run_pyx12(sample("278-act-dd-jane-doe.x12"), tmp_path).valid
    assert load_grammar(REQUEST_MAP, tmp_path).find_loop("2000E").repeat == 1
    # A payer's edit is neither flagged as an error by the build nor overwritten by the tool.
    codes = tmp_path / "codes.xml"
    edited = codes.read_text().replace("<code>UC</code>", "<code>UC</code><code>Z9</code>")
    codes.write_text(edited)
    check = _mapgen("--check", "--out", tmp_path)
    assert check.returncode == 1 and check.stdout.strip().endswith("codes.xml"), check.stdout
    again = _mapgen("--out", tmp_path)
    assert again.returncode == 0 and "kept" in again.stderr
    assert codes.read_text() == edited
