"""The X12 follow-up: a pended 278 decided later reaches its submitter, through the real app.

A clearinghouse sends a request that pends; a reviewer decides it (or the hold clock runs out);
the dispatcher delivers the `x12_followup` job; the clearinghouse finds the unsolicited 278
response in its mailbox (GET /x12/mailbox) and, when it registered one, at its callback URL.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from gateway.notify.deliver import Deliverer
from gateway.notify.worker import Dispatcher
from gateway.notify.x12_mailbox import X12Mailbox
from gateway.settings import REPO_ROOT
from gateway.store.models import OutboxJobRow
from gateway.wiring import Gateway
from gateway.x12.oracle import run_pyx12
from tests.conftest import bearer

SAMPLES = REPO_ROOT / "samples" / "x12"
CLEARINGHOUSE = "sample-clearinghouse"  # owns ISA06 CLEARINGHOUSE01, the samples' sender
OTHER = "sample-oncology-ehr"


def segments(data: bytes) -> list[list[str]]:
    text = data.decode()
    return [s.strip().split("*") for s in text.split("~") if s.strip()]


def first(data: bytes, seg_id: str, *starts: str) -> list[str]:
    """The first segment `seg_id` whose leading elements are `starts`."""
    for segment in segments(data):
        if segment[0] == seg_id and segment[1 : 1 + len(starts)] == list(starts):
            return segment
    raise AssertionError(f"no {seg_id}*{'*'.join(starts)} in {data!r}")


def as_partner(client, core, auth_settings, partner_id: str) -> dict[str, str]:
    return bearer(core, auth_settings, partner_id)


def submit(client, core, auth_settings, name: str) -> tuple[str, bytes]:
    """POST a sample as the clearinghouse; (case id, the real-time answer)."""
    response = client.post(
        "/x12/278",
        content=(SAMPLES / name).read_bytes(),
        headers={
            "Content-Type": "application/edi-x12",
            **as_partner(client, core, auth_settings, CLEARINGHOUSE),
        },
    )
    assert response.status_code == 200, response.text
    case_id = response.headers["X-Case-Ids"].split(",")[0]
    assert case_id
    return case_id, response.content


def approve(client, case_id: str) -> None:
    decision = {"reviewer": "dr-1", "decision": "approve", "rationale": "peer to peer held"}
    response = client.post(f"/cases/{case_id}/determination", json=decision)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "approved"


def drain(client) -> None:
    run_once = client.app.state.run_outbox_once
    while run_once():
        pass


def followup_jobs(core) -> list[OutboxJobRow]:
    with core.sessions() as session:
        query = select(OutboxJobRow).where(OutboxJobRow.kind == "x12_followup")
        return list(session.scalars(query.order_by(OutboxJobRow.id)))


@pytest.mark.store
def test_a_decided_pended_request_reaches_the_submitters_mailbox(client, core, auth_settings):
    case_id, realtime = submit(client, core, auth_settings, "278-tc-jane-doe.x12")
    assert first(realtime, "HCR")[1] == "A4"
    # Nothing is planned for the first answer: it went back in real time.
    assert followup_jobs(core) == []
    approve(client, case_id)
    drain(client)

    clearinghouse = as_partner(client, core, auth_settings, CLEARINGHOUSE)
    listing = client.get("/x12/mailbox", headers=clearinghouse)
    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert [item["case_id"] for item in items] == [case_id]
    item = items[0]
    assert item["size"] > 0 and item["created"]

    fetched = client.get(f"/x12/mailbox/{item['id']}", headers=clearinghouse)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"].startswith("application/edi-x12")
    data = fetched.content
    assert len(data) == item["size"]
    oracle = run_pyx12(data)
    assert oracle.valid, oracle.findings
    # Addressed to the sender, in its usage; control numbers of its own.
    isa = first(data, "ISA")
    assert isa[8].strip() == "CLEARINGHOUSE01" and isa[6].strip() == "GATEWAYUM"
    assert isa[15] == "T"
    assert isa[13] != first(realtime, "ISA")[13]
    # The decision, matched to the request: BHT03 and TRN*2 echo it, REF*NT names the case.
    assert first(data, "BHT")[2:4] == ["11", "TC0001"]
    assert first(data, "BHT")[6] == "18"  # no further updates follow a final decision
    assert first(data, "TRN", "2")[2:4] == ["TC0001", "9CLEARHOUS"]
    assert first(data, "TRN", "1")[2] == case_id
    assert first(data, "REF", "NT")[2] == case_id
    hcr = first(data, "HCR")
    assert hcr[1] == "A1" and hcr[2].startswith("ONC")

    # Fetched is acknowledged: no longer listed; the same id can be fetched again.
    assert client.get("/x12/mailbox", headers=clearinghouse).json()["items"] == []
    again = client.get(f"/x12/mailbox/{item['id']}", headers=clearinghouse)
    assert again.status_code == 200 and again.content == data

    # Another partner sees nothing, and the id is not found for it.
    other = as_partner(client, core, auth_settings, OTHER)
    assert client.get("/x12/mailbox", headers=other).json()["items"] == []
    assert client.get(f"/x12/mailbox/{item['id']}", headers=other).status_code == 404
    refused = client.get(f"/x12/mailbox?partner={CLEARINGHOUSE}", headers=other)
    assert refused.status_code == 403

    # One job, delivered; a second pass sends nothing again.
    jobs = followup_jobs(core)
    assert [(job.case_id, job.state) for job in jobs] == [(case_id, "delivered")]
    assert client.app.state.run_outbox_once() == 0


def test_operators_read_any_mailbox_without_acknowledging(client, core, auth_settings):
    case_id, _ = submit(client, core, auth_settings, "278-tc-jane-doe.x12")
    approve(client, case_id)
    drain(client)
    # The `client` fixture is the operator console.
    assert client.get("/x12/mailbox").json()["items"] == []  # its own mailbox: empty
    listing = client.get(f"/x12/mailbox?partner={CLEARINGHOUSE}")
    assert listing.status_code == 200
    (item,) = listing.json()["items"]
    assert client.get(f"/x12/mailbox/{item['id']}?partner={CLEARINGHOUSE}").status_code == 200
    # Still pending for the partner.
    clearinghouse = as_partner(client, core, auth_settings, CLEARINGHOUSE)
    assert [i["id"] for i in client.get("/x12/mailbox", headers=clearinghouse).json()["items"]] == [
        item["id"]
    ]
    assert client.get("/x12/mailbox/nonsense", headers=clearinghouse).status_code == 404
    assert client.get("/x12/mailbox/..%2F..%2Fetc", headers=clearinghouse).status_code == 404
    assert client.get("/x12/mailbox", headers={"Authorization": "Bearer nope"}).status_code == 401


@pytest.mark.store
def test_a_delivery_repeated_after_a_kill_leaves_one_item(client, core, auth_settings, settings):
    case_id, _ = submit(client, core, auth_settings, "278-tc-jane-doe.x12")
    approve(client, case_id)
    (job,) = followup_jobs(core)
    deliverer = Deliverer(settings)
    # A worker killed after the rename but before the outbox recorded it delivers again.
    first_result = deliverer(job, None)
    second_result = deliverer(job, None)
    assert "duplicate" not in first_result
    assert second_result["duplicate"] is True
    mailbox = X12Mailbox(settings.x12_mailbox_dir)
    (item,) = mailbox.pending(CLEARINGHOUSE)
    # Acknowledged, then delivered once more: still not back in the listing.
    assert mailbox.fetch(CLEARINGHOUSE, item["id"], acknowledge=True)
    assert deliverer(job, None)["duplicate"] is True
    assert mailbox.pending(CLEARINGHOUSE) == []
    # Nothing half-written is left beside the folders.
    folder = mailbox.folder(CLEARINGHOUSE)
    assert sorted(p.name for p in folder.iterdir()) == [".lock", "cur", "new"]


class Killed(BaseException):
    """The worker process dying (not an Exception: the dispatcher records no failure)."""


def test_a_worker_killed_after_writing_the_mailbox_leaves_one_item(
    client, core, auth_settings, settings, clock
):
    case_id, _ = submit(client, core, auth_settings, "278-tc-jane-doe.x12")
    approve(client, case_id)
    real = Deliverer(settings)

    def dies_after_writing(job, case_json):
        real(job, case_json)
        raise Killed()

    first_worker = Dispatcher(core.sessions, settings, deliver=dies_after_writing, clock=clock)
    with pytest.raises(Killed):
        first_worker.run_once()
    (job,) = followup_jobs(core)
    assert job.state == "sending"  # its lease runs on
    # Another worker takes the job once the lease has expired: the item is there, not doubled.
    later = clock.now + timedelta(seconds=settings.outbox_lease_seconds + 1)
    assert Dispatcher(core.sessions, settings, clock=clock).run_once(now=later) >= 1
    (job,) = followup_jobs(core)
    assert job.state == "delivered" and job.result["duplicate"] is True
    items = X12Mailbox(settings.x12_mailbox_dir).pending(CLEARINGHOUSE)
    assert [item["case_id"] for item in items] == [case_id]


class Callback:
    """A partner's callback endpoint on loopback: answers 500 to the first POST, then 200."""

    def __init__(self) -> None:
        self.received: list[tuple[int, dict[str, str], bytes]] = []
        callback = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = 500 if not callback.received else 200
                callback.received.append((status, dict(self.headers), body))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/x12-inbox"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)


