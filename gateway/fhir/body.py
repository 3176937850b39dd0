"""A FHIR request body read as JSON with its work bounded (issue 18, item 4).

Every check here is linear in the size of the body and runs before anything else looks at it,
so a hostile body is refused in milliseconds instead of costing the server seconds:

- the bytes must be UTF-8 (RFC 8259 section 8.1; R4 http.html#mime-type): UTF-16/32, invalid
  sequences and NUL bytes are refused before parsing (json.loads would guess UTF-16 from bytes);
- how many containers and values a body may hold is counted on the raw bytes first (a C-speed
  count that bounds what the parser builds), then exactly while walking the parsed value;
- integers and decimals longer than any FHIR number are refused from the parser's own hooks,
  so Python never converts a 5,000-digit string (R4 integer is 32-bit, integer64 19 digits);
- nesting deeper than any PAS resource needs is refused (the C parser would recurse until a
  RecursionError; pydantic and the reference walk would recurse after it);
- a string may not exceed its element's bound: short for ids, urls, references, codes and
  identifiers, the R4 1 MB bound for free text, none here for base64 data (the attachment
  limits name those); no lone surrogate (not encodable as UTF-8) and no NUL character (neither
  PostgreSQL nor a letter can carry one).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

# Deepest nesting a PAS request reaches is about 12 (Bundle.entry.resource.item.extension.
# extension.valueCodeableConcept.coding); nested QuestionnaireResponse items add a few levels.
MAX_DEPTH = 64
# '[' and '{' bytes, and ',' bytes, on the raw body: these overcount (brackets and commas inside
# strings count too) but bound what json.loads can be made to build.
MAX_RAW_CONTAINERS = 100_000
MAX_RAW_COMMAS = 500_000
# Containers, scalars and keys of the parsed value, counted exactly.
MAX_VALUES = 100_000
# The longest number a FHIR JSON value has: integer64 has 19 digits and a sign; decimals keep
# 18 significant digits (R4 datatypes.html#decimal) with room for an exponent.
MAX_NUMBER_CHARS = 32
MAX_KEY_CHARS = 128  # element names, with a choice-type suffix or a leading underscore
MAX_SHORT_STRING = 4_096  # ids, uris, references, codes, identifiers, display names
MAX_TEXT_STRING = 1_048_576  # R4 datatypes.html#string: "SHALL NOT exceed 1MB"
# Elements that carry free text (up to MAX_TEXT_STRING) or base64 data (bounded by the body
# limit and the attachment limits, which name the attachment).
TEXT_KEYS = frozenset(
    {"div", "text", "valueString", "valueMarkdown", "description", "comment", "note"}
)
BASE64_KEYS = frozenset({"data", "valueBase64Binary"})
MAX_ID = 64  # Resource.id is an R4 id, [A-Za-z0-9\-\.]{1,64} (an element's id is a string)


@dataclass
class BodyRefused(Exception):
    """Why a body is refused: an HTTP status, an R4 issue-type code and a plain sentence."""

    status: int
    code: str
    text: str
    expression: str = "Bundle"

    def __str__(self) -> str:
        return self.text


def read_json(raw: bytes) -> Any:
    """The parsed body, or BodyRefused (400 for a malformed body, 413 for one too costly)."""
    text = _decode(raw)
    if raw.count(b"[") + raw.count(b"{") > MAX_RAW_CONTAINERS:
        raise BodyRefused(
            413, "too-costly", f"The body holds more than {MAX_RAW_CONTAINERS} objects and arrays"
        )
    if raw.count(b",") > MAX_RAW_COMMAS:
        raise BodyRefused(413, "too-costly", f"The body holds more than {MAX_RAW_COMMAS} values")
    try:
        value = json.loads(text, parse_int=_integer, parse_float=_decimal, parse_constant=_constant)
    except BodyRefused:
        raise
    except RecursionError:
        raise BodyRefused(
            413, "too-costly", f"The body nests deeper than {MAX_DEPTH} levels"
        ) from None
    except json.JSONDecodeError as exc:
        raise BodyRefused(400, "structure", f"The body is not JSON: {exc}") from None
    except ValueError as exc:  # a number the hooks let through but float()/int() refuse
        raise BodyRefused(400, "structure", f"The body is not JSON: {exc}") from None
    # Most bodies are within every bound: a lean walk says so; any doubt, and the exact walk
    # (check_value) finds the first breach, with its path, as it always did.
    if not _plainly_within(value, escapes=b"\\u" in raw):
        check_value(value)
    return value


def _plainly_within(value: Any, escapes: bool) -> bool:
    """True only when check_value would pass `value` (json.loads output): the same bounds, with
    no paths built and no call per value (check_value cost five times the parse). False is
    doubt, not a refusal. `escapes`: the raw body has a \\u escape, the only way a NUL or a lone
    surrogate gets into a string of valid UTF-8 text without NUL bytes."""
    if type(value) is not dict and type(value) is not list:
        return False
    count = 1
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, depth, key = stack.pop()
        if depth > MAX_DEPTH:
            return False
        count += len(node)
        if type(node) is dict:
            resource = "resourceType" in node
            for name, item in node.items():
                if len(name) > MAX_KEY_CHARS or not name.isascii() or (escapes and "\x00" in name):
                    return False
                kind = type(item)
                if kind is str:
                    if len(item) > MAX_SHORT_STRING and not _long_allowed(name, item):
                        return False
                    if escapes and ("\x00" in item or not item.isascii()):
                        return False
                    if resource and name == "id" and len(item) > MAX_ID:
                        return False
                elif kind is dict or kind is list:
                    stack.append((item, depth + 1, name))
        else:
            for item in node:
                kind = type(item)
                if kind is str:
                    if len(item) > MAX_SHORT_STRING and not _long_allowed(key, item):
                        return False
                    if escapes and ("\x00" in item or not item.isascii()):
                        return False
                elif kind is dict or kind is list:
                    stack.append((item, depth + 1, key))
    return count <= MAX_VALUES


def _long_allowed(key: str, text: str) -> bool:
    """A string over the short bound is within its element's (as _check_string has it)."""
    return key in BASE64_KEYS or (key in TEXT_KEYS and len(text) <= MAX_TEXT_STRING)


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise BodyRefused(400, "structure", "The body must be UTF-8 JSON; it is UTF-16 or UTF-32")
    if b"\x00" in raw:
        raise BodyRefused(400, "structure", "The body holds a NUL byte; it must be UTF-8 JSON")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyRefused(
            400, "structure", f"The body is not UTF-8: invalid byte at offset {exc.start}"
        ) from None
    # RFC 8259 section 8.1: a parser MAY ignore a byte order mark; json.loads does not.
    return text.removeprefix("\ufeff")


