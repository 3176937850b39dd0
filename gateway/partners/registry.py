"""The trading-partner registry: add, list, enable and disable partners, seed the demo ones.

The registry is the authority on every request: roles, sender ids and organizations are read
from it each time (not from a token), so disabling a partner or changing its rights takes effect
at once, even for access tokens already handed out.
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from gateway.domain.yamlfiles import safe_load
from gateway.partners.credentials import hash_secret
from gateway.partners.models import PartnerRow
from gateway.partners.principal import PartnerKind, Principal, Role
from gateway.store.models import utcnow

log = logging.getLogger("gateway.partners")

PARTNER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
SCOPE = re.compile(r"^system/(\*|[A-Z][A-Za-z]+)\.(read|write|\*|[cruds]{1,5})$")
# Members of a private JWK (RFC 7518 section 6): a registry holds public keys only.
PRIVATE_JWK_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}
# Algorithms a client assertion may use (SMART Backend Services: RS384 and ES384).
ASSERTION_ALGORITHMS = ("RS384", "ES384")

DEFAULT_ROLES: dict[str, list[str]] = {
    PartnerKind.OPERATOR: [Role.OPERATOR.value],
    PartnerKind.REVIEWER: [Role.REVIEWER.value],
    PartnerKind.EHR: [Role.SUBMITTER.value],
    PartnerKind.CLEARINGHOUSE: [Role.SUBMITTER.value],
    PartnerKind.PAYER: [],
}
_SUBMITTER_SCOPES = [
    "system/Claim.read",
    "system/Claim.write",
    "system/ClaimResponse.read",
    "system/Subscription.read",
    "system/Subscription.write",
]
DEFAULT_SCOPES: dict[str, list[str]] = {
    PartnerKind.OPERATOR: ["system/*.read", "system/*.write"],
    PartnerKind.REVIEWER: ["system/*.read", "system/*.write"],
    PartnerKind.EHR: _SUBMITTER_SCOPES,
    PartnerKind.CLEARINGHOUSE: _SUBMITTER_SCOPES,
    PartnerKind.PAYER: ["system/ClaimResponse.read"],
}


class PartnerError(ValueError):
    pass


def normalize_callback(value: str | None) -> str | None:
    """A callback URL as stored: stripped, None for none; http(s) only (where it may point is
    egress's to say, `callback_problem`)."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if len(value) > 2048 or not value.lower().startswith(("https://", "http://")):
        raise ValueError("a callback URL is an https URL of at most 2048 characters")
    return value


class PartnerSpec(BaseModel):
    """A partner as an operator describes it (CLI, admin API, seed file)."""

    id: str
    name: str | None = None
    kind: PartnerKind
    enabled: bool = True
    sender_ids: list[str] = Field(default_factory=list)
    npis: list[str] = Field(default_factory=list)
    tins: list[str] = Field(default_factory=list)
    org_identifier: str | None = None
    roles: list[Role] | None = None
    scopes: list[str] | None = None
    # Plaintext only on the way in (hashed at once); or an existing scrypt hash.
    secret: str | None = Field(default=None, repr=False)
    secret_hash: str | None = Field(default=None, repr=False)
    jwks: dict[str, Any] | None = None
    rate_limit_per_second: float | None = Field(default=None, gt=0)
    # X12 follow-ups (unsolicited 278 responses) are POSTed here as well as left in the mailbox.
    # Its destination is checked (gateway/egress.py) where it is set and at every delivery.
    callback_url: str | None = Field(default=None, max_length=2048)
    # E-mail notices of status changes for this partner's cases, to the addresses its requests
    # carry (278 PER EM, PAS telecom); false turns them off for all its cases.
    email_notices: bool = True

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if not PARTNER_ID.match(value):
            raise ValueError("a partner id is 1-64 letters, digits, '.', '_' or '-'")
        return value

    @field_validator("sender_ids")
    @classmethod
    def _senders(cls, values: list[str]) -> list[str]:
        # ISA06 is 15 characters (padded), GS02 2-15.
        out = [value.strip() for value in values]
        if any(not value or len(value) > 15 for value in out):
            raise ValueError("an X12 sender id is 1-15 characters (ISA06/GS02)")
        return out

    @field_validator("npis")
    @classmethod
    def _npis(cls, values: list[str]) -> list[str]:
        if any(not re.fullmatch(r"\d{10}", value) for value in values):
            raise ValueError("an NPI is 10 digits")
        return values

    @field_validator("tins")
    @classmethod
    def _tins(cls, values: list[str]) -> list[str]:
        out = [value.replace("-", "") for value in values]
        if any(not re.fullmatch(r"\d{9}", value) for value in out):
            raise ValueError("a TIN is 9 digits")
        return out

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, values: list[str] | None) -> list[str] | None:
        for value in values or []:
            if not SCOPE.match(value):
                raise ValueError(f"{value!r} is not a SMART system scope (system/Claim.read)")
        return values

    @field_validator("callback_url")
    @classmethod
    def _callback(cls, value: str | None) -> str | None:
        return normalize_callback(value)

    @field_validator("jwks")
    @classmethod
    def _jwks(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is None:
            return None
        keys = value.get("keys")
        if not isinstance(keys, list) or not keys:
            raise ValueError("a JWKS is an object with a non-empty 'keys' list")
        for key in keys:
            if not isinstance(key, dict) or PRIVATE_JWK_MEMBERS & set(key):
                raise ValueError("the JWKS holds a private or symmetric key: register public keys")
            if key.get("kty") not in ("RSA", "EC"):
                raise ValueError("client assertion keys are RSA (RS384) or EC P-384 (ES384)")
        import jwt  # with cryptography: only where a partner's keys are registered

        try:
            jwt.PyJWKSet.from_dict(value)
        except jwt.PyJWTError as exc:
            raise ValueError(f"unusable JWKS: {exc}") from exc
        return value

    @model_validator(mode="after")
    def _secret(self) -> PartnerSpec:
        if self.secret is not None:
            self.secret_hash = hash_secret(self.secret)
            self.secret = None
        return self


def principal_for(
    row: PartnerRow, *, scopes: frozenset[str] | None = None, auth_method: str = "bearer"
) -> Principal:
    """The principal a registered partner acts as. `scopes`: those granted to this token (never
    more than the registry allows)."""
    allowed = frozenset(row.scopes or [])
    return Principal(
        partner_id=row.id,
        kind=row.kind,
        roles=frozenset(row.roles or []),
        scopes=allowed if scopes is None else frozenset(scopes) & allowed,
        sender_ids=frozenset(row.sender_ids or []),
        npis=frozenset(row.npis or []),
        tins=frozenset(row.tins or []),
        org_identifier=row.org_identifier,
        auth_method=auth_method,
        rate_limit_per_second=row.rate_limit_per_second,
    )


def partner_view(row: PartnerRow) -> dict[str, Any]:
    """A partner as the admin API and CLI show it: never the secret hash or whole keys."""
    keys = (row.jwks or {}).get("keys", [])
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "enabled": row.enabled,
        "sender_ids": row.sender_ids,
        "npis": row.npis,
        "tins": row.tins,
        "org_identifier": row.org_identifier,
        "roles": row.roles,
        "scopes": row.scopes,
        "has_secret": bool(row.secret_hash),
        "jwks_key_ids": [key.get("kid") for key in keys],
        "rate_limit_per_second": row.rate_limit_per_second,
        "callback_url": row.callback_url,
        "email_notices": row.email_notices,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "updated_at": row.updated_at.isoformat() if row.updated_at else None,
    }


