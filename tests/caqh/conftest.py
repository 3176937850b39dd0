"""Fixtures for CAQH CORE connectivity: the real app, and a real SOAP client (zeep) that reads
the served WSDL and talks to that app through a requests transport adapter (in process, the
way the other route tests use TestClient)."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from fastapi.testclient import TestClient
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

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


class AppAdapter(BaseAdapter):
    """A requests transport that hands each request to the app under test."""

    def __init__(self, client: TestClient):
        super().__init__()
        self.client = client

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:  # type: ignore[override]
        answer = self.client.request(
            request.method or "GET",
            request.url or "/",
            content=request.body if request.body is not None else b"",
            headers=dict(request.headers),
        )
        response = requests.Response()
        response.status_code = answer.status_code
        response.headers = CaseInsensitiveDict(answer.headers)
        response._content = answer.content
        response.url = request.url or ""
        response.request = request
        response.encoding = answer.encoding
        return response

    def close(self) -> None:
        return None


@pytest.fixture
def app_client(settings: Settings, core: Core, auth_settings: AuthSettings) -> Iterator[TestClient]:
    from gateway.api.app import create_app

    with TestClient(create_app(settings, core=core, auth_settings=auth_settings)) as client:
        yield client


def session_for(client: TestClient, credentials: tuple[str, str] | None) -> requests.Session:
    session = requests.Session()
    session.mount("http://", AppAdapter(client))
    if credentials:
        session.auth = credentials
    return session


@pytest.fixture
def soap(app_client: TestClient):
    """soap(credentials) -> a zeep client built from GET /core/wsdl, sending as the partner."""
    import zeep
    from zeep.transports import Transport

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


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
