"""Which outbound jobs a determination causes, and that re-storing it makes none."""

from __future__ import annotations

import json

import pytest

from gateway.domain.case import CaseStatus
from gateway.notify.jobs import job_planner, normalize_fax, outbound_jobs
from gateway.settings import Settings

from .conftest import job_rows, store_case
from .factories import make_case, make_determination


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("(217) 555-0142", ("2175550142", None)),
        ("1-217-555-0199", ("2175550199", None)),
        ("+1 217.555.0142", ("2175550142", None)),
        (None, (None, "unknown")),
        ("  ", (None, "unknown")),
        ("555-0142", (None, "invalid")),
        ("217 555 0142 x12", (None, "invalid")),
        ("(017) 555-0142", (None, "invalid")),
        ("+44 20 7946 0018", (None, "invalid")),
    ],
)
def test_fax_numbers_are_validated(raw: str | None, expected: tuple) -> None:
    assert normalize_fax(raw) == expected


def kinds(specs: list) -> list[tuple[str, str]]:
    return sorted((s.kind, s.idempotency_key.split(":")[2]) for s in specs)


def test_approval_goes_to_both_providers_the_member_email_and_the_payer(
    settings: Settings,
) -> None:
    specs = outbound_jobs(
        make_case(),
        make_determination("approval"),
        previous_status="pended",
        settings=settings,
        primary_payer_ids={"62308"},  # mappings/plans: the first plan is `primary`
    )
    assert kinds(specs) == [
        ("email", "ordering"),
        ("fax", "facility"),
        ("fax", "ordering"),
        ("member_mail", "member"),
        ("payer_feed", "payer"),
    ]
    assert len({s.idempotency_key for s in specs}) == len(specs)
    for spec in specs:
        json.dumps(spec.payload)  # JSON-ready
        assert spec.payload["case_id"] == "PA2025000001"
    faxes = {
        s.payload["recipient"]["role"]: s.payload["recipient"] for s in specs if s.kind == "fax"
    }
    assert faxes["ordering"]["fax"] == "2175550142"
    assert faxes["facility"]["fax"] == "2175550199"
    feed = next(s for s in specs if s.kind == "payer_feed").payload
    assert feed["payer_id"] == "62308" and feed["primary_payer"] is True
    assert feed["record"]["auth_number"] == "AUTH0001"
    assert [c["code"] for c in feed["record"]["codes"]] == ["J9267", "Q5114"]
    assert feed["x12_278"] is None
    email = next(s for s in specs if s.kind == "email").payload
    assert email["portal_url"] == "https://portal.example.invalid/cases/PA2025000001"


def test_hold_goes_only_to_the_requesting_provider(settings: Settings) -> None:
    specs = outbound_jobs(
        make_case(), make_determination("hold"), previous_status=None, settings=settings
    )
    assert kinds(specs) == [("email", "ordering"), ("fax", "requester")]
    assert specs[0].payload["letter"] == "hold"


@pytest.mark.parametrize("kind", ["peer_to_peer", "clinical_review"])
def test_pend_goes_to_the_ordering_provider(settings: Settings, kind: str) -> None:
    specs = outbound_jobs(
        make_case(), make_determination(kind), previous_status="pended", settings=settings
    )
    assert kinds(specs) == [("fax", "ordering")]  # same status as before: no e-mail
    assert specs[0].payload["letter"] == kind


@pytest.mark.parametrize(
    ("kind", "member", "letter"),
    [
        ("denial", True, "denial"),
        ("site_of_care", True, "site_of_care"),
        ("partial_approval", True, "partial_approval"),
        ("out_of_scope", True, "out_of_scope"),
        ("not_required", False, "not_required"),
        ("redirected", False, "redirected"),
    ],
)
def test_final_determinations(settings: Settings, kind: str, member: bool, letter: str) -> None:
    specs = outbound_jobs(
        make_case(), make_determination(kind), previous_status="pended", settings=settings
    )
    assert (
        ("member_mail", "member") in kinds(specs)
        if member
        else ("member_mail", "member") not in kinds(specs)
    )
    assert ("payer_feed", "payer") in kinds(specs)
    assert {s.payload["letter"] for s in specs if "letter" in s.payload} == {letter}


