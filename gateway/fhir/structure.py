"""R4 structure of a resource through fhir.resources.R4B (DESIGN.md decision 3), with pydantic's
errors as issues, skipping the bundle entries already found valid.

Parsing each entry of a PAS bundle into fhir.resources models is most of a $submit's time, and
clients send the same parties (and often the same clinical resources) again and again. An
entry's resource is validated by its own model inside the Bundle's validation (fhir_core
dispatches on resourceType), so its validity depends on its content alone: a resource whose
exact JSON passed once passes again. A Bundle is therefore checked as its shell (the entries
without their resources) plus each resource on its own, those seen valid before skipped
(gateway.fhir.memo). Any failure on that path validates the whole Bundle again as it came, so
the issues of a faulty request are exactly fhir.resources'.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from gateway.fhir.bundle import BundleIndex
from gateway.fhir.memo import DigestMemo, content_digest
from gateway.fhir.outcome import Issue, error

_NAME = re.compile(r"^_?[A-Za-z][A-Za-z0-9]*$")


def _model(resource_type: str) -> Any:
    from fhir.resources.R4B import get_fhir_model_class

    return get_fhir_model_class(resource_type)


def check_structure(resource: dict[str, Any], index: BundleIndex | None = None) -> list[Issue]:
    """R4 structure of any resource through fhir.resources.R4B, pydantic errors as issues.
    `resource` is parsed JSON (what json.loads gives: string keys, lists); `index`, a Bundle's
    index when the caller has it (its entries' digests are reused)."""
    resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
    if not isinstance(resource_type, str):
        return [error("structure", "Not a FHIR resource: resourceType is missing")]
    try:
        model = _model(resource_type)
    except (KeyError, ValueError, AttributeError, ImportError):
        return [error("not-supported", f"Unknown R4 resource type {resource_type!r}")]
    if resource_type == "Bundle" and _bundle_valid(model, resource, index):
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


# Digests of entry resources fhir.resources accepted (True): see the module's docstring.
VALID_RESOURCES: DigestMemo[bool] = DigestMemo()


def _bundle_valid(model: Any, bundle: dict[str, Any], index: BundleIndex | None) -> bool:
    """True when the Bundle is valid R4, found through its shell and its entries' resources
    (those already seen valid skipped); False means "validate it whole" (it may still be)."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return False
    indexed = {entry.index: entry for entry in index.entries} if index is not None else {}
    shell_entries: list[Any] = []
    fresh: list[tuple[Any, dict[str, Any], bytes]] = []
    for position, item in enumerate(entries):
        resource = item.get("resource") if isinstance(item, dict) else None
        resource_type = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource_type, str):
            shell_entries.append(item)  # validated in the shell, as the Bundle would
            continue
        try:
            resource_model = _model(resource_type)
        except (KeyError, ValueError, AttributeError, ImportError):
            return False
        known = indexed.get(position)
        digest = (
            index.digest(known)
            if index is not None and known is not None and known.resource is resource
            else content_digest(resource)
        )
        # Only a resource proper takes the place of Bundle.entry.resource (fhir_core refuses a
        # datatype there), and only one that JSON text identifies.
        if digest is None or not resource_model.has_resource_base():
            return False
        shell_entries.append({key: value for key, value in item.items() if key != "resource"})
        if not VALID_RESOURCES.get(digest):
            fresh.append((resource_model, resource, digest))
    try:
        model.model_validate({**bundle, "entry": shell_entries})
        for resource_model, resource, _ in fresh:
            resource_model.model_validate(resource)
    except Exception:  # whatever goes wrong on this path, the whole Bundle's validation decides
        return False
    for _, _, digest in fresh:
        VALID_RESOURCES.put(digest, True)
    return True
