"""What came back, reduced to the facts a conformance case states expectations about.

X12: the answer kind (ta1, 999, 278, or what a TA1 A precedes: ta1+278), TA1 acknowledgment and
note codes, each interchange's ISA05/ISA06/ISA14/GS02, 999 IK5/AK9 verdicts with the IK5 codes
and the IK3/IK4 positions, HCR01 per event and service loop, HCR03 with its loop and action,
AAA codes with their loop, the HL loops sent and the MSG texts. PAS: the
review action per item, errors, OperationOutcome issues. Every answer: the case's status and the
kinds of letters and notices its outbox holds.
"""

from __future__ import annotations

import json
import re
from typing import Any

import httpx

from gateway.x12.tokens import X12SyntaxError, tokenize

REVIEW_ACTION = "extension-reviewAction"
REVIEW_ACTION_CODE = "reviewActionCode"
X12_306 = "https://codesystem.x12.org/005010/306"  # review action codes (HCR01)
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


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+|\*|\?[^\]=]+=[^\]]*)\]")


def pick(value: Any, path: str) -> Any:
    """The value at a path into a JSON answer, or None where there is none: `a.b[0].c`,
    `[*]` for every element (a list comes back), `[?key=text]` for the first element whose key
    (a path too: entry[?resource.resourceType=OperationOutcome]) reads `text`."""
    current: list[Any] = [value]
    spread = False
    for name, index in _STEP.findall(path):
        following: list[Any] = []
        for node in current:
            if name:
                if isinstance(node, dict) and name in node:
                    following.append(node[name])
            elif index == "*":
                if isinstance(node, list):
                    following.extend(node)
                    spread = True
            elif index.startswith("?"):
                key, _, text = index[1:].partition("=")
                if isinstance(node, list):
                    found = [item for item in node if str(pick(item, key)) == text]
                    following.extend(found[:1])
            elif isinstance(node, list) and int(index) < len(node):
                following.append(node[int(index)])
        current = following
    if spread:
        return current
    return current[0] if current else None


def observe_response(action: str, response: httpx.Response) -> dict[str, Any]:
    observed: dict[str, Any] = {"http_status": response.status_code}
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    if action == "http":
        observed["content_type"] = media_type
        if response.headers.get("allow"):
            observed["allow"] = response.headers["allow"]
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
    fhir_answer = isinstance(body, dict) and "resourceType" in body
    if (
        action == "http"
        and not fhir_answer
        and not (isinstance(body, dict) and "determination" in body)
    ):
        # Another route's answer as it came (the work list, a refusal with its code).
        observed["body"] = body
    if action in ("pas", "inquire", "subscribe") or (
        action == "http" and isinstance(body, dict) and "resourceType" in body
    ):
        observed.update(observe_fhir(body))
    elif isinstance(body, dict):
        observed["kind"] = "case" if "determination" in body else "error"
        if body.get("id"):
            observed["case_id"] = body["id"]
        if body.get("error"):
            observed["error"] = body["error"]
            # A refusal's rule and, for a late appeal, the date it was due.
            for name in ("code", "due"):
                if body.get(name):
                    observed[name] = body[name]
    return observed


def observe_x12(data: bytes) -> dict[str, Any]:
    try:
        _, tokens = tokenize(data)
    except X12SyntaxError:
        return {"kind": "unreadable"}
    segments = [[token.seg_id, *token.elements] for token in tokens]
    ids = [segment[0] for segment in segments]
    observed: dict[str, Any] = {"interchanges": _interchanges(segments)}
    kinds = []
    if "TA1" in ids:
        ta1 = segments[ids.index("TA1")]
        observed.update(
            ta1={"ack": _at(ta1, 4), "note": _at(ta1, 5)},
            ta1_echo={"date": _at(ta1, 2), "time": _at(ta1, 3)},  # TA102/TA103
        )
        if not {"GS", "ST"} & set(ids):  # a TA1 alone: the envelope was refused (or nothing else)
            observed["kind"] = "ta1"
            return observed
        kinds.append("ta1")
    if any(segment[0] == "ST" and _at(segment, 1) == "999" for segment in segments):
        kinds.append("999")
        observed["ack999"] = _observe_999(segments)
    if "BHT" in ids:
        kinds.append("278")
        observed.update(_observe_278(segments))
    observed["kind"] = "+".join(kinds) or "unknown"
    return observed


def _interchanges(segments: list[list[str]]) -> list[dict[str, Any]]:
    """ISA05/ISA06 (the gateway as it answers), ISA14 and the GS02 of each interchange."""
    found: list[dict[str, Any]] = []
    for segment in segments:
        if segment[0] == "ISA":
            found.append(
                {
                    "isa05": _at(segment, 5),
                    "isa06": (_at(segment, 6) or "").strip() or None,
                    "isa14": _at(segment, 14),
                    "gs02": None,
                }
            )
        elif segment[0] == "GS" and found and found[-1]["gs02"] is None:
            found[-1]["gs02"] = _at(segment, 2)
    return found


