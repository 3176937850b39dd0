"""Print-ready letters collected in a daily batch for the mail house (DOMAIN.md: Notices).

settings.member_mail_dir/YYYY-MM-DD/ holds one PDF per letter and manifest.jsonl, one line per
letter: job id, case id, file, pages, kind of recipient. The manifest carries no names: the
address is on the letter itself. Provider letters whose fax number is unknown go the same way.
A letter is filed under a name derived from its job key, so a retried delivery neither prints
the letter twice nor lists it twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from datetime import date
from pathlib import Path
from typing import Any

from gateway.notify import staging

MANIFEST = "manifest.jsonl"


class MemberMailBatch:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._swept: set[Path] = set()
        # manifest -> (bytes of it read, files it lists): each add reads only the lines other
        # writers appended since, not the whole day's manifest again (issue 19 item 5).
        self._listed: dict[Path, tuple[int, set[str]]] = {}

    def folder(self, day: date) -> Path:
        return self.root / day.isoformat()

    def add(
        self,
        *,
        job_key: str,
        job_id: int,
        case_id: str | None,
        pdf: bytes,
        pages: int,
        day: date,
        recipient_role: str,
        letter: str,
    ) -> dict[str, Any]:
        folder = self.folder(day)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{hashlib.sha256(job_key.encode()).hexdigest()[:24]}.pdf"
        path = folder / name
        if folder not in self._swept:  # once per day folder: what a killed worker left
            staging.sweep(folder)
            self._swept.add(folder)
        if not path.exists():
            tmp = folder / staging.staging_name(name.removesuffix(".pdf"), ".pdf")
            with tmp.open("wb") as handle:
                handle.write(pdf)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            staging.entries_durable(folder)
        entry = {
            "job_id": job_id,
            "case_id": case_id,
            "file": name,
            "pages": pages,
            "recipient": recipient_role,
            "letter": letter,
        }
        self._append_once(folder / MANIFEST, entry)
        return {"batch": day.isoformat(), "file": name, "pages": pages}

    def _append_once(self, manifest: Path, entry: dict[str, Any]) -> None:
        # The lock keeps two workers' lines whole; the files listed keep a retried job to one
        # line. What this process read before is kept; the lines after it (another worker's)
        # are read under the lock, so the check sees every line written so far.
        created = not manifest.exists()
        with manifest.open("a+b") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                read, files = self._listed.get(manifest, (0, set()))
                size = handle.seek(0, os.SEEK_END)
                if size < read:  # the manifest was replaced: read it from the start
                    read, files = 0, set()
                handle.seek(read)
                new = handle.read()
                whole = new.rfind(b"\n") + 1  # a line still being written is read next time
                for line in new[:whole].split(b"\n")[:-1]:
                    if line.strip():
                        files.add(json.loads(line).get("file"))
                self._listed[manifest] = (read + whole, files)
                if entry["file"] in files:
                    return
                handle.write((json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"))
                handle.flush()
                os.fsync(handle.fileno())
                if created:  # the day's first entry: the manifest's name is the folder's
                    staging.entries_durable(manifest.parent)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def manifest(self, day: date) -> list[dict[str, Any]]:
        path = self.folder(day) / MANIFEST
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
