"""A Rust-core order book, bourse, behind the gate; replays the 18 Dec 2022 restart.

`BourseEngine` wraps ``bourse.core.OrderBook`` (MIT; ``pip install --group examples``; wheels for
CPython up to 3.12 only) at its order-entry calls, ``place_order``, ``modify_order`` and
``cancel_order``:

- every new order, amend and cancel asks the gate first, and goes no further if refused;
- bourse's trading switch follows the gate: before each order or amend the adapter calls
  ``enable_trading()`` or ``disable_trading()`` as ``gate.matching(instrument)`` says;
- **the crossed-book hazard**: with trading off, bourse accepts a crossing order and rests it,
  and it has no uncrossing algorithm, so the book would open crossed. bourse has no post-only
  flag either. The adapter therefore refuses, while trading is off, any order or price amend at
  or through the opposite touch, and, while trading is on, a post-only one (post-only emulated);
- bourse cancels what a market order leaves; IOC and FOK are emulated (an IOC's remainder is
  cancelled at once, a FOK is refused unless the book can fill it whole), and none is entered
  while trading is off; GTD rests like GTC (bourse has no expiry); stop orders are refused.

bourse quirks the adapter respects: its price-time queue is keyed by (price, arrival time), so
two orders at one price in the same instant collide (the second replaces the first in the queue,
and cancelling either orphans the other: the side reads as empty and crossing orders pass it by);
the adapter advances the book's clock by one before each order and amend. An unknown order id
makes the Rust core panic (a ``BaseException``), so only ids it returned are passed back. An empty
side reads as price 0 (bid) or ``2**32 - 1`` (ask) in ``bid_ask()``, so the touch is read only when
the side has volume.

The same adapter runs under the conformance kit in ``tests/test_bourse_kit.py``.

Run: ``python examples/bourse_restart.py``
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from decimal import Decimal

import bourse
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

_ACTIVE = 1
"""``order_status`` codes: 0 new, 1 active (in the book), 2 filled, 3 cancelled, 4 rejected."""
# get_orders() record fields: side (True = bid), status, arrival, end, remaining, start volume,
# price, trader id, order id; get_trades(): time, side, price, volume, aggressor id, passive id.
_BID, _STATUS, _REMAINING, _PRICE = 0, 1, 4, 6
_TRADER = 0
_STOPS = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)


class BourseEngine:
    """One bourse book for one instrument, entered only through the gate.

    Example:
        >>> from exchange_recovery import Controller, default_policy
        >>> engine = BourseEngine(Controller(default_policy()).gate)
        >>> maker = engine.submit(_ticket(Side.SELL, 101, 5))
        >>> taker = engine.submit(_ticket(Side.BUY, 101, 2))
        >>> [(str(t.price), str(t.quantity)) for t in engine.trades()]
        [('101', '2')]
    """

    def __init__(self, gate: Gate, *, instrument: str = "BTC-USDT-SWAP") -> None:
        self._check = gate.check
        self._matching = gate.matching
        self._instrument = instrument
        self._book = bourse.core.OrderBook(0, 1, trading=True)  # start time, tick size 1
        self._trading = True
        self._clock = 0  # the book's time: one tick per order entry, see the module docstring
        self._orders: dict[str, tuple[int, Side]] = {}  # our id -> bourse's id, side
        self._tickets: dict[str, OrderTicket] = {}  # our id -> the order as entered
        self._suspended: dict[str, tuple[int, int, str]] = {}  # id -> (price, left, until)
        self._trades: list[Trade] = []

    # -- order entry: the gate first, always ---------------------------------------------------

    def submit(self, ticket: OrderTicket) -> str | None:
        """Enter a new order; return its id, or None if the gate or the adapter said no."""
        request = ticket.request
        if not self._check(request).accepted:
            return None
        if request.order_type in _STOPS:
            return None  # bourse has no stop orders
        immediate = request.kind.needs_immediate_execution
        trading = self.follow_the_gate()
        crosses = self._would_cross(ticket.side, ticket.price)
        if not trading and (immediate or crosses):
            return None  # nothing executes now, and a crossing order would rest crossed
        if request.post_only and crosses:
            return None  # emulated post-only: never take liquidity
        if request.time_in_force is TimeInForce.FOK and not self._fillable(ticket):
            return None
        self._tick()
        oid = self._book.place_order(ticket.side is Side.BUY, ticket.quantity, _TRADER,
                                     price=ticket.price)
        order_id = str(oid)
        self._orders[order_id] = (oid, ticket.side)
        self._tickets[order_id] = ticket
        if immediate:
            self._drop_remainder(order_id)
        return order_id

    def amend(self, order_id: str, request: Request, quantity: int,
              price: int | None = None) -> bool:
        """Set a resting order's quantity and, if `price` is given, move it there.

        bourse's ``modify_order`` keeps the order id (a move or an increase loses priority),
        so the id the kit holds stays valid.
        """
        if not self._check(request).accepted:
            return False
        entry = self._orders.get(order_id)
        if entry is None or self._book.order_status(entry[0]) != _ACTIVE:
            return False
        oid, side = entry
        trading = self.follow_the_gate()
        if price is not None and (not trading or request.post_only) and \
                self._would_cross(side, price):
            return False  # a move through the touch: crossed book, or post-only taking
        self._tick()  # a move or an increase re-enters the queue at the book's time
        if price is None:
            self._book.modify_order(oid, new_vol=quantity)
        else:
            self._book.modify_order(oid, new_price=price, new_vol=quantity)
        return True

    def cancel(self, order_id: str, request: Request) -> bool:
        """Cancel a resting order."""
        if not self._check(request).accepted:
            return False
        if self._suspended.pop(order_id, None) is not None:
            return True  # out of the book already: it will not come back
        entry = self._orders.get(order_id)
        if entry is None or self._book.order_status(entry[0]) != _ACTIVE:
            return False
        self._book.cancel_order(entry[0])
        return True

    def on_phase_change(self, change: PhaseChange) -> None:
        """Set the switch and apply what entering the phase does to resting orders."""
        self.follow_the_gate()
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
            oid = self._orders[order_id][0]
            record = self._book.get_orders()[oid]
            if record[_STATUS] != _ACTIVE:
                continue
            self._book.cancel_order(oid)
            if rule.action is RestingAction.SUSPEND:
                self._suspended[order_id] = (record[_PRICE], record[_REMAINING], rule.until)
        for order_id in back:
            price, left, _ = self._suspended.pop(order_id)
            side = self._orders[order_id][1]
            self._tick()
            oid = self._book.place_order(side is Side.BUY, left, _TRADER, price=price)
            self._orders[order_id] = (oid, side)

    # -- what the kit observes ---------------------------------------------------------------

    def trades(self) -> Sequence[Trade]:
        """Every execution so far, oldest first, at the passive order's price."""
        done = self._book.get_trades()
        self._trades += [Trade(Decimal(t[2]), Decimal(t[3])) for t in done[len(self._trades):]]
        return self._trades

    def best_bid(self) -> Decimal | None:
        """The best bid price, or None."""
        return Decimal(self._book.bid_ask()[0]) if self._book.bid_vol() else None

    def best_ask(self) -> Decimal | None:
        """The best ask price, or None."""
        return Decimal(self._book.bid_ask()[1]) if self._book.ask_vol() else None

    def resting(self, order_id: str) -> Decimal:
        """The quantity of `order_id` in the book (0 once filled, cancelled or refused)."""
        entry = self._orders.get(order_id)
        if entry is None:
            return Decimal(0)
        record = self._book.get_orders()[entry[0]]  # ids are indexes into the order list
        return Decimal(record[_REMAINING]) if record[_STATUS] == _ACTIVE else Decimal(0)

    def trading(self) -> bool:
        """Whether bourse's trading switch is on."""
        return self._trading

    # -- emulation -----------------------------------------------------------------------------

    def follow_the_gate(self) -> bool:
        """Set bourse's trading switch to what the gate says now; return it.

        Called before every order and amend, so that nothing matches in a phase that does not;
        an engine also calls it when it learns of a transition, so the switch shows the phase.
        """
        matching = self._matching(self._instrument)
        if matching != self._trading:
            if matching:
                self._book.enable_trading()
            else:
                self._book.disable_trading()
            self._trading = matching
        return matching

    def _tick(self) -> None:
        """Give the next order entry its own arrival time (bourse's queue key)."""
        self._clock += 1
        self._book.set_time(self._clock)

    def _would_cross(self, side: Side, price: int | None) -> bool:
        """Whether an order at `price` (None: market) reaches the opposite touch."""
        touch = self.best_ask() if side is Side.BUY else self.best_bid()
        if touch is None:
            return False
        if price is None:
            return True
        return price >= touch if side is Side.BUY else price <= touch

    def _fillable(self, ticket: OrderTicket) -> bool:
        """FOK: whether the opposite side holds the whole quantity at acceptable prices."""
        buy, limit = ticket.side is Side.BUY, ticket.price
        available = sum(
            o[_REMAINING] for o in self._book.get_orders()
            if o[_STATUS] == _ACTIVE and o[_BID] is not buy
            and (limit is None or (o[_PRICE] <= limit if buy else o[_PRICE] >= limit)))
        return bool(available >= ticket.quantity)

    def _drop_remainder(self, order_id: str) -> None:
        """Market, IOC and FOK orders: cancel whatever bourse left in the book."""
        oid = self._orders[order_id][0]
        if self._book.order_status(oid) == _ACTIVE:
            self._book.cancel_order(oid)


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
                 ("maker buys 3 @ 99", _ticket(Side.BUY, 99, 3))),
    "HALTED": (("limit buy 1 @ 101", _ticket(Side.BUY, 101, 1)),),
    "PRE_OPEN": (("post-only sell 2 @ 102", _ticket(Side.SELL, 102, 2, post_only=True)),
                 ("post-only buy 1 @ 101 (at the ask)", _ticket(Side.BUY, 101, 1, post_only=True)),
                 ("post-only buy 2 @ 100", _ticket(Side.BUY, 100, 2, post_only=True)),
                 ("market sell 1", _ticket(Side.SELL, None, 1, order_type=OrderType.MARKET))),
    "FULL_OPEN": (("market buy 4", _ticket(Side.BUY, None, 4, order_type=OrderType.MARKET)),),
    "NORMAL again": (("liquidation sell 1 @ 99",
                      _ticket(Side.SELL, 99, 1, origin=Origin.LIQUIDATION)),),
}
_POST_ONLY_AMEND = Request.amend(SWAP, OrderType.LIMIT, TimeInForce.GTC, post_only=True)


