"""Deadlines survive SIGKILL: after recover(), they fire within a second of their original time."""

from __future__ import annotations

import os
import pathlib
import signal
import subprocess
import sys
import time

from deadline_child import INSTRUMENT, crash_policy

from exchange_recovery import VENUE, Deadlines, Firing, FiringOutcome, recover

CHILD = pathlib.Path(__file__).with_name("deadline_child.py")
TOLERANCE = 1.0
"""How far from its original time a deadline may fire (the issue: within ±1 s)."""


def _run_and_kill(path: pathlib.Path) -> tuple[float, float, float, float]:
    """Run the child on `path` until it is ready, SIGKILL it; (entered, due, begin, killed_at)."""
    env = {**os.environ, "PYTHONPATH": str(CHILD.parent.parent)}
    child = subprocess.Popen([sys.executable, str(CHILD), str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        child.send_signal(signal.SIGKILL)
        killed_at = time.time()
        assert line.startswith("ready "), (line, child.stderr.read() if child.stderr else "")
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        child.kill()
        child.wait(timeout=30)
        for stream in (child.stdout, child.stderr):
            if stream is not None:
                stream.close()
    entered, due, begin = map(float, line.split()[1:])
    return entered, due, begin, killed_at


def test_a_max_stay_and_a_window_fire_on_time_after_sigkill_and_recover(
        tmp_path: pathlib.Path) -> None:
    """The recovered process fires the journaled deadline and window begin within ±1 s."""
    # Arrange: the child entered PRE_OPEN (max stay 4 s, then halt), announced a window on an
    # instrument beginning 5 s after that, journaled both, and was killed.
    path = tmp_path / "journal.jsonl"
    entered, due, begin, killed_at = _run_and_kill(path)
    assert killed_at < due - 1, "the child was killed too late for this test to mean anything"

    # Act: the new process starts 2 s after the entry (a deadline counted again from the
    # restart would come 2 s late), recovers on the real clock, and polls as a timer would.
    time.sleep(max(0.0, entered + 2.0 - time.time()))
    controller = recover(path, crash_policy(), durability="none")
    assert controller.phase() == "PRE_OPEN"
    deadlines = Deadlines(controller, actor="auto:deadlines")
    fired: list[Firing] = []
    stop = begin + 5 * TOLERANCE
    while time.time() < stop and len(fired) < 2:
        fired += deadlines.poll()
        time.sleep(0.05)

    # Assert: each fired once, at its original time (not counted again from the recovery).
    by_kind = {f.kind: f for f in fired}
    assert sorted(by_kind) == ["begin", "max_stay"], fired
    stay, window = by_kind["max_stay"], by_kind["begin"]
    assert (stay.scope, stay.due, stay.outcome) == (VENUE, due, FiringOutcome.FIRED)
    assert (window.scope, window.due, window.outcome) == (INSTRUMENT, begin, FiringOutcome.FIRED)
    assert abs(stay.at - due) <= TOLERANCE, (stay, due)
    assert abs(window.at - begin) <= TOLERANCE, (window, begin)
    assert due == entered + 4.0
    assert (controller.phase(), controller.phase(INSTRUMENT)) == ("HALTED", "HALTED")
