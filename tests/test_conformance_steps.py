"""The conformance runner's `post` and `advance` steps (gateway.conformance): a REST call with
the case an earlier step made, and the in-process clock moved on; both checked as data."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.conformance.runner import SteppedClock, Target, run_case
from gateway.conformance.suite import ConformanceCase, Step
from tests.conftest import NOW


def test_a_step_does_one_thing_and_a_post_names_its_route():
    assert Step.model_validate({"advance": {"days": 181}}).action == "advance"
    assert Step.model_validate({"post": {"path": "/cases/{{case_id}}/appeal"}}).action == "post"
    with pytest.raises(ValidationError, match="exactly one"):
        Step.model_validate({"advance": {"days": 1}, "worker": True})
    with pytest.raises(ValidationError, match="path starting with /"):
        Step.model_validate({"post": {"json": {}}})


def test_the_clock_moves_only_by_its_steps():
    from datetime import timedelta

    clock = SteppedClock(NOW)
    assert clock() == NOW
    assert clock.advance(timedelta(days=181)) == NOW + timedelta(days=181)
    assert clock() == NOW + timedelta(days=181)


def test_advance_against_a_running_gateway_is_an_error_not_a_pass():
    case = ConformanceCase.model_validate(
        {"description": "x", "steps": [{"advance": {"days": 1}, "expect": {}}]}
    )
    result = run_case(case, Target(client=None))
    assert result.verdict == "error"
    assert "in-process only" in (result.difference or "")


def test_a_post_before_any_case_is_an_error():
    case = ConformanceCase.model_validate(
        {"description": "x", "steps": [{"post": {"path": "/cases/{{case_id}}/appeal"}}]}
    )
    result = run_case(case, Target(client=None))
    assert result.verdict == "error"
    assert "needs a case from an earlier step" in (result.difference or "")
