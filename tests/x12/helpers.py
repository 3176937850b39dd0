"""Shared test material for the X12 channel: files, broken variants, a fake core."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gateway.domain.case import (
    Case,
    CaseStatus,
    Determination,
    LineDetermination,
    PendKind,
    Reason,
    Rejection,
)
from gateway.settings import REPO_ROOT, get_settings
from gateway.x12.ack import GroupAck
from gateway.x12.envelope import (
    Group,
    Interchange,
    SeenControlNumbers,
    check_group,
    parse_interchange,
)
from gateway.x12.grammar import REPO_MAP_DIR
from gateway.x12.intake import REQUEST_GRAMMAR, request_implementation
from gateway.x12.oracle import normalize_reference
from gateway.x12.tokens import tokenize
from gateway.x12.validate import validate_transaction
from tests.cli import Ran, run_in_process
from tests.conftest import migrated_sqlite_url

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples" / "x12"
REFERENCE = get_settings().reference_dir / "x12"
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
X12_ID = "GATEWAYUM"

VALID_REFERENCES = [
    "Example_3_1_1_Request.txt",
    "Example_3_1_2_Response.txt",
    "Example_3_2_1_Request.txt",
    "Example_3_2_2_Response.txt",
]
BROKEN_REFERENCES = ["Example_3_3_1_Request.txt", "Example_3_3_2_Response.txt"]


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


def sample_names() -> list[str]:
    return sorted(p.name for p in SAMPLES.glob("*.x12"))


HAVE_REFERENCE = REFERENCE.is_dir()


def reference(name: str) -> str:
    """A reference example, normalized; the test skips where shared/reference is absent."""
    if not HAVE_REFERENCE:
        pytest.skip("shared/reference is not beside the checkout")
    return normalize_reference((REFERENCE / name).read_bytes())


def segments_of(text: str) -> list[str]:
    return [s.strip() for s in text.split("~") if s.strip()]


def join(segments: list[str]) -> str:
    return "~\n".join(segments) + "~\n"


def _fix_se(segments: list[str], st_index: int, delta: int) -> None:
    for i in range(st_index, len(segments)):
        if segments[i].startswith("SE*"):
            parts = segments[i].split("*")
            parts[1] = str(int(parts[1]) + delta)
            segments[i] = "*".join(parts)
            return


def _first(segments: list[str], prefix: str, after: int = 0) -> int:
    return next(i for i in range(after, len(segments)) if segments[i].startswith(prefix))


def drop_subscriber_name(text: str, nth_transaction: int = 0) -> str:
    segs = segments_of(text)
    st = [i for i, s in enumerate(segs) if s.startswith("ST*")][nth_transaction]
    del segs[_first(segs, "NM1*IL*", st)]
    _fix_se(segs, st, -1)  # only the intended fault remains
    return join(segs)


def set_element(text: str, prefix: str, position: int, value: str, nth: int = 0) -> str:
    segs = segments_of(text)
    hits = [i for i, s in enumerate(segs) if s.startswith(prefix)]
    parts = segs[hits[nth]].split("*")
    parts += [""] * (position + 1 - len(parts))
    parts[position] = value
    segs[hits[nth]] = "*".join(parts)
    return join(segs)


def bad_um02(text: str) -> str:
    return set_element(text, "UM*", 2, "Z")


def bad_date(text: str) -> str:
    return set_element(text, "BHT*", 4, "20261341")


def wrong_se01(text: str) -> str:
    segs = segments_of(text)
    _fix_se(segs, 0, 2)
    return join(segs)


def wrong_iea02(text: str) -> str:
    return set_element(text, "IEA*", 2, "999999999")


def truncated(text: str) -> str:
    segs = segments_of(text)
    return join(segs[: len(segs) // 2])


def wrong_delimiters(text: str) -> str:
    segs = segments_of(text)
    return join([segs[0]] + [s.replace("*", "|") for s in segs[1:]])


VARIANTS: dict[str, Callable[[str], str]] = {
    "missing NM1*IL": drop_subscriber_name,
    "UM02 Z": bad_um02,
    "bad BHT04 date": bad_date,
    "wrong SE01": wrong_se01,
    "wrong IEA02": wrong_iea02,
    "truncated": truncated,
    "wrong delimiters": wrong_delimiters,
}


def transactions(text: str):
    delims, segs = tokenize(text)
    ix = parse_interchange(delims, segs)
    return delims, [t for g in ix.groups for t in g.transactions]


# ---------------------------------------------------------------- a fake core


def approve(case: Case, key: str) -> tuple[Case, Determination]:
    stored = case.model_copy(update={"id": "CASE-0001"})
    return stored, Determination(
        status=CaseStatus.APPROVED,
        review_action="A1",
        reason=Reason(code="PATHWAY_PREFERRED", text="Preferred pathway regimen: dd AC-T."),
        auth_number="AUTH123456",
        period_start=date(2026, 12, 1),
        period_end=date(2027, 9, 30),
        decided_at=NOW,
        lines=[
            LineDetermination(
                sequence=line.sequence, code=line.code, review_action="A1", auth_number="AUTH123456"
            )
            for line in case.service_lines
        ],
    )


def pend(case: Case, key: str) -> tuple[Case, Determination]:
    return case.model_copy(update={"id": "CASE-0002"}), Determination(
        status=CaseStatus.PENDED,
        review_action="A4",
        pend_kind=PendKind.CLINICAL_REVIEW,
        reason=Reason(
            code="CUSTOM_PLAN",
            text="Custom treatment plan: clinical review. " * 20,
            x12_reason="0U",
        ),
        updates_follow=True,
        decided_at=NOW,
    )


def member_not_found(case: Case, key: str) -> tuple[Case, Determination]:
    return case, Determination(
        status=CaseStatus.REJECTED,
        review_action="A3",
        reason=Reason(code="MEMBER_NOT_FOUND", text="Subscriber/insured not found."),
        rejection=Rejection(
            loop="2010C", aaa_code="75", follow_up="C", text="Subscriber/insured not found."
        ),
        decided_at=NOW,
    )


def not_required(case: Case, key: str) -> tuple[Case, Determination]:
    return case, Determination(
        status=CaseStatus.NOT_REQUIRED,
        review_action="NA",
        reason=Reason(
            code="SETTING_EXCLUDED",
            text="No prior authorization required in the emergency room (place of service 23).",
        ),
        decided_at=NOW,
    )


def check_groups(ix: Interchange, map_dir: Path = REPO_MAP_DIR) -> list[tuple[Group, GroupAck]]:
    """The 999 facts of every group of a parsed interchange, validation only (what the oracle
    comparisons set against pyx12); the gateway answers through gateway.x12.engine, whose
    byte-pinned answers cover the same checks."""
    out: list[tuple[Group, GroupAck]] = []
    for group in ix.groups:
        ge_count = group.ge.get(1) if group.ge else ""
        ack = GroupAck(
            group.gs.get(1),
            group.gs.get(6),
            group.gs.get(8),
            codes=check_group(group).codes,
            included=int(ge_count) if ge_count.isdigit() else None,
        )
        seen = SeenControlNumbers()
        for transaction in group.transactions:
            grammar = REQUEST_GRAMMAR(map_dir, request_implementation(transaction, group.gs))
            report = validate_transaction(transaction.segments, ix.delims, grammar)
            if seen.add(transaction.st.get(2)):
                report.set_codes.append("23")
            ack.reports.append(report)
        out.append((group, ack))
    return out


def run_submit(source: Path, tmp_path: Path, **settings: str) -> tuple[Ran, Path]:
    """The real `gateway submit SOURCE --out OUT` on a fresh SQLite store under tmp_path, as of
    the tests' frozen clock, with GATEWAY_* `settings` on top; (the run, OUT). The command runs
    in this process with that environment (tests/cli.py); the kill drills run it as a process."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "GATEWAY_DATABASE_URL": migrated_sqlite_url(tmp_path / "gateway.db"),
        "GATEWAY_FAX_SPOOL": str(tmp_path / "fax"),
        "GATEWAY_MAIL_DIR": str(tmp_path / "mail"),
        "GATEWAY_MEMBER_MAIL_DIR": str(tmp_path / "member-mail"),
        "GATEWAY_PAYER_FEED_DIR": str(tmp_path / "payer-feed"),
        "GATEWAY_FAX_GATEWAY": "spool",
        "GATEWAY_FROZEN_TIME": "2026-11-23T15:00:00Z",
        **settings,
    }
    env.pop("GATEWAY_SMTP_URL", None)
    out = tmp_path / "out"
    return run_in_process(env, "submit", str(source), "--out", str(out)), out
