"""Call auctions at run time: a seeded end, extensions, people's decision, cutoff, recovery."""

from __future__ import annotations

import pathlib
import threading
import time
from decimal import Decimal
from typing import Any

import attrs
import pytest
from structlog.testing import capture_logs

from exchange_recovery import (
    VENUE,
    Actor,
    Approvals,
    ConfigurationError,
    Controller,
    Exhausted,
    FileJournal,
    HealthChecks,
    InvalidRequestError,
    MemoryJournal,
    OrderType,
    Reason,
    RefusalCode,
    Request,
    RoleAuthorizer,
    Side,
    TransitionRecord,
    TransitionRefused,
    policy_guards,
    recover,
    reopening_policy,
)
from exchange_recovery._core.gate import Gate
from exchange_recovery._core.policy import Policy
from exchange_recovery._plan.auction import AuctionRunner, AuctionState, Indicative, Price
from exchange_recovery.testing import AuctionBook, ManualClock, auction_policy

ALICE = Actor("ops:alice", {"operator"})
BOB = Actor("ops:bob", {"supervisor"})
TIMER = Actor("auction:timer", {"automation"})
BTC = "BTC-USDT-SWAP"
HEALTHY = {"book_uncrossed": True, "market_data_fresh": True, "cloud_zone_healthy": True}
POLICY = reopening_policy()
SPEC = POLICY.phase("AUCTION").auction
assert SPEC is not None


class Engine(AuctionBook):
    """The reference book, counting what the runner asks of it."""

    def __init__(self) -> None:
        super().__init__(reference=100)
        self.uncrosses: list[tuple[str, Price]] = []

    def uncross(self, scope: str, price: Price) -> None:
        self.uncrosses.append((scope, price))
        super().uncross(scope, price)

    def quote(self, scope: str, price: int, quantity: int = 2) -> None:
        """A buy and a sell crossing at `price`: the indicative price is `price`."""
        self.submit(scope, Side.BUY, price, quantity)
        self.submit(scope, Side.SELL, price, quantity)


@attrs.define
class Venue:
    """A controller in the reopening policy, with its clock, approvals and journal."""

    controller: Controller
    clock: ManualClock
    approvals: Approvals
    journal: Any

    def runner(self, engine: Engine, *, seed: int = 7, scope: str = VENUE,
               reference: Price = 100) -> AuctionRunner:
        return AuctionRunner(self.controller, engine, reference=reference, seed=seed,
                             actor=TIMER, scope=scope)


def venue(policy: Policy = POLICY, *, phases: dict[str, str] | None = None,
          journal: Any = None, start: float = 1_000.0) -> Venue:
    clock = ManualClock(start)
    approvals = Approvals(policy, clock=clock)
    journal = MemoryJournal() if journal is None else journal
    controller = Controller(
        policy, guards=policy_guards(policy, health=HealthChecks(HEALTHY), approvals=approvals),
        authorizer=RoleAuthorizer(policy, approvals=approvals), clock=clock, journal=journal,
        phases={VENUE: "AUCTION"} if phases is None else phases)
    return Venue(controller, clock, approvals, journal)


def into_auction(v: Venue, scope: str = VENUE) -> None:
    """HALTED -> PRE_OPEN -> AUCTION the way a restart does: guards, approval, two people."""
    c = v.controller
    if c.phase(scope) != "HALTED":
        c.halt(actor=ALICE, reason="incident", scope=scope)
    c.fire("pre_open", actor=ALICE, reason="rebuild the book", scope=scope)
    v.clock.advance(600)
    v.approvals.approve(BOB, "call", scope=scope)
    c.fire("call", actor=ALICE, reason="start the call", scope=scope)


# -- the seeded end ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 7, 2**40, 2**63 - 1])
def test_the_seeded_end_is_reproducible_and_inside_the_random_end_window(seed: int) -> None:
    """The same seed, scope and visit give the same end, within min_call + random_end."""
    ends = []
    for _ in range(2):
        v = venue()
        status = v.runner(Engine(), seed=seed).poll()
        assert status.state is AuctionState.CALLING
        assert status.started_at == 1_000.0
        assert status.ends_at is not None
        ends.append(status.ends_at)
    assert ends[0] == ends[1]
    assert 1_000.0 + SPEC.min_call <= ends[0] <= 1_000.0 + SPEC.min_call + SPEC.random_end
    assert ends[0] == 1_000.0 + SPEC.end_after(seed, VENUE, 0, 0)


