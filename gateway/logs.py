"""Structured logs: one JSON object a line, with case and job ids, never PHI.

Call sites pass identifiers through `extra=` (case_id, job_id, partner_id); the formatter writes
only the message and those whitelisted fields, so a stray attribute cannot leak a name.

Messages of other libraries are scrubbed on the way out (issue 18): at every level, down to
uvicorn's TRACE (which logs each ASGI scope with its raw path and query string), a member id in
the path of /eligibility/{member_id}, a query string and an Authorization credential are
replaced before anything is written.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

# uvicorn's most verbose level (its ASGI message trace); named here so GATEWAY_LOG_LEVEL=TRACE
# works before uvicorn has configured anything.
TRACE = 5
logging.addLevelName(TRACE, "TRACE")

# Path segments that are a member id: the route template's name takes their place.
_MEMBER_ID_PATH = re.compile(r"(?i)(/eligibility/+)(?!\{member_id\})[^\s'\"?#/\\]+")
# A URL's query string (uvicorn's access line) and the ASGI scope's query_string (its trace).
_URL_QUERY = re.compile(r"\?[^\s'\"=&#]+=[^\s'\"#]*")
_SCOPE_QUERY = re.compile(r"('query_string': b?)(['\"]).+?\2")
# An Authorization value (a bearer token, a Basic secret) wherever it turns up in a message.
_CREDENTIAL = re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{8,}")


def redact(text: str) -> str:
    """The text with member ids in paths, query strings and credentials replaced."""
    text = _MEMBER_ID_PATH.sub(r"\1{member_id}", text)
    text = _SCOPE_QUERY.sub(r"\1\2(redacted)\2", text)
    text = _URL_QUERY.sub("?(redacted)", text)
    return _CREDENTIAL.sub(r"\1\2(redacted)", text)


class Redact(logging.Filter):
    """A handler filter: each record's message is rendered and scrubbed before any formatter
    sees it, whichever library logged it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a record whose arguments do not fit its format: keep only the format
            message = str(record.msg)
        record.msg, record.args = redact(message), None
        return True


def level_of(level: str | int) -> int:
    """A level by name (DEBUG, TRACE, ...) or number; ValueError for anything else."""
    if isinstance(level, int):
        return level
    text = level.strip().upper()
    if text.isdigit():
        return int(text)
    value = logging.getLevelName(text)
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r} (TRACE, DEBUG, INFO, WARNING, ERROR)")
    return value


SAFE_FIELDS = (
    "case_id",
    "job_id",
    "partner_id",
    "status",
    "review_action",
    "kind",
    "state",
    "attempts",
    "control_number",
    "transactions",
    "path",
    "method",
    "status_code",
    "duration_ms",
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "at": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in SAFE_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["error"] = record.exc_info[0].__name__ if record.exc_info[0] else None
        return json.dumps(entry, default=str)


def configure(level: str | int = "INFO") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(Redact())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_of(level))
