"""A request's identity (issue 18 item 3, DESIGN.md decision 7), through the real HTTP app.

A resubmission (the same request under a new envelope: control numbers, dates, Bundle.id,
timestamp, Bundle.identifier, fullUrls) gets the stored answer and creates nothing; the same
identifier with other business content is refused, never a second case.
"""

from __future__ import annotations

import copy
import json
import re

from sqlalchemy import func, select

from gateway.conformance.observe import observe_fhir, observe_x12
from gateway.settings import REPO_ROOT
from gateway.store.models import CaseRow, OutboxJobRow
from gateway.x12.oracle import run_pyx12

X12_SAMPLE = REPO_ROOT / "samples" / "x12" / "278-act-dd-jane-doe.x12"
PAS_SAMPLE = REPO_ROOT / "samples" / "pas" / "ddact-her2neg.json"


def counts(core) -> tuple[int, int]:
    """(cases, outbound jobs) in the store."""
    with core.sessions() as session:
        cases = session.execute(select(func.count()).select_from(CaseRow)).scalar_one()
        jobs = session.execute(select(func.count()).select_from(OutboxJobRow)).scalar_one()
    return cases, jobs


# ---------------------------------------------------------------- X12


def post_x12(client, data: str):
    return client.post(
        "/x12/278", content=data.encode(), headers={"Content-Type": "application/edi-x12"}
    )


def new_envelope(text: str, number: int) -> str:
    """The same transaction under a new envelope: ISA09/10/13, GS04/05/06, ST02/SE02, IEA02,
    GE02 and BHT04/05 all new; BHT03, TRN and the business content unchanged."""
    isa13, gs06, st02 = f"{number:09d}", str(number), f"{number % 10000:04d}"
    out = []
    for segment in text.split("~"):
        parts = segment.strip().split("*")
        tag = parts[0]
        if tag == "ISA":
            parts[9], parts[10], parts[13] = "261121", "1415", isa13
        elif tag == "GS":
            parts[4], parts[5], parts[6] = "20261121", "1415", gs06
        elif tag in ("ST", "SE"):
            parts[2] = st02
        elif tag == "BHT":
            parts[4], parts[5] = "20261121", "1415"
        elif tag == "GE":
            parts[2] = gs06
        elif tag == "IEA":
            parts[2] = isa13
        out.append("*".join(parts) if segment.strip() else segment)
    return "~".join(out)


def test_x12_resubmission_under_a_new_envelope_gets_the_stored_answer(client, core):
    original = X12_SAMPLE.read_text()
    first = post_x12(client, original)
    before = counts(core)
    again = post_x12(client, new_envelope(original, 777))
    assert again.status_code == 200
    assert again.headers["X-Answer-Kind"] == "278"  # not an interchange replay
    assert again.headers["X-Case-Ids"] == first.headers["X-Case-Ids"]
    assert counts(core) == before  # no second case, no more faxes, letters or feed lines
    seen, stored = observe_x12(again.content), observe_x12(first.content)
    assert seen["review_action"] == "A1"
    assert seen["auth_numbers"] == stored["auth_numbers"]
    assert run_pyx12(again.content).valid


def test_x12_changed_drug_under_the_same_bht03_is_refused_with_aaa_33(client, core):
    original = X12_SAMPLE.read_text()
    first = post_x12(client, original)
    before = counts(core)
    changed = new_envelope(original, 778).replace("SV1*HC:J9267**UN*12", "SV1*HC:J9171**UN*4")
    answer = post_x12(client, changed)
    assert answer.status_code == 200
    observed = observe_x12(answer.content)
    assert {"loop": "2000E", "code": "33", "follow_up": "C"} in observed["aaa"]
    assert b"HCR*" not in answer.content  # refused, not decided
    assert b"BHT03 ACTDD0001 was already used" in answer.content
    assert first.headers["X-Case-Ids"].encode() in answer.content  # names the stored case
    assert answer.headers["X-Case-Ids"] == ""
    assert counts(core) == before
    assert run_pyx12(answer.content).valid


def test_x12_changed_diagnosis_under_the_same_bht03_is_refused(client, core):
    original = X12_SAMPLE.read_text()
    post_x12(client, original)
    before = counts(core)
    changed = new_envelope(original, 779).replace("HI*ABK:C50911", "HI*ABK:C50912")
    observed = observe_x12(post_x12(client, changed).content)
    assert {"loop": "2000E", "code": "33", "follow_up": "C"} in observed["aaa"]
    assert counts(core) == before


