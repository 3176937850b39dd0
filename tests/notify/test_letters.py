"""Letters read back as their readers read them (issue 15): every PDF's text is extracted and
checked for what the reader needs (a number to call, the decision in words, dates in one format,
rights with real dates) and for what must never reach it (rule and pathway ids, reason codes,
fact keys, ISO timestamps, the operator API). A sample of each letter is rendered to PNG under
build/letter-samples/ for a person to look at."""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader

from gateway.domain.case import Address
from gateway.notify.jobs import member_recipient, provider_recipient
from gateway.notify.letters import LETTER_KINDS, count_pages, render_fax, render_letter
from gateway.settings import REPO_ROOT

from .conftest import normalized, pdf_text
from .factories import MEMBER_FIRST, MEMBER_LAST, make_case, make_determination

PROVIDER_DESK = "(800) 555-0100"
MEMBER_DESK = "(800) 555-0110"
SAMPLES = Path(os.environ.get("GATEWAY_LETTER_SAMPLES", REPO_ROOT / "build" / "letter-samples"))

# What must never reach a letter's reader: the gateway's own identifiers and formats.
INTERNAL = [
    re.compile(r"\d{4}-\d{2}-\d{2}"),  # ISO dates and timestamps
    re.compile(r"cigna-62308-commercial|second-plan-oncology"),  # plan rule ids
    re.compile(r"\b(breast|lung|colorectal|lymphoma):[\w-]+"),  # pathway rows
    re.compile(r"\bR_[A-Z_]+|PATHWAY_|REVIEWER_|HOLD_"),  # reason codes
    re.compile(r"\b[a-z]+_[a-z_]+\b"),  # raw field and fact names (her2_status)
    re.compile(r"sample row|Reason for \w+ on this request"),  # reason text meant for the 278
    re.compile(r"127\.0\.0\.1|/cases/"),  # the operator API
    re.compile(r"place of service|\(not set\)|Health plan\b"),
]
CODES = re.compile(r"\b[JQ]\d{4}\b|\bC50\.\d+")

# What each provider letter must say beyond the common facts (DOMAIN.md: Outcomes, Notices).
PROVIDER_EXPECTED = {
    "approval": [
        "Prior authorization approved",
        "AUTH0001",
        "March 4, 2025 through January 3, 2026",
        "Springfield Infusion Center",
        "paclitaxel (J9267)",
        "trastuzumab-dkst (Q5114)",
        "30 units",
        "not a guarantee of payment",
    ],
    "partial_approval": [
        "partially approved",
        "Not approved",
        "Q5114 is not supported",
        "Guideline relied on: NCCN Breast Cancer v2.2025",
        "by August 31, 2025",
    ],
    "hold": [
        "on hold",
        "HER2 status, coded Z17.31 positive or Z17.32 negative",
        "ECOG performance status",
        # 17:00 UTC is 11 a.m. where the provider is (Illinois: Central Time).
        "by March 7, 2025 at 11:00 a.m. Central Time (CST)",
        "By fax to (800) 555-0101",
        "X12 278",
        "original submission",
    ],
    "peer_to_peer": [
        "Peer-to-peer review needed",
        "Call (800) 555-0102",
        "in your time zone (Central Time)",
        # 17:00 UTC after the change to daylight saving time (March 9, 2025): noon CDT.
        "March 11, 2025 at 12:00 p.m. Central Time (CDT)",
    ],
    "clinical_review": ["pended for clinical review", "by March 11, 2025 at 12:00 p.m."],
    "site_of_care": [
        "One-time approval",
        "30 days",
        "home",
        "AUTH0003",
        "April 2, 2025",
        "follow up before it expires",
    ],
    "denial": [
        "Prior authorization denied",
        "physician reviewer",
        "Stage and line of therapy do not meet the pathway.",
        "Guideline relied on: NCCN Breast Cancer v2.2025, BINV-Q",
        "Reviewed by: Dana Okafor-Lind, MD, board-certified in medical oncology",
        "Peer to peer",
        "Reconsideration: send additional clinical information for a new review by March 10, 2025",
        "by August 31, 2025 (180 days from this determination)",
        "PO Box 55020, Chattanooga, TN 37422, fax (800) 555-0121",
        "decided within 72 hours",
        "External review",
    ],
    "out_of_scope": ["outside the oncology program", "not a denial"],
    "not_required": ["No prior authorization required", "not a guarantee of payment"],
    "redirected": ["pharmacy benefit manager", "PBM"],
    "cancellation": ["request cancelled", "Cancelled"],
    "reconsideration_outcome": ["Reconsideration decision: denial upheld", "Dana Okafor-Lind"],
    "appeal_outcome": ["Appeal decision: denial upheld", "External review"],
    # A booked call's confirmation without its booking (the booking's own test,
    # tests/test_peer_to_peer.py, reads the time and zone): the number to call and the case.
    "peer_to_peer_scheduled": ["Peer-to-peer conversation scheduled", "call (800) 555-0102"],
}
MEMBER_EXPECTED = {
    "approval": ["Your treatment is approved", "March 4, 2025 through January 3, 2026"],
    # The reviewer's words name the drug, not its code ("Q5114 is not supported ...").
    "partial_approval": [
        "We approved part of it",
        "trastuzumab-dkst is not supported",
        "Ask by August 31, 2025",
    ],
    "denial": [
        "We did not approve it",
        "Stage and line of therapy do not meet the pathway.",
        "you or your doctor may appeal",
        "Ask by August 31, 2025",
        "Fast appeal",
        "72 hours",
        "Outside review",
    ],
    "site_of_care": ["one time", "your home"],
    "out_of_scope": ["This is not a denial"],
    "hold": ["more information from your doctor"],
}


