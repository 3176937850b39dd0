"""Oncology prior-authorization gateway: X12 278 and Da Vinci PAS in, determinations out."""

from importlib.metadata import PackageNotFoundError, version

try:
    # The installed distribution's version: one number, in pyproject.toml.
    __version__ = version("pa-gateway")
except PackageNotFoundError:  # a bare checkout on PYTHONPATH, not installed
    __version__ = "0.0.0+unknown"
