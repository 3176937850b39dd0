"""The real `gateway` command run inside the test's process (typer's CliRunner).

The same Typer app, arguments, GATEWAY_* settings read from the environment and exit codes as
the console script, without starting an interpreter and loading the gateway again for every
call (~1 s of CPU each). The environment is the one given, as a subprocess would get it, and
what a command changes for its process (the settings it read, the logging it configured, the
crosswalks it installed) is put back afterwards.

Tests about the process itself (the console script, signals, a killed run, a server on a
port) start the real one instead; each command family keeps such a test.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Mapping
from dataclasses import dataclass

from typer.testing import CliRunner

import gateway.fhir.codes as codes
from gateway.cli import app
from gateway.settings import get_settings


@dataclass(frozen=True)
class Ran:
    """What a finished command left: the fields of subprocess.CompletedProcess tests read."""

    returncode: int
    stdout: str
    stderr: str


def run_in_process(env: Mapping[str, str], *args: str, stdin: str | None = None) -> Ran:
    """`gateway ARGS...` with exactly `env` as its environment; its exit code and output."""
    saved_env = dict(os.environ)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    crosswalks = codes._installed
    os.environ.clear()
    os.environ.update(env)
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, list(args), input=stdin)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        get_settings.cache_clear()
        root.handlers[:] = handlers
        root.setLevel(level)
        codes._installed = crosswalks
    stderr = result.stderr
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        # What the interpreter would print before exiting 1.
        stderr += "".join(traceback.format_exception(result.exception))
    return Ran(result.exit_code, result.stdout, stderr)
