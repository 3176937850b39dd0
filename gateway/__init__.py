"""Oncology prior-authorization gateway: X12 278 and Da Vinci PAS in, determinations out."""

from __future__ import annotations


def __getattr__(name: str) -> str:
    """`gateway.__version__`: the installed distribution's version (one number, in
    pyproject.toml), looked up on first use (`gateway --version`, the API's OpenAPI document),
    not by every process that imports the package (issue 19 item 2)."""
    if name != "__version__":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("pa-gateway")
    except PackageNotFoundError:  # a bare checkout on PYTHONPATH, not installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found