def test_different_seeds_draw_different_ends() -> None:
    """The end is drawn: across seeds it is not one fixed moment."""
    ends = {venue().runner(Engine(), seed=seed).poll().ends_at for seed in range(20)}
    assert len(ends) > 10


def test_nothing_happens_before_the_end_and_the_uncross_happens_once_at_the_end() -> None:
    """Polls before the end change nothing; at the end one uncross, at the indicative price."""
    v, engine = venue(), Engine()
    engine.quote(VENUE, 101)
    runner = v.runner(engine)
    call = runner.poll()
    assert call.ends_at is not None
    v.clock.now = call.ends_at - 0.001
    assert runner.poll().state is AuctionState.CALLING
    assert engine.uncrosses == []
    assert engine.trades(VENUE) == ()

    v.clock.now = call.ends_at
    done = runner.poll()
    for _ in range(3):
        v.clock.advance(100)
        runner.poll()

    assert done.state is AuctionState.UNCROSSED
    assert (done.open_price, done.open_size, done.override) == (101, 2, False)
    assert engine.uncrosses == [(VENUE, 101)]
    assert engine.trades(VENUE) == ((101, 2),)
    assert v.controller.phase() == "FULL_OPEN"
    record = v.journal.records[-1]
    assert (record.trigger, record.actor) == ("uncross", TIMER.name)
    assert "101" in record.reason


def test_the_status_shows_the_collar_and_whether_the_call_can_open() -> None:
    """Coinbase's can_open: the indicative price inside the collar around the reference."""
    v, engine = venue(), Engine()
    runner = v.runner(engine, reference=200)
    status = runner.poll()
    assert (status.collar_low, status.collar_high) == (190.0, 210.0)
    assert status.indicative is None
    assert not status.can_open
    engine.quote(VENUE, 205)
    status = runner.status()
    assert status.indicative == Indicative(205, 2, 0)
    assert status.can_open
    engine.quote(VENUE, 250, quantity=10)
    assert not runner.status().can_open


# -- extensions and what follows them ---------------------------------------------------------


def test_the_call_is_extended_when_the_price_is_outside_the_collar() -> None:
    """Outside the collar at the end: one more extension, anchored to the previous end."""
    v, engine = venue(), Engine()
    engine.quote(VENUE, 110)
    runner = v.runner(engine)
    first = runner.poll().ends_at
    assert first is not None
    v.clock.now = first + 3  # a late poll: the extension still starts at the scheduled end

    with capture_logs() as logs:
        extended = runner.poll()

    assert extended.state is AuctionState.CALLING
    assert extended.extensions == 1
    assert extended.ends_at == first + SPEC.end_after(7, VENUE, 0, 1)
    assert engine.uncrosses == []
    assert v.controller.phase() == "AUCTION"
    assert [e["event"] for e in logs if e["event"] == "auction_extended"] == ["auction_extended"]
    note = v.controller.last_note("auction")
    assert note is not None
    assert (note.data["extensions"], note.data["ends_at"]) == (1, extended.ends_at)


def test_a_price_back_inside_the_collar_uncrosses_at_the_extension_end() -> None:
    """LSE: an extension, then the uncross when the price came back."""
    v, engine = venue(), Engine()
    engine.quote(VENUE, 110)
    runner = v.runner(engine)
    v.clock.now = runner.poll().ends_at or 0
    extended = runner.poll()
    engine.quote(VENUE, 100, quantity=50)  # deep interest at 100 moves the equilibrium
    v.clock.now = extended.ends_at or 0

    done = runner.poll()

    assert done.state is AuctionState.UNCROSSED
    assert done.extensions == 1
    assert engine.uncrosses == [(VENUE, done.open_price)]
    assert done.collar_low <= float(done.open_price or 0) <= done.collar_high


