"""The auction kit: a reference uncross, a reference call-auction book, and an auction check.

`reference_uncross` is the standard equilibrium (the price that trades the most, then leaves
the least unmatched, then lies closest to the reference). `AuctionBook` is a small engine built
on it: limit orders in during the call, nothing matched, one uncross at the price it is given.
`check_auction` drives any engine of that shape through a seeded call on an `AuctionRunner`
and a `ManualClock`, and checks what the issue asks of every engine: nothing trades before the
uncross, the uncross happens once, at the price given, inside the collar or by a journaled
override. It needs no hypothesis: a seed is the whole of a run (draw seeds with hypothesis to
search).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import Any, NoReturn, Protocol, runtime_checkable

import attrs

from .._control.controller import Controller
from .._control.guards import Approvals, HealthChecks, RoleAuthorizer, policy_guards
from .._core.clock import ManualClock
from .._core.errors import ConfigurationError, ConformanceFailure
from .._core.model import VENUE, Actor, OrderType, Request, Side
from .._core.policy import Policy
from .._core.reopen import Exhausted
from .._core.text import shown
from .._decide.records import TransitionRecord
from .._journal.protocol import MemoryJournal
from .._plan.auction import AuctionRunner, AuctionState, AuctionStatus, Indicative, Price
from .._plan.plan import AUTOMATION, OPERATOR, SUPERVISOR
from .._plan.reopening import reopening_policy

_Level = tuple[Any, Any]
"""One order as the reference uncross reads it: (price, quantity), ints, floats or Decimals
(typed Any: mypy cannot tell that one book never mixes Decimals with floats)."""


def _amount(value: object) -> bool:
    kind = type(value)
    if kind is int:
        return value > 0  # type: ignore[operator]
    if kind is float:
        return math.isfinite(value) and value > 0  # type: ignore[arg-type,operator]
    if kind is Decimal:
        return value.is_finite() and value > 0  # type: ignore[attr-defined,operator]
    return False


def _levels(field: str, orders: object) -> list[_Level]:
    if isinstance(orders, str | bytes):
        orders = None  # never a sequence of orders: refused below
    try:
        listed = list(orders)  # type: ignore[call-overload]
    except Exception:  # not iterable, or its iterator raises
        msg = f"{field} must be an iterable of (price, quantity) pairs, got {shown(orders)}"
        raise ConfigurationError(msg) from None
    out: list[_Level] = []
    for i, order in enumerate(listed):
        if not (type(order) is tuple and len(order) == 2 and _amount(order[0])
                and _amount(order[1])):
            msg = (f"{field}[{i}] must be a (price, quantity) pair of positive finite numbers, "
                   f"got {shown(order)}")
            raise ConfigurationError(msg)
        out.append(order)
    return out


def reference_uncross(bids: Iterable[tuple[Price, Price]], asks: Iterable[tuple[Price, Price]],
                      reference: Price) -> Indicative | None:
    """The equilibrium price of a call: slow, obviously correct, for kits and tests.

    Candidates are the orders' limit prices and `reference`. The price chosen trades the most
    (buy orders at or above it against sell orders at or below it), then leaves the smallest
    imbalance, then lies closest to `reference`, then is the lower. None when nothing crosses.

    Example:
        >>> reference_uncross([(101, 3)], [(99, 2)], reference=100)
        Indicative(price=100, volume=2, imbalance=1)
        >>> reference_uncross([(99, 1)], [(101, 1)], reference=100) is None
        True

    Raises:
        ConfigurationError: an order is no (price, quantity) pair of positive finite numbers
            (int, float, Decimal), `reference` no positive finite number, or Decimals are mixed
            with floats.
    """
    buy, sell = _levels("bids", bids), _levels("asks", asks)
    if not _amount(reference):
        msg = f"reference must be a positive finite number, got {shown(reference)}"
        raise ConfigurationError(msg)
    ref: Any = reference
    best: tuple[Any, ...] | None = None
    try:
        for price in sorted({p for p, _ in buy} | {p for p, _ in sell} | {ref}):
            demand = sum((q for p, q in buy if p >= price), start=0)
            supply = sum((q for p, q in sell if p <= price), start=0)
            volume = min(demand, supply)
            if not volume:
                continue
            imbalance = demand - supply
            key = (-volume, abs(imbalance), abs(price - ref), price)
            if best is None or key < best[0]:
                best = (key, Indicative(price, volume, imbalance))
    except TypeError:  # a Decimal met a float
        msg = "prices and quantities must not mix Decimal and float"
        raise ConfigurationError(msg) from None
    return None if best is None else best[1]


@runtime_checkable
class AuctionEngine(Protocol):
    """What `check_auction` drives: an `UncrossEngine` that takes orders and reports trades.

    Example:
        >>> isinstance(AuctionBook(reference=100), AuctionEngine)
        True
    """

    def indicative(self, scope: str) -> Indicative | None:
        """As `UncrossEngine.indicative`."""

    def uncross(self, scope: str, price: Price) -> None:
        """As `UncrossEngine.uncross`."""

    def submit(self, scope: str, side: Side, price: Price, quantity: Price) -> object:
        """Enter a limit order into `scope`'s book (the gate accepted it); return its id."""

    def trades(self, scope: str) -> Sequence[tuple[Price, Price]]:
        """Every trade in `scope` so far, oldest first, as (price, quantity)."""


