"""The LSE-style reopening, simulated: a seeded call, an extension, the uncross, liquidations."""

from __future__ import annotations

import pytest

from exchange_recovery import (
    Actor,
    Advance,
    Approve,
    AuctionState,
    ConfigurationError,
    Liquidate,
    Reason,
    SetIndicative,
    SimulationEvent,
    Timeline,
    Wait,
    reopening_plan,
    simulate,
)

ALICE = Actor("ops:alice", {"operator"})
BOB = Actor("ops:bob", {"supervisor"})
HEALTHY = {"cloud_zone_healthy": True, "market_data_fresh": True, "book_uncrossed": True}
BTC = "BTC-USDT-SWAP"
SCRIPT: tuple[SimulationEvent, ...] = (
    Advance(ALICE), Wait(600), Approve(BOB), Advance(ALICE),  # pre-open 10 min, then the call
    SetIndicative(107.5, 40),  # 7.5 % above the reference: outside the 5 % collar
    Wait(180), SetIndicative(103.2, 55),  # the call was extended; the price comes back
    Wait(420), Liquidate(BTC),  # open; liquidations wait for their clock
    Wait(900), *[Liquidate(BTC)] * 11,  # released: 10 a minute
)


def _run(seed: int) -> Timeline:
    return simulate(reopening_plan(), SCRIPT, health=HEALTHY, seed=seed, reference=100.0)


def _schedule(timeline: Timeline) -> tuple[object, ...]:
    """What a seed decides: every entry in words, the call's end, extensions, release time."""
    auction, release = timeline.auction, timeline.liquidations
    assert auction is not None
    assert release is not None
    return (tuple(str(e) for e in timeline.entries), auction.started_at, auction.extensions,
            auction.open_price, release.resume_at, release.per_minute)


def test_a_fixed_seed_reproduces_the_auction_end_extension_and_liquidation_schedule() -> None:
    assert _schedule(_run(7)) == _schedule(_run(7))


def test_another_seed_draws_another_end() -> None:
    ends = {next(e.at for e in _run(seed).entries if e.event == "auction uncross")
            for seed in range(5)}
    assert len(ends) > 1


def test_the_call_is_extended_once_then_uncrosses_inside_the_collar() -> None:
    timeline = _run(7)
    events = [e.event for e in timeline.entries]
    assert events.count("auction call starts") == 1
    assert events.count("auction extended") == 1
    assert events.count("auction uncross") == 1
    start = next(e.at for e in timeline.entries if e.event == "auction call starts")
    extended = next(e.at for e in timeline.entries if e.event == "auction extended")
    uncross = next(e for e in timeline.entries if e.event == "auction uncross")
    assert 120 <= extended - start <= 150 + 1  # minimum call + random end, polled each second
    assert 300 <= uncross.at - extended <= 330 + 1  # one extension + random end
    assert uncross.phase == "FULL_OPEN"
    assert timeline.auction is not None
    assert timeline.auction.state is AuctionState.UNCROSSED
    assert timeline.auction.open_price == 103.2


def test_liquidations_wait_15_minutes_after_the_open_then_10_a_minute() -> None:
    timeline = _run(7)
    uncross = next(e.at for e in timeline.entries if e.event == "auction uncross")
    asks = [e for e in timeline.entries if e.event.startswith("liquidate")]
    assert asks[0].detail.startswith(f"not yet: {Reason.LIQUIDATION_NOT_RELEASED.value}")
    assert [e.detail for e in asks[1:11]] == ["accepted"] * 10
    assert asks[11].detail.startswith(f"not yet: {Reason.LIQUIDATION_RATE_LIMITED.value}")
    assert timeline.liquidations is not None
    assert timeline.liquidations.resume_at == pytest.approx(uncross + 900, abs=1)


@pytest.mark.parametrize(("build", "field"), [
    (lambda: simulate(reopening_plan(), [], seed=-1), "seed"),
    (lambda: simulate(reopening_plan(), [], reference=float("nan")), "reference"),
    (lambda: SetIndicative(float("inf")), "price"),
    (lambda: SetIndicative(100.0, volume=0), "volume"),
    (lambda: Liquidate(""), "instrument"),
])
def test_bad_simulation_input_is_refused_naming_the_field(build: object, field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        build()  # type: ignore[operator]


def test_a_maximum_stay_refused_for_want_of_approval_is_reported_once_then_fires() -> None:
    """PRE_OPEN advances by itself at 30 min when its guards pass: refused until a supervisor
    approves (said once in the timeline, not every second), then the call starts."""
    timeline = simulate(reopening_plan(), [Advance(ALICE), Wait(1805), Approve(BOB), Wait(5)],
                        health=HEALTHY, seed=1)

    stays = [e for e in timeline.entries if e.event.startswith("max stay")]

    assert [e.detail for e in stays] == ["call REFUSED APPROVAL_MISSING", "call FIRED"]
    assert stays[0].at == 1800.0
    assert stays[1].phase == "AUCTION"
