"""The README's settings table, written from the settings classes (`Settings` and
`AuthSettings`): every `GATEWAY_*` variable with its type, default, an example and what it means
(the field's docstring). `python -m gateway.settings_doc` prints it; `--write` puts it into
README.md between its two markers; tests/test_settings_doc.py fails when the README differs."""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import types
import typing
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from gateway.settings import DATA_ROOT, REPO_ROOT, VAR_ROOT, Settings

BEGIN = "<!-- settings table: written by `python -m gateway.settings_doc --write` -->"
END = "<!-- end of the settings table -->"


def _classes() -> list[type[BaseSettings]]:
    from gateway.partners.settings import AuthSettings

    return [Settings, AuthSettings]


def _type(annotation: Any) -> str:
    """`str`, `int`, `path`, `list of str`; `| None` is said by the default (unset)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _type(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        kept = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return " or ".join(_type(arg) for arg in kept)
    if origin is list:
        return f"list of {_type(typing.get_args(annotation)[0])} (comma-separated)"
    names = {Path: "path", bool: "bool", int: "int", float: "number", str: "string"}
    if annotation in names:
        return names[annotation]
    return getattr(annotation, "__name__", str(annotation)).lower().replace("secretstr", "secret")


def _default(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None or value == []:
        return "unset"
    text = str(value)
    # Paths under the checkout (or a wheel's embedded data, or the working directory) are
    # shown relative to it: the table is the same on every machine.
    for root in (VAR_ROOT, DATA_ROOT, REPO_ROOT):
        text = text.replace(f"{root}/", "")
    text = text.replace(f"{REPO_ROOT.parent}/", "../")
    if isinstance(value, bool):
        text = text.lower()
    return f"`{text}`"


def _example(field: FieldInfo) -> str:
    return ", ".join(f"`{example}`" for example in field.examples or []) or ""


def docstrings(cls: type) -> dict[str, str]:
    """Each field's docstring: the string right after its annotated assignment in the class's
    source. Read here, for the table, rather than by pydantic's `use_attribute_docstrings` when
    the class is made: that parsed the settings' source in every process at start-up (issue 19
    item 2)."""
    body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0]
    assert isinstance(body, ast.ClassDef)
    found = {}
    for node, after in zip(body.body, body.body[1:], strict=False):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            found[node.target.id] = after.value.value
    return found


def _meaning(field: FieldInfo, docstring: str | None) -> str:
    return " ".join((field.description or docstring or "").split()).replace("|", "\\|")


def rows() -> list[tuple[str, str, str, str, str]]:
    found = []
    for cls in _classes():
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        documented = docstrings(cls)
        for name, field in cls.model_fields.items():
            found.append(
                (
                    f"`{prefix}{name.upper()}`",
                    _type(field.annotation),
                    _default(field),
                    _example(field),
                    _meaning(field, documented.get(name)),
                )
            )
    return found


def table() -> str:
    lines = ["| variable | type | default | example | meaning |", "|---|---|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows()]
    return "\n".join(lines)


def readme_block() -> str:
    return f"{BEGIN}\n{table()}\n{END}"


def current_block(readme: str) -> str | None:
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < start:
        return None
    return readme[start : end + len(END)]


def write(readme_path: Path) -> bool:
    """Put the table into the README; True when it changed."""
    readme = readme_path.read_text(encoding="utf-8")
    block = current_block(readme)
    if block is None:
        raise SystemExit(f"{readme_path} has no settings table markers ({BEGIN})")
    updated = readme.replace(block, readme_block())
    if updated == readme:
        return False
    readme_path.write_text(updated, encoding="utf-8")
    return True


if __name__ == "__main__":  # pragma: no cover - a maintainer's command
    if "--write" in sys.argv[1:]:
        changed = write(REPO_ROOT / "README.md")
        print("README.md updated" if changed else "README.md is up to date")
    else:
        print(table())
