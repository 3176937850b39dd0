"""The X12 map is data: mappings/x12 is the truth, guarded by two engines that must agree.

The gateway's validator and pyx12 load the same map folder. What guards the map is that they
agree, on every file of the corpus, on accept/reject and on where the faults are (IK3 segment
positions, IK4 element positions); and that a code a payer adds to codes.xml is accepted by both,
through the folder Settings names, with no Python edited.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from gateway.conformance.observe import observe_x12
from gateway.settings import REPO_ROOT
from gateway.x12.ack import GroupAck
from gateway.x12.envelope import check_group, check_interchange, parse_interchange
from gateway.x12.grammar import REPO_MAP_DIR, x12_map_dir
from gateway.x12.oracle import normalize_reference, run_pyx12
from gateway.x12.tokens import X12SyntaxError, tokenize
from gateway.x12.validate import grammar_for, validate_transaction
from tests.x12.helpers import REFERENCE, check_groups, run_submit, sample, segments_of, set_element

CORPUS_DIRS = (REPO_ROOT / "samples" / "x12", REPO_ROOT / "conformance" / "x12" / "files")

# (ST02, segment id, IK302 position) and (ST02, IK302 position, IK401-1, IK401-2).
IK3 = tuple[str | None, str | None, int | None]
IK4 = tuple[str | None, int | None, int | None, int | None]


class Verdict:
    def __init__(self, valid: bool, ik3: set[IK3], ik4: set[IK4], ta1: set[str]):
        self.valid, self.ik3, self.ik4, self.ta1 = valid, ik3, ik4, ta1

    def __repr__(self) -> str:
        return f"valid={self.valid} ta1={self.ta1} ik3={sorted(self.ik3)} ik4={sorted(self.ik4)}"


def gateway_verdict(text: str, map_dir: Path) -> Verdict:
    """The gateway's own judgement, with the interchange taken as addressed to it (the map is
    under test here, not the receiver id) and BHT02 11 read with the response map."""
    try:
        delims, segments = tokenize(text)
    except X12SyntaxError:
        return Verdict(False, set(), set(), {"syntax"})
    ix = parse_interchange(delims, segments)
    application = ix.groups[0].gs.get(3) if ix.groups else None
    note = check_interchange(ix, ix.receiver, application)
    if note is not None:
        return Verdict(False, set(), set(), {note})
    responses = any(
        len(t.segments) > 1 and t.segments[1].get(2) == "11"
        for g in ix.groups
        for t in g.transactions
    )
    if responses:
        acks = []
        for group in ix.groups:
            ack = GroupAck("HI", group.gs.get(6), group.gs.get(8), codes=check_group(group).codes)
            ack.reports = [
                validate_transaction(t.segments, ix.delims, grammar_for("11", map_dir))
                for t in group.transactions
            ]
            acks.append(ack)
    else:
        acks = [ack for _, ack in check_groups(ix, map_dir)]
    ik3: set[IK3] = set()
    ik4: set[IK4] = set()
    for ack in acks:
        for report in ack.reports:
            ik3 |= {(report.st02, f"IK5 {c}", None) for c in report.set_codes if c in ("3", "4")}
            for error in report.errors:
                ik3.add((report.st02, error.seg_id, error.position))
                ik4 |= {
                    (report.st02, error.position, e.position, e.component) for e in error.elements
                }
    return Verdict(all(ack.status == "A" for ack in acks), ik3, ik4, set())


def pyx12_verdict(text: str, map_dir: Path) -> Verdict:
    result = run_pyx12(text, map_dir)
    assert result.error is None, result.error
    ik3 = set(result.segment_positions)
    ik4 = {
        (f.transaction, f.position, f.element, f.component)
        for f in result.findings
        if f.level == "ele"
    }
    # pyx12 reports a wrong SE02 (3) or SE01 (4) on the transaction set, as the 999's IK5 does.
    for finding in result.findings:
        if finding.level == "st" and finding.code in ("3", "4"):
            ik3.add((finding.transaction, f"IK5 {finding.code}", None))
    ta1 = {f.code for f in result.findings if f.level == "isa"}
    return Verdict(result.valid, ik3, ik4, ta1)


def corpus() -> list[pytest.param]:
    files = [path for folder in CORPUS_DIRS for path in sorted(folder.glob("*.x12"))]
    params = [pytest.param(path, id=f"{path.parent.name}/{path.name}") for path in files]
    if REFERENCE.is_dir():
        params += [
            pytest.param(path, id=f"reference/{path.name}")
            for path in sorted(REFERENCE.glob("*.txt"))
        ]
    else:
        params.append(
            pytest.param(
                None,
                id="reference",
                marks=pytest.mark.skip(
                    reason=f"the shared reference examples are absent ({REFERENCE})"
                ),
            )
        )
    return params


def test_the_corpus_is_not_empty():
    # A guard over nothing would pass: the project's own files must be there.
    assert sum(1 for folder in CORPUS_DIRS for _ in folder.glob("*.x12")) >= 14


@pytest.mark.parametrize("path", corpus())
def test_both_engines_agree_on_the_committed_map(path: Path):
    # The documented normalization (BOM, indentation, GS08 of the reference examples) only;
    # the project's own files pass through unchanged.
    text = normalize_reference(path.read_bytes())
    ours = gateway_verdict(text, REPO_MAP_DIR)
    theirs = pyx12_verdict(text, REPO_MAP_DIR)
    assert ours.valid == theirs.valid, (ours, theirs)
    assert ours.ik3 == theirs.ik3, (ours, theirs)
    assert ours.ik4 == theirs.ik4, (ours, theirs)
    # An interchange the gateway answers with a TA1 is one pyx12 faults at the ISA, same note.
    # pyx12 4.0.0 refuses an ISA09/ISA10 that is no date/time (014/015) without naming it in
    # its JSON: a refusal with no finding at all is that same refusal.
    unnamed = not theirs.valid and not (theirs.ta1 or theirs.ik3 or theirs.ik4)
    assert (
        ours.ta1 <= theirs.ta1
        or ours.ta1 == {"syntax"}
        or (ours.ta1 in ({"014"}, {"015"}) and unnamed)
    ), (ours, theirs)


# ---------------------------------------------------------------- a payer's code

NEW_SERVICE_TYPE = "Z9"  # not an X12 1365 code: a payer's own, for the test


def payer_mappings(root: Path) -> Path:
    """mappings/ copied, with one code added to the service types of codes.xml, as a payer
    edits the file (the code set 1365 that UM03 of the 278 request draws on)."""
    target = root / "mappings"
    shutil.copytree(REPO_ROOT / "mappings", target)
    codes = x12_map_dir(target) / "codes.xml"
    tree = etree.parse(str(codes))
    [version] = tree.xpath("/codesets/codeset[id='service_types']/version")
    etree.SubElement(version, "code").text = NEW_SERVICE_TYPE
    tree.write(str(codes), xml_declaration=True, encoding="UTF-8")
    return target


def with_new_service_type() -> str:
    """The demo 278 with the patient event's UM03 set to the payer's code."""
    return set_element(sample("278-act-dd-jane-doe.x12"), "UM*", 3, NEW_SERVICE_TYPE)


def _um_position(text: str) -> int:
    segs = segments_of(text)
    st = next(i for i, s in enumerate(segs) if s.startswith("ST*"))
    return next(i for i, s in enumerate(segs) if s.startswith("UM*")) - st + 1


def test_the_committed_map_refuses_the_code_in_both_engines():
    text = with_new_service_type()
    ours = gateway_verdict(text, REPO_MAP_DIR)
    theirs = pyx12_verdict(text, REPO_MAP_DIR)
    um = _um_position(text)
    assert not ours.valid and not theirs.valid
    assert ours.ik4 == theirs.ik4 == {("0001", um, 3, None)}


def test_a_code_added_to_codes_xml_is_accepted_by_both_engines(tmp_path: Path):
    map_dir = x12_map_dir(payer_mappings(tmp_path))
    text = with_new_service_type()
    ours = gateway_verdict(text, map_dir)
    theirs = pyx12_verdict(text, map_dir)
    assert ours.valid and theirs.valid, (ours, theirs)
    assert not ours.ik3 and not theirs.ik3
    # The committed map is untouched by the copy: the cache is per folder.
    assert not gateway_verdict(text, REPO_MAP_DIR).valid


@pytest.fixture
def settings(settings, tmp_path: Path):  # the conftest's (SQLite and PostgreSQL), payer's map
    return settings.model_copy(update={"mappings_dir": payer_mappings(tmp_path)})


def test_the_gateway_answers_with_a_278_through_the_configured_mappings(client, settings):
    response = client.post(
        "/x12/278",
        content=with_new_service_type().encode(),
        headers={"Content-Type": "application/edi-x12"},
    )
    assert response.status_code == 200
    observed = observe_x12(response.content)
    assert observed["kind"] == "278", observed  # not a 999 refusing UM03
    # The response echoes UM03: pyx12 accepts it with the payer's map, refuses it with ours.
    map_dir = x12_map_dir(settings.mappings_dir)
    assert f"UM*HS*I*{NEW_SERVICE_TYPE}*".encode() in response.content
    assert run_pyx12(response.content, map_dir).valid
    assert not run_pyx12(response.content, REPO_MAP_DIR).valid


def test_gateway_submit_reads_gateway_mappings_dir(tmp_path: Path):
    """The real CLI: GATEWAY_MAPPINGS_DIR alone decides which codes the batch path accepts."""
    source = tmp_path / "payer-code.x12"
    source.write_text(with_new_service_type())
    done, out = run_submit(source, tmp_path, GATEWAY_MAPPINGS_DIR=str(payer_mappings(tmp_path)))
    assert done.returncode == 0, done.stdout + done.stderr
    ack = (out / "payer-code.999").read_text()
    assert "IK5*A" in ack and "AK9*A*1*1*1" in ack, ack
    assert f"UM*HS*I*{NEW_SERVICE_TYPE}*" in (out / "payer-code.278").read_text()
