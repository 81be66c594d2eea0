"""Threads: no accept after halt() has returned, and concurrent transitions stay consistent.

Nothing here asserts on timing. The readers' loops end after a fixed number of checks, the
main thread waits on events rather than sleeping, and a short switch interval makes the
interpreter interleave the threads often.
"""

from __future__ import annotations

import itertools
import sys
import threading
from collections.abc import Callable, Iterator

import pytest

from exchange_recovery import (
    VENUE,
    Action,
    Controller,
    Decision,
    MemoryJournal,
    OrderType,
    Request,
    TimeInForce,
    TransitionRecord,
    TransitionRefused,
    default_policy,
)

BTC, ETH = "BTC-USDT-SWAP", "ETH-USDT-SWAP"
READERS = 4
ROUNDS = 10
WARM_UP = 200
"""Checks each reader makes before the halt may start (so readers are really running)."""
AFTER_HALT = 300
"""Checks each reader makes that started after halt() returned."""


@pytest.fixture(autouse=True)
def _switch_often() -> Iterator[None]:
    """Make the interpreter switch threads every few microseconds, not every 5 ms."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(before)


def _run(threads: list[threading.Thread]) -> None:
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _reader_checks(controller: Controller, instrument: str) -> list[Callable[[], Decision]]:
    """Ways an engine asks about new orders: bound `check` kept in a local, and `check_fields`."""
    check, check_fields = controller.gate.check, controller.gate.check_fields
    limit = Request.new_order(instrument, OrderType.LIMIT)
    market = Request.new_order(instrument, OrderType.MARKET)
    post_only = Request.new_order(instrument, OrderType.LIMIT, post_only=True)
    return [
        lambda: check(limit),
        lambda: check(market),
        lambda: check(post_only),
        lambda: check_fields(Action.NEW_ORDER, instrument, OrderType.LIMIT, TimeInForce.GTD),
    ]


def _halt_under_load(controller: Controller, scope: str, instrument: str, reason: str
                     ) -> tuple[TransitionRecord | None, list[Decision], list[int]]:
    """Halt `scope` while readers check new orders on `instrument`.

    Returns the halt's record, the accepts seen by checks that started after halt() returned
    (there must be none), and how many accepts each reader saw before the halt.
    """
    halted = threading.Event()
    warmed = [threading.Event() for _ in range(READERS)]
    accepted_before = [0] * READERS
    violations: list[Decision] = []

    def reader(index: int) -> None:
        checks = _reader_checks(controller, instrument)
        done = after = 0
        while after < AFTER_HALT:
            started_after_halt = halted.is_set()  # read *before* the check starts
            decision = checks[done % len(checks)]()
            done += 1
            if started_after_halt:
                after += 1
                if decision.accepted:
                    violations.append(decision)
            elif decision.accepted:
                accepted_before[index] += 1
            if done == WARM_UP:
                warmed[index].set()

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    for thread in threads:
        thread.start()
    for event in warmed:
        event.wait()
    record = controller.halt(actor="ops:alice", reason=reason, scope=scope)
    halted.set()
    for thread in threads:
        thread.join()
    return record, violations, accepted_before


@pytest.mark.parametrize("scope", [VENUE, BTC])
def test_no_check_started_after_halt_returned_accepts_a_new_order(scope: str) -> None:
    """Readers hammer the gate while the main thread halts; none is accepted once halt() returned."""
    controller = Controller(default_policy(), journal=MemoryJournal())

    for round_ in range(ROUNDS):
        record, violations, accepted_before = _halt_under_load(
            controller, scope, BTC, f"round {round_}")

        assert record is not None
        assert violations == [], f"round {round_}: accepted after halt() returned: {violations[:3]}"
        # The readers did run against an open gate, so the check above could have failed.
        assert all(count > 0 for count in accepted_before)
        # Back to NORMAL for the next round, through the restart path.
        for trigger in ("pre_open", "open", "normalize"):
            controller.fire(trigger, actor="ops:alice", reason="reopen", scope=scope)

    assert controller.version == 4 * ROUNDS


def test_an_instrument_halt_leaves_other_instruments_accepting_under_load() -> None:
    """While BTC is halted from the main thread, readers on ETH keep getting accepts."""
    controller = Controller(default_policy())
    halted = threading.Event()
    warmed = threading.Event()
    rejected_eth: list[Decision] = []
    eth = Request.new_order(ETH, OrderType.LIMIT)

    def reader() -> None:
        check = controller.gate.check
        for done in range(1, WARM_UP + AFTER_HALT + 1):
            decision = check(eth)
            if not decision.accepted:
                rejected_eth.append(decision)
            if done == WARM_UP:
                warmed.set()
                halted.wait()

    thread = threading.Thread(target=reader)
    thread.start()
    warmed.wait()
    controller.halt(actor="ops:alice", reason="bad index", scope=BTC)
    halted.set()
    thread.join()

    assert rejected_eth == []
    assert not controller.gate.check(Request.new_order(BTC, OrderType.LIMIT)).accepted


SEQUENCES: dict[str, tuple[str, tuple[str, ...]]] = {
    # thread name: (scope, the triggers it fires round and round)
    "flapper": (VENUE, ("degrade", "recover")),
    "restarter": (VENUE, ("halt", "pre_open", "open", "normalize")),
    "instrument": (BTC, ("halt", "pre_open", "open", "degrade", "recover")),
    "instrument halts": (BTC, ("halt",)),
}
ITERATIONS = 300


def test_concurrent_transitions_leave_a_consistent_state() -> None:
    """Versions are 1..n with no gap or repeat, the journal holds exactly the successful records in
    order, each scope's records chain source to dest, and the phases are the last records' dests."""
    journal = MemoryJournal()
    controller = Controller(default_policy(), journal=journal)
    start = threading.Barrier(len(SEQUENCES))
    succeeded: dict[str, list[TransitionRecord]] = {name: [] for name in SEQUENCES}
    refused: dict[str, int] = dict.fromkeys(SEQUENCES, 0)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        scope, triggers = SEQUENCES[name]
        start.wait()
        for i in range(ITERATIONS):
            try:
                record = controller.fire(triggers[i % len(triggers)], actor=f"bot:{name}",
                                         reason=f"iteration {i}", scope=scope)
            except TransitionRefused:
                refused[name] += 1
            except Exception as exc:  # anything else is a bug: report it, do not lose the thread
                errors.append(exc)
            else:
                succeeded[name].append(record)

    _run([threading.Thread(target=worker, args=(name,)) for name in SEQUENCES])

    assert errors == []

    records = sorted((r for rs in succeeded.values() for r in rs), key=lambda r: r.version)
    n = len(records)
    assert n + sum(refused.values()) == ITERATIONS * len(SEQUENCES)
    assert [r.version for r in records] == list(range(1, n + 1))
    assert controller.version == controller.gate.version == n
    assert list(journal.records) == records
    for name, own in succeeded.items():  # each thread saw its own transitions in version order
        assert own == sorted(own, key=lambda r: r.version), name
    for scope in (VENUE, BTC):
        chain = [r for r in records if r.scope == scope]
        assert chain, f"no transition on {scope}: the test did not exercise it"
        assert chain[0].source == "NORMAL"
        for previous, record in itertools.pairwise(chain):
            assert record.source == previous.dest, (previous, record)
        assert controller.gate.phase(scope) == chain[-1].dest  # released in NORMAL: not listed
    # And the journal replays to the same state.
    replica = Controller(default_policy())
    for record in journal.records:
        replica.apply(record)
    assert replica.gate.phases == controller.gate.phases
    assert replica.version == controller.version


def _halt_at_once(threads: int) -> tuple[Controller, list[TransitionRecord | None]]:
    controller = Controller(default_policy(), journal=MemoryJournal())
    start = threading.Barrier(threads)
    results: list[TransitionRecord | None] = []

    def halter(index: int) -> None:
        start.wait()
        results.append(controller.halt(actor=f"bot:{index}", reason="watchdog", scope=BTC))

    _run([threading.Thread(target=halter, args=(i,)) for i in range(threads)])
    return controller, results


def test_concurrent_halts_of_one_scope_happen_once() -> None:
    """Many threads halting the same scope at once: exactly one transition, the rest get None."""
    for _ in range(ROUNDS):
        controller, results = _halt_at_once(8)
        assert len(results) == 8
        assert sum(r is not None for r in results) == 1
        assert controller.version == 1
        assert controller.phase(BTC) == "HALTED"
