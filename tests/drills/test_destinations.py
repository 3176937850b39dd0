"""Drill: a delivery killed with SIGKILL at each of its durable steps, then delivered again.

The worker drill kills at moments it can see from the database; this one kills at every step
inside a destination's write (after each fsync, rename, replace or link), including the one
between "the message is there" and "we noted it is there", which a worker's kill hits only by
luck. After each kill the same job is delivered again, as the outbox does when the lease runs
out, and exactly one copy must be at the destination.
"""

from __future__ import annotations

import json
import os
import signal
import traceback
from pathlib import Path

import pytest

from tests.drills.crash_at import DAY, JOB_KEY, crash_after, deliver


def killed_delivery(kind: str, steps: int, root: Path) -> int:
    """The delivery of `kind` made by a process of its own (forked from this one, the
    destination's code imported already) that SIGKILLs itself after its `steps`th durable step;
    its exit status as subprocess reports it (-9 when killed, 0 when it ran to its end)."""
    pid = os.fork()
    if pid == 0:  # the child: only the delivery, then out (never back into pytest)
        code = 1
        try:
            crash_after(steps)
            deliver(kind, root)
            code = 0
        except BaseException:  # noqa: BLE001 - shown in the test's captured output
            traceback.print_exc()
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def copies(kind: str, root: Path) -> int:
    """How many copies of the drill's job the destination holds."""
    if kind == "fax":
        return sum(
            1
            for path in root.glob("fx-*/job.json")
            if json.loads(path.read_text())["idempotency_key"] == JOB_KEY
        )
    if kind == "email":
        return sum(1 for box in ("new", "cur") for p in (root / box).glob("*") if p.is_file())
    if kind == "member_mail":
        folder = root / DAY.isoformat()
        pdfs = [p for p in folder.glob("*.pdf") if not p.name.startswith(".")]
        manifest = (folder / "manifest.jsonl").read_text().splitlines()
        assert len(pdfs) == len([line for line in manifest if line.strip()])
        return len(pdfs)
    lines = (root / "62308" / f"{DAY.isoformat()}.jsonl").read_text().splitlines()
    return sum(1 for line in lines if json.loads(line)["idempotency_key"] == JOB_KEY)


@pytest.mark.parametrize("kind", ["fax", "email", "member_mail", "payer_feed"])
def test_a_delivery_killed_at_any_step_and_delivered_again_lands_once(
    kind: str, tmp_path: Path
) -> None:
    deliver(kind, tmp_path / "imported")  # the destination's modules loaded once, not per child
    killed_at = 0
    for steps in range(1, 20):
        root = tmp_path / f"after-{steps}"
        code = killed_delivery(kind, steps, root)
        if code == 0:
            break  # the delivery has fewer steps: it ran to its end
        assert code == -signal.SIGKILL, f"{kind}: exit {code} after step {steps}"
        killed_at = steps
        deliver(kind, root)  # the outbox delivers the job again
        deliver(kind, root)  # and once more: a retry of a retry changes nothing either
        assert copies(kind, root) == 1, f"{kind}: killed after step {steps}"
    else:
        pytest.fail(f"{kind}: the delivery never ran to its end")
    assert killed_at >= 1, f"{kind}: no durable step to kill at"
    assert copies(kind, tmp_path / f"after-{killed_at + 1}") == 1  # the run that was not killed
