"""Bounded work per FHIR request (issue 18, items 4 and 9) through the real app: hostile bodies
on every FHIR POST route are refused with 400/413 and an OperationOutcome, PAS attachment limits
name the attachment, $inquire reads a bounded, NPI-filtered slice of a member's cases, a slow
body is cut off with 408 while /healthz keeps answering on a real socket."""

from __future__ import annotations

import asyncio
import base64
import copy
import http.client
import json
import socket
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.fhir import constants as k
from gateway.fhir.body import (
    MAX_DEPTH,
    MAX_VALUES,
    BodyRefused,
    _plainly_within,
    check_value,
    read_json,
)
from gateway.fhir.bundle import BundleIndex, base_of
from gateway.partners.settings import MIB
from gateway.settings import REPO_ROOT
from tests.conftest import (
    jane_doe_request,
    make_auth_settings,
    unthrottled_client,
)
from tests.conftest import make_settings as make_gateway_settings

PAS = json.loads((REPO_ROOT / "samples" / "pas" / "ddact-her2neg.json").read_text())
FHIR_JSON = {"Content-Type": "application/fhir+json"}
LONG = 40_000


def subscription() -> dict[str, Any]:
    return {
        "resourceType": "Subscription",
        "status": "requested",
        "reason": "PAS results for Hope Oncology",
        "criteria": k.SUBSCRIPTION_TOPIC,
        "_criteria": {
            "extension": [{"url": k.EXT_BACKPORT_FILTER, "valueString": "orgIdentifier=1987654328"}]
        },
        "channel": {
            "type": "rest-hook",
            "endpoint": "https://ehr.hope-oncology.example/pas/notify",
            "payload": "application/fhir+json",
        },
    }


ROUTES: dict[str, Callable[[], dict[str, Any]]] = {
    "/fhir/Claim/$submit": lambda: copy.deepcopy(PAS),
    "/fhir/Claim/$inquire": lambda: copy.deepcopy(PAS),
    "/fhir/Subscription": subscription,
}


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    folder: Path = tmp_path_factory.mktemp("bounds")
    gateway_settings = make_gateway_settings(folder)
    with unthrottled_client(gateway_settings) as client:
        yield client


# -- hostile bodies -------------------------------------------------------------------------


def _set_first(node: Any, key: str, value: Any) -> bool:
    """Replace the first string under `key` (depth first) with value; False if there is none."""
    if isinstance(node, dict):
        if isinstance(node.get(key), str):
            node[key] = value
            return True
        return any(_set_first(child, key, value) for child in node.values())
    if isinstance(node, list):
        return any(_set_first(child, key, value) for child in node)
    return False


Hostile = Callable[[dict[str, Any]], bytes | None]


def _long(key: str, filler: str = "A") -> Hostile:
    """The body with its first `key` string made 40,000 characters long (None: no such key)."""

    def make(body: dict[str, Any]) -> bytes | None:
        if not _set_first(body, key, "http://x.example/" + filler * LONG):
            return None
        return json.dumps(body).encode()

    return make


def _raw(text: str | bytes) -> Hostile:
    """Insert `"x": <text>` as the body's first member, as raw JSON text."""
    inserted = text if isinstance(text, bytes) else text.encode()
    return lambda body: b'{"x":' + inserted + b"," + json.dumps(body).encode()[1:]


HOSTILE: dict[str, Hostile] = {
    "long fullUrl": _long("fullUrl"),
    "long fullUrl of slashes": _long("fullUrl", "A/"),
    "long reference": _long("reference"),
    "long identifier": _long("value"),
    "long extension url": _long("url"),
    "long id": _long("id"),
    "long endpoint": _long("endpoint"),
    "deep arrays": _raw("[" * 1500 + "]" * 1500),
    "deep objects": _raw('{"a":' * 990 + "1" + "}" * 990),
    "nesting just past the bound": _raw("[" * MAX_DEPTH + "]" * MAX_DEPTH),
    "5000-digit integer": _raw("9" * 5000),
    "5000-digit decimal": _raw("0." + "9" * 5000),
    "decimal out of range": _raw("1e999"),
    "NaN": _raw("NaN"),
    "lone surrogate": _raw('"\\ud800"'),
    "lone low surrogate in a key": _raw('{"\\udc00": 1}'),
    "NUL escape": _raw('"a\\u0000b"'),
    "NUL byte": lambda body: json.dumps(body).encode() + b"\x00",
    "invalid UTF-8": _raw(b'"\xff\xfe"'),
    "overlong UTF-8": _raw(b'"\xc0\xaf"'),
    "truncated UTF-8": _raw(b'"\xe2\x82"'),
    "UTF-16": lambda body: json.dumps(body).encode("utf-16"),
    "UTF-16 without BOM": lambda body: json.dumps(body).encode("utf-16-le"),
    "UTF-32": lambda body: json.dumps(body).encode("utf-32"),
    "many values": _raw("[" + ",".join(["1"] * 120_000) + "]"),
    "many arrays": _raw("[" + ",".join(["[]"] * 120_000) + "]"),
    "long element name": _raw('{"' + "a" * LONG + '": 1}'),
    "not JSON": lambda body: b"{" + json.dumps(body).encode(),
}


