"""Value types: what a participant asks for (`Request`) and what the gate answers (`Decision`).

The request enums are `IntEnum`s so that they hash as ints, and every valid combination of the
fields that acceptance rules look at (a *request kind*) gets a dense integer `key` computed once,
when the request is built. The gate answers a request by indexing a tuple with that key.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Final

import attrs

from .codes import Reason
from .errors import ConfigurationError, InvalidRequestError

VENUE: Final = "venue"
"""The scope name of the venue as a whole; any other scope is an instrument."""


class Action(enum.IntEnum):
    """What a request asks the venue to do."""

    NEW_ORDER = 0
    AMEND = 1
    CANCEL = 2
    MASS_CANCEL = 3
    ADD_MARGIN = 4
    REMOVE_MARGIN = 5
    DEPOSIT = 6
    WITHDRAWAL = 7


class OrderType(enum.IntEnum):
    """The order type of a new order or of the order an amend changes."""

    LIMIT = 0
    MARKET = 1
    STOP_MARKET = 2
    STOP_LIMIT = 3


class TimeInForce(enum.IntEnum):
    """How long an order may rest."""

    GTC = 0
    GTD = 1
    IOC = 2
    FOK = 3


class Origin(enum.IntEnum):
    """Who sends the request."""

    CLIENT = 0
    MARKET_MAKER = 1
    LIQUIDATION = 2
    OPERATOR = 3


ORDER_ACTIONS: Final = frozenset({Action.NEW_ORDER, Action.AMEND})
"""Actions that carry an order type, a time in force and the post-only/reduce-only flags."""

ORDER_ENTRY_ACTIONS: Final = frozenset(
    {Action.NEW_ORDER, Action.AMEND, Action.CANCEL, Action.MASS_CANCEL}
)
"""Actions that touch the order book."""

INSTRUMENT_REQUIRED: Final = frozenset({Action.NEW_ORDER, Action.AMEND, Action.CANCEL})
_RESTING_TIFS: Final = frozenset({TimeInForce.GTC, TimeInForce.GTD})
_IMMEDIATE_TIFS: Final = frozenset({TimeInForce.IOC, TimeInForce.FOK})


@attrs.frozen
class RequestKind:
    """The fields of a request that acceptance rules look at; one per dense key."""

    action: Action
    order_type: OrderType | None
    time_in_force: TimeInForce | None
    post_only: bool
    reduce_only: bool
    origin: Origin

    @property
    def needs_immediate_execution(self) -> bool:
        """Whether accepting this request would need the book to match now (market, IOC, FOK)."""
        return self.action in ORDER_ACTIONS and (
            self.order_type is OrderType.MARKET or self.time_in_force in _IMMEDIATE_TIFS
        )

    def describe(self) -> str:
        """A short human description, e.g. ``NEW_ORDER LIMIT GTC post_only origin=CLIENT``."""
        parts: list[str] = [self.action.name]
        if self.order_type is not None and self.time_in_force is not None:
            parts += [self.order_type.name, self.time_in_force.name]
        parts += [flag for flag, on in (("post_only", self.post_only),
                                         ("reduce_only", self.reduce_only)) if on]
        parts.append(f"origin={self.origin.name}")
        return " ".join(parts)


def _tifs_for(action: Action, order_type: OrderType) -> tuple[TimeInForce, ...]:
    if action is Action.AMEND:
        return (TimeInForce.GTC, TimeInForce.GTD)  # only resting orders can be amended
    if order_type is OrderType.MARKET:
        return (TimeInForce.IOC, TimeInForce.FOK)  # a market order never rests
    return tuple(TimeInForce)


def _enumerate_kinds() -> tuple[RequestKind, ...]:
    kinds: list[RequestKind] = []
    for action in Action:
        for origin in Origin:
            if action not in ORDER_ACTIONS:
                kinds.append(RequestKind(action, None, None, False, False, origin))
                continue
            for order_type in OrderType:
                if action is Action.AMEND and order_type is OrderType.MARKET:
                    continue
                for tif in _tifs_for(action, order_type):
                    post_only_options = (
                        (False, True)
                        if order_type is OrderType.LIMIT and tif in _RESTING_TIFS
                        else (False,)
                    )
                    for post_only in post_only_options:
                        kinds.extend(
                            RequestKind(action, order_type, tif, post_only, reduce_only, origin)
                            for reduce_only in (False, True)
                        )
    return tuple(kinds)


ALL_KINDS: Final[tuple[RequestKind, ...]] = _enumerate_kinds()
"""Every valid request kind; `ALL_KINDS[request.key]` is the kind of `request`."""

_KEY_OF: Final[dict[tuple[object, ...], int]] = {
    (k.action, k.order_type, k.time_in_force, k.post_only, k.reduce_only, k.origin): i
    for i, k in enumerate(ALL_KINDS)
}


def default_time_in_force(action: Action, order_type: OrderType | None) -> TimeInForce | None:
    """The time in force a request gets when none is given: IOC for market orders, else GTC."""
    if action not in ORDER_ACTIONS or order_type is None:
        return None
    return TimeInForce.IOC if order_type is OrderType.MARKET else TimeInForce.GTC


def kind_key(
    action: object,
    order_type: object,
    time_in_force: object,
    post_only: object,
    reduce_only: object,
    origin: object,
) -> int:
    """Return the dense key of a request kind, or -1 when the combination is not valid."""
    return _KEY_OF.get((action, order_type, time_in_force, post_only, reduce_only, origin), -1)


def _expect(field: str, value: object, cls: type, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if type(value) is not cls:
        names = f"a {cls.__name__}" + (" or None" if allow_none else "")
        raise InvalidRequestError(field, value, names)


def _check_order_fields(request: Request) -> None:
    action, order_type, tif = request.action, request.order_type, request.time_in_force
    if action not in ORDER_ACTIONS:
        for field, value in (("order_type", order_type), ("time_in_force", tif)):
            if value is not None:
                raise InvalidRequestError(field, value, f"None for {action.name}")
        for field, flag in (("post_only", request.post_only),
                            ("reduce_only", request.reduce_only)):
            if flag:
                raise InvalidRequestError(field, flag, f"False for {action.name}")
        return
    if order_type is None:
        raise InvalidRequestError("order_type", None, f"an OrderType for {action.name}")
    if action is Action.AMEND and order_type is OrderType.MARKET:
        raise InvalidRequestError("order_type", order_type, "a resting order type for AMEND")
    if tif not in _tifs_for(action, order_type):
        allowed = ", ".join(t.name for t in _tifs_for(action, order_type))
        raise InvalidRequestError(
            "time_in_force", tif, f"one of {allowed} for {action.name} {order_type.name}"
        )
    if request.post_only and (order_type is not OrderType.LIMIT or tif not in _RESTING_TIFS):
        raise InvalidRequestError(
            "post_only", True, f"False for {order_type.name} {tif.name} (post-only needs LIMIT GTC/GTD)"
        )


@attrs.frozen(cache_hash=True)
class Request:
    """One thing a participant asks for: a new order, amend, cancel, margin change, transfer.

    Build it with keyword arguments or the `new_order` / `cancel` / ... shortcuts. Any missing,
    mistyped or inconsistent field raises `InvalidRequestError` naming the field; a `Request`
    that exists is always valid and carries its precomputed `key`.

    Example:
        >>> r = Request.new_order("BTC-USDT-SWAP", OrderType.LIMIT, post_only=True)
        >>> r.time_in_force.name
        'GTC'
    """

    action: Action
    instrument: str | None = None
    order_type: OrderType | None = None
    time_in_force: TimeInForce | None = None
    post_only: bool = False
    reduce_only: bool = False
    origin: Origin = Origin.CLIENT
    key: int = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        _expect("action", self.action, Action)
        _expect("order_type", self.order_type, OrderType, allow_none=True)
        _expect("time_in_force", self.time_in_force, TimeInForce, allow_none=True)
        _expect("post_only", self.post_only, bool)
        _expect("reduce_only", self.reduce_only, bool)
        _expect("origin", self.origin, Origin)
        self._check_instrument()
        if self.time_in_force is None:
            object.__setattr__(
                self, "time_in_force", default_time_in_force(self.action, self.order_type)
            )
        _check_order_fields(self)
        key = kind_key(self.action, self.order_type, self.time_in_force,
                       self.post_only, self.reduce_only, self.origin)
        if key < 0:  # pragma: no cover - the checks above admit only enumerated kinds
            raise InvalidRequestError("action", self.action, "a valid combination of fields")
        object.__setattr__(self, "key", key)

    def _check_instrument(self) -> None:
        instrument = self.instrument
        if instrument is None:
            if self.action in INSTRUMENT_REQUIRED:
                raise InvalidRequestError("instrument", None, f"an instrument for {self.action.name}")
            return
        if type(instrument) is not str:
            raise InvalidRequestError("instrument", instrument, "a str or None")
        if not instrument or instrument != instrument.strip():
            raise InvalidRequestError("instrument", instrument, "a non-empty name, no outer spaces")
        if instrument == VENUE:
            raise InvalidRequestError("instrument", instrument, f"any name but {VENUE!r} (reserved)")

    @property
    def kind(self) -> RequestKind:
        """The request kind (the fields acceptance rules look at)."""
        return ALL_KINDS[self.key]

    @classmethod
    def new_order(
        cls,
        instrument: str,
        order_type: OrderType,
        time_in_force: TimeInForce | None = None,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        origin: Origin = Origin.CLIENT,
    ) -> Request:
        """A new order; the time in force defaults to IOC for market orders, else GTC."""
        return cls(Action.NEW_ORDER, instrument, order_type, time_in_force,
                   post_only, reduce_only, origin)

    @classmethod
    def amend(
        cls,
        instrument: str,
        order_type: OrderType = OrderType.LIMIT,
        time_in_force: TimeInForce | None = None,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        origin: Origin = Origin.CLIENT,
    ) -> Request:
        """An amend of a resting order; the fields describe the order after the amend."""
        return cls(Action.AMEND, instrument, order_type, time_in_force,
                   post_only, reduce_only, origin)

    @classmethod
    def cancel(cls, instrument: str, *, origin: Origin = Origin.CLIENT) -> Request:
        """A cancel of one order."""
        return cls(Action.CANCEL, instrument, origin=origin)

    @classmethod
    def mass_cancel(
        cls, instrument: str | None = None, *, origin: Origin = Origin.CLIENT
    ) -> Request:
        """A cancel of every order, on one instrument or (instrument None) everywhere."""
        return cls(Action.MASS_CANCEL, instrument, origin=origin)

    @classmethod
    def margin(
        cls, *, add: bool, instrument: str | None = None, origin: Origin = Origin.CLIENT
    ) -> Request:
        """A margin change: adding margin (add=True) or removing it."""
        action = Action.ADD_MARGIN if add else Action.REMOVE_MARGIN
        return cls(action, instrument, origin=origin)


@attrs.frozen
class Decision:
    """The gate's answer to one request: accepted, or rejected with a stable reason.

    Decisions are built when a policy is compiled and shared between requests: compare them by
    their fields, never keep per-request data on them.
    """

    accepted: bool
    reason: Reason
    phase: str
    scope: str
    message: str

    def __str__(self) -> str:
        return self.message


def _roles(value: Iterable[str], field: str = "Actor.roles") -> frozenset[str]:
    if isinstance(value, str):  # one role, not the set of its letters
        return frozenset((value,))
    try:
        return frozenset(value)
    except TypeError:
        msg = f"{field} must be an iterable of strs, got {value!r}"
        raise ConfigurationError(msg) from None


@attrs.frozen
class Actor:
    """Who fires a transition: a person or an automation, with the roles it holds."""

    name: str
    roles: frozenset[str] = attrs.field(default=frozenset(), converter=_roles)

    def __attrs_post_init__(self) -> None:
        if type(self.name) is not str or not self.name.strip():
            msg = f"Actor.name must be a non-empty str, got {self.name!r}"
            raise ConfigurationError(msg)
        if not all(type(role) is str and role for role in self.roles):
            msg = f"Actor.roles must be non-empty strs, got {sorted(map(repr, self.roles))}"
            raise ConfigurationError(msg)
