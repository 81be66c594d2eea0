"""The fence: a halt holds for an engine that group-commits its write-ahead log.

`GroupCommitEngine` is a two-stage engine like the ones that batch their WAL: a sequencer
thread stamps each batch, checks its orders with ``gate.check`` and writes the accepted ones to
the WAL; a matcher thread "fsyncs" the batch, clears it, fills its orders and acknowledges it.
Each batch's fsync and matching can be held on an `threading.Event` the test controls, so every
interleaving below is forced, never left to timing. Both threads and the test append to one
`events` list (an append is atomic under the GIL): its order is the order things happened in.

Without the fence's check (`Unfenced`: ``clear`` always True) the issue's failure comes back:
every order checked before ``halt()`` returned fills after it returned. With it, the batch the
halt overtook is re-checked and cancelled (journaled as cancels), and once
``fence.wait(halt.version)`` returns True nothing accepted before the halt fills.
"""

from __future__ import annotations

import math
import queue
import sys
import threading
from collections.abc import Iterator
from typing import Final

import pytest

from exchange_recovery import (
    ConfigurationError,
    Controller,
    Fence,
    Follower,
    Gate,
    OrderType,
    Request,
    default_policy,
)

BTC: Final = "BTC-USDT-SWAP"
ORDER: Final = Request.new_order(BTC, OrderType.LIMIT)
LIMIT: Final = 10.0
"""Seconds any wait in these tests may take before it counts as a hang (never reached)."""

