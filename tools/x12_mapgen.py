#!/usr/bin/env python3
"""Authoring tool: write a fresh 005010X217 map for mappings/x12 in pyx12's map XML format.

The XML files in mappings/x12 are the source of truth: the gateway's validator and pyx12 (the
oracle) both load them, and a payer edits them (a code added to codes.xml, a list narrowed in a
transaction map) without touching Python. This tool is only how the maps were first written, so
that the request and response maps share one description of each segment; nothing under gateway/
imports it. Run it to start a map over or to see how the committed files drifted from these
facts; it never overwrites an edited file unless told to (--force).

Segment layouts, element numbers, lengths and code values are facts of ASC X12 005010 and the
005010X217 implementation guide (Health Care Services Review - Request for Review and Response);
the code lists are in tools/x12_codelists.py.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

import x12_codelists as cl  # beside this file: tools/ is on sys.path when run as a script
from lxml import etree

MAP_DIR = Path(__file__).resolve().parents[1] / "mappings" / "x12"
REQUEST_MAP = "278.5010.X217.request.xml"
RESPONSE_MAP = "278.5010.X217.response.xml"

# Data element dictionary: number -> (type, min, max, name).  X12 005010 element attributes.
DATA_ELEMENTS: dict[str, tuple[str, int, int, str]] = {
    "I01": ("ID", 2, 2, "Authorization Information Qualifier"),
    "I02": ("AN", 10, 10, "Authorization Information"),
    "I03": ("ID", 2, 2, "Security Information Qualifier"),
    "I04": ("AN", 10, 10, "Security Information"),
    "I05": ("ID", 2, 2, "Interchange ID Qualifier"),
    "I06": ("AN", 15, 15, "Interchange Sender ID"),
    "I07": ("AN", 15, 15, "Interchange Receiver ID"),
    "I08": ("DT", 6, 6, "Interchange Date"),
    "I09": ("TM", 4, 4, "Interchange Time"),
    "I10": ("ID", 1, 1, "Interchange Control Standards Identifier"),
    "I11": ("ID", 5, 5, "Interchange Control Version Number"),
    "I12": ("N0", 9, 9, "Interchange Control Number"),
    "I13": ("ID", 1, 1, "Acknowledgment Requested"),
    "I14": ("ID", 1, 1, "Interchange Usage Indicator"),
    "I15": ("AN", 1, 1, "Component Element Separator"),
    "I16": ("N0", 1, 5, "Number of Included Functional Groups"),
    "I17": ("ID", 1, 1, "Interchange Acknowledgment Code"),
    "I18": ("ID", 3, 3, "Interchange Note Code"),
    "I65": ("AN", 1, 1, "Repetition Separator"),
    "19": ("AN", 2, 30, "City Name"),
    "26": ("ID", 2, 3, "Country Code"),
    "28": ("N0", 1, 9, "Group Control Number"),
    "66": ("ID", 1, 2, "Identification Code Qualifier"),
    "67": ("AN", 2, 80, "Identification Code"),
    "93": ("AN", 1, 60, "Name"),
    "96": ("N0", 1, 10, "Number of Included Segments"),
    "97": ("N0", 1, 6, "Number of Transaction Sets Included"),
    "98": ("ID", 2, 3, "Entity Identifier Code"),
    "116": ("ID", 3, 15, "Postal Code"),
    "124": ("AN", 2, 15, "Application Receiver's Code"),
    "127": ("AN", 1, 50, "Reference Identification"),
    "128": ("ID", 2, 3, "Reference Identification Qualifier"),
    "142": ("AN", 2, 15, "Application Sender's Code"),
    "143": ("ID", 3, 3, "Transaction Set Identifier Code"),
    "156": ("ID", 2, 2, "State or Province Code"),
    "166": ("AN", 1, 55, "Address Information"),
    "234": ("AN", 1, 48, "Product/Service ID"),
    "235": ("ID", 2, 2, "Product/Service ID Qualifier"),
    "306": ("ID", 1, 2, "Action Code"),
    "309": ("ID", 1, 2, "Location Qualifier"),
    "310": ("AN", 1, 30, "Location Identifier"),
    "329": ("AN", 4, 9, "Transaction Set Control Number"),
    "337": ("TM", 4, 8, "Time"),
    "352": ("AN", 1, 80, "Description"),
    "353": ("ID", 2, 2, "Transaction Set Purpose Code"),
    "355": ("ID", 2, 2, "Unit or Basis for Measurement Code"),
    "364": ("AN", 1, 256, "Communication Number"),
    "365": ("ID", 2, 2, "Communication Number Qualifier"),
    "366": ("ID", 2, 2, "Contact Function Code"),
    "373": ("DT", 8, 8, "Date"),
    "374": ("ID", 3, 3, "Date/Time Qualifier"),
    "380": ("R", 1, 15, "Quantity"),
    "455": ("ID", 1, 2, "Responsible Agency Code"),
    "479": ("ID", 2, 2, "Functional Identifier Code"),
    "480": ("AN", 1, 12, "Version / Release / Industry Identifier Code"),
    "481": ("ID", 1, 2, "Trace Type Code"),
    "509": ("AN", 10, 10, "Originating Company Identifier"),
    "559": ("ID", 2, 2, "Agency Qualifier Code"),
    "615": ("ID", 1, 2, "Time Period Qualifier"),
    "616": ("N0", 1, 3, "Number of Periods"),
    "628": ("AN", 1, 12, "Hierarchical ID Number"),
    "640": ("ID", 2, 2, "Transaction Type Code"),
    "673": ("ID", 2, 2, "Quantity Qualifier"),
    "678": ("ID", 1, 2, "Ship/Delivery or Calendar Pattern Code"),
    "679": ("ID", 1, 1, "Ship/Delivery Pattern Time Code"),
    "734": ("AN", 1, 12, "Hierarchical Parent ID Number"),
    "735": ("ID", 1, 2, "Hierarchical Level Code"),
    "736": ("ID", 1, 1, "Hierarchical Child Code"),
    "755": ("ID", 2, 2, "Report Type Code"),
    "756": ("ID", 1, 2, "Report Transmission Code"),
    "782": ("R", 1, 18, "Monetary Amount"),
    "889": ("ID", 1, 1, "Follow-up Action Code"),
    "901": ("ID", 2, 2, "Reject Reason Code"),
    "923": ("ID", 1, 1, "Prognosis Code"),
    "933": ("AN", 1, 264, "Free-Form Message Text"),
    "1005": ("ID", 4, 4, "Hierarchical Structure Code"),
    "1035": ("AN", 1, 60, "Name Last or Organization Name"),
    "1036": ("AN", 1, 35, "Name First"),
    "1037": ("AN", 1, 25, "Name Middle"),
    "1038": ("AN", 1, 10, "Name Prefix"),
    "1039": ("AN", 1, 10, "Name Suffix"),
    "1065": ("ID", 1, 1, "Entity Type Qualifier"),
    "1068": ("ID", 1, 1, "Gender Code"),
    "1069": ("ID", 2, 2, "Individual Relationship Code"),
    "1073": ("ID", 1, 1, "Yes/No Condition or Response Code"),
    "1136": ("ID", 2, 2, "Code Category"),
    "1167": ("R", 1, 6, "Sample Selection Modulus"),
    "1213": ("ID", 1, 1, "Current Health Condition Code"),
    "1221": ("ID", 1, 3, "Provider Code"),
    "1250": ("ID", 2, 3, "Date Time Period Format Qualifier"),
    "1251": ("AN", 1, 35, "Date Time Period"),
    "1270": ("ID", 1, 3, "Code List Qualifier Code"),
    "1271": ("AN", 1, 30, "Industry Code"),
    "1314": ("ID", 1, 1, "Admission Source Code"),
    "1315": ("ID", 1, 1, "Admission Type Code"),
    "1321": ("ID", 2, 3, "Condition Indicator"),
    "1322": ("ID", 1, 1, "Certification Type Code"),
    "1331": ("AN", 1, 2, "Facility Code Value"),
    "1332": ("ID", 1, 2, "Facility Code Qualifier"),
    "1338": ("ID", 1, 3, "Level of Service Code"),
    "1339": ("AN", 2, 2, "Procedure Modifier"),
    "1345": ("ID", 1, 1, "Nursing Home Residential Status Code"),
    "1352": ("ID", 1, 2, "Patient Status Code"),
    "1362": ("ID", 2, 3, "Related-Causes Code"),
    "1363": ("ID", 1, 1, "Release of Information Code"),
    "1365": ("ID", 1, 2, "Service Type Code"),
    "1371": ("R", 1, 10, "Unit Rate"),
    "1470": ("N0", 1, 9, "Number"),
    "1525": ("ID", 1, 2, "Request Category Code"),
    "1705": ("AN", 1, 35, "Implementation Convention Reference"),
}


@dataclass
class El:
    seq: int
    de: str
    name: str
    usage: str = "S"
    codes: tuple[str, ...] = ()
    external: str | None = None


@dataclass
class Comp:
    seq: int
    name: str
    usage: str
    subs: list[El]


@dataclass
class Seg:
    xid: str
    name: str
    usage: str
    pos: str
    max_use: str
    items: list[El | Comp]
    syntax: tuple[str, ...] = ()


@dataclass
class Loop:
    xid: str
    name: str
    usage: str
    pos: str
    repeat: str
    children: list[Seg | Loop] = field(default_factory=list)
    kind: str | None = None  # "explicit" for envelopes, "wrapper" for HEADER / DETAIL


def e(seq: int, de: str, name: str, usage: str = "S", codes: tuple[str, ...] = (), **kw) -> El:
    return El(seq, de, name, usage, tuple(codes), kw.get("external"))


def nu(seq: int, de: str, name: str) -> El:
    """An element the guide marks Not Used."""
    return El(seq, de, name, "N")


# ---------------------------------------------------------------- envelope segments


def isa(version_codes: tuple[str, ...], isa11: El) -> Seg:
    return Seg(
        "ISA",
        "Interchange Control Header",
        "R",
        "0100",
        "1",
        [
            e(1, "I01", "Authorization Information Qualifier", "R", ("00", "03")),
            e(2, "I02", "Authorization Information", "R"),
            e(3, "I03", "Security Information Qualifier", "R", ("00", "01")),
            e(4, "I04", "Security Information", "R"),
            e(5, "I05", "Interchange ID Qualifier", "R", cl.ISA_ID_QUALIFIERS),
            e(6, "I06", "Interchange Sender ID", "R"),
            e(7, "I05", "Interchange ID Qualifier", "R", cl.ISA_ID_QUALIFIERS),
            e(8, "I07", "Interchange Receiver ID", "R"),
            e(9, "I08", "Interchange Date", "R"),
            e(10, "I09", "Interchange Time", "R"),
            isa11,
            e(12, "I11", "Interchange Control Version Number", "R", version_codes),
            e(13, "I12", "Interchange Control Number", "R"),
            e(14, "I13", "Acknowledgment Requested", "R", ("0", "1")),
            e(15, "I14", "Interchange Usage Indicator", "R", ("I", "P", "T")),
            e(16, "I15", "Component Element Separator", "R"),
        ],
    )


def gs(gs08: tuple[str, ...]) -> Seg:
    return Seg(
        "GS",
        "Functional Group Header",
        "R",
        "0100",
        "1",
        [
            e(1, "479", "Functional Identifier Code", "R", ("HI",)),
            e(2, "142", "Application Sender's Code", "R"),
            e(3, "124", "Application Receiver's Code", "R"),
            e(4, "373", "Date", "R"),
            e(5, "337", "Time", "R"),
            e(6, "28", "Group Control Number", "R"),
            e(7, "455", "Responsible Agency Code", "R", ("X",)),
            e(8, "480", "Version / Release / Industry Identifier Code", "R", gs08),
        ],
    )


GE = Seg(
    "GE",
    "Functional Group Trailer",
    "R",
    "0300",
    "1",
    [
        e(1, "97", "Number of Transaction Sets Included", "R"),
        e(2, "28", "Group Control Number", "R"),
    ],
)
IEA = Seg(
    "IEA",
    "Interchange Control Trailer",
    "R",
    "0300",
    "1",
    [
        e(1, "I16", "Number of Included Functional Groups", "R"),
        e(2, "I12", "Interchange Control Number", "R"),
    ],
)
TA1 = Seg(
    "TA1",
    "Interchange Acknowledgment",
    "S",
    "0200",
    "1",
    [
        e(1, "I12", "Interchange Control Number", "R"),
        e(2, "I08", "Interchange Date", "R"),
        e(3, "I09", "Interchange Time", "R"),
        e(4, "I17", "Interchange Acknowledgment Code", "R", ("A", "E", "R")),
        e(5, "I18", "Interchange Note Code", "R", cl.TA1_NOTE_CODES),
    ],
)
ST = Seg(
    "ST",
    "Transaction Set Header",
    "R",
    "0100",
    "1",
    [
        e(1, "143", "Transaction Set Identifier Code", "R", ("278",)),
        e(2, "329", "Transaction Set Control Number", "R"),
        e(3, "1705", "Implementation Convention Reference", "R", ("005010X217",)),
    ],
)
SE = Seg(
    "SE",
    "Transaction Set Trailer",
    "R",
    "5550",
    "1",
    [
        e(1, "96", "Number of Included Segments", "R"),
        e(2, "329", "Transaction Set Control Number", "R"),
    ],
)
ISA11_5010 = e(11, "I65", "Repetition Separator", "R")


# ---------------------------------------------------------------- body segment builders


def hl(name: str, level: str, parent: bool, child_codes: tuple[str, ...]) -> Seg:
    return Seg(
        "HL",
        name,
        "R",
        "0100",
        "1",
        [
            e(1, "628", "Hierarchical ID Number", "R"),
            e(2, "734", "Hierarchical Parent ID Number", "R")
            if parent
            else nu(2, "734", "Hierarchical Parent ID Number"),
            e(3, "735", "Hierarchical Level Code", "R", (level,)),
            e(4, "736", "Hierarchical Child Code", "R", child_codes),
        ],
    )


def nm1(
    name: str,
    entities: tuple[str, ...],
    id_quals: tuple[str, ...],
    id_usage: str,
    types: tuple[str, ...] = ("1", "2"),
    person: bool = True,
) -> Seg:
    items: list[El | Comp] = [
        e(1, "98", "Entity Identifier Code", "R", entities),
        e(2, "1065", "Entity Type Qualifier", "R", types),
        e(3, "1035", "Name Last or Organization Name", "S"),
        e(4, "1036", "Name First", "S") if person else nu(4, "1036", "Name First"),
        e(5, "1037", "Name Middle", "S") if person else nu(5, "1037", "Name Middle"),
        nu(6, "1038", "Name Prefix"),
        e(7, "1039", "Name Suffix", "S") if person else nu(7, "1039", "Name Suffix"),
    ]
    if id_quals:
        items += [
            e(8, "66", "Identification Code Qualifier", id_usage, id_quals),
            e(9, "67", "Identification Code", id_usage),
        ]
    else:
        items += [nu(8, "66", "Identification Code Qualifier"), nu(9, "67", "Identification Code")]
    items += [
        nu(10, "706", "Entity Relationship Code"),
        nu(11, "98", "Entity Identifier Code"),
        nu(12, "93", "Name"),
    ]
    return Seg("NM1", name, "R", "0100", "1", items, ("P0809",))


def ref(name: str, quals: tuple[str, ...], pos: str, max_use: str) -> Seg:
    return Seg(
        "REF",
        name,
        "S",
        pos,
        max_use,
        [
            e(1, "128", "Reference Identification Qualifier", "R", quals),
            e(2, "127", "Reference Identification", "R"),
        ],
    )


def n3(name: str) -> Seg:
    return Seg(
        "N3",
        name,
        "S",
        "0200",
        "1",
        [
            e(1, "166", "Address Information", "R"),
            e(2, "166", "Address Information", "S"),
        ],
    )


def n4(name: str) -> Seg:
    return Seg(
        "N4",
        name,
        "S",
        "0300",
        "1",
        [
            e(1, "19", "City Name", "R"),
            e(2, "156", "State or Province Code", "S", external="states"),
            e(3, "116", "Postal Code", "S"),
            e(4, "26", "Country Code", "S"),
            nu(5, "309", "Location Qualifier"),
            nu(6, "310", "Location Identifier"),
            e(7, "1715", "Country Subdivision Code", "S"),
        ],
    )


def per(name: str, pos: str = "0400") -> Seg:
    return Seg(
        "PER",
        name,
        "S",
        pos,
        "1",
        [
            e(1, "366", "Contact Function Code", "R", ("IC",)),
            e(2, "93", "Name", "S"),
            e(3, "365", "Communication Number Qualifier", "S", cl.PER_QUALIFIERS),
            e(4, "364", "Communication Number", "S"),
            e(5, "365", "Communication Number Qualifier", "S", cl.PER_QUALIFIERS),
            e(6, "364", "Communication Number", "S"),
            e(7, "365", "Communication Number Qualifier", "S", cl.PER_QUALIFIERS),
            e(8, "364", "Communication Number", "S"),
        ],
        ("P0304", "P0506", "P0708"),
    )


def prv(name: str, pos: str = "0600") -> Seg:
    return Seg(
        "PRV",
        name,
        "S",
        pos,
        "1",
        [
            e(1, "1221", "Provider Code", "R", cl.PRV_PROVIDER_CODES),
            e(2, "128", "Reference Identification Qualifier", "R", ("PXC",)),
            e(3, "127", "Provider Taxonomy Code", "R"),
        ],
    )


def aaa(name: str, reasons: tuple[str, ...], pos: str) -> Seg:
    return Seg(
        "AAA",
        name,
        "S",
        pos,
        "9",
        [
            e(1, "1073", "Valid Request Indicator", "R", ("N", "Y")),
            nu(2, "559", "Agency Qualifier Code"),
            e(3, "901", "Reject Reason Code", "R", reasons),
            e(4, "889", "Follow-up Action Code", "R", cl.AAA04_FOLLOW_UP),
        ],
    )


def dmg(name: str) -> Seg:
    return Seg(
        "DMG",
        name,
        "S",
        "0800",
        "1",
        [
            e(1, "1250", "Date Time Period Format Qualifier", "R", ("D8",)),
            e(2, "1251", "Date Time Period", "R"),
            e(3, "1068", "Gender Code", "S", ("F", "M", "U")),
        ],
    )


def ins(name: str, subscriber: bool) -> Seg:
    return Seg(
        "INS",
        name,
        "S",
        "0900",
        "1",
        [
            e(1, "1073", "Insured Indicator", "R", ("Y",) if subscriber else ("N",)),
            e(
                2,
                "1069",
                "Individual Relationship Code",
                "R",
                ("18",) if subscriber else cl.DEPENDENT_RELATIONSHIP,
            ),
        ]
        + [nu(i, "1073", "Not Used") for i in range(3, 17)]
        + [
            e(17, "1470", "Birth Sequence Number", "S"),
        ],
    )


def trn(name: str, types: tuple[str, ...], max_use: str) -> Seg:
    return Seg(
        "TRN",
        name,
        "S",
        "0200",
        max_use,
        [
            e(1, "481", "Trace Type Code", "R", types),
            e(2, "127", "Reference Identification", "R"),
            e(3, "509", "Originating Company Identifier", "R"),
            e(4, "127", "Reference Identification", "S"),
        ],
    )


def um(name: str, categories: tuple[str, ...], response: bool, service_level: bool) -> Seg:
    items: list[El | Comp] = [
        e(1, "1525", "Request Category Code", "R", categories),
        e(2, "1322", "Certification Type Code", "R", cl.UM02_CERTIFICATION_TYPES),
        e(3, "1365", "Service Type Code", "S", external="service_types"),
        Comp(
            4,
            "Health Care Services Location Information",
            "S",
            [
                e(1, "1331", "Facility Code Value", "R"),
                e(2, "1332", "Facility Code Qualifier", "R", ("A", "B")),
            ],
        ),
    ]
    if service_level or response:
        items += [Comp(5, "Related Causes Information", "N", [e(1, "1362", "Related-Causes Code")])]
        items += [nu(i, "1338", "Not Used") for i in range(6, 11)]
        if response and not service_level:
            items[5] = e(6, "1338", "Level of Service Code", "S", cl.UM06_LEVEL_OF_SERVICE)
    else:
        items += [
            Comp(
                5,
                "Related Causes Information",
                "S",
                [
                    e(1, "1362", "Related-Causes Code", "R", ("AA", "AP", "EM", "OA")),
                    e(2, "1362", "Related-Causes Code", "S", ("AA", "AP", "EM", "OA")),
                    nu(3, "1362", "Related-Causes Code"),
                    e(4, "156", "State or Province Code", "S", external="states"),
                    e(5, "26", "Country Code", "S"),
                ],
            ),
            e(6, "1338", "Level of Service Code", "S", cl.UM06_LEVEL_OF_SERVICE),
            nu(7, "1213", "Current Health Condition Code"),
            e(8, "923", "Prognosis Code", "S", cl.PROGNOSIS_CODES),
            e(9, "1363", "Release of Information Code", "S", cl.RELEASE_OF_INFORMATION),
            nu(10, "1514", "Delay Reason Code"),
        ]
    return Seg("UM", name, "R", "0300", "1", items)


def hcr(name: str, actions: tuple[str, ...]) -> Seg:
    return Seg(
        "HCR",
        name,
        "S",
        "0350",
        "1",
        [
            e(1, "306", "Action Code", "R", actions),
            e(2, "127", "Reference Identification", "S"),
            e(3, "1271", "Industry Code", "S", external="hcr03"),
            e(4, "1073", "Second Surgical Opinion Indicator", "S", ("N", "Y")),
        ],
    )


def dtp(
    name: str, quals: tuple[str, ...], max_use: str, formats: tuple[str, ...] = ("D8", "RD8")
) -> Seg:
    return Seg(
        "DTP",
        name,
        "S",
        "0500",
        max_use,
        [
            e(1, "374", "Date/Time Qualifier", "R", quals),
            e(2, "1250", "Date Time Period Format Qualifier", "R", formats),
            e(3, "1251", "Date Time Period", "R"),
        ],
    )


def hi(name: str, first: tuple[str, ...], rest: tuple[str, ...], usage: str = "S") -> Seg:
    comps: list[El | Comp] = []
    for i in range(1, 13):
        comps.append(
            Comp(
                i,
                "Health Care Code Information",
                "R" if i == 1 else "S",
                [
                    e(1, "1270", "Code List Qualifier Code", "R", first if i == 1 else rest),
                    e(2, "1271", "Industry Code", "R"),
                    e(3, "1250", "Date Time Period Format Qualifier", "S", ("D8",)),
                    e(4, "1251", "Date Time Period", "S"),
                ],
            )
        )
    return Seg("HI", name, usage, "0600", "1", comps)


def hsd(name: str) -> Seg:
    return Seg(
        "HSD",
        name,
        "S",
        "0700",
        "1",
        [
            e(1, "673", "Quantity Qualifier", "S", cl.HSD01_QUANTITY),
            e(2, "380", "Quantity", "S"),
            e(3, "355", "Unit or Basis for Measurement Code", "S", cl.HSD03_UNITS),
            e(4, "1167", "Sample Selection Modulus", "S"),
            e(5, "615", "Time Period Qualifier", "S", cl.HSD05_PERIODS),
            e(6, "616", "Number of Periods", "S"),
            e(7, "678", "Ship/Delivery or Calendar Pattern Code", "S", cl.HSD07_PATTERNS),
            e(8, "679", "Ship/Delivery Pattern Time Code", "S", cl.HSD08_TIMES),
        ],
        ("P0102", "C0605"),
    )


def crc() -> Seg:
    return Seg(
        "CRC",
        "Patient Condition Information",
        "S",
        "0800",
        "6",
        [
            e(1, "1136", "Code Category", "R", cl.CRC01_CATEGORIES),
            e(2, "1073", "Certification Condition Indicator", "R", ("N", "Y")),
            e(3, "1321", "Condition Indicator", "R", cl.CRC_CONDITIONS),
        ]
        + [e(i, "1321", "Condition Indicator", "S", cl.CRC_CONDITIONS) for i in range(4, 8)],
    )


def cl1() -> Seg:
    return Seg(
        "CL1",
        "Institutional Claim Code",
        "S",
        "0900",
        "1",
        [
            e(1, "1315", "Admission Type Code", "S", cl.CL101_ADMISSION_TYPES),
            e(2, "1314", "Admission Source Code", "S", cl.CL102_ADMISSION_SOURCES),
            e(3, "1352", "Patient Status Code", "S", cl.CL103_PATIENT_STATUS),
            nu(4, "1345", "Nursing Home Residential Status Code"),
        ],
    )


def pwk(name: str, pos: str = "1550") -> Seg:
    return Seg(
        "PWK",
        name,
        "S",
        pos,
        "10",
        [
            e(1, "755", "Report Type Code", "R", cl.PWK01_REPORT_TYPES),
            e(2, "756", "Report Transmission Code", "R", cl.PWK02_TRANSMISSION),
            nu(3, "757", "Report Copies Needed"),
            nu(4, "98", "Entity Identifier Code"),
            e(5, "66", "Identification Code Qualifier", "S", ("AC",)),
            e(6, "67", "Attachment Control Number", "S"),
            e(7, "352", "Attachment Description", "S"),
        ],
        ("P0506",),
    )


def msg(name: str, pos: str = "1600") -> Seg:
    return Seg("MSG", name, "S", pos, "1", [e(1, "933", "Free-Form Message Text", "R")])


def service_code(seq: int, usage: str) -> Comp:
    return Comp(
        seq,
        "Composite Medical Procedure Identifier",
        usage,
        [
            e(1, "235", "Product or Service ID Qualifier", "R", cl.SERVICE_ID_QUALIFIERS),
            e(2, "234", "Procedure Code", "R"),
            e(3, "1339", "Procedure Modifier", "S"),
            e(4, "1339", "Procedure Modifier", "S"),
            e(5, "1339", "Procedure Modifier", "S"),
            e(6, "1339", "Procedure Modifier", "S"),
            e(7, "352", "Description", "S"),
            e(8, "234", "Procedure Code", "S"),
        ],
    )


def sv1() -> Seg:
    return Seg(
        "SV1",
        "Professional Service",
        "S",
        "0650",
        "1",
        [
            service_code(1, "R"),
            e(2, "782", "Line Item Charge Amount", "S"),
            e(3, "355", "Unit or Basis for Measurement Code", "S", ("MJ", "UN")),
            e(4, "380", "Service Unit Count", "S"),
            e(5, "1331", "Place of Service Code", "S"),
            nu(6, "1365", "Service Type Code"),
            Comp(7, "Composite Diagnosis Code Pointer", "N", [e(1, "1328", "Pointer")]),
            nu(8, "782", "Monetary Amount"),
            nu(9, "1073", "Emergency Indicator"),
            nu(10, "1337", "Multiple Procedure Code"),
            e(11, "1073", "EPSDT Indicator", "S", ("Y",)),
        ],
        ("P0304",),
    )


def sv2() -> Seg:
    return Seg(
        "SV2",
        "Institutional Service Line",
        "S",
        "0660",
        "1",
        [
            e(1, "234", "Service Line Revenue Code", "S"),
            service_code(2, "S"),
            e(3, "782", "Line Item Charge Amount", "S"),
            e(4, "355", "Unit or Basis for Measurement Code", "S", ("DA", "UN")),
            e(5, "380", "Service Unit Count", "S"),
            e(6, "1371", "Unit Rate", "S"),
        ],
        ("P0405",),
    )


# ---------------------------------------------------------------- the two maps


def provider_loop(xid: str, name: str, pos: str, repeat: str, response: bool) -> Loop:
    children: list[Seg | Loop] = [
        nm1(name, cl.EVENT_PROVIDER_ENTITIES, cl.PROVIDER_ID_QUALIFIERS, "S"),
        ref(f"{name} Supplemental Identification", cl.PROVIDER_REF_QUALIFIERS, "0150", "7"),
        n3(f"{name} Address"),
        n4(f"{name} City, State, ZIP Code"),
        per(f"{name} Contact Information"),
    ]
    if response:
        children.append(aaa(f"{name} Request Validation", cl.AAA03_PROVIDER, "0500"))
    children.append(prv(f"{name} Information"))
    return Loop(xid, name, "S", pos, repeat, children)


def member_loop(xid: str, name: str, subscriber: bool, response: bool) -> Loop:
    if subscriber:
        name_seg = nm1(f"{name} Name", ("IL",), ("MI",), "R", ("1",))
        refs = cl.SUBSCRIBER_REF_QUALIFIERS
    else:
        name_seg = nm1(f"{name} Name", ("QC",), (), "S", ("1",))
        refs = cl.DEPENDENT_REF_QUALIFIERS
    children: list[Seg | Loop] = [
        name_seg,
        ref(f"{name} Supplemental Identification", refs, "0150", "9"),
        n3(f"{name} Address"),
        n4(f"{name} City, State, ZIP Code"),
    ]
    if response:
        children.append(aaa(f"{name} Request Validation", cl.AAA03_MEMBER, "0500"))
    children += [dmg(f"{name} Demographic Information"), ins(f"{name} Relationship", subscriber)]
    return Loop(xid, f"{name} Name", "R", "0500", "1", children)


def event_loop(response: bool) -> Loop:
    children: list[Seg | Loop] = [hl("Patient Event Level", "EV", True, ("0", "1"))]
    if response:
        children += [
            trn("Patient Event Tracking Number", ("1", "2"), "3"),
            aaa("Patient Event Request Validation", cl.AAA03_EVENT, "0250"),
            um("Health Care Services Review Information", cl.UM01_CATEGORIES, True, False),
            hcr("Health Care Services Review", cl.HCR01_EVENT),
            ref("Previous Review or Administrative Reference Number", ("BB", "NT"), "0400", "2"),
            dtp("Patient Event Dates", cl.DTP_EVENT_RESPONSE, "10"),
            hi("Patient Diagnosis", cl.HI_DIAGNOSIS_FIRST, cl.HI_DIAGNOSIS_OTHER),
            hsd("Health Care Services Delivery"),
            cl1(),
            pwk("Additional Patient Information"),
            msg("Message Text"),
            provider_loop("2010EA", "Patient Event Provider Name", "1700", "12", True),
            Loop(
                "2010EB",
                "Additional Patient Information Contact Name",
                "S",
                "1700",
                "1",
                [
                    nm1(
                        "Additional Patient Information Contact Name",
                        cl.CONTACT_ENTITIES,
                        cl.PROVIDER_ID_QUALIFIERS,
                        "S",
                    ),
                    n3("Additional Patient Information Contact Address"),
                    n4("Additional Patient Information Contact City, State, ZIP Code"),
                    per("Additional Patient Information Contact Information"),
                ],
            ),
            service_loop(True),
        ]
    else:
        children += [
            trn("Patient Event Tracking Number", ("1",), "2"),
            um("Health Care Services Review Information", cl.UM01_CATEGORIES, False, False),
            ref("Previous Review or Administrative Reference Number", ("BB", "NT"), "0400", "2"),
            dtp("Patient Event Dates", cl.DTP_EVENT_REQUEST, "7"),
            hi("Patient Diagnosis", cl.HI_DIAGNOSIS_FIRST, cl.HI_DIAGNOSIS_OTHER),
            hsd("Health Care Services Delivery"),
            crc(),
            cl1(),
            pwk("Additional Patient Information"),
            msg("Message Text"),
            provider_loop("2010EA", "Patient Event Provider Name", "1700", "12", False),
            Loop(
                "2010EB",
                "Patient Event Transport Information",
                "S",
                "1700",
                "5",
                [
                    nm1(
                        "Patient Event Transport Information",
                        cl.TRANSPORT_ENTITIES,
                        (),
                        "S",
                        ("2",),
                        person=False,
                    ),
                    n3("Patient Event Transport Location Address"),
                    n4("Patient Event Transport Location City, State, ZIP Code"),
                ],
            ),
            Loop(
                "2010EC",
                "Patient Event Other UMO Name",
                "S",
                "1700",
                "1",
                [
                    nm1("Patient Event Other UMO Name", ("X3",), (), "S", ("2",), person=False),
                    ref("Other UMO Denial Reason", ("ZZ",), "0150", "1"),
                    dtp("Other UMO Denial Date", ("598",), "1", ("D8",)),
                ],
            ),
            service_loop(False),
        ]
    return Loop("2000E", "Patient Event Level", "S", "1800", ">1" if response else "1", children)


def service_loop(response: bool) -> Loop:
    children: list[Seg | Loop] = [hl("Service Level", "SS", True, ("0",))]
    if response:
        children += [
            trn("Service Trace Number", ("1", "2"), "3"),
            aaa("Service Request Validation", cl.AAA03_SERVICE, "0250"),
            um("Health Care Services Review Information", cl.UM01_SERVICE, True, True),
            hcr("Health Care Services Review", cl.HCR01_SERVICE),
            ref("Previous Review or Administrative Reference Number", ("BB", "NT"), "0400", "2"),
            dtp("Service Dates", cl.DTP_SERVICE_RESPONSE, "4"),
        ]
    else:
        children += [
            trn("Service Trace Number", ("1",), "2"),
            um("Health Care Services Review Information", cl.UM01_SERVICE, False, True),
            ref("Previous Review Authorization Number", ("BB", "NT"), "0400", "2"),
            dtp("Service Date", ("472",), "1"),
        ]
    children += [
        sv1(),
        sv2(),
        hsd("Health Care Services Delivery"),
        pwk("Additional Service Information"),
        msg("Message Text"),
        provider_loop(
            "2010F" if not response else "2010FA", "Service Provider Name", "1700", "25", response
        ),
    ]
    return Loop("2000F", "Service Level", "S", "1900", ">1", children)


def transaction(response: bool) -> Loop:
    purpose = ("11",) if response else ("01", "13")
    bht = Seg(
        "BHT",
        "Beginning of Hierarchical Transaction",
        "R",
        "0100",
        "1",
        [
            e(1, "1005", "Hierarchical Structure Code", "R", ("0007",)),
            e(2, "353", "Transaction Set Purpose Code", "R", purpose),
            e(3, "127", "Submitter Transaction Identifier", "R"),
            e(4, "373", "Transaction Set Creation Date", "R"),
            e(5, "337", "Transaction Set Creation Time", "R"),
            e(6, "640", "Transaction Type Code", "S", ("18", "19") if response else ("RU",)),
        ],
    )
    umo_name: list[Seg | Loop] = [
        nm1("Utilization Management Organization (UMO) Name", ("X3",), cl.UMO_ID_QUALIFIERS, "R"),
    ]
    if response:
        umo_name += [
            per("Utilization Management Organization (UMO) Contact Information"),
            aaa(
                "Utilization Management Organization (UMO) Request Validation", cl.AAA03_UMO, "0500"
            ),
        ]
    requester: list[Seg | Loop] = [
        nm1("Requester Name", cl.REQUESTER_ENTITIES, cl.PROVIDER_ID_QUALIFIERS, "R"),
        ref("Requester Supplemental Identification", cl.PROVIDER_REF_QUALIFIERS, "0150", "9"),
    ]
    if response:
        requester += [aaa("Requester Request Validation", cl.AAA03_REQUESTER, "0500")]
    else:
        requester += [
            n3("Requester Address"),
            n4("Requester City, State, ZIP Code"),
            per("Requester Contact Information"),
        ]
    requester.append(prv("Requester Provider Information"))
    level_2000a: list[Seg | Loop] = [
        hl("Utilization Management Organization (UMO) Level", "20", False, ("1",))
    ]
    if response:
        level_2000a.append(aaa("Request Validation", cl.AAA03_HEADER, "0250"))
    subscriber = Loop(
        "2000C",
        "Subscriber Level",
        "R",
        "1500",
        "1",
        [
            hl("Subscriber Level", "22", True, ("0", "1")),
            member_loop("2010C", "Subscriber", True, response),
            Loop(
                "2000D",
                "Dependent Level",
                "S",
                "1600",
                "1",
                [
                    hl("Dependent Level", "23", True, ("1",)),
                    member_loop("2010D", "Dependent", False, response),
                    event_loop(response),
                ],
            ),
            event_loop(response),
        ],
    )
    detail = Loop(
        "DETAIL",
        "Table 2 - Detail",
        "R",
        "0300",
        "1",
        [
            Loop(
                "2000A",
                "Utilization Management Organization (UMO) Level",
                "R",
                "0100",
                "1",
                level_2000a
                + [
                    Loop(
                        "2010A",
                        "Utilization Management Organization (UMO) Name",
                        "R",
                        "0500",
                        "1",
                        umo_name,
                    ),
                    Loop(
                        "2000B",
                        "Requester Level",
                        "R",
                        "1000",
                        "1",
                        [
                            hl("Requester Level", "21", True, ("1",)),
                            Loop("2010B", "Requester Name", "R", "0500", "1", requester),
                            subscriber,
                        ],
                    ),
                ],
            ),
        ],
        kind="wrapper",
    )
    st_loop = Loop(
        "ST_LOOP",
        "Transaction Set Header",
        "R",
        "0200",
        ">1",
        [
            ST,
            Loop("HEADER", "Table 1 - Header", "R", "0200", "1", [bht], kind="wrapper"),
            detail,
            SE,
        ],
        kind="explicit",
    )
    gs_loop = Loop(
        "GS_LOOP",
        "Functional Group Header",
        "R",
        "0200",
        ">1",
        [gs(("005010X217",)), st_loop, GE],
        kind="explicit",
    )
    return Loop(
        "ISA_LOOP",
        "Interchange Control Header",
        "R",
        "0010",
        ">1",
        [isa(("00501", "00401"), ISA11_5010), gs_loop, TA1, IEA],
        kind="explicit",
    )


def control(version: str) -> Loop:
    """The interchange control map pyx12 uses for ISA/IEA before it knows the transaction."""
    isa11 = (
        ISA11_5010
        if version == "00501"
        else e(11, "I10", "Interchange Control Standards Identifier", "R", ("U",))
    )
    gs_loop = Loop(
        "GS_LOOP",
        "Functional Group Header",
        "R",
        "0200",
        ">1",
        [gs(("005010X217", "005010X215", "005010X231A1")), GE],
        kind="explicit",
    )
    return Loop(
        "ISA_LOOP",
        "Interchange Control Header",
        "R",
        "0010",
        ">1",
        [isa((version,), isa11), gs_loop, TA1, IEA],
        kind="explicit",
    )


# ---------------------------------------------------------------- XML writing


def _element_xml(parent: etree._Element, item: El, xid: str) -> None:
    node = etree.SubElement(parent, "element", xid=xid)
    etree.SubElement(node, "data_ele").text = item.de
    etree.SubElement(node, "name").text = item.name
    etree.SubElement(node, "usage").text = item.usage
    etree.SubElement(node, "seq").text = f"{item.seq:02d}"
    if item.codes or item.external:
        codes = etree.SubElement(node, "valid_codes")
        if item.external:
            codes.set("external", item.external)
        for code in item.codes:
            etree.SubElement(codes, "code").text = code


def _segment_xml(parent: etree._Element, seg: Seg) -> None:
    node = etree.SubElement(parent, "segment", xid=seg.xid)
    etree.SubElement(node, "name").text = seg.name
    etree.SubElement(node, "usage").text = seg.usage
    etree.SubElement(node, "pos").text = seg.pos
    etree.SubElement(node, "max_use").text = seg.max_use
    for rule in seg.syntax:
        etree.SubElement(node, "syntax").text = rule
    for item in seg.items:
        if isinstance(item, Comp):
            comp = etree.SubElement(node, "composite", xid=f"{seg.xid}{item.seq:02d}")
            etree.SubElement(comp, "name").text = item.name
            etree.SubElement(comp, "usage").text = item.usage
            etree.SubElement(comp, "seq").text = f"{item.seq:02d}"
            for sub in item.subs:
                _element_xml(comp, sub, f"{seg.xid}{item.seq:02d}-{sub.seq:02d}")
        else:
            _element_xml(node, item, f"{seg.xid}{item.seq:02d}")


def _loop_xml(parent: etree._Element, loop: Loop) -> None:
    node = etree.SubElement(parent, "loop", xid=loop.xid)
    if loop.kind:
        node.set("type", loop.kind)
    etree.SubElement(node, "name").text = loop.name
    etree.SubElement(node, "usage").text = loop.usage
    etree.SubElement(node, "pos").text = loop.pos
    etree.SubElement(node, "repeat").text = loop.repeat
    for child in loop.children:
        if isinstance(child, Loop):
            _loop_xml(node, child)
        else:
            _segment_xml(node, child)


def _document(root: etree._Element, note: str) -> bytes:
    root.addprevious(etree.Comment(note))
    return etree.tostring(
        root.getroottree(), pretty_print=True, xml_declaration=True, encoding="UTF-8"
    )


NOTE = (
    " First written by tools/x12_mapgen.py from ASC X12 005010X217 facts; pyx12 map format. "
    "This file is the source of truth: both engines load it (the gateway's validator and "
    "pyx12, the oracle). "
)


def transaction_xml(response: bool) -> bytes:
    root = etree.Element("transaction", xid="278")
    etree.SubElement(root, "name").text = (
        "HIPAA Health Care Services Review: Response X217-278"
        if response
        else "HIPAA Health Care Services Review: Request for Review X217-278"
    )
    _loop_xml(root, transaction(response))
    return _document(root, NOTE)


def control_xml(version: str) -> bytes:
    root = etree.Element("transaction", xid="X12")
    etree.SubElement(root, "name").text = "X12 Control"
    _loop_xml(root, control(version))
    return _document(root, NOTE)


def dataele_xml() -> bytes:
    root = etree.Element("data_elements")
    extra = {
        "706": ("ID", 2, 2, "Entity Relationship Code"),
        "757": ("N0", 1, 2, "Report Copies Needed"),
        "1328": ("N0", 1, 2, "Diagnosis Code Pointer"),
        "1337": ("ID", 1, 1, "Multiple Procedure Code"),
        "1514": ("ID", 1, 2, "Delay Reason Code"),
        "1715": ("ID", 1, 3, "Country Subdivision Code"),
        "1213": ("ID", 1, 1, "Current Health Condition Code"),
    }
    for num, (dtype, lo, hi_, name) in sorted({**DATA_ELEMENTS, **extra}.items()):
        etree.SubElement(
            root,
            "data_ele",
            ele_num=num,
            data_type=dtype,
            min_len=str(lo),
            max_len=str(hi_),
            name=name,
        )
    return _document(root, NOTE)


def codes_xml() -> bytes:
    root = etree.Element("codesets")
    for cid, (name, de, codes) in cl.EXTERNAL_CODESETS.items():
        cs = etree.SubElement(root, "codeset")
        etree.SubElement(cs, "id").text = cid
        etree.SubElement(cs, "name").text = name
        etree.SubElement(cs, "data_ele").text = de
        version = etree.SubElement(cs, "version")
        for code in codes:
            etree.SubElement(version, "code").text = code
    return _document(root, NOTE)


def maps_xml() -> bytes:
    import x12_mapgen_x215 as x215  # beside this file; it builds on the segments above

    root = etree.Element("maps")
    for icvn in ("00501", "00401"):
        version = etree.SubElement(root, "version", icvn=icvn)
        # Request first: pyx12 4.0.0 looks 005010 maps up without BHT02, so the first entry
        # is what a bare x12n_document(map_path=...) uses; gateway.x12.oracle selects by tspc.
        etree.SubElement(
            version, "map", vriic="005010X217", fic="HI", tspc="13", abbr="278Q"
        ).text = REQUEST_MAP
        etree.SubElement(
            version, "map", vriic="005010X217", fic="HI", tspc="01", abbr="278Q"
        ).text = REQUEST_MAP
        etree.SubElement(
            version, "map", vriic="005010X217", fic="HI", tspc="11", abbr="278R"
        ).text = RESPONSE_MAP
        # The inquiry guide (x12_mapgen_x215.py): request first for the same reason.
        etree.SubElement(
            version, "map", vriic="005010X215", fic="HI", tspc="13", abbr="278I"
        ).text = x215.REQUEST_MAP
        etree.SubElement(
            version, "map", vriic="005010X215", fic="HI", tspc="11", abbr="278J"
        ).text = x215.RESPONSE_MAP
        etree.SubElement(
            version, "map", vriic="", fic="", abbr="X12"
        ).text = f"x12.control.{icvn}.xml"
    return _document(
        root,
        " Registry of the 005010X217 (review) and 005010X215 (inquiry) maps for pyx12 "
        "map_path= (and the gateway). tspc is BHT02: 13 request or inquiry, 01 cancellation, "
        "11 response. ",
    )


def outputs() -> dict[str, bytes]:
    import x12_mapgen_x215 as x215

    return {
        REQUEST_MAP: transaction_xml(False),
        RESPONSE_MAP: transaction_xml(True),
        "x12.control.00501.xml": control_xml("00501"),
        "x12.control.00401.xml": control_xml("00401"),
        "dataele.xml": dataele_xml(),
        "codes.xml": codes_xml(),
        "maps.xml": maps_xml(),
        **x215.outputs(),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="x12_mapgen.py",
        description=(
            "Write the 005010X217 request and response maps, the control maps, dataele.xml, "
            "codes.xml and maps.xml (pyx12 map XML) from the facts in tools/x12_codelists.py. "
            "mappings/x12 is the source of truth once written: a file that differs from what "
            "this tool would write (a payer's edit) is kept unless --force is given."
        ),
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=MAP_DIR,
        help=f"folder to write the map files to (default: {MAP_DIR})",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; list the files in --out that differ from the facts (exit 1 if any)",
    )
    parser.add_argument(
        "--force", action="store_true", help="overwrite files that differ (edits are lost)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    target: Path = args.out
    differ = [
        name
        for name, content in outputs().items()
        if (target / name).is_file() and (target / name).read_bytes() != content
    ]
    if args.check:
        for name in differ:
            print(f"differs from the facts: {target / name}")
        return 1 if differ else 0
    target.mkdir(parents=True, exist_ok=True)
    for name, content in outputs().items():
        path = target / name
        if name in differ and not args.force:
            print(f"kept {path} (edited; --force to overwrite)", file=sys.stderr)
            continue
        path.write_bytes(content)
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