CASES = [
    (route, name, raw)
    for route, body in ROUTES.items()
    for name, hostile in HOSTILE.items()
    if (raw := hostile(body())) is not None
]


@pytest.mark.parametrize(
    "route,raw", [(route, raw) for route, _, raw in CASES], ids=[f"{r} {n}" for r, n, _ in CASES]
)
def test_a_hostile_body_is_refused_with_an_operation_outcome(app_client, route, raw):
    response = app_client.post(route, content=raw, headers=FHIR_JSON)
    assert response.status_code in (400, 413), (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/fhir+json")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["severity"] == "error"
    # A refusal names what it refuses, never echoes the whole hostile value back.
    assert len(response.content) < 4_000


@pytest.mark.parametrize("route", list(ROUTES))
def test_the_refusals_name_the_fault(app_client, route):
    body = ROUTES[route]()
    _set_first(body, "url", "http://x.example/" + "A" * LONG)
    refused = app_client.post(route, content=json.dumps(body), headers=FHIR_JSON).json()
    [issue] = refused["issue"]
    assert issue["code"] == "value"
    assert "exceeds 4096 characters" in issue["diagnostics"]
    assert issue["expression"][0].endswith(".url")

    deep = _raw("[" * 200 + "]" * 200)(ROUTES[route]())
    response = app_client.post(route, content=deep, headers=FHIR_JSON)
    assert response.status_code == 413
    assert response.json()["issue"][0]["code"] == "too-costly"
    assert f"deeper than {MAX_DEPTH}" in response.json()["issue"][0]["diagnostics"]


def test_the_bounded_reader_reads_what_plain_json_reads():
    raw = (REPO_ROOT / "samples" / "pas" / "ddact-questionnaire.json").read_bytes()
    assert read_json(raw) == json.loads(raw)
    # A UTF-8 byte order mark is ignored (RFC 8259 section 8.1), non-ASCII text kept.
    assert read_json("\ufeff".encode() + '{"a": "Müller 😀"}'.encode()) == {"a": "Müller 😀"}
    # Free text may be long (R4: up to 1 MB); base64 data longer still.
    note = {"valueString": "word " * 200_000, "data": "QUJD" * 500_000}
    assert read_json(json.dumps(note).encode()) == note
    assert read_json(b'{"n": -2147483648, "d": 0.000001, "e": 1.5e-3}')["e"] == 0.0015
    with pytest.raises(BodyRefused) as refused:
        read_json(json.dumps({"valueString": "w" * 1_048_577}).encode())
    assert refused.value.status == 400 and refused.value.expression == "Bundle.valueString"


# Bodies at the edges of the bounds, for the lean walk against the exact one.
EDGES: dict[str, Any] = {
    "values at the bound": {"a": [1] * (MAX_VALUES - 2)},
    "values past the bound": {"a": [1] * (MAX_VALUES - 1)},
    # The exact walk counts scalars as it meets their container: past the bound only there.
    "scalars past the bound in the last container": {"a": [[]] * 10, "b": [1] * MAX_VALUES},
    "nesting at the bound": json.loads("[" * MAX_DEPTH + "]" * MAX_DEPTH),
    "nesting past the bound": json.loads("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)),
    "resource id of 64": {"resourceType": "Patient", "id": "a" * 64},
    "resource id of 65": {"resourceType": "Patient", "id": "a" * 65},
    "element id of 65": {"resourceType": "Patient", "name": [{"id": "a" * 65}]},
    "short string at the bound": {"x": ["a" * 4096]},
    "short string past the bound in a list": {"given": ["a", "a" * 4097]},
    "text at the bound": {"text": "a" * 1_048_576},
    "text past the bound": {"note": ["a" * 1_048_577]},
    "base64 data": {"data": "QUJD" * 400_000},
    "non-ASCII key": {"Müller": 1},
    "non-ASCII text": {"name": "Müller 😀"},
    "NUL in a key": {"a\x00": 1},
    "NUL in a list item": {"a": ["b\x00"]},
    "lone surrogate in a list item": {"a": ["\ud800"]},
    "element name at the bound": {"a" * 128: 1},
    "element name past the bound": {"a" * 129: 1},
    "a scalar body": "a",
}


# Within the bounds, but where the lean walk doubts and leaves it to the exact walk.
DOUBTED = {
    "non-ASCII key",
    "values past the bound",
    "scalars past the bound in the last container",
    "a scalar body",
}


@pytest.mark.parametrize("name", list(EDGES) + list(HOSTILE))
def test_the_lean_walk_vouches_only_for_what_the_exact_walk_passes(name):
    """read_json skips the exact walk (check_value) when a lean one finds the body plainly
    within the bounds: the lean walk must never pass a body the exact walk refuses, and
    read_json's answer is the exact walk's, refusal for refusal."""
    if name in EDGES:
        value = EDGES[name]
        raw = json.dumps(value, ensure_ascii=name in ("lone surrogate in a list item",)).encode(
            "utf-8", "surrogatepass"
        )
    else:
        made = HOSTILE[name](copy.deepcopy(PAS))
        try:
            raw = made or b""
            value = json.loads(raw)
        except (ValueError, RecursionError):
            pytest.skip("not JSON: refused before either walk")
    try:
        check_value(value)
        exact = None
    except BodyRefused as exc:
        exact = exc
    if exact is not None:
        assert not _plainly_within(value, escapes=b"\\u" in raw)
    try:
        answer = read_json(raw)
    except BodyRefused as refused:
        # The raw counts refuse before the parse, in either walk's stead.
        if exact is not None and "objects and arrays" not in refused.text:
            assert refused == exact
        return
    assert exact is None and answer == value
    # Doubt only where the lean walk cannot tell (the exact walk then decides, as here).
    doubted = name in HOSTILE or name in DOUBTED
    assert doubted or _plainly_within(value, escapes=b"\\u" in raw)


def test_a_long_fullurl_still_resolves_and_finds_its_base():
    assert base_of("http://ehr.example/fhir/Patient/jane-doe") == "http://ehr.example/fhir"
    assert base_of("https://x.example/r4/Claim/1/_history/2") == "https://x.example/r4"
    assert base_of("urn:uuid:1a2b") is None
    assert base_of("http://x.example/" + "A" * LONG) is None
    assert base_of("http://x.example/" + "A/" * LONG) is None
    index = BundleIndex(PAS)
    claim = index.first
    patient = index.matches("Patient/jane-doe", claim)
    assert [entry.resource_type for entry in patient] == ["Patient"]
    assert index.matches("Patient/" + "A" * LONG, claim) == []
    assert index.matches("x/Patient/jane-doe", claim) == []


# -- attachments (item 9) -------------------------------------------------------------------


def _document(bundle: dict[str, Any]) -> dict[str, Any]:
    return next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    )


def _with_attachments(*attachments: dict[str, Any]) -> dict[str, Any]:
    bundle = copy.deepcopy(PAS)
    bundle["identifier"]["value"] += "-att"
    _document(bundle)["content"] = [{"attachment": a} for a in attachments]
    return bundle


def _pdf(size: int, title: str = "report.pdf") -> dict[str, Any]:
    return {
        "contentType": "application/pdf",
        "url": f"http://x.example/{title}",
        "size": size,
        "title": title,
    }


def _post(client: TestClient, bundle: dict[str, Any]):
    return client.post("/fhir/Claim/$submit", content=json.dumps(bundle), headers=FHIR_JSON)


def test_five_documents_within_the_limits_are_accepted(client):
    types = ["application/msword", "image/png", "image/tiff", "text/plain; charset=utf-8"]
    attachments = [_pdf(5 * MIB, "a.pdf")] + [
        {"contentType": t, "data": base64.b64encode(b"synthetic").decode()} for t in types
    ]
    response = _post(client, _with_attachments(*attachments))
    assert response.status_code == 200, response.text


def test_a_sixth_document_is_refused_naming_it(client):
    path = "Bundle.entry[9].resource.content[5].attachment"
    bundle = _with_attachments(*(_pdf(MIB, f"n{i}.pdf") for i in range(6)))
    assert bundle["entry"][9]["resource"]["resourceType"] == "DocumentReference"
    response = _post(client, bundle)
    assert response.status_code == 413
    [issue] = response.json()["issue"]
    assert issue["code"] == "too-costly"
    assert "6 attachments; at most 5" in issue["diagnostics"]
    assert issue["expression"] == [path]


def test_a_document_over_5_mb_is_refused_naming_it(client):
    data = base64.b64encode(b"%PDF" + b"\0" * (5 * MIB - 3)).decode()  # 5 MB and 1 byte
    big = {"contentType": "application/pdf", "data": data, "title": "scan.pdf"}
    response = _post(client, _with_attachments(_pdf(1000), big))
    assert response.status_code == 413
    [issue] = response.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[9].resource.content[1].attachment"]
    assert "scan.pdf" in issue["diagnostics"] and f"{5 * MIB + 1} bytes" in issue["diagnostics"]


def test_documents_over_25_mb_in_all_are_refused(client):
    response = _post(client, _with_attachments(*(_pdf(5 * MIB, f"p{i}.pdf") for i in range(6))))
    assert response.status_code == 413
    texts = [issue["diagnostics"] for issue in response.json()["issue"]]
    assert any(f"total {30 * MIB} bytes" in text and "p5.pdf" in text for text in texts), texts


@pytest.mark.parametrize(
    "attachment",
    [
        {"contentType": "application/zip", "url": "http://x.example/a.zip", "title": "a.zip"},
        {"contentType": "text/html", "data": base64.b64encode(b"<p>").decode()},
        {"url": "http://x.example/a.exe"},
    ],
)
def test_a_document_of_a_type_not_accepted_is_refused_naming_it(client, attachment):
    response = _post(client, _with_attachments(_pdf(10), attachment))
    assert response.status_code == 400
    [issue] = response.json()["issue"]
    assert issue["expression"] == ["Bundle.entry[9].resource.content[1].attachment.contentType"]
    assert "accepted: DOC, DOCX, JPEG, JPG, PDF, PNG, TIF, TXT" in issue["diagnostics"]


def test_a_claim_attachment_and_a_binary_count_once_each(client):
    bundle = _with_attachments(
        {"contentType": "application/pdf", "url": "Binary/scan"}  # the Binary below
    )
    bundle["entry"].append(
        {
            "fullUrl": "http://ehr.hope-oncology.example/fhir/Binary/scan",
            "resource": {
                "resourceType": "Binary",
                "id": "scan",
                "contentType": "application/x-sh",
                "data": base64.b64encode(b"echo").decode(),
            },
        }
    )
    response = _post(client, bundle)
    assert response.status_code == 400
    [issue] = response.json()["issue"]  # the Binary's type, not the DocumentReference's
    assert issue["expression"] == [f"Bundle.entry[{len(bundle['entry']) - 1}].resource.contentType"]


# -- $inquire: bounded, in SQL --------------------------------------------------------------


def test_cases_for_member_filters_by_npi_newest_first_and_bounded(client, core, clock):
    ids = []
    for n in range(5):
        clock.now += timedelta(minutes=1)
        ordering = dict(
            jane_doe_request()["ordering"], npi="1987654328" if n == 2 else "1234567893"
        )
        sent = client.post("/cases", json=jane_doe_request(ordering=ordering, rendering=None))
        assert sent.status_code in (200, 201), sent.text
        ids.append(sent.json()["id"])
    found = core.cases_for_member("u1234567801", "1234567893", limit=3)
    assert [stored.case.id for stored in found] == [ids[4], ids[3], ids[1]]
    assert all(stored.determination is not None for stored in found)
    assert [s.case.id for s in core.cases_for_member("U1234567801", "1987654328")] == [ids[2]]
    assert core.cases_for_member("U1234567801", "1245319599") == []
    assert core.cases_for_member("U0000000000", "1234567893") == []


# -- slow bodies and a server that keeps answering -------------------------------------------


def test_a_body_that_never_arrives_is_cut_off_with_408(tmp_path):
    from gateway.api.app import create_app

    gateway_settings = make_gateway_settings(tmp_path)
    auth = make_auth_settings(auth_enabled=False, body_read_seconds=0.2)
    app = create_app(gateway_settings, auth_settings=auth)
    sent: list[dict[str, Any]] = []

    async def run() -> None:
        chunks = iter([{"type": "http.request", "body": b'{"resourceType":', "more_body": True}])
        stalled = asyncio.Event()

        async def receive() -> dict[str, Any]:
            message = next(chunks, None)
            if message is None:
                await stalled.wait()  # the client sends nothing more, ever
            return message or {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/fhir/Claim/$submit",
            "raw_path": b"/fhir/Claim/$submit",
            "query_string": b"",
            "root_path": "",
            "client": ("127.0.0.1", 5000),
            "server": ("127.0.0.1", 8000),
            "headers": [(b"content-type", b"application/fhir+json")],
        }
        await asyncio.wait_for(app(scope, receive, send), 10)

    asyncio.run(run())
    assert sent[0]["status"] == 408
    body = json.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "timeout"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_healthz_answers_while_a_slow_request_is_in_flight(tmp_path):
    import uvicorn

    from gateway.api.app import create_app

    gateway_settings = make_gateway_settings(tmp_path)
    # The slow body is cut off after 1.5 s: many times what three /healthz answers on an open
    # connection take, and the test waits for the 408 at the end.
    auth = make_auth_settings(auth_enabled=False, body_read_seconds=1.5)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(gateway_settings, auth_settings=auth),
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(200):
            if server.started:
                break
            threading.Event().wait(0.05)
        assert server.started
        slow = socket.create_connection(("127.0.0.1", port), timeout=30)
        body = json.dumps(PAS).encode()
        slow.sendall(
            b"POST /fhir/Claim/$submit HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/fhir+json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:100]
        )
        health = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for _ in range(3):  # keep-alive: the same connection answers each time
            health.request("GET", "/healthz")
            answer = health.getresponse()
            assert answer.status == 200 and json.loads(answer.read()) == {"status": "ok"}
        health.close()
        reply = slow.makefile("rb").readline()
        assert reply.startswith(b"HTTP/1.1 408"), reply
        slow.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _claim_variant(n: int) -> dict[str, Any]:
    bundle = copy.deepcopy(PAS)
    bundle["identifier"]["value"] += f"-v{n}"
    bundle["entry"][0]["resource"]["identifier"][0]["value"] += f"-v{n}"
    return bundle


def test_inquire_finds_an_older_claim_by_identifier_past_the_bound(client, core, clock):
    claims = []
    for n in range(4):
        clock.now += timedelta(minutes=1)
        bundle = _claim_variant(n)
        assert _post(client, bundle).status_code == 200
        claims.append(bundle["entry"][0]["resource"]["identifier"][0]["value"])
    member, npi = "U1234567801", "1987654328"  # the sample's requesting provider
    newest = core.cases_for_member(member, npi, limit=2)
    assert [s.case.submission.trace_numbers for s in newest] == [[claims[3]], [claims[2]]]
    [oldest] = core.cases_for_member(member, npi, claim_identifiers=[claims[0]], limit=2)
    assert oldest.case.submission.trace_numbers == [claims[0]]

    inquiry = _claim_variant(0)
    response = client.post("/fhir/Claim/$inquire", content=json.dumps(inquiry), headers=FHIR_JSON)
    assert response.status_code == 200, response.text
    [returned] = response.json()["parameter"]
    answers = [e["resource"] for e in returned["resource"]["entry"]]
    assert [a["resourceType"] for a in answers].count("ClaimResponse") == 1


def test_migration_0004_backfills_the_lookup_of_stored_cases(client, core):
    from alembic import command

    from gateway.store.db import alembic_config, upgrade

    assert _post(client, _claim_variant(9)).status_code == 200
    before = core.cases_for_member("U1234567801", "1987654328")
    assert len(before) == 1
    # Back to the schema before the lookup table, by the migrations' own downgrades (so that a
    # later migration is undone too), then up again: the cases already stored get their rows.
    command.downgrade(alembic_config(core.engine), "0002")
    upgrade(core.engine)
    after = core.cases_for_member("U1234567801", "1987654328")
    assert [s.case.id for s in after] == [s.case.id for s in before]
