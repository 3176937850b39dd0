"""After the first answer, on the X12 route: cancel, revise, extend and renew a certification
(005010X217 UM02 3/S/4/R, BHT02 01), each answered against the certification it names (REF*BB),
echoing the reference, and checked by pyx12 with the project's map.

The request is the demo dose-dense AC-T (approved at once); the clock is frozen at
tests.conftest.NOW (2026-11-23), the request's service date is 2026-12-01.
"""

from __future__ import annotations

import re
from datetime import date

import pytest

from gateway.conformance.observe import observe_x12
from gateway.x12.oracle import run_pyx12
from tests.x12.helpers import join, sample, segments_of

ORIGINAL = sample("278-act-dd-jane-doe.x12")


def post(client, text: str):
    response = client.post(
        "/x12/278", content=text.encode(), headers={"Content-Type": "application/edi-x12"}
    )
    assert response.status_code == 200, response.text
    oracle = run_pyx12(response.content)
    assert oracle.valid, oracle.findings
    return response.content.decode()


def change(
    text: str,
    *,
    um02: str,
    n: int,
    reference: str | None = None,
    qualifier: str = "BB",
    service_date: str | None = None,
    end_date: str | None = None,
    bht02: str | None = None,
) -> str:
    """The original request turned into a change: its own control numbers, BHT03 and traces,
    UM02 at every level, REF naming the certification, and new service dates when given."""
    out = []
    for seg in segments_of(text):
        parts = seg.split("*")
        tag = parts[0]
        if tag == "ISA":
            parts[13] = f"{900000000 + n:09d}"
        elif tag == "IEA":
            parts[2] = f"{900000000 + n:09d}"
        elif tag == "BHT":
            parts[3] = f"CHG{n:04d}"
            if bht02:
                parts[2] = bht02
        elif tag == "TRN":
            parts[2] = parts[2].replace("ACTDD0001", f"CHG{n:04d}")
        elif tag == "UM":
            parts[2] = um02
        elif tag == "DTP" and parts[1] in ("AAH", "472") and service_date:
            parts[2], parts[3] = (
                ("RD8", f"{service_date}-{end_date}") if end_date else ("D8", service_date)
            )
        out.append("*".join(parts))
        # 2000E REF (previous review authorization number) follows the event's UM, the first.
        if tag == "UM" and reference and sum(s.startswith("UM*") for s in out) == 1:
            out.append(f"REF*{qualifier}*{reference}")
    segs = out
    st = next(i for i, s in enumerate(segs) if s.startswith("ST*"))
    se = next(i for i, s in enumerate(segs) if s.startswith("SE*"))
    segs[se] = f"SE*{se - st + 1}*{segs[se].split('*')[2]}"
    return join(segs)


def case_of(client, case_id: str) -> dict:
    response = client.get(f"/cases/{case_id}")
    assert response.status_code == 200, response.text
    return response.json()


def approved(client) -> tuple[str, str]:
    """(authorization number, case id) of the approved original."""
    observed = observe_x12(post(client, ORIGINAL).encode())
    assert observed["review_action"] == "A1"
    auth = observed["auth_numbers"][0]
    return auth, "PA" + auth.removeprefix("ONC")


def case_count(client) -> int:
    return len(client.get("/cases").json())


def event_section(body: str) -> str:
    """The 2000E segments of a 278 response (from HL*..EV to the first 2000F)."""
    start = body.index("*EV*")
    end = body.find("*SS*", start)
    return body[start : end if end > 0 else None]


@pytest.mark.store
@pytest.mark.parametrize("how", ["um02", "bht02"])
def test_a_cancel_answers_hcr_c_cancels_the_original_and_creates_nothing(client, how):
    auth, case_id = approved(client)
    before = case_count(client)
    cancel = (
        change(ORIGINAL, um02="3", n=1, reference=auth)
        if how == "um02"
        else change(ORIGINAL, um02="I", n=1, reference=auth, bht02="01")
    )
    body = post(client, cancel)
    assert "HCR*A1" not in body and "AAA*" not in body
    # HCR*C at every level: the event and each service.
    assert len(re.findall(r"HCR\*C", body)) == 4, body
    assert f"REF*BB*{auth}~" in event_section(body)
    assert case_of(client, case_id)["status"] == "cancelled"
    assert case_count(client) == before
    # A second copy of the cancel is answered the same and changes nothing more.
    again = post(client, cancel)
    assert len(re.findall(r"HCR\*C", again)) == 4
    assert len(case_of(client, case_id)["events"]) == 2


