"""The embedded fax gateway: one folder per fax under settings.fax_spool.

Each folder holds `job.json` (number, key, state) and `document.pdf`. A folder appears whole or
not at all: it is written under a staging name and renamed into place (rename is atomic on one
filesystem), and job.json is rewritten through a temporary file and os.replace. The staging name
names its writer, so what a killed worker left is swept away when a gateway next opens the
spool (gateway/notify/staging.py). The folder name is derived from the idempotency key, so
submitting the same key twice finds the first folder. A fax sender (or an operator) moves a job
through queued -> sending -> delivered | failed with `mark`.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.notify import staging
from gateway.notify.fax.base import FAX_STATES, FaxError, FaxJobNotFound, FaxState

JOB_FILE = "job.json"
DOCUMENT_FILE = "document.pdf"


def fax_id_for(job_key: str) -> str:
    return "fx-" + hashlib.sha256(job_key.encode()).hexdigest()[:24]


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        staging.entries_durable(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class SpoolFaxGateway:
    name = "spool"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # What a killed worker left half-written (its process is gone): never a fax.
        staging.sweep(self.root)

    def _folder(self, fax_id: str) -> Path:
        if not fax_id.startswith("fx-") or "/" in fax_id or ".." in fax_id:
            raise FaxJobNotFound(fax_id)
        return self.root / fax_id

    def submit(self, job_key: str, number: str, pdf: bytes) -> str:
        fax_id = fax_id_for(job_key)
        final = self.root / fax_id
        if (final / JOB_FILE).exists():
            return fax_id  # the same key again: the fax already waits in the spool
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / staging.staging_name(fax_id)
        folder.mkdir()
        try:
            (folder / DOCUMENT_FILE).write_bytes(pdf)
            job = {
                "fax_id": fax_id,
                "idempotency_key": job_key,
                "number": number,
                "document": DOCUMENT_FILE,
                "state": "queued",
                "submitted_at": datetime.now(UTC).isoformat(),
                "history": [],
            }
            (folder / JOB_FILE).write_text(json.dumps(job, indent=2))
            for path in (folder / DOCUMENT_FILE, folder / JOB_FILE):
                with path.open("rb") as handle:
                    os.fsync(handle.fileno())
            try:
                os.rename(folder, final)
                staging.entries_durable(self.root)
            except OSError:
                # Another worker renamed its copy first (same key): theirs is the fax.
                if not (final / JOB_FILE).exists():
                    raise
        except OSError as exc:
            raise FaxError(f"spool write failed: {exc.strerror or exc}") from exc
        finally:
            if folder.exists():
                shutil.rmtree(folder, ignore_errors=True)
        return fax_id

    def job(self, fax_id: str) -> dict[str, Any]:
        path = self._folder(fax_id) / JOB_FILE
        try:
            return json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise FaxJobNotFound(fax_id) from exc

    def status(self, fax_id: str) -> FaxState:
        return self.job(fax_id)["state"]

    def mark(self, fax_id: str, state: FaxState, detail: str | None = None) -> None:
        """Move a spooled fax to `state` (what the sender that drains the spool calls)."""
        if state not in FAX_STATES:
            raise ValueError(f"unknown fax state {state!r}")
        job = self.job(fax_id)
        job["history"].append(
            {
                "from": job["state"],
                "to": state,
                "at": datetime.now(UTC).isoformat(),
                "detail": detail,
            }
        )
        job["state"] = state
        _write_atomic(self._folder(fax_id) / JOB_FILE, json.dumps(job, indent=2).encode())

    def cancel(self, fax_id: str) -> None:
        state = self.status(fax_id)
        if state in ("delivered", "failed"):
            return
        self.mark(fax_id, "failed", "cancelled")

    def queued(self) -> list[str]:
        """Fax ids waiting to be sent, oldest first (for the sender that drains the spool)."""
        if not self.root.exists():
            return []
        jobs = []
        for folder in self.root.iterdir():
            if folder.name.startswith("fx-") and (folder / JOB_FILE).exists():
                job = json.loads((folder / JOB_FILE).read_text())
                if job["state"] == "queued":
                    jobs.append((job["submitted_at"], folder.name))
        return [fax_id for _, fax_id in sorted(jobs)]
