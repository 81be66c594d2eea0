"""What the type checker sees: trigger methods are typed, so a misspelt one is an error."""

from __future__ import annotations

import pathlib
import textwrap

import pytest

mypy_api = pytest.importorskip("mypy.api", reason="mypy is in the test extra")

SNIPPET = """
from exchange_recovery import Controller, CoordinatedController, LocalCoordinator, default_policy

controller = Controller(default_policy())
controller.pre_open(actor="ops", reason="zone back")
controller.fire("anything", actor="ops", reason="the dynamic door")
ops = CoordinatedController(default_policy(), LocalCoordinator())
ops.normalize(actor="ops", reason="dwell over")
"""


def _mypy(tmp_path: pathlib.Path, code: str) -> tuple[str, int]:
    script = tmp_path / "snippet.py"
    script.write_text(textwrap.dedent(code), encoding="utf-8")
    out, err, status = mypy_api.run(["--strict", "--no-incremental", "--cache-dir", str(tmp_path),
                                     str(script)])
    return out + err, status


def test_a_misspelt_trigger_method_fails_type_checking(tmp_path: pathlib.Path) -> None:
    """controller.hlat(...) is an error; the typed triggers and fire() are not."""
    out, status = _mypy(tmp_path, SNIPPET + 'controller.hlat(actor="ops", reason="typo")\n')
    assert status == 1, out
    assert 'has no attribute "hlat"' in out
    assert out.count("error:") == 1, out
