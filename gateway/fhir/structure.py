"""R4 structure of a resource through fhir.resources.R4B (DESIGN.md decision 3), with pydantic's
errors as issues, and a memo of the bundle entries already found valid.

A PAS client sends the same Patient, Coverage, insurer and requestor (often the same
Practitioners and Observations too) in one submission after another; parsing each into
fhir.resources models again is most of a $submit's time. An entry's resource is validated by
its own model inside the Bundle's validation (fhir_core dispatches on resourceType), so its
validity depends on its content alone: a resource whose exact JSON passed once passes again.
A Bundle is therefore checked as its shell (the entries without their resources) plus each
resource on its own, the ones seen valid before skipped. Any failure on that path validates the
whole Bundle again as it came, so the issues of a faulty request are exactly fhir.resources'.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from typing import Any

from pydantic import ValidationError

from gateway.fhir.outcome import Issue, error

_NAME = re.compile(r"^_?[A-Za-z][A-Za-z0-9]*$")
# Digests (32 bytes each) of resources found valid: a few thousand distinct parties and
# clinical resources cover a busy hour of submissions in well under a megabyte.
MEMO_SIZE = 4096


def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def check_structure(resource: dict[str, Any]) -> list[Issue]:
    """R4 structure of any resource through fhir.resources.R4B, pydantic errors as issues.
    `resource` is parsed JSON (what json.loads gives: string keys, lists, no NaN)."""
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(resource_type, str):
        return [error("structure", "Not a FHIR resource: resourceType is missing")]
    try:
        model = _model(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return [error("not-supported", f"Unknown R4 resource type {resource_type!r}")]
    if resource_type == "Bundle" and _bundle_valid(model, resource):
        return []
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        return [
            error("structure", item["msg"], _fhirpath(resource_type, item["loc"]))
            for item in exc.errors(include_input=False, include_url=False)
        ]
    except (TypeError, AttributeError, KeyError) as exc:
        # fhir.resources trips over some malformed inputs (a nested resource without a usable
        # resourceType) instead of reporting them: still a structure error of the request.
        return [
            error("structure", f"The resource is malformed ({type(exc).__name__})", resource_type)
        ]
    return []


def _fhirpath(root: str, loc: tuple[Any, ...]) -> str:
    path = root
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and _NAME.match(part):
            path += f".{part}"
    return path


class ValidResources:
    """The digests of entry resources fhir.resources accepted, least recently used dropped
    first; shared by the server's threads."""

    def __init__(self, size: int = MEMO_SIZE):
        self.size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, digest: bytes) -> bool:
        with self._lock:
            if digest not in self._seen:
                return False
            self._seen.move_to_end(digest)
            return True

    def add(self, digest: bytes) -> None:
        with self._lock:
            self._seen[digest] = None
            self._seen.move_to_end(digest)
            while len(self._seen) > self.size:
                self._seen.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._seen.clear()


VALID_RESOURCES = ValidResources()


def _digest(resource: dict[str, Any]) -> bytes | None:
    """sha256 of the resource's JSON text as parsed (key order kept: a reordered copy is only a
    miss); None when it is no JSON text (NaN, a value JSON has no type for)."""
    try:
        text = json.dumps(resource, allow_nan=False)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode("ascii")).digest()


def _bundle_valid(model: Any, bundle: dict[str, Any]) -> bool:
    """True when the Bundle is valid R4, found through its shell and its entries' resources
    (those already seen valid skipped); False means "validate it whole" (it may still be)."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return False
    shell_entries: list[Any] = []
    fresh: list[tuple[Any, dict[str, Any], bytes]] = []
    for item in entries:
        resource = item.get("resource") if isinstance(item, dict) else None
        resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource_type, str):
            shell_entries.append(item)  # validated in the shell, as the Bundle would
            continue
        try:
            resource_model = _model(resource_type)
        except (KeyError, ValueError, AttributeError, ImportError):
            return False
        digest = _digest(resource)
        # Only a resource proper takes the place of Bundle.entry.resource (fhir_core refuses a
        # datatype there), and only one that JSON text identifies.
        if digest is None or not resource_model.has_resource_base():
            return False
        shell_entries.append({key: value for key, value in item.items() if key != "resource"})
        if digest not in VALID_RESOURCES:
            fresh.append((resource_model, resource, digest))
    try:
        model.model_validate({**bundle, "entry": shell_entries})
        for resource_model, resource, _ in fresh:
            resource_model.model_validate(resource)
    except Exception:  # whatever goes wrong on this path, the whole Bundle's validation decides
        return False
    for _, _, digest in fresh:
        VALID_RESOURCES.add(digest)
    return True
