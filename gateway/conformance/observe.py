"""What came back, reduced to the facts a conformance case states expectations about.

X12: the answer kind (ta1, 999, 278), TA1 acknowledgment and note codes, 999 IK5/AK9 verdicts
and the IK3/IK4 positions, HCR01 per event and service loop, AAA codes with their loop. PAS: the
review action per item, errors, OperationOutcome issues. Every answer: the case's status and the
kinds of letters and notices its outbox holds.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from gateway.x12.tokens import X12SyntaxError, tokenize

REVIEW_ACTION_URL = "reviewActionCode"
# HL03 level code -> loop, and the name loop that follows an NM1 inside it.
HL_LOOPS = {
    "20": "2000A",
    "21": "2000B",
    "22": "2000C",
    "23": "2000D",
    "EV": "2000E",
    "SS": "2000F",
}
NAME_LOOPS = {
    "2000A": "2010A",
    "2000B": "2010B",
    "2000C": "2010C",
    "2000D": "2010D",
    "2000E": "2010EA",
    "2000F": "2010FA",
}


def observe_response(action: str, response: httpx.Response) -> dict[str, Any]:
    observed: dict[str, Any] = {"http_status": response.status_code}
    if action == "x12":
        observed.update(observe_x12(response.content))
        case_ids = response.headers.get("X-Case-Ids", "")
        if case_ids:
            observed["case_ids"] = case_ids.split(",")
            observed["case_id"] = observed["case_ids"][0]
        return observed
    try:
        body = response.json()
    except json.JSONDecodeError:
        observed["kind"] = "not-json"
        return observed
    if action == "rest" and not (isinstance(body, dict) and "determination" in body):
        # Another route's answer as it came (the work list, a refusal with its code).
        observed["body"] = body
    if action in ("pas", "inquire"):
        observed.update(observe_fhir(body))
    elif isinstance(body, dict):
        observed["kind"] = "case" if "determination" in body else "error"
        if body.get("id"):
            observed["case_id"] = body["id"]
        if body.get("error"):
            observed["error"] = body["error"]
    return observed


def observe_x12(data: bytes) -> dict[str, Any]:
    try:
        _, tokens = tokenize(data)
    except X12SyntaxError:
        return {"kind": "unreadable"}
    segments = [[token.seg_id, *token.elements] for token in tokens]
    ids = [segment[0] for segment in segments]
    observed: dict[str, Any] = {}
    if "TA1" in ids:
        ta1 = segments[ids.index("TA1")]
        observed.update(kind="ta1", ta1={"ack": _at(ta1, 4), "note": _at(ta1, 5)})
        return observed
    kinds = []
    if any(segment[0] == "ST" and _at(segment, 1) == "999" for segment in segments):
        kinds.append("999")
        observed["ack999"] = _observe_999(segments)
    if "BHT" in ids:
        kinds.append("278")
        observed.update(_observe_278(segments))
    observed["kind"] = "+".join(kinds) or "unknown"
    return observed


def _at(segment: list[str], index: int) -> str | None:
    return segment[index] if len(segment) > index and segment[index] != "" else None


def _observe_999(segments: list[list[str]]) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    verdicts = []
    group = None
    for segment in segments:
        tag = segment[0]
        if tag == "IK3":
            errors.append(
                {
                    "segment": _at(segment, 1),
                    "position": _at(segment, 2),
                    "loop": _at(segment, 3),
                    "code": _at(segment, 4),
                }
            )
        elif tag == "IK4" and errors:
            errors[-1]["element"] = (_at(segment, 1) or "").split(":")[0] or None
            errors[-1]["element_code"] = _at(segment, 3)
        elif tag == "IK5":
            verdicts.append(_at(segment, 1))
        elif tag == "AK9":
            group = _at(segment, 1)
    return {"ik5": verdicts, "ak9": group, "errors": errors}


def _observe_278(segments: list[list[str]]) -> dict[str, Any]:
    """HCR01 of each 2000E (events) and 2000F (services), AAA codes with their loop."""
    events: list[str | None] = []
    services: list[str | None] = []
    aaa: list[dict[str, Any]] = []
    auth_numbers: list[str] = []
    level_loop = loop = None
    for segment in segments:
        tag = segment[0]
        if tag == "HL":
            level_loop = loop = HL_LOOPS.get(_at(segment, 3) or "")
        elif tag == "NM1" and level_loop:
            loop = NAME_LOOPS.get(level_loop, level_loop)
        elif tag == "HCR":
            (services if level_loop == "2000F" else events).append(_at(segment, 1))
            if _at(segment, 2):
                auth_numbers.append(str(_at(segment, 2)))
        elif tag == "AAA":
            aaa.append({"loop": loop, "code": _at(segment, 3), "follow_up": _at(segment, 4)})
    observed: dict[str, Any] = {"events": events, "items": services or events, "aaa": aaa}
    observed["review_action"] = events[0] if events else None
    observed["auth_numbers"] = auth_numbers
    return observed


def observe_fhir(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return {"kind": "unknown"}
    kind = body.get("resourceType")
    observed: dict[str, Any] = {"kind": kind}
    if kind == "OperationOutcome":
        observed["issues"] = [
            {"code": issue.get("code"), "expression": (issue.get("expression") or [None])[0]}
            for issue in body.get("issue", [])
        ]
        return observed
    if kind == "Parameters":
        bundles = [p.get("resource") for p in body.get("parameter", []) if p.get("resource")]
        observed["responses"] = [observe_fhir(b) for b in bundles]
        return observed
    entries = body.get("entry") or []
    claim_response = entries[0].get("resource", {}) if entries else {}
    observed["first_entry"] = claim_response.get("resourceType")
    observed["outcome"] = claim_response.get("outcome")
    identifiers = claim_response.get("identifier") or []
    if identifiers:
        observed["case_id"] = identifiers[0].get("value")
    items = []
    for item in claim_response.get("item", []):
        items.append(_item_action(item))
    observed["items"] = items
    observed["review_action"] = items[0] if items else None
    observed["errors"] = [
        (error.get("code", {}).get("coding") or [{}])[0].get("code")
        for error in claim_response.get("error", [])
    ]
    return observed


def _item_action(item: dict[str, Any]) -> str | None:
    for adjudication in item.get("adjudication", []):
        for extension in adjudication.get("extension", []):
            for inner in extension.get("extension", []):
                if str(inner.get("url", "")).endswith(REVIEW_ACTION_URL):
                    codings = inner.get("valueCodeableConcept", {}).get("coding", [])
                    if codings:
                        return codings[0].get("code")
    return None


def observe_case(client: Any, case_id: str) -> dict[str, Any]:
    response = client.get(f"/cases/{case_id}")
    if response.status_code != 200:
        return {"case_status_http": response.status_code}
    body = response.json()
    jobs = body.get("jobs") or []
    determination = body.get("determination") or {}
    return {
        "status": body.get("status"),
        "prior_case_id": (body.get("case") or {}).get("prior_case_id"),
        "period_start": determination.get("period_start"),
        "period_end": determination.get("period_end"),
        "pend_kind": determination.get("pend_kind"),
        "missing_facts": determination.get("missing_facts"),
        "reason_code": (determination.get("reason") or {}).get("code"),
        "pathway_regimen": determination.get("pathway_regimen"),
        "alternative_state": (determination.get("alternative") or {}).get("state"),
        "jobs": sorted({job.get("kind") for job in jobs}),
        "letters": sorted({job.get("letter") for job in jobs if job.get("letter")}),
        "job_states": sorted({job.get("state") for job in jobs}),
    }
