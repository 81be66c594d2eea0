"""Liquidations on their own clock after a restart, marks at the halt, frozen funding."""

from __future__ import annotations

import itertools
import pathlib
import threading
from collections.abc import Sequence
from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_recovery import (
    VENUE,
    ConfigurationError,
    Controller,
    InvalidRequestError,
    MemoryJournal,
    OrderType,
    Origin,
    Policy,
    Reason,
    Request,
    TransitionRecord,
    recover,
    reopening_policy,
)
from exchange_recovery._core.reopen import LiquidationRelease
from exchange_recovery._plan.liquidation import (
    LiquidationClock,
    LiquidationState,
    frozen_intervals,
    halt_marks,
    record_marks,
)
from exchange_recovery.testing import ManualClock

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"
HALT_AT = 1000.0
PAUSE = 3600.0
LIQUIDATION = Request.new_order(BTC, OrderType.LIMIT, origin=Origin.LIQUIDATION)


def unguarded(delay: float | None = 900.0, per_minute: int = 10) -> Policy:
    """The reopening policy without its guards, FULL_OPEN's release as given."""
    policy = reopening_policy()
    phases = tuple(
        attrs.evolve(p, liquidation_release=LiquidationRelease(delay, per_minute))
        if p.liquidation_release is not None else p for p in policy.phases)
    return policy.with_changes(guards=(), phases=phases, transitions=tuple(
        attrs.evolve(t, guards=()) for t in policy.transitions))


POLICY = unguarded()


def reopen(controller: Controller, clock: ManualClock, scope: str = VENUE,
           pause: float = PAUSE) -> None:
    """Halt `scope` at the clock's time, then after `pause` s pre-open, call and uncross."""
    controller.halt(actor="ops", reason="zone down", scope=scope)
    clock.advance(pause)
    for trigger in ("pre_open", "call", "uncross"):
        controller.fire(trigger, actor="ops", reason="restart", scope=scope)


def reopened(policy: Policy = POLICY) -> tuple[Controller, LiquidationClock, ManualClock]:
    clock = ManualClock(HALT_AT)
    controller = Controller(policy, clock=clock, journal=MemoryJournal())
    liquidations = LiquidationClock(controller)
    reopen(controller, clock)
    return controller, liquidations, clock


def test_nothing_is_released_before_the_delay_after_the_open() -> None:
    """Liquidations stay refused for 15 minutes after FULL_OPEN, with the release time."""
    controller, liquidations, clock = reopened()
    opened = HALT_AT + PAUSE

    clock.advance(899.0)
    refused = liquidations.check(BTC)

    assert controller.phase() == "FULL_OPEN"
    assert controller.gate.check(LIQUIDATION).accepted  # the gate lets the order type in
    assert (refused.accepted, refused.reason) == (False, Reason.LIQUIDATION_NOT_RELEASED)
    assert refused.retry_after == opened + 900.0
    assert refused.message.startswith("LIQUIDATION_NOT_RELEASED: phase=FULL_OPEN scope=venue")
    clock.advance(1.0)
    assert liquidations.check(BTC).accepted


def test_after_the_release_ten_a_minute_per_instrument_and_the_eleventh_waits() -> None:
    """Once released, the 11th liquidation within a minute is refused until a slot frees."""
    _, liquidations, clock = reopened()
    clock.advance(900.0)
    start = clock()

    accepted = []
    for _ in range(10):
        accepted.append(liquidations.check(BTC).accepted)
        clock.advance(1.0)
    eleventh = liquidations.check(BTC)

    assert all(accepted)
    assert eleventh.reason is Reason.LIQUIDATION_RATE_LIMITED
    assert eleventh.retry_after == start + 60.0
    assert liquidations.check(ETH).accepted  # per instrument
    schedule = liquidations.schedule(BTC)
    assert (schedule.state, schedule.used, schedule.next_slot) == (
        LiquidationState.RELEASED, 10, start + 60.0)
    clock.now = start + 60.0
    assert liquidations.check(BTC).accepted
    assert liquidations.check(BTC).reason is Reason.LIQUIDATION_RATE_LIMITED


def test_a_refused_check_uses_no_slot() -> None:
    """Refusals before the release do not count against the first minute's rate."""
    _, liquidations, clock = reopened(unguarded(per_minute=2))
    for _ in range(5):
        liquidations.check(BTC)
    clock.advance(900.0)
    assert [liquidations.check(BTC).accepted for _ in range(3)] == [True, True, False]