def read(pdf: bytes, tmp_path: Path) -> str:
    return normalized(pdf_text(pdf, tmp_path))


def internal_found(text: str) -> list[str]:
    return [m.group(0) for pattern in INTERNAL for m in pattern.finditer(text)]


@pytest.mark.parametrize("kind", LETTER_KINDS)
def test_provider_letter_says_what_to_do_and_nothing_internal(kind: str, tmp_path: Path) -> None:
    case = make_case()
    determination = make_determination(kind)
    recipient = provider_recipient("ordering", case.ordering)  # type: ignore[arg-type]
    pdf = render_letter(kind, case, determination, recipient)
    assert pdf.startswith(b"%PDF-")
    text = read(pdf, tmp_path)
    for fact in [
        "Cigna Healthcare",  # the letterhead is the plan's, not "Health plan"
        "Oncology Prior Authorization Program",
        PROVIDER_DESK,  # a number to call
        "PA2025000001",  # case number
        "U9988776601",  # member id
        f"{MEMBER_FIRST} {MEMBER_LAST}",
        "July 14, 1961",
        "C50.911 Malignant neoplasm of unspecified site of right female breast",
        "Avery Testwell, NPI 1234567893",
        "Springfield Infusion Center, NPI 1098765432",
        "Your fax (217) 555-0142",
        *PROVIDER_EXPECTED[kind],
    ]:
        assert normalized(fact) in text, f"{kind}: {fact!r} missing"
    assert internal_found(text) == [], kind


@pytest.mark.parametrize("kind", LETTER_KINDS)
def test_member_letter_speaks_to_the_member_without_codes(kind: str, tmp_path: Path) -> None:
    case = make_case()
    pdf = render_letter(kind, case, make_determination(kind), member_recipient(case))
    text = read(pdf, tmp_path)
    for fact in [
        f"Dear {MEMBER_FIRST} {MEMBER_LAST}",
        "12 Synthetic Way",
        "Springfield, IL 62701",
        MEMBER_DESK,  # member services, not the provider line
        "TTY 711",
        "paclitaxel",  # the treatment by name
        "Language assistance",
        "Español",
        *MEMBER_EXPECTED.get(kind, []),
    ]:
        assert normalized(fact) in text, f"{kind}: {fact!r} missing"
    assert "You" in text or "you" in text
    assert CODES.findall(text) == [], kind  # no HCPCS or ICD-10 codes
    assert PROVIDER_DESK not in text and "NPI" not in text
    # The peer to peer is the physicians' conversation, not offered as the member's own step.
    assert "Peer to peer" not in text
    assert internal_found(text) == [], kind


