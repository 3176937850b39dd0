"""Settings from GATEWAY_* environment variables (the interface contract in DESIGN.md).

Every default is embedded so that `make run` works on a fresh machine: SQLite under var/, the
repository's mappings/, the demo roster, a fax spool folder and a maildir.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    database_url: str = f"sqlite:///{REPO_ROOT / 'var' / 'gateway.db'}"
    mappings_dir: Path = REPO_ROOT / "mappings"
    # Public reference material (PAS IG package and test bundles, 278 examples) that conformance
    # suites and tests replay when it is present: the project's shared/ folder beside the clone.
    reference_dir: Path = REPO_ROOT.parent / "shared" / "reference"
    roster: Path = REPO_ROOT / "samples" / "roster.yaml"
    # ISA08/GS03 the gateway answers to and ISA06/GS02 it sends from.
    x12_id: str = "GATEWAYUM"
    x12_id_qualifier: str = "ZZ"
    fax_gateway: str = "spool"  # spool | hylafax | http
    fax_spool: Path = REPO_ROOT / "var" / "fax"
    hylafax_host: str = "127.0.0.1"
    hylafax_port: int = 4559
    hylafax_user: str = "gateway"
    fax_api_url: str | None = None
    mail_dir: Path = REPO_ROOT / "var" / "mail"
    smtp_url: str | None = None  # smtp://user:pass@host:port ; unset = maildir
    mail_from: str = "pa-notices@gateway.invalid"
    member_mail_dir: Path = REPO_ROOT / "var" / "member-mail"
    payer_feed_dir: Path = REPO_ROOT / "var" / "payer-feed"
    # Where providers look a case up (e-mail notices carry only this, never clinical content).
    portal_url: str = "http://127.0.0.1:8000/cases"
    # The base URL clients reach the FHIR endpoints at (fullUrls, Subscription notifications).
    fhir_base_url: str = "http://127.0.0.1:8000/fhir"
    dispatch_in_process: bool = True  # `gateway serve` runs the outbox dispatcher itself
    dispatch_interval_seconds: float = 1.0
    # How long a claimed job is a worker's own: a worker killed mid-delivery leaves its job to
    # be claimed again once this has passed. Longer than the slowest delivery (a fax upload).
    job_lease_seconds: float = 300.0
    log_level: str = "INFO"
    # Review "now" for reproducible conformance runs; unset in production.
    frozen_time: datetime | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
