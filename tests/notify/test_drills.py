"""The outage drills as tests (issue 18 items 6 and 12): SMTP down then back, an HTTP fax API
down then back, a relay that accepts and never answers. Each ends with every job delivered
exactly once; the hung relay holds the e-mail lane only, never the faxes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from gateway.notify import staging
from gateway.notify.fax.spool import SpoolFaxGateway
from gateway.notify.worker import Dispatcher
from gateway.settings import REPO_ROOT, Settings

from .conftest import free_port, job_rows, store_case
from .factories import make_case, make_determination

NOW = datetime(2025, 3, 4, 16, 0, tzinfo=UTC)
CASES = [f"PA20250000{n:02d}" for n in range(1, 11)]


class Collector:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append(envelope)
        return "250 Message accepted for delivery"


class HungRelay:
    """A TCP server that accepts every connection and never says a word (no SMTP greeting)."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.create_server(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.held: list[socket.socket] = []
        self.accepted = threading.Event()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:  # the socket was closed under us
                return
            if self.stopped.is_set():  # release()'s own wake-up call, or one just after it
                conn.close()
                return
            self.held.append(conn)
            self.accepted.set()

    def release(self) -> None:
        """Stop listening and hang up on everyone."""
        if self.stopped.is_set():
            return
        self.stopped.set()
        # A blocking accept() is woken by neither close() nor (portably) shutdown(): a
        # connection of our own wakes it at once, instead of a timeout polling the flag.
        with socket.create_connection(self.sock.getsockname(), timeout=5):
            pass
        self.thread.join(timeout=5)
        self.sock.close()
        for conn in self.held:
            conn.close()


class FaxApi:
    """A real HTTP fax API on loopback (POST /v1/faxes, multipart with the PDF), which can be
    down (503) and up; it records every submission it accepts, by Idempotency-Key."""

    def __init__(self, port: int) -> None:
        self.accepted: list[str] = []
        self.refused = 0
        self.up = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if not api.up:
                    api.refused += 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                assert self.path == "/v1/faxes" and b"%PDF" in body
                key = self.headers["Idempotency-Key"]
                api.accepted.append(key)
                answer = json.dumps({"id": f"f{len(api.accepted)}", "status": "queued"}).encode()
                self.send_response(201)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        # shutdown() waits for serve_forever to look at its flag, once a poll_interval (0.5 s
        # by default): a short one ends each drill's API at once.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def store_cases(sessions: Any, settings: Settings, count: int = len(CASES)) -> None:
    for case_id in CASES[:count]:
        store_case(
            sessions,
            make_case(case_id),
            make_determination("approval"),
            settings=settings,
            previous_status="pended",
        )


def run_until_quiet(dispatcher: Dispatcher, start: datetime, passes: int = 20) -> datetime:
    """Pass after pass, each at the earliest time a queued job is due again."""
    at = start
    for _ in range(passes):
        dispatcher.run_once(now=at)
        queued = job_rows(dispatcher.sessions, state="queued")
        if not queued:
            return at
        at = max(at, min(datetime.fromisoformat(j["next_attempt_at"]) for j in queued))
    return at


def assert_each_delivered_once(sessions: Any) -> list[dict]:
    jobs = job_rows(sessions)
    assert {j["state"] for j in jobs} == {"delivered"}
    return jobs


