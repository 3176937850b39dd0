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
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", extra="ignore")

    # Off only for a closed test bench: every request then acts as an operator.
    auth_enabled: bool = True
    # The key that signs the gateway's own access tokens (HS256). Unset: a random 256-bit key is
    # made once and kept in token_key_file (mode 0600). Several nodes must share one: set it.
    token_secret: SecretStr | None = None
    token_key_file: Path = VAR_ROOT / "var" / "token-signing.key"
    # SMART Backend Services: access tokens live 5 minutes; client assertions expire within 5.
    access_token_seconds: int = Field(default=300, ge=30, le=3600)
    assertion_max_seconds: int = 300
    clock_skew_seconds: int = 30
    # The token endpoint URL a client assertion's `aud` must name, and the `iss` of our tokens.
    public_url: str = "http://127.0.0.1:8000"
    token_url: str | None = None
    # Tokens from an external authorization server, accepted through its JWKS.
    external_issuer: str | None = None
    external_jwks_file: Path | None = None
    external_jwks_url: str | None = None
    external_audience: str | None = None
    # The claim of an external token that names the registered partner.
    external_partner_claim: str = "client_id"
    # The demo partners, loaded when the partners table is empty. Empty string: no seed.
    partners_seed: str | None = str(DEMO_DIR / "partners.yaml")
    # Per-partner token bucket: a steady rate and a burst; a partner's registry entry may differ.
    rate_limit_per_second: float = Field(default=50.0, gt=0)
    rate_limit_burst: int = Field(default=100, ge=1)
    # Failed logins from one address: a small bucket that slows guessing of secrets.
    login_failures_per_minute: float = Field(default=30.0, gt=0)
    login_failures_burst: int = Field(default=20, ge=1)
    # Request body limits per channel (answered 413).
    max_body_x12: int = 5 * MIB  # CAQH CORE real time: one interchange
    max_body_x12_batch: int = 100 * MIB
    max_body_pas: int = PAS_MAX_BODY
    max_body_default: int = 1 * MIB
    # A body must arrive within this many seconds of the app starting to read it (answered
    # 408): a client that trickles bytes holds no worker and no connection slot for longer.
    body_read_seconds: float = Field(default=30.0, gt=0)

    @property
    def seed_file(self) -> Path | None:
        return Path(self.partners_seed) if self.partners_seed else None

    @property
    def token_endpoint(self) -> str:
        return self.token_url or f"{self.public_url.rstrip('/')}/auth/token"

    @property
    def issuer(self) -> str:
        return self.public_url.rstrip("/")
