"""The docs show what the code does: generated sections and policy files are never stale."""

from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys
from typing import Any

import pytest
from regen import regen_docs

ROOT = pathlib.Path(__file__).parent.parent


def _load(name: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check_site = _load("check_site")


def test_generated_files_are_up_to_date() -> None:
    """Every file docs/regen.py writes equals what it would write now."""
    stale = [str(path) for path, content in regen_docs.expected().items()
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


# -- the API reference ---------------------------------------------------------------------------

_DIRECTIVE = re.compile(r"^::: (\S+)$", re.MULTILINE)


def _documented() -> list[str]:
    return [name for page in sorted((ROOT / "docs" / "api").glob("*.md"))
            for name in _DIRECTIVE.findall(page.read_text(encoding="utf-8"))]


def test_the_api_reference_documents_every_public_name_once() -> None:
    """Each name of the three public modules' ``__all__`` has one entry, under its public path."""
    import exchange_recovery  # noqa: PLC0415
    import exchange_recovery.etcd  # noqa: PLC0415
    import exchange_recovery.testing as kit  # noqa: PLC0415

    documented = _documented()
    core = {id(getattr(exchange_recovery, n)) for n in exchange_recovery.__all__}
    expected = {f"exchange_recovery.{n}" for n in exchange_recovery.__all__}
    expected |= {f"exchange_recovery.etcd.{n}" for n in exchange_recovery.etcd.__all__}
    expected |= {f"exchange_recovery.testing.{n}" for n in kit.__all__
                 if id(getattr(kit, n)) not in core}  # ConformanceFailure: the core's, shown once
    objects = [d for d in documented if d not in {"exchange_recovery", "exchange_recovery.etcd",
                                                  "exchange_recovery.testing"}]

    assert sorted(set(expected) - set(objects)) == [], "add them to a page of docs/api/"
    assert sorted(set(objects) - set(expected)) == [], "not public: remove them from docs/api/"
    assert len(objects) == len(set(objects)), "documented twice"


def test_every_api_page_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in (ROOT / "docs" / "api").glob("*.md"):
        assert f"api/{page.name}" in nav, page.name


def test_every_audit_event_is_listed_on_the_logging_page() -> None:
    """An event name emitted anywhere in the package appears in docs/logging.md's table."""
    import exchange_recovery  # noqa: PLC0415 - the package imported (a wheel's, under CI)

    package = pathlib.Path(exchange_recovery.__file__).parent
    source = "\n".join(path.read_text(encoding="utf-8") for path in package.rglob("*.py"))
    events = set(re.findall(r"\.(?:info|warning|critical)\(\s*\"([a-z_]+)\"", source))
    events |= set(re.findall(r"\bevent=\"([a-z_]+)\"", source))
    events |= set(re.findall(r"IntegrityCode\.\w+: \"([a-z_]+)\"", source))
    page = (ROOT / "docs" / "logging.md").read_text(encoding="utf-8")

    assert len(events) >= 20, events
    assert sorted(e for e in events if f"| `{e}` |" not in page) == []


# -- the built site ------------------------------------------------------------------------------

def _site(tmp_path: pathlib.Path, page: str) -> pathlib.Path:
    (tmp_path / "js").mkdir()
    (tmp_path / "js" / "here.js").write_text("", encoding="utf-8")
    (tmp_path / "api").mkdir()
    (tmp_path / "index.html").write_text(page, encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("page", [
    '<script src="https://unpkg.com/mermaid@10/dist/mermaid.min.js"></script>',
    '<link rel="stylesheet" href="//cdn.example/x.css">',
    '<img srcset="js/here.js 1x, http://x.example/b.png 2x">',
    '<style>@import "https://fonts.example/f.css";</style>',
    '<div style="background: url(http://x.example/bg.png)"></div>',
    '<script src="js/missing.js"></script>',
])
def test_the_site_check_finds_what_loads_from_outside(tmp_path: pathlib.Path, page: str) -> None:
    found, _ = check_site.problems(_site(tmp_path, page))
    assert len(found) == 1, found


def test_the_site_check_passes_local_files_and_outside_links(tmp_path: pathlib.Path) -> None:
    site = _site(tmp_path, '<script src="js/here.js"></script><a href="https://mkdocs.org">x</a>'
                           '<link href="/js/here.js">')
    assert check_site.problems(site) == ([], 2)


def test_the_site_check_finds_private_names_on_api_pages(tmp_path: pathlib.Path) -> None:
    site = _site(tmp_path, "")
    (site / "api" / "index.html").write_text(
        '<p>see <code>exchange_recovery._core.model</code></p><span title="_Slots">x</span>'
        "<p>__init__ is fine</p>", encoding="utf-8")
    found, _ = check_site.problems(site)
    assert [f.rpartition(" ")[2] for f in found] == ["'_Slots'", "'_core'"]
