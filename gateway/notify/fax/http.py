"""A generic HTTP fax API, through httpx.

Shape assumed (one adapter, easy to bend to a vendor): POST {base}/faxes, multipart with the PDF
as `document` and the recipient as `to`, answered with JSON {"id", "status"}; GET
{base}/faxes/{id} for the status; DELETE {base}/faxes/{id} to cancel. The idempotency key goes
in the Idempotency-Key header, so the API itself drops a retried submission.
"""

from __future__ import annotations

import httpx

from gateway.notify.fax.base import FaxError, FaxJobNotFound, FaxState

STATES: dict[str, FaxState] = {
    "queued": "queued",
    "pending": "queued",
    "accepted": "queued",
    "sending": "sending",
    "in_progress": "sending",
    "delivered": "delivered",
    "sent": "delivered",
    "success": "delivered",
    "failed": "failed",
    "error": "failed",
    "cancelled": "failed",
    "canceled": "failed",
}


class HttpFaxGateway:
    name = "http"

    def __init__(
        self, base_url: str, *, client: httpx.Client | None = None, timeout: float = 30.0
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.Client(timeout=timeout)

    def _call(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = self.client.request(method, self.base_url + path, **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise FaxError(f"fax API unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404:
            raise FaxJobNotFound(path)
        if response.status_code >= 400:
            raise FaxError(f"fax API answered {response.status_code} to {method} {path}")
        return response

    def submit(self, job_key: str, number: str, pdf: bytes) -> str:
        response = self._call(
            "POST",
            "/faxes",
            headers={"Idempotency-Key": job_key},
            data={"to": number},
            files={"document": ("letter.pdf", pdf, "application/pdf")},
        )
        body = response.json()
        if not body.get("id"):
            raise FaxError("fax API answered without a fax id")
        return str(body["id"])

    def status(self, fax_id: str) -> FaxState:
        body = self._call("GET", f"/faxes/{fax_id}").json()
        return STATES.get(str(body.get("status", "")).lower(), "queued")

    def cancel(self, fax_id: str) -> None:
        self._call("DELETE", f"/faxes/{fax_id}")