def test_no_delay_means_as_long_as_the_pause() -> None:
    """With delay=None liquidations resume as long after the open as the halt lasted."""
    _, liquidations, clock = reopened(unguarded(delay=None))
    opened = HALT_AT + PAUSE

    schedule = liquidations.schedule()

    assert (schedule.resume_at, schedule.paused) == (opened + PAUSE, PAUSE)
    clock.now = opened + PAUSE - 1
    assert liquidations.check(BTC).reason is Reason.LIQUIDATION_NOT_RELEASED
    clock.now = opened + PAUSE
    assert liquidations.check(BTC).accepted


def test_a_halt_after_the_release_stops_liquidations_again() -> None:
    """A new halt refuses liquidations at once, and the next reopen starts a new clock."""
    controller, liquidations, clock = reopened()
    clock.advance(900.0)
    assert liquidations.check(BTC).accepted

    controller.halt(actor="ops", reason="again")
    halted = liquidations.check(BTC)
    clock.advance(120.0)
    for trigger in ("pre_open", "call", "uncross"):
        controller.fire(trigger, actor="ops", reason="restart")

    assert not halted.accepted
    assert halted.reason is Reason.PHASE_HALTED  # the gate's reason
    assert liquidations.check(BTC).reason is Reason.LIQUIDATION_NOT_RELEASED
    assert liquidations.schedule().resume_at == clock() + 900.0


def test_phases_that_run_liquidations_need_no_clock_and_others_refuse() -> None:
    """NORMAL runs liquidations; PRE_OPEN and AUCTION refuse them with the gate's reason."""
    clock = ManualClock(0)
    controller = Controller(POLICY, clock=clock, journal=MemoryJournal())
    liquidations = LiquidationClock(controller)
    assert liquidations.check(BTC).accepted
    assert liquidations.schedule(BTC).state is LiquidationState.RUNNING
    controller.halt(actor="ops", reason="x")
    for trigger in ("pre_open", "call"):
        controller.fire(trigger, actor="ops", reason="x")
        decision = liquidations.check(BTC)
        assert not decision.accepted
        assert decision is controller.gate.check(LIQUIDATION)
        assert liquidations.schedule(BTC).state is LiquidationState.HELD


def test_an_instrument_reopened_alone_has_its_own_clock() -> None:
    """An instrument halted and reopened on its own is released on its own pause."""
    clock = ManualClock(0)
    controller = Controller(unguarded(delay=None), clock=clock, journal=MemoryJournal())
    liquidations = LiquidationClock(controller)

    reopen(controller, clock, scope=BTC, pause=600.0)

    assert liquidations.check(ETH).accepted  # still NORMAL
    refused = liquidations.check(BTC)
    assert (refused.reason, refused.scope, refused.retry_after) == (
        Reason.LIQUIDATION_NOT_RELEASED, "instrument", 1200.0)
    clock.now = 1200.0
    assert liquidations.check(BTC).accepted


def test_the_release_time_survives_a_restart(tmp_path: pathlib.Path) -> None:
    """After recover() the clock gives the same release time as before the SIGKILL."""
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(HALT_AT)
    policy = unguarded(delay=None)
    first = recover(path, policy, create=True, durability="none", clock=clock)
    before = LiquidationClock(first)
    reopen(first, clock)
    expected = before.schedule()
    clock.advance(300.0)  # the process dies; it restarts 5 minutes later

    again = recover(path, policy, durability="none", clock=clock)
    after = LiquidationClock(again)

    assert again.phase() == "FULL_OPEN"
    assert after.schedule().resume_at == expected.resume_at == HALT_AT + 2 * PAUSE
    assert after.schedule().paused == PAUSE
    clock.now = HALT_AT + 2 * PAUSE - 1
    assert after.check(BTC).retry_after == expected.resume_at


def test_a_release_note_lost_in_a_crash_never_releases_earlier(tmp_path: pathlib.Path) -> None:
    """Without its note (a crash between the open and the note) the clock holds, not earlier."""
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(HALT_AT)
    first = recover(path, POLICY, create=True, durability="none", clock=clock)
    reopen(first, clock)  # no clock listening: no note is written
    opened = clock()
    clock.advance(60.0)

    after = LiquidationClock(recover(path, POLICY, durability="none", clock=clock))

    assert after.schedule().resume_at == clock() + 900.0 > opened + 900.0


def test_an_unknown_pause_holds_liquidations(tmp_path: pathlib.Path) -> None:
    """delay=None with no record of the halt's time: held, never released early."""
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(HALT_AT)
    policy = unguarded(delay=None)
    first = recover(path, policy, create=True, durability="none", clock=clock)
    reopen(first, clock)

    after = LiquidationClock(recover(path, policy, durability="none", clock=clock))
    clock.advance(10 * PAUSE)

    assert after.check(BTC).reason is Reason.LIQUIDATION_NOT_RELEASED
    assert after.schedule(BTC).state is LiquidationState.HELD