def _exhaust(v: Venue, runner: AuctionRunner) -> None:
    for _ in range(SPEC.max_extensions + 1):
        v.clock.now = runner.poll().ends_at or v.clock.now
    assert runner.poll().state is AuctionState.AWAITING_DECISION


def test_exhausted_extensions_await_a_two_person_decision() -> None:
    """MANUAL: nothing fires by itself; one person cannot decide alone; two can."""
    v, engine = venue(), Engine()
    engine.quote(VENUE, 110)
    runner = v.runner(engine)
    with capture_logs() as logs:
        _exhaust(v, runner)
    assert "auction_awaiting_decision" in [e["event"] for e in logs]
    v.clock.advance(10_000)
    waiting = runner.poll()
    assert (waiting.state, waiting.ends_at, waiting.cutoff_at) == (
        AuctionState.AWAITING_DECISION, None, None)
    assert v.controller.phase() == "AUCTION"

    with pytest.raises(TransitionRefused) as alone:
        runner.decide(ALICE, cross=True, reason="supervision ends the call")
    assert alone.value.code is RefusalCode.APPROVAL_MISSING
    v.approvals.approve(BOB, "override_open")
    with pytest.raises(TransitionRefused) as self_approved:
        runner.decide(BOB, cross=True, reason="supervision ends the call")
    assert self_approved.value.code is RefusalCode.SELF_APPROVAL
    assert v.controller.phase() == "AUCTION"
    assert engine.uncrosses == []

    record = runner.decide(ALICE, cross=True, reason="supervision ends the call")

    assert (record.trigger, record.actor, record.dest) == ("override_open", ALICE.name,
                                                           "FULL_OPEN")
    assert "cross at 110" in record.reason
    done = runner.status()
    assert (done.state, done.open_price, done.override, done.decided_by) == (
        AuctionState.UNCROSSED, 110, True, ALICE.name)
    assert engine.uncrosses == [(VENUE, 110)]
    note = v.controller.last_note("auction")
    assert note is not None
    assert (note.data["override"], note.data["price"], note.data["decided_by"]) == (
        True, 110, ALICE.name)


def test_people_may_open_without_a_cross() -> None:
    """decide(cross=False): the override fires, nothing trades."""
    v, engine = venue(), Engine()
    engine.quote(VENUE, 110)
    runner = v.runner(engine)
    _exhaust(v, runner)
    v.approvals.approve(BOB, "override_open")

    runner.decide(ALICE, cross=False, reason="too far from the reference")

    assert runner.status().state is AuctionState.OPENED_WITHOUT_CROSS
    assert engine.uncrosses == []
    assert engine.trades(VENUE) == ()
    assert v.controller.phase() == "FULL_OPEN"


def test_a_cross_with_nothing_to_trade_is_refused_and_changes_nothing() -> None:
    v, engine = venue(), Engine()
    runner = v.runner(engine)  # an empty book: no indicative price, ever
    _exhaust(v, runner)
    v.approvals.approve(BOB, "override_open")
    with pytest.raises(TransitionRefused) as refused:
        runner.decide(ALICE, cross=True, reason="cross")
    assert refused.value.code is RefusalCode.GUARD_REJECTED
    assert v.controller.phase() == "AUCTION"
    assert runner.status().state is AuctionState.AWAITING_DECISION


def test_open_without_cross_fires_the_override_at_once_with_no_trade() -> None:
    """OPEN_WITHOUT_CROSS, with an override the library may fire: no trade, journaled."""
    v, engine = venue(auction_policy(Exhausted.OPEN_WITHOUT_CROSS)), Engine()
    engine.quote(VENUE, 110)
    runner = v.runner(engine)
    for _ in range(SPEC.max_extensions + 1):
        v.clock.now = runner.poll().ends_at or v.clock.now

    done = runner.poll()

    assert done.state is AuctionState.OPENED_WITHOUT_CROSS
    assert v.controller.phase() == "FULL_OPEN"
    assert engine.uncrosses == []
    assert engine.trades(VENUE) == ()
    assert v.journal.records[-1].trigger == "override_open"
    note = v.controller.last_note("auction")
    assert note is not None
    assert note.data["state"] == "OPENED_WITHOUT_CROSS"


