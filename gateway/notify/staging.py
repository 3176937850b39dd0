"""Staging names for files and folders written atomically (write, then rename into place), and
the sweep that removes what a killed worker left half-written (issue 18 item 6: no orphan
staging folder after a kill).

A staging entry is named `.tmp-<what>-<host>-<pid>-<random>`: its owner is known, so a sweep
removes at once what a dead process on this host left, and waits an hour for another host's
(a shared spool), whose process it cannot ask. A live process's entry is never touched.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
import uuid
from pathlib import Path

PREFIX = ".tmp-"
FOREIGN_AGE_SECONDS = 3600.0
_HOST = socket.gethostname().split(".")[0][:40].replace("-", "_") or "host"


def staging_name(what: str, suffix: str = "") -> str:
    return f"{PREFIX}{what}-{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}{suffix}"


def entries_durable(folder: Path) -> None:
    """The entries renamed into `folder` (or created in it) made durable: a name lives in the
    folder, and fsyncing the file named does not write the folder. Without this, a power loss
    after the job is recorded delivered could lose the letter the record says is there."""
    descriptor = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def abandoned(entry: Path, *, now: float | None = None) -> bool:
    """True when `entry` is a staging entry whose writer is gone."""
    if not entry.name.startswith(PREFIX):
        return False
    parts = entry.name[len(PREFIX) :].split("-")
    if len(parts) >= 4 and parts[-3] == _HOST and parts[-2].isdigit():
        pid = int(parts[-2])
        if pid != os.getpid():
            return not _alive(pid)
        return False
    try:
        age = (now or time.time()) - entry.lstat().st_mtime
    except FileNotFoundError:
        return False
    return age > FOREIGN_AGE_SECONDS


def sweep(folder: Path) -> list[str]:
    """Remove abandoned staging entries directly under `folder`; their names."""
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for item in entries:
        path = Path(item.path)
        if not abandoned(path):
            continue
        if item.is_dir(follow_symlinks=False):
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(item.name)
    return removed