Event = tuple[str, int]
"""``(what, order id or version)``: "checked" / "refused" / "fill" / "cancel" (an order id),
"halt_returned" / "ack" / "wait_returned" (a version)."""


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    """Threads interleave often: a race the events miss would show."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


class Unfenced(Fence):
    """The fence with its check removed: every batch is taken as cleared."""

    __slots__ = ()

    def clear(self, stamp: int) -> bool:
        return True


class Batch:
    """Orders sent together, and the events the test holds them on."""

    def __init__(self, ids: range, *, hold_fsync: bool = False, hold_match: bool = False) -> None:
        self.ids = list(ids)
        self.accepted: list[int] = []
        self.sequenced = threading.Event()  # set by the engine: checked and in the WAL
        self.written = threading.Event()   # set by the engine: its fsync under way
        self.fsync = threading.Event()     # set by the test: the fsync completes
        self.matching = threading.Event()  # set by the engine: the first order filled
        self.resume = threading.Event()    # set by the test: the rest may fill
        self.done = threading.Event()      # set by the engine: matched and acknowledged
        self.hold_match = hold_match
        if not hold_fsync:
            self.fsync.set()


class GroupCommitEngine:
    """A sequencer thread (stamp, check, write) and a matcher thread (fsync, clear, fill, ack)."""

    def __init__(self, controller: Controller, fence: Fence) -> None:
        self.check = controller.gate.check
        self.fence = fence
        self.events: list[Event] = []
        self.wal: list[Event] = []  # ("order", id) and ("cancel", id): never a refused command
        self._sent: list[Batch] = []
        self._inbox: queue.Queue[Batch | None] = queue.Queue()
        self._commits: queue.Queue[tuple[int, Batch] | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._sequence, name="sequencer"),
                         threading.Thread(target=self._match, name="matcher")]
        for thread in self._threads:
            thread.start()

    def send(self, batch: Batch) -> Batch:
        self._sent.append(batch)
        self._inbox.put(batch)
        return batch

    def stop(self) -> None:
        """Release every held batch and end both threads (also when a test failed midway)."""
        for batch in self._sent:
            batch.fsync.set()
            batch.resume.set()
        self._inbox.put(None)
        for thread in self._threads:
            thread.join(LIMIT)
            assert not thread.is_alive(), thread.name

    def _sequence(self) -> None:
        check, fence, events = self.check, self.fence, self.events
        while (batch := self._inbox.get()) is not None:
            stamp = fence.stamp()                         # R1: before the first check
            for oid in batch.ids:
                if check(ORDER).accepted:
                    events.append(("checked", oid))
                    batch.accepted.append(oid)
                else:
                    events.append(("refused", oid))       # replied to; never journaled
            self.wal.extend(("order", oid) for oid in batch.accepted)
            batch.sequenced.set()
            self._commits.put((stamp, batch))
        self._commits.put(None)

    def _match(self) -> None:
        check, fence, events = self.check, self.fence, self.events
        while (item := self._commits.get()) is not None:
            stamp, batch = item
            batch.written.set()
            assert batch.fsync.wait(LIMIT)                # the group commit's fsync
            while not fence.clear(stamp):                 # R2: after the write, before matching
                stamp = fence.stamp()                     # R3: re-check under newer phases
                kept = []
                for oid in batch.accepted:
                    if check(ORDER).accepted:
                        kept.append(oid)
                    else:                                 # a system cancel, journaled as one
                        self.wal.append(("cancel", oid))
                        events.append(("cancel", oid))
                batch.accepted = kept
            for n, oid in enumerate(batch.accepted):
                events.append(("fill", oid))
                if n == 0 and batch.hold_match:
                    batch.matching.set()
                    assert batch.resume.wait(LIMIT)
            fence.acknowledge(stamp)                      # R4: after matching
            events.append(("ack", stamp))
            batch.done.set()


def _after(events: list[Event], marker: str, what: str) -> list[int]:
    """The ids of `what` events after the first `marker` event."""
    start = next(i for i, (kind, _) in enumerate(events) if kind == marker)
    return [oid for kind, oid in events[start + 1:] if kind == what]


def _halt(controller: Controller, events: list[Event]) -> int:
    record = controller.halt(actor="ops:alice", reason="zone down")
    assert record is not None
    events.append(("halt_returned", record.version))
    return record.version


def _overtaken_batch(fence_type: type[Fence]) -> tuple[GroupCommitEngine, int, bool]:
    """Arrange: 50 orders checked and written; the halt comes during their fsync.

    Returns the engine, the halt's version and whether `fence.wait(halt)` returned True.
    """
    controller = Controller(default_policy())
    engine = GroupCommitEngine(controller, fence_type(controller.gate))
    try:
        batch = engine.send(Batch(range(50), hold_fsync=True))
        assert batch.written.wait(LIMIT)
        version = _halt(controller, engine.events)
        waited: list[bool] = []

        def operator_waits() -> None:
            waited.append(engine.fence.wait(version, timeout=LIMIT))
            engine.events.append(("wait_returned", version))

        operator = threading.Thread(target=operator_waits)
        operator.start()
        batch.fsync.set()
        assert batch.done.wait(LIMIT)
        assert engine.send(Batch(range(50, 60))).done.wait(LIMIT)  # checked after the halt
        operator.join(LIMIT)
    finally:
        engine.stop()
    return engine, version, waited == [True]


# -- the engine under a halt -------------------------------------------------------------------


def test_without_the_fence_orders_checked_before_a_halt_fill_after_it() -> None:
    """The issue's failure: 50 of 50 orders checked before halt() returned fill after it."""
    engine, _, _ = _overtaken_batch(Unfenced)

    assert sorted(_after(engine.events, "halt_returned", "fill")) == list(range(50))


def test_a_batch_a_halt_overtook_is_cancelled_not_filled() -> None:
    """The fence: the 50 orders are re-checked after the fsync and cancelled, none fills."""
    engine, version, acknowledged = _overtaken_batch(Fence)

    assert [kind for kind, _ in engine.events].count("fill") == 0
    assert sorted(_after(engine.events, "halt_returned", "cancel")) == list(range(50))
    assert engine.wal == [*(("order", i) for i in range(50)), *(("cancel", i) for i in range(50))]
    assert acknowledged
    assert engine.fence.acknowledged >= version


def test_no_order_checked_after_halt_returns_is_accepted() -> None:
    """Every order sequenced after halt() returned is refused, and never reaches the WAL."""
    for fence_type in (Fence, Unfenced):
        engine, _, _ = _overtaken_batch(fence_type)

        assert _after(engine.events, "halt_returned", "checked") == []
        assert _after(engine.events, "halt_returned", "refused") == list(range(50, 60))
        assert not {("order", i) for i in range(50, 60)} & set(engine.wal)


