"""ClaimResponse items, addItems, errors and outcome from a Determination (profile-claimresponse).

Every Claim item.sequence comes back as ClaimResponse.item.itemSequence carrying the X12 306
review action at item.adjudication.extension[reviewAction].extension[reviewActionCode] (where
Inferno looks), the authorization number as reviewAction.number, itemPreAuthPeriod, and reasons
as reviewAction.reasonCode (X12 886) and processNote. An A6 (modified) approval also carries what
was authorized, in item.extension[itemAuthorizedDetail] and in an addItem; a business error
(Determination.rejection) goes to ClaimResponse.error with its AAA code.
"""

from __future__ import annotations

from datetime import date
from functools import lru_cache
from typing import Any

from gateway.domain import site_of_care
from gateway.domain.actions import APPROVALS, ReviewAction
from gateway.domain.case import Case, Determination, LineDetermination, Reason
from gateway.domain.review_reasons import ReviewReasons, load_review_reasons, review_reason
from gateway.fhir import constants as k
from gateway.fhir.codes import review_action_display

Resource = dict[str, Any]
# Which request entry an X12 AAA loop points at, for errorPath (2010A payer, 2010B requester,
# 2010C/D member, 2000E/F the Claim and its items).
_LOOP_TARGET = {"2010A": "insurer", "2010B": "requestor", "2010C": "patient", "2010D": "patient"}


def period(start: date | None, end: date | None) -> dict[str, str] | None:
    out = {key: value.isoformat() for key, value in (("start", start), ("end", end)) if value}
    return out or None


def cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


class Notes:
    """processNote entries, one per distinct text, numbered from 1."""

    def __init__(self) -> None:
        self.notes: list[Resource] = []

    def add(self, text: str | None) -> int | None:
        if not text:
            return None
        for note in self.notes:
            if note["text"] == text:
                return note["number"]
        self.notes.append({"number": len(self.notes) + 1, "type": "display", "text": text})
        return len(self.notes)


@lru_cache(maxsize=1)
def _reasons() -> ReviewReasons:
    return load_review_reasons()


def reason_code(review_action: str, reason: Reason | None) -> str | None:
    """reviewAction.reasonCode: the same X12 886 code as the 278's HCR03, from the one
    review-reason crosswalk (mappings/crosswalks/review_reasons.yaml): always on A3 and A6, on
    A4 when its reason has one (a hold for missing information: 0U)."""
    return review_reason(_reasons(), review_action, reason)


def _review_action(code: str, auth: str | None, reason: Reason | None) -> Resource:
    parts: list[Resource] = []
    if auth:
        parts.append({"url": "number", "valueString": auth})
    parts.append(
        {
            "url": k.EXT_REVIEW_ACTION_CODE,
            "valueCodeableConcept": cc(k.CS_X12_306, code, review_action_display(code)),
        }
    )
    x12_reason = reason_code(code, reason)
    if x12_reason:
        parts.append({"url": "reasonCode", "valueCodeableConcept": cc(k.CS_X12_886, x12_reason)})
    return {
        "extension": [{"url": k.EXT_REVIEW_ACTION, "extension": parts}],
        "category": cc(k.CS_ADJUDICATION, "submitted"),
    }


def _line_determinations(determination: Determination) -> dict[int, list[LineDetermination]]:
    by_sequence: dict[int, list[LineDetermination]] = {}
    for line in determination.lines:
        by_sequence.setdefault(line.sequence, []).append(line)
    return by_sequence


def items(
    case: Case, det: Determination, echo: dict[str, Any], notes: Notes, issued: date
) -> tuple[list[Resource], list[Resource]]:
    lines = _line_determinations(det)
    service_lines = {line.sequence: line for line in case.service_lines}
    out: list[Resource] = []
    added: list[Resource] = []
    for position, item in enumerate(echo.get("items") or []):
        sequence = item.get("sequence") if isinstance(item.get("sequence"), int) else position + 1
        queue = lines.get(sequence) or []
        line = queue.pop(0) if queue else None  # repeated sequences are matched in order
        if line is not None:
            action = line.review_action
        else:
            action = "C" if item.get("cancelled") else det.review_action
        # Number, period and place as the 278 and the letters give them (one helper).
        authorized = site_of_care.authorized(case, service_lines.get(sequence), line, det)
        auth = authorized.auth_number if action in APPROVALS else None
        granted = period(authorized.period_start, authorized.period_end)
        reason = (line.reason if line else None) or det.reason
        # The reason code is the line's own, as the 278's 2000F HCR03: a line decided without
        # a reason of its own (an A1 beside an A6) carries none; an item with no line
        # determination takes the case's (the 2000E HCR03).
        coded = line.reason if line is not None else det.reason
        exts = [
            {"url": k.EXT_ITEM_TRACE_NUMBER, "valueIdentifier": t} for t in item["traceNumbers"]
        ]
        requested = item.get("servicedPeriod") or (
            {"start": item["servicedDate"], "end": item["servicedDate"]}
            if item.get("servicedDate")
            else None
        )
        if requested:
            exts.append({"url": k.EXT_ITEM_REQUESTED_SERVICE_DATE, "valuePeriod": requested})
        if action in APPROVALS:
            exts.append({"url": k.EXT_ITEM_PREAUTH_ISSUE_DATE, "valueDate": issued.isoformat()})
            if granted:
                exts.append({"url": k.EXT_ITEM_PREAUTH_PERIOD, "valuePeriod": granted})
        if action == ReviewAction.PENDED and case.id:
            # A tracking number for the pended item (X12 HCR02 is empty until decided).
            exts.append({"url": k.EXT_ADMIN_REFERENCE_NUMBER, "valueString": case.id})
        note = notes.add(reason.text if reason else None)
        if action == ReviewAction.MODIFIED:
            detail = _authorized(item, line, granted, authorized)
            authorized_detail = _authorized_detail(detail)
            if authorized_detail:
                exts.append(authorized_detail)
            added.append(_add_item(sequence, item, detail, auth, coded or reason, issued, note))
        entry: Resource = {"extension": exts} if exts else {}  # FHIR arrays are never empty
        entry["itemSequence"] = sequence
        if note:
            entry["noteNumber"] = [note]
        entry["adjudication"] = [_review_action(action, auth, coded)]
        out.append(entry)
    return out, added


