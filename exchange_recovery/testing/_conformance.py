"""The conformance kit: a hypothesis state machine that drives an engine through its gate.

An engine team writes a small adapter (`EngineAdapter`, or `AsyncEngineAdapter` for an engine
whose entry points are coroutines) and subclasses `EngineConformance` (`AsyncEngineConformance`);
the machine fires random phase transitions and random order entry, tells the adapter of every
phase change, and after each step checks what the phase allows against what the engine did.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import Any, ClassVar, NoReturn, Protocol, TypeVar

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    invariant,
    multiple,
    precondition,
    rule,
)

from .._control.controller import Controller
from .._control.listeners import PhaseChange
from .._core.codes import Reason
from .._core.defaults import default_policy
from .._core.disposition import RestingAction
from .._core.errors import ConfigurationError, ConformanceFailure, InvalidRequestError
from .._core.gate import Gate
from .._core.model import ALL_KINDS, VENUE, Action, Decision, OrderType, Origin, Request, Side, TimeInForce
from .._core.policy import Policy
from .._core.text import shown
from ._strategies import order_requests

_STOPS = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
_PRICES = (97, 103)
"""The band of the kit's prices, in ticks: narrow, so that orders often cross."""
_DWELL = 1
"""Order-entry steps between two transitions at least: hypothesis favours the rules it sorts
first (transitions, cancels), and without a dwell a phase would rarely see a two-sided book."""
_T = TypeVar("_T")


@attrs.frozen(repr=False)
class OrderTicket:
    """A new order as the kit sends it: the gate's `request` plus the economics.

    `price` is an integer number of ticks (None for market and stop-market orders), `quantity`
    a whole number of lots, `trigger` the trigger price in ticks of a stop order (None for any
    other): a buy stop triggers when a trade prints at or above it, a sell stop at or below.
    An adapter scales them to its engine's units.
    """

    request: Request
    side: Side
    price: int | None
    quantity: int
    trigger: int | None = None

    def __repr__(self) -> str:
        at = "market" if self.price is None else f"@ {self.price}"
        stop = "" if self.trigger is None else f" stop {self.trigger}"
        return f"<{self.side.value} {self.quantity} {at}{stop}: {self.request.kind.describe()}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # noqa: ARG002 - its protocol
        """Hypothesis prints counterexamples with this: one short line per order."""
        printer.text(repr(self))


@attrs.frozen
class Trade:
    """One execution reported by the engine."""

    price: Decimal
    quantity: Decimal


class EngineAdapter(Protocol):
    """What the kit needs from an engine wired to the gate (it is handed the gate to use).

    Every order-entry method must ask the gate first, the way the production code path does
    (`Gate.check_priced` with the engine's own touch for limit orders and price amends, so that
    nothing rests crossed while matching is off).

    Two more methods are optional; the kit calls them when the adapter has them:

    - ``on_phase_change(change: PhaseChange) -> None``: the kit's controller calls it (through
      a listener) after every transition; the engine applies ``change.disposition`` to its
      resting orders (cancel, suspend until ``rule.until``, reinstate what
      ``disposition.reinstates``). Without it resting orders are never touched, which the kit
      reports as soon as a policy's disposition asks for a cancel or a suspension.
    - ``triggered() -> Sequence[str]``: the ids of the stop orders that fired so far, oldest
      first. An engine without it has no stop orders and must refuse every stop ticket.
    """

    def submit(self, ticket: OrderTicket) -> str | None:
        """Enter a new order; return the engine's order id, or None if it was refused."""

    def amend(self, order_id: str, request: Request, quantity: int, price: int | None) -> bool:
        """Set a resting order's quantity and, unless `price` is None, move it to `price`
        (ticks); `request` is the amend the gate must check. An engine that cannot move a
        price refuses an amend with one (returns False)."""

    def cancel(self, order_id: str, request: Request) -> bool:
        """Cancel a resting order; `request` is the cancel the gate must check."""

    def trades(self) -> Sequence[Trade]:
        """Every trade so far, oldest first."""

    def best_bid(self) -> Decimal | None:
        """The best bid price, or None if there is no bid."""

    def best_ask(self) -> Decimal | None:
        """The best ask price, or None if there is no ask."""

    def resting(self, order_id: str) -> Decimal:
        """How much of an order rests in the book now (0 if none; a stop waiting for its
        trigger counts as resting, a suspended order does not)."""


