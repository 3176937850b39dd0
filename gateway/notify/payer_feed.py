"""The determination feed to the payer: one JSON line per final determination.

settings.payer_feed_dir/<payer id>/YYYY-MM-DD.jsonl (the day of its first attempt, UTC). The
payer's claims system pays only what was authorized (DOMAIN.md), so every determination goes
out; each line carries its job key, and a key is written once: a retried delivery finds its
line and writes nothing. The X12 278 response for the payer is the X12 channel's to build: the
line carries it (`x12_278`) when the job payload does, never generated here.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from gateway.notify import staging


def payer_folder_name(payer_id: str) -> str:
    # The payer id comes from the request: keep it a safe single path component.
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", payer_id or "unknown").strip("_")
    return cleaned or "unknown"


class PayerFeed:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        # .keys index -> (bytes of it read, job key -> feed file): each append reads only the
        # entries other writers added since, not the payer's whole index again (issue 19 item 5).
        self._indexed: dict[Path, tuple[int, dict[str, str]]] = {}

    def path(self, payer_id: str, day: date) -> Path:
        return self.root / payer_folder_name(payer_id) / f"{day.isoformat()}.jsonl"

    def append(
        self,
        *,
        job_key: str,
        payer_id: str,
        record: dict[str, Any],
        day: date,
        x12_278: str | None = None,
    ) -> dict[str, Any]:
        folder = self.root / payer_folder_name(payer_id)
        folder.mkdir(parents=True, exist_ok=True)
        keys = folder / ".keys"
        with keys.open("a+b") as index:
            # One writer at a time per payer: the key check and the append are one step.
            fcntl.flock(index, fcntl.LOCK_EX)
            try:
                relative = self._written(index, keys).get(job_key)
                if relative is not None and _has_line(self.root / relative, job_key):
                    return {"file": relative, "duplicate": True}
                if relative is None:
                    # The key and its file go in the index before the line: a worker killed
                    # between the two leaves the key, and the retry finds the line missing
                    # and writes it, to the same file and once (the other order wrote twice).
                    path = self.path(payer_id, day)
                    relative = f"{payer_folder_name(payer_id)}/{path.name}"
                    index.write(f"{job_key}\t{relative}\n".encode())
                    index.flush()
                    os.fsync(index.fileno())
                line = dict(record, idempotency_key=job_key, x12_278=x12_278)
                feed_path = self.root / relative
                created = not feed_path.exists()
                with feed_path.open("a", encoding="utf-8") as feed:
                    feed.write(json.dumps(line, sort_keys=True) + "\n")
                    feed.flush()
                    os.fsync(feed.fileno())
                if created:  # the day's first line: the file's name is the folder's to keep
                    staging.entries_durable(feed_path.parent)
            finally:
                fcntl.flock(index, fcntl.LOCK_UN)
        return {"file": relative}

    def _written(self, index: BinaryIO, keys: Path) -> dict[str, str]:
        """Job key -> feed file of every entry in the index so far (the caller holds its lock):
        what this process read before, and the entries after it."""
        read, written = self._indexed.get(keys, (0, {}))
        size = index.seek(0, os.SEEK_END)
        if size < read:  # the index was replaced: read it from the start
            read, written = 0, {}
        index.seek(read)
        new = index.read()
        whole = new.rfind(b"\n") + 1  # an entry still being written is read next time
        for entry in new[:whole].decode("utf-8").split("\n")[:-1]:
            written_key, _, written_file = entry.rpartition("\t")
            written[written_key] = written_file
        self._indexed[keys] = (read + whole, written)
        return written

    def lines(self, payer_id: str, day: date) -> list[dict[str, Any]]:
        path = self.path(payer_id, day)
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _has_line(path: Path, job_key: str) -> bool:
    """Whether the feed file holds the line of `job_key` (read only when a key comes again)."""
    if not path.exists():
        return False
    with path.open(encoding="utf-8") as feed:
        for text in feed:
            try:
                if json.loads(text).get("idempotency_key") == job_key:
                    return True
            except (json.JSONDecodeError, AttributeError):
                continue
    return False