def test_reconsideration_deadline_is_real_not_the_letter_date(tmp_path: Path) -> None:
    recipient_of = provider_recipient
    # Service planned for the day of the letter: reconsideration is open today only.
    case = make_case(start_date=date(2025, 3, 4))
    for line in case.service_lines:
        line.start_date = date(2025, 3, 4)
    determination = make_determination("denial")
    recipient = recipient_of("ordering", case.ordering)  # type: ignore[arg-type]
    text = read(render_letter("denial", case, determination, recipient), tmp_path)
    assert "which is today, March 4, 2025" in text
    # Service already given: reconsideration is closed, the appeal is still open.
    past = make_case(start_date=date(2025, 2, 20))
    text = read(render_letter("denial", past, determination, recipient), tmp_path)
    assert "Reconsideration: no longer available" in text
    assert "by August 31, 2025" in text
    # A line of business without reconsideration (determination.appeal says so).
    no_recon = determination.model_copy(
        update={"appeal": {**(determination.appeal or {}), "reconsideration_allowed": False}}
    )
    text = read(render_letter("denial", case, no_recon, recipient), tmp_path)
    assert "Reconsideration: not available" in text


def test_times_are_in_the_readers_time_zone(tmp_path: Path) -> None:
    case = make_case()
    assert case.ordering is not None and case.ordering.address is not None
    case.ordering.address = Address(
        lines=["1 Coast Hwy"], city="Oakland", state="CA", postal_code="94601"
    )
    recipient = provider_recipient("ordering", case.ordering)
    text = read(render_letter("hold", case, make_determination("hold"), recipient), tmp_path)
    assert "March 7, 2025 at 9:00 a.m. Pacific Time (PST)" in text
    assert "UTC" not in text


def test_second_plan_letters_carry_the_second_plans_numbers(tmp_path: Path) -> None:
    case = make_case(payer_id="SHP01", payer_name="Second Health Plan")
    determination = make_determination("denial").model_copy(
        update={"plan_id": "second-plan-oncology"}
    )
    provider = provider_recipient("ordering", case.ordering)  # type: ignore[arg-type]
    text = read(render_letter("denial", case, determination, provider), tmp_path)
    assert "Second Health Plan" in text and "(800) 555-0200" in text
    assert "(800) 555-0221" in text and PROVIDER_DESK not in text
    member = read(render_letter("denial", case, determination, member_recipient(case)), tmp_path)
    assert "(800) 555-0210" in member