def _check_sender_ids(session: Session, spec: PartnerSpec) -> None:
    """One sender id, one partner: interchanges dedupe on (ISA06, ISA13), and the partner that
    owns an ISA06 is who a batch file comes from."""
    if not spec.sender_ids:
        return
    for other in session.execute(select(PartnerRow).where(PartnerRow.id != spec.id)).scalars():
        taken = set(other.sender_ids or []) & set(spec.sender_ids)
        if taken:
            raise PartnerError(
                f"sender id {sorted(taken)[0]} already belongs to partner {other.id}"
            )


def add_partner(
    session: Session, spec: PartnerSpec, *, replace: bool = False, seeded: bool = False
) -> PartnerRow:
    """Register a partner (in the caller's transaction). `replace` updates an existing one;
    `seeded` partners are logged at debug (the seed says it in one line)."""
    _check_sender_ids(session, spec)
    row = session.get(PartnerRow, spec.id)
    if row is not None and not replace:
        raise PartnerError(f"partner {spec.id} already exists")
    now = utcnow()
    if row is None:
        row = PartnerRow(id=spec.id, created_at=now)
        session.add(row)
    _describe(row, spec, replace=replace, now=now)
    session.flush()
    _registered(spec, row.kind, seeded=seeded)
    return row


def _describe(row: PartnerRow, spec: PartnerSpec, *, replace: bool, now: datetime) -> None:
    """Write what `spec` says of the partner onto its row."""
    row.name = spec.name
    row.kind = spec.kind.value
    row.enabled = spec.enabled
    row.sender_ids = spec.sender_ids
    row.npis = spec.npis
    row.tins = spec.tins
    row.org_identifier = spec.org_identifier
    roles = spec.roles if spec.roles is not None else DEFAULT_ROLES[spec.kind]
    row.roles = sorted({str(role) for role in roles})
    row.scopes = spec.scopes if spec.scopes is not None else DEFAULT_SCOPES[spec.kind]
    if spec.secret_hash is not None or not replace:
        row.secret_hash = spec.secret_hash
    if spec.jwks is not None or not replace:
        row.jwks = spec.jwks
    row.rate_limit_per_second = spec.rate_limit_per_second
    row.email_notices = spec.email_notices
    if spec.callback_url is not None or not replace:
        # Kept by a --replace that names none; set_callback clears it.
        row.callback_url = spec.callback_url
    row.updated_at = now


