"""The ``exchange-recovery`` command line (also ``python -m exchange_recovery``).

The only code in the package that prints. Each command is one function registered with
`command`: its name, its one-line help, the argument groups it takes, and a docstring that
becomes its ``--help`` description. The function gets the parsed arguments and an `_Io` and
returns the exit code: 0 ok, 1 problems found, 2 usage error (argparse uses 2 as well).

Adding a command is one function (see `_replay` below)::

    @command("replay", "print the timeline of a journal", _journal_args, _json_arg)
    def _replay(args: argparse.Namespace, io: _Io) -> int:
        '''Replay JOURNAL and print every transition in order.'''
        ...
        return OK
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib.resources
import inspect
import io as _io_module
import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Final, NoReturn, TextIO

import attrs

from .._core.codes import ProblemCode, Reason
from .._core.errors import ExchangeRecoveryError, InvalidPolicyError, InvalidRequestError
from .._core.gate import Gate
from .._core.model import VENUE
from .._core.phases import Problem
from .._core.policy import Policy
from .._core.text import escape_text
from .._core.toml import load_policy, loads_policy
from .._journal.replay import RecoveryReport, verify_journal
from . import render, requests, status
from .progress import Progress

OK: Final = 0
PROBLEMS: Final = 1
USAGE: Final = 2

PROG: Final = "exchange-recovery"
BUILTIN_DEFAULT: Final = "@default"
"""The POLICY argument naming the packaged default policy (``policies/default.toml``)."""
PACKAGED: Final = ("default", "restart", "deferred_funds", "reopening")
"""``@NAME`` names the packaged ``policies/NAME.toml``: `default_policy()`, `restart_policy()`,
`deferred_funds_policy()`, `reopening_policy()` (files written by ``docs/regen.py``)."""


class _Stop(Exception):
    """Ends a command early with an exit code (its message is already printed)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


@attrs.define
class _Io:
    """Where a command writes: results to `out`, diagnostics and progress to `err`."""

    out: TextIO
    err: TextIO

    def print(self, text: str = "") -> None:
        """Write `text` and a newline to standard output."""
        self.out.write(text if text.endswith("\n") else text + "\n")

    def json(self, data: object) -> None:
        """Write `data` as indented JSON to standard output."""
        self.out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")

    def error(self, text: str) -> None:
        """Write a diagnostic line to standard error (escaped: whatever it quotes, one line)."""
        self.err.write(f"{PROG}: {escape_text(text, 2000)}\n")

    def progress(self, label: str, total: int | None = None) -> Progress:
        """A progress line on standard error, drawn only when it is a terminal."""
        return Progress(self.err, label, total)


_Configure = Callable[[argparse.ArgumentParser], None]
_Run = Callable[[argparse.Namespace, _Io], int]


@attrs.frozen
class Command:
    """One sub-command: its name, help, argument groups and the function that runs it."""

    name: str
    help: str
    configure: tuple[_Configure, ...]
    run: _Run


COMMANDS: dict[str, Command] = {}
"""The registered sub-commands, in the order ``--help`` lists them."""


def command(name: str, help: str, *configure: _Configure) -> Callable[[_Run], _Run]:
    """Register `run` as the sub-command `name` taking the argument groups `configure`."""

    def register(run: _Run) -> _Run:
        COMMANDS[name] = Command(name, help, configure, run)
        return run

    return register


# -- argument groups ---------------------------------------------------------------------------


_POLICY_HELP: Final = ("a policy file (TOML), or @default, @restart, @deferred_funds or "
                       "@reopening for the packaged default policy, the default policy with its "
                       "restart guards, the policy that defers funds movements, and the restart "
                       "that reopens through a call auction")


def _policy_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("policy", metavar="POLICY", help=_POLICY_HELP)


def _json_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _matrix_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("table", "markdown"), default="table",
                        help="a terminal table (default) or a Markdown table")


def _diagram_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=("mermaid", "dot"), default="mermaid",
                        help="Mermaid state diagram (default; needs no graphviz) or Graphviz DOT")


