"""The command line, driven as a user drives it: a subprocess, its output and its exit code."""

from __future__ import annotations

import io
import json
import pathlib
import subprocess
import sys

import pytest

from exchange_recovery import default_policy, dump_policy, loads_policy, recover, restart_policy
from exchange_recovery._cli.main import COMMANDS, build_parser, main
from exchange_recovery._cli.progress import Progress
from exchange_recovery.testing import ManualClock

ROOT = pathlib.Path(__file__).parent.parent
DEFAULT_TOML = ROOT / "examples" / "default_policy.toml"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "exchange_recovery", *args], capture_output=True,
                          text=True, encoding="utf-8", timeout=60, check=False, cwd=ROOT)


def write(tmp_path: pathlib.Path, text: str) -> str:
    path = tmp_path / "policy.toml"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_check_accepts_the_shipped_policy_files() -> None:
    """check exits 0 on the default and the venue-modes files, and says what it found."""
    done = run("check", str(DEFAULT_TOML))
    assert done.returncode == 0, done.stderr
    assert "policy 'default' is valid: 5 phases, 10 transitions" in done.stdout
    assert run("check", "examples/venue_modes_policy.toml").returncode == 0


def test_check_reports_a_syntax_error_with_its_line(tmp_path: pathlib.Path) -> None:
    """A TOML syntax error: exit 1, the file, the line and SYNTAX_ERROR."""
    path = write(tmp_path, 'name = "x"\ninitial = NORMAL\n')
    done = run("check", path)
    assert done.returncode == 1
    assert f"{path}:2: SYNTAX_ERROR at line 2, column 11" in done.stdout


def test_check_reports_an_unknown_phase_and_a_dead_end_naming_the_keys(tmp_path: pathlib.Path) -> None:
    """A misspelt dest leaves FULL_OPEN unreachable; both are listed with keys; exit 1."""
    text = dump_policy(default_policy()).replace('dest = "FULL_OPEN"', 'dest = "FULL_OPN"')
    path = write(tmp_path, text)
    done = run("check", path)
    assert done.returncode == 1
    assert "UNKNOWN_PHASE at transitions[7].dest: dest 'FULL_OPN'" in done.stdout
    assert "UNREACHABLE_PHASE at phases.FULL_OPEN" in done.stdout
    assert done.stdout.rstrip().endswith(f"problem(s) in {path}")


def test_check_reports_a_phase_with_no_way_out(tmp_path: pathlib.Path) -> None:
    """Removing every transition out of PRE_OPEN makes it a dead end: no halt, no way back."""
    text = dump_policy(default_policy())
    for trigger, dest in (("halt", "HALTED"), ("open", "FULL_OPEN")):
        text = text.replace(f'[[transitions]]\ntrigger = "{trigger}"\nsource = "PRE_OPEN"\n'
                            f'dest = "{dest}"\n', "")
    done = run("check", write(tmp_path, text), "--json")
    assert done.returncode == 1
    report = json.loads(done.stdout)
    found = {(p["code"], p["location"]) for p in report["problems"]}
    assert ("NO_PATH_TO_HALT", "phases.PRE_OPEN") in found
    assert ("NORMAL_UNREACHABLE", "phases.PRE_OPEN") in found
    assert all(p["line"] for p in report["problems"])


def test_check_reports_every_problem_of_a_broken_file_at_once(tmp_path: pathlib.Path) -> None:
    """Unknown key, unknown enum name and a wrong type all come out of one run."""
    text = ("colour = 1\n" + dump_policy(default_policy())
            .replace('order_types = ["LIMIT"]\ntime_in_force = ["GTC", "GTD"]',
                     'order_types = ["LIMIT", "MARKETT"]\ntime_in_force = ["GTC", "GTD"]')
            .replace("post_only = true", "post_only = 1"))
    done = run("check", write(tmp_path, text))
    assert done.returncode == 1
    for expected in ("UNKNOWN_KEY at colour", "UNKNOWN_MEMBER at phases.PRE_OPEN.accepts.order_types[1]",
                     "INVALID_VALUE at phases.PRE_OPEN.accepts.post_only"):
        assert expected in done.stdout


def test_a_missing_file_and_a_bad_option_are_usage_errors() -> None:
    """Exit code 2 for an unreadable file and for an unknown format."""
    missing = run("check", "no/such/policy.toml")
    assert missing.returncode == 2
    assert "no/such/policy.toml" in missing.stderr
    assert run("matrix", str(DEFAULT_TOML), "--format", "html").returncode == 2
    assert run("frobnicate").returncode == 2