def test_smtp_down_then_back_delivers_every_notice_once(settings: Settings, any_sessions) -> None:
    sessions = any_sessions
    port = free_port()
    smtp = settings.model_copy(update={"smtp_url": f"smtp://127.0.0.1:{port}"})
    store_cases(sessions, smtp, 4)
    dispatcher = Dispatcher(sessions, smtp, backoff_base=30, jitter=0)

    dispatcher.run_once(now=NOW)  # the relay is down: the letters go, the notices wait
    emails = job_rows(sessions, kind="email")
    assert len(emails) == 4
    assert {(j["state"], j["attempts"]) for j in emails} == {("queued", 1)}
    assert all(j["last_error"].startswith("MailError: SMTP delivery failed") for j in emails)
    others = [j for j in job_rows(sessions) if j["kind"] != "email"]
    assert {j["state"] for j in others} == {"delivered"}
    dispatcher.run_once(now=NOW + timedelta(seconds=30))  # still down: a second try each
    assert {j["attempts"] for j in job_rows(sessions, kind="email")} == {2}

    collector = Collector()
    controller = Controller(collector, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        run_until_quiet(dispatcher, NOW + timedelta(minutes=2))
        dispatcher.run_once(now=NOW + timedelta(days=1))  # nothing goes twice
    finally:
        controller.stop()
    jobs = assert_each_delivered_once(sessions)
    ids = Counter(message_from_bytes(m.content)["Message-ID"] for m in collector.messages)
    assert len(ids) == 4 and set(ids.values()) == {1}
    expected = {j["result"]["message_id"] for j in jobs if j["kind"] == "email"}
    assert set(ids) == expected


def test_http_fax_api_down_then_back_sends_every_fax_once(settings: Settings, any_sessions) -> None:
    sessions = any_sessions
    port = free_port()
    fax = settings.model_copy(
        update={"fax_gateway": "http", "fax_api_url": f"http://127.0.0.1:{port}/v1"}
    )
    store_cases(sessions, fax, 4)
    dispatcher = Dispatcher(sessions, fax, backoff_base=10, jitter=0)
    fax_jobs = job_rows(sessions, kind="fax")
    assert len(fax_jobs) >= 4

    dispatcher.run_once(now=NOW)  # nothing listens: connection refused
    assert {(j["state"], j["attempts"]) for j in job_rows(sessions, kind="fax")} == {("queued", 1)}
    api = FaxApi(port)
    try:
        dispatcher.run_once(now=NOW + timedelta(seconds=10))  # listening, answering 503
        assert api.refused == len(fax_jobs) and api.accepted == []
        assert all("503" in j["last_error"] for j in job_rows(sessions, kind="fax"))
        api.up = True
        run_until_quiet(dispatcher, NOW + timedelta(seconds=30))
        dispatcher.run_once(now=NOW + timedelta(days=1))
    finally:
        api.close()
    assert_each_delivered_once(sessions)
    delivered = job_rows(sessions, kind="fax")
    assert Counter(api.accepted) == Counter({key: 1 for key in set(api.accepted)})
    assert len(api.accepted) == len(delivered)  # one submission per job, none twice
    assert {j["attempts"] for j in delivered} == {3}


@pytest.fixture
def hung_relay() -> Iterator[HungRelay]:
    relay = HungRelay()
    yield relay
    relay.release()


def test_a_hung_relay_holds_only_the_email_lane(
    settings: Settings, any_sessions, hung_relay
) -> None:
    """The relay accepts and never answers, with a timeout far longer than the test: every fax
    (and every other letter) is delivered while the first e-mail attempt still hangs."""
    sessions = any_sessions
    relayed = settings.model_copy(
        update={
            "smtp_url": f"smtp://127.0.0.1:{hung_relay.port}",
            "smtp_timeout_seconds": 120.0,
            "outbox_lease_seconds": 300.0,
        }
    )
    # Four cases, as in the drills above: eight faxes and every other letter still have to get
    # through while the e-mail lane hangs (ten cases only made the wait longer).
    store_cases(sessions, relayed, 4)
    others_count = len([j for j in job_rows(sessions) if j["kind"] != "email"])
    dispatcher = Dispatcher(sessions, relayed, backoff_base=60, jitter=0)
    stop = threading.Event()
    # Every job is due at the start, and a lane that delivered passes again at once: the
    # interval only paces lanes with nothing to do, whose claims (every 0.05 s before) took
    # SQLite's write lock from the lanes at work. stop_event wakes them at once however long.
    thread = threading.Thread(target=dispatcher.run_forever, args=(stop, 1.0))
    thread.start()
    try:
        assert hung_relay.accepted.wait(30), "the e-mail lane never reached the relay"
        deadline = time.monotonic() + 60  # a wait for the work, not a measure of its speed
        # No e-mail can be delivered (the relay never answers): the others are done when this
        # many jobs are (one filtered query a poll).
        while time.monotonic() < deadline:
            if len(job_rows(sessions, state="delivered")) == others_count:
                break
            time.sleep(0.05)
        others = [j for j in job_rows(sessions) if j["kind"] != "email"]
        assert {j["state"] for j in others} == {"delivered"}
        # ... while the e-mail lane is still inside its first attempt, held by the relay.
        emails = job_rows(sessions, kind="email")
        assert [j["state"] for j in emails].count("sending") == 1
        assert {j["attempts"] for j in emails} <= {0, 1}
    finally:
        stop.set()  # the lanes finish the job in hand ...
        hung_relay.release()  # ... the relay hangs up: that attempt fails and backs off
        thread.join(timeout=60)
    assert not thread.is_alive()
    faxes = job_rows(sessions, kind="fax")
    assert len(faxes) >= 4 and {j["attempts"] for j in faxes} == {1}
    spooled = sorted(p.name for p in settings.fax_spool.iterdir())
    assert len(spooled) == len(faxes) and all(name.startswith("fx-") for name in spooled)
    emails = job_rows(sessions, kind="email")
    assert {j["state"] for j in emails} == {"queued"}
    assert all("SMTP" in (j["last_error"] or "") for j in emails if j["attempts"])


def test_a_silent_relay_times_out_and_the_notice_is_retried(settings: Settings, sessions) -> None:
    relay = HungRelay()
    try:
        relayed = settings.model_copy(
            update={"smtp_url": f"smtp://127.0.0.1:{relay.port}", "smtp_timeout_seconds": 0.2}
        )
        store_case(
            sessions,
            make_case(),
            make_determination("approval"),
            settings=relayed,
            previous_status="pended",
        )
        Dispatcher(sessions, relayed, backoff_base=30, jitter=0).run_once(now=NOW)
    finally:
        relay.release()
    (email,) = job_rows(sessions, kind="email")
    assert email["state"] == "queued" and email["attempts"] == 1
    assert email["last_error"] == "MailError: SMTP relay did not answer within 0.2 s"


def test_a_killed_writer_leaves_no_staging_folder(settings: Settings, tmp_path: Path) -> None:
    """A worker killed (SIGKILL) while it writes a fax into the spool leaves its staging folder;
    the next gateway to open the spool removes it. A live writer's folder is left alone."""
    spool = settings.fax_spool
    spool.mkdir(parents=True)
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from gateway.notify import staging\n"
        "folder = Path(sys.argv[1]) / staging.staging_name('fx-0123')\n"
        "folder.mkdir()\n"
        "(folder / 'document.pdf').write_bytes(b'%PDF-1.4 half a letter')\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", script, str(spool)], env=env, timeout=60)
    assert done.returncode == -signal.SIGKILL
    (orphan,) = spool.iterdir()
    assert orphan.name.startswith(staging.PREFIX)
    live = spool / staging.staging_name("fx-4567")  # this process's: still being written
    live.mkdir()

    gateway = SpoolFaxGateway(spool)
    assert sorted(p.name for p in spool.iterdir()) == [live.name]
    fax_id = gateway.submit("PA2025000001:fax:ordering", "2175550142", b"%PDF-1.4 letter")
    live.rmdir()
    assert [p.name for p in spool.iterdir()] == [fax_id]
