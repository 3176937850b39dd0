"""The drills' gateway processes, forked from one process that imported the gateway once.

Each `gateway` process started the usual way spends 1-2 s of CPU (more on a loaded machine)
importing the gateway before it does anything the drill is about, and the drills start more
than twenty of them (issue 10). This module, run as `python -m tests.drills.zygote`, imports
what `gateway submit` and `gateway worker` import, then forks one child per request: the child
takes the drill's environment, folder and log, and runs the console script's own entry point
(`gateway.cli.main`) with the drill's arguments. Each child is a real process of its own, with
its own database connections and files, SIGKILLed by the drill as any other; only the imports
are shared, and nothing else is made before the fork (no settings read, no database opened, no
thread started in the child's lineage).

The protocol, one connection per child over a Unix socket: the test sends one JSON line
(args, env, cwd, log); the zygote answers {"pid": N}, then {"returncode": R} when the child
ends (negative R: killed by that signal, as subprocess reports it). The zygote exits when its
standard input closes (the test session ended, or died).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import warnings
from typing import Any


def _child(request: dict[str, Any]) -> None:
    """In the forked child: become the requested `gateway` command; never returns."""
    code = 1
    try:
        # Nothing of the zygote's: its socket, the other children's connections, its ^C rule,
        # and a stdin whose reader (the zygote's watch thread) is not in this process.
        os.closerange(3, 1 << 16)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        sys.stdin = open(os.devnull)  # noqa: SIM115 - the process's stdin until it exits
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["gateway", *request["args"]]
        from gateway.cli import main

        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported in the child's log, as the script would
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _serve_one(connection: socket.socket) -> None:
    stream = connection.makefile("rwb")
    request = json.loads(stream.readline())
    pid = os.fork()
    if pid == 0:
        _child(request)
    stream.write(json.dumps({"pid": pid}).encode() + b"\n")
    stream.flush()
    # The connection stays open for the exit report; the reporting thread closes it.
    threading.Thread(target=_report, args=(pid, connection, stream), daemon=True).start()


def _report(pid: int, connection: socket.socket, stream: Any) -> None:
    _, status, usage = os.wait4(pid, 0)
    code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
    # What each child cost (user + system CPU), for whoever measures the drills.
    print(f"child {pid} exit {code} cpu {usage.ru_utime + usage.ru_stime:.2f} s", file=sys.stderr)
    try:
        stream.write(json.dumps({"returncode": code}).encode() + b"\n")
        stream.flush()
    except OSError:
        pass  # the test stopped listening
    finally:
        stream.close()
        connection.close()


def _exit_with_stdin() -> None:
    sys.stdin.buffer.read()
    os._exit(0)


PRELOADED = (
    # What `gateway submit` and `gateway worker` import, at start-up or on their first case,
    # letter or job: paid here once, not in every child.
    "gateway.api.app",
    "gateway.cli",
    "gateway.domain.icd10cm",
    "gateway.fhir.notifications",
    "gateway.logs",
    "gateway.notify.fax.spool",
    "gateway.notify.letters",
    "gateway.notify.worker",
    "gateway.store.db",
    "gateway.submit",
    "gateway.wiring",
    "gateway.x12.followup",
    "psycopg",
    "rich.console",
    "rich.progress",
    "rich.table",
    "sqlite3",
)


def main(path: str) -> None:
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    # The US federal calendar's modules (some 300) load on the first review clock; the
    # gateway's own cache of the holidays stays empty (each child fills its own).
    import holidays

    holidays.country_holidays("US", years=2026)

    # Forking while the reporting threads wait is safe here: a child runs none of their code.
    warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*fork")
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a ^C of the test session reaches us too
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen(16)
    print("ready", flush=True)
    threading.Thread(target=_exit_with_stdin, daemon=True).start()
    while True:
        connection, _ = listener.accept()
        _serve_one(connection)


if __name__ == "__main__":
    main(sys.argv[1])
