"""Build hook beside pyproject.toml (which holds all the metadata): ship the data in the wheel.

mappings/ (pathways, plans, code tables, the X12 map) and the demo data in samples/ (roster,
partners, sample requests) live at the top of the checkout, where payers and developers edit
them. A wheel carries copies of them inside the package, in gateway/embedded/, so that an
installed gateway serves with its embedded defaults (gateway/settings.py: DATA_ROOT). An editable
install (`make install`) copies nothing: it reads the checkout's own folders.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
EMBEDDED = ("mappings", "samples")


class BuildWithEmbeddedData(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        target = Path(self.build_lib) / "gateway" / "embedded"
        for folder in EMBEDDED:
            shutil.copytree(
                ROOT / folder,
                target / folder,
                dirs_exist_ok=True,
                ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
            )


setup(cmdclass={"build_py": BuildWithEmbeddedData})
