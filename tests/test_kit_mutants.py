"""Each property of the conformance kit catches the adapter that breaks it, in >= 95% of seeds.

`RefBook` is a small, obviously-correct price-time book wired to the gate the way an engine
should be: price-aware checks (`Gate.check_priced` against its own touch), emulated post-only,
stop orders that fire only while ``gate.stop_triggers`` says so, the disposition of every phase
change applied (cancel, suspend, reinstate), market/IOC/FOK remainders dropped. It passes the
kit. Each mutant below breaks exactly one of those, the way a real adapter gets it wrong; each
is run under `SEEDS` distinct seeds at CI settings (the ``ci`` profile's 60 examples of 40
steps, no shrinking) and must be caught in at least 95% of them.

``benchmarks/kit_mutants.py`` measures the same over 100 seeds and prints a table.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, Phase, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from exchange_recovery import (
    ConformanceFailure,
    Gate,
    OrderType,
    Origin,
    PhaseChange,
    Reason,
    Request,
    RestingAction,
    Side,
    TimeInForce,
)
from exchange_recovery.testing import EngineConformance, OrderTicket, Trade

_STOPS = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)


class _Order:
    """One order: in the book, armed (a stop), or suspended."""

    __slots__ = ("left", "price", "seq", "ticket")

    def __init__(self, ticket: OrderTicket, seq: int) -> None:
        self.ticket = ticket
        self.price = ticket.price
        self.left = ticket.quantity
        self.seq = seq


class RefBook:
    """A reference engine for one instrument: the kit's adapter protocol in full."""

    def __init__(self, gate: Gate, instrument: str = "BTC-USDT-SWAP") -> None:
        self.gate = gate
        self.instrument = instrument
        self.book: dict[str, _Order] = {}  # resting limit orders
        self.armed: dict[str, _Order] = {}  # stops waiting for their trigger
        self.suspended: dict[str, tuple[_Order, str]] = {}  # id -> (order, until)
        self.fills: list[Trade] = []
        self.fired: list[str] = []
        self.last_price: int | None = None
        self.seq = 0

    # -- the adapter protocol ---------------------------------------------------------------

    def submit(self, ticket: OrderTicket) -> str | None:
        request = ticket.request
        if not self._admit(request, ticket.side, ticket.price, amend=False):
            return None
        immediate = request.kind.needs_immediate_execution
        stop = request.order_type in _STOPS
        if not stop and immediate and not self._matching():
            return None  # nothing could execute now
        if (not stop and request.time_in_force is TimeInForce.FOK
                and not self._fillable(ticket.side, ticket.price, ticket.quantity)):
            return None
        self.seq += 1
        order_id = str(self.seq)
        order = _Order(ticket, self.seq)
        if stop:
            self.armed[order_id] = order
        else:
            self._enter(order_id, order)
        return order_id

    def amend(self, order_id: str, request: Request, quantity: int, price: int | None) -> bool:
        order = self.book.get(order_id) or self.armed.get(order_id)
        if order is None or not self._admit(request, order.ticket.side, price, amend=True):
            return False
        if price is None or price == order.price or order_id in self.armed:
            order.left = quantity
            if price is not None:
                order.price = price
            return True
        del self.book[order_id]  # a move loses priority, and may match
        self.seq += 1
        order.price, order.left, order.seq = price, quantity, self.seq
        self._enter(order_id, order)
        return True

    def cancel(self, order_id: str, request: Request) -> bool:
        if not self.gate.check(request).accepted:
            return False
        found = (self.book.pop(order_id, None) or self.armed.pop(order_id, None)
                 or self.suspended.pop(order_id, None))
        return found is not None

    def on_phase_change(self, change: PhaseChange) -> None:
        disposition = change.disposition
        back = [i for i, (_, until) in self.suspended.items() if until == disposition.reinstates]
        for where in (self.book, self.armed):
            for order_id, order in list(where.items()):
                rule = disposition.rule(order.ticket.request)
                if rule.action is RestingAction.CANCEL:
                    del where[order_id]
                elif rule.action is RestingAction.SUSPEND:
                    del where[order_id]
                    self.suspended[order_id] = (order, rule.until)
        for order_id, (order, until) in list(self.suspended.items()):
            if order_id in back:
                continue
            rule = disposition.rule(order.ticket.request)
            if rule.action is RestingAction.CANCEL:
                del self.suspended[order_id]
            elif rule.action is RestingAction.SUSPEND:
                self.suspended[order_id] = (order, rule.until or until)
        for order_id in back:
            order, _ = self.suspended.pop(order_id)
            if order.ticket.request.order_type in _STOPS and order_id not in self.fired:
                self.armed[order_id] = order
            else:
                self._enter(order_id, order)

    def trades(self) -> Sequence[Trade]:
        return self.fills

    def best_bid(self) -> Decimal | None:
        return self._best(Side.BUY)

    def best_ask(self) -> Decimal | None:
        return self._best(Side.SELL)

    def resting(self, order_id: str) -> Decimal:
        order = self.book.get(order_id) or self.armed.get(order_id)
        return Decimal(order.left) if order is not None else Decimal(0)

    def triggered(self) -> Sequence[str]:
        return self.fired

    # -- what the mutants change ------------------------------------------------------------

    def _admit(self, request: Request, side: Side, price: int | None, *, amend: bool) -> bool:
        """The gate, price-aware against our touch, then emulated post-only."""
        if price is None:
            decision = self.gate.check(request)
        else:
            decision = self.gate.check_priced(request, side, price, self.best_bid(),
                                              self.best_ask())
        if not decision.accepted:
            return False
        post_only = request.post_only or decision.reason is Reason.ACCEPTED_AS_POST_ONLY
        return not (post_only and request.order_type is OrderType.LIMIT
                    and self._takes(side, price))

    def _matching(self) -> bool:
        return self.gate.matching(self.instrument)

    def _stop_triggers(self) -> bool:
        return self.gate.stop_triggers(self.instrument)

    def _drops_remainder(self, ticket: OrderTicket) -> bool:
        return ticket.request.kind.needs_immediate_execution or ticket.price is None

    # -- the book -----------------------------------------------------------------------------

    def _best(self, side: Side) -> Decimal | None:
        prices = [o.price for o in self.book.values() if o.ticket.side is side
                  and o.price is not None]
        if not prices:
            return None
        return Decimal(max(prices) if side is Side.BUY else min(prices))

    def _takes(self, side: Side, price: int | None) -> bool:
        touch = self.best_ask() if side is Side.BUY else self.best_bid()
        if touch is None:
            return False
        return price is None or (price >= touch if side is Side.BUY else price <= touch)

    def _fillable(self, side: Side, price: int | None, quantity: int) -> bool:
        available = sum(o.left for o in self.book.values() if o.ticket.side is not side
                        and (price is None or o.price is None
                             or (o.price <= price if side is Side.BUY else o.price >= price)))
        return available >= quantity

    def _enter(self, order_id: str, order: _Order) -> None:
        """Match `order` if the phase matches, rest what is left unless it must not rest."""
        side = order.ticket.side
        traded = len(self.fills)
        while order.left and self._matching() and self._takes(side, order.price):
            touch = self.best_ask() if side is Side.BUY else self.best_bid()
            maker_id = min((i for i, o in self.book.items()
                            if o.ticket.side is not side and o.price == touch),
                           key=lambda i: self.book[i].seq)
            maker = self.book[maker_id]
            quantity = min(order.left, maker.left)
            maker.left -= quantity
            order.left -= quantity
            assert maker.price is not None
            self.fills.append(Trade(Decimal(maker.price), Decimal(quantity)))
            self.last_price = maker.price
            if not maker.left:
                del self.book[maker_id]
        if order.left and not self._drops_remainder(order.ticket):
            self.book[order_id] = order
        if len(self.fills) > traded:
            self._fire_stops()

    def _fire_stops(self) -> None:
        """Stops whose trigger the last trade reached become orders (while triggers are on)."""
        while self.last_price is not None and self._stop_triggers():
            last = self.last_price
            due = [i for i, o in self.armed.items() if o.ticket.trigger is not None
                   and (last >= o.ticket.trigger if o.ticket.side is Side.BUY
                        else last <= o.ticket.trigger)]
            if not due:
                return
            order_id = min(due, key=lambda i: self.armed[i].seq)
            order = self.armed.pop(order_id)
            self.fired.append(order_id)
            self._enter(order_id, order)


