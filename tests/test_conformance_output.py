"""`gateway conformance run` prints what an operator needs and nothing else (issue 17): no
framework warning, one line for the demo partners however many cases seed them, and a summary
that counts passed, failed and skipped cases. Run as a user runs it: the real command, in a
process of its own (a warning is printed once a process, at import)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.settings import REPO_ROOT
from tests.servers import clean_environment

CASES = ("tc.yaml", "without-her2.yaml", "reference-example-3-1-1.yaml")


def test_the_run_prints_one_seed_line_no_warning_and_counts_skipped(tmp_path: Path):
    suite = tmp_path / "suites" / "x12"
    suite.mkdir(parents=True)
    for name in CASES:
        text = (REPO_ROOT / "conformance" / "x12" / name).read_text(encoding="utf-8")
        (suite / name).write_text(text.replace("../../samples/", f"{REPO_ROOT}/samples/"))
    env = clean_environment(
        PYTHONPATH=str(REPO_ROOT),
        # No reference material here: the case that replays it skips, and says so.
        GATEWAY_REFERENCE_DIR=str(tmp_path / "no-reference"),
        GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path / 'unused.db'}",
        COLUMNS="200",
    )
    code = "import sys; from gateway.cli import main; sys.argv[0] = 'gateway'; main()"
    done = subprocess.run(
        [sys.executable, "-c", code, "conformance", "run", "--dir", str(tmp_path / "suites")],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "Warning" not in output, output
    assert output.count("demo partners seeded") == 1, output
    assert done.stdout.strip().splitlines()[-1] == "2 passed, 0 failed, 1 skipped"
    assert "skip" in done.stdout and "reference" in done.stdout  # the skipped case says why
