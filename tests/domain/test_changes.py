"""The change rules (gateway.domain.changes) on their own: which state takes which change, the
periods a revision, an extension and a renewal give. No database, no HTTP."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from gateway.domain.case import CaseStatus, Determination, LineDetermination, Reason
from gateway.domain.changes import (
    ChangeKind,
    ChangeRefused,
    change_date,
    change_kind,
    check_changeable,
    check_same_patient,
    continues_after,
    ended_day_before,
    extended,
)
from gateway.domain.policy import AuthorizationSpan
from gateway.wiring import build_ports
from tests.conftest import NOW, make_settings
from tests.domain.test_decision_table import case_of


def approved(start: date = date(2026, 12, 1), end: date = date(2027, 8, 1)) -> Determination:
    return Determination(
        status=CaseStatus.APPROVED,
        review_action="A1",
        reason=Reason(code="PATHWAY_PREFERRED", text="Preferred.", plan_rule="p:authorization"),
        auth_number="ONC2600000001",
        period_start=start,
        period_end=end,
        lines=[
            LineDetermination(
                sequence=1, code="J9000", review_action="A1", period_start=start, period_end=end
            )
        ],
        decided_at=NOW,
        plan_id="cigna-oncology",
    )


def changed(**fields: Any):
    """The demo request with the case's own fields changed (dates as ISO text)."""
    values = {
        name: date.fromisoformat(value) if name.endswith("_date") else value
        for name, value in fields.items()
    }
    return case_of().model_copy(update=values)


def with_status(status: CaseStatus) -> Determination:
    return approved().model_copy(update={"status": status})


@pytest.mark.parametrize(
    ("kind", "status", "allowed"),
    [
        (ChangeKind.CANCEL, CaseStatus.APPROVED, True),
        (ChangeKind.CANCEL, CaseStatus.PENDED, True),
        (ChangeKind.CANCEL, CaseStatus.CANCELLED, True),  # answered again, changes nothing
        (ChangeKind.CANCEL, CaseStatus.DENIED, False),
        (ChangeKind.REVISED, CaseStatus.HELD, True),
        (ChangeKind.REVISED, CaseStatus.MODIFIED, True),
        (ChangeKind.REVISED, CaseStatus.DENIED, False),
        (ChangeKind.REVISED, CaseStatus.CANCELLED, False),
        (ChangeKind.EXTENSION, CaseStatus.APPROVED, True),
        (ChangeKind.EXTENSION, CaseStatus.PENDED, True),
        (ChangeKind.EXTENSION, CaseStatus.REJECTED, False),
        (ChangeKind.RENEWAL, CaseStatus.APPROVED, True),
        (ChangeKind.RENEWAL, CaseStatus.PENDED, False),
    ],
)
def test_which_state_takes_which_change(kind: ChangeKind, status: CaseStatus, allowed: bool):
    if allowed:
        check_changeable(kind, with_status(status), "PA1")
    else:
        with pytest.raises(ChangeRefused) as refused:
            check_changeable(kind, with_status(status), "PA1")
        assert refused.value.aaa_code == "33" and status.value in refused.value.text


def test_certification_types_map_to_changes():
    assert [change_kind(changed(certification_type=t)) for t in "IS4R3"] == [
        None,
        ChangeKind.REVISED,
        ChangeKind.EXTENSION,
        ChangeKind.RENEWAL,
        ChangeKind.CANCEL,
    ]
    assert change_kind(changed(certification_type="1")) is None  # appeals are not changes


def test_a_change_of_another_patient_is_refused_with_ci():
    target = case_of()
    other: dict[str, Any] = {"member": {**target.member.model_dump(), "member_id": "X1"}}
    with pytest.raises(ChangeRefused) as refused:
        check_same_patient(case_of(**other), target)
    assert refused.value.aaa_code == "CI"


def test_the_change_date_is_the_first_date_asked_never_before_today():
    revision = changed(start_date="2027-01-15")
    assert change_date(revision, date(2026, 11, 23)) == date(2027, 1, 15)
    assert change_date(changed(start_date="2026-01-15"), date(2026, 11, 23)) == date(2026, 11, 23)


def test_the_replaced_authorization_ends_the_day_before():
    ended = ended_day_before(approved(), date(2027, 1, 15), NOW)
    assert ended.status is CaseStatus.APPROVED
    assert ended.period_end == date(2027, 1, 14) and ended.lines[0].period_end == date(2027, 1, 14)
    assert ended.reason.code == "REPLACED_BY_CHANGE" and ended.reason.plan_rule


def test_replaced_before_it_began_it_is_cancelled():
    ended = ended_day_before(approved(), date(2026, 12, 1), NOW)
    assert ended.status is CaseStatus.CANCELLED and ended.review_action == "C"


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory):
    ports = build_ports(make_settings(tmp_path_factory.mktemp("ports")))
    return next(iter(ports.plans.values())).model_copy(
        update={"authorization": AuthorizationSpan(unit="months", min=8, max=12)}
    )


def test_an_extension_within_the_span_lengthens_the_same_authorization(plan):
    longer = extended(approved(), changed(end_date="2027-11-01"), plan, NOW)
    assert longer is not None
    assert longer.auth_number == "ONC2600000001"
    assert longer.period_end == date(2027, 11, 1) and longer.lines[0].period_end == date(
        2027, 11, 1
    )


def test_an_extension_past_the_span_is_not_granted_by_rule(plan):
    assert extended(approved(), changed(end_date="2027-12-02"), plan, NOW) is None
    assert extended(approved(), changed(end_date="2027-12-01"), plan, NOW) is not None


def test_a_renewal_starts_the_day_after_the_end_or_today():
    assert continues_after(approved(), date(2026, 11, 23)) == date(2027, 8, 2)
    assert continues_after(approved(), date(2027, 9, 1)) == date(2027, 9, 1)
