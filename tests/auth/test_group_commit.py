"""X12 real-time requests sent at the same time are committed together in groups on SQLite
(gateway/api/group.py), each on its own on PostgreSQL; either way each is answered only once
its case, its jobs and its audit record are in the database, and a request that fails fails
alone."""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
from sqlalchemy import select

from gateway.api.app import create_app
from gateway.api.cases import CaseRequest
from gateway.api.group import GroupWriter
from gateway.audit.models import AuditRow
from gateway.conformance.observe import observe_x12
from gateway.settings import REPO_ROOT
from gateway.store.models import CaseRow
from tests.auth.conftest import CLEARINGHOUSE
from tests.conftest import jane_doe_request

pytestmark = pytest.mark.store  # the group's transaction is the store's: SQLite and PostgreSQL

SAMPLE = (REPO_ROOT / "samples" / "x12" / "278-act-dd-jane-doe.x12").read_text()
BASIC = (
    "Basic " + base64.b64encode(f"{CLEARINGHOUSE}:demo-clearinghouse-secret-0001".encode()).decode()
)


def interchange(n: int) -> bytes:
    """The sample as another interchange (ISA13, GS06) holding another request (BHT03, TRN02)."""
    control = f"{700 + n:09d}"
    text = SAMPLE.replace("000000201", control).replace("ACTDD0001", f"ACTDD{n:04d}")
    return text.replace("*201*X*", f"*{700 + n}*X*").replace("GE*1*201", f"GE*1*{700 + n}").encode()


async def _post_all(app, bodies: list[bytes]) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 4000))
    async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
        headers = {"Authorization": BASIC, "Content-Type": "application/edi-x12"}
        return list(
            await asyncio.gather(
                *(client.post("/x12/278", content=b, headers=headers) for b in bodies)
            )
        )


def test_concurrent_x12_requests_are_answered_once_committed_with_their_audit(
    settings, core, auth_settings
):
    app = create_app(settings, core=core, auth_settings=auth_settings)
    answers = asyncio.run(_post_all(app, [interchange(n) for n in range(1, 13)]))
    assert [a.status_code for a in answers] == [200] * 12
    case_ids = [a.headers["X-Case-Ids"] for a in answers]
    assert all(case_ids) and len(set(case_ids)) == 12  # twelve requests, twelve cases
    assert {observe_x12(a.content)["review_action"] for a in answers} == {"A1"}
    with core.sessions() as session:
        stored = set(session.execute(select(CaseRow.id)).scalars())
        audited = list(
            session.execute(select(AuditRow).where(AuditRow.event == "x12.submit")).scalars()
        )
    assert set(case_ids) <= stored
    assert sorted(row.case_id for row in audited) == sorted(case_ids)
    assert {(row.partner_id, row.outcome, row.path) for row in audited} == {
        (CLEARINGHOUSE, "0", "/x12/278")
    }
    # The same interchanges again: answered from what was stored, nothing new.
    again = asyncio.run(_post_all(app, [interchange(n) for n in range(1, 13)]))
    assert [a.headers["X-Answer-Kind"] for a in again] == ["replay"] * 12
    assert [a.content for a in again] == [a.content for a in answers]
    with core.sessions() as session:
        assert set(session.execute(select(CaseRow.id)).scalars()) == stored


