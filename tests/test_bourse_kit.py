"""The conformance kit against a second real engine: bourse (Rust core), wrapped by the example.

bourse has a trading on/off switch and rests crossing orders while trading is off, with no
uncrossing: the adapter must keep the book uncrossed itself. `BourseConformance` is what a
downstream team writes; the direct tests pin the emulation; one broken adapter shows the kit
notices a book left crossed.

bourse publishes wheels for CPython up to 3.12 only. Where pyproject.toml's marker leaves it out,
the module skips with the ``UNAVAILABLE ON THIS PYTHON:`` marker, which tests/conftest.py keeps a
skip (listed at the end of the run) even under CI=true; anywhere else a missing bourse fails CI.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from test_examples import load_example

from exchange_recovery import (
    ConformanceFailure,
    Controller,
    Gate,
    OrderType,
    Request,
    TimeInForce,
    default_policy,
)
from exchange_recovery.testing import EngineAdapter, EngineConformance, OrderTicket, Side

try:
    import bourse  # noqa: F401 - only whether it imports
except ImportError:
    pytest.skip(f"UNAVAILABLE ON THIS PYTHON: bourse 0.4.0 has wheels for CPython <= 3.12, this "
                f"is {sys.version.split()[0]}", allow_module_level=True)

example = load_example("bourse_restart")
SWAP = example.SWAP


class BourseConformance(EngineConformance):
    """bourse behind the gate, one fresh book per example."""

    def make_adapter(self, gate: Gate) -> EngineAdapter:
        engine: EngineAdapter = example.BourseEngine(gate)
        return engine


TestBourseConforms = BourseConformance.TestCase


# -- the emulation, directly ---------------------------------------------------------------------


def _pre_open(controller: Controller) -> None:
    controller.halt(actor="test", reason="test")
    controller.pre_open(actor="test", reason="test")


def _ticket(side: Side, price: int | None, quantity: int, *, post_only: bool = False,
            order_type: OrderType = OrderType.LIMIT,
            tif: TimeInForce | None = None) -> OrderTicket:
    request = Request.new_order(SWAP, order_type, tif, post_only=post_only)
    return OrderTicket(request, side, price, quantity)


def _amend(*, post_only: bool = False) -> Request:
    return Request.amend(SWAP, OrderType.LIMIT, TimeInForce.GTC, post_only=post_only)


def test_a_post_only_bid_at_the_ask_is_refused_while_trading_is_off() -> None:
    """Pre-open: bourse would rest the bid and cross the book; the adapter refuses it."""
    controller = Controller(default_policy())
    engine = example.BourseEngine(controller.gate)
    maker = engine.submit(_ticket(Side.SELL, 101, 2))
    _pre_open(controller)

    at_the_ask = engine.submit(_ticket(Side.BUY, 101, 1, post_only=True))
    through = engine.submit(_ticket(Side.BUY, 103, 1, post_only=True))
    behind = engine.submit(_ticket(Side.BUY, 100, 1, post_only=True))

    assert maker is not None
    assert (at_the_ask, through) == (None, None)
    assert behind is not None
    assert engine.resting(behind) == 1
    assert not engine.trading()
    assert (engine.best_bid(), engine.best_ask()) == (100, 101)


def test_nothing_trades_while_the_gate_says_no_matching() -> None:
    """Halted and pre-open: the switch is off, nothing trades; at the open the book matches."""
    controller = Controller(default_policy())
    engine = example.BourseEngine(controller.gate)
    engine.submit(_ticket(Side.SELL, 101, 3))
    _pre_open(controller)

    bid = engine.submit(_ticket(Side.BUY, 99, 2, post_only=True))
    assert bid is not None
    assert not engine.amend(bid, _amend(post_only=True), 2, price=101)  # through the ask
    assert engine.amend(bid, _amend(post_only=True), 4)
    assert engine.trades() == []
    assert not engine.trading()

    controller.open(actor="test", reason="test")
    taker = engine.submit(_ticket(Side.BUY, 101, 1))

    assert taker is not None
    assert engine.trading()
    assert [(t.price, t.quantity) for t in engine.trades()] == [(101, 1)]


def test_an_amend_moves_the_price_and_keeps_the_id() -> None:
    """bourse's modify_order keeps the id; a plain move across the touch trades while matching."""
    controller = Controller(default_policy())
    engine = example.BourseEngine(controller.gate)
    ask = engine.submit(_ticket(Side.SELL, 102, 1))
    bid = engine.submit(_ticket(Side.BUY, 98, 3))
    assert ask is not None
    assert bid is not None

    assert engine.amend(bid, _amend(), 3, price=100)
    assert (engine.best_bid(), engine.resting(bid)) == (100, 3)
    assert not engine.amend(bid, _amend(post_only=True), 3, price=102)  # post-only would take
    assert engine.amend(bid, _amend(), 3, price=102)

    assert [(t.price, t.quantity) for t in engine.trades()] == [(102, 1)]
    assert engine.resting(bid) == 2
    assert engine.resting(ask) == 0


