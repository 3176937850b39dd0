"""Control numbers the gateway owns (ISA13, GS06, and its own TRN traces).

They must stay unique across restarts, so they come from a `ControlNumbers` provider: the store
implements it with a database counter; `MemoryControlNumbers` serves tests and one-off runs.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

INTERCHANGE = "interchange"  # ISA13 / IEA02 of every interchange the gateway sends
GROUP = "group"  # GS06 / GE02
TRACE = "trace"  # the gateway's own TRN02 in 278 responses

_ISA13_SPACE = 999_999_999


@runtime_checkable
class ControlNumbers(Protocol):
    def next(self, kind: str) -> int:
        """The next number of a series (interchange, group, trace); never repeats."""
        ...


class MemoryControlNumbers:
    """Per-process counters: fine for tests, not unique across restarts."""

    def __init__(self, start: int = 1):
        self._next: dict[str, int] = {}
        self._start = start
        self._lock = threading.Lock()

    def next(self, kind: str) -> int:
        with self._lock:
            value = self._next.get(kind, self._start)
            self._next[kind] = value + 1
            return value


def isa13(number: int) -> str:
    """Nine digits, 000000001-999999999 (X12 I12 is N0 9/9; zero is not used)."""
    return f"{(number - 1) % _ISA13_SPACE + 1:09d}"


def gs06(number: int) -> str:
    """GS06 is N0 1/9."""
    return str((number - 1) % _ISA13_SPACE + 1)
