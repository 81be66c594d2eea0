"""Crash recovery under SIGKILL: every acknowledged transition survives a kill at any moment."""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import subprocess
import sys

from crash_child import NEXT, SCOPES

from exchange_recovery import IntegrityCode, default_policy, recover

CHILD = pathlib.Path(__file__).with_name("crash_child.py")
ROUNDS = 20
POLICY = default_policy()


def _kill_after_first_ack(path: pathlib.Path, delay: float) -> list[str]:
    """Run the child against `path`; SIGKILL it `delay` s after its first ack; its lines."""
    env = {**os.environ, "PYTHONPATH": str(CHILD.parent.parent)}
    child = subprocess.Popen([sys.executable, str(CHILD), str(path)], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    assert child.stdout is not None
    lines = [child.stdout.readline(), child.stdout.readline()]
    assert lines[1].startswith("ack"), (lines, child.stderr.read() if child.stderr else "")
    try:
        child.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGKILL)
    lines.extend(child.stdout.readlines())  # through the same buffer readline() filled
    assert child.wait(timeout=30) == -signal.SIGKILL, child.stderr.read() if child.stderr else ""
    child.stdout.close()
    if child.stderr is not None:
        child.stderr.close()
    return [line for line in lines if line.endswith("\n")]  # a line cut by the kill was never acked


def _journaled_versions(path: pathlib.Path) -> set[int]:
    return {json.loads(line)["version"] for line in path.read_bytes().splitlines()}


def test_every_acknowledged_transition_survives_sigkill(tmp_path: pathlib.Path) -> None:
    """Killed at random moments, 20 times: recovery keeps every ack, at most one more in flight."""
    path = tmp_path / "journal.jsonl"
    rng = random.Random(20221218)  # noqa: S311 - seeded on purpose: the same delays every run
    phases: dict[str, str] = {"venue": POLICY.initial}
    version = 0
    acked = 0
    for _ in range(ROUNDS):
        lines = _kill_after_first_ack(path, rng.uniform(0.0, 0.04))
        assert lines[0] == f"start {version}\n"  # each restart resumes where the last one ended
        for line in lines[1:]:
            _, number, scope, dest = line.split()
            assert int(number) == version + 1
            version, phases[scope] = int(number), dest
            acked += 1
        # Arrange what may have been in flight when the kill landed: the child's next step.
        scope = SCOPES[version % 2]
        spec = POLICY.transition(phases.get(scope, POLICY.normal), NEXT[phases.get(scope, "NORMAL")])
        assert spec is not None
        in_flight = ({**phases, scope: spec.dest}, version + 1)

        recovered = recover(path, POLICY, durability="none")

        assert recovered.recovery is not None
        assert recovered.recovery.trusted, recovered.recovery.problems
        assert recovered.recovery.codes <= {IntegrityCode.TORN_TAIL}
        assert set(range(1, version + 1)) <= _journaled_versions(path)
        state = (dict(recovered.gate.phases), recovered.version)
        assert state in ((phases, version), in_flight)
        recovered.journal.close()  # type: ignore[union-attr]
        if state == in_flight:
            phases, version = in_flight
    assert acked >= ROUNDS
