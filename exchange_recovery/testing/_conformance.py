"""The conformance kit: a hypothesis state machine that drives an engine through its gate.

An engine team writes a small adapter (`EngineAdapter`) and subclasses `EngineConformance`;
the machine fires random phase transitions and random order entry, and after each step checks
what the phase allows against what the engine did.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, ClassVar, NoReturn, Protocol

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, MultipleResults, RuleBasedStateMachine, multiple, rule

from .._control.controller import Controller
from .._core.defaults import default_policy
from .._core.errors import ConfigurationError, ConformanceFailure, InvalidRequestError
from .._core.gate import Gate
from .._core.model import VENUE, Action, Decision, OrderType, Request, Side, TimeInForce
from .._core.policy import Policy
from .._core.text import shown
from ._strategies import order_requests


@attrs.frozen(repr=False)
class OrderTicket:
    """A new order as the kit sends it: the gate's `request` plus the economics.

    `price` is an integer number of ticks (None for market orders), `quantity` a whole number of
    lots; an adapter scales both to its engine's units.
    """

    request: Request
    side: Side
    price: int | None
    quantity: int

    def __repr__(self) -> str:
        at = "market" if self.price is None else f"@ {self.price}"
        return f"<{self.side.value} {self.quantity} {at}: {self.request.kind.describe()}>"

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

    Every order-entry method must ask the gate first, the way the production code path does.
    """

    def submit(self, ticket: OrderTicket) -> str | None:
        """Enter a new order; return the engine's order id, or None if it was refused."""

    def amend(self, order_id: str, request: Request, quantity: int) -> bool:
        """Change a resting order's quantity; `request` is the amend the gate must check."""

    def cancel(self, order_id: str, request: Request) -> bool:
        """Cancel a resting order; `request` is the cancel the gate must check."""

    def trades(self) -> Sequence[Trade]:
        """Every trade so far, oldest first."""

    def best_bid(self) -> Decimal | None:
        """The best bid price, or None if there is no bid."""

    def best_ask(self) -> Decimal | None:
        """The best ask price, or None if there is no ask."""

    def resting(self, order_id: str) -> Decimal:
        """How much of an order rests in the book now (0 if none)."""


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


@st.composite
def _order_tickets(draw: st.DrawFn, instrument: str, prices: tuple[int, int],
                   quantities: tuple[int, int]) -> OrderTicket:
    request = draw(order_requests(Action.NEW_ORDER, instruments=(instrument,)))
    market = request.order_type in (OrderType.MARKET, OrderType.STOP_MARKET)
    price = None if market else draw(st.integers(*prices))
    return OrderTicket(request, draw(st.sampled_from(Side)), price, draw(st.integers(*quantities)))


def _amend_for(ticket: OrderTicket) -> Request:
    request = ticket.request
    order_type = request.order_type
    if order_type is None or order_type is OrderType.MARKET:
        order_type = OrderType.LIMIT
    tif = request.time_in_force if request.time_in_force in (TimeInForce.GTC,
                                                               TimeInForce.GTD) else None
    return Request.amend(request.instrument or "", order_type, tif, post_only=request.post_only,
                         reduce_only=request.reduce_only, origin=request.origin)


