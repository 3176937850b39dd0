"""The zygote the drills fork their gateway processes from (tests/drills/zygote.py): each child is
a process of its own running the console script's entry point, whose exit code, signal and
output the drill sees as it would a subprocess's."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from gateway import __version__
from tests.conftest import migrated_sqlite_url
from tests.drills.conftest import Zygote, base_environment


def test_a_forked_command_exits_as_the_console_script_would(zygote: Zygote, tmp_path: Path) -> None:
    version = zygote.start(["--version"], base_environment(), tmp_path, tmp_path / "v.log")
    assert version.wait(timeout=60) == 0
    assert version.pid not in (os.getpid(), zygote.process.pid)
    assert (tmp_path / "v.log").read_text().strip() == f"gateway {__version__}"

    unknown = zygote.start(["no-such-command"], base_environment(), tmp_path, tmp_path / "u.log")
    assert unknown.wait(timeout=60) == 2  # click's usage error, as `gateway no-such-command`
    assert "No such command" in (tmp_path / "u.log").read_text()


def test_a_forked_worker_is_killed_for_real(zygote: Zygote, tmp_path: Path) -> None:
    env = {
        **base_environment(),
        "GATEWAY_DATABASE_URL": migrated_sqlite_url(tmp_path / "gateway.db"),
        "GATEWAY_DISPATCH_INTERVAL_SECONDS": "5",
    }
    worker = zygote.start(["worker"], env, tmp_path, tmp_path / "w.log")
    with pytest.raises(subprocess.TimeoutExpired):
        worker.wait(timeout=0.5)  # a worker runs until it is stopped
    assert worker.poll() is None
    worker.kill()
    assert worker.wait(timeout=60) == -signal.SIGKILL
    with pytest.raises(ProcessLookupError):
        os.kill(worker.pid, 0)  # gone, and reaped by its parent, the zygote