def test_a_refused_override_changes_nothing_and_is_retried_at_the_next_poll() -> None:
    """An override the controller refuses (here its authorizer) leaves the call on, retried."""
    policy = auction_policy(Exhausted.OPEN_WITHOUT_CROSS)
    allowed = {"override_open": False}
    clock = ManualClock(1_000.0)
    guards = policy_guards(policy, health=HealthChecks(HEALTHY),
                           approvals=Approvals(policy, clock=clock))
    c = Controller(policy, guards=guards, authorizer=lambda ctx: allowed.get(ctx.trigger, True),
                   clock=clock, journal=MemoryJournal(), phases={VENUE: "AUCTION"})
    engine = Engine()
    engine.quote(VENUE, 110)  # outside the collar at every end
    runner = AuctionRunner(c, engine, reference=100, seed=7, actor=TIMER)
    with capture_logs() as logs:
        for _ in range(SPEC.max_extensions + 2):
            clock.now = runner.poll().ends_at or clock.now
    refusals = [e for e in logs if e["event"] == "auction_trigger_refused"]
    assert refusals
    assert refusals[0]["trigger"] == "override_open"
    assert runner.status().state is AuctionState.CALLING
    assert c.phase() == "AUCTION"

    allowed["override_open"] = True
    assert runner.poll().state is AuctionState.OPENED_WITHOUT_CROSS
    assert c.phase() == "FULL_OPEN"
    assert engine.uncrosses == []


def test_a_refused_uncross_does_not_call_the_engine_and_is_retried() -> None:
    """A transition the controller refuses leaves the call on; the engine is never asked."""
    allowed = {"uncross": False}

    def authorizer(ctx: Any) -> bool:
        return allowed.get(ctx.trigger, True)

    clock = ManualClock(1_000.0)
    approvals = Approvals(POLICY, clock=clock)
    c = Controller(POLICY, guards=policy_guards(POLICY, health=HealthChecks(HEALTHY),
                                                approvals=approvals),
                   authorizer=authorizer, clock=clock, journal=MemoryJournal(),
                   phases={VENUE: "AUCTION"})
    engine = Engine()
    engine.quote(VENUE, 100)
    runner = AuctionRunner(c, engine, reference=100, seed=1, actor=TIMER)
    clock.now = runner.poll().ends_at or 0
    assert runner.poll().state is AuctionState.CALLING
    assert engine.uncrosses == []

    allowed["uncross"] = True
    assert runner.poll().state is AuctionState.UNCROSSED
    assert engine.uncrosses == [(VENUE, 100)]


# -- the cutoff -------------------------------------------------------------------------------


def _late_runner() -> tuple[Venue, AuctionRunner]:
    v = venue()
    runner = v.runner(Engine())
    status = runner.poll()
    assert status.cutoff_at is not None
    assert status.ends_at is not None
    assert status.cutoff_at == status.ends_at - SPEC.cutoff
    return v, runner


CANCEL = Request.cancel(BTC)
AMEND = Request.amend(BTC, OrderType.LIMIT)


def test_cancels_are_accepted_before_the_cutoff_and_refused_after_it() -> None:
    v, runner = _late_runner()
    status = runner.status()
    v.clock.now = (status.cutoff_at or 0) - 0.5
    assert runner.check_late(CANCEL).accepted

    v.clock.now = status.cutoff_at or 0
    late = runner.check_late(CANCEL)

    assert (late.accepted, late.reason) == (False, Reason.AUCTION_CUTOFF)
    assert late.retry_after == status.ends_at
    assert (late.phase, late.scope, late.next_phase) == ("AUCTION", VENUE, "FULL_OPEN")
    assert runner.check_late(Request.mass_cancel()).reason is Reason.AUCTION_CUTOFF
    assert runner.check_late(Request.mass_cancel(BTC)) is late  # preallocated
    assert runner.check_late(Request.new_order(BTC, OrderType.LIMIT)).accepted