def test_every_command_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    """--help works for the tool and for every registered command (in-process: fast)."""
    for name in ("", *COMMANDS):
        assert main([*name.split(), "--help"]) == 0
        assert capsys.readouterr().out.startswith(f"usage: exchange-recovery {name}".rstrip())
    assert run("explain", "--help").stdout.startswith("usage: exchange-recovery explain")


def test_matrix_prints_the_default_policy_by_phase() -> None:
    """The terminal matrix shows PRE_OPEN accepting post-only limit orders only."""
    done = run("matrix", str(DEFAULT_TOML))
    assert done.returncode == 0, done.stderr
    header, _, first_section, row = done.stdout.splitlines()[:4]
    assert header.split() == ["request", "NORMAL", "DEGRADED", "HALTED", "PRE_OPEN", "FULL_OPEN"]
    assert first_section == "[from client, market_maker, operator]"
    assert row.split() == ["new", "limit", "GTC/GTD", "✓", "✓", "✗", "PO", "✓"]


def test_matrix_json_lists_every_request_kind_with_its_reason() -> None:
    """--json: every one of the 220 kinds, each with a verdict per phase."""
    data = json.loads(run("matrix", "@default", "--json").stdout)
    assert len(data["kinds"]) == 220
    market = next(k for k in data["kinds"] if k["request"] == "NEW_ORDER MARKET IOC origin=CLIENT")
    assert market["verdicts"]["PRE_OPEN"]["reason"] == "ORDER_TYPE_NOT_ALLOWED"
    assert market["verdicts"]["NORMAL"]["accepted"] is True


def test_diagram_prints_mermaid_and_dot() -> None:
    """Mermaid (default) and DOT carry every transition of the policy."""
    mermaid = run("diagram", str(DEFAULT_TOML)).stdout
    assert mermaid.startswith("stateDiagram-v2\n")
    assert "    HALTED --> PRE_OPEN : pre_open\n" in mermaid
    assert "HALTED --> FULL_OPEN" not in mermaid
    dot = run("diagram", str(DEFAULT_TOML), "--format", "dot").stdout
    assert dot.startswith('digraph "default" {')
    assert '"PRE_OPEN" -> "FULL_OPEN" [label="open"];' in dot
    assert dot.count(" -> ") == len(default_policy().transitions) + 1  # + the initial arrow


def test_explain_gives_the_decision_and_reason() -> None:
    """A post-only limit is accepted in PRE_OPEN; a market order is refused with its code."""
    accepted = run("explain", str(DEFAULT_TOML), "PRE_OPEN", "new", "limit", "gtc", "post-only",
                   "instrument=BTC", "origin=client")
    assert accepted.returncode == 0
    assert "decision  ACCEPTED" in accepted.stdout
    refused = run("explain", "@default", "PRE_OPEN", "market", "--json")
    data = json.loads(refused.stdout)
    assert (data["accepted"], data["reason"]) == (False, "ORDER_TYPE_NOT_ALLOWED")
    assert data["accepted_in"] == ["NORMAL", "FULL_OPEN"]


def test_explain_rejects_unknown_words_and_phases_as_usage_errors() -> None:
    """An unknown request word or phase exits 2 and says what was wrong."""
    word = run("explain", "@default", "PRE_OPEN", "new", "limt")
    assert word.returncode == 2
    assert "'limt'" in word.stderr
    phase = run("explain", "@default", "PRE_OPN", "cancel")
    assert phase.returncode == 2
    assert "unknown phase 'PRE_OPN'" in phase.stderr


def test_demo_prints_the_restart_timeline() -> None:
    """demo tells the same story as the example script."""
    done = run("demo")
    assert done.returncode == 0
    assert "HALTED -> PRE_OPEN" in done.stdout
    assert "final phase NORMAL, version 5" in done.stdout


def test_progress_is_drawn_on_a_terminal_and_silent_when_piped() -> None:
    """The same updates draw a line when enabled (a TTY) and nothing when not."""
    for enabled in (True, False):
        stream = io.StringIO()
        with Progress(stream, "verifying", 3, interval=0.0, enabled=enabled) as progress:
            for done in range(1, 4):
                progress.update(done)
        assert ("verifying  3/3 (100%)" in stream.getvalue()) is enabled
        assert (stream.getvalue() == "") is not enabled
    assert not Progress(io.StringIO(), "piped").enabled  # a StringIO is no terminal


