"""Compiled forms of mapping files kept between processes (issue 19 item 2).

Every `gateway` process compiles the X12 map from its XML (gateway/x12/grammar.py); a one-file
`gateway submit` paid for lxml and the compilation on each start. The compiled form is stored
here as JSON in the user's cache folder (GATEWAY_CACHE_DIR, else $XDG_CACHE_HOME/pa-gateway or
~/.cache/pa-gateway), under a name made of a digest of every byte it was compiled from: the
source files and the compiler's own code. A mapping file edited, added to or replaced gives
another digest, so a stale entry is never read; the XML stays the truth.

The cache is only ever a shortcut. A folder that cannot be created or written, an entry that
cannot be read or is not what the compiler wrote: the caller compiles as if there were none, and
the answer is the same. JSON and not pickle: an entry is data, so a file planted in the folder can
give a wrong map at worst (as an edited map would), never run code.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# Bumped when the layout of an entry changes (the compiler's source is in the digest anyway).
FORMAT = b"gateway-compiled-1"
KEEP = 8  # entries kept per kind and name: a few checkouts or edited copies, not every test's


def cache_root() -> Path | None:
    """The folder entries live in, or None when no user cache folder can be named."""
    from gateway.settings import get_settings

    try:
        configured = get_settings().cache_dir
    except ValueError:  # settings the gateway cannot run on: the command reports them itself
        return None
    if configured is not None:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and Path(xdg).is_absolute():  # the XDG rule: a relative value is ignored
        return Path(xdg) / "pa-gateway"
    try:
        return Path.home() / ".cache" / "pa-gateway"
    except RuntimeError:  # no HOME and no password entry: nowhere per user
        return None


def digest(sources: Sequence[Path], code: Sequence[Path]) -> str | None:
    """The key of what `sources` compile to under the compiler in `code` (None: a file cannot
    be read, so there is nothing to key; the compiler then names the problem)."""
    hashed = hashlib.blake2b(FORMAT, digest_size=20)
    for path in (*code, *sources):
        try:
            data = Path(path).read_bytes()
        except OSError:
            return None
        hashed.update(f"\0{Path(path).name}\0{len(data)}\0".encode())
        hashed.update(data)
    return hashed.hexdigest()


def compiled(
    kind: str,
    name: str,
    sources: Sequence[Path],
    code: Sequence[Path],
    build: Callable[[], T],
    encode: Callable[[T], Any],
    decode: Callable[[Any], T],
) -> T:
    """`build()`, or what an earlier process stored for the same bytes of `sources` and
    `code`. `encode` turns the result into JSON values and `decode` back (it raises ValueError,
    KeyError, TypeError or IndexError on anything it was not written as)."""
    root = cache_root()
    key = digest(sources, code) if root is not None else None
    if root is None or key is None:
        return build()
    folder = root / kind / name
    entry = folder / f"{key}.json"
    try:
        return decode(json.loads(entry.read_bytes()))
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        pass  # none yet, unreadable or not ours: compile
    made = build()
    _store(folder, entry, encode(made))
    return made


def _store(folder: Path, entry: Path, value: Any) -> None:
    """Write an entry whole or not at all (a process reading it meanwhile finds none, never a
    part), then drop the oldest entries of the same name beyond KEEP. A failure leaves the cache
    as it was."""
    temporary = folder / f".{entry.stem}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary.write_text(json.dumps(value, separators=(",", ":")), encoding="utf-8")
        os.replace(temporary, entry)
        others = sorted(
            (p for p in folder.glob("*.json") if p != entry), key=lambda p: p.stat().st_mtime
        )
        for old in others[: max(0, len(others) + 1 - KEEP)]:
            old.unlink(missing_ok=True)
    except OSError:
        with suppress(OSError):
            temporary.unlink(missing_ok=True)
