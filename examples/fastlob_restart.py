"""A real third-party order book, fastlob, behind the gate; replays the 18 Dec 2022 restart.

`FastlobEngine` wraps ``fastlob.Orderbook`` (pure Python, MIT; ``pip install
'exchange-recovery[examples]'``) at its single order-entry point, ``Orderbook.process``:

- every new order, amend and cancel asks the gate first, and goes no further if refused;
- fastlob has no post-only flag, so post-only is emulated against the touch: a post-only buy at or
  above the best ask (a sell at or below the best bid) is refused instead of taking liquidity;
- fastlob has no market or IOC orders (an order that crosses executes, and its remainder rests),
  so a market order is sent at an extreme price and, like an IOC, whatever rests is cancelled;
- fastlob has no stop orders: they are refused;
- fastlob amends quantities only: a price amend is checked with ``gate.check_priced`` against
  the touch (and emulated post-only), then done as a cancel and a new order under the same id;
- the engine is told of every phase change (``on_phase_change``, a controller listener) and
  applies its disposition: orders to cancel are cancelled, orders to suspend are cancelled in
  fastlob and entered again (same id, time priority lost) when their phase comes.

fastlob quirks the adapter respects: the book starts a background thread, so it is used as a
context manager; ``execprices()`` raises on limit results, so only execution results are read.

The same adapter runs under the conformance kit in ``tests/test_fastlob_kit.py``.

Run: ``python examples/fastlob_restart.py``
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from decimal import Decimal
from types import TracebackType

import fastlob
import structlog

from exchange_recovery import (
    Controller,
    Gate,
    OrderType,
    Origin,
    PhaseChange,
    Request,
    RestingAction,
    TimeInForce,
    TransitionRefused,
    default_policy,
)
from exchange_recovery._cli.demo import TIMELINE
from exchange_recovery.testing import OrderTicket, Side, Trade

_SIDE = {Side.BUY: fastlob.OrderSide.BID, Side.SELL: fastlob.OrderSide.ASK}
_MARKET_PRICE = {Side.BUY: Decimal(10**9), Side.SELL: Decimal("0.01")}
"""Prices no book reaches: a market order sent at them crosses everything on the other side."""
_EXECUTED = (fastlob.ResultType.MARKET, fastlob.ResultType.PARTIAL_MARKET)
_LIVE = (fastlob.OrderStatus.CREATED, fastlob.OrderStatus.PENDING, fastlob.OrderStatus.PARTIAL)
_DAY = 86_400


class FastlobEngine:
    """One fastlob book for one instrument, entered only through the gate.

    Example:
        >>> from exchange_recovery import Controller, default_policy
        >>> controller = Controller(default_policy())
        >>> with FastlobEngine(controller.gate) as engine:
        ...     maker = engine.submit(_ticket(Side.SELL, 101, 5))
        ...     taker = engine.submit(_ticket(Side.BUY, 101, 2))
        ...     [(str(t.price), str(t.quantity)) for t in engine.trades()]
        [('101.00', '2.00')]
    """

    def __init__(self, gate: Gate, *, name: str = "BTC-USDT-SWAP") -> None:
        self._check = gate.check
        self._check_priced = gate.check_priced
        self._book = fastlob.Orderbook(name)
        self._tickets: dict[str, OrderTicket] = {}  # our id (fastlob's first) -> the order
        self._ids: dict[str, str] = {}  # our id -> fastlob's current id (a price move changes it)
        self._suspended: dict[str, tuple[int, int, str]] = {}  # id -> (price, left, until)
        self._prices: dict[str, Decimal | int] = {}  # fastlob id -> the price it was sent at
        logging.getLogger(f"[{name}]").setLevel(logging.ERROR)  # fastlob logs every order at INFO
        self._trades: list[Trade] = []

    def __enter__(self) -> FastlobEngine:
        self._book.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._book.__exit__(kind, error, tb)

    # -- order entry: the gate first, always ---------------------------------------------------

    def submit(self, ticket: OrderTicket) -> str | None:
        """Enter a new order; return fastlob's order id, or None if the gate or the book said no."""
        request = ticket.request
        if not self._check(request).accepted:
            return None
        if request.order_type in (OrderType.STOP_MARKET, OrderType.STOP_LIMIT):
            return None  # fastlob has no stop orders
        if request.post_only and self._would_take(ticket.side, ticket.price):
            return None  # emulated post-only: never take liquidity
        if ticket.price is not None and not self._check_priced(
                request, ticket.side, ticket.price, self.best_bid(), self.best_ask()).accepted:
            return None  # it would rest crossed while matching is off
        market = request.order_type is OrderType.MARKET
        price = _MARKET_PRICE[ticket.side] if market or ticket.price is None else ticket.price
        order_id = self._enter(ticket, price, ticket.quantity)
        if order_id is None:
            return None
        self._tickets[order_id] = ticket
        self._ids[order_id] = order_id
        if request.kind.needs_immediate_execution:
            self._drop_remainder(order_id)
        return order_id

    def amend(self, order_id: str, request: Request, quantity: int,
              price: int | None = None) -> bool:
        """Set a resting order's quantity; with a `price`, move it there (cancel and re-enter
        under the same id: fastlob amends quantities only)."""
        ticket = self._tickets.get(order_id)
        if ticket is None or not self._check(request).accepted:
            return False
        if not self.resting(order_id):
            return False
        if price is None:
            return bool(self._book.update(self._ids[order_id], quantity).success())
        if not self._check_priced(request, ticket.side, price, self.best_bid(),
                                  self.best_ask()).accepted:
            return False  # it would rest crossed while matching is off
        if request.post_only and self._would_take(ticket.side, price):
            return False  # emulated post-only
        self._book.cancel(self._ids[order_id])
        new_id = self._enter(ticket, price, quantity)
        if new_id is None:
            return False
        self._ids[order_id] = new_id
        return True

    def cancel(self, order_id: str, request: Request) -> bool:
        """Cancel a resting order."""
        if not self._check(request).accepted:
            return False
        if self._suspended.pop(order_id, None) is not None:
            return True  # out of the book already: it will not come back
        return order_id in self._ids and bool(self._book.cancel(self._ids[order_id]).success())

    def on_phase_change(self, change: PhaseChange) -> None:
        """Apply what entering the phase does to resting orders (a controller listener)."""
        disposition = change.disposition
        back = [i for i, (*_, until) in self._suspended.items()
                if until == disposition.reinstates]
        for order_id, ticket in self._tickets.items():
            rule = disposition.rule(ticket.request)
            if order_id in back or rule.action not in (RestingAction.CANCEL,
                                                       RestingAction.SUSPEND):
                continue
            if order_id in self._suspended:
                if rule.action is RestingAction.CANCEL:
                    del self._suspended[order_id]
                continue
            left = self.resting(order_id)
            if not left:
                continue
            status = self._book.get_status(self._ids[order_id])
            self._book.cancel(self._ids[order_id])
            if rule.action is RestingAction.SUSPEND and status is not None:
                price = self._prices.get(self._ids[order_id], ticket.price)
                self._suspended[order_id] = (int(price or 0), int(left), rule.until)
        for order_id in back:
            price, left, _ = self._suspended.pop(order_id)
            new_id = self._enter(self._tickets[order_id], price, left)
            if new_id is not None:
                self._ids[order_id] = new_id

    # -- what the kit observes ---------------------------------------------------------------

    def trades(self) -> Sequence[Trade]:
        """Every execution so far, one per order and price level."""
        return self._trades

    def best_bid(self) -> Decimal | None:
        """The best bid price, or None."""
        return self._book.best_bid()[0] if self._book.n_bids() else None

    def best_ask(self) -> Decimal | None:
        """The best ask price, or None."""
        return self._book.best_ask()[0] if self._book.n_asks() else None

    def resting(self, order_id: str) -> Decimal:
        """The quantity of `order_id` in the book (0 once filled, cancelled or refused)."""
        if order_id not in self._ids:
            return Decimal(0)
        status = self._book.get_status(self._ids[order_id])
        if status is None or status[0] not in _LIVE:
            return Decimal(0)
        return Decimal(status[1])

    def _enter(self, ticket: OrderTicket, price: Decimal | int, quantity: int) -> str | None:
        """Send one order to fastlob; record its trades; return its id (None if refused)."""
        tif = ticket.request.time_in_force
        otype, expiry = fastlob.OrderType.GTC, None
        if tif is TimeInForce.FOK:
            otype = fastlob.OrderType.FOK
        elif tif is TimeInForce.GTD:
            otype, expiry = fastlob.OrderType.GTD, int(time.time()) + _DAY
        result = self._book(fastlob.OrderParams(_SIDE[ticket.side], price, quantity, otype,
                                                expiry))
        if not result.success():
            return None
        order_id: str = result.orderid()
        self._prices[order_id] = price
        if result.kind() in _EXECUTED:  # execprices() raises on a limit result
            self._trades += [Trade(p, q) for p, q in result.execprices().items()]
        return order_id

    def _drop_remainder(self, order_id: str) -> None:
        """Market and IOC orders: fastlob rests what did not fill; cancel it at once."""
        if self.resting(order_id):
            self._book.cancel(self._ids[order_id])

    def _would_take(self, side: Side, price: int | None) -> bool:
        if price is None:
            return True
        touch = self.best_ask() if side is Side.BUY else self.best_bid()
        if touch is None:
            return False
        return price >= touch if side is Side.BUY else price <= touch