@pytest.fixture
def callback() -> Iterator[Callback]:
    server = Callback()
    server.thread.start()
    yield server
    server.server.shutdown()


def test_the_callback_gets_it_once_after_a_first_500(client, core, auth_settings, callback):
    # Refused where it is set: http to a private address is not for partners to choose.
    bad = client.put(
        f"/partners/{CLEARINGHOUSE}/callback", json={"callback_url": "http://10.1.2.3/in"}
    )
    assert bad.status_code == 422 and "https" in bad.json()["detail"]
    not_operator = client.put(
        f"/partners/{CLEARINGHOUSE}/callback",
        json={"callback_url": callback.url},
        headers=as_partner(client, core, auth_settings, CLEARINGHOUSE),
    )
    assert not_operator.status_code == 403
    # Loopback over http only because the development allow-list names it.
    core.settings.subscription_allowed_hosts = ["127.0.0.1"]
    set_it = client.put(f"/partners/{CLEARINGHOUSE}/callback", json={"callback_url": callback.url})
    assert set_it.status_code == 200, set_it.text
    assert set_it.json()["callback_url"] == callback.url

    case_id, _ = submit(client, core, auth_settings, "278-tc-jane-doe.x12")
    approve(client, case_id)
    run_once = client.app.state.run_outbox_once
    run_once()
    (job,) = followup_jobs(core)
    assert job.state == "queued" and job.attempts == 1 and "500" in (job.last_error or "")
    # The mailbox has it already; the retry only calls again.
    mailbox = X12Mailbox(core.settings.x12_mailbox_dir)
    assert [item["case_id"] for item in mailbox.pending(CLEARINGHOUSE)] == [case_id]
    later = job.next_attempt_at + timedelta(seconds=1)
    while run_once(now=later):
        pass
    assert run_once(now=later + timedelta(hours=1)) == 0
    (job,) = followup_jobs(core)
    assert job.state == "delivered" and job.result["callback_status"] == 200
    assert [status for status, _, _ in callback.received] == [500, 200]
    _, headers, body = callback.received[1]
    assert headers["Content-Type"] == "application/edi-x12"
    assert headers["Idempotency-Key"] == job.idempotency_key
    assert first(body, "REF", "NT")[2] == case_id and run_pyx12(body).valid
    assert len(mailbox.pending(CLEARINGHOUSE)) == 1


