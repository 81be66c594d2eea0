"""Coordination on a real etcd: 3 gateway processes follow, this process is the operator.

etcd comes from ``ETCD_ENDPOINT`` (set by .ci/run, which starts one) or is started here from the
``etcd`` binary; tests that SIGKILL etcd always start their own. Under ``CI=true`` a missing etcd
fails these tests; locally they skip with the reason.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import pytest

try:
    import aetcd
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("NO AETCD: the etcd extra is not installed (pip install -e '.[etcd]')",
                allow_module_level=True)

from etcd_support import EtcdServer, Gateway, free_port, wait_for

from exchange_recovery import (
    ConfigurationError,
    CoordinatedController,
    CoordinatorError,
    Follower,
    TransitionConflict,
    TransitionRecord,
    default_policy,
)
from exchange_recovery.etcd import EtcdCoordinator, encode

NEXT = {"NORMAL": "degrade", "DEGRADED": "halt", "HALTED": "pre_open", "PRE_OPEN": "open",
        "FULL_OPEN": "normalize"}
STALENESS = 1.5


def _need_etcd() -> None:
    if shutil.which("etcd") is None:
        reason = "NO ETCD: install etcd-server (apt-get install etcd-server) to run the etcd tests"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true they must run")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """The shared etcd: the one .ci/run started, else one started for this module."""
    given = os.environ.get("ETCD_ENDPOINT")
    if given:
        yield given
        return
    _need_etcd()
    server = EtcdServer().start()
    yield server.endpoint
    server.stop()


@pytest.fixture
def own_etcd() -> Iterator[EtcdServer]:
    """An etcd of this test's own, to SIGKILL and restart."""
    _need_etcd()
    server = EtcdServer().start()
    yield server
    server.stop()


def _gateways(endpoint: str, prefix: str, n: int = 3) -> list[Gateway]:
    gws = [Gateway(endpoint, prefix, f"gw-{i}", staleness=STALENESS) for i in range(1, n + 1)]
    for gw in gws:
        wait_for(lambda gw=gw: gw.status.get("stale") is False, what=f"{gw.name} following")
    return gws


@pytest.fixture(scope="module")
def venue(endpoint: str) -> Iterator[tuple[EtcdCoordinator, list[Gateway], str]]:
    """An operator's coordinator and 3 following gateway processes, on a fresh prefix."""
    prefix = f"venue-{uuid.uuid4().hex[:8]}/"
    etcd = EtcdCoordinator(endpoint, prefix=prefix)
    gws = _gateways(endpoint, prefix)
    yield etcd, gws, prefix
    for gw in gws:
        gw.stop()
    etcd.close()


def _ops(etcd: EtcdCoordinator) -> CoordinatedController:
    return CoordinatedController(default_policy(), etcd)


def _step(ops: CoordinatedController, n: int = 1) -> TransitionRecord:
    """Fire `n` transitions around the restart cycle; return the last record."""
    record = None
    for _ in range(n):
        phase = ops.state().phases.get("venue", "NORMAL")
        record = ops.fire(NEXT[phase], actor="ops:test", reason="cycle")
    assert record is not None
    return record


def _cycle(etcd: EtcdCoordinator, n: int) -> TransitionRecord:
    """Store `n` transitions around the cycle straight through `propose` (no per-step read)."""
    policy = default_policy()
    state = etcd.read()
    phase = state.phases.get("venue", "NORMAL")
    version = state.version_of("venue")
    record = None
    for _ in range(n):
        spec = policy.transition(phase, NEXT[phase])
        assert spec is not None
        proposal = TransitionRecord(0, "venue", phase, spec.dest, spec.trigger, "ops:bulk", "cycle",
                                    time.time(), policy.is_relaxing(phase, spec.dest))
        record = etcd.propose(proposal, version)
        phase, version = record.dest, record.version
    assert record is not None
    return record


def _all_at(gws: list[Gateway], phase: str, version: int) -> bool:
    return all(gw.at(phase, version) for gw in gws)


def _none_refused(gws: list[Gateway]) -> bool:
    return all(gw.status.get("refused") == 0 for gw in gws)


def test_halt_reaches_every_gateway_and_each_gate_rejects_new_orders(venue) -> None:
    """After halt(), every gateway process publishes HALTED at the halt's version and rejects."""
    etcd, gws, _ = venue
    ops = _ops(etcd)
    while ops.state().phases.get("venue", "NORMAL") != "NORMAL":
        _step(ops)
    wait_for(lambda: all(gw.status.get("accepts") for gw in gws), what="gateways accepting")

    record = ops.halt(actor="ops:alice", reason="zone down")

    assert record is not None
    wait_for(lambda: _all_at(gws, "HALTED", record.version), what="every gateway halted")
    assert not any(gw.status["accepts"] for gw in gws)
    assert _none_refused(gws)