# -- the replay -------------------------------------------------------------------------------

SWAP = "BTC-USDT-SWAP"


def _ticket(side: Side, price: int | None, quantity: int, *, post_only: bool = False,
            order_type: OrderType = OrderType.LIMIT,
            origin: Origin = Origin.CLIENT) -> OrderTicket:
    request = Request.new_order(SWAP, order_type, post_only=post_only, origin=origin)
    return OrderTicket(request, side, price, quantity)


ORDERS: dict[str, tuple[tuple[str, OrderTicket], ...]] = {
    # phase entered: what participants send while it lasts
    "NORMAL": (("maker sells 5 @ 101", _ticket(Side.SELL, 101, 5)),
               ("taker buys 2 @ 101", _ticket(Side.BUY, 101, 2))),
    "DEGRADED": (("market buy 1", _ticket(Side.BUY, None, 1, order_type=OrderType.MARKET)),
                 ("limit buy 1 @ 101", _ticket(Side.BUY, 101, 1)),
                 ("maker buys 3 @ 99", _ticket(Side.BUY, 99, 3))),
    "HALTED": (("limit buy 1 @ 101", _ticket(Side.BUY, 101, 1)),
               ("post-only sell 2 @ 102", _ticket(Side.SELL, 102, 2, post_only=True))),
    "PRE_OPEN": (("post-only sell 2 @ 102", _ticket(Side.SELL, 102, 2, post_only=True)),
                 ("post-only buy 1 @ 101 (crosses)", _ticket(Side.BUY, 101, 1, post_only=True)),
                 ("post-only buy 2 @ 100", _ticket(Side.BUY, 100, 2, post_only=True)),
                 ("limit buy 1 @ 102", _ticket(Side.BUY, 102, 1)),
                 ("market sell 1", _ticket(Side.SELL, None, 1, order_type=OrderType.MARKET))),
    "FULL_OPEN": (("market buy 3", _ticket(Side.BUY, None, 3, order_type=OrderType.MARKET)),
                  ("liquidation sell 1 @ 99", _ticket(Side.SELL, 99, 1, origin=Origin.LIQUIDATION))),
}
ORDERS["NORMAL again"] = (("liquidation sell 1 @ 99",
                           _ticket(Side.SELL, 99, 1, origin=Origin.LIQUIDATION)),)


