"""Every code block in README.md and docs/ runs, so none can rot unseen.

One test per fenced block, in page order; the blocks of a page share one namespace and one
temporary working directory (holding a link to ``examples/``), as a doctest file does.

- ``python``: executed. When a ``text`` block (not a transcript) follows it (directly, or after
  one paragraph ending in ``:``), that is what it prints on standard output and standard error,
  compared as doctest compares (``...`` matches anything).
- ``pycon``, or ``python`` starting with ``>>>``: checked as a doctest.
- ``text`` starting with ``$ exchange-recovery``: a transcript; each command runs (in process)
  and prints what follows it. Other ``text`` blocks are output or pictures, not code.
- ``sh``/``bash``: each ``exchange-recovery`` command runs and must exit 0; other lines (pip,
  etcd, scripts) are instructions for a shell and are not run.
- ``toml``: must parse; a first line ``# file: NAME`` also writes the block to NAME.
- ``mermaid``: generated from code (tests/test_docs.py checks that).

A python or shell block whose first line is ``# not run: REASON`` is not run; the marker is part
of the page, so readers see it too, and REASON must say what the block needs.
"""

from __future__ import annotations

import contextlib
import doctest
import io
import logging
import pathlib
import re
import shlex
import textwrap
import tomllib
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from exchange_recovery._cli.main import main

ROOT = pathlib.Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
_NOT_RUN = re.compile(r"^#\s*not run:\s*(?P<reason>\S.*)$")
_CHECKER = doctest.OutputChecker()
_FLAGS = doctest.ELLIPSIS


@attrs.frozen
class Block:
    """One fenced code block of a page."""

    page: pathlib.Path
    line: int  # of the opening fence, 1-based
    language: str
    text: str
    output: str | None = None  # the text block showing what a python block prints

    @property
    def id(self) -> str:
        where = self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page.name
        return f"{where}:{self.line}:{self.language or 'plain'}"

    @property
    def not_run(self) -> str | None:
        first = self.text.lstrip("\n").partition("\n")[0]
        match = _NOT_RUN.match(first)
        return match.group("reason") if match else None


def blocks(page: pathlib.Path) -> list[Block]:
    """The fenced blocks of `page`, each python block with the output shown after it."""
    lines = page.read_text(encoding="utf-8").splitlines()
    found: list[tuple[int, str, str, int]] = []  # (line, language, text, closing line)
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        fence = match.group("fence")
        end = i + 1
        while end < len(lines) and not lines[end].startswith(fence):
            end += 1
        found.append((i + 1, match.group("info").strip().split(" ")[0], "\n".join(lines[i + 1:end]) + "\n",
                      end))
        i = end + 1
    result: list[Block] = []
    for n, (line, language, text, closing) in enumerate(found):
        output = None
        if (language == "python" and n + 1 < len(found) and found[n + 1][1] == "text"
                and not found[n + 1][2].startswith("$ ")):  # a transcript is not its output
            between = [t for t in lines[closing + 1:found[n + 1][0] - 1] if t.strip()]
            if not between or between[-1].rstrip().endswith(":"):
                output = found[n + 1][2]
        result.append(Block(page, line, language, text, output))
    return result


BLOCKS = [block for page in PAGES for block in blocks(page)]


@pytest.fixture(scope="module")
def workdirs(tmp_path_factory: pytest.TempPathFactory) -> dict[pathlib.Path, pathlib.Path]:
    """One working directory per page, made on first use."""
    return {}


_NAMESPACES: dict[pathlib.Path, dict[str, Any]] = {}


@contextlib.contextmanager
def _logging_kept() -> Iterator[None]:
    """The root logger starts without handlers (pytest's own are set aside) as in a fresh
    program, and whatever a block does to logging (basicConfig, handlers, levels) is undone."""
    manager = logging.Logger.manager
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(manager.loggerDict))]
    saved = [(lg, lg.level, list(lg.handlers), lg.propagate, lg.disabled) for lg in loggers]
    logging.getLogger().handlers.clear()  # as in a fresh program: basicConfig() takes effect
    try:
        yield
    finally:
        for name in list(manager.loggerDict):
            lg = logging.getLogger(name)
            if all(lg is not kept for kept, *_ in saved):
                for handler in lg.handlers:
                    handler.close()
                lg.handlers.clear()
                lg.setLevel(logging.NOTSET)
        for lg, level, handlers, propagate, disabled in saved:
            for handler in set(lg.handlers) - set(handlers):
                handler.close()
            lg.handlers[:] = handlers
            lg.setLevel(level)
            lg.propagate, lg.disabled = propagate, disabled


