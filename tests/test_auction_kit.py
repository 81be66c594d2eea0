"""The auction kit: the reference uncross, the reference book, and the check catching mutants."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from exchange_recovery import ConfigurationError, Exhausted, Side
from exchange_recovery._plan.auction import AuctionState, Indicative, Price
from exchange_recovery.testing import (
    AuctionBook,
    AuctionEngine,
    ConformanceFailure,
    auction_policy,
    check_auction,
    reference_uncross,
)

SEEDS = range(40)


# -- the reference uncross --------------------------------------------------------------------


def test_the_uncross_maximises_the_volume_traded() -> None:
    bids = [(103, 1), (102, 2), (101, 3)]
    asks = [(100, 2), (101, 2), (102, 5)]
    # at 101: demand 6, supply 4 -> 4; at 102: demand 3, supply 9 -> 3
    assert reference_uncross(bids, asks, reference=100) == Indicative(101, 4, 2)


def test_ties_in_volume_go_to_the_smaller_imbalance() -> None:
    bids = [(102, 4), (100, 1)]
    asks = [(99, 3), (101, 2)]
    # 100: demand 5, supply 3 -> 3 (imbalance 2); 101: demand 4, supply 5 -> 4 ... 102: 4 vs 5
    assert reference_uncross(bids, asks, reference=100) == Indicative(101, 4, -1)


def test_ties_in_volume_and_imbalance_go_to_the_price_nearest_the_reference() -> None:
    """Every price from 99 to 101 trades 2 leaving 1: the reference itself wins."""
    assert reference_uncross([(101, 3)], [(99, 2)], reference=100) == Indicative(100, 2, 1)
    assert reference_uncross([(101, 3)], [(99, 2)], reference=150) == Indicative(101, 2, 1)
    assert reference_uncross([(101, 3)], [(99, 2)], reference=50) == Indicative(99, 2, 1)


def test_nothing_crosses_nothing_trades() -> None:
    assert reference_uncross([], [], reference=100) is None
    assert reference_uncross([(99, 5)], [(100, 5)], reference=100) is None
    assert reference_uncross([(99, 5)], [], reference=100) is None


def test_decimals_are_kept_exact() -> None:
    quote = reference_uncross([(Decimal("100.10"), Decimal(1))],
                              [(Decimal("100.05"), Decimal(1))], reference=Decimal(100))
    assert quote == Indicative(Decimal("100.05"), Decimal(1), Decimal(0))


@given(st.lists(st.tuples(st.integers(90, 110), st.integers(1, 9)), max_size=12),
       st.lists(st.tuples(st.integers(90, 110), st.integers(1, 9)), max_size=12),
       st.integers(90, 110))
def test_no_price_trades_more_than_the_uncross(bids: list[tuple[int, int]],
                                               asks: list[tuple[int, int]],
                                               reference: int) -> None:
    """Against a brute force over every tick: the volume is the maximum."""
    quote = reference_uncross(bids, asks, reference)
    best = max(min(sum(q for p, q in bids if p >= tick), sum(q for p, q in asks if p <= tick))
               for tick in range(89, 112))
    assert (0 if quote is None else quote.volume) == best


@pytest.mark.parametrize(("bids", "asks", "reference", "field"), [
    ([(0, 1)], [], 100, "bids"), ([], [(1, -1)], 100, "asks"), ("101,1", [], 100, "bids"),
    ([(1, 1, 1)], [], 100, "bids"), ([(True, 1)], [], 100, "bids"), ([], [], 0, "reference"),
    (5, [], 100, "bids"), ([(1.5, 1.5)], [(Decimal(1), Decimal(1))], 100, "Decimal"),
])
def test_bad_books_are_named(bids: Any, asks: Any, reference: Any, field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        reference_uncross(bids, asks, reference)


# -- the reference book -----------------------------------------------------------------------


def test_the_book_never_matches_during_the_call_and_uncrosses_at_the_price_given() -> None:
    book = AuctionBook(reference=100)
    book.submit("X", Side.BUY, 105, 2)
    book.submit("X", Side.SELL, 95, 1)
    book.submit("X", Side.SELL, 99, 3)
    assert book.trades("X") == ()
    assert book.indicative("X") == Indicative(100, 2, -2)

    book.uncross("X", 100)

    assert book.trades("X") == ((100, 2),)
    assert book.resting("X") == ((Side.SELL, 99, 2),)
    assert book.indicative("X") is None
    assert isinstance(book, AuctionEngine)


def test_the_book_cancels_and_keeps_scopes_apart() -> None:
    book = AuctionBook()
    order = book.submit("X", Side.BUY, 101, 1)
    book.submit("Y", Side.SELL, 99, 1)
    assert book.indicative("X") is None
    assert book.cancel("X", order)
    assert not book.cancel("X", order)
    assert book.resting("X") == ()


@pytest.mark.parametrize(("args", "field"), [
    (("X", "BUY", 1, 1), "side"), (("X", Side.BUY, 0, 1), "price"),
    (("X", Side.BUY, 1, float("nan")), "quantity"), ((None, Side.BUY, 1, 1), "scope"),
])
def test_the_book_refuses_bad_orders(args: tuple[Any, ...], field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        AuctionBook().submit(*args)


# -- the check --------------------------------------------------------------------------------


@given(st.integers(0, 2**63 - 1))
def test_the_reference_book_passes_the_auction_check(seed: int) -> None:
    with capture_logs():
        status = check_auction(lambda: AuctionBook(reference=100), seed)
    assert status.state in (AuctionState.UNCROSSED, AuctionState.OPENED_WITHOUT_CROSS)


def test_the_check_covers_every_way_a_call_ends() -> None:
    """Uncrossed inside the collar (with and without extensions), by people, or no cross."""
    seen = set()
    with capture_logs():
        for seed in range(300):
            status = check_auction(AuctionBook, seed)
            seen.add((status.state, status.extensions > 0, status.override))
    assert {(AuctionState.UNCROSSED, False, False), (AuctionState.UNCROSSED, True, False),
            (AuctionState.UNCROSSED, True, True), (AuctionState.OPENED_WITHOUT_CROSS, True, False),
            (AuctionState.OPENED_WITHOUT_CROSS, True, True)} <= seen


def test_the_check_is_a_function_of_its_seed() -> None:
    with capture_logs():
        runs = [check_auction(AuctionBook, 5) for _ in range(2)]
    assert runs[0] == attrs_evolve_at(runs[1], runs[0].at)


def attrs_evolve_at(status: Any, at: float) -> Any:
    import attrs  # noqa: PLC0415

    return attrs.evolve(status, at=at)


def test_the_open_without_cross_policy_lets_the_library_fire_the_override() -> None:
    policy = auction_policy(Exhausted.OPEN_WITHOUT_CROSS)
    override = policy.transition("AUCTION", "override_open")
    assert override is not None
    assert override.guards == ()
    assert "automation" in policy.permission("override_open").roles  # type: ignore[union-attr]
    with pytest.raises(ConfigurationError, match="when_exhausted"):
        auction_policy("MANUAL")  # type: ignore[arg-type]


@pytest.mark.parametrize(("factory", "seed", "field"), [
    (None, 1, "engine_factory"), (AuctionBook, 1.0, "seed"), (AuctionBook, -1, "seed"),
    (object, 1, "engine_factory"),
])
def test_bad_check_arguments_are_named(factory: Any, seed: Any, field: str) -> None:
    with pytest.raises(ConfigurationError, match=field):
        check_auction(factory, seed)


# -- mutants: broken engines the check must catch ---------------------------------------------


class TradesDuringTheCall(AuctionBook):
    """Matches continuously: a crossing order trades when it arrives."""

    def submit(self, scope: str, side: Side, price: Price, quantity: Price) -> int:
        order = super().submit(scope, side, price, quantity)
        quote = self.indicative(scope)
        if quote is not None:
            super().uncross(scope, quote.price)
        return order


class UncrossesTwice(AuctionBook):
    """Prints the auction trade twice (its fills are not taken out of the book)."""

    def uncross(self, scope: str, price: Price) -> None:
        super().uncross(scope, price)
        self._trades[scope].append(self._trades[scope][-1])


class IgnoresThePrice(AuctionBook):
    """Trades each fill at the buy order's own limit, as continuous matching would, not at the
    price it is given."""

    def uncross(self, scope: str, price: Price) -> None:
        book = self._books.get(scope, [])
        buys = sorted((o for o in book if o.side is Side.BUY and o.price >= price),
                      key=lambda o: (-o.price, o.id))
        sells = sorted((o for o in book if o.side is Side.SELL and o.price <= price),
                       key=lambda o: (o.price, o.id))
        trades = self._trades.setdefault(scope, [])
        while buys and sells:
            fill = min(buys[0].quantity, sells[0].quantity)
            trades.append((buys[0].price, fill))
            buys[0].quantity -= fill
            sells[0].quantity -= fill
            buys = [o for o in buys if o.quantity]
            sells = [o for o in sells if o.quantity]
        self._books[scope] = [o for o in book if o.quantity]


def _uncrossing_seeds() -> list[int]:
    with capture_logs():
        return [seed for seed in SEEDS
                if check_auction(AuctionBook, seed).state is AuctionState.UNCROSSED]


@pytest.mark.parametrize(("mutant", "message"), [
    (TradesDuringTheCall, "traded during the call"),
    (UncrossesTwice, "more \\(or less\\) than once"),
])
def test_the_check_catches_a_broken_engine(mutant: type[AuctionBook], message: str) -> None:
    """Every seed whose call uncrosses with the reference book fails with the mutant."""
    seeds = _uncrossing_seeds()
    assert len(seeds) > len(SEEDS) // 2
    for seed in seeds:
        with capture_logs(), pytest.raises(ConformanceFailure, match=message):
            check_auction(mutant, seed)


def _failure(factory: Any, seed: int) -> ConformanceFailure | None:
    try:
        with capture_logs():
            check_auction(factory, seed)
    except ConformanceFailure as failure:
        return failure
    return None


def test_the_check_catches_an_engine_that_ignores_the_price_it_is_given() -> None:
    """Caught on every seed where ignoring the price shows: a fill whose buy limit is above
    the uncross price (where each limit is the price, the mutant trades exactly right)."""
    caught = 0
    for seed in _uncrossing_seeds():
        engines: list[IgnoresThePrice] = []

        def make(engines: list[IgnoresThePrice] = engines) -> IgnoresThePrice:
            engines.append(IgnoresThePrice(reference=100))
            return engines[-1]

        failure = _failure(make, seed)
        if failure is None:  # the mutation did not show: every fill was at the price given
            with capture_logs():
                status = check_auction(AuctionBook, seed)
            assert {p for p, _ in engines[0].trades("venue")} == {status.open_price}
        else:
            assert "the engine traded at" in str(failure)
            caught += 1
    assert caught > 10