def _trade_phase(engine: FastlobEngine, controller: Controller, label: str, out: list[str]) -> int:
    """Send the phase's orders; return how many trades they made."""
    before = len(engine.trades())
    out.append(f"  {label}: matching={'on' if controller.gate.matching(SWAP) else 'off'}")
    for what, ticket in ORDERS[label]:
        decision = controller.gate.check(ticket.request)
        order_id = engine.submit(ticket)
        if order_id is not None:
            verdict = "ACCEPT"
        elif decision.accepted and ticket.request.post_only:
            verdict = "refuse  by the engine: post-only would take liquidity"
        elif decision.accepted:
            verdict = "refuse  by the engine"
        else:
            verdict = f"refuse  {decision.message}"
        out.append(f"    {what:<32} {verdict}")
    made = engine.trades()[before:]
    out.extend(f"    trade {trade.quantity} @ {trade.price}" for trade in made)
    return len(made)


def run() -> list[str]:
    """Replay the restart against fastlob; return the printed lines (the tests read them)."""
    quiet = structlog.wrap_logger(structlog.ReturnLogger())  # the audit trail is not the story
    controller = Controller(default_policy(), logger=quiet)
    out = [f"fastlob {SWAP} behind exchange_recovery's gate"]
    per_phase: list[tuple[str, int]] = []
    with FastlobEngine(controller.gate, name=SWAP) as engine:
        labels = iter(("DEGRADED", "HALTED", "PRE_OPEN", "FULL_OPEN", "NORMAL again"))
        per_phase.append(("NORMAL", _trade_phase(engine, controller, "NORMAL", out)))
        for _, trigger, actor, reason in TIMELINE:
            try:
                record = controller.fire(trigger, actor=actor, reason=reason)
            except TransitionRefused as refusal:
                out.append(f"\nREFUSED {trigger} by {actor}: {refusal.code.value}")
                continue
            out.append(f"\n{record.source} -> {record.dest}  [{trigger} by {actor}]  {reason}")
            label = next(labels)
            per_phase.append((label, _trade_phase(engine, controller, label, out)))
        book = f"bid {engine.best_bid()} / ask {engine.best_ask()}"
    out.append(f"\nbook at the end: {book}")
    out.append("trades per phase: " + ", ".join(f"{name} {n}" for name, n in per_phase))
    return out


def main() -> int:
    """Print the replay."""
    sys.stdout.write("\n".join(run()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