class AsyncEngineAdapter(Protocol):
    """`EngineAdapter` for an asyncio engine: order entry (and ``on_phase_change``, if given)
    are coroutines, run to completion on the event loop the kit owns for the example. The
    methods that read the book may be plain methods or coroutines."""

    async def submit(self, ticket: OrderTicket) -> str | None:
        """As `EngineAdapter.submit`."""

    async def amend(self, order_id: str, request: Request, quantity: int,
                    price: int | None) -> bool:
        """As `EngineAdapter.amend`."""

    async def cancel(self, order_id: str, request: Request) -> bool:
        """As `EngineAdapter.cancel`."""

    def trades(self) -> Sequence[Trade]:
        """As `EngineAdapter.trades`."""

    def best_bid(self) -> Decimal | None:
        """As `EngineAdapter.best_bid`."""

    def best_ask(self) -> Decimal | None:
        """As `EngineAdapter.best_ask`."""

    def resting(self, order_id: str) -> Decimal:
        """As `EngineAdapter.resting`."""


def _always(_ctx: object) -> bool:
    return True


class _Silent:
    """A logger that drops every event: the kit's random walks are not an audit trail."""

    def _drop(self, event: str, **fields: object) -> None:
        pass

    info = warning = critical = _drop


_POLICIES: dict[type, Policy] = {}


def _fail(message: str) -> NoReturn:
    raise ConformanceFailure(message)


def order_tickets(
    instrument: str,
    *,
    prices: tuple[int, int] = (97, 103),
    quantities: tuple[int, int] = (1, 5),
) -> st.SearchStrategy[OrderTicket]:
    """New orders on one instrument around a narrow price band, so that they often cross.

    Every order type and origin is drawn; stop orders get a trigger price in the band.

    Raises:
        ConfigurationError: `instrument` is no instrument name `Request` takes, or `prices`
            and `quantities` are not ``(low, high)`` pairs of ints with ``0 < low <= high``.
    """
    try:
        Request.cancel(instrument)
    except InvalidRequestError:
        msg = f"instrument must be an instrument name Request takes, got {shown(instrument)}"
        raise ConfigurationError(msg) from None
    return _order_tickets(instrument, _band("prices", prices), _band("quantities", quantities))


def _band(field: str, value: object) -> tuple[int, int]:
    if not (type(value) is tuple and len(value) == 2
            and all(type(v) is int and 0 < v <= 10**12 for v in value) and value[0] <= value[1]):
        msg = f"{field} must be a (low, high) pair of ints, 0 < low <= high, got {shown(value)}"
        raise ConfigurationError(msg)
    return value


def _order_tickets(instrument: str, prices: tuple[int, int], quantities: tuple[int, int],
                   requests: st.SearchStrategy[Request] | None = None,
                   triggers: tuple[int, int] | None = None) -> st.SearchStrategy[OrderTicket]:
    if requests is None:
        requests = order_requests(Action.NEW_ORDER, instruments=(instrument,))
    return _tickets(requests, prices, quantities, triggers or prices)


@st.composite
def _tickets(draw: st.DrawFn, requests: st.SearchStrategy[Request], prices: tuple[int, int],
             quantities: tuple[int, int], triggers: tuple[int, int]) -> OrderTicket:
    request = draw(requests)
    market = request.order_type in (OrderType.MARKET, OrderType.STOP_MARKET)
    price = None if market else draw(st.integers(*prices))
    side = draw(st.sampled_from(Side))
    quantity = draw(st.integers(*quantities))
    trigger = draw(st.integers(*triggers)) if request.order_type in _STOPS else None
    return OrderTicket(request, side, price, quantity, trigger)


