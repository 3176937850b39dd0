"""The PAS channel's $submit service: a parsed request bundle in, the PAS answer out (a
response Bundle, or an OperationOutcome with its status). The HTTP router and `gateway submit`
call it; it knows no HTTP.

Profile rules and attachment limits first, then the read into a canonical case, then the case
service (which stores the case, its events and jobs in one transaction), then the response
Bundle, rendered after the commit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.domain.appeals import is_appeal
from gateway.domain.case import Case, Determination
from gateway.domain.changes import ChangeRefused, change_kind
from gateway.fhir import outcome, profile, reader, writer
from gateway.fhir.attachments import check_attachments, refusal_status
from gateway.fhir.bundle import BundleIndex
from gateway.service.core import Core, SubmitResult
from gateway.service.identity import RequestConflict


@dataclass
class PasAnswer:
    """What $submit answers: a response Bundle (200) or an OperationOutcome (4xx)."""

    status: int
    body: dict[str, Any] | str  # a resource, or the stored response's JSON text
    case_ids: list[str] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def is_outcome(self) -> bool:
        return self.status >= 400

    def resource(self) -> dict[str, Any]:
        return json.loads(self.body) if isinstance(self.body, str) else self.body

    def text(self) -> str:
        """The answer as the JSON text that goes back."""
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


def _refused(status: int, code: str, text: str, *expression: str) -> PasAnswer:
    return PasAnswer(status, outcome.operation_outcome([outcome.error(code, text, *expression)]))


def submit_bundle(
    core: Core,
    body: Any,
    *,
    submitter_id: str | None,
    may_change: Callable[[dict[str, Any]], bool] | None = None,
) -> PasAnswer:
    """Claim/$submit on a parsed JSON body (a Bundle, or Parameters holding one): profile
    rules, read, review and store, render. The HTTP route and `gateway submit` both call it."""
    body = reader.unwrap_parameters(body)
    if not isinstance(body, dict):
        return _refused(400, "structure", "The body is not a FHIR resource", "Bundle")
    index = BundleIndex(body)  # one index of the entries for the limits, the rules and the read
    # The program's attachment limits first: a 413 that names the attachment (issue 18).
    too_much = check_attachments(body, index)
    if too_much:
        return PasAnswer(refusal_status(too_much), outcome.operation_outcome(too_much))
    issues = profile.validate_request(body, "submit", index)
    if outcome.has_errors(issues):
        return PasAnswer(outcome.http_status(issues), outcome.operation_outcome(issues))
    now = core.clock()
    try:
        case = reader.read_case(body, received_at=now, submitter_id=submitter_id, index=index)
    except reader.PasReadError as exc:
        return _refused(400, "required", str(exc), "Bundle.entry")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        # A shape the profile rules let through but that cannot be mapped to a case (a value
        # of the wrong kind where the case needs one): refused, named, never a 500.
        return _refused(
            400,
            "structure",
            f"The request cannot be read into a case: {type(exc).__name__}",
            "Bundle.entry[0].resource",
        )

    # An appeal (certificationType 1/2) names its determination in Claim.related too.
    explicit_change = change_kind(case) is not None or is_appeal(case)
    if case.change_reference is not None and not explicit_change:
        case.certification_type = "S"  # a claim update without a type revises its prior claim
    submitter = case.submission.submitter_id or ""
    replay_key = (
        f"pas:{submitter}:{case.submission.bundle_identifier}:{case.submission.content_hash}"
    )

    read_echo = case.submission.echo  # built from `body` by the reader: not walked again

    def render(stored: Case, determination: Determination) -> str:
        return json.dumps(
            writer.response_bundle(
                stored,
                determination,
                request=body,
                now=now,
                base=core.settings.fhir_base_url,
                read_echo=read_echo,
            )
        )

    def submit_case(case: Case) -> SubmitResult:
        return core.submit(
            case,
            actor=f"pas:{submitter}",
            replay_key=replay_key,
            render=render,
            may_change=may_change,
        )

    try:
        try:
            result = submit_case(case)
        except ChangeRefused as exc:
            if explicit_change or exc.aaa_code != "T5":
                raise
            # A related claim this gateway never saw (another payer's, or sent before
            # go-live), on an update that names no change type: a new request.
            case.change_reference = None
            case.certification_type = "I"
            result = submit_case(case)
    except ChangeRefused as exc:
        status = 404 if exc.aaa_code == "T5" else 422
        return _refused(status, exc.fhir_code, exc.text, "Bundle.entry[0].resource.related")
    except RequestConflict as exc:
        # The same Claim.identifier with other content is never a second case (issue 18): a
        # change is a PASClaimUpdate (Claim.related), a new request has its own identifier.
        return _refused(
            409,
            "duplicate",
            f"Claim.identifier {exc.identifier} was already submitted with other content "
            f"(case {exc.case_id}); send a change as a claim update (Claim.related naming "
            "the prior claim) or a new request under a new Claim.identifier",
            "Bundle.entry[0].resource.identifier",
        )
    return PasAnswer(
        200,
        result.response or "",
        [result.case.id] if result.case.id else [],
        {"X-Case-Ids": result.case.id or ""},
    )
