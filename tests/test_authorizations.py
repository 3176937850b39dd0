"""Authorization lookup (issue 11, item 5), through the real app with authentication on:
GET /authorizations/{number}?npi= and GET /authorizations?member_id=&birth_date=&npi=.

The requests are the demo's own: the EHR's PAS dose-dense AC-T bundle (approved at once), its
pended TC bundle, and the clearinghouse's X12 278 for the same member.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from gateway.domain.outcomes import auth_number_for_id, case_id_for_auth_number
from gateway.partners.registry import PartnerSpec, add_partner
from gateway.partners.settings import AuthSettings
from gateway.service.core import Core
from gateway.settings import Settings
from tests.conftest import Clock, bearer, jane_doe_request
from tests.test_fhir_routes import load
from tests.x12.helpers import join, sample, segments_of, set_element

EHR = "sample-oncology-ehr"  # acts for NPIs 1234567893, 1245319599, 1987654328
CLEARINGHOUSE = "sample-clearinghouse"  # no NPIs registered: sees what it sent
OPERATOR = "ops-console"
RIVAL = "rival-oncology-ehr"  # another practice's EHR
ORDERING = "1234567893"  # the PAS bundle's ordering physician (Practitioner dr-lee)
REQUESTER = "1987654328"  # its requesting organization
FACILITY = "1543210987"  # its infusion site: a party the EHR does not act for
NOT_A_PARTY = "1245319599"  # an NPI the EHR acts for, not on the PAS case
MEMBER = {"member_id": "U1234567801", "birth_date": "1960-04-12"}
NOT_FOUND = {
    "error": "authorization not found",
    "detail": "no authorization with this number names this NPI",
}
FHIR = {"Content-Type": "application/fhir+json"}
X12 = {"Content-Type": "application/edi-x12"}
INFO_CANCELLED = (
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/modifierextension-infoCancelled"
)


class Gateway:
    """The app and the callers' credentials."""

    def __init__(self, client: TestClient, core: Core, auth: AuthSettings, clock: Clock):
        self.client, self.core, self.auth, self.clock = client, core, auth, clock

    def headers(self, partner: str) -> dict[str, str]:
        return bearer(self.core, self.auth, partner)

    def submit_pas(self, name: str, partner: str = EHR) -> str:
        sent = self.client.post(
            "/fhir/Claim/$submit",
            content=json.dumps(load(name)),
            headers={**FHIR, **self.headers(partner)},
        )
        assert sent.status_code == 200, sent.text
        return str(sent.headers["X-Case-Ids"]).split(",")[0]

    def submit_x12(self, text: str, partner: str = CLEARINGHOUSE) -> str:
        sent = self.client.post("/x12/278", content=text, headers={**X12, **self.headers(partner)})
        assert sent.status_code == 200, sent.text
        [hcr] = [s for s in segments_of(sent.text) if s.startswith("HCR*")][:1]
        return hcr.split("*")[2]  # HCR02: the authorization number

    def case(self, case_id: str) -> dict[str, Any]:
        return self.client.get(f"/cases/{case_id}", headers=self.headers(OPERATOR)).json()

    def by_number(self, number: str, npi: str | None, partner: str = EHR) -> Any:
        params = {"npi": npi} if npi is not None else {}
        return self.client.get(
            f"/authorizations/{number}", params=params, headers=self.headers(partner)
        )

    def by_member(self, partner: str = EHR, **params: str) -> Any:
        return self.client.get("/authorizations", params=params, headers=self.headers(partner))

    def listed(self, partner: str = EHR, **params: str) -> list[str]:
        response = self.by_member(partner, **params)
        assert response.status_code == 200, response.text
        return [row["authorization_number"] for row in response.json()["authorizations"]]

    def deliver(self) -> None:
        while self.client.app.state.run_outbox_once():
            pass


@pytest.fixture
def gateway(
    settings: Settings, core: Core, auth_settings: AuthSettings, clock: Clock
) -> Iterator[Gateway]:
    from gateway.api.app import create_app

    with TestClient(create_app(settings, core=core, auth_settings=auth_settings)) as client:
        with core.sessions.begin() as session:
            add_partner(
                session,
                PartnerSpec.model_validate({"id": RIVAL, "kind": "ehr", "npis": ["1609876543"]}),
            )
        yield Gateway(client, core, auth_settings, clock)


