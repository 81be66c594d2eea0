"""Engines act on transitions: listeners on the controller and on a following gateway."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from structlog.testing import capture_logs

from exchange_recovery import (
    VENUE,
    ConfigurationError,
    Controller,
    CoordinatorState,
    Follower,
    OrderType,
    Origin,
    PhaseChange,
    PhaseChanges,
    Request,
    RestingAction,
    SystemCancel,
    TransitionRecord,
    default_policy,
)
from exchange_recovery.testing import ManualClock

LIMIT = Request.new_order("BTC-USDT", OrderType.LIMIT)
STOP = Request.new_order("BTC-USDT", OrderType.STOP_MARKET)
LIQUIDATION = Request.new_order("BTC-USDT", OrderType.LIMIT, reduce_only=True,
                                origin=Origin.LIQUIDATION)


def test_a_listener_runs_after_the_gate_published_the_change() -> None:
    """Inside the listener, a check already sees the new phase."""
    controller = Controller(default_policy())
    seen: list[tuple[str, bool]] = []
    controller.add_listener(lambda change: seen.append(
        (change.dest, controller.gate.check(LIMIT).accepted)))

    controller.halt(actor="ops:alice", reason="zone down")

    assert seen == [("HALTED", False)]


def test_a_halt_tells_the_engine_to_cancel_liquidations_and_suspend_stops_by_class() -> None:
    controller = Controller(default_policy())
    changes: list[PhaseChange] = []
    controller.add_listener(changes.append)

    controller.halt(actor="ops:alice", reason="zone down")

    (change,) = changes
    assert (change.scope, change.source, change.dest, change.cause) == (
        VENUE, "NORMAL", "HALTED", "fired")
    assert change.record is not None
    assert change.record.version == change.version == 1
    rule = change.disposition.rule
    assert rule(LIQUIDATION).action is RestingAction.CANCEL
    assert rule(STOP).action is RestingAction.SUSPEND
    assert rule(STOP).until == "NORMAL"
    assert rule(LIMIT).action is RestingAction.KEEP
    assert change.cancel_code is SystemCancel.TRADING_HALT
    assert change.cancel_code.fix_restatement_reason == 6


def test_the_phase_that_ends_a_suspension_says_it_reinstates() -> None:
    controller = Controller(default_policy())
    changes: list[PhaseChange] = []
    controller.halt(actor="ops:alice", reason="zone down")
    controller.add_listener(changes.append)

    for trigger in ("pre_open", "open", "normalize"):
        controller.fire(trigger, actor="ops:alice", reason="restart")

    assert [c.dest for c in changes] == ["PRE_OPEN", "FULL_OPEN", "NORMAL"]
    assert [c.disposition.reinstates for c in changes] == ["PRE_OPEN", "FULL_OPEN", "NORMAL"]
    assert not any(c.disposition.changes_anything for c in changes)


def test_a_failing_listener_is_reported_and_neither_stops_the_others_nor_undoes_the_change(
) -> None:
    controller = Controller(default_policy())
    after: list[str] = []

    def broken(change: PhaseChange) -> None:
        raise RuntimeError("engine bug")

    controller.add_listener(broken)
    controller.add_listener(lambda change: after.append(change.dest))
    with capture_logs() as logs:
        record = controller.halt(actor="ops:alice", reason="zone down")

    assert record is not None
    assert controller.phase() == "HALTED"
    assert after == ["HALTED"]
    failed = [e for e in logs if e["event"] == "listener_failed"]
    assert [e["log_level"] for e in failed] == ["critical"]
    assert failed[0]["version"] == 1
    assert "engine bug" in failed[0]["error"]


def test_a_listener_may_call_the_controller_and_changes_still_arrive_in_version_order() -> None:
    """A listener that halts an instrument when the venue degrades: no deadlock, in order."""
    controller = Controller(default_policy())
    versions: list[tuple[int, str, str]] = []

    def react(change: PhaseChange) -> None:
        versions.append((change.version, change.scope, change.dest))
        if change.dest == "DEGRADED":
            controller.halt(actor="engine", reason="thin book", scope="BTC-USDT")

    controller.add_listener(react)
    controller.degrade(actor="ops:alice", reason="lag")

    assert versions == [(1, VENUE, "DEGRADED"), (2, "BTC-USDT", "HALTED")]


def test_listeners_are_never_called_concurrently_and_see_every_version_in_order() -> None:
    controller = Controller(default_policy())
    seen: list[int] = []
    inside = threading.Lock()
    overlaps: list[int] = []

    def listener(change: PhaseChange) -> None:
        if not inside.acquire(blocking=False):
            overlaps.append(change.version)
            return
        try:
            time.sleep(0.001)  # a slow listener: any overlap would be seen
            seen.append(change.version)
        finally:
            inside.release()

    controller.add_listener(listener)
    start = threading.Barrier(4)

    def worker(i: int) -> None:
        start.wait()
        for n in range(25):
            scope = f"INST-{i}-{n}"
            controller.halt(actor="ops:alice", reason="drill", scope=scope)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert overlaps == []
    assert seen == list(range(1, 101))


def test_the_call_that_made_a_change_returns_after_its_listeners_ran() -> None:
    controller = Controller(default_policy())
    ran: list[int] = []
    controller.add_listener(lambda change: ran.append(change.version))

    record = controller.halt(actor="ops:alice", reason="zone down")

    assert record is not None
    assert ran == [record.version]


def test_a_removed_listener_is_not_called_and_a_non_callable_is_refused() -> None:
    controller = Controller(default_policy())
    seen: list[PhaseChange] = []
    remove = controller.add_listener(seen.append)
    remove()
    controller.halt(actor="ops:alice", reason="zone down")
    assert seen == []
    with pytest.raises(ConfigurationError, match="listener must be callable"):
        controller.add_listener(5)  # type: ignore[arg-type]


def test_an_applied_record_reaches_listeners_too() -> None:
    leader, replica = Controller(default_policy()), Controller(default_policy())
    seen: list[PhaseChange] = []
    replica.add_listener(seen.append)

    record = leader.halt(actor="ops:alice", reason="zone down")
    assert record is not None
    replica.apply(record)

    assert [(c.dest, c.cause, c.record) for c in seen] == [("HALTED", "applied", record)]


def _record(version: int, source: str, dest: str, trigger: str, scope: str = VENUE,
            actor: str = "ops:alice") -> TransitionRecord:
    return TransitionRecord(version, scope, source, dest, trigger, actor, "drill", 0.0,
                            relaxing=default_policy().is_relaxing(source, dest))


def test_a_following_gateway_tells_its_engine_about_followed_records() -> None:
    clock = ManualClock(100.0)
    follower = Follower(default_policy(), staleness=3.0, clock=clock)
    follower.adopt(CoordinatorState.of({}), clock())
    seen: list[PhaseChange] = []
    follower.add_listener(seen.append)

    halt = _record(1, "NORMAL", "HALTED", "halt")
    follower.apply(halt)

    assert [(c.scope, c.source, c.dest, c.cause, c.record) for c in seen] == [
        (VENUE, "NORMAL", "HALTED", "followed", halt)]
    assert seen[0].cancel_code is SystemCancel.TRADING_HALT


def test_a_gateway_that_fails_safe_for_lack_of_news_reports_a_system_failure() -> None:
    clock = ManualClock(100.0)
    follower = Follower(default_policy(), staleness=3.0, clock=clock)
    follower.adopt(CoordinatorState.of({}), clock())
    seen: list[PhaseChange] = []
    follower.add_listener(seen.append)

    clock.advance(5)
    assert follower.check_staleness()
    clock.advance(0.1)
    assert follower.fresh(CoordinatorState.of({}), clock())

    assert [(c.dest, c.cause) for c in seen] == [("HALTED", "stale"), ("NORMAL", "fresh")]
    assert seen[0].cancel_code is SystemCancel.SYSTEM_FAILURE
    assert seen[0].cancel_code.fix_restatement_reason == 7
    assert seen[0].record is None


def test_a_full_read_reports_each_scope_it_moved() -> None:
    clock = ManualClock(100.0)
    follower = Follower(default_policy(), staleness=3.0, clock=clock)
    seen: list[PhaseChange] = []
    follower.add_listener(seen.append)

    state = CoordinatorState.of({"BTC-USDT": _record(4, "NORMAL", "HALTED", "halt",
                                                     scope="BTC-USDT")})
    follower.adopt(state, clock())

    assert {(c.scope, c.source, c.dest) for c in seen} == {
        ("BTC-USDT", "NORMAL", "HALTED"), (VENUE, "HALTED", "NORMAL")}
    assert seen[0].scope == "BTC-USDT"  # the scopes first, then the venue relaxes


def test_changes_reach_an_asyncio_engine_in_order() -> None:
    async def main() -> list[str]:
        controller = Controller(default_policy())
        changes = PhaseChanges()
        controller.add_listener(changes)

        def operator() -> None:
            controller.halt(actor="ops:alice", reason="zone down")
            controller.pre_open(actor="ops:alice", reason="rebuild")

        await asyncio.to_thread(operator)
        got = []
        async for change in changes:
            got.append(change.dest)
            if len(got) == 2:
                break
        return got

    assert asyncio.run(main()) == ["HALTED", "PRE_OPEN"]


def test_phase_changes_need_an_event_loop() -> None:
    with pytest.raises(ConfigurationError, match="event loop"):
        PhaseChanges()
    with pytest.raises(ConfigurationError, match="loop must be"):
        PhaseChanges(loop=5)  # type: ignore[arg-type]
