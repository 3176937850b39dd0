"""The HTTP app: one thin router per channel (STYLE.md: parse, call the core, render)."""
