"""The docs show what the code does: generated sections and policy files are never stale."""

from __future__ import annotations

import pathlib
import re
import subprocess
import sys

from regen import regen_docs

ROOT = pathlib.Path(__file__).parent.parent


def test_generated_files_are_up_to_date() -> None:
    """Every file docs/regen.py writes equals what it would write now."""
    stale = [str(path.relative_to(ROOT)) for path, content in regen_docs.expected().items()
             if not path.exists() or path.read_text(encoding="utf-8") != content]
    assert not stale, f"run `python docs/regen.py` to refresh {stale}"


def _section(name: str) -> str:
    text = (ROOT / "docs" / "default-policy.md").read_text(encoding="utf-8")
    match = re.search(f"<!-- BEGIN GENERATED: {name} -->\n(.*?)<!-- END GENERATED: {name} -->",
                      text, re.DOTALL)
    assert match is not None, name
    return match.group(1)


def test_matrix_command_prints_the_tables_the_docs_show() -> None:
    """`exchange-recovery matrix` on the default policy file prints exactly the docs' tables."""
    policy = str(ROOT / "examples" / "default_policy.toml")

    def matrix(*options: str) -> str:
        return subprocess.run([sys.executable, "-m", "exchange_recovery", "matrix", policy, *options],
                              capture_output=True, text=True, encoding="utf-8", check=True,
                              timeout=60).stdout

    assert matrix("--format", "markdown") == _section("default-matrix-markdown")
    assert f"```text\n{matrix()}```\n" == _section("default-matrix-table")
    assert "| new limit GTC/GTD | ✓ | ✓ | ✗ | PO | ✓ |" in _section("default-matrix-markdown")


def test_stale_docs_are_detected(tmp_path: pathlib.Path) -> None:
    """The regeneration check fails on a page whose generated section was edited by hand."""
    name = "default-matrix-markdown"
    page = f"<!-- BEGIN GENERATED: {name} -->\nold\n<!-- END GENERATED: {name} -->\n"
    filled = regen_docs._fill(page, regen_docs._sections())
    assert filled != page
    assert "| new limit GTC/GTD |" in filled
