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

from exchange_recovery import VENUE, IntegrityCode, default_policy, recover

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
    """The versions of the complete records in `path` (a torn last line is not one)."""
    return {json.loads(line)["version"] for line in path.read_bytes().split(b"\n")[:-1]}


def _next_step(phases: dict[str, str], version: int) -> tuple[str, str, str]:
    """(scope, trigger, destination) of the child's next transition from this state."""
    scope = SCOPES[version % 2]
    trigger = NEXT[phases.get(scope, POLICY.normal)]
    spec = POLICY.transition(phases.get(scope, POLICY.normal), trigger)
    assert spec is not None
    return scope, trigger, spec.dest


def _own(phases: dict[str, str]) -> dict[str, str]:
    """`phases` as the gate keeps them: an instrument back in the normal phase has none of its
    own (it follows the venue)."""
    return {s: p for s, p in phases.items() if s == VENUE or p != POLICY.normal}


def _recover_and_check(path: pathlib.Path, phases: dict[str, str], version: int,
                       since: int = 1) -> tuple[dict[str, str], int, bool]:
    """Recover `path` after a kill that left `phases` at `version` acknowledged; check that no
    ack was lost and the state is the acked one, the one in flight, or (a torn record that may
    be a halt) fail-safe everywhere. A record written but not yet anchored when the kill came
    is dropped if it was relaxing (never acked), else kept. `since` is the first version the
    journal at `path` holds (after an earlier fail-safe restart, the acks before it were kept
    aside with the untrusted journal and checked there). Returns the recovered phases, version,
    and whether trusted."""
    scope, _, dest = _next_step(phases, version)
    in_flight = (_own({**phases, scope: dest}), version + 1)

    recovered = recover(path, POLICY, durability="none")
    recovered.journal.close()  # type: ignore[union-attr]

    report = recovered.recovery
    assert report is not None
    assert report.codes <= {IntegrityCode.TORN_TAIL, IntegrityCode.UNANCHORED_RECORD}
    state = (dict(recovered.gate.phases), recovered.version)
    if report.trusted:
        assert set(range(since, version + 1)) <= _journaled_versions(path)
        assert state in ((_own(phases), version), in_flight)
    else:
        # The kill split the in-flight record's write (at a page boundary) before its
        # "relaxing" flag: it may have been a halt already in effect, so the state is not known
        # and every scope starts fail-safe, one version on. No acknowledged record was lost.
        assert report.codes == {IntegrityCode.TORN_TAIL}
        assert report.moved_to is not None
        kept = report.moved_to.read_bytes()
        assert set(range(since, version + 1)) <= _journaled_versions(report.moved_to)
        assert kept.rsplit(b"\n", 1)[1]  # the torn line
        assert b'"relaxing":true,' not in kept.rsplit(b"\n", 1)[1]
        assert set(state[0].values()) == {POLICY.fail_safe}
        assert set(_own(phases)) <= set(state[0])
        assert state[1] == version + 1
        assert min(_journaled_versions(path)) == state[1]  # the new journal opens with the snapshot
    return state[0], state[1], report.trusted


def test_every_acknowledged_transition_survives_sigkill(tmp_path: pathlib.Path) -> None:
    """Killed at random moments, 20 times: recovery keeps every ack, at most one more in flight."""
    path = tmp_path / "journal.jsonl"
    rng = random.Random(20221218)  # noqa: S311 - seeded on purpose: the same delays every run
    phases: dict[str, str] = {"venue": POLICY.initial}
    version = 0
    acked = fail_safes = 0
    since = 1  # the first version the journal holds: a fail-safe restart opens a new one
    for _ in range(ROUNDS):
        lines = _kill_after_first_ack(path, rng.uniform(0.0, 0.04))
        assert lines[0] == f"start {version}\n"  # each restart resumes where the last one ended
        for line in lines[1:]:
            _, number, scope, dest = line.split()
            assert int(number) == version + 1
            version, phases[scope] = int(number), dest
            acked += 1
        phases, version, trusted = _recover_and_check(path, phases, version, since)
        fail_safes += not trusted
        since = since if trusted else version
    assert acked >= ROUNDS
    assert fail_safes < ROUNDS // 2  # a torn write needs a kill inside a page-crossing write()


def test_a_kill_that_tears_a_halt_mid_write_restarts_fail_safe_and_loses_no_ack(
        tmp_path: pathlib.Path) -> None:
    """The kernel can stop a write() at a page boundary: a torn tightening record (in effect,
    never acked) restarts every scope fail-safe; the next process goes on from there."""
    path = tmp_path / "journal.jsonl"
    controller = recover(path, POLICY, create=True, durability="none")
    phases: dict[str, str] = {"venue": POLICY.initial}
    while True:
        scope, trigger, dest = _next_step(phases, controller.version)
        if not POLICY.is_relaxing(phases.get(scope, POLICY.normal), dest) and controller.version:
            break
        controller.fire(trigger, actor="test:crash", reason="crash loop", scope=scope)
        phases[scope] = dest
    version = controller.version
    anchor = path.with_name(f"{path.name}.anchor")
    anchored = anchor.read_bytes()
    controller.fire(trigger, actor="test:crash", reason="crash loop", scope=scope)
    controller.journal.close()  # type: ignore[union-attr]
    anchor.write_bytes(anchored)  # the kill came mid-write: the anchor never moved
    whole = path.read_bytes()
    cut = whole.rindex(b'"relaxing":')  # the in-flight halt, cut before its flag
    path.write_bytes(whole[:cut])

    phases, version, trusted = _recover_and_check(path, phases, version)

    assert not trusted
    lines = _kill_after_first_ack(path, 0.0)
    assert lines[0] == f"start {version}\n"
    assert lines[1].startswith(f"ack {version + 1} ")
    since = version  # the new journal opens at the fail-safe snapshot
    for line in lines[1:]:
        _, number, scope, dest = line.split()
        version, phases[scope] = int(number), dest
    _recover_and_check(path, phases, version, since)  # the acks since the snapshot are all kept
