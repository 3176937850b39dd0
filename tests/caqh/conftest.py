"""Fixtures for CAQH CORE connectivity: the real app, and a real SOAP client (zeep) that reads
the served WSDL and talks to that app through a requests transport adapter (tests/caqh/
transport.py: in process, the way the other route tests use TestClient)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.caqh.envelope import checksum
from gateway.partners.settings import AuthSettings
from gateway.service.core import Core
from gateway.settings import REPO_ROOT, Settings

SAMPLES = REPO_ROOT / "samples" / "x12"
JANE = (SAMPLES / "278-act-dd-jane-doe.x12").read_bytes()  # ISA06 CLEARINGHOUSE01
BATCH = (SAMPLES / "278-batch.x12").read_bytes()  # five transaction sets
CLEARINGHOUSE = ("sample-clearinghouse", "demo-clearinghouse-secret-0001")
EHR = ("sample-oncology-ehr", "demo-ehr-secret-0001")  # sends as SAMPLEONC only
RECEIVER = "GATEWAYUM"
BASE = "http://testserver"


@pytest.fixture
def app_client(settings: Settings, core: Core, auth_settings: AuthSettings) -> Iterator[TestClient]:
    from gateway.api.app import create_app

    with TestClient(create_app(settings, core=core, auth_settings=auth_settings)) as client:
        yield client


def zeep_module() -> Any:
    """zeep, a test extra (pyproject.toml): the SOAP tests are skipped in a virtualenv set up
    without it, never in CI (.ci/run sets CI=true), where its absence is a failure."""
    if os.environ.get("CI"):
        import zeep

        return zeep
    return pytest.importorskip("zeep")


@pytest.fixture
def soap(app_client: TestClient):
    """soap(credentials) -> a zeep client built from GET /core/wsdl, sending as the partner."""
    zeep = zeep_module()
    from zeep.transports import Transport

    from tests.caqh.transport import session_for

    def make(credentials: tuple[str, str] | None = CLEARINGHOUSE) -> zeep.Client:
        transport = Transport(session=session_for(app_client, credentials))
        return zeep.Client(f"{BASE}/core/wsdl", transport=transport)

    return make


def envelope(payload: bytes | None, *, sender: str = "CLEARINGHOUSE01", **changes: Any) -> dict:
    """The fields of a CORE request carrying `payload` (none for a retrieval)."""
    fields: dict[str, Any] = {
        "PayloadType": "X12_278_Request_005010X217E1_2",
        "ProcessingMode": "RealTime",
        "PayloadID": str(uuid.uuid4()),
        "TimeStamp": datetime.now(UTC).replace(microsecond=0),
        "SenderID": sender,
        "ReceiverID": RECEIVER,
        "CORERuleVersion": "2.2.0",
    }
    if payload is not None:
        fields["CheckSum"] = checksum(payload)
    fields.update(changes)
    return fields
