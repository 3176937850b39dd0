"""Settings from GATEWAY_* environment variables (the interface contract in DESIGN.md).

Every default is embedded so that `make run` works on a fresh machine: SQLite under var/, the
repository's mappings/, the demo roster, a fax spool folder and a maildir; an installed wheel has
the same defaults, with mappings/ and the demo data inside the package and var/ in the working
directory.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent


def _in_checkout() -> bool:
    """Whether the package runs from the project's checkout (or an editable install of it)."""
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "mappings").is_dir()


# mappings/ and the demo data (samples/: roster, partners, sample requests): the checkout's own
# folders, or the copies a wheel carries inside the package (setup.py puts them in
# gateway/embedded/ at build time), so that an installed gateway serves with its defaults.
DATA_ROOT = REPO_ROOT if _in_checkout() else PACKAGE_DIR / "embedded"
# Where var/ (SQLite, spools, maildirs, the token key) lives: the checkout, or else the working
# directory the installed gateway is started in (never inside site-packages).
VAR_ROOT = REPO_ROOT if _in_checkout() else Path.cwd()
DEMO_DIR = DATA_ROOT / "samples"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    database_url: str = f"sqlite:///{VAR_ROOT / 'var' / 'gateway.db'}"
    mappings_dir: Path = DATA_ROOT / "mappings"
    # Public reference material (PAS IG package and test bundles, 278 examples) that conformance
    # suites and tests replay when it is present: the project's shared/ folder beside the clone.
    reference_dir: Path = REPO_ROOT.parent / "shared" / "reference"
    roster: Path = DEMO_DIR / "roster.yaml"
    # ISA08/GS03 the gateway answers to and ISA06/GS02 it sends from.
    x12_id: str = "GATEWAYUM"
    x12_id_qualifier: str = "ZZ"
    fax_gateway: str = "spool"  # spool | hylafax | http
    fax_spool: Path = VAR_ROOT / "var" / "fax"
    hylafax_host: str = "127.0.0.1"
    hylafax_port: int = 4559
    hylafax_user: str = "gateway"
    fax_api_url: str | None = None
    mail_dir: Path = VAR_ROOT / "var" / "mail"
    smtp_url: str | None = None  # smtp://user:pass@host:port ; unset = maildir
    mail_from: str = "pa-notices@gateway.invalid"
    member_mail_dir: Path = VAR_ROOT / "var" / "member-mail"
    payer_feed_dir: Path = VAR_ROOT / "var" / "payer-feed"
    # Where providers look a case up (e-mail notices carry only this, never clinical content).
    portal_url: str = "http://127.0.0.1:8000/cases"
    # The base URL clients reach the FHIR endpoints at (fullUrls, Subscription notifications).
    fhir_base_url: str = "http://127.0.0.1:8000/fhir"
    dispatch_in_process: bool = True  # `gateway serve` runs the outbox dispatcher itself
    dispatch_interval_seconds: float = 1.0
    log_level: str = "INFO"
    # Review "now" for reproducible conformance runs; unset in production.
    frozen_time: datetime | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
