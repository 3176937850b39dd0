"""The 005010X217 map in mappings/x12: pyx12 (driven with map_path=) accepts what is valid."""

from __future__ import annotations

import pytest

from gateway.x12 import mapgen
from gateway.x12.grammar import REPO_MAP_DIR, load_grammar, map_registry
from gateway.x12.oracle import Finding, normalize_reference, run_pyx12
from tests.x12.helpers import (
    BROKEN_REFERENCES,
    REFERENCE,
    VALID_REFERENCES,
    reference,
    sample,
    sample_names,
)


def test_committed_xml_is_what_mapgen_writes():
    for name, content in mapgen.outputs().items():
        assert (REPO_MAP_DIR / name).read_bytes() == content, f"regenerate {name}"


def test_registry_names_request_and_response_maps():
    registry = map_registry()
    assert registry[("005010X217", "13")] == mapgen.REQUEST_MAP
    assert registry[("005010X217", "11")] == mapgen.RESPONSE_MAP


def test_grammar_carries_the_guide_code_lists():
    request = load_grammar(mapgen.REQUEST_MAP)
    event = request.find_loop("2000E")
    um = next(c for c in event.children if getattr(c, "seg_id", "") == "UM")
    assert {"AR", "HS", "SC"} == um.items[0].codes
    assert "78" in um.items[2].codes  # chemotherapy
    assert {"03", "E", "U"} == um.items[5].codes
    response = load_grammar(mapgen.RESPONSE_MAP)
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
