"""Bad input gets a precise answer (TA1/999, OperationOutcome, 4xx), never a 500 or a traceback:
property-based mutations of the samples through the real app."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.settings import REPO_ROOT
from gateway.wiring import build
from tests.conftest import OPERATOR_PARTNER, bearer, make_auth_settings, make_settings

X12 = (REPO_ROOT / "samples" / "x12" / "278-act-dd-jane-doe.x12").read_bytes()
PAS = json.loads((REPO_ROOT / "samples" / "pas" / "ddact-her2neg.json").read_text())


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory):
    from gateway.api.app import create_app

    folder: Path = tmp_path_factory.mktemp("never500")
    gateway_settings = make_settings(folder)
    core = build(gateway_settings, clock=lambda: datetime(2026, 11, 23, 15, tzinfo=UTC)).core
    auth = make_auth_settings(rate_limit_per_second=10_000, rate_limit_burst=10_000)
    with TestClient(
        create_app(gateway_settings, core=core, auth_settings=auth), raise_server_exceptions=False
    ) as client:
        client.headers.update(bearer(core, auth, OPERATOR_PARTNER))
        yield client
    core.engine.dispose()


def _mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, cut, insert in edits:
        at = position % (len(out) + 1)
        out[at : at + cut] = insert
    return bytes(out)


edits = st.lists(
    st.tuples(
        st.integers(0, len(X12)),
        st.integers(0, 8),
        st.sampled_from([b"", b"*", b"~", b":", b"^", b"\n", b"ZZ", b"99999", b"\xff"]),
    ),
    min_size=1,
    max_size=6,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=edits)
def test_a_mangled_interchange_is_answered_in_x12(app_client, edits):
    response = app_client.post(
        "/x12/278", content=_mutate(X12, edits), headers={"Content-Type": "application/edi-x12"}
    )
    assert response.status_code in (200, 403), response.text
    assert response.text.lstrip().startswith("ISA")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(node, prefix=()):
    if isinstance(node, dict):
        for key, value in node.items():
            yield prefix + (key,)
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield prefix + (index,)
            yield from _paths(value, prefix + (index,))


PAS_PATHS = list(_paths(PAS))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    choices=st.lists(
        st.tuples(st.integers(0, len(PAS_PATHS) - 1), json_values), min_size=1, max_size=4
    )
)
def test_a_mangled_pas_bundle_is_answered_in_fhir(app_client, choices):
    bundle = json.loads(json.dumps(PAS))
    for index, value in choices:
        *parents, last = PAS_PATHS[index]
        node = bundle
        try:
            for key in parents:
                node = node[key]
            node[last] = value
        except (KeyError, IndexError, TypeError):
            continue
    response = app_client.post(
        "/fhir/Claim/$submit",
        content=json.dumps(bundle),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert response.status_code < 500, response.text
    body = response.json()
    assert body["resourceType"] in ("Bundle", "OperationOutcome")
