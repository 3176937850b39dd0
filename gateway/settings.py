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
from typing import Annotated

from pydantic import field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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
    # X12 follow-ups (unsolicited 278 responses) wait here for their partner: one folder each,
    # read by GET /x12/mailbox (gateway/notify/x12_mailbox.py).
    x12_mailbox_dir: Path = VAR_ROOT / "var" / "x12-mailbox"
    # Where providers look a case up (e-mail notices carry only this, never clinical content).
    portal_url: str = "http://127.0.0.1:8000/cases"
    # The base URL clients reach the FHIR endpoints at (fullUrls, Subscription notifications).
    fhir_base_url: str = "http://127.0.0.1:8000/fhir"
    dispatch_in_process: bool = True  # `gateway serve` runs the outbox dispatcher itself
    dispatch_interval_seconds: float = 1.0
    # The outbox (issue 18 item 6): a claimed job's lease, the first retry delay (doubled each
    # try, capped), and the tries before a job is parked dead with its reason.
    outbox_lease_seconds: float = 300.0
    outbox_backoff_seconds: float = 30.0
    outbox_backoff_cap_seconds: float = 3600.0
    outbox_max_attempts: int = 8
    # Each channel's own time limit for one delivery, so a hung relay holds only its channel.
    smtp_timeout_seconds: float = 15.0
    fax_timeout_seconds: float = 30.0
    subscription_timeout_seconds: float = 10.0
    # Development only: hosts (names or addresses, comma-separated) a Subscription endpoint may
    # use over http and at a non-public address. Empty: https to public addresses only.
    subscription_allowed_hosts: Annotated[list[str], NoDecode] = []
    log_level: str = "INFO"
    # Review "now" for reproducible conformance runs; unset in production.
    frozen_time: datetime | None = None

    @field_validator("subscription_allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return [host.strip() for host in value.split(",") if host.strip()]
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_delivery(self) -> Settings:
        # A lease shorter than a delivery's time limit lets a second worker take the job while
        # the first still sends it.
        longest = max(
            self.smtp_timeout_seconds, self.fax_timeout_seconds, self.subscription_timeout_seconds
        )
        if self.outbox_lease_seconds <= longest:
            raise ValueError(
                f"GATEWAY_OUTBOX_LEASE_SECONDS ({self.outbox_lease_seconds:g}) must be longer "
                f"than the longest channel timeout ({longest:g} s)"
            )
        if self.outbox_max_attempts < 1 or self.outbox_backoff_seconds < 0:
            raise ValueError("GATEWAY_OUTBOX_MAX_ATTEMPTS must be 1 or more, the backoff >= 0")
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
