"""Regenerate every file derived from code: policy TOML copies and the docs' generated sections.

Run after changing a policy or the renderers:  python docs/regen.py
Check without writing (what tests/test_docs.py does):  python docs/regen.py --check

Generated sections of a Markdown page sit between ``<!-- BEGIN GENERATED: NAME -->`` and
``<!-- END GENERATED: NAME -->``; everything else on the page is written by hand.
"""

from __future__ import annotations

import importlib.util
import pathlib
import re
import sys
from collections.abc import Callable

import exchange_recovery
from exchange_recovery import Policy, default_policy, dump_policy, restart_policy
from exchange_recovery._cli.render import diagram_mermaid, matrix_markdown, matrix_table

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGE = pathlib.Path(exchange_recovery.__file__).resolve().parent
"""The package imported: the source tree's, or an installed wheel's (whose copies are checked)."""


def venue_modes_policy() -> Policy:
    """The Coinbase/Kraken-style policy, as built by examples/venue_modes_policy.py."""
    spec = importlib.util.spec_from_file_location("venue_modes_policy",
                                                  ROOT / "examples" / "venue_modes_policy.py")
    if spec is None or spec.loader is None:
        msg = "examples/venue_modes_policy.py cannot be imported"
        raise ImportError(msg)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    policy: Policy = module.venue_modes_policy()
    return policy


def _sections() -> dict[str, Callable[[], str]]:
    policy = default_policy()
    return {
        "default-matrix-markdown": lambda: matrix_markdown(policy),
        "default-matrix-table": lambda: f"```text\n{matrix_table(policy)}```\n",
        "default-diagram-mermaid": lambda: f"```mermaid\n{diagram_mermaid(policy)}```\n",
        "default-policy-toml": lambda: f"```toml\n{dump_policy(policy)}```\n",
        "venue-modes-matrix-markdown": lambda: matrix_markdown(venue_modes_policy()),
        "venue-modes-diagram-mermaid": lambda: (
            f"```mermaid\n{diagram_mermaid(venue_modes_policy())}```\n"),
    }


_BLOCK = re.compile(r"(<!-- BEGIN GENERATED: (?P<name>[\w-]+) -->\n)(?P<body>.*?)"
                    r"(<!-- END GENERATED: (?P=name) -->)", re.DOTALL)


def _fill(text: str, sections: dict[str, Callable[[], str]]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in sections:
            msg = f"unknown generated section {name!r}"
            raise KeyError(msg)
        return f"{match.group(1)}{sections[name]()}{match.group(4)}"

    return _BLOCK.sub(replace, text)


def expected() -> dict[pathlib.Path, str]:
    """Every generated file and the content it must have."""
    default_toml = dump_policy(default_policy())
    restart_toml = dump_policy(restart_policy())
    files = {
        PACKAGE / "policies" / "default.toml": default_toml,
        ROOT / "examples" / "default_policy.toml": default_toml,
        ROOT / "examples" / "venue_modes_policy.toml": dump_policy(venue_modes_policy()),
        PACKAGE / "policies" / "restart.toml": restart_toml,
        ROOT / "examples" / "restart_policy.toml": restart_toml,
    }
    sections = _sections()
    for page in sorted((ROOT / "docs").glob("*.md")):
        text = page.read_text(encoding="utf-8")
        if "<!-- BEGIN GENERATED:" in text:
            files[page] = _fill(text, sections)
    return files


def main(argv: list[str]) -> int:
    """Write the generated files (or, with --check, list the stale ones and exit 1)."""
    check = "--check" in argv
    stale = []
    for path, content in expected().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == content:
            continue
        stale.append(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
        if not check:
            path.write_text(content, encoding="utf-8")
    verb = "stale" if check else "rewritten"
    for path in stale:
        sys.stderr.write(f"{verb}: {path}\n")
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
