"""What is known of a resource by its content alone, kept across requests.

A PAS client sends the same Patient, Coverage, insurer and requestor (often the same
Practitioners and Observations too) in one submission after another. What depends only on a
resource's JSON (is it valid R4, which References and Attachments does it hold) is worked out
once and found again by the sha256 of that JSON, within a bounded memory.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref
from collections import OrderedDict
from typing import Any, Generic, TypeVar

V = TypeVar("V")
# Digests are 32 bytes; what is kept beside them is small (a flag, a few short paths): a few
# thousand distinct resources cover a busy hour of submissions in a megabyte or two.
MEMO_SIZE = 4096
MEMOS: weakref.WeakSet[DigestMemo[Any]] = weakref.WeakSet()  # every memo, for forget_resources


def content_digest(resource: dict[str, Any]) -> bytes | None:
    """sha256 of the resource's JSON text as parsed (key order kept: a reordered copy is only
    a miss); None when it is no JSON text (NaN, a value JSON has no type for)."""
    try:
        text = json.dumps(resource, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode("ascii")).digest()


class DigestMemo(Generic[V]):
    """Values by content digest, the least recently used dropped first; shared by the
    server's threads."""

    def __init__(self, size: int = MEMO_SIZE):
        self.size = size
        self._values: OrderedDict[bytes, V] = OrderedDict()
        self._lock = threading.Lock()
        MEMOS.add(self)

    def get(self, digest: bytes | None) -> V | None:
        if digest is None:
            return None
        with self._lock:
            value = self._values.get(digest)
            if value is not None:
                self._values.move_to_end(digest)
            return value

    def put(self, digest: bytes | None, value: V) -> None:
        if digest is None:
            return
        with self._lock:
            self._values[digest] = value
            self._values.move_to_end(digest)
            while len(self._values) > self.size:
                self._values.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()



def forget_resources() -> None:
    """Everything known of resources by their content forgotten (the benchmark's measure of
    resources seen for the first time)."""
    for memo in list(MEMOS):
        memo.clear()
