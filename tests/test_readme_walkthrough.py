"""The README's "Try it" walk-through, run as written (bash and curl) against a real
`gateway serve` set up as `make run` does it, with the review clock two years past the suites'
frozen day: the 278 still gets HCR*A1 and the PAS bundle A1 (issue 18, item 10).

One real run (three processes and five curls, ~15 s of CPU): two years later crosses a leap day
(29 February 2028), which one year later does not, and is otherwise the same walk-through. The
year later is `make run`'s samples command and the walk-through's requests in this process (the
same app and command, tests/cli.py); tests/test_demo_samples.py answers every sample request a
year and two years later.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.conformance.observe import observe_fhir, observe_x12
from gateway.settings import REPO_ROOT
from tests.cli import run_in_process
from tests.conftest import NOW
from tests.servers import clean_environment, serving

SEPARATOR = "-----8<-----"
CURL = pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through uses curl")


def walkthrough() -> str:
    """The first shell block under "## Try it" in the README."""
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Try it", 1)[1]
    match = re.search(r"```\n(.*?)```", section, re.S)
    assert match, "README has no shell block under Try it"
    return match.group(1)


def make_run_samples(gateway: Path) -> list[str]:
    """The `gateway samples` command `make run` runs before serving, for this interpreter."""
    recipe = (REPO_ROOT / "Makefile").read_text(encoding="utf-8").split("\nrun:", 1)[1]
    [line] = [row for row in recipe.splitlines() if "gateway samples" in row]
    return line.strip().replace("$(BIN)/gateway", str(gateway)).split()


def wait_for_faxes(spool: Path, count: int, seconds: float = 60.0) -> list[Path]:
    """The fax jobs in `spool` once there are `count` (or what is there after `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        jobs = sorted(spool.glob("fx-*/job.json"))
        if len(jobs) >= count or time.monotonic() > deadline:
            return jobs
        time.sleep(0.05)


def gateway_script() -> Path:
    script = Path(sys.executable).parent / "gateway"
    return script if script.exists() else Path(shutil.which("gateway") or "gateway")


@CURL
@pytest.mark.parametrize("years", [2])
def test_the_readme_walkthrough_answers_a1_on_both_channels_years_later(tmp_path: Path, years):
    frozen = NOW.replace(year=NOW.year + years)
    env = clean_environment(
        PYTHONPATH=str(REPO_ROOT),
        GATEWAY_FROZEN_TIME=frozen.isoformat(),
        GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path / 'gateway.db'}",
        GATEWAY_FAX_SPOOL=str(tmp_path / "fax"),
        GATEWAY_MAIL_DIR=str(tmp_path / "mail"),
        GATEWAY_MEMBER_MAIL_DIR=str(tmp_path / "member-mail"),
        GATEWAY_PAYER_FEED_DIR=str(tmp_path / "payer-feed"),
        GATEWAY_TOKEN_SECRET="walkthrough-test-token-signing-secret-0123456789",
        # The served dispatcher looks for the approval letters every 0.2 s instead of every
        # second: the test waits for them in the spool.
        GATEWAY_DISPATCH_INTERVAL_SECONDS="0.2",
    )
    gateway = gateway_script()
    made = subprocess.run(make_run_samples(gateway), env=env, cwd=tmp_path, capture_output=True)
    assert made.returncode == 0, made.stderr
    with serving(gateway, env, tmp_path) as base:
        script = walkthrough().replace("http://127.0.0.1:8000", base)
        script = script.replace(".venv/bin/gateway", str(gateway))
        # Each curl answer ends with a line of its own, so the answers can be told apart; a 4xx
        # or 5xx fails the script.
        wrapper = 'set -euo pipefail\ncurl() { command curl --fail-with-body "$@"; '
        wrapper += f"printf '\\n%s\\n' '{SEPARATOR}'; }}\n"
        run = subprocess.run(
            ["bash", "-c", wrapper + script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=300,
        )
        # "letters faxed into var/fax/": the served gateway's dispatcher spools the approval
        # letters of both cases (here into GATEWAY_FAX_SPOOL).
        spooled = wait_for_faxes(tmp_path / "fax", 2) if run.returncode == 0 else []
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(spooled) >= 2, spooled
    answers = [part.strip() for part in run.stdout.split(SEPARATOR)][:-1]
    health, eligibility, x12, pas, cases = answers

    assert json.loads(health)["status"] == "ok"
    assert "Medical Oncology" in eligibility
    assert "HCR*A1*" in x12
    observed = observe_x12(x12.encode())
    assert (observed["review_action"], set(observed["items"])) == ("A1", {"A1"})
    # The requests were written for the moved clock: the services start eight days after it.
    sent = tmp_path / "var" / "samples" / "x12" / "278-act-dd-jane-doe.x12"
    assert f"DTP*472*D8*{frozen.year}1201" in sent.read_text()
    assert observe_fhir(json.loads(pas))["items"] == ["A1", "A1", "A1"]
    statuses = [row["status"] for row in json.loads(cases)["cases"]]
    assert statuses.count("approved") == 2


def test_make_runs_samples_a_year_later_get_a1_on_both_channels_in_process(
    client, clock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """`make run`'s `gateway samples` and the walk-through's requests, a year later, in this
    process: the requests are written for the moved clock and still get A1 on both channels."""
    frozen = NOW.replace(year=NOW.year + 1)
    monkeypatch.chdir(tmp_path)  # `--out var/samples`, as `make run` writes them
    command = make_run_samples(Path("gateway"))[1:]
    ran = run_in_process({**os.environ, "GATEWAY_FROZEN_TIME": frozen.isoformat()}, *command)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    samples = tmp_path / "var" / "samples"
    sent = (samples / "x12" / "278-act-dd-jane-doe.x12").read_bytes()
    assert f"DTP*472*D8*{frozen.year}1201".encode() in sent

    clock.now = frozen
    eligibility = client.get(f"/eligibility/U1234567801?date={frozen.date().isoformat()}")
    assert eligibility.status_code == 200 and "Medical Oncology" in eligibility.text
    x12 = client.post("/x12/278", content=sent, headers={"Content-Type": "application/edi-x12"})
    observed = observe_x12(x12.content)
    assert (observed["review_action"], set(observed["items"])) == ("A1", {"A1"})
    pas = client.post(
        "/fhir/Claim/$submit",
        content=(samples / "pas" / "ddact-her2neg.json").read_bytes(),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert observe_fhir(pas.json())["items"] == ["A1", "A1", "A1"]
    statuses = [row["status"] for row in client.get("/cases").json()["cases"]]
    assert statuses.count("approved") == 2