def test_hold_expiry_on_the_workers_clock_sends_a_followup(
    client, core, auth_settings, settings, clock
):
    case_id, realtime = submit(client, core, auth_settings, "278-act-without-z1732.x12")
    assert first(realtime, "HCR")[1] == "A4"
    assert core.get(case_id).status.value == "held"
    clock.now = clock.now + timedelta(days=60)
    # The worker's dispatcher: its clock tick expires the hold, its pass delivers the job.
    dispatcher = Gateway(settings, core).dispatcher()
    while dispatcher.run_once():
        pass
    assert core.get(case_id).status.value == "pended"
    clearinghouse = as_partner(client, core, auth_settings, CLEARINGHOUSE)
    (item,) = client.get("/x12/mailbox", headers=clearinghouse).json()["items"]
    assert item["case_id"] == case_id
    data = client.get(f"/x12/mailbox/{item['id']}", headers=clearinghouse).content
    assert run_pyx12(data).valid
    assert first(data, "HCR")[1] == "A4"
    assert first(data, "BHT")[6] == "19"  # still pended: further updates follow


def with_supportive_line(text: str) -> str:
    """The TC request with a third 2000F: pegfilgrastim (J2506), a supportive drug the core
    splits into its own case."""
    added = [
        "HL*7*4*SS*0",
        "TRN*1*TC0001-3*9CLEARHOUS",
        "UM*HS*I*78*11:B",
        "DTP*472*D8*20261201",
        "SV1*HC:J2506**UN*1",
    ]
    segs = [s.strip() for s in text.split("~") if s.strip()]
    se = next(i for i, s in enumerate(segs) if s.startswith("SE*"))
    count = int(segs[se].split("*")[1]) + len(added)
    segs[se : se + 1] = [*added, f"SE*{count}*0001"]
    return "~\n".join(segs) + "~\n"


