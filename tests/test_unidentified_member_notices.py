"""A request whose member the gateway could not identify (AAA 75, subscriber not found) is
answered in-band and nobody is notified later: no e-mail notice, though the requester asked for
them, in either channel. The same requester's request for a member on file gets its notice."""

from __future__ import annotations

import json

from gateway.settings import REPO_ROOT

UNKNOWN_MEMBER = "U9999999999"  # not on the demo roster
FRONT_DESK_PER = "PER*IC*FRONT DESK*TE*5555550100*FX*5555550101~"
WITH_EMAIL = "PER*IC*FRONT DESK*TE*5555550100*EM*FRONTDESK@PRACTICE.EXAMPLE~"


def jobs_of(client, case_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    case = client.get(f"/cases/{case_id}").json()
    return [job["kind"] for job in case["jobs"]]


def test_an_x12_request_for_an_unknown_member_queues_no_e_mail(client) -> None:
    text = (REPO_ROOT / "samples" / "x12" / "278-unknown-member.x12").read_text()
    asked = text.replace(FRONT_DESK_PER, WITH_EMAIL, 1)  # the requester opts in (PER EM)
    assert asked != text
    answer = client.post("/x12/278", content=asked, headers={"Content-Type": "application/edi-x12"})
    assert answer.status_code == 200, answer.text
    assert "AAA*N**75*C~" in answer.text
    case_id = answer.headers["X-Case-Ids"]
    assert client.get(f"/cases/{case_id}").json()["status"] == "rejected"
    assert jobs_of(client, case_id) == []

    known = (REPO_ROOT / "samples" / "x12" / "278-act-dd-jane-doe.x12").read_text()
    known = known.replace(FRONT_DESK_PER, WITH_EMAIL, 1).replace("ACTDD0001", "ACTDDEM75")
    answer = client.post("/x12/278", content=known, headers={"Content-Type": "application/edi-x12"})
    assert "email" in jobs_of(client, answer.headers["X-Case-Ids"].split(",")[0])


def test_a_pas_request_for_an_unknown_member_queues_no_e_mail(client) -> None:
    text = (REPO_ROOT / "samples" / "pas" / "tc-her2neg.json").read_text()
    assert '"email"' in text  # the requester's telecom e-mail: it asks for the notices
    fhir = {"Content-Type": "application/fhir+json"}
    asked = text.replace("U1234567801", UNKNOWN_MEMBER)
    answer = client.post("/fhir/Claim/$submit", content=asked, headers=fhir)
    assert answer.status_code == 200, answer.text
    response = answer.json()["entry"][0]["resource"]
    [error] = response["error"]
    assert error["code"]["coding"][0]["code"] == "75"
    case_id = answer.headers["X-Case-Ids"]
    assert client.get(f"/cases/{case_id}").json()["status"] == "rejected"
    assert jobs_of(client, case_id) == []

    known = json.loads(text)
    known["identifier"]["value"] += "-known"
    known["entry"][0]["resource"]["identifier"][0]["value"] += "-known"
    answer = client.post("/fhir/Claim/$submit", content=json.dumps(known), headers=fhir)
    assert answer.status_code == 200, answer.text
    assert "email" in jobs_of(client, answer.headers["X-Case-Ids"])