_NEW_ORDERS: dict[str, tuple[Request, ...]] = {}


def _new_orders(instrument: str) -> tuple[Request, ...]:
    """Every kind of new order on `instrument`, one request each (built once per instrument)."""
    found = _NEW_ORDERS.get(instrument)
    if found is None:
        found = _NEW_ORDERS[instrument] = tuple(
            Request.new_order(instrument, k.order_type, k.time_in_force, post_only=k.post_only,
                              reduce_only=k.reduce_only, origin=k.origin)
            for k in ALL_KINDS if k.action is Action.NEW_ORDER and k.order_type is not None)
    return found


def _amend_for(ticket: OrderTicket) -> Request:
    request = ticket.request
    order_type = request.order_type
    if order_type is None or order_type is OrderType.MARKET:
        order_type = OrderType.LIMIT
    tif = request.time_in_force if request.time_in_force in (TimeInForce.GTC,
                                                               TimeInForce.GTD) else None
    return Request.amend(request.instrument or "", order_type, tif, post_only=request.post_only,
                         reduce_only=request.reduce_only, origin=request.origin)


def _takes_a_price(amend: Callable[..., object]) -> bool:
    """Whether an adapter's amend accepts a fourth argument (the price)."""
    try:
        inspect.signature(amend).bind("id", None, 1, None)
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): trust it
        return True
    return True


