"""The coordinator interface, in process: proposals as compare-and-swap, followers failing safe."""

from __future__ import annotations

import ast
import pathlib
import threading
from collections.abc import Iterable, Mapping

import attrs
import pytest
from structlog.testing import capture_logs

import exchange_recovery
from exchange_recovery import (
    VENUE,
    ConfigurationError,
    CoordinatedController,
    Coordinator,
    CoordinatorState,
    Follower,
    Gate,
    GuardSpec,
    LocalCoordinator,
    OrderType,
    RefusalCode,
    Request,
    TransitionConflict,
    TransitionRecord,
    TransitionRefused,
    default_policy,
    policy_guards,
)
from exchange_recovery.testing import ManualClock

ORDER = Request.new_order("BTC-USDT-SWAP", OrderType.LIMIT)


def _record(version: int, source: str, dest: str, trigger: str, scope: str = VENUE) -> TransitionRecord:
    return TransitionRecord(version, scope, source, dest, trigger, "ops:test", "test", 0.0, False)


@pytest.fixture
def setup() -> tuple[LocalCoordinator, CoordinatedController, Follower]:
    store = LocalCoordinator()
    ops = CoordinatedController(default_policy(), store)
    follower = Follower(ops.policy)
    store.follow(follower)
    return store, ops, follower


def test_core_never_imports_an_etcd_client() -> None:
    """Only exchange_recovery/etcd/ imports aetcd or etcd3gw; the package root imports neither."""
    root = pathlib.Path(exchange_recovery.__file__).parent
    for path in root.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import)
                 for a in n.names}
        names |= {(n.module or "").split(".")[0] for n in ast.walk(tree)
                  if isinstance(n, ast.ImportFrom) and not n.level}
        assert not names & {"aetcd", "etcd3gw", "etcd3"}, path.name


def test_local_coordinator_implements_the_coordinator_protocol() -> None:
    """LocalCoordinator is a Coordinator; the controller refuses anything that is not."""
    assert isinstance(LocalCoordinator(), Coordinator)
    with pytest.raises(ConfigurationError, match="Coordinator"):
        CoordinatedController(default_policy(), object())  # type: ignore[arg-type]


def test_a_halt_is_stored_with_a_new_version_and_reaches_the_follower(setup) -> None:
    """halt() stores a record at the next version; the follower's gate rejects new orders."""
    store, ops, follower = setup
    assert follower.gate.check(ORDER).accepted

    record = ops.halt(actor="ops:alice", reason="zone down")

    assert record is not None
    assert (record.version, record.dest) == (1, "HALTED")
    assert store.read().records[VENUE] == record
    assert follower.gate.phase() == "HALTED"
    assert follower.gate.version == 1
    assert not follower.gate.check(ORDER).accepted
    assert ops.halt(actor="ops:alice", reason="again") is None


def test_a_proposal_decided_on_an_old_version_loses_with_the_winning_state(setup) -> None:
    """Two decisions on one state: the second raises TransitionConflict carrying the first."""
    store, ops, _ = setup
    decided_on = ops.state()
    winner = ops.fire("degrade", actor="ops:alice", reason="thin book", on=decided_on)

    with pytest.raises(TransitionConflict) as lost:
        ops.fire("halt", actor="ops:bob", reason="zone down", on=decided_on)

    assert lost.value.code is RefusalCode.VERSION_CONFLICT
    assert lost.value.winner == winner
    assert lost.value.state.phases[VENUE] == "DEGRADED"
    assert store.read().version == winner.version  # nothing of the loser stored


def test_racing_threads_from_one_version_store_exactly_one_transition(setup) -> None:
    """Eight threads propose from the same state: one wins, seven lose, the follower agrees."""
    store, ops, follower = setup
    decided_on = ops.state()
    barrier = threading.Barrier(8)
    outcomes: list[object] = []

    def race(trigger: str) -> None:
        barrier.wait()
        try:
            outcomes.append(ops.fire(trigger, actor="ops:x", reason="race", on=decided_on))
        except TransitionConflict as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=race, args=(t,)) for t in ["degrade", "halt"] * 4]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    won = [o for o in outcomes if isinstance(o, TransitionRecord)]
    assert len(won) == 1
    assert all(isinstance(o, TransitionConflict) and o.winner == won[0]
               for o in outcomes if o is not won[0])
    assert store.read().version == 1
    assert follower.gate.phase() == won[0].dest


def test_halt_retries_a_lost_race_instead_of_giving_up() -> None:
    """A halt that loses its compare-and-swap reads again and is stored after the winner."""
    store = LocalCoordinator()
    ops = CoordinatedController(default_policy(), store)
    real_read = store.read
    raced = []

    def read_then_race(scopes: Iterable[str] | None = None) -> CoordinatorState:
        state = real_read(scopes)
        if not raced:  # another operator degrades between our read and our proposal
            raced.append(store.propose(_record(0, "NORMAL", "DEGRADED", "degrade"), 0))
        return state

    store.read = read_then_race  # type: ignore[method-assign]
    record = ops.halt(actor="ops:alice", reason="zone down")

    assert record is not None
    assert (record.source, record.dest, record.version) == ("DEGRADED", "HALTED", 2)


