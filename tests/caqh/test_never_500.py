"""Mangled CORE messages get a SOAP fault, a CORE ErrorCode or a 4xx, never a 500: hypothesis
mutations of a SOAP envelope and of MIME fields through the real app."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.caqh.test_soap_raw import fields, message
from tests.conftest import make_settings, unthrottled_client
from tests.test_never_500 import mutate

SOAP_BODY = message(fields())


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory):
    folder: Path = tmp_path_factory.mktemp("core-never500")
    with unthrottled_client(make_settings(folder)) as client:
        yield client


edits = st.lists(
    st.tuples(
        st.integers(0, len(SOAP_BODY)),
        st.integers(0, 12),
        st.sampled_from([b"", b"<", b">", b"&", b"&amp;", b"]]>", b"\x00", b"\xff", b"*", b"~"]),
    ),
    min_size=1,
    max_size=5,
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(edits=edits)
def test_a_mangled_soap_envelope_gets_a_fault_or_a_core_answer(app_client, edits):
    response = app_client.post(
        "/core/soap",
        content=mutate(SOAP_BODY, edits),
        headers={"Content-Type": "application/soap+xml"},
    )
    assert response.status_code in (200, 400), response.text
    assert response.headers["content-type"].startswith("application/soap+xml")


NAMES = ("PayloadType", "ProcessingMode", "PayloadID", "SenderID", "ReceiverID", "CheckSum")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    changes=st.dictionaries(
        st.sampled_from(NAMES), st.text(max_size=60) | st.sampled_from(["", "Batch"]), max_size=4
    ),
    payload=st.binary(max_size=200) | st.just(fields()["Payload"].encode()),
)
def test_mangled_mime_fields_get_a_core_answer(app_client, changes, payload):
    values = {**fields(), **changes}
    values.pop("Payload")
    files: dict = {
        name: (None, value.encode("utf-8", "surrogatepass"))
        for name, value in values.items()
        if value is not None
    }
    files["Payload"] = ("payload.x12", payload, "application/edi-x12")
    response = app_client.post("/core/mime", files=files)
    assert response.status_code in (200, 400, 403), response.text
    assert response.headers["content-type"].startswith("multipart/form-data")