def _unguarded() -> str:
    """The hazard: a bare bourse book with trading off rests a bid above the ask."""
    book = bourse.core.OrderBook(0, 1, trading=False)
    book.place_order(False, 3, _TRADER, price=101)
    book.place_order(True, 2, _TRADER, price=102)
    bid, ask = book.bid_ask()
    return f"bid {bid} / ask {ask}{', crossed' if bid >= ask else ''}"


def _trade_phase(engine: BourseEngine, controller: Controller, label: str,
                 out: list[str]) -> tuple[int, dict[str, str]]:
    """Send the phase's orders; return how many trades they made and the ids accepted."""
    before = len(engine.trades())
    placed: dict[str, str] = {}
    matching = controller.gate.matching(SWAP)
    out.append(f"  {label}: matching={'on' if matching else 'off'}")
    for what, ticket in ORDERS[label]:
        decision = controller.gate.check(ticket.request)
        order_id = engine.submit(ticket)
        if order_id is not None:
            verdict = "ACCEPT"
            placed[what] = order_id
        elif decision.accepted and ticket.request.post_only:
            verdict = "refuse  by the engine: post-only at or through the touch"
        elif decision.accepted:
            verdict = "refuse  by the engine"
        else:
            verdict = f"refuse  {decision.message}"
        out.append(f"    {what:<34} {verdict}")
    out.append(f"    bourse trading switch: {'on' if engine.trading() else 'off'}")
    made = engine.trades()[before:]
    out.extend(f"    trade {trade.quantity} @ {trade.price}" for trade in made)
    return len(made), placed


