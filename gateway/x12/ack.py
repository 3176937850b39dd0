"""TA1 (interchange acknowledgment) and 999 (005010X231A1 implementation acknowledgment).

The gateway writes these itself (DESIGN.md decision 2): GS08/ST03 005010X231A1, its own control
numbers, a CTX business-unit identifier (the patient event's TRN02) in every IK3 loop, and a
TA1 only ever as its own interchange.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gateway.x12.envelope import ACK_IMPLEMENTATION
from gateway.x12.numbers import ControlNumbers
from gateway.x12.outbound import InterchangeBuilder, ReceivedHeader, clean, seg, transaction_set
from gateway.x12.validate import SegmentError, TransactionReport


def write_ta1(
    header: ReceivedHeader,
    *,
    note_code: str,
    ack_code: str = "R",
    x12_id: str,
    control_numbers: ControlNumbers,
    now: datetime,
) -> str:
    """An interchange holding one TA1: TA104 A/E/R, TA105 the note code (X12 I18; 000 when
    there is nothing to note). TA102/TA103 echo the received ISA09/ISA10 as they came, also
    when they are what is wrong (note 014/015): the partner finds its interchange by them.
    Only a value that cannot be echoed (none read, or holding a delimiter) becomes the
    gateway's date and time."""
    control = (
        header.control_number
        if header.control_number.isdigit() and len(header.control_number) == 9
        else "000000000"
    )
    date = _echoed(header.date) or now.strftime("%y%m%d")
    time = _echoed(header.time) or now.strftime("%H%M")
    builder = InterchangeBuilder(header, x12_id=x12_id, control_numbers=control_numbers, now=now)
    builder.add_raw(seg("TA1", control, date, time, ack_code, note_code))
    return builder.render(groups=0)


def _echoed(value: str) -> str:
    """A received ISA value fit to echo: present, and with no delimiter or control character."""
    return value if value and value == clean(value) else ""


@dataclass
class GroupAck:
    """What one received functional group's 999 says."""

    fic: str  # GS01
    control_number: str  # GS06
    version: str  # GS08 (as the sender should have written it)
    reports: list[TransactionReport] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # AK905..AK909
    included: int | None = None  # GE01 when readable

    @property
    def accepted(self) -> int:
        if self.codes:
            return 0
        return sum(1 for report in self.reports if report.accepted)

    @property
    def status(self) -> str:
        """AK901: A accepted, P partially accepted, R rejected."""
        if self.codes or not self.reports or self.accepted == 0:
            return "R"
        return "A" if self.accepted == len(self.reports) else "P"


def _ik3_loop(error: SegmentError, business_unit: str | None) -> list[str]:
    # IK303 is data element 447, AN 1/4: a guide loop id longer than that (2010C) is sent as
    # its loop number (2010); IK301 and IK302 still name the exact segment.
    lines = [
        seg(
            "IK3",
            clean(error.seg_id)[:3] or "UNK",
            str(error.position),
            (error.loop_id or "")[:4],
            error.code,
        )
    ]
    if business_unit:
        lines.append(seg("CTX", f"TRN02:{business_unit}"))
    for item in error.elements:
        position = (
            str(item.position) if item.component is None else f"{item.position}:{item.component}"
        )
        value = clean(item.value, 99) if item.value else ""
        lines.append(seg("IK4", position, item.data_ele or "", item.code, value))
    return lines


def ack_999_body(group: GroupAck) -> list[str]:
    """AK1 .. AK9 for one received functional group."""
    body = [seg("AK1", group.fic, group.control_number, group.version)]
    for report in group.reports:
        body.append(seg("AK2", report.st01 or "278", report.st02, report.st03))
        unit = clean(report.business_unit, 28) if report.business_unit else None
        for error in report.errors:
            body += _ik3_loop(error, unit)
        accepted = report.accepted and not group.codes
        body.append(seg("IK5", "A" if accepted else "R", *([] if accepted else report.ik5_codes)))
    included = group.included if group.included is not None else len(group.reports)
    body.append(
        seg(
            "AK9",
            group.status,
            str(included),
            str(len(group.reports)),
            str(group.accepted),
            *group.codes[:5],
        )
    )
    return body


def write_999(
    groups: list[GroupAck],
    header: ReceivedHeader,
    *,
    x12_id: str,
    control_numbers: ControlNumbers,
    now: datetime,
) -> str:
    """One 999 interchange: a functional group FA with one 999 per received group."""
    builder = InterchangeBuilder(header, x12_id=x12_id, control_numbers=control_numbers, now=now)
    sets = [
        transaction_set("999", number, ACK_IMPLEMENTATION, ack_999_body(group))
        for number, group in enumerate(groups, start=1)
    ]
    builder.add_group("FA", ACK_IMPLEMENTATION, sets)
    return builder.render()