@attrs.define
class _Order:
    id: int
    side: Side
    price: Any  # a Price: see _Level
    quantity: Any


class AuctionBook:
    """A reference call-auction engine: collects limit orders, never matches them continuously,
    and executes one uncross at the price it is given (price, then time priority).

    Its indicative price is `reference_uncross` of its book with its `reference`.

    Example:
        >>> book = AuctionBook(reference=100)
        >>> _ = book.submit("venue", Side.BUY, 101, 3), book.submit("venue", Side.SELL, 99, 2)
        >>> book.indicative("venue")
        Indicative(price=100, volume=2, imbalance=1)
        >>> book.uncross("venue", 100)
        >>> book.trades("venue"), book.resting("venue")
        (((100, 2),), ((<Side.BUY: 'BUY'>, 101, 1),))

    Raises:
        ConfigurationError: `reference`, a price or a quantity is no positive finite number,
            `side` no `Side`, `scope` no str.
    """

    def __init__(self, reference: Price = 100) -> None:
        if not _amount(reference):
            msg = f"reference must be a positive finite number, got {shown(reference)}"
            raise ConfigurationError(msg)
        self._reference = reference
        self._books: dict[str, list[_Order]] = {}
        self._trades: dict[str, list[tuple[Price, Price]]] = {}
        self._next = 0

    def submit(self, scope: str, side: Side, price: Price, quantity: Price) -> int:
        """Rest a limit order in `scope`'s book; return its id (nothing matches)."""
        _scope(scope)
        if not isinstance(side, Side):
            msg = f"side must be a Side, got {shown(side)}"
            raise ConfigurationError(msg)
        for field, value in (("price", price), ("quantity", quantity)):
            if not _amount(value):
                msg = f"{field} must be a positive finite number, got {shown(value)}"
                raise ConfigurationError(msg)
        self._next += 1
        self._books.setdefault(scope, []).append(_Order(self._next, side, price, quantity))
        return self._next

    def cancel(self, scope: str, order_id: int) -> bool:
        """Remove a resting order; False if `scope`'s book has no order `order_id`."""
        _scope(scope)
        book = self._books.get(scope, [])
        for i, order in enumerate(book):
            if order.id == order_id:
                del book[i]
                return True
        return False

    def indicative(self, scope: str) -> Indicative | None:
        """The price and volume the book would uncross at now (None: nothing crosses)."""
        _scope(scope)
        book = self._books.get(scope, [])
        return reference_uncross([(o.price, o.quantity) for o in book if o.side is Side.BUY],
                                 [(o.price, o.quantity) for o in book if o.side is Side.SELL],
                                 self._reference)

    def uncross(self, scope: str, price: Price) -> None:
        """Trade every buy at or above `price` against every sell at or below it, at `price`,
        best price first, then oldest; what is left rests."""
        _scope(scope)
        if not _amount(price):
            msg = f"price must be a positive finite number, got {shown(price)}"
            raise ConfigurationError(msg)
        book = self._books.get(scope, [])
        buys = sorted((o for o in book if o.side is Side.BUY and o.price >= price),
                      key=lambda o: (-o.price, o.id))
        sells = sorted((o for o in book if o.side is Side.SELL and o.price <= price),
                       key=lambda o: (o.price, o.id))
        traded = self._trades.setdefault(scope, [])
        total: Any = 0
        while buys and sells:
            buy, sell = buys[0], sells[0]
            fill = min(buy.quantity, sell.quantity)
            buy.quantity -= fill
            sell.quantity -= fill
            total += fill
            if not buy.quantity:
                buys.pop(0)
            if not sell.quantity:
                sells.pop(0)
        if total:
            traded.append((price, total))
        self._books[scope] = [o for o in book if o.quantity]

    def trades(self, scope: str) -> tuple[tuple[Price, Price], ...]:
        """The trades in `scope`, oldest first, as (price, quantity): one per uncross."""
        _scope(scope)
        return tuple(self._trades.get(scope, ()))

    def resting(self, scope: str) -> tuple[tuple[Side, Price, Price], ...]:
        """The orders resting in `scope`'s book, oldest first, as (side, price, quantity)."""
        _scope(scope)
        return tuple((o.side, o.price, o.quantity) for o in self._books.get(scope, []))


