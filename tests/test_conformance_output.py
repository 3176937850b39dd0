"""`gateway conformance run` prints what an operator needs and nothing else (issue 17): no
framework warning, one line for the demo partners however many cases seed them, and a summary
that counts passed, failed and skipped cases. Run as a user runs it: the real command, in a
process of its own (a warning is printed once a process, at import).

The suite is the cheapest one that still replays cases in-process (a subprocess loads the
gateway anew; the X12 cases of the first version of this test added pyx12 and their letters to
that): two REST refusals, each on a gateway of its own, so each seeds the demo partners, and a
reference case that skips here. The warning came with the import of the in-process test client,
which any replayed case makes; the answers themselves are checked by the session's suite runs
(tests/test_conformance_run.py).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gateway.settings import REPO_ROOT
from tests.servers import clean_environment

CASES = (
    "pas/accept-xml-is-a-406-outcome.yaml",
    "pas/unknown-fhir-route-is-a-404-outcome.yaml",
    "x12/reference-example-3-1-1.yaml",  # reference material only
)


def test_the_run_prints_one_seed_line_no_warning_and_counts_skipped(tmp_path: Path):
    for name in CASES:
        case = tmp_path / "suites" / name
        case.parent.mkdir(parents=True, exist_ok=True)
        case.write_text((REPO_ROOT / "conformance" / name).read_text(encoding="utf-8"))
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