class EngineConformance(RuleBasedStateMachine):
    """Subclass this with a `make_adapter` to prove an engine obeys the phases.

    Each step is a random transition of the default policy (override `make_policy` for yours)
    on the venue or the instrument, or a random new order, amend or cancel sent through the
    adapter. After each step the kit asserts that:

    - the engine accepted a request only if the gate accepted it;
    - no trade happened while the phase does not match orders;
    - a post-only order never took liquidity (no trade while it was entered);
    - the book was not crossed when a non-matching phase ended;
    - what is left of a market, IOC or FOK order never rests in the book.

    Example (pytest; ``MyEngine`` wraps your engine and calls ``gate.check`` first):
        >>> from exchange_recovery.testing import EngineConformance
        >>> class MyEngineConformance(EngineConformance):
        ...     def make_adapter(self, gate):
        ...         return MyEngine(gate)  # your adapter: submit, amend, cancel, trades, touch
        >>> TestMyEngine = MyEngineConformance.TestCase
    """

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
        self.adapter = self.make_adapter(self.gate)
        self.tickets: dict[str, OrderTicket] = {}

    # -- what a subclass provides ----------------------------------------------------------------

    def make_adapter(self, gate: Gate) -> EngineAdapter:
        """Return a fresh engine, with an empty book, that checks every request with `gate`."""
        msg = f"{type(self).__name__} must define make_adapter(self, gate)"
        raise NotImplementedError(msg)

    def close_adapter(self, adapter: EngineAdapter) -> None:
        """Release the engine (stop its threads); called once per example."""

    def make_policy(self) -> Policy:
        """The policy to drive (default: `default_policy()`); called once per class."""
        return default_policy()

    def teardown(self) -> None:
        self.close_adapter(self.adapter)

    # -- helpers -------------------------------------------------------------------------------

    def _matching(self) -> bool:
        return self.gate.matching(self.instrument)

    def _crossed(self) -> tuple[Decimal, Decimal] | None:
        bid, ask = self.adapter.best_bid(), self.adapter.best_ask()
        if bid is not None and ask is not None and bid >= ask:
            return bid, ask
        return None

    def _before_entry(self, request: Request) -> tuple[Decision, int, bool]:
        """What the gate says, how many trades there were, whether the phase matches."""
        return self.gate.check(request), len(self.adapter.trades()), self._matching()

    def _after_entry(self, what: str, accepted: bool, request: Request,
                     before: tuple[Decision, int, bool]) -> None:
        decision, trades_before, matching = before
        if accepted and not decision.accepted:
            _fail(f"the engine accepted {what} but the gate refused it: {decision}")
        new = list(self.adapter.trades()[trades_before:])
        if new and not matching:
            _fail(f"{what} traded {new} in phase {self.gate.phase(self.instrument)}, which does "
                  f"not match orders")
        if new and request.post_only:
            _fail(f"post-only {what} took liquidity: {new}")

    # -- rules ---------------------------------------------------------------------------------

    @rule(target=orders, data=st.data())
    def submit(self, data: st.DataObject) -> MultipleResults[str]:
        """Send a random new order."""
        ticket = data.draw(order_tickets(self.instrument), label="ticket")
        before = self._before_entry(ticket.request)
        order_id = self.adapter.submit(ticket)
        self._after_entry(repr(ticket), order_id is not None, ticket.request, before)
        if order_id is None:
            return multiple()
        if ticket.request.kind.needs_immediate_execution:
            left = self.adapter.resting(order_id)
            if left != 0:
                _fail(f"{left} of {ticket!r} rests in the book")
        self.tickets[order_id] = ticket
        return multiple(order_id)

    @rule(order_id=orders, quantity=st.integers(1, 5))
    def amend(self, order_id: str, quantity: int) -> None:
        """Change the quantity of an order the engine accepted earlier."""
        ticket = self.tickets[order_id]
        request = _amend_for(ticket)
        before = self._before_entry(request)
        ok = self.adapter.amend(order_id, request, quantity)
        self._after_entry(f"an amend of {ticket!r} to {quantity}", ok, request, before)

    @rule(order_id=orders)
    def cancel(self, order_id: str) -> None:
        """Cancel an order the engine accepted earlier."""
        ticket = self.tickets[order_id]
        request = Request.cancel(self.instrument, origin=ticket.request.origin)
        before = self._before_entry(request)
        ok = self.adapter.cancel(order_id, request)
        self._after_entry(f"a cancel of {ticket!r}", ok, request, before)

    @rule(on_instrument=st.booleans(), data=st.data())
    def transition(self, on_instrument: bool, data: st.DataObject) -> None:
        """Fire a legal transition (a halt is one of them) on the venue or the instrument."""
        scope = self.instrument if on_instrument else VENUE
        trigger = data.draw(st.sampled_from(self.controller.triggers(scope)), label="trigger")
        if not self._matching():
            crossed = self._crossed()
            if crossed is not None:
                _fail(f"the book is crossed (bid {crossed[0]} >= ask {crossed[1]}) as the "
                      f"non-matching phase {self.gate.phase(self.instrument)} ends")
        self.controller.fire(trigger, actor="conformance-kit", reason="random walk", scope=scope)

