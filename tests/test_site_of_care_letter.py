"""The one-time site-of-care authorization (A6) says the same in the letters as in the 278 and the
PAS addItem (issue 14 item 13): one authorization number, the one-time period of the modified
lines (2000F DTP 007/036, addItem.servicedPeriod) and the place asked for (UM04,
addItem.locationCodeableConcept), with home or office named as the program's recommendation.
Through the real app (X12 and PAS), the outbox dispatcher, and the letters read back."""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

from pypdf import PdfReader

from gateway.notify.letter_templates import day
from gateway.settings import REPO_ROOT, Settings
from gateway.submit import deliver_due_jobs

TCHP = ["J9171", "J9045", "Q5114", "J9306"]  # docetaxel, carboplatin, trastuzumab, pertuzumab
PLACE_WORDS = {"22": "on-campus outpatient hospital"}
PAS_REQUEST = REPO_ROOT / "conformance" / "pas" / "requests" / "tchp-hospital-outpatient.json"


def tchp_at_the_hospital() -> str:
    """The demo TC 278 turned into TCHP asked for at an on-campus hospital site (UM04 22)."""
    text = (REPO_ROOT / "samples" / "x12" / "278-tc-jane-doe.x12").read_text()
    segments = [s.strip() for s in text.split("~") if s.strip()]
    segments = [
        s.replace("11:B", "22:B").replace("ABF:Z1732", "ABF:Z1731").replace("NEGATIVE", "POSITIVE")
        for s in segments
    ]
    first_line = next(i for i, s in enumerate(segments) if s.startswith("HL*5*"))
    body = segments[:first_line]
    for number, code in enumerate(TCHP, start=1):
        body += [
            f"HL*{4 + number}*4*SS*0",
            f"TRN*1*TC0001-{number}*9CLEARHOUS",
            "UM*HS*I*78*22:B",
            "DTP*472*D8*20261201",
            f"SV1*HC:{code}**UN*1",
        ]
    start = next(i for i, s in enumerate(body) if s.startswith("ST*"))
    body.append(f"SE*{len(body) - start + 1}*0001")
    trailer = [s for s in segments if s.startswith(("GE*", "IEA*"))]
    return "~\n".join(body + trailer) + "~\n"


def d8(value: str) -> date:
    return date(int(value[:4]), int(value[4:6]), int(value[6:8]))


def one_time_lines_of_the_278(answer: str) -> list[dict[str, object]]:
    """Each 2000F decided A6: its HCR, UM04 place, DTP 007/036 period."""
    lines: list[dict[str, object]] = []
    current: dict[str, object] | None = None
    for segment in (s.strip() for s in answer.split("~") if s.strip()):
        fields = segment.split("*")
        if fields[0] == "HL":
            current = {"level": fields[3]}
            lines.append(current)
        elif current is None or current["level"] != "SS":
            continue
        elif fields[0] == "UM":
            current["place"] = fields[4].split(":")[0]
        elif fields[0] == "HCR":
            current["action"], current["auth"] = fields[1], fields[2]
        elif fields[0] == "DTP" and fields[1] in ("007", "036"):
            current["start" if fields[1] == "007" else "end"] = d8(fields[3])
    return [line for line in lines if line["level"] == "SS" and line.get("action") == "A6"]


def modified_case(client) -> dict:  # type: ignore[no-untyped-def]
    [listed] = client.get("/cases", params={"status": "modified"}).json()["cases"]
    return client.get(f"/cases/{listed['id']}").json()


def letters(folder: Path) -> list[str]:
    out = []
    for path in sorted(folder.rglob("*.pdf")):
        pages = PdfReader(io.BytesIO(path.read_bytes())).pages
        out.append(" ".join(" ".join((page.extract_text() or "").split()) for page in pages))
    return out


def site_of_care_letters(settings: Settings) -> tuple[list[str], list[str]]:
    faxes = [t for t in letters(settings.fax_spool) if "One-time approval: site of care" in t]
    mail = [t for t in letters(settings.member_mail_dir) if "approved for now" in t]
    assert len(faxes) == 2 and len(mail) == 1  # ordering provider and facility; the member
    return faxes, mail