class RefBookConformance(EngineConformance):
    def make_adapter(self, gate: Gate) -> RefBook:
        return RefBook(gate)


TestRefBookConforms = RefBookConformance.TestCase


# -- the mutants: one per property ---------------------------------------------------------------


class PostOnlyAsPlainLimitWhileNotMatching(RefBook):
    """While matching is off, post-only is forwarded as a plain limit: a crossing one rests."""

    def _admit(self, request: Request, side: Side, price: int | None, *, amend: bool) -> bool:
        if not amend and not self._matching():
            return self.gate.check(request).accepted
        return super()._admit(request, side, price, amend=amend)


class PriceAmendCrossesWhileNotMatching(RefBook):
    """An amend's new price is not checked against the touch while matching is off."""

    def _admit(self, request: Request, side: Side, price: int | None, *, amend: bool) -> bool:
        if amend and not self._matching():
            return self.gate.check(request).accepted
        return super()._admit(request, side, price, amend=amend)


class StopFiresOnTheReopenPrint(RefBook):
    """Stops trigger on any trade, stop_triggers or not: the reopen print fires them."""

    def _stop_triggers(self) -> bool:
        return True


class LiquidationsSkipTheGate(RefBook):
    """Orders from the liquidation engine are taken without asking the gate."""

    def _admit(self, request: Request, side: Side, price: int | None, *, amend: bool) -> bool:
        if request.origin is Origin.LIQUIDATION:
            return True
        return super()._admit(request, side, price, amend=amend)