def test_a_supportive_case_split_from_the_request_gets_its_own_followup(
    client, core, auth_settings
):
    body = with_supportive_line((SAMPLES / "278-tc-jane-doe.x12").read_text())
    response = client.post(
        "/x12/278",
        content=body.encode(),
        headers={
            "Content-Type": "application/edi-x12",
            **as_partner(client, core, auth_settings, CLEARINGHOUSE),
        },
    )
    assert response.status_code == 200, response.text
    primary = response.headers["X-Case-Ids"].split(",")[0]
    (child,) = core.get(primary).children
    approve(client, primary)
    drain(client)
    clearinghouse = as_partner(client, core, auth_settings, CLEARINGHOUSE)
    items = client.get("/x12/mailbox", headers=clearinghouse).json()["items"]
    by_case = {item["case_id"]: item["id"] for item in items}
    assert set(by_case) == {primary, child}
    data = client.get(f"/x12/mailbox/{by_case[child]}", headers=clearinghouse).content
    assert run_pyx12(data).valid
    assert first(data, "REF", "NT")[2] == child
    assert first(data, "TRN", "2")[2] == "TC0001"  # the request's own trace
    # One 2000F: the supportive drug's, with its own trace.
    services = [s for s in segments(data) if s[0] == "SV1"]
    assert [s[1] for s in services] == ["HC:J2506"]
    assert [s[2] for s in segments(data) if s[:2] == ["TRN", "2"]] == ["TC0001", "TC0001-3"]


def test_a_change_the_submitter_sends_itself_is_answered_once_not_followed_up(
    client, core, auth_settings
):
    """A cancel sent by the clearinghouse is answered in real time (HCR*C); the cancelled case
    plans no unsolicited copy of that answer, while a reviewer's later decision does."""
    from tests.x12.test_changes import change

    original = (SAMPLES / "278-act-dd-jane-doe.x12").read_text()
    case_id, answer = submit(client, core, auth_settings, "278-act-dd-jane-doe.x12")
    auth = first(answer, "HCR", "A1")[2]
    cancel = change(original, um02="3", n=31, reference=auth)
    response = client.post(
        "/x12/278",
        content=cancel.encode(),
        headers={
            "Content-Type": "application/edi-x12",
            **as_partner(client, core, auth_settings, CLEARINGHOUSE),
        },
    )
    assert response.status_code == 200 and b"HCR*C" in response.content
    assert client.get(f"/cases/{case_id}").json()["status"] == "cancelled"
    assert [job for job in followup_jobs(core) if job.case_id == case_id] == []