def _authorized(
    item: Resource,
    line: LineDetermination | None,
    granted: Resource | None,
    authorized: site_of_care.Authorized,
) -> Resource:
    """What an A6 modified approval authorizes: units, dates and site as decided. The place is
    the one gateway.domain.site_of_care gives: for the one-time site-of-care authorization the
    site asked for (the request's own location is echoed), as the 278 (UM04) and the letter say;
    the place the program asks for afterwards is the redirect, not what this authorizes."""
    quantity = dict(item.get("quantity") or {})
    if line and line.units is not None:
        units = line.units
        quantity["value"] = int(units) if float(units).is_integer() else units
    pos = authorized.place_of_service
    if authorized.moved or not item.get("location"):
        location = cc(k.CS_POS, pos) if pos else item.get("location")
    else:
        location = item.get("location")
    return {
        "product": item.get("productOrService"),
        "quantity": quantity or None,
        "period": granted,
        "location": location,
        "modifier": item.get("modifier"),
    }


def _authorized_detail(detail: Resource) -> Resource | None:
    parts: list[Resource] = []
    if detail["product"]:
        parts.append({"url": "productOrServiceCode", "valueCodeableConcept": detail["product"]})
    if detail["quantity"] and "value" in detail["quantity"]:
        parts.append({"url": "quantity", "valueQuantity": detail["quantity"]})
    return {"url": k.EXT_ITEM_AUTHORIZED_DETAIL, "extension": parts} if parts else None


def _add_item(
    sequence: int,
    item: Resource,
    detail: Resource,
    auth: str | None,
    reason: Reason | None,
    issued: date,
    note: int | None,
) -> Resource:
    exts: list[Resource] = [
        {"url": k.EXT_ITEM_TRACE_NUMBER, "valueIdentifier": t} for t in item["traceNumbers"]
    ]
    exts.append({"url": k.EXT_ITEM_PREAUTH_ISSUE_DATE, "valueDate": issued.isoformat()})
    if detail["period"]:
        exts.append({"url": k.EXT_ITEM_PREAUTH_PERIOD, "valuePeriod": detail["period"]})
    out: Resource = {
        "extension": exts,
        "itemSequence": [sequence],
        "productOrService": detail["product"]
        or cc("http://terminology.hl7.org/CodeSystem/data-absent-reason", "not-applicable"),
    }
    if detail["modifier"]:
        out["modifier"] = detail["modifier"]
    if detail["period"]:
        out["servicedPeriod"] = detail["period"]
    if detail["location"]:
        out["locationCodeableConcept"] = detail["location"]
    if detail["quantity"] and "value" in detail["quantity"]:
        out["quantity"] = detail["quantity"]
    if note:
        out["noteNumber"] = [note]
    out["adjudication"] = [_review_action(ReviewAction.MODIFIED, auth, reason)]
    return out


def errors(det: Determination, echo: dict[str, Any]) -> list[Resource]:
    rejection = det.rejection
    if rejection is None:
        return []
    exts: list[Resource] = [
        {"url": k.EXT_ERROR_ELEMENT, "extension": [{"url": "error", "valueString": rejection.loop}]}
    ]
    path = _error_path(rejection.loop, echo)
    if path:
        exts.append({"url": k.EXT_ERROR_PATH, "valueString": path})
    exts.append(
        {"url": k.EXT_ERROR_FOLLOWUP, "valueCodeableConcept": cc(k.CS_X12_889, rejection.follow_up)}
    )
    return [{"extension": exts, "code": cc(k.CS_X12_901, rejection.aaa_code)}]


def _error_path(loop: str, echo: dict[str, Any]) -> str | None:
    """The request element an AAA loop is about, as FHIRPath into the request bundle."""
    target = _LOOP_TARGET.get(loop)
    url = echo.get(target) if target else (echo.get("claim") or {}).get("fullUrl")
    for position, entry in enumerate(echo.get("entries") or []):
        if url and entry.get("fullUrl") == url:
            suffix = ".item" if loop.startswith("2000F") else ""
            return f"Bundle.entry[{position}].resource{suffix}"
    return None


def outcome(det: Determination, claim_items: list[Resource]) -> str:
    """error for a rejection; partial when some items are decided and others still pended
    (R4 remittance-outcome); otherwise complete (PAS answers a pended request 'complete')."""
    if det.rejection is not None:
        return "error"
    actions = {
        ext["valueCodeableConcept"]["coding"][0]["code"]
        for item in claim_items
        for ext in item["adjudication"][0]["extension"][0]["extension"]
        if ext["url"] == k.EXT_REVIEW_ACTION_CODE
    }
    pended = ReviewAction.PENDED
    return "partial" if pended in actions and actions - {pended} else "complete"