def _scope(scope: object) -> None:
    if type(scope) is not str:
        msg = f"scope must be a str, got {shown(scope)}"
        raise ConfigurationError(msg)


# -- the check ----------------------------------------------------------------------------------

_TIMER = Actor("kit:auction-timer", {AUTOMATION})
_OPERATOR = Actor("kit:operator", {OPERATOR})
_SUPERVISOR = Actor("kit:supervisor", {SUPERVISOR})
_INSTRUMENT = "KIT-PERP"
_REFERENCE = 100
_CENTRES = (100, 100, 101, 99, 103, 108, 92)
"""Where the seeded order flow centres each stretch of the call: mostly inside the 5 % collar
around 100, sometimes outside (an extension, then people's decision or an open without a
cross)."""
_STEPS = 400


def auction_policy(when_exhausted: Exhausted = Exhausted.MANUAL) -> Policy:
    """`reopening_policy()`, or with `Exhausted.OPEN_WITHOUT_CROSS` its variant that opens
    without a cross when the extensions run out (then the library fires ``override_open``
    itself: no approval guard on it, and automation may fire it).

    Example:
        >>> auction_policy(Exhausted.OPEN_WITHOUT_CROSS).phase("AUCTION").auction.when_exhausted
        <Exhausted.OPEN_WITHOUT_CROSS: 'OPEN_WITHOUT_CROSS'>

    Raises:
        ConfigurationError: `when_exhausted` is not an `Exhausted`.
    """
    if not isinstance(when_exhausted, Exhausted):
        msg = f"when_exhausted must be an Exhausted, got {shown(when_exhausted)}"
        raise ConfigurationError(msg)
    base = reopening_policy()
    if when_exhausted is Exhausted.MANUAL:
        return base
    phases = tuple(
        attrs.evolve(p, auction=attrs.evolve(p.auction, when_exhausted=when_exhausted))
        if p.auction is not None else p for p in base.phases)
    overrides = {p.auction.override for p in phases if p.auction is not None}
    return base.with_changes(
        phases=phases,
        transitions=tuple(attrs.evolve(t, guards=()) if t.trigger in overrides else t
                          for t in base.transitions),
        permissions=tuple(attrs.evolve(p, roles=p.roles | {AUTOMATION})
                          if p.trigger in overrides else p for p in base.permissions),
    )


def _fail(message: str) -> NoReturn:
    raise ConformanceFailure(message)


