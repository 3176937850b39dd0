"""An index over a Bundle's entries and FHIR R4 reference resolution inside it.

Resolution follows R4 Bundle "Resolving references in Bundles" (bundle.html#references): an
absolute reference (http(s), urn:uuid, urn:oid) must equal an entry's fullUrl; a relative
`Type/id` is made absolute against the base of the entry that holds it. PAS clients also send
relative references next to urn:uuid fullUrls, so a relative reference that finds no fullUrl
falls back to the entry whose resource has that type and id.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from gateway.fhir.memo import DigestMemo, content_digest

# Matched only against short, anchored pieces: a pattern run over a whole fullUrl with a lazy
# `.*?` base before the type backtracked quadratically (40,000 characters took a minute and held
# the GIL, issue 18). The base is found by splitting on "/" instead.
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
# A reference longer than any base plus type and id is not one the bundle can hold.
MAX_REFERENCE = 4096


@dataclass(frozen=True)
class Entry:
    index: int
    full_url: str | None
    resource: dict[str, Any]
    # Read once: the rules, the reader and the echo ask for them of every entry, many times.
    resource_type: str | None = field(init=False)
    id: str | None = field(init=False)

    def __post_init__(self) -> None:
        rtype, rid = self.resource.get("resourceType"), self.resource.get("id")
        object.__setattr__(self, "resource_type", rtype if isinstance(rtype, str) else None)
        object.__setattr__(self, "id", rid if isinstance(rid, str) else None)

    @property
    def path(self) -> str:
        return f"Bundle.entry[{self.index}].resource"


def base_of(full_url: str | None) -> str | None:
    """The service base of a RESTful fullUrl (http://x/fhir/Patient/1 -> http://x/fhir)."""
    if not full_url or not full_url.startswith(("http://", "https://")):
        return None
    parts = _type_and_id(strip_history(full_url))
    return parts[0] if parts else None


def _type_and_id(reference: str) -> tuple[str, str, str] | None:
    """(base, type, id) of `[base/]Type/id`, in linear time; None when it is not one."""
    if len(reference) > MAX_REFERENCE:
        return None
    base, _, rest = reference.rpartition("/")
    base, _, rtype = base.rpartition("/")
    if not (_TYPE.fullmatch(rtype) and _ID.fullmatch(rest)):
        return None
    return base, rtype, rest


def is_absolute(reference: str) -> bool:
    return reference.startswith(("http://", "https://", "urn:"))


def strip_history(reference: str) -> str:
    return reference.split("/_history/", 1)[0]


# (path below the resource, reference) of every Reference a resource holds, by its content.
REFERENCES: DigestMemo[tuple[tuple[str, str], ...]] = DigestMemo()


@dataclass
class BundleIndex:
    bundle: dict[str, Any]
    entries: list[Entry] = field(default_factory=list)
    by_full_url: dict[str, list[Entry]] = field(default_factory=dict)
    by_type_id: dict[tuple[str, str], list[Entry]] = field(default_factory=dict)
    # Per entry (by position), worked out on first use: the rules, the echo and the structure
    # check all ask.
    _digests: dict[int, bytes | None] = field(default_factory=dict, repr=False)
    _references: dict[int, tuple[tuple[str, str], ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        raw = self.bundle.get("entry")
        for index, item in enumerate(raw if isinstance(raw, list) else []):
            if not isinstance(item, dict):
                continue
            resource = item.get("resource")
            full_url = item.get("fullUrl") if isinstance(item.get("fullUrl"), str) else None
            entry = Entry(index, full_url, resource if isinstance(resource, dict) else {})
            self.entries.append(entry)
            if full_url:
                self.by_full_url.setdefault(full_url, []).append(entry)
            if entry.resource_type and entry.id:
                self.by_type_id.setdefault((entry.resource_type, entry.id), []).append(entry)

    def digest(self, entry: Entry) -> bytes | None:
        """The content digest of the entry's resource (gateway.fhir.memo)."""
        if entry.index not in self._digests:
            self._digests[entry.index] = content_digest(entry.resource)
        return self._digests[entry.index]

    def references(self, entry: Entry) -> tuple[tuple[str, str], ...]:
        """(path below entry.path, reference) of every Reference in the entry's resource, in
        document order (walk_references), walked once per content."""
        found = self._references.get(entry.index)
        if found is None:
            digest = self.digest(entry)
            found = REFERENCES.get(digest)
            if found is None:
                found = tuple(
                    (path, ref["reference"]) for path, ref in walk_references(entry.resource, "")
                )
                REFERENCES.put(digest, found)
            self._references[entry.index] = found
        return found

    @property
    def first(self) -> Entry | None:
        return self.entries[0] if self.entries else None

    def of_type(self, resource_type: str) -> list[Entry]:
        return [entry for entry in self.entries if entry.resource_type == resource_type]

    def matches(self, reference: str, context: Entry | None = None) -> list[Entry]:
        """Every entry a literal reference points at (more than one means an ambiguous bundle)."""
        reference = strip_history(reference.strip())
        if is_absolute(reference):
            return list(self.by_full_url.get(reference, []))
        parts = _type_and_id(reference)
        if parts is None or parts[0]:
            return []  # not `Type/id`
        _, rtype, rid = parts
        base = base_of(context.full_url) if context else None
        if base is not None:
            found = self.by_full_url.get(f"{base}/{reference}")
            if found:
                return list(found)
        return list(self.by_type_id.get((rtype, rid), []))

    def resolve(self, ref: Any, context: Entry | None = None) -> Entry | None:
        """The one entry a Reference (dict) or reference string points at, else None."""
        if isinstance(ref, dict):
            ref = ref.get("reference")
        if not isinstance(ref, str) or not ref or ref.startswith("#"):
            return None
        found = self.matches(ref, context)
        return found[0] if len(found) == 1 else None

    def resource(self, ref: Any, context: Entry | None = None) -> dict[str, Any] | None:
        entry = self.resolve(ref, context)
        return entry.resource if entry else None


def walk_references(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Reference (a dict with a string `reference`) under node, with its FHIRPath, in
    document order. Depth first with a stack of its own, and each path put together only for
    a Reference: most of a resource is no Reference (and Python's recursion is costly)."""
    # A stack item is (node, where): `where` is None for the root, else (parent's where, step).
    stack: list[tuple[Any, Any]] = [(node, None)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("reference"), str):
                yield path_of(path, where), node
            below = [
                (value, (where, "." + key))
                for key, value in node.items()
                # narrative and contained resources hold no bundle references
                if isinstance(value, (dict, list))
                and key not in ("text", "contained")
                and not key.startswith("_")
            ]
        elif isinstance(node, list):
            below = [
                (value, (where, f"[{index}]"))
                for index, value in enumerate(node)
                if isinstance(value, (dict, list))
            ]
        else:
            continue
        stack.extend(reversed(below))


def path_of(root: str, where: Any) -> str:
    """The FHIRPath below `root` that a walk's `where` chain ((parent's where, step), down
    from None) spells."""
    steps: list[str] = []
    while where is not None:
        where, step = where
        steps.append(step)
    return root + "".join(reversed(steps))
