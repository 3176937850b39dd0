"""YAML read with libyaml's C parser where PyYAML was built with it.

The pure-Python SafeLoader takes most of a start-up (mappings/, the roster and the partner seed
are read by every `gateway` process and every app a test builds); the C loader builds the same
plain Python values (the safe tag set, no object construction) several times faster. PyYAML
without libyaml falls back to the Python loader.
"""

from __future__ import annotations

from typing import IO, Any

import yaml

_SafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load(source: str | bytes | IO[str] | IO[bytes]) -> Any:
    """`yaml.safe_load`, on the C parser when there is one (raises yaml.YAMLError alike)."""
    return yaml.load(source, Loader=_SafeLoader)  # noqa: S506 - a safe loader, C or Python