async def _awaited(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


class _Conformance(RuleBasedStateMachine):
    """The rules and checks of the kit; `EngineConformance` and `AsyncEngineConformance`
    differ only in how the adapter is built and called."""

    instrument: ClassVar[str] = "BTC-USDT-SWAP"
    """The instrument every request is for."""

    orders = Bundle("orders")

    def __init__(self) -> None:
        super().__init__()
        cls = type(self)
        if cls not in _POLICIES:  # building and validating a policy per example would dominate
            _POLICIES[cls] = self.make_policy()
        self.policy = _POLICIES[cls]
        guards = {name: _always for t in self.policy.transitions for name in t.guards}
        self.controller = Controller(self.policy, guards=guards, logger=_Silent())
        self.gate = self.controller.gate
        self._runner: asyncio.Runner | None = None
        self.adapter: Any = self._build_adapter()
        if not _takes_a_price(self.adapter.amend):
            msg = (f"{type(self.adapter).__name__}.amend must take a price: "
                   "amend(order_id, request, quantity, price) with price in ticks, or None for "
                   "unchanged (an engine that cannot move a price returns False for one)")
            raise ConfigurationError(msg)
        self._has_stops = callable(getattr(self.adapter, "triggered", None))
        self._on_change = getattr(self.adapter, "on_phase_change", None)
        self._changes: list[PhaseChange] = []
        self._listener_error: BaseException | None = None
        self.controller.add_listener(self._listen)
        self.tickets: dict[str, OrderTicket] = {}
        self._live: dict[str, Decimal] = {}  # may rest: what rested when last looked at
        self._suspended: dict[str, str] = {}  # suspended by a disposition: id -> until
        self._gone: set[str] = set()  # cancelled by a disposition: never rests again
        self._fired = 0  # stop ids of triggered() seen so far
        self._dwell = _DWELL  # steps since the last transition
        self._post_only = Request.new_order(self.instrument, OrderType.LIMIT, TimeInForce.GTC,
                                            post_only=True)

    # -- what a subclass provides ----------------------------------------------------------------

    def make_policy(self) -> Policy:
        """The policy to drive (default: `default_policy()`); called once per class."""
        return default_policy()

    def _build_adapter(self) -> Any:
        raise NotImplementedError

    def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        """Call an adapter method; a coroutine is a mistake here (see `AsyncEngineConformance`)."""
        result = fn(*args)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()
            msg = (f"{getattr(fn, '__qualname__', fn)} returned an awaitable: test an asyncio "
                   "engine with AsyncEngineConformance")
            raise ConfigurationError(msg)
        return result

    # -- helpers -------------------------------------------------------------------------------

    def _matching(self) -> bool:
        return self.gate.matching(self.instrument)

    def _phase(self) -> str:
        return self.gate.phase(self.instrument)

    def _touch(self) -> tuple[Decimal | None, Decimal | None]:
        return self._call(self.adapter.best_bid), self._call(self.adapter.best_ask)

    def _trades(self) -> Sequence[Trade]:
        return self._call(self.adapter.trades)

    def _resting(self, order_id: str) -> Decimal:
        left: Decimal = self._call(self.adapter.resting, order_id)
        return left

    def _expected(self, request: Request, side: Side, price: int | None) -> Decision:
        """The gate's decision, price-aware where the request would rest a priced limit order."""
        if price is None:
            return self.gate.check(request)
        bid, ask = self._touch()
        return self.gate.check_priced(request, side, price, bid, ask)

    def _after_entry(self, what: str, accepted: bool, request: Request, decision: Decision,
                     trades_before: int, matching: bool) -> list[Trade]:
        if accepted and not decision.accepted:
            _fail(f"the engine accepted {what} but the gate refused it: {decision}")
        new = list(self._trades()[trades_before:])
        if new and not matching:
            _fail(f"{what} traded {new} in phase {self._phase()}, which does not match orders")
        post_only = request.post_only or decision.reason is Reason.ACCEPTED_AS_POST_ONLY
        if new and post_only and accepted:
            _fail(f"post-only {what} took liquidity: {new}")
        return new

    def _listen(self, change: PhaseChange) -> None:
        """The controller's listener: tell the adapter, remember the change for the checks."""
        self._changes.append(change)
        if self._on_change is not None:
            try:
                self._call(self._on_change, change)
            except Exception as exc:  # the controller would only log it: the kit reports it
                self._listener_error = exc

    # -- rules ---------------------------------------------------------------------------------

    @rule(target=orders, data=st.data())
    def submit(self, data: st.DataObject) -> MultipleResults[str]:
        """Send a random new order: any kind, or (as often) a kind the phase accepts."""
        accepted = [r for r in _new_orders(self.instrument) if self.gate.check(r).accepted]
        trades = self._trades()
        near = None  # stop triggers near the last trade: the next prints reach them
        if trades:
            last = int(trades[-1].price)
            near = (max(_PRICES[0], last - 1), max(min(_PRICES[1], last + 1), _PRICES[0]))
        tickets = _order_tickets(self.instrument, _PRICES, (1, 5), triggers=near)
        if accepted and data.draw(st.booleans(), label="of a kind accepted now") is True:
            by_type: dict[OrderType | None, list[Request]] = {}
            for request in accepted:  # the order type first: market and stop orders as often
                by_type.setdefault(request.order_type, []).append(request)
            kinds = st.sampled_from(list(by_type.values())).flatmap(st.sampled_from)
            tickets = _order_tickets(self.instrument, _PRICES, (1, 5), kinds, near)
        return self._send(data.draw(tickets, label="ticket"))

    @rule(target=orders, side=st.sampled_from(Side), away=st.integers(1, 3),
          quantity=st.integers(1, 5),
          origin=st.sampled_from((Origin.MARKET_MAKER, Origin.LIQUIDATION)))
    def quote(self, side: Side, away: int, quantity: int,
              origin: Origin) -> MultipleResults[str]:
        """Send a passive quote (a market maker's, or the liquidation engine's): a post-only
        GTC bid below 100 or ask above it, so that books are often two-sided, and
        resting liquidation orders meet halts, when a phase stops matching."""
        price = 100 - away if side is Side.BUY else 100 + away
        request = Request.new_order(self.instrument, OrderType.LIMIT, TimeInForce.GTC,
                                    post_only=True, origin=origin)
        return self._send(OrderTicket(request, side, price, quantity))

    def _send(self, ticket: OrderTicket) -> MultipleResults[str]:
        request = ticket.request
        decision = self._expected(request, ticket.side, ticket.price)
        trades_before, matching = len(self._trades()), self._matching()
        order_id = self._call(self.adapter.submit, ticket)
        new = self._after_entry(repr(ticket), order_id is not None, request, decision,
                                trades_before, matching)
        if order_id is None:
            return multiple()
        stop = request.order_type in _STOPS
        if stop and not self._has_stops:
            _fail(f"the engine accepted the stop order {ticket!r} but has no triggered(): an "
                  "engine without stop orders refuses them")
        if new and request.origin is Origin.LIQUIDATION and not self.gate.liquidations(
                self.instrument):
            _fail(f"the liquidation order {ticket!r} traded {new} in phase {self._phase()}, "
                  "whose liquidations are off")
        left = self._resting(order_id)
        if request.kind.needs_immediate_execution and not stop and left != 0:
            _fail(f"{left} of {ticket!r} rests in the book")
        self.tickets[order_id] = ticket
        self._live[order_id] = left
        return multiple(order_id)

    # -- probes: aimed at the hazards a random walk rarely lines up ----------------------------

    def _quoted(self, side: Side) -> Decimal:
        """The best price on `side`, quoting it first (a maker's post-only order one tick off
        100) when that side is empty."""
        bid, ask = self._touch()
        best = bid if side is Side.BUY else ask
        if best is None:
            self.quote(side, 1, 1, Origin.MARKET_MAKER)
            bid, ask = self._touch()
            best = bid if side is Side.BUY else ask
        return Decimal(100 - 1 if side is Side.BUY else 100 + 1) if best is None else best

    def _rests_post_only(self) -> bool:
        """Whether the phase is off matching and takes post-only limit orders (a pre-open)."""
        return not self._matching() and self.gate.check(self._post_only).accepted

    @precondition(lambda self: self._rests_post_only())
    @rule(target=orders, side=st.sampled_from(Side), through=st.integers(0, 2))
    def probe_crossing(self, side: Side, through: int) -> MultipleResults[str]:
        """While matching is off, a post-only order at or through the opposite touch: resting,
        it would cross the book (the gate refuses it: WOULD_CROSS)."""
        opposite = self._quoted(Side.SELL if side is Side.BUY else Side.BUY)
        price = int(opposite) + (through if side is Side.BUY else -through)
        return self._send(OrderTicket(self._post_only, side, max(price, 1), 1))

    @precondition(lambda self: self._rests_post_only())
    @rule(side=st.sampled_from(Side), through=st.integers(0, 2))
    def probe_crossing_amend(self, side: Side, through: int) -> None:
        """While matching is off, a resting post-only order amended to a price at or through
        the opposite touch."""
        opposite = self._quoted(Side.SELL if side is Side.BUY else Side.BUY)
        behind = int(opposite) - 2 if side is Side.BUY else int(opposite) + 2
        placed = self._send(OrderTicket(self._post_only, side, max(behind, 1), 1))
        for order_id in placed.values:
            price = int(opposite) + (through if side is Side.BUY else -through)
            self._amend(order_id, 1, max(price, 1))

    @precondition(lambda self: self._has_stops and self._matching()
                  and not self.gate.stop_triggers(self.instrument))
    @rule(target=orders, side=st.sampled_from(Side))
    def probe_stop(self, side: Side) -> MultipleResults[str]:
        """With matching on and stop triggers off (a reopen), a stop whose trigger is the
        opposite touch, then a market order that prints there: the stop must not fire."""
        maker_side = Side.SELL if side is Side.BUY else Side.BUY
        touch = int(self._quoted(maker_side))  # a resting order to trade against, at `touch`
        stop = Request.new_order(self.instrument, OrderType.STOP_MARKET, origin=Origin.CLIENT)
        placed = self._send(OrderTicket(stop, side, None, 1, trigger=touch))
        taker = Request.new_order(self.instrument, OrderType.MARKET, origin=Origin.CLIENT)
        self._send(OrderTicket(taker, side, None, 1))
        return placed

    @rule(order_id=orders, quantity=st.integers(1, 5), price=st.none() | st.integers(97, 103))
    def amend(self, order_id: str, quantity: int, price: int | None) -> None:
        """Change the quantity, and maybe the price, of an order the engine accepted earlier."""
        self._amend(order_id, quantity, price)

    def _amend(self, order_id: str, quantity: int, price: int | None) -> None:
        ticket = self.tickets[order_id]
        if ticket.price is None:
            price = None  # a market or stop-market order has no price to move
        request = _amend_for(ticket)
        decision = self._expected(request, ticket.side, price)
        trades_before, matching = len(self._trades()), self._matching()
        ok = self._call(self.adapter.amend, order_id, request, quantity, price)
        to = f"{quantity}" if price is None else f"{quantity} @ {price}"
        self._after_entry(f"an amend of {ticket!r} to {to}", ok, request, decision,
                          trades_before, matching)
        if order_id in self._live:
            self._live[order_id] = self._resting(order_id)

    @rule(order_id=orders)
    def cancel(self, order_id: str) -> None:
        """Cancel an order the engine accepted earlier."""
        ticket = self.tickets[order_id]
        request = Request.cancel(self.instrument, origin=ticket.request.origin)
        decision = self.gate.check(request)
        trades_before, matching = len(self._trades()), self._matching()
        ok = self._call(self.adapter.cancel, order_id, request)
        self._after_entry(f"a cancel of {ticket!r}", ok, request, decision, trades_before,
                          matching)
        if ok:
            self._live.pop(order_id, None)
            self._suspended.pop(order_id, None)  # cancelled while out of the book: stays out

    @precondition(lambda self: self._dwell >= _DWELL)
    @rule(on_instrument=st.booleans(), data=st.data())
    def transition(self, on_instrument: bool, data: st.DataObject) -> None:
        """Fire a legal transition (a halt is one of them) on the venue or the instrument."""
        scope = self.instrument if on_instrument else VENUE
        triggers = self._triggers(scope)
        if data.draw(st.integers(0, 3), label="off the restart path") == 0:
            trigger = data.draw(st.sampled_from(triggers), label="trigger")
        else:
            trigger = triggers[0]
        if not self._matching():
            self._uncrossed(f"as the non-matching phase {self._phase()} ends")
        trades_before = len(self._trades())
        before = {order_id: self._resting(order_id) for order_id in self._live}
        self._changes.clear()
        self._dwell = -1  # the invariant counts this step
        self.controller.fire(trigger, actor="conformance-kit", reason="random walk", scope=scope)
        if self._listener_error is not None:
            error, self._listener_error = self._listener_error, None
            if isinstance(error, ConformanceFailure):
                raise error
            _fail(f"on_phase_change raised {error!r} on {trigger} ({scope})")
        new = list(self._trades()[trades_before:])
        if new and not self._matching():
            _fail(f"the engine traded {new} as {scope} entered {self._phase()}, which does not "
                  "match orders")
        for change in self._changes:
            self._disposition_applied(change, before, traded=bool(new))

    def _triggers(self, scope: str) -> list[str]:
        """The legal triggers, the restart's first: the planned step back to normal, then the
        halt. Three times in four the transition rule takes the first (a walk in the policy's
        order would mostly go NORMAL <-> DEGRADED and rarely reach a reopen)."""
        triggers = list(self.controller.triggers(scope))
        own = self.gate.phases.get(scope, self.policy.normal)  # an instrument's own phase
        planned = self.policy.planned_step(own)
        first = [planned.trigger] if planned is not None else []
        first.append(self.policy.halt_trigger)
        return sorted(triggers, key=lambda t: first.index(t) if t in first else len(first))

    # -- checks --------------------------------------------------------------------------------

    def _uncrossed(self, when: str) -> None:
        bid, ask = self._touch()
        if bid is not None and ask is not None and bid >= ask:
            _fail(f"the book is crossed (bid {bid} >= ask {ask}) {when}")

    def _disposition_applied(self, change: PhaseChange, before: dict[str, Decimal], *,
                             traded: bool) -> None:
        """The adapter's resting orders obey what entering `change.dest` does to them."""
        disposition = change.disposition
        entered = f"{change.scope} entered {change.dest}"
        back = []
        for order_id, until in list(self._suspended.items()):
            action = disposition.rule(self.tickets[order_id].request)
            if until == disposition.reinstates:
                del self._suspended[order_id]
                back.append(order_id)
            elif action.action is RestingAction.CANCEL:
                del self._suspended[order_id]
                self._gone.add(order_id)
            elif action.action is RestingAction.SUSPEND:
                self._suspended[order_id] = action.until
        for order_id, was in before.items():
            if not was:  # filled or cancelled since: nothing to dispose of
                self._live.pop(order_id, None)
                continue
            ticket = self.tickets[order_id]
            action = disposition.rule(ticket.request)
            left = self._resting(order_id)
            if action.action is RestingAction.CANCEL:
                del self._live[order_id]
                self._gone.add(order_id)
                if left:
                    _fail(f"{left} of {ticket!r} still rests after {entered}, whose "
                          f"disposition says {action.describe()}")
            elif action.action is RestingAction.SUSPEND:
                del self._live[order_id]
                self._suspended[order_id] = action.until
                if left:
                    _fail(f"{left} of {ticket!r} still rests after {entered}, whose "
                          f"disposition says {action.describe()}")
            elif not left and not traded:
                _fail(f"{ticket!r} no longer rests after {entered}, whose disposition keeps it "
                      f"({action.describe()})")
        fired = set(self._call(self.adapter.triggered)) if self._has_stops else set()
        for order_id in back:
            left = self._resting(order_id)
            if not left and order_id not in fired:
                _fail(f"{self.tickets[order_id]!r}, suspended until {disposition.reinstates}, "
                      f"is not back in the book after {entered}")
            self._live[order_id] = left

    @invariant()
    def conforms(self) -> None:
        """After every step: no crossed book while not matching, suspended and cancelled orders
        out of the book, no stop fired with stop triggers off, no liquidation order executed
        with liquidations off."""
        self._dwell += 1
        if not self._matching():
            self._uncrossed(f"in phase {self._phase()}, which does not match orders")
        for order_id in (*self._suspended, *self._gone):
            left = self._resting(order_id)
            if left:
                state = "suspended" if order_id in self._suspended else "cancelled"
                _fail(f"{left} of {self.tickets[order_id]!r} rests in the book, but a phase "
                      f"change {state} it")
        if self._has_stops:
            fired = list(self._call(self.adapter.triggered))
            new, self._fired = fired[self._fired:], len(fired)
            for order_id in new:
                ticket = self.tickets.get(order_id)
                if ticket is None or ticket.request.order_type not in _STOPS:
                    _fail(f"triggered() names {order_id!r}, which is no stop order the kit sent")
                if not self.gate.stop_triggers(self.instrument):
                    _fail(f"the stop order {ticket!r} fired in phase {self._phase()}, whose stop "
                          "triggers are off")
                if order_id in self._suspended or order_id in self._gone:
                    _fail(f"the stop order {ticket!r} fired while a phase change had it out of "
                          "the book")
        liquidations = self.gate.liquidations(self.instrument)
        for order_id, was in self._live.items():
            if self.tickets[order_id].request.origin is not Origin.LIQUIDATION:
                continue
            left = self._resting(order_id)
            if left < was and not liquidations:
                _fail(f"the liquidation order {self.tickets[order_id]!r} executed "
                      f"{was - left} in phase {self._phase()}, whose liquidations are off")
            self._live[order_id] = left


class EngineConformance(_Conformance):
    """Subclass this with a `make_adapter` to prove an engine obeys the phases.

    Each step is a random transition of the default policy (override `make_policy` for yours)
    on the venue or the instrument, or a random new order (every type and origin, stops with
    a trigger price), amend (of the quantity, and maybe the price) or cancel sent through the
    adapter. The kit's controller tells the adapter of every phase change
    (``adapter.on_phase_change(change)``). After each step the kit asserts that:

    - the engine accepted a request only if the gate accepted it, price-aware for limit orders
      and price amends (`Gate.check_priced` against the engine's touch before the entry);
    - no trade happened while the phase does not match orders (on an entry or a transition);
    - a post-only order never took liquidity (no trade while it was entered);
    - the book is never crossed while the phase does not match orders (after every step, so
      the book is not crossed when a non-matching phase ends);
    - what is left of a market, IOC or FOK order never rests in the book;
    - no stop order fires while ``gate.stop_triggers(instrument)`` is False (so none fires on
      the reopen print of a phase like FULL_OPEN), and none fires while suspended; an adapter
      without ``triggered()`` accepts no stop order at all;
    - no liquidation-engine order executes while ``gate.liquidations(instrument)`` is False;
    - after each transition, resting orders obey the change's disposition: CANCEL leaves the
      book for good, SUSPEND leaves it until a change whose ``disposition.reinstates`` is the
      rule's ``until`` (then it is back, unless cancelled meanwhile), KEEP stays.

    Example (pytest; ``MyEngine`` wraps your engine and calls ``gate.check`` first):
        >>> from exchange_recovery.testing import EngineConformance
        >>> class MyEngineConformance(EngineConformance):
        ...     def make_adapter(self, gate):
        ...         return MyEngine(gate)  # your adapter: submit, amend, cancel, trades, touch
        >>> TestMyEngine = MyEngineConformance.TestCase
    """

    def make_adapter(self, gate: Gate) -> EngineAdapter:
        """Return a fresh engine, with an empty book, that checks every request with `gate`."""
        msg = f"{type(self).__name__} must define make_adapter(self, gate)"
        raise NotImplementedError(msg)

    def close_adapter(self, adapter: EngineAdapter) -> None:
        """Release the engine (stop its threads); called once per example."""

    def _build_adapter(self) -> EngineAdapter:
        return self.make_adapter(self.gate)

    def teardown(self) -> None:
        self.close_adapter(self.adapter)


class AsyncEngineConformance(_Conformance):
    """`EngineConformance` for an asyncio engine: the adapter's methods are coroutines.

    The kit owns one event loop per example (an `asyncio.Runner`): `make_adapter` runs on it
    (so the engine's tasks are created on the loop they will run on), every adapter call is
    run to completion on it, between steps the loop is idle, and after `close_adapter` the
    loop is closed (which cancels any task left). The checks are `EngineConformance`'s.

    Example (pytest; ``MyAsyncEngine`` wraps your engine):
        >>> from exchange_recovery.testing import AsyncEngineConformance
        >>> class MyAsyncEngineConformance(AsyncEngineConformance):
        ...     async def make_adapter(self, gate):
        ...         return MyAsyncEngine(gate)  # async submit, amend, cancel, on_phase_change
        >>> TestMyAsyncEngine = MyAsyncEngineConformance.TestCase
    """

    async def make_adapter(self, gate: Gate) -> AsyncEngineAdapter:
        """Return a fresh engine, with an empty book, that checks every request with `gate`
        (called on the example's event loop)."""
        msg = f"{type(self).__name__} must define async make_adapter(self, gate)"
        raise NotImplementedError(msg)

    async def close_adapter(self, adapter: AsyncEngineAdapter) -> None:
        """Release the engine (stop its tasks); called once per example, on its loop."""

    def _build_adapter(self) -> AsyncEngineAdapter:
        self._runner = asyncio.Runner()
        return self._runner.run(self.make_adapter(self.gate))

    def _call(self, fn: Callable[..., _T], *args: object) -> _T:
        result: Any = fn(*args)
        if inspect.isawaitable(result):
            assert self._runner is not None  # noqa: S101 - built before the first call
            result = self._runner.run(_awaited(result))
        return result  # type: ignore[no-any-return]

    def teardown(self) -> None:
        try:
            if self._runner is not None:
                self._runner.run(self.close_adapter(self.adapter))
        finally:
            if self._runner is not None:
                self._runner.close()
