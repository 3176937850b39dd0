"""The embedded eligibility adapter: a roster file (GATEWAY_ROSTER, YAML) read once."""

from __future__ import annotations

from pathlib import Path

from gateway.domain.eligibility import CoveragePeriod, Enrollment, PharmacyBenefit
from gateway.domain.yamlfiles import safe_load


class RosterEligibility:
    def __init__(self, members: dict[str, Enrollment], out_of_network: dict[str, set[str]]):
        self._members = members
        self._out_of_network = out_of_network

    @classmethod
    def from_file(cls, path: Path) -> RosterEligibility:
        with path.open(encoding="utf-8") as handle:
            raw = safe_load(handle) or {}
        members = {}
        for row in raw.get("members", []):
            pharmacy = row.get("pharmacy_benefit", "payer")
            benefit = (
                PharmacyBenefit()
                if pharmacy == "payer"
                else PharmacyBenefit(
                    with_payer=False, pbm_name=pharmacy.get("pbm"), pbm_phone=pharmacy.get("phone")
                )
            )
            enrollment = Enrollment(
                member_id=str(row["member_id"]),
                last_name=row["last_name"],
                first_name=row["first_name"],
                birth_date=row["birth_date"],
                gender=row["gender"],
                plan_id=row["plan"],
                line_of_business=row["line_of_business"],
                product=row.get("product", ""),
                coverage=[CoveragePeriod(**period) for period in row.get("coverage", [])],
                pharmacy=benefit,
                out_of_network_benefits=bool(row.get("out_of_network_benefits", False)),
                transplant_active=bool(row.get("transplant_active", False)),
                address=row.get("address"),
            )
            members[enrollment.member_id.upper()] = enrollment
        out = {str(k): {str(n) for n in v} for k, v in raw.get("out_of_network_npis", {}).items()}
        return cls(members, out)

    def enrollment(self, member_id: str) -> Enrollment | None:
        return self._members.get(member_id.strip().upper())

    def in_network(self, payer_id: str, npi: str | None) -> bool:
        return npi is None or npi not in self._out_of_network.get(payer_id, set())
