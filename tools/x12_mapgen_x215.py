"""Authoring aid: the 005010X215 maps (278 Health Care Services Review Inquiry and its response).

The X215 guide asks after a review already requested: the inquiry names the UMO (2000A/2010A),
the requester (2000B/2010B), the subscriber (2000C/2010C) or dependent (2000D/2010D), and the
patient event asked about (2000E: the submitter's TRN, UM, the certification number in REF BB or
the UMO's reference in REF NT, event dates), optionally down to a service (2000F). The response
repeats that hierarchy with AAA where the request could not be matched, and per patient event the
current status: HCR (action, certification number), REF, and the certified dates in DTP.

It shares the segment builders of tools/x12_mapgen.py (the envelope, NM1, REF, DMG ...) and
differs where the inquiry guide does: ST03/GS08 005010X215, BHT06 not used, no clinical detail
(no CRC, CL1, HSD, PWK in the inquiry), no address or contact for the members. As for X217, the
XML it wrote is the truth once committed (mappings/x12/278.5010.X215.*.xml); x12_mapgen.py
--check compares these files too.
"""

from __future__ import annotations

import x12_codelists as cl
from lxml import etree
from x12_mapgen import (
    GE,
    IEA,
    ISA11_5010,
    SE,
    TA1,
    Loop,
    Seg,
    _document,
    _loop_xml,
    aaa,
    dmg,
    dtp,
    e,
    gs,
    hcr,
    hi,
    hl,
    ins,
    isa,
    msg,
    n3,
    n4,
    nm1,
    nu,
    per,
    prv,
    ref,
    sv1,
    sv2,
    trn,
    um,
)

IMPLEMENTATION = "005010X215"
REQUEST_MAP = "278.5010.X215.request.xml"
RESPONSE_MAP = "278.5010.X215.response.xml"

# DTP qualifiers [374] of an inquiry's patient event: the dates that identify the event asked
# about (accident, onset, admission, discharge, event date); the response adds the certification
# dates: 102 issue, 007 effective, 036 expiration.
DTP_INQUIRY_EVENT = ("439", "431", "435", "096", "AAH")
DTP_INQUIRY_EVENT_RESPONSE = DTP_INQUIRY_EVENT + ("102", "007", "036")
DTP_INQUIRY_SERVICE_RESPONSE = ("472", "102", "007", "036")

ST_X215 = Seg(
    "ST",
    "Transaction Set Header",
    "R",
    "0100",
    "1",
    [
        e(1, "143", "Transaction Set Identifier Code", "R", ("278",)),
        e(2, "329", "Transaction Set Control Number", "R"),
        e(3, "1705", "Implementation Convention Reference", "R", (IMPLEMENTATION,)),
    ],
)


def _provider_loop(xid: str, name: str, pos: str, repeat: str, response: bool) -> Loop:
    children: list[Seg | Loop] = [
        nm1(name, cl.EVENT_PROVIDER_ENTITIES, cl.PROVIDER_ID_QUALIFIERS, "S"),
        ref(f"{name} Supplemental Identification", cl.PROVIDER_REF_QUALIFIERS, "0150", "7"),
        n3(f"{name} Address"),
        n4(f"{name} City, State, ZIP Code"),
    ]
    if response:
        children.append(aaa(f"{name} Request Validation", cl.AAA03_PROVIDER, "0500"))
    children.append(prv(f"{name} Information"))
    return Loop(xid, name, "S", pos, repeat, children)


def _member_loop(xid: str, name: str, subscriber: bool, response: bool) -> Loop:
    if subscriber:
        name_seg = nm1(f"{name} Name", ("IL",), ("MI",), "R", ("1",))
        refs = cl.SUBSCRIBER_REF_QUALIFIERS
    else:
        name_seg = nm1(f"{name} Name", ("QC",), (), "S", ("1",))
        refs = cl.DEPENDENT_REF_QUALIFIERS
    children: list[Seg | Loop] = [
        name_seg,
        ref(f"{name} Supplemental Identification", refs, "0150", "9"),
    ]
    if response:
        children.append(aaa(f"{name} Request Validation", cl.AAA03_MEMBER, "0500"))
    children += [dmg(f"{name} Demographic Information"), ins(f"{name} Relationship", subscriber)]
    return Loop(xid, f"{name} Name", "R", "0500", "1", children)