def number_of(case_id: str) -> str:
    return auth_number_for_id(case_id)


# -- the number and its case --------------------------------------------------------------------


def test_an_authorization_number_leads_back_to_its_case():
    assert case_id_for_auth_number("ONC2600000001") == "PA2600000001"
    assert case_id_for_auth_number(" onc2600000001 ") == "PA2600000001"
    assert case_id_for_auth_number(auth_number_for_id("PA2612345678")) == "PA2612345678"
    for not_ours in (
        "PA2600000001",
        "ONC",
        "ONC26-0001",
        "XONC2600000001",
        "",
        "ONC" + "9" * 31,
        "ONC\u0662\u0666",  # digits, but not ASCII ones
    ):
        assert case_id_for_auth_number(not_ours) is None


# -- by number -----------------------------------------------------------------------------------


@pytest.mark.store
def test_an_approved_pas_request_is_found_by_number_with_the_ordering_npi(gateway):
    case_id = gateway.submit_pas("ddact-her2neg.json")
    stored = gateway.case(case_id)
    determination = stored["determination"]
    assert stored["status"] == "approved"
    number = determination["auth_number"]
    assert number == number_of(case_id)

    response = gateway.by_number(number, ORDERING)
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["authorization_number"] == number
    assert found["case_id"] == case_id
    assert (found["status"], found["program"]) == ("approved", "CHEMO")
    assert found["member_id"] == MEMBER["member_id"]
    assert (found["ordering_provider_npi"], found["requesting_provider_npi"]) == (
        ORDERING,
        REQUESTER,
    )
    # The period the plan granted, from the service date the bundle asked for (8-12 months).
    assert found["approved_at"] == determination["decided_at"]
    assert (found["period_start"], found["period_end"]) == ("2026-12-01", "2027-07-23")
    assert (found["period_start"], found["period_end"]) == (
        determination["period_start"],
        determination["period_end"],
    )
    drugs = {drug["code"]: drug for drug in found["drugs"]}
    assert sorted(drugs) == ["J9000", "J9070", "J9267"]
    assert drugs["J9267"]["name"] == "Injection, paclitaxel, 1 mg"
    assert drugs["J9267"]["units"] == 1400
    assert all(drug["review_action"] == "A1" for drug in found["drugs"])
    assert all(drug["status"] == "approved" for drug in found["drugs"])
    assert all(drug["period_end"] == "2027-07-23" for drug in found["drugs"])
    assert (found["replaces"], found["replaced_by"], found["supports"]) == (None, [], None)
    # The member by the id the caller gave, nothing more (no name, date of birth, address).
    for phi in ("JANE", "DOE", "1960-04-12", "birth"):
        assert phi.lower() not in response.text.lower()
    # Typed in small letters, the number is the same number.
    assert gateway.by_number(number.lower(), ORDERING).json() == found
    # Any party's NPI the caller acts for: the requesting organization too.
    assert gateway.by_number(number, REQUESTER).status_code == 200


@pytest.mark.store
def test_the_letters_appear_once_the_dispatcher_delivered_them(gateway):
    case_id = gateway.submit_pas("ddact-her2neg.json")
    number = number_of(case_id)
    queued = gateway.by_number(number, ORDERING).json()["letters"]
    # The sample's practitioner gives an e-mail address: it asked for the e-mail notice too.
    assert {(letter["kind"], letter["recipient_role"]) for letter in queued} == {
        ("fax", "ordering"),
        ("fax", "facility"),
        ("member_mail", "member"),
        ("email", "requester"),
    }
    assert {letter["letter"] for letter in queued} == {"approval", "status_notice"}
    assert all(letter["state"] == "queued" and letter["sent_at"] is None for letter in queued)

    gateway.deliver()
    sent = gateway.by_number(number, ORDERING).json()["letters"]
    assert len(sent) == 4
    assert all(letter["state"] == "delivered" for letter in sent)
    assert all(letter["sent_at"] for letter in sent)
    # The payer feed is system traffic, not a letter.
    assert "payer_feed" not in json.dumps(sent)


