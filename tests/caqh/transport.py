"""A requests transport adapter onto the app under test, for zeep (which speaks requests)."""

from __future__ import annotations

from typing import Any

import requests
from fastapi.testclient import TestClient
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict


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


def session_for(client: TestClient, credentials: tuple[str, str] | None) -> requests.Session:
    session = requests.Session()
    session.mount("http://", AppAdapter(client))
    if credentials:
        session.auth = credentials
    return session