def run() -> list[str]:
    """Replay the restart against bourse; return the printed lines (the tests read them)."""
    quiet = structlog.wrap_logger(structlog.ReturnLogger())  # the audit trail is not the story
    controller = Controller(default_policy(), logger=quiet)
    engine = BourseEngine(controller.gate, instrument=SWAP)
    out = [f"bourse {SWAP} behind exchange_recovery's gate"]
    made, _ = _trade_phase(engine, controller, "NORMAL", out)
    per_phase = [("NORMAL", made)]
    labels = iter(("DEGRADED", "HALTED", "PRE_OPEN", "FULL_OPEN", "NORMAL again"))
    for _, trigger, actor, reason in TIMELINE:
        try:
            record = controller.fire(trigger, actor=actor, reason=reason)
        except TransitionRefused as refusal:
            out.append(f"\nREFUSED {trigger} by {actor}: {refusal.code.value}")
            continue
        out.append(f"\n{record.source} -> {record.dest}  [{trigger} by {actor}]  {reason}")
        label = next(labels)
        engine.follow_the_gate()  # the engine is told of the transition
        made, placed = _trade_phase(engine, controller, label, out)
        if label == "PRE_OPEN":  # a post-only bid moved up to the ask would rest crossed
            moved = engine.amend(placed["post-only buy 2 @ 100"], _POST_ONLY_AMEND, 2, price=102)
            verdict = "ACCEPT" if moved else "refuse  by the engine: it would cross the ask"
            out.append(f"    {'amend post-only buy 2 @ 100 -> 102':<34} {verdict}")
            out.append(f"    book: bid {engine.best_bid()} / ask {engine.best_ask()}; "
                       f"bourse alone would rest it: {_unguarded()}")
        per_phase.append((label, made))
    out.append(f"\nbook at the end: bid {engine.best_bid()} / ask {engine.best_ask()}")
    out.append("trades per phase: " + ", ".join(f"{name} {n}" for name, n in per_phase))
    return out


def main() -> int:
    """Print the replay."""
    sys.stdout.write("\n".join(run()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