def test_unknown_numbers_other_npis_and_other_partners_get_the_same_404(gateway):
    case_id = gateway.submit_pas("ddact-her2neg.json")
    number = number_of(case_id)
    refused = {
        "unknown number": gateway.by_number("ONC2699999999", ORDERING),
        "not a number": gateway.by_number("XYZ-123", ORDERING),
        "the case id, not its number": gateway.by_number(case_id, ORDERING),
        "an NPI not on the case": gateway.by_number(number, NOT_A_PARTY),
        "a party the caller does not act for": gateway.by_number(number, FACILITY),
        "another practice's EHR": gateway.by_number(number, ORDERING, RIVAL),
        "a clearinghouse that did not send it": gateway.by_number(number, ORDERING, CLEARINGHOUSE),
    }
    for why, response in refused.items():
        assert response.status_code == 404, (why, response.text)
        assert response.json() == NOT_FOUND, why
        assert case_id not in response.text and number not in response.text, why
    # Gateway staff look up on a provider's behalf: any party's NPI, but still a party's.
    assert gateway.by_number(number, FACILITY, OPERATOR).status_code == 200
    assert gateway.by_number(number, NOT_A_PARTY, OPERATOR).json() == NOT_FOUND
    # No credentials: 401, as on every case route.
    anonymous = gateway.client.get(f"/authorizations/{number}", params={"npi": ORDERING})
    assert anonymous.status_code == 401


def test_refused_lookups_are_audited_without_telling_the_caller_why(gateway):
    case_id = gateway.submit_pas("ddact-her2neg.json")
    assert gateway.by_number(number_of(case_id), ORDERING, RIVAL).status_code == 404
    trail = gateway.client.get(
        "/audit", params={"case": case_id}, headers=gateway.headers(OPERATOR)
    ).json()
    refusals = [
        entry["resource"]
        for entry in trail["entry"]
        if "another partner's case" in json.dumps(entry["resource"])
    ]
    assert refusals, "the refused lookup left no audit record"


def test_the_npi_is_required_and_must_be_an_npi(gateway):
    for npi in (None, "", "123", "12345678901", "12345abcde"):
        response = gateway.by_number("ONC2600000001", npi)
        assert response.status_code == 422, (npi, response.text)
        assert response.json()["error"] == "invalid request"
        assert response.json()["detail"][0]["location"] == "query.npi"


@pytest.mark.store
def test_a_pended_request_is_no_authorization_until_a_reviewer_approves_it(gateway):
    case_id = gateway.submit_pas("tc-her2neg.json")
    assert gateway.case(case_id)["status"] == "pended"
    number = number_of(case_id)
    assert gateway.by_number(number, ORDERING).json() == NOT_FOUND
    assert number not in gateway.listed(**MEMBER, npi=ORDERING)

    decision = {"reviewer": "dr-reviewer-1", "decision": "approve", "rationale": "peer to peer"}
    decided = gateway.client.post(
        f"/cases/{case_id}/determination", json=decision, headers=gateway.headers(OPERATOR)
    )
    assert decided.status_code == 200, decided.text
    found = gateway.by_number(number, ORDERING)
    assert found.status_code == 200, found.text
    assert found.json()["status"] == "approved"
    assert found.json()["period_start"] == decided.json()["determination"]["period_start"]
    assert number in gateway.listed(**MEMBER, npi=ORDERING)