@pytest.mark.parametrize(("side", "price", "quantity", "refused"), [
    (Side.BUY, 99, 5, True),    # a buy lowered in price
    (Side.BUY, 100, 4, True),   # a buy lowered in quantity
    (Side.BUY, 101, 4, True),   # higher, but smaller
    (Side.BUY, 101, 5, False),  # a buy raised: more aggressive
    (Side.BUY, 100, 6, False),  # more size
    (Side.SELL, 101, 5, True),  # a sell raised in price
    (Side.SELL, 100, 4, True),  # a sell lowered in quantity
    (Side.SELL, 99, 5, False),  # a sell lowered: more aggressive
    (Side.SELL, Decimal("99.5"), 5.0, False),
])
def test_after_the_cutoff_only_more_aggressive_amends_are_accepted(
        side: Side, price: Price, quantity: Price, refused: bool) -> None:
    """Nasdaq's halt cross: late in the call, only changes that add interest."""
    v, runner = _late_runner()
    v.clock.now = runner.status().cutoff_at or 0
    decision = runner.check_late(AMEND, side, price, quantity=quantity, old_price=100,
                                 old_quantity=5)
    assert decision.reason is (Reason.AUCTION_CUTOFF if refused else Reason.ACCEPTED)


def test_an_extension_moves_the_cutoff_and_the_end_lifts_it() -> None:
    v, engine = venue(), Engine()
    engine.quote(VENUE, 110)
    runner = v.runner(engine)
    first = runner.poll()
    v.clock.now = first.ends_at or 0
    extended = runner.poll()
    assert extended.cutoff_at == (extended.ends_at or 0) - SPEC.cutoff
    assert runner.check_late(CANCEL).accepted  # a new cutoff, still ahead
    v.clock.now = extended.cutoff_at or 0
    assert runner.check_late(CANCEL).retry_after == extended.ends_at

    engine.quote(VENUE, 100, quantity=50)
    v.clock.now = extended.ends_at or 0
    assert runner.poll().state is AuctionState.UNCROSSED
    assert runner.check_late(CANCEL).accepted  # FULL_OPEN: the gate decides


def test_an_instruments_call_refuses_only_its_own_late_cancels() -> None:
    v = venue(phases={VENUE: "NORMAL", BTC: "AUCTION"})
    runner = v.runner(Engine(), scope=BTC)
    v.clock.now = runner.poll().cutoff_at or 0
    late = runner.check_late(CANCEL)
    assert (late.reason, late.scope) == (Reason.AUCTION_CUTOFF, "instrument")
    assert runner.check_late(Request.cancel("ETH-USDT-SWAP")).accepted
    assert runner.check_late(Request.mass_cancel()).reason is Reason.AUCTION_CUTOFF


def test_a_new_visit_withdraws_the_old_cutoff_at_once() -> None:
    """The listener clears it with the transition: the old call's cutoff never refuses a
    cancel of the next call, even before the next poll."""
    v, runner = _late_runner()
    v.clock.now = runner.status().cutoff_at or 0
    assert runner.check_late(CANCEL).reason is Reason.AUCTION_CUTOFF
    into_auction(v)  # halted, pre-opened and called again: no poll in between
    assert v.controller.phase() == "AUCTION"
    assert runner.check_late(CANCEL).accepted
    assert runner.poll().cutoff_at == v.controller.entered_at() + (
        SPEC.end_after(7, VENUE, v.controller.visit(), 0) - SPEC.cutoff)


# -- halts, visits, recovery ------------------------------------------------------------------