def test_racing_operators_exactly_one_wins_and_loser_sees_winner(venue, endpoint) -> None:
    """Two proposals from the same version: one is stored, the other raises with the winner."""
    _, gws, prefix = venue
    ops_a = _ops(EtcdCoordinator(endpoint, prefix=prefix))
    ops_b = _ops(EtcdCoordinator(endpoint, prefix=prefix))
    while ops_a.state().phases.get("venue", "NORMAL") != "NORMAL":
        _step(ops_a)
    decided_on = ops_a.state()
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def race(name: str, ops: CoordinatedController, trigger: str) -> None:
        barrier.wait()
        try:
            results[name] = ops.fire(trigger, actor=f"ops:{name}", reason="race", on=decided_on)
        except TransitionConflict as exc:
            results[name] = exc

    threads = [threading.Thread(target=race, args=("a", ops_a, "degrade")),
               threading.Thread(target=race, args=("b", ops_b, "halt"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    won = [r for r in results.values() if isinstance(r, TransitionRecord)]
    lost = [r for r in results.values() if isinstance(r, TransitionConflict)]
    assert len(won) == 1
    assert len(lost) == 1
    winner = won[0]
    assert lost[0].winner == winner
    assert lost[0].state.phases["venue"] == winner.dest
    assert ops_a.state().records["venue"] == winner
    wait_for(lambda: _all_at(gws, winner.dest, winner.version), what="gateways at the winner")
    assert _none_refused(gws)
    for ops in (ops_a, ops_b):
        ops.coordinator.close()  # type: ignore[attr-defined]


def test_paused_gateway_catches_up_after_sigcont(venue) -> None:
    """A gateway stopped with SIGSTOP while transitions happen resumes at the latest version."""
    etcd, gws, _ = venue
    ops = _ops(etcd)
    paused = gws[0]
    paused.signal(signal.SIGSTOP)
    try:
        last = _step(ops, 12)
        wait_for(lambda: _all_at(gws[1:], last.dest, last.version), what="running gateways")
    finally:
        paused.signal(signal.SIGCONT)
    wait_for(lambda: paused.at(last.dest, last.version), what="paused gateway caught up")
    assert _none_refused(gws)


def test_gateway_rereads_when_the_history_it_missed_was_compacted(own_etcd, tmp_path) -> None:
    """A gateway whose watch must resume below the compacted revision re-reads the state."""
    etcd = EtcdCoordinator(own_etcd.endpoint, prefix="compact/", timeout=1.0)
    gw = Gateway(own_etcd.endpoint, "compact/", "gw-c", staleness=STALENESS,
                 log=tmp_path / "gw.log")
    try:
        wait_for(lambda: gw.status.get("stale") is False, what="following")
        gw.signal(signal.SIGSTOP)
        # Restart etcd *before* the writes: the paused gateway's stream dies with the old server,
        # so no event of the writes below can sit in its socket buffer waiting to be read (a
        # SIGSTOPped process still receives). It must watch again, from below the compaction.
        own_etcd.kill()
        own_etcd.start()
        last = _cycle(etcd, 7)
        host, port = own_etcd.endpoint.rsplit(":", 1)

        async def compact() -> None:
            async with aetcd.Client(host=host, port=int(port), timeout=2) as c:
                await c.compact(last.version, physical=True)

        asyncio.run(compact())
        gw.signal(signal.SIGCONT)

        wait_for(lambda: gw.at(last.dest, last.version), what="gateway re-read")
        wait_for(lambda: "follower_history_compacted" in (tmp_path / "gw.log").read_text(),
                 what="the compaction path taken")
        assert gw.status["refused"] == 0
    finally:
        gw.stop()
        etcd.close()


def test_gateway_started_after_1000_transitions_has_the_right_phase_and_version(
        venue, endpoint) -> None:
    """1,000 transitions later, the followers agree and a new gateway starts where they are."""
    etcd, gws, prefix = venue
    last = _cycle(etcd, 1000)
    wait_for(lambda: _all_at(gws, last.dest, last.version), what="followers after 1000")
    assert _none_refused(gws)
    late = Gateway(endpoint, prefix, "gw-late", staleness=STALENESS)
    try:
        wait_for(lambda: late.at(last.dest, last.version), what="late gateway")
    finally:
        late.stop()


def test_live_gateways_are_listed_and_a_dead_one_leaves_with_its_lease(venue, endpoint) -> None:
    """Each gateway holds a key under gateways/; a SIGKILLed one is gone once its lease expires."""
    etcd, gws, prefix = venue
    extra = Gateway(endpoint, prefix, "gw-doomed", staleness=STALENESS)
    wait_for(lambda: "gw-doomed" in etcd.gateways(), what="extra gateway listed")
    assert {gw.name for gw in gws} <= set(etcd.gateways())

    extra.signal(signal.SIGKILL)
    extra.stop()

    wait_for(lambda: "gw-doomed" not in etcd.gateways(), what="dead gateway's lease expired")
    assert {gw.name for gw in gws} <= set(etcd.gateways())


def test_a_bad_writer_cannot_open_the_venue(venue, endpoint) -> None:
    """A record the policy forbids (HALTED straight to NORMAL) makes followers hold fail-safe."""
    etcd, gws, prefix = venue
    ops = _ops(etcd)
    ops.halt(actor="ops:alice", reason="before the bad write")
    state = ops.state()
    wait_for(lambda: _all_at(gws, "HALTED", state.version), what="gateways halted")
    bad = TransitionRecord(0, "venue", "HALTED", "NORMAL", "normalize", "rogue", "skip pre-open",
                           time.time(), relaxing=True)
    host, port = endpoint.rsplit(":", 1)

    async def write() -> None:
        async with aetcd.Client(host=host, port=int(port), timeout=2) as c:
            await c.put(f"{prefix}scopes/venue".encode(), encode(bad))


    asyncio.run(write())

    wait_for(lambda: all(gw.status.get("refused") == 1 for gw in gws), what="update refused")
    assert all(gw.status["phase"] == "HALTED" and not gw.status["accepts"] for gw in gws)
    # The operator halts explicitly (from the store's NORMAL): followers leave quarantine.
    halt = ops.halt(actor="ops:alice", reason="contain the rogue write")
    assert halt is not None
    wait_for(lambda: _all_at(gws, "HALTED", halt.version), what="quarantine lifted")
    pre = ops.pre_open(actor="ops:alice", reason="back on the plan")
    wait_for(lambda: _all_at(gws, "PRE_OPEN", pre.version), what="gateways follow again")


def test_sigkill_of_etcd_fails_every_gateway_safe_then_resumes_without_missing(own_etcd) -> None:
    """etcd killed: all gateways fail safe within the bound; restarted: all follow every step."""
    prefix = "killed/"
    etcd = EtcdCoordinator(own_etcd.endpoint, prefix=prefix, timeout=1.0)
    ops = _ops(etcd)
    gws = _gateways(own_etcd.endpoint, prefix)
    try:
        wait_for(lambda: all(gw.status.get("accepts") for gw in gws), what="accepting")

        killed_at = time.monotonic()
        own_etcd.kill()

        wait_for(lambda: all(gw.status["stale"] for gw in gws), what="every gateway stale")
        assert not any(gw.status["accepts"] for gw in gws)
        for gw in gws:  # the bound, with slack for a loaded 2-core machine
            stale_at = next(s["t"] for s in gw.history() if s["stale"] and s["t"] >= killed_at)
            assert stale_at - killed_at <= STALENESS + 2.0, gw.name
        with pytest.raises(CoordinatorError):
            ops.halt(actor="ops:alice", reason="etcd down")

        own_etcd.start()
        last = _step(ops, 6)  # a full cycle and one more: a missed step would be refused

        wait_for(lambda: _all_at(gws, last.dest, last.version), what="gateways resumed")
        assert _none_refused(gws)
        assert all(gw.status["accepts"] == (last.dest != "HALTED") for gw in gws)
    finally:
        for gw in gws:
            gw.stop()
        etcd.close()


def test_an_unreachable_etcd_is_a_coordinator_error_and_bad_endpoints_are_refused() -> None:
    """No etcd on the port: read/propose raise CoordinatorError, alive() is False."""
    with EtcdCoordinator(f"127.0.0.1:{free_port()}", timeout=0.5) as etcd:
        with pytest.raises(CoordinatorError, match="did not answer"):
            etcd.read()
        assert not etcd.alive()
    for bad in ("localhost", "a:b", ":2379", 2379):
        with pytest.raises(ConfigurationError, match="endpoint"):
            EtcdCoordinator(bad)  # type: ignore[arg-type]


def test_a_follower_given_several_members_moves_past_a_dead_one(endpoint) -> None:
    """With a dead member listed first, following resumes on the next member and goes fresh."""
    with EtcdCoordinator(f"127.0.0.1:{free_port()},{endpoint}", prefix="multi/",
                         timeout=0.5, refresh=0.2) as etcd:
        follower = Follower(default_policy(), staleness=STALENESS)
        etcd.follow(follower)
        wait_for(lambda: not follower.stale, what="fresh through the live member")
        assert follower.gate.phase() == "NORMAL"