def _registered(spec: PartnerSpec, kind: str, *, seeded: bool) -> None:
    log.log(
        logging.DEBUG if seeded else logging.INFO,
        "partner registered",
        extra={"partner_id": spec.id, "kind": kind},
    )


def get_partner(session: Session, partner_id: str) -> PartnerRow | None:
    return session.get(PartnerRow, partner_id)


def list_partners(session: Session) -> list[PartnerRow]:
    return list(session.execute(select(PartnerRow).order_by(PartnerRow.id)).scalars())


def set_enabled(session: Session, partner_id: str, enabled: bool) -> PartnerRow:
    row = session.get(PartnerRow, partner_id)
    if row is None:
        raise PartnerError(f"no partner {partner_id}")
    row.enabled = enabled
    row.updated_at = utcnow()
    log.info("partner enabled" if enabled else "partner disabled", extra={"partner_id": partner_id})
    return row


def set_secret(session: Session, partner_id: str, secret: str) -> PartnerRow:
    row = session.get(PartnerRow, partner_id)
    if row is None:
        raise PartnerError(f"no partner {partner_id}")
    row.secret_hash = hash_secret(secret)
    row.updated_at = utcnow()
    return row


def set_callback(session: Session, partner_id: str, url: str | None) -> PartnerRow:
    """Set (or, with None, clear) where a partner's X12 follow-ups are POSTed."""
    row = session.get(PartnerRow, partner_id)
    if row is None:
        raise PartnerError(f"no partner {partner_id}")
    row.callback_url = normalize_callback(url)
    row.updated_at = utcnow()
    log.info("partner callback set", extra={"partner_id": partner_id})
    return row