def test_unknown_or_invalid_fax_goes_by_mail(settings: Settings) -> None:
    case = make_case()
    case.ordering.fax = "555-0142"  # type: ignore[union-attr]
    case.facility.fax = None  # type: ignore[union-attr]
    specs = outbound_jobs(
        case, make_determination("denial"), previous_status="pended", settings=settings
    )
    mail = {
        s.payload["recipient"]["role"]: s.payload["recipient"]
        for s in specs
        if s.kind == "provider_mail"
    }
    assert mail["ordering"]["fax_problem"] == "invalid"
    assert mail["ordering"]["fax_as_given"] == "555-0142"
    assert mail["facility"]["fax_problem"] == "unknown"
    assert mail["facility"]["address"]["lines"] == ["9 Infusion Ave"]
    assert not [s for s in specs if s.kind == "fax"]


def test_email_only_for_opted_in_providers_with_an_address(settings: Settings) -> None:
    case = make_case()
    case.ordering.email_opt_in = False  # type: ignore[union-attr]
    case.facility.email = "desk@infusion.example"  # type: ignore[union-attr]
    case.facility.email_opt_in = True  # type: ignore[union-attr]
    specs = outbound_jobs(
        case, make_determination("approval"), previous_status=None, settings=settings
    )
    assert [s.payload["to"] for s in specs if s.kind == "email"] == ["desk@infusion.example"]


def test_other_payers_feed_says_which_payer(settings: Settings) -> None:
    case = make_case(payer_id="77001")
    specs = outbound_jobs(
        case,
        make_determination("approval"),
        previous_status=None,
        settings=settings,
        primary_payer_ids={"62308"},
    )
    feed = next(s for s in specs if s.kind == "payer_feed").payload
    assert feed["payer_id"] == "77001" and feed["primary_payer"] is False


def test_a_cancellation_is_confirmed_to_the_providers_and_a_rejection_sends_no_letter(
    settings: Settings,
) -> None:
    cancelled = make_determination("approval").model_copy(
        update={"status": CaseStatus.CANCELLED, "review_action": "C"}
    )
    specs = outbound_jobs(make_case(), cancelled, previous_status="approved", settings=settings)
    assert sorted(kinds(specs)) == [
        ("email", "ordering"),
        ("fax", "facility"),
        ("fax", "ordering"),
        ("payer_feed", "payer"),
    ]
    assert {spec.payload.get("letter") for spec in specs if spec.kind == "fax"} == {"cancellation"}
    rejected = cancelled.model_copy(update={"status": CaseStatus.REJECTED})
    specs = outbound_jobs(make_case(), rejected, previous_status=None, settings=settings)
    assert kinds(specs) == [("email", "ordering")]


def test_restoring_the_same_determination_makes_no_new_job(settings, sessions) -> None:
    case, determination = make_case(), make_determination("approval")
    assert store_case(sessions, case, determination, settings=settings) == 5
    assert store_case(sessions, case, determination, settings=settings) == 0
    assert len(job_rows(sessions, case_id=case.id)) == 5
    # A new decision (a reviewer's, later) is a new determination: new jobs.
    later = determination.model_copy(
        update={"decided_at": determination.decided_at.replace(hour=18)}
    )
    assert store_case(sessions, case, later, settings=settings, previous_status="approved") == 4


def test_planner_shape_for_the_core(settings: Settings) -> None:
    plan = job_planner(settings)
    case, determination = make_case(), make_determination("hold")
    assert plan(case, determination, "held") == outbound_jobs(
        case, determination, previous_status="held", settings=settings
    )
