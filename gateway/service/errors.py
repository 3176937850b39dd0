"""What the case service refuses with; the routers and channels turn these into their answers."""

from __future__ import annotations


class CaseNotFound(LookupError):
    pass


class InvalidTransition(ValueError):
    """The case is not in a state that allows this (e.g. deciding an approved case)."""