def _explain_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("phase", metavar="PHASE",
                        help="the phase the venue is in, e.g. PRE_OPEN (any case; - for _)")
    parser.add_argument("request", metavar="REQUEST", nargs="+",
                        help="words describing the request, e.g. new limit gtc post-only "
                        "instrument=BTC origin=client (" + requests.REQUEST_WORDS + ")")


# -- helpers -------------------------------------------------------------------------------------


def _problem_data(problem: Problem) -> dict[str, object]:
    return {"code": problem.code.value, "location": problem.location, "message": problem.message,
            "file": problem.source, "line": problem.line}


def _load(name: str, io: _Io, *, as_json: bool = False) -> Policy:
    """Load the policy `name` or report its problems and stop (1; 2 if it cannot be read)."""
    try:
        if name.startswith("@"):
            packaged = name[1:].lower()
            if packaged not in PACKAGED:
                io.error(f"error: no packaged policy '{_cut(name)}'"
                         f"{_did_you_mean(name[1:], PACKAGED, '@')}; "
                         f"there are {', '.join('@' + p for p in PACKAGED)}")
                raise _Stop(USAGE)
            resource = importlib.resources.files("exchange_recovery") / "policies" / f"{packaged}.toml"
            return loads_policy(resource.read_text(encoding="utf-8"), f"@{packaged}")
        return load_policy(name)
    except InvalidPolicyError as invalid:
        if invalid.codes == {ProblemCode.FILE_UNREADABLE}:
            io.error(f"error: {invalid.problems[0].message.removeprefix('cannot read the file: ')}"
                     f": {_cut(name)}")
            raise _Stop(USAGE) from None
        if as_json:
            io.json({"ok": False, "file": name,
                     "problems": [_problem_data(p) for p in invalid.problems]})
        else:
            for problem in invalid.problems:
                io.print(str(problem))
            io.print(f"{len(invalid.problems)} problem(s) in {name}")
        raise _Stop(PROBLEMS) from None


