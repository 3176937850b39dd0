"""The package runs outside a checkout (issue 18, item 11): a wheel built from the repository,
installed into a fresh virtualenv, serves /healthz and answers a sample 278 with its embedded
defaults (mappings/ and the demo data inside the package, var/ in the working directory).

The fresh virtualenv gets no network: the wheel goes in with --no-deps --no-index, and the
dependencies come from the running interpreter's site-packages through a .pth line (a .pth line
adds a folder to sys.path without running the .pth files inside it, so the checkout's editable
install there does not shadow the wheel).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import httpx
import pytest

from gateway.conformance.observe import observe_x12
from gateway.settings import REPO_ROOT
from tests.servers import clean_environment, serving

SOURCES = (
    "pyproject.toml",
    "setup.py",
    "MANIFEST.in",
    "README.md",
    "gateway",
    "mappings",
    "samples",
)
CLEARINGHOUSE = ("sample-clearinghouse", "demo-clearinghouse-secret-0001")


def _offline_backend() -> bool:
    """Whether this interpreter can build the wheel itself (setuptools >= 77 for the license
    expression in pyproject.toml, and bdist_wheel); else pip builds it in an isolated env."""
    try:
        import setuptools
        from setuptools.command import bdist_wheel  # noqa: F401
    except ImportError:
        return False
    return int(setuptools.__version__.split(".")[0]) >= 77


# setuptools' build backend (pyproject.toml [build-system]), building into the folder named.
BUILD_WHEEL = "import sys; from setuptools import build_meta; build_meta.build_wheel(sys.argv[1])"


def run(*args: str | Path, **kwargs) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, **kwargs
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy, so that the build leaves nothing (build/, *.egg-info) in the checkout.
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    for name in SOURCES:
        origin = REPO_ROOT / name
        if origin.is_dir():
            shutil.copytree(origin, source / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(origin, source / name)
    dist = root / "dist"
    if _offline_backend():
        # The PEP 517 hook pip itself would call (`pip wheel --no-build-isolation` runs it in a
        # process of its own), called straight: the same setup.py and wheel, without pip's own
        # start and resolver (~2 s of CPU of the test's ~20).
        run(sys.executable, "-c", BUILD_WHEEL, dist, cwd=source)
    else:
        pip = [sys.executable, "-m", "pip"]
        run(*pip, "wheel", "--no-deps", "--wheel-dir", dist, f"{source}/")
    [built] = dist.glob("pa_gateway-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    venv = tmp_path_factory.mktemp("venv") / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", venv)
    python = venv / "bin" / "python"
    # The new environment's site-packages, by the venv scheme this interpreter made it with.
    purelib = sysconfig.get_path("purelib", "venv", vars={"base": venv, "platbase": venv})
    (Path(purelib) / "_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    pip = [sys.executable, "-m", "pip", "--python", python]
    # Without PYTHONPATH: a checkout on it makes pip take the editable install beside the
    # dependencies for this package already installed, and install nothing. --no-compile: the
    # commands below compile the modules they import as any first run does, not all of them.
    env = {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}
    run(*pip, "install", "--no-deps", "--no-index", "--no-compile", "--quiet", wheel, env=env)
    return venv


def test_the_wheel_carries_mappings_and_the_demo_data(wheel: Path):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    for folder in ("mappings", "samples"):
        for path in (REPO_ROOT / folder).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                member = f"gateway/embedded/{path.relative_to(REPO_ROOT).as_posix()}"
                assert member in names, member
    assert "gateway/store/migrations/script.py.mako" in names


def test_an_installed_wheel_serves_and_answers_a_sample_278(installed: Path, tmp_path: Path):
    env = clean_environment(GATEWAY_FROZEN_TIME="2027-11-23T15:00:00+00:00")
    env.pop("PYTHONPATH", None)
    python, gateway = installed / "bin" / "python", installed / "bin" / "gateway"
    where = run(python, "-c", "import gateway; print(gateway.__file__)", env=env, cwd=tmp_path)
    assert Path(where.stdout.strip()).is_relative_to(installed)

    run(gateway, "samples", env=env, cwd=tmp_path)
    interchange = (tmp_path / "var" / "samples" / "x12" / "278-act-dd-jane-doe.x12").read_bytes()
    with serving(gateway, env, tmp_path) as base:
        assert httpx.get(f"{base}/healthz", timeout=10).json()["status"] == "ok"
        response = httpx.post(
            f"{base}/x12/278",
            content=interchange,
            headers={"Content-Type": "application/edi-x12"},
            auth=CLEARINGHOUSE,
            timeout=60,
        )
    assert response.status_code == 200, response.text
    assert b"HCR*A1*" in response.content
    assert set(observe_x12(response.content)["items"]) == {"A1"}
    # var/ is the working directory's, never inside the installed package.
    assert (tmp_path / "var" / "gateway.db").is_file()
    assert not list(installed.rglob("gateway.db"))
