"""Under CI=true a skip fails, except a declared ``UNAVAILABLE ON THIS PYTHON:`` one (conftest.py).

The end-to-end tests run pytest on a scratch tree holding a copy of our conftest.py and a
pyproject.toml whose ``examples`` group declares one package installed on no Python (so its
marker skip is honoured here) and one installed on every Python (so its marker skip is not).
"""

from __future__ import annotations

import os
import pathlib
import shutil
import subprocess
import sys
import textwrap

import pytest
from conftest import UNAVAILABLE, declared_unavailable, not_installed_here
from packaging.requirements import Requirement

ROOT = pathlib.Path(__file__).resolve().parent.parent

_PYPROJECT = """
    [dependency-groups]
    examples = [
        "nowhere-pkg==1.0; python_version < '3'",
        "everywhere-pkg==1.0; python_version >= '3'",
        "plain-pkg==1.0",
    ]
    [tool.pytest.ini_options]
    addopts = ["-ra"]
"""
_TESTS = {
    "test_ordinary.py": "import pytest\n\ndef test_it():\n    pytest.skip('an ordinary skip')\n",
    "test_declared.py": ("import pytest\n\npytest.skip('UNAVAILABLE ON THIS PYTHON: nowhere-pkg "
                         "has no wheel here', allow_module_level=True)\n"),
    "test_undeclared.py": ("import pytest\n\ndef test_it():\n    pytest.skip('UNAVAILABLE ON THIS "
                           "PYTHON: everywhere-pkg failed to import')\n"),
    "test_unknown.py": ("import pytest\n\ndef test_it():\n    pytest.skip('UNAVAILABLE ON THIS "
                        "PYTHON: plain-pkg')\n"),
}


def _run_scratch_suite(tmp_path: pathlib.Path, *, ci: bool) -> str:
    """Run pytest on the scratch tree; return what it printed."""
    tests = tmp_path / "tests"
    tests.mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", tests / "conftest.py")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent(_PYPROJECT), encoding="utf-8")
    for name, source in _TESTS.items():
        (tests / name).write_text(source, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": "true"} if ci else {})
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          check=False)
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def under_ci(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What the scratch suite prints under CI=true."""
    return _run_scratch_suite(tmp_path_factory.mktemp("ci"), ci=True)


def test_under_ci_only_the_declared_unavailable_skip_stays_a_skip(under_ci: str) -> None:
    """An ordinary skip, a marker naming an installed package or an unmarked one all fail."""
    out = under_ci

    assert "3 failed, 1 skipped" in out, out
    assert "FAILED tests/test_ordinary.py::test_it" in out
    assert "CI=true runs everything: Skipped: an ordinary skip" in out
    assert "FAILED tests/test_undeclared.py::test_it" in out
    assert "FAILED tests/test_unknown.py::test_it" in out
    assert "SKIPPED [1] tests/test_declared.py" in out


def test_the_declared_unavailable_skip_is_listed_loudly(under_ci: str) -> None:
    """The summary has a section naming each test not run for want of a package."""
    start = under_ci.index(f"NOT RUN: {UNAVAILABLE.rstrip(':')}")
    section = under_ci[start:under_ci.index("short test summary info", start)]
    assert "tests/test_declared.py: UNAVAILABLE ON THIS PYTHON: nowhere-pkg" in section
    assert "everywhere-pkg" not in section


def test_without_ci_every_skip_is_a_skip(tmp_path: pathlib.Path) -> None:
    out = _run_scratch_suite(tmp_path, ci=False)

    assert "4 skipped" in out, out


def test_the_marker_needs_the_package_name_right_after_it() -> None:
    nowhere = frozenset({"nowhere-pkg"})

    assert declared_unavailable("Skipped: UNAVAILABLE ON THIS PYTHON: nowhere-pkg 1.0", nowhere)
    assert declared_unavailable("UNAVAILABLE ON THIS PYTHON: Nowhere_Pkg", nowhere)
    assert not declared_unavailable("UNAVAILABLE ON THIS PYTHON: other nowhere-pkg", nowhere)
    assert not declared_unavailable("UNAVAILABLE ON THIS PYTHON:", nowhere)
    assert not declared_unavailable("no bourse; UNAVAILABLE ON THIS PYTHON: nowhere-pkg", nowhere)


@pytest.mark.parametrize(("python", "installed"), [("3.11", True), ("3.12", True),
                                                    ("3.13", False), ("3.14", False)])
def test_bourse_is_declared_unavailable_from_python_3_13(python: str, installed: bool) -> None:
    """pyproject.toml's marker is what lets bourse's tests skip under CI, on 3.13 and later only."""
    [bourse] = [Requirement(r) for r in _examples_group() if r.startswith("bourse")]

    assert bourse.marker is not None
    assert bourse.marker.evaluate({"python_version": python}) is installed


def test_on_this_python_the_declaration_matches_the_marker() -> None:
    declared = not_installed_here(ROOT / "pyproject.toml")

    assert ("bourse" in declared) is (sys.version_info >= (3, 13))
    assert "fastlob" not in declared


def _examples_group() -> list[str]:
    import tomllib  # noqa: PLC0415 - only this helper reads the file

    with (ROOT / "pyproject.toml").open("rb") as file:
        return [r for r in tomllib.load(file)["dependency-groups"]["examples"] if isinstance(r, str)]