def test_a_halt_during_the_call_interrupts_it_and_the_next_visit_is_a_new_call() -> None:
    v, engine = venue(phases={VENUE: "NORMAL"}), Engine()
    into_auction(v)
    runner = v.runner(engine)
    first = runner.poll()
    engine.quote(VENUE, 100)
    v.controller.halt(actor=ALICE, reason="market data lost")
    v.clock.now = first.ends_at or 0

    with capture_logs() as logs:
        stopped = runner.poll()

    assert stopped.state is AuctionState.INTERRUPTED
    assert "auction_interrupted" in [e["event"] for e in logs]
    assert engine.uncrosses == []
    assert v.controller.phase() == "HALTED"

    into_auction(v)
    second = runner.poll()
    assert second.state is AuctionState.CALLING
    assert second.visit == v.controller.visit() != first.visit
    assert second.extensions == 0
    assert second.started_at == v.controller.entered_at()
    assert second.ends_at == second.started_at + SPEC.end_after(7, VENUE, second.visit, 0)


def test_every_step_is_journaled_as_a_note() -> None:
    v, engine = venue(), Engine()
    engine.quote(VENUE, 110)
    runner = v.runner(engine)
    _exhaust(v, runner)
    states = [(n.data["state"], n.data["extensions"]) for n in v.journal.notes
              if n.topic == "auction"]
    assert states == [("CALLING", 0), ("CALLING", 1), ("CALLING", 2), ("AWAITING_DECISION", 2)]
    assert {n.scope for n in v.journal.notes} == {VENUE}


def _file_venue(path: pathlib.Path, clock: ManualClock, *, create: bool = False) -> Venue:
    approvals = Approvals(POLICY, clock=clock)
    controller = recover(path, POLICY, create=create, durability="none", clock=clock,
                         guards=policy_guards(POLICY, health=HealthChecks(HEALTHY),
                                              approvals=approvals),
                         authorizer=RoleAuthorizer(POLICY, approvals=approvals))
    return Venue(controller, clock, approvals, controller.journal)


def test_a_runner_built_after_recovery_resumes_the_same_call(tmp_path: pathlib.Path) -> None:
    """SIGKILL mid-call: the recovered runner keeps start, end and extension count."""
    # Arrange: a call extended once, journaled to a file
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(1_000.0)
    v = _file_venue(path, clock, create=True)
    into_auction(v)
    engine = Engine()
    engine.quote(VENUE, 110)
    before = v.runner(engine, seed=11)
    v.clock.now = before.poll().ends_at or 0
    extended = before.poll()
    assert extended.extensions == 1
    assert isinstance(v.journal, FileJournal)
    # Act: the process dies (nothing is closed); a new one recovers, with another seed
    clock.advance(5)
    after = _file_venue(path, clock)
    survivor = Engine()
    survivor.quote(VENUE, 110)
    resumed = after.runner(survivor, seed=999).poll()
    # Assert
    assert after.controller.phase() == "AUCTION"
    assert (resumed.state, resumed.visit, resumed.started_at, resumed.ends_at,
            resumed.extensions) == (AuctionState.CALLING, extended.visit, extended.started_at,
                                    extended.ends_at, 1)
    runner = after.runner(survivor, seed=999)
    survivor.quote(VENUE, 100, quantity=50)
    clock.now = (extended.ends_at or 0) - 1
    assert runner.poll().state is AuctionState.CALLING
    clock.now = extended.ends_at or 0
    done = runner.poll()
    assert done.state is AuctionState.UNCROSSED
    assert after.controller.phase() == "FULL_OPEN"
    assert survivor.uncrosses == [(VENUE, done.open_price)]


def test_a_recovered_runner_does_not_redraw_a_finished_call(tmp_path: pathlib.Path) -> None:
    """After the uncross and a crash, the note says UNCROSSED: nothing is asked again."""
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(1_000.0)
    v = _file_venue(path, clock, create=True)
    into_auction(v)
    engine = Engine()
    engine.quote(VENUE, 100)
    runner = v.runner(engine)
    clock.now = runner.poll().ends_at or 0
    assert runner.poll().state is AuctionState.UNCROSSED

    after = _file_venue(path, clock)
    again = Engine()
    again.quote(VENUE, 100)
    status = after.runner(again).poll()
    assert (status.state, status.open_price) == (AuctionState.UNCROSSED, 100)
    assert again.uncrosses == []


# -- concurrency ------------------------------------------------------------------------------