def test_a_halt_seen_only_after_a_restart_has_no_known_start(tmp_path: pathlib.Path) -> None:
    """Recovered in HALTED without a note, the halt began before the restart: delay=None holds."""
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(HALT_AT)
    policy = unguarded(delay=None)
    recover(path, policy, create=True, durability="none", clock=clock).halt(actor="ops",
                                                                            reason="x")
    clock.advance(PAUSE)
    again = recover(path, policy, durability="none", clock=clock)
    liquidations = LiquidationClock(again)

    for trigger in ("pre_open", "call", "uncross"):
        again.fire(trigger, actor="ops", reason="restart")
    clock.advance(10 * PAUSE)

    assert liquidations.schedule(BTC).state is LiquidationState.HELD
    assert liquidations.check(BTC).reason is Reason.LIQUIDATION_NOT_RELEASED


def test_a_change_not_yet_told_to_the_clock_holds_liquidations() -> None:
    """If the gate shows a re-entry the listener has not delivered, the old release is unused."""
    controller, liquidations, clock = reopened()
    clock.advance(900.0)
    liquidations.close()  # from now on it hears nothing
    controller.halt(actor="ops", reason="again")
    clock.advance(1.0)
    for trigger in ("pre_open", "call", "uncross"):
        controller.fire(trigger, actor="ops", reason="restart")

    assert liquidations.check(BTC).reason is Reason.LIQUIDATION_NOT_RELEASED


def test_marks_are_journaled_and_read_back_after_recover(tmp_path: pathlib.Path) -> None:
    """The marks at the halt survive a restart, exactly (decimal text, not floats)."""
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(HALT_AT)
    first = recover(path, POLICY, create=True, durability="none", clock=clock)
    first.halt(actor="ops", reason="zone down")
    note = record_marks(first, {BTC: "16800.5", ETH: 0.1, "SOL-USDT": Decimal("13.07")},
                        actor="ops:alice")

    again = recover(path, POLICY, durability="none", clock=clock)

    assert note.data["phase"] == "HALTED"
    assert dict(halt_marks(again) or {}) == {BTC: Decimal("16800.5"), ETH: Decimal("0.1"),
                                             "SOL-USDT": Decimal("13.07")}
    assert halt_marks(again.notes("marks")) == halt_marks(again)
    assert halt_marks(again, BTC) is None


@pytest.mark.parametrize("marks", [{}, {BTC: 0}, {BTC: -1.5}, {BTC: float("nan")},
                                   {BTC: float("inf")}, {BTC: "abc"}, {BTC: True},
                                   {BTC: Decimal("NaN")}, {"": 1}, {" BTC": 1},
                                   {VENUE: 1}, {"x" * 65: 1}, {1: 1}, {BTC: "1" * 41}, [1]])
def test_record_marks_refuses_what_is_not_a_positive_finite_price(marks: object) -> None:
    """Bad marks raise a ConfigurationError naming them; nothing is journaled."""
    journal = MemoryJournal()
    controller = Controller(POLICY, journal=journal)
    with pytest.raises(ConfigurationError, match="marks"):
        record_marks(controller, marks, actor="ops")  # type: ignore[arg-type]
    assert journal.notes == ()


def test_check_refuses_a_bad_instrument_with_a_library_error() -> None:
    """A missing or mistyped instrument is an InvalidRequestError naming it."""
    _, liquidations, _ = reopened()
    for bad in (None, "", 5, VENUE):
        with pytest.raises(InvalidRequestError, match="instrument"):
            liquidations.check(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="Controller"):
        LiquidationClock("controller")  # type: ignore[arg-type]


def test_funding_is_frozen_while_halted_pre_open_and_in_the_auction() -> None:
    """The gate says funding stops at the halt and resumes at the uncross; the journal agrees."""
    clock = ManualClock(0)
    journal = MemoryJournal()
    controller = Controller(POLICY, clock=clock, journal=journal)
    seen = [("NORMAL", controller.gate.funding(BTC))]
    controller.halt(actor="ops", reason="x")
    seen.append(("HALTED", controller.gate.funding(BTC)))
    for trigger in ("pre_open", "call", "uncross"):
        clock.advance(100)
        controller.fire(trigger, actor="ops", reason="x")
        seen.append((controller.phase(), controller.gate.funding(BTC)))

    assert seen == [("NORMAL", True), ("HALTED", False), ("PRE_OPEN", False),
                    ("AUCTION", False), ("FULL_OPEN", True)]
    assert frozen_intervals(journal.records, POLICY, start=0, end=1000) == ((0.0, 300.0),)