def test_fax_has_a_cover_sheet_then_the_letter(tmp_path: Path) -> None:
    case = make_case()
    recipient = provider_recipient("facility", case.facility)  # type: ignore[arg-type]
    determination = make_determination("denial")
    pdf = render_fax("denial", case, determination, recipient)
    letter = render_letter("denial", case, determination, recipient)
    pages = [normalized(page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]
    assert count_pages(pdf) == len(pages) == count_pages(letter) + 1
    cover = pages[0]
    for fact in [
        "Fax",
        "To Springfield Infusion Center",
        "To fax (217) 555-0199",
        "From fax (800) 555-0101",
        f"Pages {len(pages)}, including this cover sheet",
        "Regarding Prior authorization, case number PA2025000001",
        "Confidentiality notice",
        "protected health information",
    ]:
        assert fact in cover, fact
    # Whoever stands at the receiving machine sees no member on the cover.
    assert MEMBER_LAST not in cover and "U9988776601" not in cover
    assert "Prior authorization denied" in pages[1]


def test_member_address_sits_in_the_envelope_window() -> None:
    """The address block's lines are drawn 2 to 3.05 inches from the top and from 1 inch in:
    the window of a #10 envelope on a sheet folded in three."""
    case = make_case()
    pdf = render_letter("approval", case, make_determination("approval"), member_recipient(case))
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    height = float(page.mediabox.height)
    where: dict[str, tuple[float, float]] = {}

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip():
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            where.setdefault(text.strip(), (x / 72, (height - y) / 72))

    page.extract_text(visitor_text=visit)
    for line in ("Quillon Zabrowski", "12 Synthetic Way", "Springfield, IL 62701"):
        x, from_top = next(v for k, v in where.items() if k.startswith(line))
        assert 0.95 <= x <= 1.2, (line, x)
        assert 2.0 <= from_top <= 3.05, (line, from_top)


def test_pdf_is_dated_by_the_determination_and_deterministic() -> None:
    case, determination = make_case(), make_determination("approval")
    recipient = provider_recipient("facility", case.facility)  # type: ignore[arg-type]
    pdf = render_letter("approval", case, determination, recipient)
    assert pdf == render_letter("approval", case, determination, recipient)
    info = PdfReader(io.BytesIO(pdf)).metadata
    assert info is not None and info.creation_date is not None
    assert info.creation_date.replace(tzinfo=UTC) == datetime(2025, 3, 4, 15, 30, tzinfo=UTC)
    assert info.author == "Cigna Healthcare"


def test_a_heading_is_never_left_alone_at_the_foot_of_a_page() -> None:
    case = make_case()
    recipient = provider_recipient("ordering", case.ordering)  # type: ignore[arg-type]
    for kind in LETTER_KINDS:
        pdf = render_letter(kind, case, make_determination(kind), recipient)
        for page in PdfReader(io.BytesIO(pdf)).pages:
            lines = [x for x in (page.extract_text() or "").splitlines() if x.strip()]
            body = [x for x in lines if not x.startswith("Oncology Prior Authorization Program ·")]
            body = [x for x in body if not x.startswith("Page ")]
            assert body and not body[-1].startswith("Services "), (kind, body[-3:])


def test_unknown_kind_is_refused() -> None:
    case = make_case()
    with pytest.raises(ValueError):
        render_letter("fortune", case, make_determination("approval"), member_recipient(case))


@pytest.mark.skipif(
    shutil.which("pdftoppm") is None,
    reason="pdftoppm (Debian poppler-utils) is not installed: no PNG samples; the text checks "
    "above ran without it",
)
def test_sample_letters_are_rendered_to_png_for_a_person_to_read() -> None:
    """One PNG per page of each letter kind and reader, at fax resolution (204 x 196 dpi read as
    200 dpi, grey), under build/letter-samples/ (GATEWAY_LETTER_SAMPLES elsewhere)."""
    SAMPLES.mkdir(parents=True, exist_ok=True)
    case = make_case()
    provider = provider_recipient("ordering", case.ordering)  # type: ignore[arg-type]
    made = []
    for kind in LETTER_KINDS:
        determination = make_determination(kind)
        for reader, pdf in (
            ("fax", render_fax(kind, case, determination, provider)),
            ("member", render_letter(kind, case, determination, member_recipient(case))),
        ):
            stem = SAMPLES / f"{kind}-{reader}"
            stem.with_suffix(".pdf").write_bytes(pdf)
            subprocess.run(
                [
                    "pdftoppm",
                    "-r",
                    "200",
                    "-gray",
                    "-png",
                    str(stem.with_suffix(".pdf")),
                    str(stem),
                ],
                check=True,
                capture_output=True,
            )
            pngs = sorted(SAMPLES.glob(f"{stem.name}-*.png"))
            assert len(pngs) == count_pages(pdf)
            assert all(png.read_bytes().startswith(b"\x89PNG") for png in pngs)
            made += pngs
    assert len(made) >= 2 * len(LETTER_KINDS)


def test_a_paragraph_split_over_a_page_end_lays_out_the_same_every_time() -> None:
    """Paragraphs are laid out once per process and replayed (letter_layout._Para); one that
    runs over a page end is split from a copy of its own, so the next letter with the same
    paragraph comes out the same, whole, and with every word in order."""

    words = " ".join(f"word{n}" for n in range(900))
    markup = (
        '<letter footer="Case PA2025000001">'
        "<letterhead><line>Synthetic Health Plan</line></letterhead>"
        "<window><line>Member</line></window><aside><line>March 4, 2025</line></aside>"
        f"<p>{words}</p><p>{words}</p></letter>"
    )

    def build() -> tuple[bytes, int]:
        return _letter_pdf(markup)

    first, pages = build()
    assert pages >= 2  # the paragraphs run over page ends
    assert [build()[0] for _ in range(2)] == [first, first]
    text = " ".join(normalized(page.extract_text()) for page in PdfReader(io.BytesIO(first)).pages)
    found = re.findall(r"word(\d+)", text)
    assert [int(n) for n in found] == list(range(900)) * 2


def test_a_letter_comes_out_the_same_whatever_its_process_rendered_before() -> None:
    """Paragraphs' drawings are kept per process and replayed (letter_layout._Para.draw): a
    letter, a fax and a member letter come out byte for byte as in a fresh process, in
    whichever order a worker meets them (a font is named F1 in one document, F3 in another)."""
    from gateway.notify import letter_layout

    case = make_case()
    jobs = [
        ("fax", "approval", provider_recipient("facility", case.facility)),  # type: ignore[arg-type]
        ("letter", "denial", member_recipient(case)),
        ("letter", "partial_approval", provider_recipient("ordering", case.ordering)),  # type: ignore[arg-type]
        ("fax", "hold", provider_recipient("ordering", case.ordering)),  # type: ignore[arg-type]
        ("letter", "approval", member_recipient(case)),
    ]

    def render(how: str, kind: str, recipient: dict[str, object]) -> bytes:
        chosen = render_fax if how == "fax" else render_letter
        return chosen(kind, case, make_determination(kind), recipient)

    fresh = []
    for job in jobs:
        letter_layout.forget()
        fresh.append(render(*job))
    letter_layout.forget()
    for order in (jobs, jobs[::-1], jobs + jobs):
        assert [render(*job) for job in order] == [fresh[jobs.index(job)] for job in order]
    assert len(letter_layout._DRAWN._items) > 0  # the replays were exercised


def test_a_replayed_paragraph_names_its_fonts_as_its_own_document_does() -> None:
    """The same paragraph in two documents whose fonts were met in another order (Helvetica
    is one name in the first and another in the second): each comes out as if drawn afresh."""
    from gateway.notify import letter_layout

    def markup(window: str) -> str:
        return (
            '<letter footer="Case PA2025000001">'
            "<letterhead><line>Synthetic Health Plan</line></letterhead>"
            f"<window><line>{window}</line></window><aside><line>March 4, 2025</line></aside>"
            "<p>The same words in <b>both</b> letters.</p><p><i>Slanted</i> then plain.</p>"
            "</letter>"
        )

    def build(text: str) -> bytes:
        return _letter_pdf(text)[0]

    # The window in bold italic: the italic of the paragraphs after it is then a font later.
    plain, slanted = markup("Member"), markup("<b><i>Member</i></b>")
    fresh = []
    for text in (plain, slanted):
        letter_layout.forget()
        fresh.append(build(text))
    assert fresh[0] != fresh[1]
    letter_layout.forget()
    assert [build(plain), build(slanted), build(plain)] == [fresh[0], fresh[1], fresh[0]]
    letter_layout.forget()
    assert [build(slanted), build(plain)] == [fresh[1], fresh[0]]


def _letter_pdf(markup: str) -> tuple[bytes, int]:
    """A letter's PDF (and page count) from its markup, with fixed metadata."""
    from gateway.notify import letter_layout

    story, footer = letter_layout.letter_story(markup)
    return letter_layout.build_pdf(
        story,
        footer=footer,
        created=datetime(2025, 3, 4, 16, 0, tzinfo=UTC),
        title="Prior authorization letter, case PA2025000001",
        author="Synthetic Health Plan",
    )
