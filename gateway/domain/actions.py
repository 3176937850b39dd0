"""The review actions: X12 code source 306 (HCR01), also PAS's reviewActionCode. One vocabulary
for the decision, the channels and the letters."""

from __future__ import annotations

from enum import StrEnum


class ReviewAction(StrEnum):
    APPROVED = "A1"  # certified in total
    PARTIAL = "A2"  # certified, partial (the second plan only)
    NOT_CERTIFIED = "A3"  # a physician reviewer's denial, never the machine's
    PENDED = "A4"  # pended: clinical review, peer to peer or a hold
    MODIFIED = "A6"  # modified: approved with changes
    CONTACT_PAYER = "CT"
    NOT_REQUIRED = "NA"
    CANCELLED = "C"

    @property
    def approves(self) -> bool:
        """Whether the action authorizes services (A1, A2, A6)."""
        return self in APPROVALS

    @property
    def reads(self) -> str:
        """The action as a provider's office reads it in a letter."""
        return _READS[self]


APPROVALS = frozenset({ReviewAction.APPROVED, ReviewAction.PARTIAL, ReviewAction.MODIFIED})
_READS = {
    ReviewAction.APPROVED: "approved",
    ReviewAction.PARTIAL: "partially approved",
    ReviewAction.NOT_CERTIFIED: "not approved",
    ReviewAction.PENDED: "pended",
    ReviewAction.MODIFIED: "approved as modified",
    ReviewAction.CONTACT_PAYER: "contact the plan",
    ReviewAction.NOT_REQUIRED: "no action required",
    ReviewAction.CANCELLED: "cancelled",
}