def _at(segment: list[str], index: int) -> str | None:
    return segment[index] if len(segment) > index and segment[index] != "" else None


def _observe_999(segments: list[list[str]]) -> dict[str, Any]:
    errors: list[dict[str, Any]] = []
    verdicts = []
    codes: list[list[str]] = []
    contexts: list[str] = []
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
        elif tag == "CTX":
            contexts.append(segment[1] if len(segment) > 1 else "")
        elif tag == "IK5":
            verdicts.append(_at(segment, 1))
            codes.append([value for value in segment[2:] if value])
        elif tag == "AK9":
            group = _at(segment, 1)
    return {
        "ik5": verdicts,
        "ik5_codes": codes,
        "ak9": group,
        "errors": errors,
        "contexts": contexts,
    }


def _observe_278(segments: list[list[str]]) -> dict[str, Any]:
    """HCR01 of each 2000E (events) and 2000F (services), AAA codes with their loop."""
    events: list[str | None] = []
    services: list[str | None] = []
    aaa: list[dict[str, Any]] = []
    auth_numbers: list[str] = []
    reasons: list[dict[str, Any]] = []
    loops: list[str | None] = []
    messages: list[str] = []
    level_loop = loop = None
    for segment in segments:
        tag = segment[0]
        if tag == "HL":
            level_loop = loop = HL_LOOPS.get(_at(segment, 3) or "")
            loops.append(level_loop)
        elif tag == "MSG":
            messages.append(_at(segment, 1) or "")
        elif tag == "NM1" and level_loop:
            loop = NAME_LOOPS.get(level_loop, level_loop)
        elif tag == "HCR":
            (services if level_loop == "2000F" else events).append(_at(segment, 1))
            reasons.append({"loop": level_loop, "action": _at(segment, 1), "code": _at(segment, 3)})
            if _at(segment, 2):
                auth_numbers.append(str(_at(segment, 2)))
        elif tag == "AAA":
            aaa.append({"loop": loop, "code": _at(segment, 3), "follow_up": _at(segment, 4)})
    observed: dict[str, Any] = {"events": events, "items": services or events, "aaa": aaa}
    observed["review_action"] = events[0] if events else None
    observed["auth_numbers"] = auth_numbers
    observed.update(hcr=reasons, loops=loops, msg=messages)
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
    if kind == "Subscription":
        observed["subscription_status"] = body.get("status")
        return observed
    if kind == "Parameters":
        bundles = [
            p.get("resource")
            for p in body.get("parameter", [])
            if isinstance(p.get("resource"), dict) and p["resource"].get("resourceType") == "Bundle"
        ]
        observed["responses"] = [observe_fhir(b) for b in bundles]
        return observed
    if kind != "Bundle":
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
    # Which request items the answer is about (a claim update echoes item.sequence).
    observed["item_sequences"] = [
        item.get("itemSequence") for item in claim_response.get("item", [])
    ]
    observed["review_action"] = items[0] if items else None
    observed["errors"] = [
        (error.get("code", {}).get("coding") or [{}])[0].get("code")
        for error in claim_response.get("error", [])
    ]
    return observed


def _item_action(item: dict[str, Any]) -> str | None:
    """The item's review action as the Inferno kit reads it: adjudication.extension[reviewAction]
    .extension[reviewActionCode], an X12 306 code. A code of another system is shown with its
    system, so no expectation of a bare code holds for it."""
    for adjudication in item.get("adjudication", []):
        for extension in adjudication.get("extension", []):
            if not str(extension.get("url", "")).endswith(REVIEW_ACTION):
                continue
            for inner in extension.get("extension", []):
                if str(inner.get("url", "")).endswith(REVIEW_ACTION_CODE):
                    codings = inner.get("valueCodeableConcept", {}).get("coding", [])
                    if codings:
                        code, system = codings[0].get("code"), codings[0].get("system")
                        return code if system == X12_306 else f"{code} ({system})"
    return None


# What observe_case reports: the runner reads the case only for a step that expects one of them.
CASE_FACTS = frozenset(
    {
        "case_status_http",
        "status",
        "prior_case_id",
        "period_start",
        "period_end",
        "pend_kind",
        "missing_facts",
        "reason_code",
        "pathway_regimen",
        "alternative_state",
        "jobs",
        "letters",
        "job_states",
        "auth_number",
        "appeal",
        "expired",
        "feed_events",
    }
)


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
        "auth_number": determination.get("auth_number"),
        # After a determination: an appeal with the payer, an expiry, the payer feed's lines.
        "appeal": _appeal(determination.get("filed_appeal")),
        "expired": determination.get("expired_at") is not None,
        "feed_events": sorted({job["feed_event"] for job in jobs if job.get("feed_event")}),
    }


def _appeal(filed: dict[str, Any] | None) -> dict[str, Any] | None:
    if not filed:
        return None
    names = ("expedited", "appellant", "received_at", "due_at", "window_ends", "outcome")
    return {name: filed.get(name) for name in names}
