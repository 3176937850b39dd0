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

from pydantic import Field, field_validator, model_validator
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
    """The gateway's settings. Each field's docstring is its line in the README's settings table
    (gateway/settings_doc.py writes it; a test fails when the two differ)."""

    # The field docstrings are read by gateway/settings_doc.py, not by pydantic at start-up.
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    database_url: str = Field(
        f"sqlite:///{VAR_ROOT / 'var' / 'gateway.db'}",
        examples=["postgresql://gateway@db.internal/gateway"],
    )
    """SQLite (embedded), or PostgreSQL for several workers (needs the `postgres` extra)."""
    mappings_dir: Path = DATA_ROOT / "mappings"
    """Pathways, plans, code tables and the X12 map (a wheel: its embedded copy)."""
    reference_dir: Path = REPO_ROOT.parent / "shared" / "reference"
    """Public reference bundles and 278 examples that conformance suites and tests replay when
    present (default: shared/reference beside the checkout)."""
    cache_dir: Path | None = None
    """Where compiled forms of the mappings (the X12 map) are kept between processes, keyed
    by the bytes of their files; unset: the user's cache folder (`$XDG_CACHE_HOME/pa-gateway`,
    else `~/.cache/pa-gateway`). A folder that cannot be written only means compiling again."""
    roster: Path = DEMO_DIR / "roster.yaml"
    """The eligibility roster of the embedded adapter (a wheel: its embedded copy)."""
    x12_id: str = "GATEWAYUM"
    """Interchange id the gateway answers to (ISA08/GS03) and sends from (ISA06/GS02)."""
    x12_id_qualifier: str = "ZZ"
    """ISA05/ISA07 qualifier of `GATEWAY_X12_ID`."""
    fax_gateway: str = Field("spool", examples=["hylafax"])
    """Where letters are faxed: `spool` (a folder), `hylafax` (hfaxd) or `http` (a fax API)."""
    fax_spool: Path = VAR_ROOT / "var" / "fax"
    """The spool folder (one folder per fax job)."""
    hylafax_host: str = "127.0.0.1"
    """hfaxd's host (`GATEWAY_FAX_GATEWAY=hylafax`)."""
    hylafax_port: int = 4559
    """hfaxd's port."""
    hylafax_user: str = "gateway"
    """The user the gateway logs in to hfaxd as."""
    fax_api_url: str | None = Field(None, examples=["https://fax.example.org/api/send"])
    """The HTTP fax API (`GATEWAY_FAX_GATEWAY=http`)."""
    mail_dir: Path = VAR_ROOT / "var" / "mail"
    """Maildir for e-mail notices when no SMTP relay is set."""
    smtp_url: str | None = Field(None, examples=["smtp://user:password@mail.example.org:587"])
    """SMTP relay: `smtp://` with STARTTLS when offered and AUTH when a user is given,
    `smtps://` for implicit TLS; unset: the maildir."""
    mail_from: str = "pa-notices@gateway.invalid"
    """The From address of e-mail notices."""
    member_mail_dir: Path = VAR_ROOT / "var" / "member-mail"
    """Daily print batches of member letters."""
    payer_feed_dir: Path = VAR_ROOT / "var" / "payer-feed"
    """Determination feed files per payer."""
    x12_mailbox_dir: Path = VAR_ROOT / "var" / "x12-mailbox"
    """X12 follow-ups (unsolicited 278 responses) wait here for their partner, one folder each,
    read by GET /x12/mailbox."""
    portal_url: str = "http://127.0.0.1:8000/cases"
    """Where providers look a case up: the only link an e-mail notice carries (never clinical
    content)."""
    fhir_base_url: str = "http://127.0.0.1:8000/fhir"
    """The base URL clients reach the FHIR endpoints at (fullUrls, notifications)."""
    submit_batch_size: int = Field(default=200, ge=1)
    """Cases `gateway submit` commits to the database together from a batch file, each still
    all or nothing; a crash loses the group not yet committed, which a rerun stores."""
    dispatch_in_process: bool = True
    """`gateway serve` delivers outbox jobs itself; false when `gateway worker` processes do."""
    dispatch_interval_seconds: float = 1.0
    """How often an idle dispatcher looks for due jobs."""
    outbox_lease_seconds: float = 300.0
    """How long a claimed job is a worker's before another may take it; must exceed every
    channel timeout."""
    outbox_backoff_seconds: float = 30.0
    """First retry delay, doubled each try (plus up to 20 % jitter)."""
    outbox_backoff_cap_seconds: float = 3600.0
    """The longest retry delay."""
    outbox_max_attempts: int = 8
    """Tries before a job is parked dead with its reason (`gateway jobs list --dead`)."""
    smtp_timeout_seconds: float = 15.0
    """The whole SMTP exchange of one notice."""
    fax_timeout_seconds: float = 30.0
    """One fax API or hfaxd call."""
    subscription_timeout_seconds: float = 10.0
    """One Subscription notification POST."""
    subscription_allowed_hosts: Annotated[list[str], NoDecode] = Field(
        [], examples=["127.0.0.1,localhost:8443"]
    )
    """Development only: comma-separated hosts (`host` or `host:port`) a Subscription endpoint
    may reach over http or at a non-public address. Empty: https to public addresses only."""
    log_level: str = Field("INFO", examples=["DEBUG"])
    """DEBUG, INFO, WARNING or ERROR (JSON lines on stderr)."""
    frozen_time: datetime | None = Field(None, examples=["2026-11-23T15:00:00Z"])
    """The review clock's "now" as an ISO 8601 date-time, for reproducible runs; also the
    "today" of `gateway samples`. Unset in production."""

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