def _did_you_mean(given: str, choices: Sequence[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(given, choices, n=1, cutoff=0.6) or difflib.get_close_matches(
        given.upper(), [c.upper() for c in choices], n=1, cutoff=0.6)
    if not close:
        return ""
    match = next(c for c in choices if c.upper() == close[0].upper())
    return f" (did you mean {prefix}{match}?)"


def _phase(policy: Policy, given: str, io: _Io) -> str:
    """The phase of `policy` that `given` names: exactly, or ignoring case with - for _; else
    stop with a usage error that suggests the closest name."""
    if given in policy.phase_names:
        return given
    wanted = given.strip().upper().replace("-", "_")
    same = [p for p in policy.phase_names if p.upper() == wanted]
    if len(same) == 1:
        return same[0]
    io.error(f"error: unknown phase '{_cut(given)}'{_did_you_mean(wanted, policy.phase_names)}; "
             f"'{_cut(policy.name)}' has {', '.join(policy.phase_names)}")
    raise _Stop(USAGE)


# -- commands ------------------------------------------------------------------------------------


@command("demo", "replay the 18 Dec 2022 outage and phased restart", _json_arg)
def _demo(args: argparse.Namespace, io: _Io) -> int:
    """Replay the 18 Dec 2022 outage and phased restart (normal, degraded, halted, pre-open,
    full open, normal) and show, at each step, what the gate accepts and why it refuses the rest.
    With --json: every step, decision, audit event and plan status as data.
    """
    from .demo import run, story  # noqa: PLC0415 - the demo pulls in the controller: on demand

    if args.json:
        io.json(story())
    else:
        io.print("\n".join(run()))
    return OK


@command("check", "validate a policy file and list every problem", _policy_arg, _json_arg)
def _check(args: argparse.Namespace, io: _Io) -> int:
    """Validate POLICY with every check a policy built in code gets, and list every problem
    with its file, line, table/key and code. Exit 0 when valid, 1 when there are problems.
    """
    policy = _load(args.policy, io, as_json=args.json)
    if args.json:
        io.json({"ok": True, "file": args.policy, "policy": policy.name, "problems": [],
                 "phases": list(policy.phase_names), "transitions": len(policy.transitions)})
    else:
        io.print(f"{args.policy}: policy {policy.name!r} is valid: {len(policy.phases)} phases, "
                 f"{len(policy.transitions)} transitions")
    return OK


@command("matrix", "print the acceptance matrix (request kinds x phases)",
         _policy_arg, _matrix_args, _json_arg)
def _matrix(args: argparse.Namespace, io: _Io) -> int:
    """Print which request kinds each phase of POLICY accepts, and what the engine itself may do.

    Rows group the request kinds: origins that every phase treats alike share a section, and
    times in force or actions with the same verdicts share a row. With --json: every one
    of the request kinds with its reason code in every phase.
    """
    policy = _load(args.policy, io, as_json=args.json)
    if args.json:
        io.json(render.matrix_data(policy))
    elif args.format == "markdown":
        io.print(render.matrix_markdown(policy))
    else:
        io.print(render.matrix_table(policy))
    return OK


@command("diagram", "print the transition graph (Mermaid or DOT)", _policy_arg, _diagram_args,
         _json_arg)
def _diagram(args: argparse.Namespace, io: _Io) -> int:
    """Print the phases and transitions of POLICY as a Mermaid state diagram or Graphviz DOT.

    Phases that match orders are green, the others red; guards are shown in brackets. With
    --json: the phases, the transitions and the diagram text.
    """
    policy = _load(args.policy, io, as_json=args.json)
    draw = render.diagram_dot if args.format == "dot" else render.diagram_mermaid
    if args.json:
        io.json({"policy": policy.name, "initial": policy.initial, "fail_safe": policy.fail_safe,
                 "phases": [{"name": p.name, "matching": p.matching} for p in policy.phases],
                 "transitions": [{"trigger": t.trigger, "source": t.source, "dest": t.dest,
                                  "guards": list(t.guards)} for t in policy.transitions],
                 "format": args.format, "diagram": draw(policy)})
    else:
        io.print(draw(policy))
    return OK


@command("explain", "show the decision and reason for a described request",
         _policy_arg, _explain_args, _json_arg)
def _explain(args: argparse.Namespace, io: _Io) -> int:
    """Say whether POLICY accepts a request in PHASE, with the reason code the engine would get.

    Example: explain policy.toml PRE_OPEN new market instrument=BTC-USDT. Exit 0 whatever the
    decision (a rejection is an answer, not a problem); 2 for an unknown phase or word.
    """
    policy = _load(args.policy, io, as_json=args.json)
    args.phase = _phase(policy, args.phase, io)
    try:
        request = requests.parse_request(args.request)
    except InvalidRequestError as error:
        io.error(f"error: {_cut(str(error), 600)}")
        return USAGE
    decision = Gate(policy, {VENUE: args.phase}).check(request)
    kind = request.kind
    accepted_in = [p for p in policy.phase_names
                   if policy.verdicts(p)[request.key][0] is Reason.ACCEPTED]
    if args.json:
        io.json({"policy": policy.name, "phase": args.phase, "request": kind.describe(),
                 "instrument": request.instrument, "accepted": decision.accepted,
                 "reason": decision.reason.value, "message": decision.message,
                 "description": decision.reason.description, "accepted_in": accepted_in})
        return OK
    io.print(f"request   {kind.describe()}"
             + (f" instrument={request.instrument}" if request.instrument else ""))
    io.print(f"phase     {args.phase} ({policy.phase(args.phase).description or 'no description'})")
    io.print(f"decision  {'ACCEPTED' if decision.accepted else 'REJECTED'}")
    io.print(f"reason    {decision.reason.value}: {decision.reason.description}")
    if not decision.accepted:
        io.print(f"message   {decision.message}")
    io.print(f"accepted  in {', '.join(accepted_in) or 'no phase'}")
    return OK


def _journal_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("journal", metavar="JOURNAL", help="a journal file (JSON lines)")
    parser.add_argument("--policy", default=BUILTIN_DEFAULT, metavar="POLICY",
                        help=f"the policy the journal was written under (default: "
                        f"{BUILTIN_DEFAULT})")


def _verified(args: argparse.Namespace, io: _Io) -> tuple[Policy, RecoveryReport]:
    """Load the policy and verify the journal (with progress on a terminal), or stop with 2."""
    policy = _load(args.policy, io, as_json=args.json)
    if not os.path.isfile(args.journal):
        io.error(f"error: no such journal file: {_cut(args.journal)}")
        raise _Stop(USAGE)
    with io.progress(f"verifying {args.journal}") as progress:
        report = verify_journal(args.journal, policy, on_progress=progress.update)
    return policy, report


def _report_data(report: RecoveryReport) -> dict[str, object]:
    return {"journal": str(report.path), "trusted": report.trusted, "records": report.records,
            "version": report.version, "phases": dict(report.phases),
            "problems": [{"code": p.code.value, "line": p.line, "detail": p.detail}
                         for p in report.problems]}


def _print_verdict(report: RecoveryReport, io: _Io) -> None:
    for problem in report.problems:
        io.print(f"problem   {escape_text(str(problem), 400)}")
    verdict = "trusted" if report.trusted else "NOT TRUSTED: recovery starts in the fail-safe phase"
    io.print(f"verdict   {verdict}; {report.records} record(s)")
    phases = " ".join(f"{escape_text(scope)}={escape_text(phase)}"
                      for scope, phase in report.phases.items())
    io.print(f"state     version {report.version}: {phases}")


def _timeline(path: str) -> list[tuple[int, dict[str, object] | None]]:
    """Every line of a journal as (line number, record or None if it is not a JSON object)."""
    with open(path, "rb") as file:
        rows: list[tuple[int, dict[str, object] | None]] = []
        for number, raw in enumerate(file, 1):
            try:
                record = json.loads(raw)
            except (ValueError, RecursionError):
                record = None
            rows.append((number, record if isinstance(record, dict) else None))
    return rows


@command("verify", "check a journal's integrity and say what recovery would start in",
         _journal_args, _json_arg)
def _verify(args: argparse.Namespace, io: _Io) -> int:
    """Verify JOURNAL (hash chain, versions, every transition against POLICY) without changing
    it, and print what recovery would start in. Exit 0 when it can be trusted (a torn relaxing
    record at the end is reported but trusted), 1 when it cannot, 2 for a missing file.
    """
    _, report = _verified(args, io)
    if args.json:
        io.json(_report_data(report))
    else:
        _print_verdict(report, io)
    return OK if report.trusted else PROBLEMS


@command("replay", "print the timeline of a journal and its integrity verdict",
         _journal_args, _json_arg)
def _replay(args: argparse.Namespace, io: _Io) -> int:
    """Print every record of JOURNAL in order (transitions, snapshots, notes), then the verdict of
    verify. Exit codes as for verify.
    """
    _, report = _verified(args, io)
    rows = _timeline(args.journal)
    if args.json:
        io.json({"timeline": [record for _, record in rows], **_report_data(report)})
        return OK if report.trusted else PROBLEMS
    for number, record in rows:
        # Every field comes from the file: escaped, so a forged one can add no line, hide no
        # verdict (ESC sequences) and flood nothing.
        if record is None:
            io.print(f"line {number}: not a record")
            continue
        f = {key: escape_text(value if isinstance(value, str) else repr(value), 120)
             for key, value in record.items() if key != "phases"}
        if record.get("kind") == "snapshot":
            phases = record.get("phases")
            shown = escape_text(" ".join(f"{k}={v}" for k, v in phases.items()), 400) \
                if isinstance(phases, dict) else "?"
            io.print(f"v{f.get('version')}  {f.get('time')}  SNAPSHOT {shown}  "
                     f"[by {f.get('actor')}]  {f.get('reason')}")
        elif record.get("kind") == "note":
            data = escape_text(json.dumps(record.get("note"), sort_keys=True), 400)
            io.print(f"v{f.get('version')}  {f.get('time')}  {f.get('scope')}  NOTE "
                     f"{f.get('topic')} {data}  [by {f.get('actor')}]")
        else:
            io.print(f"v{f.get('version')}  {f.get('time')}  {f.get('scope')}  "
                     f"{f.get('from')} -> {f.get('to')}  "
                     f"[{f.get('trigger')} by {f.get('actor')}]  {f.get('reason')}")
    io.print()
    _print_verdict(report, io)
    return OK if report.trusted else PROBLEMS


@command("status", "show every scope's phase, since when, and what its restart waits on",
         _journal_args, _json_arg)
def _status(args: argparse.Namespace, io: _Io) -> int:
    """Show where every scope stands according to JOURNAL (verified, never changed): its phase,
    the version and time of the record that put it there, and, when the default restart plan's
    steps fit POLICY, the plan step it is on and the exit criteria of the next one. A dwell is
    judged from the record's time; health checks and approvals are not in a journal and show
    as unknown. Exit codes as for verify.
    """
    policy, report = _verified(args, io)
    statuses = status.scope_statuses(policy, report, [r for _, r in _timeline(args.journal)],
                                     time.time())
    plan = status.restart_plan_for(policy)
    if args.json:
        io.json(status.status_data(report, statuses, plan))
    else:
        for line in status.status_lines(report, statuses, plan):
            io.print(line)
    return OK if report.trusted else PROBLEMS


# -- entry point ---------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """argparse with a usage error on one line (its usage block is what --help is for)."""

    def error(self, message: str) -> NoReturn:
        message = re.sub(r"\s+", " ", message)
        self.exit(USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered command."""
    parser = _Parser(
        prog=PROG, description="Policies, gates and restarts for an exchange's order entry.",
        epilog="exit codes: 0 ok, 1 problems found, 2 usage error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for cmd in COMMANDS.values():
        description = inspect.cleandoc(cmd.run.__doc__ or cmd.help)
        child = sub.add_parser(cmd.name, help=cmd.help, description=description,
                               formatter_class=argparse.RawDescriptionHelpFormatter)
        for configure in cmd.configure:
            configure(child)
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None,
         stderr: TextIO | None = None) -> int:
    """Run the command line with `argv` (default: ``sys.argv[1:]``); return the exit code."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    for stream in (out, err):
        if isinstance(stream, _io_module.TextIOWrapper):
            stream.reconfigure(errors="replace")  # a non-UTF-8 terminal gets "?" for ✓, no crash
    parser = build_parser()
    try:  # argparse prints help and usage errors on sys.stdout/sys.stderr: ours here
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            args = parser.parse_args(argv)
    except SystemExit as exit_:  # --help (0) or a usage error (2), already printed by argparse
        return int(exit_.code or 0)
    io = _Io(out, err)
    try:
        return COMMANDS[args.command].run(args, io)
    except _Stop as stop:
        return stop.code
    except BrokenPipeError:  # piped into `head`: stop quietly, like other command-line tools
        with contextlib.suppress(OSError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, out.fileno())
        return OK
    except (OSError, UnicodeError) as error:  # a file that cannot be read, a directory, ...
        io.error(f"error: {_cut(_one_line(error), 300)}")
        return USAGE
    except ExchangeRecoveryError as error:
        io.error(f"error: {_cut(_one_line(error), 300)}")
        return PROBLEMS
    except Exception as error:  # a bug here: one line that says so, not a traceback
        io.error(f"internal error (please report it): {type(error).__name__}: "
                 f"{_cut(_one_line(error), 300)}")
        return PROBLEMS


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


def _cut(text: str, limit: int = 120) -> str:
    """`text`, cut to `limit` characters (`_Io.error` escapes what is left)."""
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"