def test_the_proposer_authorizes_before_storing_anything() -> None:
    """An unauthorized actor is refused by the proposer and nothing reaches the store."""
    policy = default_policy()
    store = LocalCoordinator()
    ops = CoordinatedController(policy, store,
                                authorizer=lambda ctx: ctx.actor.name == "ops:alice")
    ops.halt(actor="ops:alice", reason="zone down")
    with pytest.raises(TransitionRefused) as refused:
        ops.fire("pre_open", actor="ops:mallory", reason="prank")
    assert refused.value.code is RefusalCode.UNAUTHORIZED
    assert store.read().version == 1


def test_a_follower_refuses_an_update_its_policy_forbids_and_fails_the_scope_safe(setup) -> None:
    """A stored HALTED -> NORMAL record (a bad writer) leaves the follower HALTED, with an alarm."""
    store, ops, follower = setup
    ops.halt(actor="ops:alice", reason="zone down")

    with capture_logs() as logs:
        store.propose(_record(0, "HALTED", "NORMAL", "normalize"), 1)

    assert follower.gate.phase() == "HALTED"
    assert not follower.gate.check(ORDER).accepted
    assert follower.refused == 1
    assert follower.quarantined == {VENUE}
    alarm = [e for e in logs if e["event"] == "follower_update_refused"]
    assert alarm
    assert alarm[0]["log_level"] == "critical"
    assert alarm[0]["code"] == "UPDATE_NOT_ALLOWED"


def test_a_quarantined_scope_moves_again_only_after_the_store_halts_it(setup) -> None:
    """After a refused update, only a record into the fail-safe phase lifts the quarantine."""
    store, ops, follower = setup
    ops.halt(actor="ops:alice", reason="zone down")
    store.propose(_record(0, "HALTED", "NORMAL", "normalize"), 1)
    store.propose(_record(0, "NORMAL", "DEGRADED", "degrade"), 2)  # valid in the store's eyes
    assert follower.gate.phase() == "HALTED"
    assert follower.refused == 2

    ops.halt(actor="ops:alice", reason="contain")
    ops.pre_open(actor="ops:alice", reason="back on plan")

    assert follower.quarantined == frozenset()
    assert follower.gate.phase() == "PRE_OPEN"


def test_an_instrument_update_out_of_graph_quarantines_only_that_instrument(setup) -> None:
    """A forbidden instrument record halts the instrument, not the venue."""
    store, _, follower = setup
    store.propose(_record(0, "NORMAL", "FULL_OPEN", "open", scope="BTC-USDT-SWAP"), 0)
    assert follower.gate.phase("BTC-USDT-SWAP") == "HALTED"
    assert follower.gate.phase() == "NORMAL"
    assert not follower.gate.check(ORDER).accepted
    assert follower.gate.check(Request.new_order("ETH-USDT-SWAP", OrderType.LIMIT)).accepted


def test_a_silent_coordinator_fails_the_follower_safe_until_a_fresh_read() -> None:
    """Past the staleness bound the venue halts locally; only a later fresh read relaxes it."""
    clock = ManualClock(100.0)
    follower = Follower(default_policy(), staleness=3.0, clock=clock)
    assert follower.stale  # nothing read yet: fail safe
    assert follower.gate.phase() == "HALTED"
    follower.adopt(CoordinatorState.of({}), clock())
    assert follower.gate.check(ORDER).accepted

    clock.advance(2.9)
    assert not follower.check_staleness()
    read_started = clock()
    clock.advance(0.2)
    with capture_logs() as logs:
        assert follower.check_staleness()
    assert [e["log_level"] for e in logs if e["event"] == "follower_stale"] == ["critical"]
    assert not follower.gate.check(ORDER).accepted
    assert follower.version == 0  # a local fail-safe is not a stored transition

    follower.heard()  # a keep-alive alone does not relax
    follower.fresh(CoordinatorState.of({}), read_started)  # began before going stale
    assert follower.stale
    clock.advance(0.1)
    assert follower.fresh(CoordinatorState.of({}), clock())
    assert not follower.stale
    assert follower.gate.check(ORDER).accepted


def test_a_read_holding_junk_never_publishes_its_phases_without_the_junk_held_fail_safe() -> None:
    """A full read whose values include one that is not a record: no publication shows the
    read's (relaxed) venue while that scope is still open."""
    seen: list[tuple[str, str]] = []

    class Watched(Gate):
        __slots__ = ()

        def _publish(self, phases: Mapping[str, str], version: int) -> None:
            super()._publish(phases, version)
            seen.append((self.phase(), self.phase("BIG-0")))

        def _publish_scope(self, scope: str, phase: str, version: int) -> None:
            super()._publish_scope(scope, phase, version)
            seen.append((self.phase(), self.phase("BIG-0")))

    policy = default_policy()
    clock = ManualClock(100.0)
    follower = Follower(policy, staleness=3.0, clock=clock,
                        gate=Watched(policy, {VENUE: policy.fail_safe}))

    follower.adopt(CoordinatorState.of({}), clock(), [("BIG-0", 5, "not a record")])

    assert follower.refused == 1
    assert follower.gate.phase("BIG-0") == "HALTED"
    assert follower.gate.phase() == "NORMAL"
    assert ("NORMAL", "NORMAL") not in seen
    assert follower.version == 5


