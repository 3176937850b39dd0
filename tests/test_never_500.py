"""Bad input gets a precise answer (TA1/999, OperationOutcome, 4xx), never a 500 or a traceback:
property-based mutations of the samples through the real app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gateway.settings import REPO_ROOT
from tests.conftest import (
    make_settings,
    unthrottled_client,
)

X12 = (REPO_ROOT / "samples" / "x12" / "278-act-dd-jane-doe.x12").read_bytes()
PAS = json.loads((REPO_ROOT / "samples" / "pas" / "ddact-her2neg.json").read_text())


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("never500")
    gateway_settings = make_settings(folder)
    with unthrottled_client(gateway_settings) as client:
        yield client


@pytest.fixture(scope="module")
def pg_client(tmp_path_factory: pytest.TempPathFactory, postgres_url: str):
    """The same app on PostgreSQL, which refuses what SQLite takes (a NUL in a text value)."""
    from tests.conftest import _fresh_schema_url

    folder: Path = tmp_path_factory.mktemp("never500pg")
    gateway_settings = make_settings(folder, _fresh_schema_url(postgres_url))
    with unthrottled_client(gateway_settings) as client:
        yield client


def mutate(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    """`data` with each (position, cut, insert) applied in turn: the hostile bodies' edits
    (tests/caqh/test_never_500.py uses them too)."""
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
        "/x12/278", content=mutate(X12, edits), headers={"Content-Type": "application/edi-x12"}
    )
    assert response.status_code in (200, 403), response.text
    assert response.text.lstrip().startswith("ISA")


BATCH = (REPO_ROOT / "samples" / "x12" / "278-batch.x12").read_bytes()
# The companion guide's MSG keys (section 4), each of which the reader converts its own way.
MSG_KEYS = (
    "HEIGHT_CM WEIGHT_KG PROGRAM CLINICAL_TRIAL SAME_TIN RELATED_CASE COMORBIDITIES "
    "PRIOR_TREATMENTS LINE_OF_THERAPY ECOG HER2 STAGE DOSE SCHEDULE ROUTE"
).split()
# Mostly what passes the X12 syntax check (so the reader gets it), sometimes anything.
msg_values = st.text(
    st.sampled_from("0123456789.-+ ,eEnaifINFXYZ") | st.characters(blacklist_categories=("Cs",)),
    max_size=12,
).filter(lambda value: not set(value) & set("*~:^;="))
paddings = st.sampled_from(
    [b"", b"\xef\xbb\xbf" * 3, "\ufeff".encode() * 1400, b"\r\n \t" * 40, b"\xff\xfe", b"\x00"]
)


@pytest.mark.parametrize("which", ["sqlite", "postgresql"])
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    sample=st.sampled_from([X12, BATCH]),
    pairs=st.lists(st.tuples(st.sampled_from(MSG_KEYS), msg_values), min_size=1, max_size=3),
    padding=paddings,
    stray=st.tuples(st.integers(0, len(X12)), st.sampled_from([b"", b"\x00", "\ufffd".encode()])),
    in_line=st.booleans(),
    control=st.integers(1, 999_999_999),
)
def test_a_bad_value_or_padding_is_answered_in_x12(
    request, which, sample, pairs, padding, stray, in_line, control
):
    client = request.getfixturevalue("app_client" if which == "sqlite" else "pg_client")
    msg = ";".join(f"{key}={value}" for key, value in pairs).encode()
    # The values go into the 2000E MSG, or into a 2000F MSG after the first service line.
    data = (
        sample.replace(b"SV1*HC:J9000**UN*4~", b"SV1*HC:J9000**UN*4~MSG*" + msg + b"~", 1)
        if in_line
        else sample.replace(b"MSG*LINE_OF_THERAPY=1;", b"MSG*" + msg + b";LINE_OF_THERAPY=1;", 1)
    )
    # A fresh ISA13 (and IEA02) each time, so the reader is reached, not the replay check.
    number = b"%09d" % control
    data = data.replace(b"*000000201*", b"*" + number + b"*").replace(
        b"*000000207*", b"*" + number + b"*"
    )
    data = data.replace(b"IEA*1*000000201", b"IEA*1*" + number).replace(
        b"IEA*1*000000207", b"IEA*1*" + number
    )
    data = mutate(data, [(stray[0], 0, stray[1])])
    response = client.post(
        "/x12/278", content=padding + data, headers={"Content-Type": "application/edi-x12"}
    )
    assert response.status_code == 200, response.text
    assert response.text.lstrip().startswith("ISA")
    assert response.headers["X-Answer-Kind"] in ("ta1", "999", "278", "999+278", "replay")


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
