"""Run sections on their own: `python benchmarks/sections http worker [--options]`; prints
each section's table and writes their results as JSON (`--json`)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent
# Run as a folder, this folder comes first on the path, and its http.py would hide the
# standard library's http package: the package is imported from benchmarks/ instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != BENCHMARKS / "sections"]
sys.path.insert(0, str(BENCHMARKS))
sys.path.insert(0, str(BENCHMARKS.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sections", nargs="+", choices=["http", "worker"])
    parser.add_argument("--http-clients", type=int, default=50)
    parser.add_argument("--http-seconds", type=float, default=20.0)
    parser.add_argument("--http-requests", type=int, default=6000, help="cap per route")
    parser.add_argument("--http-client", choices=["raw", "httpx"], default="raw")
    parser.add_argument("--worker-transactions", type=int, default=400)
    parser.add_argument("--worker-timeout", type=float, default=600.0)
    parser.add_argument("--http-configs", help="e.g. sqlite:1,sqlite:2,postgresql:2")
    parser.add_argument("--worker-configs", help="e.g. sqlite:1,postgresql:1,postgresql:2")
    parser.add_argument("--postgres-url", default=None)
    parser.add_argument("--intake-tx-per-s", type=float, default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    args = parser.parse_args()
    results = {}
    for name in args.sections:
        section = importlib.import_module(f"sections.{name}")
        results[name] = section.run(args)
        print(section.markdown(results[name]))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