def _journal(tmp_path: pathlib.Path) -> pathlib.Path:
    """A journal of the demo's first three steps (degrade, halt, a refused open)."""
    path = tmp_path / "journal.jsonl"
    done = subprocess.run([sys.executable, str(ROOT / "examples" / "okx_2022_restart.py"),
                           "--journal", str(path), "--steps", "3"],
                          capture_output=True, text=True, timeout=60, check=True)
    assert "final phase HALTED, version 2" in done.stdout
    return path


def test_replay_prints_the_timeline_and_a_trusted_verdict(tmp_path: pathlib.Path) -> None:
    """replay lists every transition in order, then verify's verdict; quiet stderr when piped."""
    done = run("replay", str(_journal(tmp_path)))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("v1  2022-12-18T07:41:00")
    assert "NORMAL -> DEGRADED  [degrade by monitor:zone-health]" in lines[0]
    assert "DEGRADED -> HALTED  [halt by ops:oncall]" in lines[1]
    assert "verdict   trusted; 2 record(s)" in done.stdout
    assert "state     version 2: venue=HALTED" in done.stdout
    assert done.stderr == ""  # no progress line: stderr is a pipe


def test_verify_reports_an_edited_record_and_exits_1(tmp_path: pathlib.Path) -> None:
    """An edited phase breaks the record's hash: not trusted, the code and line named."""
    path = _journal(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"to":"HALTED"', b'"to":"NORMAL"'))

    done = run("verify", str(path), "--json")

    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["trusted"] is False
    assert report["problems"][0]["code"] == "HASH_MISMATCH"
    assert report["problems"][0]["line"] == 2
    assert report["phases"] == {"venue": "HALTED"}  # what recovery would start in: fail-safe


def test_verify_of_a_missing_journal_is_a_usage_error(tmp_path: pathlib.Path) -> None:
    done = run("verify", str(tmp_path / "nope.jsonl"))
    assert done.returncode == 2
    assert "no such journal file" in done.stderr


# -- status ----------------------------------------------------------------------------------------


def _in_process(*args: str) -> tuple[int, str, str]:
    """main() with its own streams: exit code, stdout, stderr (fast: no interpreter start)."""
    out, err = io.StringIO(), io.StringIO()
    code = main(list(args), stdout=out, stderr=err)
    return code, out.getvalue(), err.getvalue()


def _restart_journal(tmp_path: pathlib.Path) -> pathlib.Path:
    """A journal under restart_policy(): the venue pre-opened, one instrument halted since."""
    clock = ManualClock(1_700_000_000.0)
    path = tmp_path / "restart.jsonl"
    policy = restart_policy()
    always = {name: (lambda _ctx: True) for t in policy.transitions for name in t.guards}
    controller = recover(path, policy, create=True, durability="none", clock=clock, guards=always)
    controller.halt(actor="ops:alice", reason="zone down")
    clock.advance(60)
    controller.halt(actor="ops:alice", reason="book crossed", scope="ETH-USDT-SWAP")
    return path


def test_status_shows_every_scope_since_when_and_what_the_plan_waits_on(
        tmp_path: pathlib.Path) -> None:
    """Venue first, then instruments; each with its record's version and time, and its step."""
    path = _restart_journal(tmp_path)

    code, out, err = _in_process("status", str(path), "--policy", "@restart")

    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].endswith(": trusted; 2 record(s), version 2")
    assert lines[1].split()[:2] == ["venue", "HALTED"]
    assert "since 2023-11-14T22:13:20" in lines[1]
    assert "(v1)" in lines[1]
    assert "plan 'default restart': step 1/4; next: pre_open -> PRE_OPEN" in lines[2]
    assert any(line.split()[:2] == ["ETH-USDT-SWAP", "HALTED"] and "(v2)" in line for line in lines)
    assert "unknown  cloud_zone_healthy: health check cloud_zone_healthy" in out


def test_status_json_has_each_criterion_with_its_own_state_and_code(tmp_path: pathlib.Path) -> None:
    path = _restart_journal(tmp_path)

    code, out, _ = _in_process("status", str(path), "--policy", "@restart", "--json")

    data = json.loads(out)
    assert code == 0
    assert [s["scope"] for s in data["scopes"]] == ["venue", "ETH-USDT-SWAP"]
    venue = data["scopes"][0]
    assert (venue["phase"], venue["version"]) == ("HALTED", 1)
    assert venue["plan"]["step"] == 1
    assert venue["plan"]["next_phase"] == "PRE_OPEN"
    assert {c["guard"]: c["state"] for c in venue["plan"]["criteria"]} == {
        "cloud_zone_healthy": "unknown"}


