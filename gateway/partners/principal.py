"""Who is asking: the authenticated trading partner as the routers see it, and the checks on it
that need no database (roles, scopes, X12 sender ids, organizations acted for)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PartnerKind(StrEnum):
    CLEARINGHOUSE = "clearinghouse"
    EHR = "ehr"
    PAYER = "payer"
    REVIEWER = "reviewer"
    OPERATOR = "operator"


class Role(StrEnum):
    # Reviewers decide pended cases and work the list of all cases.
    REVIEWER = "reviewer"
    # Operators run the gateway: audit trail, partner registry, outbound jobs; they see all cases.
    OPERATOR = "operator"
    # A provider-side sender (EHR, clearinghouse): submits and reads its own cases.
    SUBMITTER = "submitter"


# Roles that see every case (issue 5: reviewers and operators see all).
SEE_ALL = frozenset({Role.REVIEWER.value, Role.OPERATOR.value})


@dataclass(frozen=True)
class Principal:
    partner_id: str
    kind: str
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    sender_ids: frozenset[str] = field(default_factory=frozenset)
    npis: frozenset[str] = field(default_factory=frozenset)
    tins: frozenset[str] = field(default_factory=frozenset)
    org_identifier: str | None = None
    # bearer (a gateway access token), basic, external (another issuer's token), local, disabled
    auth_method: str = "bearer"
    # In-process use (CLI submit, conformance): no network peer, every sender id allowed.
    local: bool = False
    # The partner's own request rate, when the registry gives one (else the configured default).
    rate_limit_per_second: float | None = None

    def has_role(self, *roles: str) -> bool:
        return any(role in self.roles for role in roles)

    @property
    def sees_all(self) -> bool:
        return bool(self.roles & SEE_ALL)

    def has_scope(self, resource: str, access: str) -> bool:
        """SMART system scopes, v1 (`system/Claim.read`, `system/*.write`) and v2 letters
        (`system/Claim.rs`, `system/*.cruds`). `access` is read or write."""
        return scope_allows(self.scopes, resource, access)


def scope_allows(scopes: frozenset[str] | set[str], resource: str, access: str) -> bool:
    letters = {"read": set("rs"), "write": set("cud")}[access]
    for scope in scopes:
        context, _, rest = scope.partition("/")
        if context != "system" or "." not in rest:
            continue
        scoped_resource, _, permission = rest.partition(".")
        if scoped_resource not in ("*", resource):
            continue
        if permission in ("*", access):
            return True
        # SMART v2: a string of c r u d s letters, optionally with ?query restrictions (ignored
        # here: a restricted scope is not granted by this check).
        if "?" not in permission and set(permission) <= set("cruds") and permission:
            if set(permission) & letters:
                return True
    return False


def x12_sender_allowed(partner: Principal, isa06: str, gs02: str | None = None) -> bool:
    """May this partner send an interchange from ISA06 (and functional groups from GS02)?

    ISA06 is fixed-width and space-padded, so it is compared stripped. The X12 router answers a
    refusal with a TA1 and HTTP 403. Operators register sender ids themselves, so restricting them
    adds nothing: they (and the in-process operator) may use any.
    """
    if partner.local or partner.has_role(Role.OPERATOR):
        return True
    ids = {sender.strip() for sender in partner.sender_ids}
    if isa06.strip() not in ids:
        return False
    return gs02 is None or gs02.strip() in ids


def acts_for(
    partner: Principal,
    *,
    npi: str | None = None,
    tin: str | None = None,
    org_identifier: str | None = None,
) -> bool:
    """Does the partner act for this organization (by NPI, TIN or FHIR org identifier)?"""
    return bool(
        (npi and npi.strip() in partner.npis)
        or (tin and tin.strip() in partner.tins)
        or (org_identifier and partner.org_identifier and org_identifier == partner.org_identifier)
    )


def submitter_for(partner: Principal, claimed: str | None) -> str | None:
    """The submitter id recorded on a case: always the authenticated partner, except that an
    operator (data entry of a faxed request, a replayed file) may name the partner it keys for."""
    if claimed and (partner.local or partner.has_role(Role.OPERATOR)):
        return claimed
    return partner.partner_id


_ALL = frozenset({Role.OPERATOR.value, Role.REVIEWER.value})
_ALL_SCOPES = frozenset({"system/*.read", "system/*.write"})

# In-process use (`gateway submit`, `gateway conformance run`) acts as this operator.
LOCAL_OPERATOR = Principal(
    partner_id="local-operator",
    kind=PartnerKind.OPERATOR.value,
    roles=_ALL,
    scopes=_ALL_SCOPES,
    auth_method="local",
    local=True,
)

# With GATEWAY_AUTH_ENABLED=false every HTTP request acts as this one (a closed test bench only).
AUTH_DISABLED_OPERATOR = Principal(
    partner_id="auth-disabled",
    kind=PartnerKind.OPERATOR.value,
    roles=_ALL,
    scopes=_ALL_SCOPES,
    auth_method="disabled",
    local=True,
)
