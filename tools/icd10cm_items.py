"""Regenerate gateway/domain/data/icd10cm-items.xz and icd10cm-descriptions.xz from the
installed simple_icd_10_cm
(run after upgrading the package; tests/test_icd10cm.py fails until then):

    .venv/bin/python tools/icd10cm_items.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    import simple_icd_10_cm as icd

    from gateway.domain.icd10cm import (
        DESCRIPTIONS_FILE,
        ITEMS_FILE,
        package_version,
        write_descriptions,
        write_items,
    )

    version = package_version()
    if version is None:
        print("simple_icd_10_cm is not installed", file=sys.stderr)
        return 1
    items = icd.get_all_codes(True)
    write_items(items, version)
    print(f"{ITEMS_FILE}: {len(set(items))} items of simple_icd_10_cm {version}")
    write_descriptions({item: str(icd.get_description(item)) for item in set(items)}, version)
    print(f"{DESCRIPTIONS_FILE}: their descriptions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
