"""The public surface: what is exported, documented and typed, and what the hot path imports."""

from __future__ import annotations

import ast
import inspect
import pathlib

import exchange_recovery

PACKAGE = pathlib.Path(exchange_recovery.__file__).parent
HOT_PATH = ("_model", "_policy", "_gate")


def test_every_public_name_is_exported_once_and_documented() -> None:
    names = exchange_recovery.__all__
    assert len(set(names)) == len(names)
    for name in names:
        obj = getattr(exchange_recovery, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{name} has no docstring"
            assert obj.__module__ == "exchange_recovery", name


def test_package_ships_its_type_information() -> None:
    assert (PACKAGE / "py.typed").is_file()


def _imports_of(module: str) -> tuple[set[str], set[str]]:
    """(third-party top-level imports, sibling private modules imported) of one module."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text(encoding="utf-8"))
    external: set[str] = set()
    siblings: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            external.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                siblings.add(node.module or "")
            elif node.module:
                external.add(node.module.split(".")[0])
    return external, siblings


def test_hot_path_modules_import_neither_transitions_nor_structlog() -> None:
    seen: set[str] = set()
    todo = list(HOT_PATH)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        external, siblings = _imports_of(module)
        assert not external & {"transitions", "structlog"}, f"{module} imports {external}"
        todo.extend(siblings)
    assert "_controller" not in seen