def test_nothing_accepted_before_the_halt_fills_once_wait_returns() -> None:
    """A pipeline: batch B checked before the halt waits behind A; once wait() is True, B is
    cancelled, not filled."""
    # Arrange: A is in its fsync, B is checked and queued behind it, then the halt
    controller = Controller(default_policy())
    engine = GroupCommitEngine(controller, Fence(controller.gate))
    try:
        first = engine.send(Batch(range(10), hold_fsync=True))
        second = engine.send(Batch(range(10, 20), hold_fsync=True))
        assert first.written.wait(LIMIT)
        assert second.sequenced.wait(LIMIT)  # the sequencer does not wait for fsyncs
        assert not second.written.is_set()
        version = _halt(controller, engine.events)

        # Act: A's fsync completes; the engine acknowledges the halt; then B's
        first.fsync.set()
        assert engine.fence.wait(version, timeout=LIMIT)
        engine.events.append(("wait_returned", version))
        second.fsync.set()
        assert second.done.wait(LIMIT)
    finally:
        engine.stop()

    # Assert: B's orders were checked before the halt, and cancelled after wait() returned
    assert _after(engine.events, "wait_returned", "fill") == []
    assert _after(engine.events, "wait_returned", "cancel") == list(range(10, 20))
    assert [kind for kind, _ in engine.events].count("fill") == 0


def test_a_batch_matching_when_the_halt_comes_fills_before_the_acknowledgement() -> None:
    """Orders already being matched when the halt is published finish, and wait() returns only
    after them: no order accepted before the halt fills after the acknowledgement."""
    controller = Controller(default_policy())
    engine = GroupCommitEngine(controller, Fence(controller.gate))
    try:
        batch = engine.send(Batch(range(10), hold_match=True))
        assert batch.matching.wait(LIMIT)        # cleared before the halt: one order filled
        version = _halt(controller, engine.events)
        assert not engine.fence.wait(version, timeout=0.0)
        batch.resume.set()
        assert batch.done.wait(LIMIT)
        assert not engine.fence.wait(version, timeout=0.0)  # it acknowledged its older stamp
        engine.send(Batch(range(0)))             # an idle tick: an empty batch
        assert engine.fence.wait(version, timeout=LIMIT)
    finally:
        engine.stop()

    filled = _after(engine.events, "halt_returned", "fill")
    assert filled == list(range(1, 10))          # after halt() returned: allowed, but...
    acks = [i for i, (kind, v) in enumerate(engine.events) if kind == "ack" and v >= version]
    fills = [i for i, (kind, _) in enumerate(engine.events) if kind == "fill"]
    assert max(fills) < acks[0]                  # ...all before the halt was acknowledged


def test_a_relaxing_transition_does_not_make_batches_recheck() -> None:
    """pre_open and open refuse nothing more: a batch stamped before them clears."""
    controller = Controller(default_policy())
    controller.halt(actor="ops:alice", reason="zone down")
    fence = Fence(controller.gate)
    stamp = fence.stamp()

    controller.pre_open(actor="ops:alice", reason="zone back")
    controller.open(actor="ops:alice", reason="reopen")

    assert fence.clear(stamp)


def test_a_step_that_relaxes_and_tightens_at_once_makes_batches_recheck() -> None:
    """FULL_OPEN -> DEGRADED refuses market orders: a batch stamped before it must recheck."""
    controller = Controller(default_policy())
    for trigger in ("halt", "pre_open", "open"):
        controller.fire(trigger, actor="ops:alice", reason="walk")
    fence = Fence(controller.gate)
    stamp = fence.stamp()
    market = Request.new_order(BTC, OrderType.MARKET)
    assert controller.gate.check(market).accepted

    controller.fire("degrade", actor="ops:alice", reason="lag")

    assert not controller.gate.check(market).accepted
    assert not fence.clear(stamp)


# -- the API -----------------------------------------------------------------------------------


def test_stamp_is_the_gate_version_and_clear_compares_it_with_tightened() -> None:
    """A stamp taken before a halt does not clear; one taken after it does."""
    controller = Controller(default_policy())
    fence = Fence(controller.gate)
    before = fence.stamp()
    assert before == controller.gate.version == 0
    assert fence.clear(before)

    record = controller.halt(actor="ops:alice", reason="zone down")

    assert record is not None
    assert not fence.clear(before)
    assert fence.stamp() == record.version
    assert fence.clear(fence.stamp())
    assert fence.gate is controller.gate


