"""`gateway submit`, as an operator runs it: files in, answers and letters out."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from typer.testing import CliRunner

from gateway.cli import app
from gateway.conformance.observe import observe_fhir
from gateway.settings import REPO_ROOT, get_settings
from gateway.store.models import CaseRow, OutboxJobRow
from tests.conftest import migrated_sqlite_url

SAMPLES = REPO_ROOT / "samples"
JANE = SAMPLES / "x12" / "278-act-dd-jane-doe.x12"
BATCH = SAMPLES / "x12" / "278-batch.x12"
PAS = SAMPLES / "pas" / "ddact-her2neg.json"
PAS_REFUSED = SAMPLES / "pas" / "ddact-dangling-reference.json"
CASE = SAMPLES / "cases" / "ddact-her2-negative.json"
# What must never be printed: the demo member's name, member id and birth date.
PHI = ("DOE", "JANE", "U1234567801", "1960-04-12", "19600412")


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A gateway of its own: SQLite, fax spool, maildir, member mail and payer feed under
    tmp_path; the demo's "now" pinned so the roster's 2026 coverage holds on any day."""
    values = {
        "GATEWAY_DATABASE_URL": migrated_sqlite_url(tmp_path / "gateway.db"),
        "GATEWAY_FAX_SPOOL": str(tmp_path / "fax"),
        "GATEWAY_MAIL_DIR": str(tmp_path / "mail"),
        "GATEWAY_MEMBER_MAIL_DIR": str(tmp_path / "member-mail"),
        "GATEWAY_PAYER_FEED_DIR": str(tmp_path / "payer-feed"),
        "GATEWAY_FAX_GATEWAY": "spool",
        "GATEWAY_FROZEN_TIME": "2026-11-23T15:00:00Z",
        "COLUMNS": "300",  # one table row a line
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("GATEWAY_SMTP_URL", raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level  # the command configures logging
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()
    root.handlers[:] = handlers
    root.setLevel(level)


def submit(env: Path, *args: str | Path) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["submit", *(str(a) for a in args)])
    output = result.stdout + result.stderr
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    for value in PHI:
        assert value not in output, f"{value} printed"
    return result.exit_code, output


def segments(path: Path, seg_id: str) -> list[list[str]]:
    text = path.read_text()
    return [s.strip().split("*") for s in text.split("~") if s.strip().startswith(seg_id + "*")]


def jobs(env: Path) -> list[OutboxJobRow]:
    engine = create_engine(f"sqlite:///{env / 'gateway.db'}")
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(OutboxJobRow.__table__)))
    finally:
        engine.dispose()


def cases(env: Path) -> list[str]:
    engine = create_engine(f"sqlite:///{env / 'gateway.db'}")
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(CaseRow.id)).scalars())
    finally:
        engine.dispose()


def test_a_278_request_gets_a_999_and_an_approval(env: Path):
    out = env / "out"
    code, output = submit(env, JANE, "--out", out, "--no-dispatch")
    assert code == 0, output
    response = out / "278-act-dd-jane-doe.278"
    assert "HCR*A1*" in response.read_text()
    ack = out / "278-act-dd-jane-doe.999"
    assert segments(ack, "AK9") == [["AK9", "A", "1", "1", "1"]]
    assert segments(ack, "IK5") == [["IK5", "A"]]
    assert segments(ack, "ST")[0][3] == "005010X231A1"
    [case_id] = cases(env)[:1]
    assert case_id in output and "x12" in output


def test_a_batch_gets_a_999_per_group_and_a_response_per_transaction(env: Path):
    out = env / "out"
    code, output = submit(env, BATCH, "--out", out, "--no-dispatch")
    assert code == 0, output
    groups = len(segments(BATCH, "GS"))
    sent = len(segments(BATCH, "ST"))
    ack = out / "278-batch.999"
    assert len(segments(ack, "AK1")) == len(segments(ack, "AK9")) == groups
    assert len(segments(ack, "IK5")) == sent
    responses = out / "278-batch.278"
    assert len(segments(responses, "ST")) == len(segments(responses, "BHT")) == sent
    assert [s[3] for s in segments(responses, "BHT")] == [
        s[3] for s in segments(BATCH, "BHT")
    ]  # BHT03 echoed, in order
    hcr = [s[1] for s in segments(responses, "HCR")]
    assert hcr.count("A1") >= 4  # Jane Doe's four requests approved (and their service lines)
    assert segments(responses, "AAA")  # the unknown member: AAA, no HCR
    assert f"{sent} of {sent} transaction sets" in output