class DispositionIgnored(RefBook):
    """Phase changes are not acted on: nothing is cancelled or suspended at a halt."""

    def on_phase_change(self, change: PhaseChange) -> None:
        pass


class AmendsSkipTheGate(RefBook):
    """Amends go straight to the book."""

    def _admit(self, request: Request, side: Side, price: int | None, *, amend: bool) -> bool:
        return amend or super()._admit(request, side, price, amend=amend)


class MarketRemainderRests(RefBook):
    """What a market, IOC or FOK order leaves rests in the book."""

    def _drops_remainder(self, ticket: OrderTicket) -> bool:
        return False


class TradesWhileNotMatching(RefBook):
    """Matching never stops, and post-only is left to the gate: crossing orders trade."""

    def _matching(self) -> bool:
        return True

    def _admit(self, request: Request, side: Side, price: int | None, *, amend: bool) -> bool:
        return self.gate.check(request).accepted


MUTANTS: tuple[type[RefBook], ...] = (
    PostOnlyAsPlainLimitWhileNotMatching, PriceAmendCrossesWhileNotMatching,
    StopFiresOnTheReopenPrint, LiquidationsSkipTheGate, DispositionIgnored, AmendsSkipTheGate,
    MarketRemainderRests, TradesWhileNotMatching,
)
"""Each breaks one property; every one must be caught."""

SEEDS = 20
"""Seeds per mutant in the suite: caught in >= 19 of 20 is the >= 95% the kit promises."""

CI_SETTINGS = settings(
    max_examples=60, stateful_step_count=40, deadline=None, derandomize=False, database=None,
    phases=[Phase.generate], print_blob=False, report_multiple_bugs=False,
    suppress_health_check=list(HealthCheck),
)
"""The ``ci`` profile's budget (tests/conftest.py), randomized by a seed, without shrinking."""


def conformance_for(engine: type[RefBook]) -> type[EngineConformance]:
    """A conformance class that drives `engine`."""

    class Mutant(RefBookConformance):
        def make_adapter(self, gate: Gate) -> RefBook:
            return engine(gate)

    Mutant.__name__ = Mutant.__qualname__ = f"{engine.__name__}Conformance"
    return Mutant


def caught(engine: type[RefBook], seed_value: int) -> str | None:
    """Run the kit once against `engine` with `seed_value`; return the failure, or None."""
    machine = seed(seed_value)(conformance_for(engine))
    try:
        run_state_machine_as_test(machine, settings=CI_SETTINGS)
    except ConformanceFailure as failure:
        return str(failure)
    return None


def test_the_reference_engine_passes_under_many_seeds() -> None:
    """The correct book is never reported: the mutants' failures are theirs."""
    for seed_value in range(2):
        assert caught(RefBook, seed_value) is None


SHORT_OF_TARGET: dict[type[RefBook], str] = {}
"""Mutants the kit does not yet catch in 95% of seeds: strict xfails, so that reaching the
target fails the suite until the mark is dropped."""


@pytest.mark.once
@pytest.mark.parametrize("engine", [
    pytest.param(m, marks=pytest.mark.xfail(reason=SHORT_OF_TARGET[m], strict=True))
    if m in SHORT_OF_TARGET else m for m in MUTANTS], ids=[m.__name__ for m in MUTANTS])
def test_each_mutant_is_caught_in_at_least_95_percent_of_seeds(engine: type[RefBook]) -> None:
    """19 or more of 20 seeds at CI settings report the broken adapter (stops at the 2nd miss)."""
    missed: list[int] = []
    for seed_value in range(1000, 1000 + SEEDS):
        if caught(engine, seed_value) is None:
            missed.append(seed_value)
            if len(missed) > SEEDS // 20:
                break

    assert len(missed) <= SEEDS // 20, (engine.__name__, missed)