def _service_loop(response: bool) -> Loop:
    children: list[Seg | Loop] = [hl("Service Level", "SS", True, ("0",))]
    if response:
        children += [
            trn("Service Trace Number", ("1", "2"), "3"),
            aaa("Service Request Validation", cl.AAA03_SERVICE, "0250"),
            um("Health Care Services Review Information", cl.UM01_SERVICE, True, True),
            hcr("Health Care Services Review", cl.HCR01_SERVICE),
            ref("Previous Review or Administrative Reference Number", ("BB", "NT"), "0400", "2"),
            dtp("Service Dates", DTP_INQUIRY_SERVICE_RESPONSE, "4"),
        ]
    else:
        children += [
            trn("Service Trace Number", ("1",), "1"),
            um("Health Care Services Review Information", cl.UM01_SERVICE, True, True),
            ref("Previous Review or Administrative Reference Number", ("BB", "NT"), "0400", "2"),
            dtp("Service Date", ("472",), "1"),
        ]
    children += [sv1(), sv2()]
    if response:
        children.append(msg("Message Text"))
    children.append(
        _provider_loop(
            "2010F", "Service Provider Name", "1700", "25" if response else "3", response
        )
    )
    return Loop("2000F", "Service Level", "S", "1900", ">1", children)


def _event_loop(response: bool) -> Loop:
    children: list[Seg | Loop] = [hl("Patient Event Level", "EV", True, ("0", "1"))]
    if response:
        children += [
            trn("Patient Event Tracking Number", ("1", "2"), "3"),
            aaa("Patient Event Request Validation", cl.AAA03_EVENT, "0250"),
            um("Health Care Services Review Information", cl.UM01_CATEGORIES, True, False),
            hcr("Health Care Services Review", cl.HCR01_EVENT),
            ref("Previous Review or Administrative Reference Number", ("BB", "NT"), "0400", "2"),
            dtp("Patient Event Dates", DTP_INQUIRY_EVENT_RESPONSE, "8"),
            hi("Patient Diagnosis", cl.HI_DIAGNOSIS_FIRST, cl.HI_DIAGNOSIS_OTHER),
            msg("Message Text"),
        ]
    else:
        # TRN (the submitter's trace of the request asked about) or REF BB (the certification
        # number) identifies the review; the guide leaves both situational.
        children += [
            trn("Patient Event Tracking Number", ("1",), "1"),
            um("Health Care Services Review Information", cl.UM01_CATEGORIES, True, False),
            ref("Previous Review or Administrative Reference Number", ("BB", "NT"), "0400", "2"),
            dtp("Patient Event Dates", DTP_INQUIRY_EVENT, "3"),
            hi("Patient Diagnosis", cl.HI_DIAGNOSIS_FIRST, cl.HI_DIAGNOSIS_OTHER),
        ]
    children += [
        _provider_loop(
            "2010E", "Patient Event Provider Name", "1700", "12" if response else "3", response
        ),
        _service_loop(response),
    ]
    return Loop("2000E", "Patient Event Level", "S", "1800", ">1" if response else "1", children)


def transaction(response: bool) -> Loop:
    bht = Seg(
        "BHT",
        "Beginning of Hierarchical Transaction",
        "R",
        "0100",
        "1",
        [
            e(1, "1005", "Hierarchical Structure Code", "R", ("0007",)),
            e(2, "353", "Transaction Set Purpose Code", "R", ("11",) if response else ("13",)),
            e(3, "127", "Submitter Transaction Identifier", "R"),
            e(4, "373", "Transaction Set Creation Date", "R"),
            e(5, "337", "Transaction Set Creation Time", "R"),
            nu(6, "640", "Transaction Type Code"),
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
        requester.append(aaa("Requester Request Validation", cl.AAA03_REQUESTER, "0500"))
    else:
        requester += [n3("Requester Address"), n4("Requester City, State, ZIP Code")]
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
            _member_loop("2010C", "Subscriber", True, response),
            Loop(
                "2000D",
                "Dependent Level",
                "S",
                "1600",
                "1",
                [
                    hl("Dependent Level", "23", True, ("1",)),
                    _member_loop("2010D", "Dependent", False, response),
                    _event_loop(response),
                ],
            ),
            _event_loop(response),
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
            ST_X215,
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
        [gs((IMPLEMENTATION,)), st_loop, GE],
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


NOTE = (
    " First written by tools/x12_mapgen_x215.py from ASC X12 005010X215 facts; pyx12 map "
    "format. This file is the source of truth: both engines load it (the gateway's validator "
    "and pyx12, the oracle). "
)


def transaction_xml(response: bool) -> bytes:
    root = etree.Element("transaction", xid="278")
    etree.SubElement(root, "name").text = (
        "HIPAA Health Care Services Review: Inquiry Response X215-278"
        if response
        else "HIPAA Health Care Services Review: Inquiry X215-278"
    )
    _loop_xml(root, transaction(response))
    return _document(root, NOTE)


def outputs() -> dict[str, bytes]:
    return {REQUEST_MAP: transaction_xml(False), RESPONSE_MAP: transaction_xml(True)}
