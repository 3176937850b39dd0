"""Synthetic cases and determinations for the outbound tests (no real person or provider)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from gateway.domain.case import (
    Address,
    Case,
    CaseStatus,
    Channel,
    Determination,
    Diagnosis,
    Dosing,
    LineDetermination,
    Member,
    PendKind,
    Provider,
    Reason,
    ServiceLine,
    Submission,
)

DECIDED = datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
MEMBER_FIRST = "Quillon"
MEMBER_LAST = "Zabrowski"
DIAGNOSIS = "C50.911"
DRUG = "paclitaxel"


def make_case(case_id: str = "PA2025000001", **changes: Any) -> Case:
    case = Case(
        id=case_id,
        payer_id="62308",
        payer_name="Example Health Plan",
        member=Member(
            member_id="U9988776601",
            first_name=MEMBER_FIRST,
            last_name=MEMBER_LAST,
            birth_date=date(1961, 7, 14),
            address=Address(
                lines=["12 Synthetic Way"], city="Springfield", state="IL", postal_code="62701"
            ),
        ),
        ordering=Provider(
            role="ordering",
            entity_code="DK",
            first_name="Avery",
            last_name="Testwell",
            npi="1234567893",
            fax="(217) 555-0142",
            email="orders@clinic.example",
            email_opt_in=True,
            address=Address(
                lines=["400 Clinic Rd"], city="Springfield", state="IL", postal_code="62702"
            ),
        ),
        facility=Provider(
            role="facility",
            entity_code="FA",
            organization_name="Springfield Infusion Center",
            npi="1098765432",
            fax="1-217-555-0199",
            address=Address(
                lines=["9 Infusion Ave"], city="Springfield", state="IL", postal_code="62703"
            ),
        ),
        place_of_service="22",
        start_date=date(2025, 3, 10),
        diagnoses=[Diagnosis(code=DIAGNOSIS, primary=True)],
        service_lines=[
            ServiceLine(
                sequence=1,
                code="J9267",
                description=DRUG,
                units=30,
                start_date=date(2025, 3, 10),
                place_of_service="22",
                dosing=Dosing(dose="80 mg/m2", schedule="weekly x 12"),
            ),
            ServiceLine(
                sequence=2,
                code="Q5114",
                description="trastuzumab-dkst",
                units=20,
                start_date=date(2025, 3, 10),
                place_of_service="22",
            ),
        ],
        submission=Submission(
            channel=Channel.X12,
            submitter_id="CLEARHOUSE1",
            received_at=datetime(2025, 3, 3, 9, 0, tzinfo=UTC),
        ),
    )
    return case.model_copy(update=changes)


APPEAL = {
    "window_days": 180,
    "expedited_hours": 72,
    "standard_member_days": 30,
    "standard_provider_days": 60,
    "contact": {"phone": "(800) 555-0100", "fax": "(800) 555-0101"},
}


def make_determination(kind: str) -> Determination:
    """A determination for each letter kind, with its own recognisable reason text."""
    base: dict[str, Any] = {
        "decided_at": DECIDED,
        "reason": Reason(
            code=f"R_{kind.upper()}",
            text=f"Reason for {kind} on this request.",
            plan_rule="cigna-62308-commercial:test",
            pathway_row="breast:test-row",
        ),
        "plan_id": "cigna-62308-commercial",
        "appeal": APPEAL,
    }
    approved_lines = [
        LineDetermination(
            sequence=1,
            code="J9267",
            review_action="A1",
            auth_number="AUTH0001",
            period_start=date(2025, 3, 4),
            period_end=date(2026, 1, 3),
        ),
        LineDetermination(
            sequence=2,
            code="Q5114",
            review_action="A1",
            auth_number="AUTH0001",
            period_start=date(2025, 3, 4),
            period_end=date(2026, 1, 3),
        ),
    ]
    match kind:
        case "approval":
            return Determination(
                status=CaseStatus.APPROVED,
                review_action="A1",
                auth_number="AUTH0001",
                period_start=date(2025, 3, 4),
                period_end=date(2026, 1, 3),
                lines=approved_lines,
                pathway_regimen="breast:her2pos-tch",
                **base,
            )
        case "partial_approval":
            lines = [
                approved_lines[0],
                LineDetermination(sequence=2, code="Q5114", review_action="A3"),
            ]
            return Determination(
                status=CaseStatus.PARTIALLY_APPROVED,
                review_action="A2",
                auth_number="AUTH0002",
                period_start=date(2025, 3, 4),
                period_end=date(2025, 12, 31),
                lines=lines,
                rationale="Q5114 is not supported for this indication.",
                guideline="NCCN Breast Cancer v2.2025",
                **base,
            )
        case "hold":
            return Determination(
                status=CaseStatus.HELD,
                review_action="A4",
                pend_kind=PendKind.HOLD,
                missing_facts=["her2_status", "performance_status"],
                hold_due=datetime(2025, 3, 7, 17, 0, tzinfo=UTC),
                **base,
            )
        case "peer_to_peer" | "peer_to_peer_scheduled":
            return Determination(
                status=CaseStatus.PENDED,
                review_action="A4",
                pend_kind=PendKind.PEER_TO_PEER,
                pathway_regimen="breast:nonpreferred-row",
                due_by=datetime(2025, 3, 11, 17, 0, tzinfo=UTC),
                **base,
            )
        case "clinical_review":
            return Determination(
                status=CaseStatus.PENDED,
                review_action="A4",
                pend_kind=PendKind.CLINICAL_REVIEW,
                due_by=datetime(2025, 3, 11, 17, 0, tzinfo=UTC),
                **base,
            )
        case "site_of_care":
            return Determination(
                status=CaseStatus.MODIFIED,
                review_action="A6",
                auth_number="AUTH0003",
                period_start=date(2025, 3, 4),
                period_end=date(2025, 4, 2),
                site_of_care_redirect="12",
                lines=approved_lines[1:],
                **base,
            )
        case "denial":
            return Determination(
                status=CaseStatus.DENIED,
                review_action="A3",
                decided_by="reviewer-md-7",
                rationale="Stage and line of therapy do not meet the pathway.",
                guideline="NCCN Breast Cancer v2.2025, BINV-Q",
                **base,
            )
        case "out_of_scope":
            return Determination(status=CaseStatus.OUT_OF_SCOPE, review_action="NA", **base)
        case "not_required":
            return Determination(status=CaseStatus.NOT_REQUIRED, review_action="NA", **base)
        case "redirected":
            return Determination(status=CaseStatus.REDIRECTED, review_action="NA", **base)
        case "cancellation":
            lines = [
                LineDetermination(sequence=n, code=c, review_action="C")
                for n, c in ((1, "J9267"), (2, "Q5114"))
            ]
            return Determination(
                status=CaseStatus.CANCELLED,
                review_action="C",
                lines=lines,
                decided_by="requester",
                **base,
            )
        case "reconsideration_outcome" | "appeal_outcome":
            # Upheld on a second look: a denial told as the outcome of that look.
            return make_determination("denial")
    raise ValueError(kind)
