"""The layers of shared/DESIGN.md as subpackages: each imports only what lies below it.

Run-time imports count (module level and deferred ones inside functions); imports under
``if TYPE_CHECKING:`` do not (a type-only upward reference is fine, a run-time cycle is not).
"""

from __future__ import annotations

import ast
import pathlib

import pytest

import exchange_recovery

PACKAGE = pathlib.Path(exchange_recovery.__file__).parent

LAYERS = ("_core", "_trust", "_decide", "_journal", "_control", "_coordination", "_plan", "_status", "etcd",
          "testing", "_cli")
"""Bottom up: a module may import its own layer and the layers before it, never after."""

PURE = ("_core", "_trust", "_decide")
"""The hot path and the decision: no transitions, no structlog."""


def _runtime_imports(path: pathlib.Path) -> set[str]:
    """Absolute dotted names of the run-time imports of one module of the package."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(("exchange_recovery", *path.relative_to(PACKAGE).parent.parts)).rstrip(".")
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            found.add(module)  # and `from package import module` names a module too:
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "exchange_recovery" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else None


def target_is_name(module: str) -> bool:
    """Whether ``exchange_recovery.X`` is a public name of the root (not a module)."""
    return module.split(".")[1] in exchange_recovery.__all__


def _modules(layer: str) -> list[pathlib.Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    """No module of `layer` imports a layer above it at run time."""
    allowed = set(LAYERS[: LAYERS.index(layer) + 1])
    for path in _modules(layer):
        for module in _runtime_imports(path):
            if module == "exchange_recovery" or (module.count(".") == 1 and target_is_name(module)):
                assert layer in ("testing", "_cli"), f"{path} imports the package root"
                continue
            target = _layer_of(module)
            if module.startswith("exchange_recovery.") and target is None:
                pytest.fail(f"{path} imports {module}, which belongs to no layer")
            assert target is None or target in allowed, f"{path} imports {module} ({target})"


@pytest.mark.parametrize("layer", PURE)
def test_the_pure_layers_import_neither_transitions_nor_structlog(layer: str) -> None:
    """The hot path and the decision stay pure (shared/DESIGN.md)."""
    for path in _modules(layer):
        tops = {m.split(".")[0] for m in _runtime_imports(path)}
        assert not tops & {"transitions", "structlog"}, f"{path} imports {tops}"


def test_every_private_module_lives_in_a_layer() -> None:
    """The package root holds only the public face; code lives in the layers."""
    loose = sorted(p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py"))
    assert loose == []
    assert {p.name for p in PACKAGE.iterdir() if p.is_dir() and not p.name.startswith((".", "__"))} \
        <= {*LAYERS, "policies"}


def test_no_module_imports_another_in_a_run_time_cycle() -> None:
    """The run-time import graph between the package's modules has no cycle."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE).with_suffix("")
        parts = [p for p in rel.parts if p != "__init__"]
        name = ".".join(("exchange_recovery", *parts))
        graph[name] = {m for m in _runtime_imports(path) if m.startswith("exchange_recovery.")}
    graph = {name: {m for m in deps if m in graph and m != name} for name, deps in graph.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*trail, node, nxt]))
            if nxt not in state:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