def test_a_fresh_read_with_unseen_records_does_not_relax() -> None:
    """A read showing records the follower has not applied keeps it failed safe."""
    clock = ManualClock(100.0)
    follower = Follower(default_policy(), staleness=1.0, clock=clock)
    follower.adopt(CoordinatorState.of({}), clock())
    clock.advance(5)
    follower.check_staleness()
    newer = CoordinatorState.of({VENUE: _record(4, "NORMAL", "DEGRADED", "degrade")})

    assert not follower.fresh(newer, clock())

    assert follower.stale
    assert follower.apply(newer.records[VENUE])
    assert follower.fresh(newer, clock())
    assert follower.gate.phase() == "DEGRADED"


def test_replayed_records_are_skipped_and_deletions_are_refused() -> None:
    """A record at or below the applied version is a replay; a deleted key fails safe."""
    follower = Follower(default_policy())
    follower.adopt(CoordinatorState.of({}), follower.clock())
    record = _record(3, "NORMAL", "DEGRADED", "degrade")
    assert follower.apply(record)
    assert not follower.apply(record)
    assert follower.refused == 0

    follower.reject(VENUE, 4, "the scope's key was deleted")

    assert follower.gate.phase() == "HALTED"
    assert follower.version == 4


def test_follower_and_controller_reject_unusable_arguments() -> None:
    """Bad arguments raise ConfigurationError naming what is wrong."""
    with pytest.raises(ConfigurationError, match="staleness"):
        Follower(default_policy(), staleness=0)
    with pytest.raises(ConfigurationError, match="Policy"):
        Follower("default")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="halt_attempts"):
        CoordinatedController(default_policy(), LocalCoordinator(), halt_attempts=0)
    with pytest.raises(ConfigurationError, match="TransitionRecord"):
        LocalCoordinator().propose("halt", 0)  # type: ignore[arg-type]


def test_dwell_guards_count_from_when_this_process_first_saw_the_stored_phase() -> None:
    """The dwell runs on the operator's own clock from the stored time, but never from earlier
    than when this process first read the record: a backdated record gains nothing."""
    policy = default_policy().with_changes(
        guards=(GuardSpec("stay", "dwell", seconds=600),),
        transitions=[t if t.trigger != "open" else attrs.evolve(t, guards=("stay",))
                     for t in default_policy().transitions])
    clock = ManualClock(100.0)
    store = LocalCoordinator()
    ops = CoordinatedController(policy, store, guards=policy_guards(policy), clock=clock)
    ops.halt(actor="ops:a", reason="down")
    ops.pre_open(actor="ops:a", reason="back")  # PRE_OPEN entered at clock 100
    clock.now = 650.0
    late_reader = CoordinatedController(policy, store, guards=policy_guards(policy), clock=clock)

    with pytest.raises(TransitionRefused) as caught:
        late_reader.open(actor="ops:a", reason="too soon")
    assert caught.value.code is RefusalCode.DWELL_NOT_MET

    clock.now = 700.0  # ten minutes after the stored time, fifty seconds after it first saw it
    with pytest.raises(TransitionRefused):
        late_reader.open(actor="ops:a", reason="ten minutes on, by the record")
    assert ops.open(actor="ops:a", reason="ten minutes on").dest == "FULL_OPEN"


def test_a_backdated_stored_record_does_not_shorten_the_dwell() -> None:
    """A pre-open stored with a timestamp an hour old still waits out the dwell here."""
    policy = default_policy().with_changes(
        guards=(GuardSpec("stay", "dwell", seconds=600),),
        transitions=[t if t.trigger != "open" else attrs.evolve(t, guards=("stay",))
                     for t in default_policy().transitions])
    clock = ManualClock(10_000.0)
    store = LocalCoordinator()
    store.propose(TransitionRecord(0, VENUE, "NORMAL", "HALTED", "halt", "x", "r", 0.0, False), 0)
    store.propose(TransitionRecord(0, VENUE, "HALTED", "PRE_OPEN", "pre_open", "x", "r",
                                   10_000.0 - 3600, True), 1)
    ops = CoordinatedController(policy, store, guards=policy_guards(policy), clock=clock)
    with pytest.raises(TransitionRefused) as caught:
        ops.open(actor="ops:a", reason="backdated")
    assert caught.value.code is RefusalCode.DWELL_NOT_MET
    clock.advance(600)
    assert ops.open(actor="ops:a", reason="ten minutes here").dest == "FULL_OPEN"


def test_a_rejected_update_of_no_scope_holds_the_venue_instead_of_crashing() -> None:
    """An empty key (a raw write) cannot name an instrument: the venue is held fail-safe."""
    follower = Follower(default_policy())
    follower.adopt(LocalCoordinator().read(), follower.clock())
    follower.reject("", 5, "not a record")
    assert follower.gate.phase() == "HALTED"
    assert follower.quarantined == {VENUE}