# -- frozen intervals against a plain reference ----------------------------------------------

PHASES = POLICY.phase_names
SCOPES = (VENUE, BTC, ETH)


@st.composite
def journals(draw: st.DrawFn) -> list[TransitionRecord]:
    """Records of any phases (frozen_intervals does not check the graph), times ascending."""
    steps = draw(st.lists(st.tuples(st.sampled_from(SCOPES), st.sampled_from(PHASES),
                                    st.integers(0, 50)), max_size=12))
    out, t = [], 0
    for version, (scope, dest, gap) in enumerate(steps, 1):
        t += gap
        out.append(TransitionRecord(version, scope, "?", dest, "x", "ops", "r", float(t), False))
    return out


def reference_frozen(records: Sequence[TransitionRecord], scope: str, start: float,
                     end: float) -> float:
    """Seconds frozen, by looking up both scopes' phases at each elementary interval's middle."""
    cuts = sorted({start, end, *(r.timestamp for r in records if start < r.timestamp < end)})
    total = 0.0
    for lo, hi in itertools.pairwise(cuts):
        mid = (lo + hi) / 2
        venue, own = POLICY.initial, None
        for r in records:
            if r.timestamp <= mid:
                if r.scope == VENUE:
                    venue = r.dest
                elif r.scope == scope:
                    own = r.dest
        frozen = not POLICY.phase(venue).funding or (
            own not in (None, POLICY.normal) and not POLICY.phase(own).funding)
        total += (hi - lo) if frozen else 0.0
    return total


@given(journals(), st.sampled_from(SCOPES), st.integers(-10, 400), st.integers(0, 400))
def test_frozen_intervals_match_a_plain_reference(records: list[TransitionRecord], scope: str,
                                                  start: int, length: int) -> None:
    """The frozen seconds equal the reference's; the intervals are sorted, disjoint, inside."""
    end = start + length

    got = frozen_intervals(records, POLICY, start=start, end=end, scope=scope)

    assert sum(hi - lo for lo, hi in got) == reference_frozen(records, scope, start, end)
    assert all(start <= lo < hi <= end for lo, hi in got)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(got))


def test_a_clock_stepped_back_never_makes_a_frozen_interval_run_backwards() -> None:
    """A record stamped earlier than the one before takes effect at the earlier record's time."""
    halt = TransitionRecord(1, VENUE, "NORMAL", "HALTED", "halt", "ops", "r", 100.0, False)
    back = TransitionRecord(2, VENUE, "HALTED", "PRE_OPEN", "pre_open", "ops", "r", 50.0, True)
    uncross = TransitionRecord(3, VENUE, "AUCTION", "FULL_OPEN", "uncross", "ops", "r", 40.0,
                               True)
    other = TransitionRecord(4, BTC, "NORMAL", "HALTED", "halt", "ops", "r", 300.0, False)
    normal = TransitionRecord(5, VENUE, "FULL_OPEN", "NORMAL", "normalize", "ops", "r", 200.0,
                              True)
    again = TransitionRecord(6, VENUE, "NORMAL", "HALTED", "halt", "ops", "r", 250.0, False)

    got = frozen_intervals([halt, back, uncross, other, normal, again], POLICY, start=0,
                           end=1000)

    assert got == ((300.0, 1000.0),)  # the halt of version 6 takes effect at 300, not 250


def test_frozen_intervals_refuse_bad_input_naming_it() -> None:
    """Unknown phases, non-records and a reversed span are ConfigurationErrors."""
    halt = TransitionRecord(1, VENUE, "NORMAL", "HALTED", "halt", "ops", "r", 5.0, False)
    with pytest.raises(ConfigurationError, match="start and end"):
        frozen_intervals([halt], POLICY, start=10, end=0)
    with pytest.raises(ConfigurationError, match="TransitionRecord"):
        frozen_intervals([object()], POLICY, start=0, end=10)  # type: ignore[list-item]
    with pytest.raises(ConfigurationError, match="phase"):
        frozen_intervals([attrs.evolve(halt, dest="NOPE")], POLICY, start=0, end=10)
    with pytest.raises(ConfigurationError, match="Policy"):
        frozen_intervals([halt], "policy", start=0, end=10)  # type: ignore[arg-type]


def test_concurrent_checks_never_exceed_the_rate() -> None:
    """Threads asking at once get exactly per_minute accepts in one window."""
    _, liquidations, clock = reopened()
    clock.advance(900.0)
    results: list[bool] = []
    lock = threading.Lock()

    def ask() -> None:
        for _ in range(20):
            accepted = liquidations.check(BTC).accepted
            with lock:
                results.append(accepted)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert results.count(True) == 10
