"""The ICD-10-CM code set, as a compact precomputed set of its items (issue 19 item 2).

`simple_icd_10_cm` (the maintained package) builds its whole tree of about 98,000 nodes when it
is imported: seconds of CPU before a command's first byte, for a membership test. The items it
knows (chapters, blocks, categories and codes, with their dots) are shipped instead in
gateway/domain/data/icd10cm-items.xz, generated from the package by `tools/icd10cm_items.py`
and stamped with the package version it came from; reading them takes milliseconds. When the
installed package is another version than the stamp, or the file is missing, the package itself
answers (slower, never wrong); tests/test_icd10cm.py pins the file to the package.

Descriptions (for letters) are shipped the same way, in icd10cm-descriptions.xz (JSON: a
description may hold a tab or a line break), read on the first letter that names a diagnosis:
a tenth of a second, where the package's tree took two seconds of every process that rendered
a letter (each `gateway worker`, each served gateway).
"""

from __future__ import annotations

import json
import lzma
from functools import cache
from importlib import metadata
from pathlib import Path

ITEMS_FILE = Path(__file__).resolve().parent / "data" / "icd10cm-items.xz"
DESCRIPTIONS_FILE = ITEMS_FILE.with_name("icd10cm-descriptions.xz")
PACKAGE = "simple_icd_10_cm"
_STAMP = "# simple_icd_10_cm "


def package_version() -> str | None:
    try:
        return metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        return None


def read_items(path: Path = ITEMS_FILE) -> tuple[str | None, frozenset[str]]:
    """(package version stamped in the file, the items) of a generated items file."""
    lines = lzma.decompress(path.read_bytes()).decode("ascii").split("\n")
    version = lines[0].removeprefix(_STAMP) if lines and lines[0].startswith(_STAMP) else None
    return version, frozenset(line for line in lines[1:] if line)


def write_items(items: list[str], version: str, path: Path = ITEMS_FILE) -> None:
    """The items file (`tools/icd10cm_items.py` calls this with the package's items)."""
    text = "\n".join([_STAMP + version, *sorted(set(items))]) + "\n"
    path.write_bytes(lzma.compress(text.encode("ascii"), preset=9 | lzma.PRESET_EXTREME))


@cache
def _items() -> frozenset[str] | None:
    """The shipped items when they match the installed package; None: ask the package."""
    try:
        version, items = read_items()
    except (OSError, lzma.LZMAError, UnicodeDecodeError):
        return None
    return items if version == package_version() else None


def is_valid_item(code: str) -> bool:
    """As simple_icd_10_cm.is_valid_item: an item of the code set, with or without its dot
    after the category (case-sensitive, as the package)."""
    items = _items()
    if items is None:
        import simple_icd_10_cm as icd

        return bool(icd.is_valid_item(code))
    return code in items or (len(code) >= 4 and code[:3] + "." + code[3:] in items)


def read_descriptions(path: Path = DESCRIPTIONS_FILE) -> tuple[str | None, dict[str, str]]:
    """(package version stamped in the file, each item's description) of a generated file."""
    table = json.loads(lzma.decompress(path.read_bytes()).decode("utf-8"))
    return table.get("package_version"), dict(table.get("descriptions") or {})


def write_descriptions(
    descriptions: dict[str, str], version: str, path: Path = DESCRIPTIONS_FILE
) -> None:
    """The descriptions file (`tools/icd10cm_items.py` calls this with the package's)."""
    table = {"package_version": version, "descriptions": dict(sorted(descriptions.items()))}
    text = json.dumps(table, ensure_ascii=False, separators=(",", ":"))
    path.write_bytes(lzma.compress(text.encode("utf-8"), preset=9 | lzma.PRESET_EXTREME))


@cache
def _descriptions() -> dict[str, str] | None:
    """The shipped descriptions when they match the installed package; None: ask the package."""
    try:
        version, descriptions = read_descriptions()
    except (OSError, lzma.LZMAError, UnicodeDecodeError, ValueError):
        return None
    return descriptions if version == package_version() else None


def description(code: str) -> str:
    """The code's description, as simple_icd_10_cm.get_description gives it (with or without
    the dot after the category); ValueError for a code that is not an item."""
    descriptions = _descriptions()
    if descriptions is None:
        import simple_icd_10_cm as icd

        return str(icd.get_description(code))
    found = descriptions.get(code)
    if found is None and len(code) >= 4:
        found = descriptions.get(code[:3] + "." + code[3:])
    if found is None:
        raise ValueError(f'The code "{code}" does not exist.')
    return found
