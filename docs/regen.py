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
from exchange_recovery import (
    ALL_KINDS,
    Action,
    Policy,
    RestingAction,
    RestingRule,
    default_policy,
    deferred_funds_policy,
    dump_policy,
    reopening_policy,
    restart_policy,
)
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


_CELL = {RestingAction.KEEP: "keep", RestingAction.CANCEL: "**cancel**",
         RestingAction.SUSPEND: "**suspend** until {until}",
         RestingAction.POST_ONLY: "**post-only**"}


def disposition_markdown(policy: Policy) -> str:
    """What entering each phase does to resting orders, one row per set of orders treated alike.

    Rows group the new-order kinds by the rule (if any) that decides them on entering each
    phase, and are named after those rules, in the order the phases and their rules come (an
    order takes the first row that fits); the last row's orders are kept everywhere.
    """
    phases = policy.phases
    rows: dict[tuple[RestingRule | None, ...], tuple[tuple[int, int], ...]] = {}
    for kind in ALL_KINDS:
        if kind.action is Action.NEW_ORDER:
            deciding = tuple(next((r for r in p.resting if r.orders.matches(kind)), None)
                             for p in phases)
            rows.setdefault(deciding, tuple((i, phases[i].resting.index(r))
                                            for i, r in enumerate(deciding) if r is not None))
    lines = [f"| resting order | {' | '.join(p.name for p in phases)} |",
             f"|---{'|---' * len(phases)}|"]
    for deciding, _ in sorted(rows.items(), key=lambda row: row[1] or ((len(phases), 0),)):
        names = dict.fromkeys(r.orders.describe() for r in deciding if r is not None)
        label = " and ".join(names) or ("every other order" if len(rows) > 1 else "every order")
        cells = (_CELL[(r or KEEP).action].format(until=(r or KEEP).until) for r in deciding)
        lines.append(f"| {label} | {' | '.join(cells)} |")
    back = [", ".join(f"{r.orders.describe()} suspended in {p.name}" for p in phases
                      for r in p.resting if r.until == phase.name) or "—" for phase in phases]
    lines.append(f"| *reinstated on entry* | {' | '.join(back)} |")
    incoming = [p.incoming.value.lower().replace("_", "-") if p.accepts.post_only else "—"
                for p in phases]
    lines.append(f"| *incoming plain limit order* | {' | '.join(incoming)} |")
    return "\n".join(lines) + "\n"


KEEP = RestingRule(RestingAction.KEEP)


def _sections() -> dict[str, Callable[[], str]]:
    policy = default_policy()
    return {
        "default-disposition-markdown": lambda: disposition_markdown(policy),
        "default-matrix-markdown": lambda: matrix_markdown(policy),
        "default-matrix-table": lambda: f"```text\n{matrix_table(policy)}```\n",
        "default-diagram-mermaid": lambda: f"```mermaid\n{diagram_mermaid(policy)}```\n",
        "default-policy-toml": lambda: f"```toml\n{dump_policy(policy)}```\n",
        "deferred-funds-matrix-markdown": lambda: matrix_markdown(deferred_funds_policy()),
        "deferred-funds-diagram-mermaid": lambda: (
            f"```mermaid\n{diagram_mermaid(deferred_funds_policy())}```\n"),
        "reopening-matrix-markdown": lambda: matrix_markdown(reopening_policy()),
        "reopening-diagram-mermaid": lambda: (
            f"```mermaid\n{diagram_mermaid(reopening_policy())}```\n"),
        "reopening-policy-toml": lambda: (
            f"```toml\n{_reopen_tables(dump_policy(reopening_policy()))}```\n"),
        "venue-modes-matrix-markdown": lambda: matrix_markdown(venue_modes_policy()),
        "venue-modes-diagram-mermaid": lambda: (
            f"```mermaid\n{diagram_mermaid(venue_modes_policy())}```\n"),
    }


_REOPEN_KEYS = re.compile(r"^(funding = .*|\[phases\.\w+\.(auction|max_stay|liquidation_release)\])$")


def _reopen_tables(text: str) -> str:
    """The reopen data of a policy file: its ``funding`` keys (with their phase's header) and its
    ``auction``, ``max_stay`` and ``liquidation_release`` tables, as the file writes them."""
    out: list[str] = []
    for block in text.split("\n\n"):
        lines = block.splitlines()
        if _REOPEN_KEYS.match(lines[0]):
            out += [*lines, ""]
        elif any(line.startswith("funding = ") for line in lines):
            out += [lines[0], *(line for line in lines if line.startswith("funding = ")), ""]
    return "\n".join(out)


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
        PACKAGE / "policies" / "deferred_funds.toml": dump_policy(deferred_funds_policy()),
        PACKAGE / "policies" / "reopening.toml": dump_policy(reopening_policy()),
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
