"""The examples run and tell the story they claim to tell."""

from __future__ import annotations

import importlib.util
import pathlib
import subprocess
import sys
from types import ModuleType

import pytest

from exchange_recovery._cli.demo import run as demo_run
from exchange_recovery._cli.demo import story as demo_story

EXAMPLES = pathlib.Path(__file__).parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    """Import examples/<name>.py as a module (examples are not a package)."""
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _section(lines: list[str], header: str) -> str:
    text = "\n".join(lines)
    start = text.index(header)
    end = text.find("\n\n", start)
    return text[start:] if end < 0 else text[start:end]


def test_demo_runs_as_a_script_and_prints_the_timeline() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES / "okx_2022_restart.py")],
                          capture_output=True, text=True, check=True, timeout=60)
    assert "HALTED -> PRE_OPEN" in done.stdout
    assert "final phase NORMAL, version 5" in done.stdout


def test_demo_pre_open_accepts_margin_and_post_only_and_refuses_market_orders() -> None:
    pre_open = _section(demo_run(), "HALTED -> PRE_OPEN")
    assert "ACCEPT  post-only limit" in pre_open
    assert "ACCEPT  add margin" in pre_open
    assert "reject  market buy          ORDER_TYPE_NOT_ALLOWED" in pre_open
    assert "matching=off" in pre_open


def test_demo_shows_the_refused_shortcut_from_halt_to_open() -> None:
    lines = demo_run()
    refused = _section(lines, "REFUSED open")
    assert "TRANSITION_NOT_ALLOWED" in refused
    assert "transition_refused" in refused


def test_demo_halt_cancels_liquidations_and_suspends_stops_and_normal_reinstates_them() -> None:
    """The demo engine's listener applies each phase's disposition to its book, by class."""
    steps = {step["trigger"]: step for step in demo_story()["steps"] if step["record"]}

    assert steps["halt"]["book"] == [
        {"event": "suspended", "order": "client stop-market sell at 95", "until": "NORMAL"},
        {"event": "cancelled", "order": "liquidation sell 102 (reduce-only)",
         "code": "TRADING_HALT", "fix_378": 6},
    ]
    assert steps["normalize"]["book"] == [
        {"event": "reinstated", "order": "client stop-market sell at 95"}]
    assert steps["open"]["book"] == []


def test_demo_pre_open_refuses_a_post_only_bid_through_the_ask_and_rests_one_behind_it() -> None:
    pre_open = _section(demo_run(), "HALTED -> PRE_OPEN")
    assert "book: post-only bid 101 with the book at 99/101: WOULD_CROSS" in pre_open
    assert "book: post-only bid 100 with the book at 99/101: ACCEPTED" in pre_open


def test_demo_shows_the_other_venue_deferring_releasing_and_cancelling_withdrawals() -> None:
    """Issue #16: the same outage at the venue that kept trading and deferred funds."""
    other = demo_story()["other_venue"]
    deferred, released = other["steps"]
    assert [e for e in deferred["events"] if e["event"] == "withdrawal"] == [
        {"event": "withdrawal", "owner": owner, "reason": "DEFERRED", "until": "NORMAL"}
        for owner in ("alice", "bob")]
    assert {"event": "cancelled", "owner": "bob", "reason": "ACCEPTED"} in deferred["events"]
    assert {"event": "trading", "request": "market buy", "reason": "ACCEPTED"} in (
        deferred["events"])
    assert released["events"] == [{"event": "released", "owner": "alice", "action": "WITHDRAWAL"}]
    assert other["held"] == []
    assert other["default_degraded_withdrawal"] == "ACTION_NOT_ALLOWED"
    text = "\n".join(demo_run())
    assert "released: alice's withdrawal processed" in text


def test_venue_modes_policy_gates_by_its_own_modes() -> None:
    lines = load_example("venue_modes_policy").run()
    assert "ACCEPT  cancel" in _section(lines, "cancel_only on venue")
    assert "REDUCE_ONLY_REQUIRED" in _section(lines, "reduce_only on ETH-USD")
    assert "HALT_SKIPS_PRE_OPEN" in "\n".join(lines)


def test_benchmark_runs_in_quick_mode() -> None:
    done = subprocess.run([sys.executable, str(EXAMPLES.parent / "benchmarks" / "gate_bench.py"),
                           "--quick"], capture_output=True, text=True, timeout=120, check=False)
    assert "ratio" in done.stdout, done.stderr
    assert done.returncode in {0, 1}  # 1 = a goal missed on this (noisy) machine; not a test failure


def test_fastlob_restart_trades_only_in_matching_phases() -> None:
    """The replay through fastlob: trades in NORMAL and FULL_OPEN, none while halted or pre-open."""
    pytest.importorskip("fastlob")
    done = subprocess.run([sys.executable, str(EXAMPLES / "fastlob_restart.py")],
                          capture_output=True, text=True, check=True, timeout=60)
    summary = done.stdout.strip().splitlines()[-1]
    assert summary == ("trades per phase: NORMAL 1, DEGRADED 1, HALTED 0, PRE_OPEN 0, "
                       "FULL_OPEN 2, NORMAL again 1")
    pre_open = _section(done.stdout.splitlines(), "HALTED -> PRE_OPEN")
    assert "post-only would take liquidity" in pre_open
    assert "trade" not in pre_open.replace("matching", "")


def test_bourse_restart_trades_only_in_matching_phases_and_never_crosses() -> None:
    """The replay through bourse: its trading switch follows the gate, no crossing post-only."""
    try:
        import bourse  # noqa: F401, PLC0415 - only whether it imports
    except ImportError:
        pytest.skip(f"UNAVAILABLE ON THIS PYTHON: bourse 0.4.0 has wheels for CPython <= 3.12, "
                    f"this is {sys.version.split()[0]}")
    done = subprocess.run([sys.executable, str(EXAMPLES / "bourse_restart.py")],
                          capture_output=True, text=True, check=True, timeout=60)
    summary = done.stdout.strip().splitlines()[-1]
    assert summary == ("trades per phase: NORMAL 1, DEGRADED 0, HALTED 0, PRE_OPEN 0, "
                       "FULL_OPEN 2, NORMAL again 1")
    pre_open = _section(done.stdout.splitlines(), "HALTED -> PRE_OPEN")
    assert "post-only buy 1 @ 101 (at the ask) refuse  by the engine" in pre_open
    assert "-> 102 refuse  by the engine: it would cross the ask" in pre_open
    assert "bourse trading switch: off" in pre_open
    assert "book: bid 100 / ask 101;" in pre_open


def test_demo_reopens_lse_style_with_one_extension_an_uncross_and_the_liquidation_clock() -> None:
    """The demo's reopening: the call, a random end, one extension because the price moved,
    the uncross, then liquidations held 15 minutes and released 10 a minute; the same every run."""
    first, second = demo_story()["reopening"], demo_story()["reopening"]
    assert first == second  # a fixed seed: the same end, extension and schedule every run
    events = [e["event"] for e in first["entries"]]
    assert events.count("auction extended") == 1
    assert events.count("auction uncross") == 1
    assert first["auction"]["state"] == "UNCROSSED"
    assert first["auction"]["open_price"] == 103.2
    liquidations = [e["detail"] for e in first["entries"] if e["event"].startswith("liquidate")]
    assert liquidations[0].startswith("not yet: LIQUIDATION_NOT_RELEASED")
    assert liquidations[1:11] == ["accepted"] * 10
    assert liquidations[11].startswith("not yet: LIQUIDATION_RATE_LIMITED")