def callback_problem(url: str | None, allowed_hosts: list[str]) -> str | None:
    """Why a partner's callback URL is refused (gateway/egress.py: https to public addresses;
    http and loopback only for the development allow-list), or None."""
    if url is None:
        return None
    from gateway import egress

    return egress.endpoint_problem(url, allowed_hosts)


def partner_for_sender(session: Session, isa06: str) -> PartnerRow | None:
    """The partner that owns an interchange sender id (for a batch file, which has no login)."""
    wanted = isa06.strip()
    for row in session.execute(select(PartnerRow)).scalars():
        if wanted in (row.sender_ids or []):
            return row
    return None


def load_seed(path: Path) -> list[PartnerSpec]:
    data = safe_load(path.read_text()) or {}
    return [PartnerSpec.model_validate(entry) for entry in data.get("partners", [])]


def _seed_specs(path: Path) -> list[PartnerSpec]:
    """The seed file's partners, parsed and validated once for each content of the file (a
    process that serves several fresh databases, each test's app among them, seeds each)."""
    text = path.read_bytes()
    key = (str(path.resolve()), hashlib.blake2b(text, digest_size=20).digest())
    specs = _SEEDS.get(key)
    if specs is None:
        specs = load_seed(path)
        _SEEDS.clear()  # one seed file a process, as a rule: keep the newest alone
        _SEEDS[key] = specs
    return specs


# Read-only once made: seed_partners only reads the specs it writes onto new rows.
_SEEDS: dict[tuple[str, bytes], list[PartnerSpec]] = {}


def _check_seed(specs: list[PartnerSpec]) -> None:
    """The rules add_partner checks against the registry, checked within a seed file."""
    owners: dict[str, str] = {}
    ids: set[str] = set()
    for spec in specs:
        if spec.id in ids:
            raise PartnerError(f"partner {spec.id} already exists")
        ids.add(spec.id)
        for sender_id in spec.sender_ids:
            if owners.setdefault(sender_id, spec.id) != spec.id:
                raise PartnerError(
                    f"sender id {sender_id} already belongs to partner {owners[sender_id]}"
                )


def seed_partners(sessions: sessionmaker[Session], path: Path | None) -> int:
    """Load the demo partners when the registry is empty (a fresh `make run`)."""
    if path is None or not path.is_file():
        return 0
    specs = _seed_specs(path)
    try:
        with sessions.begin() as session:
            connection = session.connection()
            # Whether the registry is empty, asked as plain SQL: there is nothing to compile.
            if connection.exec_driver_sql("SELECT 1 FROM partners LIMIT 1").first():
                return 0
            # An empty registry: the seed's own ids and sender ids are checked among
            # themselves, and its rows go in with one executemany, written by the same
            # `_describe` as add_partner's but not through the ORM's unit of work (which
            # costs each fresh database, each conformance case and each test among them, as
            # much again as the rest of the seed).
            _check_seed(specs)
            now = utcnow()
            rows = []
            for spec in specs:
                row = PartnerRow(id=spec.id, created_at=now)
                _describe(row, spec, replace=False, now=now)
                rows.append({column.key: getattr(row, column.key) for column in _COLUMNS})
            connection.execute(PartnerRow.__table__.insert(), rows)
            for spec, values in zip(specs, rows, strict=True):
                _registered(spec, values["kind"], seeded=True)
    except IntegrityError:
        return 0  # another process (the worker, a second node) seeded it first
    # Their demo secrets are public: production sets GATEWAY_PARTNERS_SEED empty. Said once a
    # process (a conformance run seeds a fresh database for every case).
    if path not in _SEED_WARNED:
        _SEED_WARNED.add(path)
        log.warning(
            "%d demo partners seeded from %s; set GATEWAY_PARTNERS_SEED= in production",
            len(specs),
            path.name,
        )
    return len(specs)


_SEED_WARNED: set[Path] = set()
# Every column of a partner's row, each given on insert as the ORM would write it.
_COLUMNS = tuple(PartnerRow.__table__.columns)
