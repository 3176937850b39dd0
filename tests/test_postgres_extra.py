"""PostgreSQL support is an extra (issue 17): `pip install pa-gateway` serves on SQLite with no
PostgreSQL driver, and a PostgreSQL URL without it stops with one line that says what to
install. The real `gateway` command runs with psycopg made unimportable, as on a machine
where the extra was never installed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

from gateway.settings import REPO_ROOT
from tests.servers import clean_environment

# Put first on sys.path: every `import psycopg` fails as if the package were absent.
NO_PSYCOPG = """
import sys
class _Absent:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith(("psycopg.", "psycopg_")):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None
sys.meta_path.insert(0, _Absent())
"""


def gateway_without_psycopg(tmp_path: Path, *args: str, **settings: str):
    site = tmp_path / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(NO_PSYCOPG)
    env = clean_environment(PYTHONPATH=f"{site}:{REPO_ROOT}", **settings)
    code = "import sys; from gateway.cli import main; sys.argv[0] = 'gateway'; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_driver_is_an_extra_not_a_dependency():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("psycopg")]
    assert any(d.startswith("psycopg") for d in project["optional-dependencies"]["postgres"])


def test_sqlite_needs_no_postgres_driver(tmp_path: Path):
    done = gateway_without_psycopg(
        tmp_path, "db", "upgrade", GATEWAY_DATABASE_URL=f"sqlite:///{tmp_path / 'g.db'}"
    )
    assert done.returncode == 0, done.stderr
    assert "schema is up to date" in done.stdout


def test_a_postgres_url_without_the_driver_says_what_to_install(tmp_path: Path):
    done = gateway_without_psycopg(
        tmp_path, "db", "upgrade", GATEWAY_DATABASE_URL="postgresql://gateway@127.0.0.1/none"
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "error: GATEWAY_DATABASE_URL names PostgreSQL, but its driver (psycopg) is not "
        "installed: pip install 'pa-gateway[postgres]'"
    )