@pytest.mark.store
def test_an_authorization_cancelled_since_is_found_with_its_status_and_no_period(gateway):
    original = load("ddact-her2neg.json")
    case_id = gateway.submit_pas("ddact-her2neg.json")
    number = number_of(case_id)
    approved_at = gateway.by_number(number, ORDERING).json()["approved_at"]

    # The EHR cancels every item by a PAS claim update (Claim.related names the prior claim).
    gateway.clock.now += timedelta(days=1)
    update = copy.deepcopy(original)
    claim = update["entry"][0]["resource"]
    claim_id = claim["identifier"][0]["value"]
    claim["identifier"][0]["value"] = f"{claim_id}-C1"
    update["identifier"]["value"] += "-C1"
    claim["related"] = [
        {
            "claim": {"identifier": {"value": claim_id}},
            "relationship": {"coding": [{"code": "prior"}]},
        }
    ]
    for item in claim["item"]:
        item.setdefault("modifierExtension", []).append(
            {"url": INFO_CANCELLED, "valueBoolean": True}
        )
    sent = gateway.client.post(
        "/fhir/Claim/$submit", content=json.dumps(update), headers={**FHIR, **gateway.headers(EHR)}
    )
    assert sent.status_code == 200, sent.text
    assert gateway.case(case_id)["status"] == "cancelled"

    found = gateway.by_number(number, ORDERING)
    assert found.status_code == 200, found.text
    assert found.json()["status"] == "cancelled"
    assert found.json()["approved_at"] == approved_at  # when it was issued, not when cancelled
    assert (found.json()["period_start"], found.json()["period_end"]) == (None, None)
    assert {drug["review_action"] for drug in found.json()["drugs"]} == {"C"}
    assert number in gateway.listed(**MEMBER, npi=ORDERING)


@pytest.mark.store
def test_a_supportive_drug_has_its_own_number_that_names_its_primary(gateway):
    body = jane_doe_request(submitter_id=EHR)
    body["service_lines"].append({"sequence": 4, "code": "J2506", "units": 4})
    sent = gateway.client.post("/cases", json=body, headers=gateway.headers(OPERATOR))
    assert sent.status_code == 201, sent.text
    [child_id] = sent.json()["supportive_cases"]
    child = gateway.by_number(number_of(child_id), ORDERING)
    assert child.status_code == 200, child.text
    assert child.json()["case_id"] == child_id
    assert child.json()["program"] == "SPORT"
    assert child.json()["supports"] == number_of(sent.json()["id"])
    assert [drug["code"] for drug in child.json()["drugs"]] == ["J2506"]
    assert child.json()["drugs"][0]["name"] == "pegfilgrastim"


# -- X12: a clearinghouse, and a revision that replaces an authorization -------------------------


def revision(text: str, number: str) -> str:
    """The demo 278 sent again as a revision (UM02 S) of `number` (2000E REF*BB), under new
    control numbers and a new BHT03/TRN02."""
    for prefix, position, value in (
        ("ISA*", 13, "000000202"),
        ("IEA*", 2, "000000202"),
        ("GS*", 6, "202"),
        ("GE*", 2, "202"),
        ("BHT*", 3, "ACTDD0002"),
        ("TRN*", 2, "ACTDD0002"),
        ("UM*", 2, "S"),
    ):
        text = set_element(text, prefix, position, value)
    segments = segments_of(text)
    um = next(i for i, s in enumerate(segments) if s.startswith("UM*"))
    segments.insert(um + 1, f"REF*BB*{number}")
    se = next(i for i, s in enumerate(segments) if s.startswith("SE*"))
    parts = segments[se].split("*")
    parts[1] = str(int(parts[1]) + 1)
    segments[se] = "*".join(parts)
    return join(segments)


@pytest.mark.store
def test_an_x12_authorization_and_the_revision_that_replaces_it(gateway):
    original = sample("278-act-dd-jane-doe.x12")
    first = gateway.submit_x12(original)
    # The clearinghouse has no NPIs registered: it finds what it sent by the ordering NPI.
    found = gateway.by_number(first, ORDERING, CLEARINGHOUSE)
    assert found.status_code == 200, found.text
    assert found.json()["requesting_provider_npi"] == ORDERING
    # The practice's EHR acts for that NPI and may read the case (isolation by NPI).
    assert gateway.by_number(first, ORDERING, EHR).status_code == 200
    assert gateway.by_number(first, ORDERING, RIVAL).json() == NOT_FOUND

    gateway.clock.now += timedelta(hours=1)
    second = gateway.submit_x12(revision(original, first))
    assert second != first
    assert gateway.by_number(first, ORDERING, CLEARINGHOUSE).json()["replaced_by"] == [second]
    assert gateway.by_number(second, ORDERING, CLEARINGHOUSE).json()["replaces"] == first
    # Newest first.
    assert gateway.listed(CLEARINGHOUSE, **MEMBER, npi=ORDERING) == [second, first]


