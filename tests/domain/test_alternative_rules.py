"""The alternative recommendation's rules, pure (gateway/domain/alternatives.py): which
revision answers an offer how, and which offers are refused."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from gateway.adapters.pathways import PathwayEngine
from gateway.domain.alternatives import (
    AlternativeOffer,
    AlternativeRefused,
    ChangeAnswer,
    change_answer,
    offered,
)
from gateway.domain.case import (
    Case,
    CaseStatus,
    Channel,
    Determination,
    Member,
    PendKind,
    Reason,
    ServiceLine,
    Submission,
)
from gateway.mappings import load_mappings
from gateway.settings import REPO_ROOT

MAPPINGS = REPO_ROOT / "mappings"
PLAN = load_mappings(MAPPINGS).plans["cigna-62308-commercial"]
PATHWAYS = PathwayEngine.from_dir(MAPPINGS)
NOW = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
OFFER = AlternativeOffer(
    reviewer="dr-1", pathway_row="breast:her2neg-ddact", rationale="preferred regimen"
)


def case_of(*codes: str) -> Case:
    return Case(
        id="PA2600000001",
        member=Member(member_id="U1234567801"),
        start_date=date(2026, 12, 1),
        service_lines=[ServiceLine(sequence=i, code=c) for i, c in enumerate(codes, 1)],
        submission=Submission(channel=Channel.API, received_at=NOW),
    )


PENDED = Determination(
    status=CaseStatus.PENDED,
    review_action="A4",
    reason=Reason(code="PATHWAY_LISTED", text="listed"),
    decided_at=NOW,
    pend_kind=PendKind.PEER_TO_PEER,
    plan_id=PLAN.id,
    pathway_regimen="breast:her2neg-tc",
)


def test_a_revision_answers_the_offer_by_the_drugs_it_names():
    tc = case_of("J9171", "J9070")
    with_offer = offered(tc, PENDED, OFFER, PATHWAYS, "breast", PLAN, NOW)
    assert with_offer.status is CaseStatus.PENDED and with_offer.alternative
    # The time to answer reads in the provider's zone (the plan's, as no address is given).
    assert "Friday, November 27, 2026 at 10:00 AM EST" in with_offer.reason.text
    assert change_answer(case_of("J9000", "J9070", "J9267"), with_offer) is ChangeAnswer.ACCEPT
    assert change_answer(case_of("J9070", "J9171"), with_offer) is ChangeAnswer.DECLINE
    # A slot left empty, or a drug outside the row: an ordinary revision.
    assert change_answer(case_of("J9000", "J9070"), with_offer) is None
    assert change_answer(case_of("J9000", "J9070", "J9267", "J9171"), with_offer) is None
    # No standing offer: nothing to answer.
    assert change_answer(case_of("J9000", "J9070", "J9267"), PENDED) is None


@pytest.mark.parametrize(
    ("row", "cancer_type", "code"),
    [
        ("breast:nope", "breast", "ALTERNATIVE_UNKNOWN_ROW"),
        ("breast:her2neg-ddact", None, "ALTERNATIVE_NO_PATHWAY"),
        ("breast:her2neg-ddact", "lung", "ALTERNATIVE_OTHER_PATHWAY"),
        ("breast:her2neg-tc", "breast", "ALTERNATIVE_SAME_REGIMEN"),
    ],
)
def test_offers_that_are_refused(row, cancer_type, code):
    body = OFFER.model_copy(update={"pathway_row": row})
    with pytest.raises(AlternativeRefused) as refused:
        offered(case_of("J9171", "J9070"), PENDED, body, PATHWAYS, cancer_type, PLAN, NOW)
    assert refused.value.code == code
    assert not refused.value.conflict


def test_only_a_pended_case_takes_an_offer():
    held = PENDED.model_copy(update={"status": CaseStatus.APPROVED})
    with pytest.raises(AlternativeRefused) as refused:
        offered(case_of("J9171"), held, OFFER, PATHWAYS, "breast", PLAN, NOW)
    assert refused.value.conflict