def test_concurrent_polls_uncross_exactly_once_and_agree_on_the_outcome() -> None:
    """Polls from several threads: one uncross, and none of them takes the transition the
    runner itself made for an interruption."""
    v, engine = venue(), Engine()
    engine.quote(VENUE, 100)
    runner = v.runner(engine)
    v.clock.now = runner.poll().ends_at or 0
    start = threading.Barrier(8)

    def slow(change: Any) -> None:  # widens the window between the transition and its record
        if change.dest == "FULL_OPEN":
            time.sleep(0.05)

    v.controller.add_listener(slow)

    def poll() -> None:
        start.wait()
        runner.poll()

    threads = [threading.Thread(target=poll) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert engine.uncrosses == [(VENUE, 100)]
    assert [r.trigger for r in v.journal.records].count("uncross") == 1
    assert runner.status().state is AuctionState.UNCROSSED
    assert "INTERRUPTED" not in [n.data["state"] for n in v.journal.notes]


# -- the gate in an auction phase -------------------------------------------------------------


def test_an_auction_phase_accepts_crossing_limit_orders() -> None:
    """A call collects crossing interest: check_priced does not refuse WOULD_CROSS there."""
    gate = Gate(POLICY, {VENUE: "AUCTION"})
    bid = Request.new_order(BTC, OrderType.LIMIT)
    assert gate.check_priced(bid, Side.BUY, 105, best_bid=99, best_ask=101).reason is (
        Reason.ACCEPTED)
    assert gate.check_priced(bid, Side.SELL, 95, best_bid=99, best_ask=101).accepted


def test_a_pre_open_instrument_under_an_auction_venue_still_refuses_crossing() -> None:
    """The exemption is the auction's: a post-only pre-open keeps refusing crossing orders."""
    gate = Gate(POLICY, {VENUE: "AUCTION", BTC: "PRE_OPEN"})
    post_only = Request.new_order(BTC, OrderType.LIMIT, post_only=True)
    decision = gate.check_priced(post_only, Side.BUY, 105, best_bid=99, best_ask=101)
    assert (decision.reason, decision.phase) == (Reason.WOULD_CROSS, "PRE_OPEN")
    gate = Gate(POLICY, {VENUE: "PRE_OPEN", BTC: "AUCTION"})
    assert gate.check_priced(post_only, Side.BUY, 105, best_bid=99,
                             best_ask=101).reason is Reason.WOULD_CROSS


# -- bad input --------------------------------------------------------------------------------


class _NoEngine:
    pass


@pytest.mark.parametrize(("field", "value"), [
    ("controller", "not a controller"),
    ("engine", _NoEngine()),
    ("reference", 0), ("reference", float("nan")), ("reference", True), ("reference", "100"),
    ("seed", 1.5), ("seed", True), ("seed", None), ("seed", -1), ("seed", 2**63),
    ("actor", 5), ("actor", ""), ("actor", "a\nb"),
    ("scope", ""), ("scope", 3), ("scope", " venue"),
])
def test_bad_runner_arguments_are_named(field: str, value: object) -> None:
    args: dict[str, Any] = {"controller": venue().controller, "engine": Engine(),
                            "reference": 100, "seed": 1, "actor": TIMER, "scope": VENUE}
    args[field] = value
    with pytest.raises(ConfigurationError, match=field):
        AuctionRunner(**args)


def test_a_policy_without_an_auction_phase_is_refused() -> None:
    from exchange_recovery import default_policy  # noqa: PLC0415

    with pytest.raises(ConfigurationError, match="no auction phase"):
        AuctionRunner(Controller(default_policy()), Engine(), reference=100, seed=1, actor=TIMER)


@pytest.mark.parametrize(("field", "value"), [
    ("side", None), ("side", "BUY"), ("price", None), ("price", 0), ("price", float("inf")),
    ("quantity", -1), ("old_price", "100"), ("old_quantity", True),
])
def test_an_amend_without_usable_prices_is_an_invalid_request(field: str, value: object) -> None:
    _v, runner = _late_runner()
    args: dict[str, Any] = {"side": Side.BUY, "price": 101, "quantity": 1, "old_price": 100,
                            "old_quantity": 1}
    args[field] = value
    with pytest.raises(InvalidRequestError) as error:
        runner.check_late(AMEND, **args)
    assert error.value.field == field


def test_check_late_needs_a_request() -> None:
    _v, runner = _late_runner()
    with pytest.raises(InvalidRequestError):
        runner.check_late("cancel")  # type: ignore[arg-type]


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"actor": ALICE, "cross": "yes", "reason": "r"}, "cross"),
    ({"actor": 5, "cross": True, "reason": "r"}, "actor"),
    ({"actor": ALICE, "cross": True, "reason": None}, "reason"),
    ({"actor": ALICE, "cross": True, "reason": ""}, "reason"),
])
def test_bad_decisions_are_refused_naming_the_field(kwargs: dict[str, Any], field: str) -> None:
    v, engine = venue(), Engine()
    runner = v.runner(engine)
    with pytest.raises(TransitionRefused) as refused:
        runner.decide(**kwargs)
    assert refused.value.code is RefusalCode.INVALID_ARGUMENT
    assert refused.value.context.get("field", field) == field