def test_a_failing_request_fails_alone_and_its_failure_is_audited(core):
    writer = GroupWriter(core.store, core.sessions)
    audit_row = {"event": "test.submit", "action": "C", "outcome": "0", "path": "/x12/278"}

    def stores(n: int):
        def work(rows: list[dict]) -> str:
            result = core.submit(_case(core, n), actor="test", replay_key=f"group-test:{n}")
            rows.append({**audit_row, "case_id": result.case.id})
            return str(result.case.id)

        return work

    def fails(rows: list[dict]) -> str:
        rows.append({**audit_row, "outcome": "8", "outcome_desc": "RuntimeError"})
        with core.store.transaction() as tx:  # a unit that had written before it failed
            tx.remember("group-test:failed", [], "never answered", at=core.clock())
            raise RuntimeError("this request's own failure")

    async def send() -> list[object]:
        return await asyncio.gather(
            writer.run(stores(1)),
            writer.run(fails),
            writer.run(stores(2)),
            return_exceptions=True,
        )

    first, failed, second = asyncio.run(send())
    assert isinstance(failed, RuntimeError)
    assert isinstance(first, str) and isinstance(second, str) and first != second
    with core.sessions() as session:
        assert {first, second} <= set(session.execute(select(CaseRow.id)).scalars())
        recorded = list(
            session.execute(select(AuditRow).where(AuditRow.event == "test.submit")).scalars()
        )
    assert sorted((row.case_id or "", row.outcome) for row in recorded) == sorted(
        [(first, "0"), (second, "0"), ("", "8")]
    )
    with core.store.read() as tx:  # what the failed unit wrote was dropped with it
        assert tx.replay("group-test:failed") is None


def _case(core, n: int):
    body = jane_doe_request()
    body.setdefault("submitter_id", "sample-oncology-ehr")
    return CaseRequest.model_validate(body).to_case(received_at=core.clock())


def test_work_run_alone_is_answered_once_its_audit_record_has_committed(core):
    """PAS $submit (`grouped=False`): the work in the thread pool, its audit record in the
    writer's next group on SQLite (else a transaction of its own); answered only after that,
    and a failure of the work still audited."""
    writer = GroupWriter(core.store, core.sessions)
    audit_row = {"event": "test.alone", "action": "C", "outcome": "0", "path": "/fhir/Claim"}

    def stores(n: int):
        def work(rows: list[dict]) -> str:
            result = core.submit(_case(core, 10 + n), actor="test", replay_key=f"alone:{n}")
            rows.append({**audit_row, "case_id": result.case.id})
            return str(result.case.id)

        return work

    def fails(rows: list[dict]) -> str:
        rows.append({**audit_row, "outcome": "8"})
        raise RuntimeError("refused")

    def recorded() -> list[tuple[str, str]]:
        with core.sessions() as session:
            rows = session.execute(select(AuditRow).where(AuditRow.event == "test.alone"))
            return sorted((row.case_id or "", row.outcome) for row in rows.scalars())

    async def one_then_look(work) -> tuple[object, list[tuple[str, str]]]:
        try:
            answer: object = await writer.run(work, grouped=False)
        except RuntimeError as exc:
            answer = exc
        return answer, recorded()  # what the database holds the moment it is answered

    async def send() -> list[tuple[object, list[tuple[str, str]]]]:
        return list(
            await asyncio.gather(
                one_then_look(stores(1)), one_then_look(fails), one_then_look(stores(2))
            )
        )

    (first, seen1), (failed, seen_failed), (second, seen2) = asyncio.run(send())
    assert isinstance(failed, RuntimeError) and ("", "8") in seen_failed
    assert (first, "0") in seen1 and (second, "0") in seen2
    assert recorded() == sorted([(str(first), "0"), (str(second), "0"), ("", "8")])


def test_an_audit_record_of_work_done_survives_a_failed_group_commit(core, monkeypatch):
    """The audit record of work that committed on its own (PAS) is written alone when the
    group it joined fails to commit, as it is: not as a failure, which it was not."""
    writer = GroupWriter(core.store, core.sessions)
    if not writer.grouping:
        pytest.skip("groups only on SQLite")
    audit_row = {"event": "test.done", "action": "C", "outcome": "0", "path": "/fhir/Claim"}
    real_batch = core.store.batch

    def failing_batch(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(core.store, "batch", failing_batch)

    def work(rows: list[dict]) -> str:
        rows.append(dict(audit_row))
        return "answered"

    assert asyncio.run(writer.run(work, grouped=False)) == "answered"
    monkeypatch.setattr(core.store, "batch", real_batch)
    with core.sessions() as session:
        rows = session.execute(select(AuditRow).where(AuditRow.event == "test.done"))
        assert [(row.outcome, row.outcome_desc) for row in rows.scalars()] == [("0", None)]