def _check_output(want: str, got: str, where: str) -> None:
    if not _CHECKER.check_output(want, got, _FLAGS):
        pytest.fail(f"{where} prints something else than the page shows:\n"
                    + _CHECKER.output_difference(doctest.Example("", want), got, _FLAGS))


def _run_python(block: Block, namespace: dict[str, Any]) -> None:
    if block.text.lstrip().startswith(">>>"):
        _run_pycon(block, namespace)
        return
    captured = io.StringIO()
    code = compile(block.text, block.id, "exec")
    with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
        exec(code, namespace)  # noqa: S102 - our own documentation
    if block.output is not None:
        _check_output(block.output, captured.getvalue(), block.id)


def _run_pycon(block: Block, namespace: dict[str, Any]) -> None:
    test = doctest.DocTestParser().get_doctest(block.text, namespace, block.id, str(block.page),
                                               block.line)
    out = io.StringIO()
    result = doctest.DocTestRunner(optionflags=_FLAGS).run(test, out=out.write, clear_globs=False)
    assert result.failed == 0, out.getvalue()


def _cli(command: str) -> tuple[int, str]:
    argv = shlex.split(command)
    assert argv[0] == "exchange-recovery", command
    out = io.StringIO()
    code = main(argv[1:], stdout=out, stderr=out)
    return code, out.getvalue()


def _run_transcript(block: Block) -> None:
    chunks = re.split(r"^\$ ", block.text, flags=re.MULTILINE)[1:]
    for chunk in chunks:
        command, _, shown = chunk.partition("\n")
        _, printed = _cli(command)
        _check_output(shown, printed, f"{block.id}: $ {command}")


def _run_shell(block: Block) -> None:
    commands = [line.partition(" #")[0].strip() for line in block.text.splitlines()
                if line.startswith("exchange-recovery ")]
    for command in commands:
        code, printed = _cli(command)
        assert code == 0, f"{block.id}: `{command}` exits {code}:\n{printed}"


def _run_toml(block: Block) -> None:
    tomllib.loads(block.text)
    name = re.match(r"#\s*file:\s*(\S+)", block.text)
    if name is not None:
        pathlib.Path(name.group(1)).write_text(block.text, encoding="utf-8")


def test_the_pages_have_code_to_run() -> None:
    """The collector finds the blocks (a broken fence regex would find none)."""
    languages = {b.language for b in BLOCKS}
    assert {"python", "text", "toml", "sh"} <= languages
    assert len([b for b in BLOCKS if b.language == "python" and b.not_run is None]) >= 10


@pytest.mark.parametrize("block", BLOCKS, ids=[b.id for b in BLOCKS])
def test_code_block(block: Block, workdirs: dict[pathlib.Path, pathlib.Path],
                    tmp_path_factory: pytest.TempPathFactory,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    if block.language not in {"python", "pycon", "text", "sh", "bash", "toml", "mermaid"}:
        pytest.fail(f"{block.id}: say what this block is (python, pycon, text, sh, toml, ...)")
    if block.not_run is not None:
        assert block.language in {"python", "sh", "bash"}, "only code can be marked `not run`"
        return  # the page says why, in the block itself
    if block.page not in workdirs:
        workdirs[block.page] = tmp_path_factory.mktemp(block.page.stem)
        (workdirs[block.page] / "examples").symlink_to(ROOT / "examples")
        _NAMESPACES[block.page] = {"__name__": f"docs_{block.page.stem.replace('-', '_')}"}
    monkeypatch.chdir(workdirs[block.page])
    with _logging_kept():
        if block.language in {"python", "pycon"}:
            _run_python(block, _NAMESPACES[block.page])
        elif block.language == "text" and block.text.startswith("$ exchange-recovery "):
            _run_transcript(block)
        elif block.language in {"sh", "bash"}:
            _run_shell(block)
        elif block.language == "toml":
            _run_toml(block)


def test_not_run_marks_say_why() -> None:
    """Blocks that are not run say so on their first line, with what they need."""
    marked = {b.id: b.not_run for b in BLOCKS if b.not_run is not None}
    assert all(len(reason) > 10 for reason in marked.values()), marked


def test_a_block_that_prints_something_else_fails(tmp_path: pathlib.Path) -> None:
    """The comparison with the shown output is real: a wrong line is reported."""
    page = tmp_path / "page.md"
    page.write_text(textwrap.dedent("""\
        ```python
        print("hello")
        ```

        prints:

        ```text
        goodbye
        ```
    """), encoding="utf-8")
    (block, _) = blocks(page)

    assert block.output == "goodbye\n"
    with pytest.raises(pytest.fail.Exception, match="prints something else"):
        _run_python(block, {})

