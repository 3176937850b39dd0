"""Trading partners' X12 pickup mailboxes: where unsolicited 278 responses wait to be fetched.

settings.x12_mailbox_dir/<partner id>/new/<item id>.x12 until the partner fetches it (GET
/x12/mailbox/{id}), then .../cur/<item id>.x12 (acknowledged: no longer listed, still
readable), the maildir way. An item id names its case and a digest of its outbox job's key
(gateway.x12.followup.mailbox_item_id), so each follow-up has exactly one name.

Exactly once, even when a worker is killed mid-delivery (the outbox delivers at least once):
the interchange is written to a staging file beside the folders, flushed and fsynced, and only
then renamed into new/ (a rename is atomic: a reader sees the whole file or none). Under the
partner's lock file, a delivery that finds its name in new/ or cur/ writes nothing, so a retry
after a kill between the rename and the outbox's record is a no-op, and an acknowledgement
never races a retry into a second copy. What a killed worker left in staging is swept.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gateway.notify.staging import staging_name, sweep

# Case ids are letters and digits (PA2600000001); the digest is 16 hex digits.
ITEM_ID = re.compile(r"^[A-Za-z0-9]{1,32}-[0-9a-f]{16}$")
SUFFIX = ".x12"


def partner_folder_name(partner_id: str) -> str:
    # Registry ids are already safe (gateway.partners.registry.PARTNER_ID); this keeps any
    # other value a single path component.
    cleaned = re.sub(r"[^A-Za-z0-9._-]", "_", partner_id).lstrip(".")
    return cleaned or "_"


class X12Mailbox:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def folder(self, partner_id: str) -> Path:
        return self.root / partner_folder_name(partner_id)

    @contextmanager
    def _locked(self, folder: Path) -> Iterator[None]:
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def deliver(self, partner_id: str, item_id: str, interchange: str) -> dict[str, Any]:
        """Put one interchange in the partner's mailbox, once."""
        if not ITEM_ID.match(item_id):
            raise ValueError("not a mailbox item id")
        folder = self.folder(partner_id)
        name = item_id + SUFFIX
        relative = f"{folder.name}/new/{name}"
        with self._locked(folder):
            sweep(folder)
            for box in ("new", "cur"):
                if (folder / box / name).exists():
                    return {"mailbox": relative, "duplicate": True}
            (folder / "new").mkdir(exist_ok=True)
            (folder / "cur").mkdir(exist_ok=True)
            staging = folder / staging_name("x12", SUFFIX)
            with staging.open("w", encoding="utf-8", newline="") as out:
                out.write(interchange)
                out.flush()
                os.fsync(out.fileno())
            os.rename(staging, folder / "new" / name)
            _fsync_dir(folder / "new")
        return {"mailbox": relative}

    def pending(self, partner_id: str) -> list[dict[str, Any]]:
        """The partner's unacknowledged items, oldest first: id, case id, created, size."""
        new = self.folder(partner_id) / "new"
        items = []
        try:
            entries = list(os.scandir(new))
        except FileNotFoundError:
            return []
        for entry in entries:
            item_id = entry.name.removesuffix(SUFFIX)
            if not entry.name.endswith(SUFFIX) or not ITEM_ID.match(item_id):
                continue
            try:
                info = entry.stat()
            except FileNotFoundError:  # acknowledged meanwhile
                continue
            created = datetime.fromtimestamp(info.st_mtime, UTC)
            items.append(
                {
                    "id": item_id,
                    "case_id": item_id.rsplit("-", 1)[0],
                    "created": created.isoformat(),
                    "size": info.st_size,
                }
            )
        return sorted(items, key=lambda item: (item["created"], item["id"]))

    def fetch(self, partner_id: str, item_id: str, *, acknowledge: bool) -> bytes | None:
        """An item's interchange (pending or already acknowledged), or None when the partner
        has no such item. `acknowledge` moves a pending one out of the listing."""
        if not ITEM_ID.match(item_id):
            return None
        folder = self.folder(partner_id)
        name = item_id + SUFFIX
        if not folder.is_dir():
            return None
        with self._locked(folder):
            pending = folder / "new" / name
            done = folder / "cur" / name
            if pending.exists():
                data = pending.read_bytes()
                if acknowledge:
                    done.parent.mkdir(exist_ok=True)
                    os.rename(pending, done)
                    _fsync_dir(done.parent)
                return data
            if done.exists():
                return done.read_bytes()
        return None


def _fsync_dir(folder: Path) -> None:
    """Make a rename into `folder` durable (the directory entry itself)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
