"""The examples in the docstrings run and show what they claim.

pytest's own doctest collection would skip most of them: the package re-exports its classes
with ``__module__`` set to ``exchange_recovery``, so a finder matching objects to the module
that defines them does not recognise them. Here each object is attributed to the module whose
source defines it, and its examples run with audit logging silenced.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import io
import pkgutil
import re
from collections.abc import Iterator

import pytest

import exchange_recovery

_FINDER = doctest.DocTestFinder(recurse=False)


def _defined_in(source: str, name: str) -> bool:
    return re.search(rf"^(class|def) {re.escape(name)}\b", source, re.MULTILINE) is not None


def _members(obj: type) -> Iterator[tuple[str, object]]:
    for name, member in vars(obj).items():
        function = member.fget if isinstance(member, property) else getattr(member, "__func__",
                                                                            member)
        if inspect.isfunction(function):
            yield name, function


def _doctests() -> list[doctest.DocTest]:
    found: list[doctest.DocTest] = []
    modules = [("exchange_recovery", exchange_recovery)] + [
        (info.name, importlib.import_module(info.name))
        for info in pkgutil.walk_packages(exchange_recovery.__path__, "exchange_recovery.")
        if not info.name.endswith("__main__")]
    for module_name, module in modules:
        source = inspect.getsource(module)
        candidates: list[tuple[str, object]] = [(module_name, module)]
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) or inspect.isfunction(obj)) and _defined_in(source, name):
                candidates.append((f"{module_name}.{name}", obj))
                if inspect.isclass(obj):
                    candidates += [(f"{module_name}.{name}.{m}", f) for m, f in _members(obj)]
        for name, obj in candidates:
            found += [t for t in _FINDER.find(obj, name, module=False, globs=dict(vars(module)))
                      if t.examples]
    return found


DOCTESTS = _doctests()


def test_the_package_has_docstring_examples_to_run() -> None:
    assert len(DOCTESTS) >= 25, [t.name for t in DOCTESTS]


@pytest.mark.parametrize("test", DOCTESTS, ids=[t.name for t in DOCTESTS])
def test_docstring_example_runs(test: doctest.DocTest) -> None:
    out = io.StringIO()
    result = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS).run(test, out=out.write)
    assert result.failed == 0, out.getvalue()
