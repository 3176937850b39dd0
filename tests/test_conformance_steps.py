"""The conformance runner's `http` and `advance` steps (gateway.conformance): a REST call with
the case an earlier step made, and the in-process clock moved on; both checked as data."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gateway.conformance.runner import SteppedClock, Target, run_case
from gateway.conformance.suite import ConformanceCase, Step
from tests.conftest import NOW


def test_a_step_does_one_thing_and_a_request_names_its_route():
    assert Step.model_validate({"advance": {"days": 181}}).action == "advance"
    request = {"method": "POST", "path": "/cases/{{case_id}}/appeal"}
    assert Step.model_validate({"http": request}).action == "http"
    with pytest.raises(ValidationError, match="exactly one"):
        Step.model_validate({"advance": {"days": 1}, "worker": True})
    with pytest.raises(ValidationError, match="path"):
        Step.model_validate({"http": {"method": "POST", "json": {}}})
    with pytest.raises(ValidationError, match="should match pattern"):
        Step.model_validate({"http": {"path": "cases"}})


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


def test_a_request_before_any_case_is_an_error():
    step = {"http": {"method": "POST", "path": "/cases/{{case_id}}/appeal"}}
    case = ConformanceCase.model_validate({"description": "x", "steps": [step]})
    result = run_case(case, Target(client=None))
    assert result.verdict == "error"
    assert "needs a value from an earlier step" in (result.difference or "")


class _CaseClient:
    """GET /cases/{id} answered with a case whose every field is set."""

    def get(self, path: str) -> object:
        class Answer:
            status_code = 200

            @staticmethod
            def json() -> dict:
                return {"status": "approved", "case": {}, "determination": {}, "jobs": []}

        return Answer()


def test_the_case_facts_are_what_a_case_observation_holds():
    """The runner reads the case only for a step whose expectation names one of CASE_FACTS:
    each of them is a fact observe_case reports, and it reports no other."""
    from gateway.conformance.observe import CASE_FACTS, observe_case

    observed = observe_case(_CaseClient(), "c1")
    assert set(observed) | {"case_status_http"} == CASE_FACTS
