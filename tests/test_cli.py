"""The command line, driven as a user drives it: a subprocess, its output and its exit code."""

from __future__ import annotations

import io
import json
import pathlib
import subprocess
import sys

import pytest

from exchange_recovery import default_policy, dump_policy
from exchange_recovery._cli.main import COMMANDS, main
from exchange_recovery._cli.progress import Progress

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
    """--json: 216 kinds, each with a verdict per phase."""
    data = json.loads(run("matrix", "@default", "--json").stdout)
    assert len(data["kinds"]) == 216
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