# -- by member -----------------------------------------------------------------------------------


@pytest.mark.store
def test_a_members_authorizations_naming_the_npi_newest_first(gateway):
    first = number_of(gateway.submit_pas("ddact-her2neg.json"))
    gateway.clock.now += timedelta(hours=2)
    keyed = gateway.client.post(
        "/cases", json=jane_doe_request(submitter_id=EHR), headers=gateway.headers(OPERATOR)
    )
    assert keyed.status_code == 201, keyed.text
    second = keyed.json()["determination"]["auth_number"]

    assert gateway.listed(**MEMBER, npi=ORDERING) == [second, first]
    # The member id as typed at a front desk.
    assert gateway.listed(member_id=" u1234567801 ", birth_date="1960-04-12", npi=ORDERING) == [
        second,
        first,
    ]
    # Only the cases that name the NPI: the keyed request has no requesting organization.
    assert gateway.listed(**MEMBER, npi=REQUESTER) == [first]
    response = gateway.by_member(**MEMBER, npi=ORDERING)
    assert response.json()["authorizations"][1]["drugs"][0]["code"] == "J9000"
    for phi in ("JANE", "DOE", "1960-04-12"):
        assert phi.lower() not in response.text.lower()


@pytest.mark.store
def test_a_member_lookup_lists_nothing_on_a_wrong_birth_date_npi_or_partner(gateway):
    gateway.submit_pas("ddact-her2neg.json")
    assert gateway.listed(**MEMBER, npi=ORDERING)
    assert gateway.listed(member_id="U1234567801", birth_date="1960-04-13", npi=ORDERING) == []
    assert gateway.listed(member_id="U1234567802", birth_date="1960-04-12", npi=ORDERING) == []
    assert gateway.listed(**MEMBER, npi=NOT_A_PARTY) == []
    assert gateway.listed(**MEMBER, npi=FACILITY) == []  # a party, but not the EHR's
    assert gateway.listed(RIVAL, **MEMBER, npi=ORDERING) == []
    assert gateway.listed(CLEARINGHOUSE, **MEMBER, npi=ORDERING) == []
    assert gateway.listed(OPERATOR, **MEMBER, npi=FACILITY)  # staff: any party's NPI


def test_a_member_lookup_needs_member_id_birth_date_and_npi(gateway):
    complete = {**MEMBER, "npi": ORDERING}
    for missing in complete:
        params = {name: value for name, value in complete.items() if name != missing}
        response = gateway.by_member(**params)
        assert response.status_code == 422, (missing, response.text)
        assert response.json() == {
            "error": "invalid request",
            "detail": [{"location": f"query.{missing}", "message": "Field required"}],
        }
    for name, bad in (("birth_date", "04/12/1960"), ("npi", "12345"), ("member_id", "")):
        response = gateway.by_member(**{**complete, name: bad})
        assert response.status_code == 422, (name, response.text)
        assert response.json()["detail"][0]["location"] == f"query.{name}"
    assert gateway.client.get("/authorizations", params=complete).status_code == 401


def test_the_routes_and_their_bodies_are_in_the_openapi(gateway):
    spec = gateway.client.get("/openapi.json", headers=gateway.headers(OPERATOR)).json()
    by_number = spec["paths"]["/authorizations/{number}"]["get"]
    assert "404" in by_number["responses"]
    assert by_number["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/Authorization"
    )
    listing = spec["paths"]["/authorizations"]["get"]
    required = {p["name"] for p in listing["parameters"] if p.get("required")}
    assert required == {"member_id", "birth_date", "npi"}
    fields = spec["components"]["schemas"]["Authorization"]["properties"]
    for name in ("period_start", "period_end", "approved_at", "drugs", "letters", "replaced_by"):
        assert name in fields