def test_x12_another_bht03_is_another_request(client, core):
    original = X12_SAMPLE.read_text()
    first = post_x12(client, original)
    other = post_x12(client, new_envelope(original, 780).replace("ACTDD0001", "ACTDD0002"))
    assert other.headers["X-Case-Ids"] != first.headers["X-Case-Ids"]
    assert counts(core)[0] == 2


# ---------------------------------------------------------------- PAS


def post_pas(client, bundle: dict):
    return client.post(
        "/fhir/Claim/$submit",
        content=json.dumps(bundle),
        headers={"Content-Type": "application/fhir+json"},
    )


def renamed(bundle: dict) -> dict:
    """The same bundle with new Bundle.id, timestamp and identifier and every entry under a
    new fullUrl and id (references renamed alike); Claim.identifier unchanged."""
    names = {}
    for index, entry in enumerate(bundle["entry"]):
        kind = entry["resource"]["resourceType"]
        names[f"{kind}/{entry['resource']['id']}"] = f"{kind}/renamed-{index}"
    text = json.dumps(bundle)
    for old in sorted(names, key=len, reverse=True):  # fullUrls and references alike
        text = re.sub(re.escape(old) + r'(?=["/#|])', names[old], text)
    out = json.loads(text)
    for index, entry in enumerate(out["entry"]):
        entry["resource"]["id"] = f"renamed-{index}"
    out["id"] = "resent-bundle"
    out["timestamp"] = "2026-11-21T14:15:00-05:00"
    out["identifier"] = {"system": out["identifier"]["system"], "value": "SUB-DDACT-RESENT"}
    assert all("renamed-" in entry["fullUrl"] for entry in out["entry"])
    return out


def decision(bundle: dict) -> tuple[str, list[dict]]:
    """The ClaimResponse's authorization number and its items (per-item review action,
    authorization number and periods)."""
    claim_response = bundle["entry"][0]["resource"]
    assert claim_response["preAuthRef"]
    return claim_response["preAuthRef"], claim_response["item"]


def test_pas_resubmission_under_new_bundle_identity_gets_the_stored_answer(client, core):
    original = json.loads(PAS_SAMPLE.read_text())
    first = post_pas(client, original)
    assert first.status_code == 200, first.text
    before = counts(core)
    variants = []
    timestamp = copy.deepcopy(original)
    timestamp["timestamp"] = "2026-11-22T08:00:00-05:00"
    variants.append(timestamp)
    bundle_id = copy.deepcopy(original)
    bundle_id["id"] = "another-bundle-id"
    variants.append(bundle_id)
    identifier = copy.deepcopy(original)
    identifier["identifier"]["value"] = "SUB-DDACT-2"
    variants.append(identifier)
    variants.append(renamed(original))
    stored = observe_fhir(first.json())
    for variant in variants:
        again = post_pas(client, variant)
        assert again.status_code == 200, again.text
        assert again.headers["X-Case-Ids"] == first.headers["X-Case-Ids"]
        seen = observe_fhir(again.json())
        assert seen["items"] == stored["items"] == ["A1", "A1", "A1"]
        assert seen["case_id"] == stored["case_id"]
        assert decision(again.json()) == decision(first.json())
        # The answer echoes this bundle's own identifier (PAS: response identifies its request).
        assert again.json()["identifier"]["value"] == variant["identifier"]["value"]
    assert counts(core) == before


def test_pas_changed_drug_under_the_same_claim_identifier_is_a_409(client, core):
    original = json.loads(PAS_SAMPLE.read_text())
    first = post_pas(client, original)
    before = counts(core)
    changed = copy.deepcopy(original)
    changed["identifier"]["value"] = "SUB-DDACT-CHANGED"
    text = json.dumps(changed)
    assert "J9267" in text
    changed = json.loads(text.replace("J9267", "J9171"))
    answer = post_pas(client, changed)
    assert answer.status_code == 409
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert issue["code"] == "duplicate"
    assert "REQ-DDACT" in issue["diagnostics"]
    assert first.headers["X-Case-Ids"] in issue["diagnostics"]
    assert counts(core) == before


def test_pas_changed_diagnosis_under_the_same_claim_identifier_is_a_409(client, core):
    original = json.loads(PAS_SAMPLE.read_text())
    post_pas(client, original)
    before = counts(core)
    text = json.dumps(original)
    assert "C50.911" in text or "C50911" in text
    changed = json.loads(text.replace("C50.911", "C50.912").replace("C50911", "C50912"))
    answer = post_pas(client, changed)
    assert answer.status_code == 409
    assert counts(core) == before