def test_market_ioc_and_fok_remainders_never_rest() -> None:
    """Market and IOC remainders are cancelled; a FOK the book cannot fill whole is refused."""
    controller = Controller(default_policy())
    engine = example.BourseEngine(controller.gate)
    engine.submit(_ticket(Side.SELL, 101, 2))
    engine.submit(_ticket(Side.SELL, 102, 2))

    ioc = engine.submit(_ticket(Side.BUY, 101, 3, tif=TimeInForce.IOC))
    fok_short = engine.submit(_ticket(Side.BUY, 102, 3, tif=TimeInForce.FOK))
    fok = engine.submit(_ticket(Side.BUY, 102, 2, tif=TimeInForce.FOK))
    market = engine.submit(_ticket(Side.BUY, None, 5, order_type=OrderType.MARKET))

    assert fok_short is None
    assert ioc is not None
    assert fok is not None
    assert market is not None
    assert [engine.resting(i) for i in (ioc, fok, market)] == [0, 0, 0]
    assert [(t.price, t.quantity) for t in engine.trades()] == [(101, 2), (102, 2)]
    assert engine.best_bid() is None


def test_cancel_and_amend_of_a_finished_order_say_no() -> None:
    """bourse panics on unknown ids: the adapter answers False for ids that are not live."""
    controller = Controller(default_policy())
    engine = example.BourseEngine(controller.gate)
    order_id = engine.submit(_ticket(Side.BUY, 100, 1))
    assert order_id is not None

    assert engine.cancel(order_id, Request.cancel(SWAP))
    assert not engine.cancel(order_id, Request.cancel(SWAP))
    assert not engine.amend(order_id, _amend(), 2)
    assert not engine.cancel("12345", Request.cancel(SWAP))


def test_cancelling_one_of_two_orders_at_a_price_leaves_the_other_matchable() -> None:
    """bourse keys its queue by (price, time): the adapter gives each entry its own time."""
    controller = Controller(default_policy())
    engine = example.BourseEngine(controller.gate)
    first = engine.submit(_ticket(Side.SELL, 98, 1))
    second = engine.submit(_ticket(Side.SELL, 98, 1))
    assert first is not None
    assert second is not None

    assert engine.cancel(second, Request.cancel(SWAP))
    assert engine.best_ask() == 98
    taker = engine.submit(_ticket(Side.BUY, 98, 1))

    assert taker is not None
    assert [(t.price, t.quantity) for t in engine.trades()] == [(98, 1)]
    assert (engine.best_bid(), engine.best_ask(), engine.resting(first)) == (None, None, 0)


# -- the kit catches a broken adapter ------------------------------------------------------------


class _CrossesWhileTradingOff(example.BourseEngine):  # type: ignore[name-defined,misc]
    """Post-only emulated only while matching, as if bourse's switch made the book safe."""

    def _would_cross(self, side: Side, price: int | None) -> bool:
        return bool(self.trading() and super()._would_cross(side, price))


def test_kit_catches_an_adapter_that_lets_the_book_cross_while_trading_is_off() -> None:
    """The kit's price-aware check (or its crossed-book rule, after every step while not
    matching) finds the hazard bourse leaves to its users."""

    class Broken(BourseConformance):
        def make_adapter(self, gate: Gate) -> Any:
            return _CrossesWhileTradingOff(gate)

    phases = [Phase.explicit, Phase.reuse, Phase.generate]
    with pytest.raises(ConformanceFailure) as caught:
        run_state_machine_as_test(Broken, settings=settings(max_examples=200, phases=phases,
                                                            derandomize=True))

    assert "crossed" in str(caught.value) or "WOULD_CROSS" in str(caught.value)
