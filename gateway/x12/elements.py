"""Element-level checks of one segment against its map definition (X12.6 syntax, 005010X217).

Returns 999 IK4 facts: element position, component position, data element number and the
IK403 code (1 required missing, 2 conditional missing, 3 too many elements, 4 too short,
5 too long, 6 invalid character, 7 invalid code, 8 invalid date, 9 invalid time, 10 exclusion,
12 too many repetitions, 13 too many components, I10 not-used present, I12 pattern failure).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.x12.grammar import CompositeSpec, ElementSpec, SegmentSpec
from gateway.x12.tokens import Delimiters, Segment

# X12 005010 extended character set (X12.6 section 3.3): letters, digits, space and these.
_BAD_CHAR = re.compile(r"[^A-Za-z0-9!\"&'()*+,\-./:;?= %~@\[\]_{}\\|<>^`#$]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUMERIC = re.compile(r"-?[0-9]+")
_DECIMAL = re.compile(r"-?[0-9]*(\.[0-9]+)?")
_DIGITS = re.compile(r"[0-9]+")


@dataclass(slots=True)
class ElementError:
    position: int  # IK401-1 element position in the segment
    component: int | None  # IK401-2
    data_ele: str | None  # IK402
    code: str  # IK403
    value: str | None = None  # IK404, copy of the bad data (when there is one)


def valid_date(value: str) -> bool:
    """CCYYMMDD (or YYMMDD / CCYYMMDDHHMM) with a real calendar day; years before 1800 refused."""
    if not _DIGITS.fullmatch(value) or len(value) not in (6, 8, 12):
        return False
    if len(value) == 6:
        value = ("20" if int(value[:2]) < 50 else "19") + value
    year, month, day = int(value[:4]), int(value[4:6]), int(value[6:8])
    if year < 1800 or not 1 <= month <= 12:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = (31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]
    if not 1 <= day <= days:
        return False
    return len(value) == 8 or valid_time(value[8:12])


def valid_time(value: str) -> bool:
    """HHMM, HHMMSS or HHMMSSd..d (X12 TM)."""
    if not _DIGITS.fullmatch(value) or len(value) < 4:
        return False
    if value[:2] > "23" or value[2:4] > "59":
        return False
    if len(value) > 4 and (len(value) < 6 or value[4:6] > "59" or len(value) > 8):
        return False
    return True


def valid_period(fmt: str, value: str) -> bool:
    """DTP03-style value against its format qualifier (D8 date, RD8 range)."""
    if fmt == "D8":
        return len(value) == 8 and valid_date(value)
    if fmt == "RD8":
        start, sep, end = value.partition("-")
        return (
            bool(sep)
            and len(start) == 8
            and len(end) == 8
            and valid_date(start)
            and valid_date(end)
        )
    return True


def _measure(spec: ElementSpec, value: str) -> int:
    # Numeric lengths count digits only: sign and decimal point are not significant (X12.6).
    if spec.dtype == "R" or spec.dtype.startswith("N"):
        return len(value.replace("-", "").replace(".", ""))
    return len(value)


def check_value(
    spec: ElementSpec,
    value: str,
    position: int,
    component: int | None,
    delims: Delimiters,
    fmt: str | None = None,
) -> list[ElementError]:
    """All faults of one non-empty simple value."""
    errors: list[ElementError] = []
    if spec.usage == "N":
        return [ElementError(position, component, spec.data_ele, "I10", value)]
    length = _measure(spec, value)
    if length < spec.min_len:
        errors.append(ElementError(position, component, spec.data_ele, "4", value))
    if length > spec.max_len:
        errors.append(ElementError(position, component, spec.data_ele, "5", value))
    if _CONTROL.search(value):
        errors.append(ElementError(position, component, spec.data_ele, "6", value))
        return errors
    dtype = spec.dtype
    if dtype in ("AN", "ID") and value[-1] == " " and len(value.rstrip()) >= spec.min_len:
        errors.append(ElementError(position, component, spec.data_ele, "6", value))
    if delims.repetition and delims.repetition in value:
        errors.append(ElementError(position, component, spec.data_ele, "12", value))
    if spec.codes is not None and value not in spec.codes:
        errors.append(ElementError(position, component, spec.data_ele, "7", value))
    if dtype in ("AN", "ID"):
        if _BAD_CHAR.search(value):
            errors.append(ElementError(position, component, spec.data_ele, "6", value))
    elif dtype == "DT":
        if not valid_date(value):
            errors.append(ElementError(position, component, spec.data_ele, "8", value))
    elif dtype == "TM":
        if not valid_time(value):
            errors.append(ElementError(position, component, spec.data_ele, "9", value))
    elif dtype == "R":
        if not _DECIMAL.fullmatch(value):
            errors.append(ElementError(position, component, spec.data_ele, "6", value))
    elif dtype.startswith("N") and not _NUMERIC.fullmatch(value):
        errors.append(ElementError(position, component, spec.data_ele, "6", value))
    if fmt is not None and not valid_period(fmt, value):
        errors.append(ElementError(position, component, spec.data_ele, "8", value))
    return errors


def _composite(
    spec: CompositeSpec, value: str, position: int, delims: Delimiters
) -> list[ElementError]:
    parts = value.split(delims.component) if value else []
    if not any(parts):
        if spec.usage == "R":
            return [ElementError(position, None, None, "1")]
        return []
    if spec.usage == "N":
        return [ElementError(position, None, None, "I10", value)]
    errors: list[ElementError] = []
    if len(parts) > len(spec.subs):
        errors.append(ElementError(position, len(spec.subs) + 1, None, "13", value))
    fmt: str | None = None
    for index, sub in enumerate(spec.subs):
        part = parts[index] if index < len(parts) else ""
        if sub.data_ele == "1250":
            fmt = part or None
        if part:
            errors += check_value(
                sub, part, position, sub.seq, delims, fmt if sub.data_ele == "1251" else None
            )
        elif sub.usage == "R":
            errors.append(ElementError(position, sub.seq, sub.data_ele, "1"))
    return errors


_CACHE: dict[tuple[int, tuple[str, str, str | None], tuple[str, ...]], list[ElementError]] = {}
_CACHE_LIMIT = 20_000
# Segments whose values are new in every transaction set: caching them would only grow memory.
_UNIQUE = frozenset({"ST", "SE", "BHT", "TRN"})


def check_segment(spec: SegmentSpec, seg: Segment, delims: Delimiters) -> list[ElementError]:
    """Element, component and syntax-rule faults of one segment matched to `spec`.

    Batches repeat the same segments (payer, providers, codes) thousands of times, and the
    outcome depends only on the map node, the delimiters and the values: memoised.
    """
    if seg.seg_id in _UNIQUE:
        return _check_segment(spec, seg, delims)
    key = (id(spec), (delims.element, delims.component, delims.repetition), tuple(seg.elements))
    found = _CACHE.get(key)
    if found is None:
        if len(_CACHE) >= _CACHE_LIMIT:
            _CACHE.clear()
        found = _CACHE[key] = _check_segment(spec, seg, delims)
    return list(found)


def _check_segment(spec: SegmentSpec, seg: Segment, delims: Delimiters) -> list[ElementError]:
    errors: list[ElementError] = []
    values = seg.elements
    items = spec.items
    if len(values) > len(items):
        errors.append(ElementError(len(items) + 1, None, None, "3", values[len(items)]))
    fmt: str | None = None
    for item in items:
        value = values[item.seq - 1] if item.seq <= len(values) else ""
        if isinstance(item, CompositeSpec):
            errors += _composite(item, value, item.seq, delims)
            continue
        if item.data_ele == "1250":
            fmt = value or None
        if not value:
            if item.usage == "R":
                errors.append(ElementError(item.seq, None, item.data_ele, "1"))
            continue
        if delims.component in value:
            errors.append(ElementError(item.seq, None, item.data_ele, "13", value))
            continue
        errors += check_value(
            item, value, item.seq, None, delims, fmt if item.data_ele == "1251" else None
        )
    for kind, refs in spec.syntax:
        errors += _syntax(kind, refs, values, items)
    return errors


def _present(values: list[str], ref: int) -> bool:
    return ref <= len(values) and values[ref - 1] != ""


def _data_ele(items: list[ElementSpec | CompositeSpec], ref: int) -> str | None:
    for item in items:
        if item.seq == ref:
            return item.data_ele if isinstance(item, ElementSpec) else None
    return None


def _syntax(
    kind: str, refs: tuple[int, ...], values: list[str], items: list[ElementSpec | CompositeSpec]
) -> list[ElementError]:
    """X12 relational conditions: P paired, R required, C conditional, L list, E exclusion."""
    present = [_present(values, ref) for ref in refs]
    missing: list[int] = []
    if kind == "P" and any(present) and not all(present):
        missing = [ref for ref, here in zip(refs, present, strict=True) if not here]
    elif kind == "R" and not any(present):
        missing = [refs[0]]
    elif kind == "C" and present[0] and not all(present[1:]):
        missing = [ref for ref, here in zip(refs[1:], present[1:], strict=True) if not here]
    elif kind == "L" and present[0] and not any(present[1:]):
        missing = [refs[1]]
    elif kind == "E" and sum(present) > 1:
        second = [ref for ref, here in zip(refs, present, strict=True) if here][1]
        return [ElementError(second, None, _data_ele(items, second), "10", values[second - 1])]
    return [ElementError(ref, None, _data_ele(items, ref), "2") for ref in missing[:1]]