def test_status_judges_a_dwell_from_the_records_time(tmp_path: pathlib.Path) -> None:
    """A pre-open entered just now is blocked by its minimum stay, with DWELL_NOT_MET."""
    path = tmp_path / "j.jsonl"
    controller = recover(path, default_policy(), create=True, durability="none")
    controller.halt(actor="ops:alice", reason="zone down")
    controller.pre_open(actor="ops:alice", reason="zone back")
    policy = tmp_path / "restart.toml"
    policy.write_text(dump_policy(restart_policy()).replace('name = "default"', 'name = "r"'),
                      encoding="utf-8")

    code, out, _ = _in_process("status", str(path), "--policy", str(policy), "--json")

    criteria = {c["guard"]: c for c in json.loads(out)["scopes"][0]["plan"]["criteria"]}
    assert code == 0
    assert criteria["pre_open_min_stay"]["state"] == "blocked"
    assert criteria["pre_open_min_stay"]["code"] == "DWELL_NOT_MET"


def test_status_of_an_untrusted_journal_exits_1_and_says_so(tmp_path: pathlib.Path) -> None:
    path = _journal(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"to":"HALTED"', b'"to":"NORMAL"'))

    code, out, _ = _in_process("status", str(path))

    assert code == 1
    assert "NOT TRUSTED" in out
    assert "since: not known from the journal" in out


# -- every command: --json, plain help, names people type -----------------------------------------


def test_every_command_takes_json() -> None:
    parser = build_parser()
    for name in COMMANDS:
        sub = next(a for a in parser._actions if a.dest == "command").choices[name]  # type: ignore[union-attr]
        assert any("--json" in a.option_strings for a in sub._actions), name


def test_demo_and_diagram_print_json() -> None:
    code, out, _ = _in_process("demo", "--json")
    demo = json.loads(out)
    assert code == 0
    assert [s["trigger"] for s in demo["steps"]][:3] == ["degrade", "halt", "open"]
    assert demo["steps"][2]["refused"]["code"] == "NOT_ALLOWED_FROM_PHASE" or demo["steps"][2]["refused"]
    assert demo["final"] == {"transitions": 5, "phase": "NORMAL", "version": 5}
    refused = next(e for e in demo["plan"]["entries"] if len(e["blockers"]) > 1)
    assert [b["code"] for b in refused["blockers"]] == [
        "DWELL_NOT_MET", "HEALTH_CHECK_FAILED", "APPROVAL_MISSING"]

    code, out, _ = _in_process("diagram", "@default", "--json")
    diagram = json.loads(out)
    assert code == 0
    assert diagram["diagram"].startswith("stateDiagram-v2")
    assert {"trigger": "open", "source": "PRE_OPEN", "dest": "FULL_OPEN", "guards": []} in (
        diagram["transitions"])


def test_a_refused_plan_step_lists_each_blocker_under_its_own_code() -> None:
    code, out, _ = _in_process("demo")
    lines = out.splitlines()
    at = next(i for i, line in enumerate(lines) if "REFUSED, blocked by 3:" in line)
    assert code == 0
    assert [lines[at + n].split()[0] for n in (1, 2, 3)] == [
        "DWELL_NOT_MET", "HEALTH_CHECK_FAILED", "APPROVAL_MISSING"]


def test_help_is_plain_text() -> None:
    """No reStructuredText or Markdown markup (double backticks, backticks) in any --help."""
    for name in ("", *COMMANDS):
        code, out, _ = _in_process(*name.split(), "--help")
        assert code == 0
        assert "`" not in out, name


@pytest.mark.parametrize("given", ["PRE_OPEN", "pre_open", "Pre-Open", "pre-open"])
def test_phase_names_ignore_case_and_dashes(given: str) -> None:
    code, out, _ = _in_process("explain", "@default", given, "cancel")
    assert code == 0
    assert "phase     PRE_OPEN" in out


def test_a_misspelt_phase_gets_a_suggestion() -> None:
    code, _, err = _in_process("explain", "@default", "pre_opn", "cancel")
    assert code == 2
    assert "unknown phase 'pre_opn' (did you mean PRE_OPEN?)" in err


def test_at_restart_names_the_packaged_restart_policy() -> None:
    code, out, _ = _in_process("check", "@restart")
    assert code == 0
    assert "@restart: policy 'restart'" in out or "is valid" in out
    code, _, err = _in_process("check", "@restat")
    assert code == 2
    assert "(did you mean @restart?)" in err


def test_the_packaged_policies_are_the_python_ones() -> None:
    assert loads_policy(_packaged("restart")) == restart_policy()
    assert loads_policy(_packaged("default")) == default_policy()


def _packaged(name: str) -> str:
    import importlib.resources  # noqa: PLC0415

    return (importlib.resources.files("exchange_recovery") / "policies" / f"{name}.toml").read_text(
        encoding="utf-8")


# -- no traceback, whatever the command line -----------------------------------------------------


def _bad_command_lines(tmp_path: pathlib.Path) -> list[list[str]]:
    """About a hundred wrong command lines: missing, unknown, unreadable, malformed."""
    files = {
        "empty.toml": b"",
        "binary.toml": b"\x00\xff\xfe garbage \x80",
        "syntax.toml": b'name = "x"\ninitial = NORMAL\n',
        "latin1.toml": 'name = "caf\xe9"\n'.encode("latin-1"),
        "journal.jsonl": b'{"not": "a record"}\nnot json at all\n',
        "binary.jsonl": b"\x00\x01\x02\xff",
        "empty.jsonl": b"",
    }
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    (tmp_path / "dir.toml").mkdir()
    (tmp_path / "dir.jsonl").mkdir()
    t = {name: str(tmp_path / name) for name in [*files, "dir.toml", "dir.jsonl"]}
    missing = str(tmp_path / "missing")
    long = "x" * 5000
    weird = ["\x1b[31mred", "ops\nHALTED", "\u202eevil", "", " ", "-", "--", "@", "@@default",
             long]
    lines: list[list[str]] = [
        [], ["--bogus"], ["frobnicate"], ["DEMO"], ["help"], ["--json"], ["demo", "extra"],
        ["demo", "--json", "--json", "x"], ["check"], ["check", "a", "b"], ["check", "--format"],
        ["matrix", "@default", "--format"], ["matrix", "@default", "--format", "html"],
        ["diagram", "@default", "--format", "svg"], ["explain"], ["explain", "@default"],
        ["explain", "@default", "PRE_OPEN"], ["explain", "@default", "NOPE", "cancel"],
        ["explain", "@default", "PRE_OPEN", "nonsense"], ["explain", "@default", "PRE_OPEN", "new", "new",
                                                            "cancel"],
        ["explain", "@default", "PRE_OPEN", "type=rocket"], ["explain", "@default", "PRE_OPEN", "x=y"],
        ["explain", "@default", "PRE_OPEN", "instrument="], ["explain", "@default", "PRE_OPEN",
                                                             f"instrument={long}"],
        ["explain", "@default", "PRE_OPEN", "market", "post-only"],
        ["explain", "@default", "PRE_OPEN", "limit", "limit=", "="],
        ["replay"], ["verify"], ["status"], ["status", "--policy"],
        ["replay", missing], ["verify", missing], ["status", missing],
        ["status", t["journal.jsonl"], "--policy", missing],
        ["status", t["journal.jsonl"], "--policy", "@nope"],
    ]
    for command in ("check", "matrix", "diagram"):
        lines += [[command, p] for p in (missing, t["empty.toml"], t["binary.toml"], t["syntax.toml"],
                                         t["latin1.toml"], t["dir.toml"], "@nope", *weird)]
        lines.append([command, t["syntax.toml"], "--json"])
    for command in ("replay", "verify", "status"):
        lines += [[command, p] for p in (t["journal.jsonl"], t["binary.jsonl"], t["empty.jsonl"],
                                         t["dir.jsonl"], t["binary.toml"], *weird[:4])]
        lines.append([command, t["journal.jsonl"], "--policy", t["syntax.toml"]])
        lines.append([command, t["journal.jsonl"], "--json"])
    lines += [["explain", "@default", w, "cancel"] for w in weird]
    lines += [["explain", "@default", "PRE_OPEN", w] for w in weird]
    return lines


def test_no_command_line_ends_in_a_traceback(tmp_path: pathlib.Path) -> None:
    """Every wrong command line: exit 1 or 2, at most one line on stderr (one when it is 2), and
    never a traceback."""
    lines = _bad_command_lines(tmp_path)
    assert len(lines) >= 100
    for argv in lines:
        code, out, err = _in_process(*argv)
        where = f"{argv!r} -> {code}: {err!r}"
        assert code in (1, 2), where
        assert "Traceback" not in out + err, where
        assert "internal error" not in err, where
        assert len(err.splitlines()) == (1 if code == 2 else len(err.splitlines())) <= 1, where