def test_a_pas_request_gets_a_response_bundle_with_a1(env: Path):
    out = env / "out"
    code, output = submit(env, PAS, PAS_REFUSED, "--out", out, "--no-dispatch")
    assert code == 0, output  # a refusal is an answer, not a failure of the command
    bundle = json.loads((out / "ddact-her2neg.response.json").read_text())
    assert bundle["resourceType"] == "Bundle"
    observed = observe_fhir(bundle)
    assert observed["first_entry"] == "ClaimResponse"
    assert observed["items"] and set(observed["items"]) == {"A1"}
    refused = json.loads((out / "ddact-dangling-reference.operation-outcome.json").read_text())
    assert refused["resourceType"] == "OperationOutcome"
    assert "reviewAction A1" in output and "OperationOutcome (4" in output


def test_a_canonical_case_is_stored_and_shown(env: Path):
    out = env / "out"
    code, output = submit(env, CASE, "--out", out, "--no-dispatch")
    assert code == 0, output
    view = json.loads((out / "ddact-her2-negative.case.json").read_text())
    assert view["status"] == "approved" and view["id"] in output
    assert {job["kind"] for job in view["jobs"]} >= {"fax"}


def test_letters_land_in_the_fax_spool(env: Path):
    out = env / "out"
    code, output = submit(env, JANE, "--out", out)
    assert code == 0, output
    folders = [p for p in (env / "fax").iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert folders
    for folder in folders:
        job = json.loads((folder / "job.json").read_text())
        assert job["state"] == "queued" and job["fax_id"] == folder.name
        [pdf] = list(folder.glob("*.pdf"))
        assert pdf.read_bytes().startswith(b"%PDF")
        assert folder.name in output  # the table says where each fax went
    assert "fax spool" in output and "delivered" in output
    states = {row.state for row in jobs(env)}
    assert states == {"delivered"}, states
    assert (env / "payer-feed").is_dir() and (env / "member-mail").is_dir()


def test_no_dispatch_leaves_the_jobs_queued(env: Path):
    code, output = submit(env, JANE, "--out", env / "out", "--no-dispatch")
    assert code == 0, output
    found = jobs(env)
    assert found and {row.state for row in found} == {"queued"}
    assert not (env / "fax").exists() or not any((env / "fax").iterdir())
    assert "--no-dispatch" in output


def test_the_same_file_again_creates_nothing(env: Path):
    submit(env, BATCH, "--out", env / "out", "--no-dispatch")
    before = cases(env)
    code, _ = submit(env, BATCH, "--out", env / "out", "--no-dispatch")
    assert code == 0 and cases(env) == before


def test_a_batch_carrying_the_same_request_twice_gives_one_case(env: Path):
    # The same transaction set again in the same group under another ST02 (and new BHT04/05):
    # a resubmission, answered with the first one's authorization, not a second case.
    head, rest = JANE.read_text().split("ST*278*", 1)
    first, tail = ("ST*278*" + rest).split("GE*1*", 1)
    second = (
        first.replace("ST*278*0001*", "ST*278*0002*")
        .replace("SE*47*0001", "SE*47*0002")
        .replace("*ACTDD0001*20261120*0930", "*ACTDD0001*20261121*1415")
    )
    assert second != first
    twice = env / "twice.x12"
    twice.write_text(head + first + second + "GE*2*" + tail)
    out = env / "out"
    code, output = submit(env, twice, "--out", out, "--no-dispatch")
    assert code == 0, output
    assert segments(out / "twice.999", "AK9") == [["AK9", "A", "2", "2", "2"]]
    responses = out / "twice.278"
    assert len(segments(responses, "ST")) == 2
    hcr = segments(responses, "HCR")  # 2000E and each 2000F, per response
    half = len(hcr) // 2
    assert hcr[:half] == hcr[half:] and hcr[0][1] == "A1" and hcr[0][2]
    assert len(cases(env)) == 1
    assert {s[2] for s in segments(responses, "REF") if s[1] == "NT"} == set(cases(env))
def test_a_bad_value_in_one_transaction_leaves_the_batch_answered(env: Path):
    """MSG values the reader cannot take (X12 syntax fine) in two transaction sets: each gets a
    278 with AAA 33 naming the value, the others are reviewed; the 999 and responses are all
    written. The file is padded as real traffic sometimes is."""
    text = BATCH.read_text()
    first, second, *rest = text.split("MSG*LINE_OF_THERAPY=1;")
    bad = env / "bad-values.x12"
    bad.write_text(
        "\ufeff" * 1400
        + "\r\n"
        + first
        + "MSG*PROGRAM=XYZ;LINE_OF_THERAPY=1;"
        + second
        + "MSG*HEIGHT_CM=abc;LINE_OF_THERAPY=1;"
        + "MSG*LINE_OF_THERAPY=1;".join(rest),
        encoding="utf-8",
    )
    code, output = submit(env, bad, "--out", env / "out", "--no-dispatch")
    assert code == 0, output
    sent = len(segments(BATCH, "ST"))
    ack = env / "out" / "bad-values.999"
    assert segments(ack, "IK5") == [["IK5", "A"]] * sent  # the syntax is fine
    responses = env / "out" / "bad-values.278"
    assert len(segments(responses, "ST")) == sent
    aaa = [s for s in segments(responses, "AAA") if s[3] == "33"]
    assert aaa == [["AAA", "N", "", "33", "C"]] * 2
    messages = " ".join(s[1] for s in segments(responses, "MSG"))
    assert "PROGRAM must be one of" in messages and "HEIGHT_CM must be a number" in messages
    # The other transaction sets were reviewed and stored: one case each, with their jobs. The
    # unknown member's answer ends at 2010C (no 2000E, so no REF*NT: issue 14 item 1).
    refs = [s[2] for s in segments(responses, "REF") if s[1] == "NT"]
    assert len(refs) == sent - 3 and set(refs) <= set(cases(env))
    assert jobs(env)
    assert f"{sent} of {sent} transaction sets accepted; {sent} responses" in output


def test_a_broken_interchange_gets_a_ta1(env: Path):
    broken = env / "broken.x12"
    broken.write_text(BATCH.read_text().replace("IEA*1*000000207", "IEA*1*000000999"))
    code, output = submit(env, broken, "--out", env / "out", "--no-dispatch")
    assert code == 0, output
    assert segments(env / "out" / "broken.ta1", "TA1")[0][4:6] == ["R", "001"]
    assert not (env / "out" / "broken.999").exists() and not (env / "out" / "broken.278").exists()
    assert cases(env) == []


def test_an_unknown_file_exits_2_with_a_message(env: Path):
    unknown = env / "notes.txt"
    unknown.write_text("this is not a request\n")
    other_json = env / "patient.json"
    other_json.write_text(json.dumps({"resourceType": "Patient"}))
    code, output = submit(env, JANE, unknown, other_json, env / "missing.x12", "--out", env / "out")
    assert code == 2
    assert "notes.txt: neither X12" in output
    assert "patient.json: JSON, but neither a PAS request" in output and "Patient" in output
    assert "missing.x12: no such file" in output
    assert "Traceback" not in output and "Nothing was submitted" in output
    assert not (env / "out").exists()  # checked before anything ran


def test_help_describes_the_command_and_every_option():
    result = CliRunner().invoke(app, ["submit", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for text in ("--out", "--no-dispatch", "X12 278", "PAS", "canonical case", "Exit code"):
        assert text in result.stdout, text