def test_a_decision_while_the_call_runs_is_not_allowed() -> None:
    v, engine = venue(), Engine()
    runner = v.runner(engine)
    runner.poll()
    v.approvals.approve(BOB, "override_open")
    with pytest.raises(TransitionRefused) as refused:
        runner.decide(ALICE, cross=False, reason="early")
    assert refused.value.code is RefusalCode.TRANSITION_NOT_ALLOWED
    assert v.controller.phase() == "AUCTION"


def test_an_engine_returning_no_indicative_is_a_configuration_error() -> None:
    class Broken(Engine):
        def indicative(self, scope: str) -> Any:
            return (100, 2)

    v = venue()
    runner = v.runner(Broken())
    v.clock.now = 10_000.0  # past any end
    with pytest.raises(ConfigurationError, match="Indicative"):
        runner.poll()
    assert v.controller.phase() == "AUCTION"


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"price": 0, "volume": 1}, "price"), ({"price": 1, "volume": float("nan")}, "volume"),
    ({"price": 1, "volume": 1, "imbalance": "2"}, "imbalance"), ({"price": True, "volume": 1},
                                                                 "price"),
])
def test_an_indicative_is_validated(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigurationError, match=f"Indicative.{field}"):
        Indicative(**kwargs)


def test_a_runner_without_a_note_journal_keeps_the_call_in_memory() -> None:
    """No journal: the call runs all the same (not durable)."""
    clock = ManualClock(0.0)
    approvals = Approvals(POLICY, clock=clock)
    c = Controller(POLICY, guards=policy_guards(POLICY, health=HealthChecks(HEALTHY),
                                                approvals=approvals),
                   clock=clock, phases={VENUE: "AUCTION"})
    engine = Engine()
    engine.quote(VENUE, 100)
    runner = AuctionRunner(c, engine, reference=100, seed=1, actor=TIMER)
    clock.now = runner.poll().ends_at or 0
    assert runner.poll().state is AuctionState.UNCROSSED
    assert c.last_note("auction") is None


def test_a_failed_note_is_logged_and_retried_and_the_call_goes_on() -> None:
    class Flaky(MemoryJournal):
        fail = True

        def note(self, note: Any) -> None:
            if self.fail:
                raise OSError("disk full")
            super().note(note)

    journal = Flaky()
    v, engine = venue(journal=journal), Engine()
    runner = v.runner(engine)
    with capture_logs() as logs:
        status = runner.poll()
    assert status.state is AuctionState.CALLING
    assert "auction_note_failed" in [e["event"] for e in logs]
    journal.fail = False
    runner.poll()
    assert [n.data["state"] for n in journal.notes] == ["CALLING"]


def test_transition_records_name_the_runner_as_actor() -> None:
    v, engine = venue(), Engine()
    engine.quote(VENUE, 100)
    runner = v.runner(engine)
    v.clock.now = runner.poll().ends_at or 0
    runner.poll()
    last = v.journal.records[-1]
    assert isinstance(last, TransitionRecord)
    assert last.actor == TIMER.name