def _integer(digits: str) -> int:
    if len(digits) > MAX_NUMBER_CHARS:
        raise BodyRefused(
            400, "value", f"A number of {len(digits)} digits is longer than any FHIR integer"
        )
    return int(digits)


def _decimal(literal: str) -> float:
    if len(literal) > MAX_NUMBER_CHARS:
        raise BodyRefused(
            400, "value", f"A number of {len(literal)} characters is longer than any FHIR decimal"
        )
    value = float(literal)
    if not math.isfinite(value):
        raise BodyRefused(400, "value", f"The number {literal} is out of range")
    return value


def _constant(name: str) -> Any:
    raise BodyRefused(400, "structure", f"{name} is not a JSON number (RFC 8259 section 6)")


def check_value(value: Any) -> None:
    """Depth, count and string bounds of a parsed JSON value, walked without recursion."""
    seen = 0
    root = value.get("resourceType") if isinstance(value, dict) else None
    if not (isinstance(root, str) and root.isascii() and root.isalpha() and len(root) <= 64):
        root = "Bundle"
    stack: list[tuple[Any, int, str, str]] = [(value, 1, "", root)]
    while stack:
        node, depth, key, path = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise BodyRefused(413, "too-costly", f"The body holds more than {MAX_VALUES} values")
        if isinstance(node, str):
            _check_string(node, key, path)
        elif isinstance(node, dict):
            if depth > MAX_DEPTH:
                raise BodyRefused(
                    413, "too-costly", f"The body nests deeper than {MAX_DEPTH} levels", path
                )
            resource = "resourceType" in node
            for name, item in node.items():
                _check_key(name, path)
                if resource and name == "id" and isinstance(item, str) and len(item) > MAX_ID:
                    raise BodyRefused(
                        400, "value", f"id of {len(item)} characters exceeds {MAX_ID}", path + ".id"
                    )
                if isinstance(item, (dict, list, str)):
                    stack.append((item, depth + 1, name, f"{path}.{name}"))
                else:
                    seen += 1
        elif isinstance(node, list):
            if depth > MAX_DEPTH:
                raise BodyRefused(
                    413, "too-costly", f"The body nests deeper than {MAX_DEPTH} levels", path
                )
            for index, item in enumerate(node):
                if isinstance(item, (dict, list, str)):
                    # An array's items are bound as their element is (a list of `given`).
                    stack.append((item, depth + 1, key, f"{path}[{index}]"))
                else:
                    seen += 1


def _check_key(name: str, path: str) -> None:
    if len(name) > MAX_KEY_CHARS:
        raise BodyRefused(
            400, "structure", f"An element name of {len(name)} characters is not FHIR", path
        )
    _check_characters(name, path)


def _check_string(text: str, key: str, path: str) -> None:
    if key in BASE64_KEYS:
        limit = None
    elif key in TEXT_KEYS:
        limit = MAX_TEXT_STRING
    else:
        limit = MAX_SHORT_STRING
    if limit is not None and len(text) > limit:
        raise BodyRefused(
            400,
            "value",
            f"{key or 'A string'} of {len(text)} characters exceeds {limit} characters",
            path,
        )
    _check_characters(text, path)


def _check_characters(text: str, path: str) -> None:
    if "\x00" in text:
        raise BodyRefused(400, "value", "A string holds a NUL character (\\u0000)", path)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BodyRefused(
                400, "value", "A string holds a lone UTF-16 surrogate (not Unicode text)", path
            ) from None
