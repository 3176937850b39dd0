"""Benchmark sections, each a module with `run(args) -> dict` and `markdown(result) -> str`."""