class _Counting:
    """The engine as the runner sees it: counts the uncrosses the library asks for."""

    def __init__(self, engine: AuctionEngine) -> None:
        self.engine = engine
        self.uncrosses: list[Price] = []

    def indicative(self, scope: str) -> Indicative | None:
        return self.engine.indicative(scope)

    def uncross(self, scope: str, price: Price) -> None:
        self.uncrosses.append(price)
        self.engine.uncross(scope, price)


def check_auction(engine_factory: Callable[[], AuctionEngine], seed: int, *,
                  scope: str = VENUE) -> AuctionStatus:
    """Drive one seeded call auction through an engine; raise `ConformanceFailure` on a breach.

    The seed decides everything: the policy's variant (people decide, or open without a cross),
    the order flow (each stretch centred inside or outside the 5 % collar around 100), the clock
    steps, and people's decision. The engine gets the orders the gate accepts, an
    `AuctionRunner` polls on a `ManualClock`, and the kit checks:

    - nothing trades before the uncross (while the scope is in the auction phase);
    - the uncross happens once: one call of ``uncross``, and the trades it makes total the
      volume of the indicative price it was handed, all at that price, with no trade after;
    - the price is inside the collar, or the journal holds the override: the ``override_open``
      record and an auction note saying ``override`` (with an open without a cross, no trade).

    Returns the call's final `AuctionStatus`.

    Example:
        >>> check_auction(lambda: AuctionBook(reference=100), seed=3).state.name in (
        ...     "UNCROSSED", "OPENED_WITHOUT_CROSS")
        True

    Raises:
        ConformanceFailure: the engine broke one of the rules above (the message says which).
        ConfigurationError: `engine_factory` is not callable, raised, or built no engine of
            the shape `AuctionEngine`, `seed` is no int from 0 to 2**63 - 1, `scope` no scope name.
    """
    engine = _engine(engine_factory, seed, scope)
    rng = random.Random(f"check_auction|{seed}")  # noqa: S311 - a simulation, not a secret
    policy = auction_policy(rng.choice((Exhausted.MANUAL, Exhausted.OPEN_WITHOUT_CROSS)))
    clock = ManualClock(1_000.0)
    approvals = Approvals(policy, clock=clock)
    journal = MemoryJournal()
    controller = _controller(policy, clock, approvals, journal, scope)
    counting = _Counting(engine)
    runner = AuctionRunner(controller, counting, reference=_REFERENCE, seed=seed, actor=_TIMER,
                           scope=scope)
    instrument = _INSTRUMENT if scope == VENUE else scope
    status = runner.poll()
    centre = rng.choice(_CENTRES)
    for _ in range(_STEPS):
        if status.state not in (AuctionState.CALLING, AuctionState.AWAITING_DECISION):
            break
        if rng.random() < 0.1:
            centre = rng.choice(_CENTRES)
        for _order in range(rng.randint(0, 3)):
            side = rng.choice((Side.BUY, Side.SELL))
            price = centre + rng.randint(-2, 2)
            if controller.gate.check_priced(Request.new_order(instrument, OrderType.LIMIT),
                                            side, price).accepted:
                engine.submit(scope, side, price, rng.randint(1, 5))
        if engine.trades(scope):
            _fail(f"the engine traded during the call, before the uncross: {engine.trades(scope)!r} "
                  f"(phase {controller.phase(scope)}, seed {seed})")
        if status.state is AuctionState.AWAITING_DECISION:
            spec = policy.phase(status.phase or "AUCTION").auction
            assert spec is not None  # noqa: S101 - an auction phase
            approvals.approve(_SUPERVISOR, spec.override, scope=scope, reason="kit decides")
            cross = status.indicative is not None and rng.random() < 0.5
            runner.decide(_OPERATOR, cross=cross, reason="kit: extensions ran out")
        else:
            clock.advance(rng.choice((1, 5, 10, 20, 40)))
        status = runner.poll()
    else:
        _fail(f"the call never ended in {_STEPS} steps (seed {seed}): {status!r}")
    for _ in range(3):  # polls after the end start nothing and trade nothing more
        clock.advance(60)
        runner.poll()
        engine.indicative(scope)
    _check_outcome(status, counting, engine, journal, controller, scope, seed)
    return status


