"""The eligibility port: is the member covered on the date, and under which plan and benefits.

One small protocol with plain answers; the embedded roster adapter lives beside it
(`roster.py`), a 270/271 adapter would too. The core never imports an adapter.
"""

from __future__ import annotations

from datetime import date
from typing import Protocol

from pydantic import BaseModel, Field

from gateway.domain.case import Address


class CoveragePeriod(BaseModel):
    start: date
    # None: open-ended coverage, as an enrollment with no termination date on file.
    end: date | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


class PharmacyBenefit(BaseModel):
    with_payer: bool = True
    pbm_name: str | None = None
    pbm_phone: str | None = None


class Enrollment(BaseModel):
    """What the payer knows of a member: plan, product, coverage and benefits."""

    member_id: str
    last_name: str
    first_name: str
    birth_date: date
    gender: str
    plan_id: str
    line_of_business: str
    product: str
    coverage: list[CoveragePeriod]
    pharmacy: PharmacyBenefit = Field(default_factory=PharmacyBenefit)
    out_of_network_benefits: bool = False
    transplant_active: bool = False
    address: Address | None = None  # where member letters are mailed

    def eligible_on(self, day: date) -> bool:
        return any(period.covers(day) for period in self.coverage)


class EligibilityPort(Protocol):
    def enrollment(self, member_id: str) -> Enrollment | None:
        """The member's enrollment, or None when the payer does not know the member id."""

    def in_network(self, payer_id: str, npi: str | None) -> bool:
        """Whether a provider is in the payer's network."""
