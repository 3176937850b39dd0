"""Drill: `gateway submit` killed with SIGKILL mid-batch, twice, then the same command again.

What must hold (issue 18, item 12): every transaction of the batch has exactly one case (and its
supportive cases) with its events and outbound jobs exactly once, and the rerun's 999 and 278
responses are complete. The oracle is the same batch submitted once without a kill on a
gateway of its own: per transaction (by BHT03), both stores hold the same outcome, the same
cases and the same jobs, and both answers carry the same review actions.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import select

from benchmarks.workload import write_batch
from gateway.store.models import CaseEventRow, CaseRow, OutboxJobRow, ReplayRow
from tests.drills.conftest import Gateway, kill_when

# Large enough to be caught mid-way twice (the second kill lands some 50 transactions in,
# leaving about as many to go), small enough for seconds.
TRANSACTIONS = 100
FIRST_KILL = 25  # cases stored when the first run is killed
SECOND_KILL = 40  # further cases stored by the rerun when it is killed in turn
# Cases committed together (GATEWAY_SUBMIT_BATCH_SIZE): small, so that a kill finds groups
# committed and one open; the open one (its savepoints released, not committed) is lost whole.
BATCH_SIZE = 7


def segments(text: str) -> list[list[str]]:
    return [s.strip().split("*") for s in text.split("~") if s.strip()]


def responses_by_transaction(path: Path) -> list[tuple[str, tuple[str, ...]]]:
    """(BHT03, the HCR01 and AAA03 codes) of each 278 response, in the order written."""
    answers: list[tuple[str, tuple[str, ...]]] = []
    bht03, codes = "", []
    for seg in segments(path.read_text()):
        if seg[0] == "ST":
            bht03, codes = "", []
        elif seg[0] == "BHT":
            bht03 = seg[3]
        elif seg[0] == "HCR":
            codes.append(f"HCR{seg[1]}")
        elif seg[0] == "AAA":
            codes.append(f"AAA{seg[3]}")
        elif seg[0] == "SE":
            answers.append((bht03, tuple(codes)))
    return answers


def store_by_transaction(gateway: Gateway) -> dict[str, Any]:
    """What the store holds for each transaction (by BHT03): its case's outcome, the outcomes
    of its supportive cases, and the events and jobs of all of them. Asserts on the way that
    each transaction has exactly one case and that no case or job belongs to none."""
    cases = {
        row.id: row
        for row in gateway.rows(
            select(CaseRow.id, CaseRow.status, CaseRow.related_case_id, CaseRow.determination_json)
        )
    }
    events = Counter(row[0] for row in gateway.rows(select(CaseEventRow.case_id)))
    jobs: dict[str, list[str]] = {}
    for case_id, kind in gateway.rows(select(OutboxJobRow.case_id, OutboxJobRow.kind)):
        jobs.setdefault(case_id, []).append(kind)
    children: dict[str, list[str]] = {}
    for row in cases.values():
        if row.related_case_id:
            children.setdefault(row.related_case_id, []).append(row.id)
    by_transaction: dict[str, Any] = {}
    covered: set[str] = set()
    for key, case_ids in gateway.rows(select(ReplayRow.key, ReplayRow.case_ids)):
        if not key.startswith("x12:"):
            continue
        bht03 = key.split(":")[2]
        assert bht03 not in by_transaction, f"transaction {bht03} stored twice"
        assert len(case_ids) == 1, f"transaction {bht03}: cases {case_ids}"
        [case_id] = case_ids
        family = [case_id, *sorted(children.get(case_id, []))]
        covered.update(family)
        by_transaction[bht03] = [
            (
                cases[one].status,
                (cases[one].determination_json or {}).get("review_action"),
                events[one],
                tuple(sorted(jobs.get(one, []))),
            )
            for one in family
        ]
    assert set(cases) == covered, f"cases of no transaction: {sorted(set(cases) - covered)}"
    assert set(jobs) <= covered, "outbound jobs of no transaction's case"
    return by_transaction


def test_submit_killed_mid_batch_twice_then_rerun_loses_and_duplicates_nothing(
    gateways: Callable[..., Gateway], tmp_path: Path
) -> None:
    batch = tmp_path / "batch.x12"
    write_batch(batch, TRANSACTIONS)
    sent = [seg[3] for seg in segments(batch.read_text()) if seg[0] == "BHT"]
    assert len(sent) == TRANSACTIONS

    drilled = gateways("drilled", GATEWAY_SUBMIT_BATCH_SIZE=str(BATCH_SIZE))
    out = drilled.root / "out"
    command = ("submit", batch, "--out", out, "--no-dispatch")
    stored = 0
    for more in (FIRST_KILL, SECOND_KILL):
        target = stored + more
        run = drilled.start(*command)
        kill_when(
            run,
            lambda target=target: drilled.count("SELECT count(*) FROM cases") >= target,
            f"{target} cases stored",
        )
        stored = drilled.count("SELECT count(*) FROM cases")
        transactions = drilled.count("SELECT count(*) FROM replays WHERE key LIKE 'x12:%'")
        # Killed mid-batch: some transactions stored, not all, and no answer file finished.
        assert target <= stored and 0 < transactions < TRANSACTIONS
        assert not (out / "batch.999").exists() and not (out / "batch.278").exists()
    output = drilled.run(*command)
    assert f"{TRANSACTIONS} of {TRANSACTIONS} transaction sets accepted" in output

    clean = gateways("clean")
    clean_out = clean.root / "out"
    clean.run("submit", batch, "--out", clean_out, "--no-dispatch")

    # The store: one case per transaction, with the same outcome, events and jobs as the
    # uninterrupted run's.
    after_kills = store_by_transaction(drilled)
    assert sorted(after_kills) == sorted(sent)
    assert after_kills == store_by_transaction(clean)
    jobs = drilled.rows("SELECT idempotency_key FROM outbox_jobs")
    assert jobs and len(jobs) == len(set(jobs))

    # The answers: a 999 for every transaction set and a 278 response for each, in order.
    ack = segments((out / "batch.999").read_text())
    assert [s for s in ack if s[0] == "AK9"] == [
        ["AK9", "A", str(TRANSACTIONS), str(TRANSACTIONS), str(TRANSACTIONS)]
    ]
    assert [s for s in ack if s[0] == "IK5"] == [["IK5", "A"]] * TRANSACTIONS
    answered = responses_by_transaction(out / "batch.278")
    assert [bht03 for bht03, _ in answered] == sent
    assert answered == responses_by_transaction(clean_out / "batch.278")
    assert not list(out.glob(".*.tmp")), "a killed run's partial answer was left behind"