def assert_letters_say(
    settings: Settings, *, auth: str, start: date, end: date, place: str, whole_end: date
) -> None:
    faxes, mail = site_of_care_letters(settings)
    one_time = f"from {day(start)} through {day(end)}"
    for text in faxes:
        assert f"Authorization number {auth}" in text
        # The one-time period is the one-time lines' (the 278's DTP 007/036), at the site asked
        # for (UM04), not the case-wide span, and not at the redirect.
        assert f"one-time 30-day authorization is approved at the requested site ({place})" in text
        assert f"{one_time}, so that treatment is not delayed" in text
        assert f"{day(start)} through {day(end)}, at the requested site ({place})" in text
        assert f"through {day(whole_end)} (one time)" not in text
        assert "Site: home" not in text and "Site: office" not in text
        assert text.count(f"Site: {place}") == len(TCHP)
        # The rest of the regimen keeps its whole span, under the same number.
        assert f"the same authorization number, from {day(start)} through {day(whole_end)}" in text
        # Home or office is the recommendation for afterwards, said as one.
        assert "the program recommends care at home or office" in text
        assert f"before the one-time approval ends on {day(end)}" in text
    (member,) = mail
    assert f"there one time, for 30 days, {one_time}," in member
    assert f"After {day(end)}, we recommend getting these drugs at your home" in member


def test_the_site_of_care_letter_names_the_period_and_place_of_the_278(
    client, core, settings: Settings
) -> None:
    answer = client.post(
        "/x12/278", content=tchp_at_the_hospital(), headers={"Content-Type": "application/edi-x12"}
    )
    assert answer.status_code == 200, answer.text
    lines = one_time_lines_of_the_278(answer.text)
    assert len(lines) == 2  # trastuzumab and pertuzumab get the one-time authorization
    (auth,) = {line["auth"] for line in lines}
    (start,) = {line["start"] for line in lines}
    (end,) = {line["end"] for line in lines}
    (place,) = {line["place"] for line in lines}
    assert isinstance(start, date) and isinstance(end, date)
    case = modified_case(client)
    whole_end = date.fromisoformat(case["determination"]["period_end"])
    assert end < whole_end

    deliver_due_jobs(core, settings)
    # The payer's claims system is told the same: the one-time lines at the site asked for.
    feed = next((settings.payer_feed_dir / "62308").glob("*.jsonl"))
    [record] = [json.loads(row) for row in feed.read_text().splitlines()]
    one_time = [code for code in record["codes"] if code["review_action"] == "A6"]
    assert [code["place_of_service"] for code in one_time] == [place, place]
    assert {(code["period_start"], code["period_end"]) for code in one_time} == {
        (start.isoformat(), end.isoformat())
    }
    assert_letters_say(
        settings,
        auth=str(auth),
        start=start,
        end=end,
        place=PLACE_WORDS[str(place)],
        whole_end=whole_end,
    )


def test_the_site_of_care_letter_names_the_period_and_place_of_the_add_item(
    client, core, settings: Settings
) -> None:
    answer = client.post(
        "/fhir/Claim/$submit",
        content=PAS_REQUEST.read_bytes(),
        headers={"Content-Type": "application/fhir+json"},
    )
    assert answer.status_code == 200, answer.text
    response = answer.json()["entry"][0]["resource"]
    added = response["addItem"]
    assert len(added) == 2
    periods = {json.dumps(item["servicedPeriod"], sort_keys=True) for item in added}
    places = {item["locationCodeableConcept"]["coding"][0]["code"] for item in added}
    (period,), (place,) = periods, places
    granted = json.loads(period)
    case = modified_case(client)

    deliver_due_jobs(core, settings)
    assert_letters_say(
        settings,
        auth=response["preAuthRef"],
        start=date.fromisoformat(granted["start"]),
        end=date.fromisoformat(granted["end"]),
        place=PLACE_WORDS[place],
        whole_end=date.fromisoformat(case["determination"]["period_end"]),
    )
