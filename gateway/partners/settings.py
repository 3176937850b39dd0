"""Settings of trading-partner access control, from GATEWAY_* environment variables.

Kept apart from gateway.settings.Settings so that the access-control knobs live with the code
that reads them; both read the same GATEWAY_ prefix.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.settings import DEMO_DIR, VAR_ROOT

MIB = 1024 * 1024
# PAS attachments (issue 5): up to 5 documents, 5 MB each, 25 MB in all. They travel base64-encoded
# inside the Bundle (4/3 of their size), and the Claim, its parties and the JSON around them need
# room too: 25 MiB * 4/3 plus a 2 MiB envelope.
PAS_MAX_ATTACHMENTS = 5
PAS_MAX_ATTACHMENT_BYTES = 5 * MIB
PAS_MAX_ATTACHMENTS_TOTAL = 25 * MIB
PAS_ENVELOPE_BYTES = 2 * MIB
PAS_MAX_BODY = PAS_MAX_ATTACHMENTS_TOTAL * 4 // 3 + PAS_ENVELOPE_BYTES


class AuthSettings(BaseSettings):
    """Access-control settings; each field's docstring is its line in the README's table."""

    # The field docstrings are read by gateway/settings_doc.py, not by pydantic at start-up.
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    auth_enabled: bool = True
    """Partner authentication on every route but health, metadata, token and docs. Off only for
    a closed test bench: every request then acts as an operator."""
    token_secret: SecretStr | None = None
    """HS256 key of the gateway's own access tokens; set the same one on every node. Unset: a
    random key is made once into `GATEWAY_TOKEN_KEY_FILE`."""
    token_key_file: Path = VAR_ROOT / "var" / "token-signing.key"
    """Where the generated signing key is kept (mode 0600)."""
    access_token_seconds: int = Field(default=300, ge=30, le=3600)
    """Lifetime of an access token (SMART Backend Services: 5 minutes)."""
    assertion_max_seconds: int = 300
    """The longest a client assertion may live."""
    clock_skew_seconds: int = 30
    """Clock skew allowed when checking assertions and tokens."""
    public_url: str = "http://127.0.0.1:8000"
    """The gateway's public base URL: the token issuer and audience."""
    token_url: str | None = None
    """The token endpoint clients are told of (default: the public URL's /auth/token)."""
    external_issuer: str | None = Field(None, examples=["https://login.example.org"])
    """Accept bearer tokens of this external issuer too."""
    external_jwks_file: Path | None = None
    """The external issuer's keys, from a file."""
    external_jwks_url: str | None = None
    """The external issuer's keys, from its JWKS URL."""
    external_audience: str | None = None
    """The audience external tokens must name."""
    external_partner_claim: str = "client_id"
    """The claim of an external token that names the partner."""
    partners_seed: str | None = str(DEMO_DIR / "partners.yaml")
    """Partners loaded into an empty registry (the demo's five); set it empty in production."""
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    """Per-partner steady request rate (429 with Retry-After beyond it)."""
    rate_limit_burst: int = Field(default=100, ge=1)
    """Per-partner burst."""
    login_failures_per_minute: float = Field(default=30.0, gt=0)
    """Failed logins allowed from one address per minute."""
    login_failures_burst: int = Field(default=20, ge=1)
    """Failed logins allowed from one address at once."""
    max_body_x12: int = 5 * MIB
    """Largest real-time X12 body in bytes (413 with a TA1 024)."""
    max_body_x12_batch: int = 100 * MIB
    """Largest X12 batch body in bytes."""
    max_body_pas: int = PAS_MAX_BODY
    """Largest PAS body in bytes: 5 attachments of 5 MB, base64, plus the Bundle."""
    max_body_default: int = 1 * MIB
    """Largest body of any other route in bytes."""
    body_read_seconds: float = Field(default=30.0, gt=0)
    """A request body must arrive within this many seconds of the first read (else 408)."""

    @property
    def seed_file(self) -> Path | None:
        return Path(self.partners_seed) if self.partners_seed else None

    @property
    def token_endpoint(self) -> str:
        return self.token_url or f"{self.public_url.rstrip('/')}/auth/token"

    @property
    def issuer(self) -> str:
        return self.public_url.rstrip("/")