def test_acknowledged_never_goes_back() -> None:
    """An older acknowledgement is ignored; wait() answers from the latest one."""
    controller = Controller(default_policy())
    fence = Fence(controller.gate)
    assert fence.acknowledged == 0
    for trigger in ("halt", "pre_open"):
        controller.fire(trigger, actor="ops:alice", reason="walk")

    fence.acknowledge(2)
    fence.acknowledge(1)

    assert fence.acknowledged == 2
    assert fence.wait(1, timeout=0.0)
    assert fence.wait(2, timeout=0)
    assert not fence.wait(3, timeout=0.0)
    assert "acknowledged=2" in repr(fence)


def test_acknowledging_a_version_the_gate_has_not_published_is_refused() -> None:
    """No stamp is ahead of the gate: acknowledging one is a bug, and changes nothing."""
    fence = Fence(Controller(default_policy()).gate)

    with pytest.raises(ConfigurationError, match="version 1 is newer than the gate's"):
        fence.acknowledge(1)

    assert fence.acknowledged == 0


def test_wait_is_woken_by_the_acknowledgement() -> None:
    """An operator blocked in wait() returns True as soon as the engine acknowledges."""
    controller = Controller(default_policy())
    fence = Fence(controller.gate)
    record = controller.halt(actor="ops:alice", reason="zone down")
    assert record is not None
    result: list[bool] = []
    operator = threading.Thread(target=lambda: result.append(fence.wait(record.version, LIMIT)))
    operator.start()

    fence.acknowledge(fence.stamp())
    operator.join(LIMIT)

    assert result == [True]


def test_wait_times_out_when_the_engine_does_not_acknowledge() -> None:
    """A dead engine: wait() returns False after its timeout."""
    controller = Controller(default_policy())
    fence = Fence(controller.gate)
    record = controller.halt(actor="ops:alice", reason="zone down")
    assert record is not None

    assert not fence.wait(record.version, timeout=0.01)


def test_a_follower_gate_can_be_fenced() -> None:
    """A gateway's follower gate takes a fence like a controller's."""
    fence = Fence(Follower(default_policy()).gate)

    assert fence.clear(fence.stamp())


# -- bad input -----------------------------------------------------------------------------------

BAD_VERSIONS: Final = [None, "1", 1.0, True, False, -1, math.nan, [1], 2**63 + 0.5]
BAD_TIMEOUTS: Final = [None, "1", True, -1, -0.5, math.nan, math.inf, -math.inf, 1e9, 10**400,
                       86_400.5, [1], 1j]


@pytest.mark.parametrize("gate", [None, "gate", Controller(default_policy()), object()])
def test_a_fence_needs_a_gate(gate: object) -> None:
    """Anything but a Gate is a ConfigurationError naming the argument."""
    with pytest.raises(ConfigurationError, match="gate must be a Gate"):
        Fence(gate)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", BAD_VERSIONS, ids=repr)
def test_a_version_that_is_no_gate_version_is_refused(value: object) -> None:
    """clear, acknowledge and wait name the bad argument with a ConfigurationError."""
    fence = Fence(Gate(default_policy()))

    with pytest.raises(ConfigurationError, match=r"^stamp must be a gate version"):
        fence.clear(value)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^version must be a gate version"):
        fence.acknowledge(value)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match=r"^version must be a gate version"):
        fence.wait(value, timeout=0.0)  # type: ignore[arg-type]
    assert fence.acknowledged == 0


@pytest.mark.parametrize("value", BAD_TIMEOUTS, ids=repr)
def test_a_timeout_that_is_no_duration_is_refused(value: object) -> None:
    """NaN, negative, infinite, huge or non-numeric timeouts: a ConfigurationError."""
    fence = Fence(Gate(default_policy()))

    with pytest.raises(ConfigurationError, match=r"^timeout must be a finite number of seconds"):
        fence.wait(0, timeout=value)  # type: ignore[arg-type]
