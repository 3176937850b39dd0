"""Fax gateways: the spool (atomic, deduplicated), HylaFAX (protocol) and a generic HTTP API."""

from __future__ import annotations

import json
import os
import socket
import threading
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from gateway.notify.fax import FaxError, FaxJobNotFound, make_fax_gateway
from gateway.notify.fax.base import FaxGateway
from gateway.notify.fax.http import HttpFaxGateway
from gateway.notify.fax.hylafax import HylaFaxGateway, job_tag
from gateway.notify.fax.spool import SpoolFaxGateway
from gateway.notify.jobs import provider_recipient
from gateway.notify.letters import render_letter
from gateway.notify.member_mail import MemberMailBatch
from gateway.notify.payer_feed import PayerFeed
from gateway.settings import Settings

from .factories import make_case, make_determination
from .fake_hylafax import FakeHylaFax

KEY = "PA2025000001:letter:ordering:approved:2025-03-04T15:30:00+00:00"


@pytest.fixture(scope="module")
def letter() -> bytes:
    case = make_case()
    recipient = provider_recipient("ordering", case.ordering)  # type: ignore[arg-type]
    return render_letter("approval", case, make_determination("approval"), recipient)


# -- spool -------------------------------------------------------------------------------------


def test_spool_writes_a_folder_per_fax(tmp_path: Path, letter: bytes) -> None:
    spool = SpoolFaxGateway(tmp_path / "fax")
    assert isinstance(spool, FaxGateway)
    fax_id = spool.submit(KEY, "2175550142", letter)
    folder = tmp_path / "fax" / fax_id
    assert (folder / "document.pdf").read_bytes() == letter
    job = json.loads((folder / "job.json").read_text())
    assert job["number"] == "2175550142" and job["state"] == "queued"
    assert job["idempotency_key"] == KEY
    assert spool.status(fax_id) == "queued"
    assert spool.queued() == [fax_id]
    spool.mark(fax_id, "sending")
    spool.mark(fax_id, "delivered", "confirmed by the receiving machine")
    assert spool.status(fax_id) == "delivered"
    assert [h["to"] for h in spool.job(fax_id)["history"]] == ["sending", "delivered"]
    assert not [p for p in (tmp_path / "fax").iterdir() if p.name.startswith(".tmp-")]
    assert not [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


def test_a_spooled_fax_a_member_letter_and_a_feed_file_are_named_durably(
    tmp_path: Path, letter: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The folder a letter was renamed into is fsynced after the rename (the rename lives in
    the folder): a power loss after the job is recorded delivered keeps the letter."""

    fsynced: list[str] = []
    real_fsync = os.fsync

    this_thread = threading.get_ident()

    def fsync(descriptor: int) -> None:
        # This test's own writes only: a thread another test left running (a lane finishing
        # its job) may fsync at the same time.
        if threading.get_ident() == this_thread:
            fsynced.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real_fsync(descriptor)

    monkeypatch.setattr(os, "fsync", fsync)
    spool_root = tmp_path / "fax"
    fax_id = SpoolFaxGateway(spool_root).submit(KEY, "2175550142", letter)
    # The letter and its job file first, then the spool folder that now names the fax.
    assert fsynced[-1] == str(spool_root) and (spool_root / fax_id).is_dir()
    assert any(path.endswith("document.pdf") for path in fsynced[:-1])

    fsynced.clear()
    mail = MemberMailBatch(tmp_path / "mail")
    day = date(2025, 3, 4)
    mail.add(
        job_key=KEY,
        job_id=1,
        case_id="PA2025000001",
        pdf=letter,
        pages=1,
        day=day,
        recipient_role="member",
        letter="approval",
    )
    folder = str(tmp_path / "mail" / day.isoformat())
    renamed = fsynced.index(folder)  # the day's folder, after the letter's own file
    assert any(".tmp-" in path and path.endswith(".pdf") for path in fsynced[:renamed])
    # ...and again once its manifest was created (the day's first entry).
    assert fsynced.count(folder) == 2 and fsynced[-1] == folder

    # The payer feed: a day's file created by its first line, its folder fsynced after it.
    fsynced.clear()
    feed = PayerFeed(tmp_path / "feed")
    written = feed.append(job_key=KEY, payer_id="62308", record={"case_id": "PA1"}, day=day)
    feed_file = str(tmp_path / "feed" / written["file"])
    assert fsynced[-2:] == [feed_file, str(Path(feed_file).parent)]
    fsynced.clear()
    feed.append(job_key=KEY + ":2", payer_id="62308", record={"case_id": "PA1"}, day=day)
    assert fsynced[-1] == feed_file  # a line more: the file only


def test_spool_dedupes_the_same_key(tmp_path: Path, letter: bytes) -> None:
    spool = SpoolFaxGateway(tmp_path / "fax")
    first = spool.submit(KEY, "2175550142", letter)
    assert spool.submit(KEY, "2175550142", letter) == first
    other = spool.submit(KEY.replace("ordering", "facility"), "2175550199", letter)
    assert other != first
    assert sorted(p.name for p in (tmp_path / "fax").iterdir()) == sorted([first, other])


def test_spool_dedupes_concurrent_submissions(tmp_path: Path, letter: bytes) -> None:
    spool = SpoolFaxGateway(tmp_path / "fax")
    ids: list[str] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        barrier.wait()
        ids.append(spool.submit(KEY, "2175550142", letter))

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(ids)) == 1
    assert [p.name for p in (tmp_path / "fax").iterdir()] == [ids[0]]


def test_spool_write_is_atomic(tmp_path: Path, letter: bytes, monkeypatch) -> None:
    """A crash before the rename leaves no folder (and no half-written one) behind."""
    spool = SpoolFaxGateway(tmp_path / "fax")

    def crash(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "rename", crash)
    with pytest.raises(FaxError):
        spool.submit(KEY, "2175550142", letter)
    assert list((tmp_path / "fax").iterdir()) == []
    monkeypatch.undo()
    fax_id = spool.submit(KEY, "2175550142", letter)
    assert spool.status(fax_id) == "queued"


def test_spool_cancel_and_unknown(tmp_path: Path, letter: bytes) -> None:
    spool = SpoolFaxGateway(tmp_path / "fax")
    fax_id = spool.submit(KEY, "2175550142", letter)
    spool.cancel(fax_id)
    assert spool.status(fax_id) == "failed"
    with pytest.raises(FaxJobNotFound):
        spool.status("fx-000000000000000000000000")
    with pytest.raises(FaxJobNotFound):
        spool.status("../etc")


# -- HylaFAX -----------------------------------------------------------------------------------


@pytest.fixture
def fake_hfaxd() -> Iterator[FakeHylaFax]:
    server = FakeHylaFax().start()
    yield server
    server.stop()


def test_hylafax_submit_status_cancel(fake_hfaxd: FakeHylaFax, letter: bytes) -> None:
    gateway = HylaFaxGateway("127.0.0.1", fake_hfaxd.port, "gateway", timeout=5)
    fax_id = gateway.submit(KEY, "2175550142", letter)
    job = fake_hfaxd.jobs[int(fax_id)]
    assert job.submitted and job.documents == [letter]
    assert job.params["DIALSTRING"] == "2175550142"
    assert job.params["JOBINFO"] == job_tag(KEY)
    assert KEY not in " ".join(fake_hfaxd.commands)  # the key travels hashed
    assert gateway.status(fax_id) == "queued"
    # A retried delivery finds its job by tag instead of faxing twice.
    assert gateway.submit(KEY, "2175550142", letter) == fax_id
    assert len(fake_hfaxd.jobs) == 1
    gateway.cancel(fax_id)
    assert gateway.status(fax_id) == "failed"
    gateway.cancel(fax_id)  # already done: nothing to do
    with pytest.raises(FaxJobNotFound):
        gateway.status("4242")


def test_hylafax_server_down_is_a_retryable_error(letter: bytes) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FaxError):
        HylaFaxGateway("127.0.0.1", port, timeout=2).submit(KEY, "2175550142", letter)


def _real_hfaxd() -> tuple[str, int] | None:
    """A real hfaxd (Debian's hylafax-server) on GATEWAY_TEST_HYLAFAX or 127.0.0.1:4559."""
    host, _, port = os.environ.get("GATEWAY_TEST_HYLAFAX", "127.0.0.1:4559").partition(":")
    try:
        with socket.create_connection((host, int(port or 4559)), timeout=1) as probe:
            greeting = probe.recv(200)
    except OSError:
        return None
    return (host, int(port or 4559)) if b"HylaFAX" in greeting else None


@pytest.mark.skipif(_real_hfaxd() is None, reason="no HylaFAX server (hfaxd) listening")
def test_real_hylafax_server_queues_the_letter(letter: bytes) -> None:
    host, port = _real_hfaxd()  # type: ignore[misc]
    gateway = HylaFaxGateway(host, port, "gateway", timeout=10)
    key = f"{KEY}:{os.getpid()}:{os.urandom(4).hex()}"
    fax_id = gateway.submit(key, "2175550142", letter)
    assert fax_id.isdigit()
    assert gateway.submit(key, "2175550142", letter) == fax_id
    # No modem: the job waits in the server's queue.
    assert gateway.status(fax_id) in ("queued", "sending")
    gateway.cancel(fax_id)
    assert gateway.status(fax_id) == "failed"


# -- HTTP fax API ------------------------------------------------------------------------------


def test_http_fax_api(letter: bytes) -> None:
    faxes: dict[str, dict] = {}
    by_key: dict[str, str] = {}

    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/v1/faxes":
            key = request.headers["Idempotency-Key"]
            assert b'name="to"' in request.content and b"2175550142" in request.content
            assert letter in request.content
            fax_id = by_key.setdefault(key, f"F{len(by_key) + 1}")
            faxes.setdefault(fax_id, {"id": fax_id, "status": "queued"})
            return httpx.Response(201, json=faxes[fax_id])
        fax_id = request.url.path.rsplit("/", 1)[1]
        if fax_id not in faxes:
            return httpx.Response(404)
        if request.method == "DELETE":
            faxes[fax_id]["status"] = "cancelled"
            return httpx.Response(204)
        return httpx.Response(200, json=faxes[fax_id])

    client = httpx.Client(transport=httpx.MockTransport(api))
    gateway = HttpFaxGateway("https://fax.example.invalid/v1", client=client)
    fax_id = gateway.submit(KEY, "2175550142", letter)
    assert gateway.submit(KEY, "2175550142", letter) == fax_id
    assert gateway.status(fax_id) == "queued"
    faxes[fax_id]["status"] = "delivered"
    assert gateway.status(fax_id) == "delivered"
    gateway.cancel(fax_id)
    assert gateway.status(fax_id) == "failed"
    with pytest.raises(FaxJobNotFound):
        gateway.status("F99")


def test_http_fax_api_errors_are_retryable(letter: bytes) -> None:
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(503)))
    gateway = HttpFaxGateway("https://fax.example.invalid/v1", client=client)
    with pytest.raises(FaxError):
        gateway.submit(KEY, "2175550142", letter)


def test_factory_picks_the_gateway(settings: Settings) -> None:
    assert make_fax_gateway(settings).name == "spool"
    assert (
        make_fax_gateway(settings.model_copy(update={"fax_gateway": "hylafax"})).name == "hylafax"
    )
    http = settings.model_copy(
        update={"fax_gateway": "http", "fax_api_url": "https://fax.example.invalid"}
    )
    assert make_fax_gateway(http).name == "http"
    with pytest.raises(ValueError):
        make_fax_gateway(settings.model_copy(update={"fax_gateway": "http"}))
    with pytest.raises(ValueError):
        make_fax_gateway(settings.model_copy(update={"fax_gateway": "pigeon"}))
