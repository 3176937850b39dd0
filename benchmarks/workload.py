"""Synthetic workloads for the benchmark, made from the repository's samples and demo roster.

Every request is unique (its own BHT03, TRN02s, ST02 and, for real-time interchanges, ISA13; its
own Bundle.identifier for PAS), so nothing is answered as a replay, and every member is one of
the demo roster's, so cases go through eligibility, the pathway engine and plan policy for real.
All names, ids and dates are the samples' synthetic ones.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parent.parent
SAMPLES = REPO / "samples"
# Requests that reach review (approved, pended, held, not required, out of scope); the unknown
# member sample is left out: the roster members below already include one not eligible.
X12_TEMPLATES = (
    "278-act-dd-jane-doe.x12",
    "278-tc-jane-doe.x12",
    "278-act-without-z1732.x12",
    "278-emergency-room.x12",
    "278-noncancer-m5450.x12",
)
PAS_SAMPLES = (
    "ddact-her2neg.json",
    "tc-her2neg.json",
    "ddact-questionnaire.json",
    "ddact-dangling-reference.json",
)
HEADER_ISA = (
    "ISA*00*          *00*          *ZZ*CLEARINGHOUSE01*ZZ*GATEWAYUM      *261120*0930*^"
    "*00501*{isa13}*0*T*:~"
)
HEADER_GS = "GS*HI*CLEARINGHOUSE01*GATEWAYUM*20261120*0930*{gs06}*X*005010X217~"


@dataclass(frozen=True)
class Member:
    member_id: str
    last_name: str
    first_name: str
    birth_date: str  # CCYYMMDD
    gender: str  # F / M / U
    payer_id: str  # of the member's plan (mappings/plans), sent as the UMO in 2010A
    payer_name: str


def roster_members(path: Path = SAMPLES / "roster.yaml") -> list[Member]:
    plans = {}
    for plan_file in sorted((REPO / "mappings" / "plans").glob("*.yaml")):
        plan = yaml.safe_load(plan_file.read_text())
        plans[plan["id"]] = (str(plan["payer_id"]), str(plan["name"]).split(" (")[0].upper())
    rows = yaml.safe_load(path.read_text())["members"]
    gender = {"female": "F", "male": "M"}
    return [
        Member(
            str(row["member_id"]),
            str(row["last_name"]),
            str(row["first_name"]),
            str(row["birth_date"]).replace("-", ""),
            gender.get(row.get("gender"), "U"),
            *plans[row["plan"]],
        )
        for row in rows
    ]


def _transaction(name: str) -> list[list[str]]:
    """ST..SE of a single-transaction sample, as element lists."""
    text = (SAMPLES / "x12" / name).read_text()
    segments = [s.strip().split("*") for s in text.split("~") if s.strip()]
    start = next(i for i, s in enumerate(segments) if s[0] == "ST")
    end = next(i for i, s in enumerate(segments) if s[0] == "SE")
    return segments[start : end + 1]


class TransactionFactory:
    """Unique 278 request transaction sets, cycling through templates and roster members."""

    def __init__(self) -> None:
        self.templates = [(name, _transaction(name)) for name in X12_TEMPLATES]
        self.members = roster_members()

    def make(self, n: int) -> str:
        name, template = self.templates[n % len(self.templates)]
        member = self.members[(n // len(self.templates)) % len(self.members)]
        control = f"{n % 1_000_000_000:09d}"
        reference = f"BN{n:09d}"
        original = next(s[3] for s in template if s[0] == "BHT")
        lines = []
        for index, elements in enumerate(template):
            seg = list(elements)
            sid = seg[0]
            if sid in ("ST", "SE"):
                seg[2] = control
            elif sid == "BHT":
                seg[3] = reference
            elif sid == "TRN" and len(seg) > 2:
                seg[2] = (
                    seg[2].replace(original, reference, 1)
                    if original in seg[2]
                    else f"{reference}-{index}"
                )
            elif sid == "NM1" and seg[1] == "X3":
                seg += [""] * (10 - len(seg))
                seg[3], seg[9] = member.payer_name[:60], member.payer_id
            elif sid == "NM1" and seg[1] == "IL":
                seg += [""] * (10 - len(seg))
                seg[3], seg[4], seg[9] = member.last_name, member.first_name, member.member_id
            elif sid == "DMG":
                seg[2] = member.birth_date
                if len(seg) > 3:
                    seg[3] = member.gender
            lines.append("*".join(seg) + "~")
        return "\n".join(lines) + "\n"


def write_batch(path: Path, transactions: int, *, isa13: int = 700_000_001, first: int = 1) -> int:
    """A batch interchange of `transactions` 278 requests in one functional group, written as
    it is made; returns its size in bytes. `first` numbers the first request (BHT03, TRN02):
    batches with disjoint ranges hold no request of each other's."""
    factory = TransactionFactory()
    control = f"{isa13:09d}"
    with path.open("w", encoding="utf-8") as out:
        out.write(HEADER_ISA.format(isa13=control) + "\n")
        out.write(HEADER_GS.format(gs06=isa13 % 1_000_000) + "\n")
        for n in range(first, first + transactions):
            out.write(factory.make(n))
        out.write(f"GE*{transactions}*{isa13 % 1_000_000}~\nIEA*1*{control}~\n")
    return path.stat().st_size


def realtime_interchanges(start: int) -> Iterator[bytes]:
    """One single-transaction interchange after another (POST /x12/278), ISA13 unique."""
    factory = TransactionFactory()
    n = start
    while True:
        control = f"{n % 1_000_000_000:09d}"
        gs06 = n % 1_000_000_000
        body = (
            HEADER_ISA.format(isa13=control)
            + "\n"
            + HEADER_GS.format(gs06=gs06)
            + "\n"
            + factory.make(n)
            + f"GE*1*{gs06}~\nIEA*1*{control}~\n"
        )
        yield body.encode()
        n += 1


def pas_bundles() -> dict[str, dict[str, Any]]:
    return {name: json.loads((SAMPLES / "pas" / name).read_text()) for name in PAS_SAMPLES}


def unique_bundle(bundle: dict[str, Any], n: int) -> dict[str, Any]:
    """The bundle with its own Bundle.identifier (a new submission, not a replay)."""
    copied = copy.deepcopy(bundle)
    identifier = copied.setdefault("identifier", {"system": "urn:bench"})
    identifier["value"] = f"{identifier.get('value', 'SUB')}-BN{n:09d}"
    return copied
