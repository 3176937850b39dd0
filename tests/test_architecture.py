"""The layout is the architecture (DESIGN.md): read the import graph of gateway/ with `ast`, the
way a reviewer would, and hold it to edge -> domain -> service -> store -> outbound."""

from __future__ import annotations

import ast
from pathlib import Path

from gateway.settings import REPO_ROOT

PACKAGE = REPO_ROOT / "gateway"
# What the pure domain may not know of: frameworks, settings, the store, channels, adapters.
FORBIDDEN_IN_DOMAIN = (
    "sqlalchemy",
    "fastapi",
    "starlette",
    "pydantic_settings",
    "gateway.settings",
    "gateway.store",
    "gateway.api",
    "gateway.x12",
    "gateway.fhir",
    "gateway.notify",
    "gateway.partners",
    "gateway.audit",
    "gateway.conformance",
    "gateway.adapters",
    "gateway.wiring",
    "gateway.service",
)
# The case service works over its store port (gateway.service.store): no SQL, no store module,
# no framework; gateway.store implements the port, never the other way round.
FORBIDDEN_IN_SERVICE = (
    "sqlalchemy",
    "alembic",
    "fastapi",
    "starlette",
    "gateway.store",
    "gateway.api",
    "gateway.wiring",
)
# Adapters behind the ports, and where they may be built.
ADAPTER_CONSTRUCTORS = ("RosterEligibility", "PathwayEngine")
COMPOSITION_ROOT = "gateway.wiring"


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(module: str, path: Path) -> set[str]:
    """Every name imported anywhere in the module (function bodies and TYPE_CHECKING too)."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names.add(source)
            names.update(f"{source}.{alias.name}" for alias in node.names)
    return names


def _gateway_module(name: str) -> str | None:
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph = {}
    for module, path in MODULES.items():
        targets = {_gateway_module(name) for name in _imports(module, path)}
        graph[module] = {target for target in targets if target and target != module}
    return graph


def _matches(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_the_domain_imports_no_framework_store_settings_or_channel():
    offences = [
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if _matches(module, "gateway.domain")
        for name in sorted(_imports(module, path))
        if any(_matches(name, forbidden) for forbidden in FORBIDDEN_IN_DOMAIN)
    ]
    assert offences == []


def test_the_case_service_imports_no_sql_store_or_framework():
    offences = [
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if _matches(module, "gateway.service")
        for name in sorted(_imports(module, path))
        if any(_matches(name, forbidden) for forbidden in FORBIDDEN_IN_SERVICE)
    ]
    assert offences == []


def test_adapters_are_constructed_in_the_composition_root_alone():
    builders: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            target = node.func
            if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                name = target.value.id  # RosterEligibility.from_file(...)
            elif isinstance(target, ast.Name):
                name = target.id  # RosterEligibility(...)
            else:
                continue
            if name in ADAPTER_CONSTRUCTORS:
                builders.setdefault(name, set()).add(module)
    assert builders == {name: {COMPOSITION_ROOT} for name in ADAPTER_CONSTRUCTORS}


def test_no_import_cycle_type_checking_ones_included():
    graph = _graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in graph[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    assert cycles == []


def test_the_graph_sees_real_imports():
    # The checks above would pass on an empty graph: make sure they read the real one.
    graph = _graph()
    assert "gateway.domain.case" in graph["gateway.domain.review"]
    assert "gateway.wiring" in graph["gateway.api.app"]
    assert "gateway.service.store" in graph["gateway.store.repository"]
    assert "sqlalchemy" in _imports("gateway.store.repository", MODULES["gateway.store.repository"])