@pytest.mark.store
def test_a_revision_is_a_new_authorization_from_the_change_date_and_the_old_one_ends(client):
    auth, case_id = approved(client)
    old_period = case_of(client, case_id)["determination"]
    revision = change(ORIGINAL, um02="S", n=2, reference=auth, service_date="20270115")
    body = post(client, revision)
    observed = observe_x12(body.encode())
    assert observed["review_action"] == "A1", body
    new_auth = observed["auth_numbers"][0]
    assert new_auth != auth
    assert f"REF*BB*{auth}~" in event_section(body)
    new_case = case_of(client, "PA" + new_auth.removeprefix("ONC"))
    assert new_case["case"]["prior_case_id"] == case_id
    assert new_case["determination"]["period_start"] == "2027-01-15"
    assert re.search(r"DTP\*AAH\*RD8\*20270115-\d{8}", body)
    old = case_of(client, case_id)
    assert old["status"] == "approved"
    assert old["determination"]["period_start"] == old_period["period_start"]
    assert old["determination"]["period_end"] == "2027-01-14"


@pytest.mark.store
def test_a_revision_starting_before_the_original_begins_replaces_it_whole(client):
    auth, case_id = approved(client)
    body = post(client, change(ORIGINAL, um02="S", n=3, reference=auth))
    assert observe_x12(body.encode())["review_action"] == "A1"
    assert case_of(client, case_id)["status"] == "cancelled"


@pytest.mark.store
@pytest.mark.parametrize(
    ("reference", "qualifier", "aaa"),
    [
        ("ONC2699999999", "BB", "T5"),  # an authorization that does not exist
        ("XYZ-1", "BB", "IA"),  # not an authorization number of this program
        (None, "BB", "MA"),  # no reference at all
    ],
    ids=["unknown", "malformed", "missing"],
)
def test_a_change_naming_nothing_it_may_change_gets_an_aaa_and_no_case(
    client, reference, qualifier, aaa
):
    approved(client)
    before = case_count(client)
    body = post(client, change(ORIGINAL, um02="S", n=4, reference=reference, qualifier=qualifier))
    assert f"AAA*N**{aaa}*C" in event_section(body), body
    assert "HCR*" not in body
    assert case_count(client) == before


@pytest.mark.store
def test_a_change_of_another_patients_certification_is_refused(client):
    auth, case_id = approved(client)
    other = change(ORIGINAL, um02="3", n=5, reference=auth).replace(
        "MI*U1234567801", "MI*U9999999901"
    )
    body = post(client, other)
    assert "AAA*N**CI*C" in event_section(body), body
    assert case_of(client, case_id)["status"] == "approved"


@pytest.mark.store
def test_another_submitter_cannot_change_the_certification(client):
    auth, case_id = approved(client)
    foreign = change(ORIGINAL, um02="3", n=6, reference=auth).replace(
        "CLEARINGHOUSE01", "CLEARINGHOUSE02"
    )
    response = client.post(
        "/x12/278", content=foreign.encode(), headers={"Content-Type": "application/edi-x12"}
    )
    body = response.content.decode()
    # Refused at the envelope (the sender is not this caller's) or answered T5: never applied.
    assert "HCR*C" not in body
    assert case_of(client, case_id)["status"] == "approved"


@pytest.mark.store
def test_an_extension_within_the_plans_span_lengthens_the_same_authorization(client):
    auth, case_id = approved(client)
    period = case_of(client, case_id)["determination"]
    end = date.fromisoformat(period["period_end"])
    wanted = end.replace(day=1, month=end.month % 12 + 1, year=end.year + end.month // 12)
    body = post(
        client,
        change(
            ORIGINAL,
            um02="4",
            n=7,
            reference=auth,
            service_date="20261201",
            end_date=f"{wanted:%Y%m%d}",
        ),
    )
    observed = observe_x12(body.encode())
    assert observed["review_action"] == "A1" and observed["auth_numbers"][0] == auth, body
    assert case_of(client, case_id)["determination"]["period_end"] == wanted.isoformat()


@pytest.mark.store
def test_an_extension_past_the_plans_span_is_pended_as_a_continuing_authorization(client):
    auth, case_id = approved(client)
    body = post(
        client,
        change(
            ORIGINAL, um02="4", n=8, reference=auth, service_date="20261201", end_date="20301231"
        ),
    )
    assert observe_x12(body.encode())["review_action"] == "A4", body
    assert case_of(client, case_id)["status"] == "approved"


@pytest.mark.store
def test_a_renewal_continues_the_authorization_from_the_day_after_it_ends(client):
    auth, case_id = approved(client)
    end = date.fromisoformat(case_of(client, case_id)["determination"]["period_end"])
    body = post(client, change(ORIGINAL, um02="R", n=9, reference=auth))
    observed = observe_x12(body.encode())
    assert observed["review_action"] == "A1", body
    renewed = case_of(client, "PA" + observed["auth_numbers"][0].removeprefix("ONC"))
    assert renewed["case"]["prior_case_id"] == case_id
    assert date.fromisoformat(renewed["determination"]["period_start"]) > end
    assert case_of(client, case_id)["determination"]["period_end"] == end.isoformat()