def _engine(engine_factory: object, seed: object, scope: object) -> AuctionEngine:
    """`check_auction`'s arguments checked, and its engine built."""
    if not callable(engine_factory):
        msg = f"engine_factory must be callable, got {shown(engine_factory)}"
        raise ConfigurationError(msg)
    if type(seed) is not int or not 0 <= seed < 2**63:
        msg = f"seed must be an int from 0 to 2**63 - 1, got {shown(seed)}"
        raise ConfigurationError(msg)
    _scope(scope)
    try:
        engine = engine_factory()
    except Exception as exc:  # the factory is the caller's: named, never leaked raw
        msg = f"engine_factory() raised {shown(exc)}"
        raise ConfigurationError(msg) from exc
    if not isinstance(engine, AuctionEngine):
        msg = (f"engine_factory() must build an engine with indicative, uncross, submit and "
               f"trades, got {shown(engine)}")
        raise ConfigurationError(msg)
    return engine


def _controller(policy: Policy, clock: ManualClock, approvals: Approvals,
                journal: MemoryJournal, scope: str) -> Controller:
    """A controller with `scope` in the call: healthy, approvals and roles enforced."""
    health = HealthChecks(dict.fromkeys(("book_uncrossed", "market_data_fresh",
                                         "cloud_zone_healthy"), True))
    return Controller(policy, guards=policy_guards(policy, health=health, approvals=approvals),
                      authorizer=RoleAuthorizer(policy, approvals=approvals), clock=clock,
                      journal=journal, phases={scope: "AUCTION"})


def _check_outcome(status: AuctionStatus, counting: _Counting, engine: AuctionEngine,
                   journal: MemoryJournal, controller: Controller, scope: str, seed: int) -> None:
    trades = tuple(engine.trades(scope))
    where = f"(seed {seed}, state {status.state.value})"
    if status.state is AuctionState.OPENED_WITHOUT_CROSS:
        if counting.uncrosses or trades:
            _fail(f"the call opened without a cross, yet the engine traded {trades!r} {where}")
        if not _override_journaled(status, journal, controller, scope):
            _fail(f"the call opened without a cross with no override journaled {where}")
        return
    if status.state is not AuctionState.UNCROSSED:
        _fail(f"the call ended in {status.state.value}, not in an uncross or an open {where}")
    if counting.uncrosses != [status.open_price]:
        _fail(f"the library asked for uncrosses at {counting.uncrosses!r}, expected one at "
              f"{status.open_price!r} {where}")
    if any(price != status.open_price for price, _ in trades):
        _fail(f"the uncross was handed {status.open_price!r}, the engine traded at "
              f"{sorted({p for p, _ in trades})!r} {where}")
    traded = sum((q for _, q in trades), start=0)
    if traded != status.open_size:
        _fail(f"the uncross traded {traded!r} in {len(trades)} trade(s), its indicative volume "
              f"was {status.open_size!r}: it happened more (or less) than once {where}")
    inside = status.collar_low <= float(status.open_price or 0) <= status.collar_high
    if not inside and not _override_journaled(status, journal, controller, scope):
        _fail(f"the uncross at {status.open_price!r} is outside the collar "
              f"[{status.collar_low}, {status.collar_high}] with no override journaled {where}")


def _override_journaled(status: AuctionStatus, journal: MemoryJournal, controller: Controller,
                        scope: str) -> bool:
    spec = controller.policy.phase(status.phase or "AUCTION").auction
    records = [r for r in journal.records
               if isinstance(r, TransitionRecord) and r.scope == scope
               and spec is not None and r.trigger == spec.override]
    note = controller.last_note("auction", scope)
    return bool(records) and note is not None and (
        note.data.get("override") is True or status.state is AuctionState.OPENED_WITHOUT_CROSS)
