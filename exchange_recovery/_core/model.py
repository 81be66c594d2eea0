"""Value types: what a participant asks for (`Request`) and what the gate answers (`Decision`).

The request enums are `IntEnum`s so that they hash as ints, and every valid combination of the
fields that acceptance rules look at (a *request kind*) gets a dense integer `key` computed once,
when the request is built. The gate answers a request by indexing a tuple with that key.

Building a request is on the per-order path too: `FIELDS` validates a whole field combination
with one dict probe, and a request is filled in through plain slot stores (see `_Unfrozen`).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any, Final

import attrs

from .codes import Reason
from .errors import ConfigurationError, InvalidRequestError
from .text import shown


class _Unshown:
    """Stands in for a refused value that cannot be shown at all (its repr raises)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def invalid(field: str, value: object, expected: str) -> InvalidRequestError:
    """The `InvalidRequestError` for `field`; a value whose repr raises is kept as its `shown`
    form, so that building the error can never raise instead."""
    try:
        repr(value)
    except Exception:  # see above
        value = _Unshown(shown(value))
    return InvalidRequestError(field, value, expected)


VENUE: Final = "venue"
"""The scope name of the venue as a whole; any other scope is an instrument."""

INSTRUMENT: Final = "instrument"
"""`Decision.scope` when an instrument's own phase decided (the venue's phase gives `VENUE`).

Decisions are shared by every instrument in the same phase, so they name the level that
decided, not the instrument: the request says which instrument it was.
"""


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
    CANCEL_WITHDRAWAL = 8


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


class Side(enum.Enum):
    """The side of an order (what `Gate.check_priced` compares with the opposite touch)."""

    BUY = "BUY"
    SELL = "SELL"


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


FieldEntry = tuple[int, Action, OrderType | None, TimeInForce | None, bool, bool, Origin, bool,
                   TimeInForce | None]
"""What `FIELDS` holds for one valid field combination: ``(key, action, order_type,
time_in_force, post_only, reduce_only, origin, instrument_optional, resolved_time_in_force)``."""


def _field_entries() -> dict[tuple[object, ...], FieldEntry]:
    entries: dict[tuple[object, ...], FieldEntry] = {}
    for key, k in enumerate(ALL_KINDS):
        optional = k.action not in INSTRUMENT_REQUIRED
        given = [k.time_in_force]
        if k.time_in_force is not None and k.time_in_force is default_time_in_force(
                k.action, k.order_type):
            given.append(None)  # the time in force left out: resolved here, not per request
        for tif in given:
            entries[(k.action, k.order_type, tif, k.post_only, k.reduce_only, k.origin)] = (
                key, k.action, k.order_type, tif, k.post_only, k.reduce_only, k.origin, optional,
                k.time_in_force)
    return entries


FIELDS: Final[dict[tuple[object, ...], FieldEntry]] = _field_entries()
"""Every valid ``(action, order_type, time_in_force, post_only, reduce_only, origin)``, the time
in force given or left out (None), to its `FieldEntry`: one probe validates a whole request.

A probe compares by ``==``, under which ``0``, ``False``, ``0.0`` and ``OrderType.LIMIT`` all
equal ``Action.NEW_ORDER``; so a hit counts only when each field *is* the entry's member (six
identity tests, cheaper than six type tests). Anything else takes the slow path that names the
field.
"""


def _tree(entries: dict[tuple[object, ...], FieldEntry]) -> dict[object, Any]:
    tree: dict[object, Any] = {}
    for fields, entry in entries.items():
        level = tree
        for value in fields[:-1]:
            level = level.setdefault(value, {})
        level[fields[-1]] = entry
    return tree


FIELD_TREE: Final = _tree(FIELDS)
"""`FIELDS` as nested dicts: ``FIELD_TREE[action][order_type][time_in_force][post_only]
[reduce_only][origin]``. Six specialised dict subscripts cost less than building, hashing and
comparing a 6-tuple; a miss raises KeyError (TypeError for an unhashable field)."""

STRIP: Final = str.strip
"""``STRIP(name) is name`` passes a plain str without outer whitespace, fast: CPython returns
such a str itself, a str subclass gets a copy, and any other type raises TypeError. (Where an
interpreter copies anyway, a good name only takes the slow path, which accepts it.)"""

RESERVED_NAMES: Final = frozenset({"", VENUE})
"""Strs that are never an instrument: the empty name and the venue's scope name."""


def _expect(field: str, value: object, cls: type, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if type(value) is not cls:
        names = f"a {cls.__name__}" + (" or None" if allow_none else "")
        raise invalid(field, value, names)


def _check_instrument(action: Action, instrument: object) -> None:
    if instrument is None:
        if action in INSTRUMENT_REQUIRED:
            raise invalid("instrument", None, f"an instrument for {action.name}")
        return
    if type(instrument) is not str:
        raise invalid("instrument", instrument, "a str or None")
    if not instrument or instrument != instrument.strip():
        raise invalid("instrument", instrument, "a non-empty name, no outer spaces")
    if instrument == VENUE:
        raise invalid("instrument", instrument, f"any name but {VENUE!r} (reserved)")


def _check_order_fields(action: Action, order_type: OrderType | None, tif: TimeInForce | None,
                        post_only: bool, reduce_only: bool) -> None:
    if action not in ORDER_ACTIONS:
        for field, value in (("order_type", order_type), ("time_in_force", tif)):
            if value is not None:
                raise invalid(field, value, f"None for {action.name}")
        for field, flag in (("post_only", post_only), ("reduce_only", reduce_only)):
            if flag:
                raise invalid(field, flag, f"False for {action.name}")
        return
    if order_type is None:
        raise invalid("order_type", None, f"an OrderType for {action.name}")
    if action is Action.AMEND and order_type is OrderType.MARKET:
        raise invalid("order_type", order_type, "a resting order type for AMEND")
    if tif not in _tifs_for(action, order_type):
        allowed = ", ".join(t.name for t in _tifs_for(action, order_type))
        raise invalid(
            "time_in_force", tif, f"one of {allowed} for {action.name} {order_type.name}"
        )
    if post_only and (order_type is not OrderType.LIMIT or tif not in _RESTING_TIFS):
        raise invalid(
            "post_only", True, f"False for {order_type.name} {_name(tif)} (post-only needs LIMIT GTC/GTD)"
        )


def _name(value: TimeInForce | None) -> str:
    return "None" if value is None else value.name


def validate_fields(
    action: Action,
    instrument: str | None,
    order_type: OrderType | None,
    time_in_force: TimeInForce | None,
    post_only: bool,
    reduce_only: bool,
    origin: Origin,
) -> FieldEntry:
    """Check request fields one by one; return their `FieldEntry` or raise naming the field.

    The slow, explaining twin of the `FIELDS` probe, for values of any type: fields are checked
    in the order the errors are documented (types, instrument, then the order fields), and the
    first problem is raised.

    Raises:
        InvalidRequestError: a field is missing, mistyped or inconsistent (names the field).
    """
    _expect("action", action, Action)
    _expect("order_type", order_type, OrderType, allow_none=True)
    _expect("time_in_force", time_in_force, TimeInForce, allow_none=True)
    _expect("post_only", post_only, bool)
    _expect("reduce_only", reduce_only, bool)
    _expect("origin", origin, Origin)
    _check_instrument(action, instrument)
    tif = time_in_force if time_in_force is not None else default_time_in_force(action, order_type)
    _check_order_fields(action, order_type, tif, post_only, reduce_only)
    entry = FIELDS.get((action, order_type, time_in_force, post_only, reduce_only, origin))
    if entry is None:  # pragma: no cover - the checks above admit only enumerated kinds
        raise invalid("action", action, "a valid combination of fields")
    return entry


class _RequestSlots:
    """The storage of a `Request`, declared apart so that `_Unfrozen` can share its layout."""

    __slots__ = ("__weakref__", "action", "instrument", "key", "order_type", "origin", "post_only",
                 "reduce_only", "time_in_force")

    action: Action
    instrument: str | None
    order_type: OrderType | None
    time_in_force: TimeInForce | None
    post_only: bool
    reduce_only: bool
    origin: Origin
    key: int


class _Unfrozen(_RequestSlots):
    """A `Request` being filled in: the same layout without the frozen ``__setattr__``.

    Its slot stores are plain (and specialised by the interpreter); when the fields are set, the
    object becomes a `Request` by ``__class__`` assignment, which CPython allows between classes
    of identical layout. Eight stores through attrs' frozen path cost ~4x as much.
    """

    __slots__ = ()


def _new_request(
    action: Action,
    instrument: str | None,
    order_type: OrderType | None,
    time_in_force: TimeInForce | None,
    post_only: bool,
    reduce_only: bool,
    origin: Origin,
) -> Request:
    """Build a `Request`: one probe of `FIELD_TREE` for the common case, else `validate_fields`."""
    try:
        key, a, ot, tif, po, ro, o, optional, resolved = FIELD_TREE[action][order_type][
            time_in_force][post_only][reduce_only][origin]
        valid = (a is action and ot is order_type and tif is time_in_force and po is post_only
                 and ro is reduce_only and o is origin
                 and ((instrument is None and optional)
                      or (STRIP(instrument) is instrument  # type: ignore[arg-type]  # None: TypeError
                          and instrument not in RESERVED_NAMES)))
    except Exception:  # not a valid combination, an unhashable field, not a str,
        valid = False  # a field whose hash raises: `validate_fields` names it
    if not valid:
        # Raises naming the field; returns only for good fields the probe did not take.
        key, *_, resolved = validate_fields(action, instrument, order_type, time_in_force,
                                            post_only, reduce_only, origin)
    request = _Unfrozen()
    request.action = action
    request.instrument = instrument
    request.order_type = order_type
    request.time_in_force = resolved
    request.post_only = post_only
    request.reduce_only = reduce_only
    request.origin = origin
    request.key = key
    request.__class__ = Request  # type: ignore[assignment]  # same layout: see _Unfrozen
    return request  # type: ignore[return-value]


_NEW_ORDER: Final = Action.NEW_ORDER
_AMEND: Final = Action.AMEND
_CANCEL: Final = Action.CANCEL
_MASS_CANCEL: Final = Action.MASS_CANCEL
_ADD_MARGIN: Final = Action.ADD_MARGIN
_REMOVE_MARGIN: Final = Action.REMOVE_MARGIN
_CANCEL_WITHDRAWAL: Final = Action.CANCEL_WITHDRAWAL
_LIMIT: Final = OrderType.LIMIT
_CLIENT: Final = Origin.CLIENT
# Enum members as module constants: on 3.11 ``Action.AMEND`` is a call of
# ``EnumType.__getattr__`` (~70 ns), a module global ~8 ns.


@attrs.frozen(init=False)
class Request(_RequestSlots):
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

    def __new__(
        cls,
        action: Action,
        instrument: str | None = None,
        order_type: OrderType | None = None,
        time_in_force: TimeInForce | None = None,
        post_only: bool = False,
        reduce_only: bool = False,
        origin: Origin = _CLIENT,
    ) -> Request:
        request = _new_request(action, instrument, order_type, time_in_force, post_only,
                               reduce_only, origin)
        if cls is not Request:  # a subclass (adding no slots): same layout again
            object.__setattr__(request, "__class__", cls)
        return request

    def __getnewargs__(self) -> tuple[object, ...]:
        """What `copy` and `pickle` pass to `__new__` (it validates them again)."""
        return (self.action, self.instrument, self.order_type, self.time_in_force,
                self.post_only, self.reduce_only, self.origin)

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
        origin: Origin = _CLIENT,
    ) -> Request:
        """A new order; the time in force defaults to IOC for market orders, else GTC."""
        return _new_request(_NEW_ORDER, instrument, order_type, time_in_force, post_only,
                            reduce_only, origin)

    @classmethod
    def amend(
        cls,
        instrument: str,
        order_type: OrderType = _LIMIT,
        time_in_force: TimeInForce | None = None,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        origin: Origin = _CLIENT,
    ) -> Request:
        """An amend of a resting order; the fields describe the order after the amend."""
        return _new_request(_AMEND, instrument, order_type, time_in_force, post_only,
                            reduce_only, origin)

    @classmethod
    def cancel(cls, instrument: str, *, origin: Origin = _CLIENT) -> Request:
        """A cancel of one order."""
        return _new_request(_CANCEL, instrument, None, None, False, False, origin)

    @classmethod
    def mass_cancel(cls, instrument: str | None = None, *, origin: Origin = _CLIENT) -> Request:
        """A cancel of every order, on one instrument or (instrument None) everywhere."""
        return _new_request(_MASS_CANCEL, instrument, None, None, False, False, origin)

    @classmethod
    def cancel_withdrawal(cls, *, origin: Origin = _CLIENT) -> Request:
        """A participant's cancel of their own pending (e.g. deferred) withdrawal."""
        return _new_request(_CANCEL_WITHDRAWAL, None, None, None, False, False, origin)

    @classmethod
    def margin(
        cls, *, add: bool, instrument: str | None = None, origin: Origin = _CLIENT
    ) -> Request:
        """A margin change: adding margin (add=True) or removing it."""
        if type(add) is not bool:
            raise invalid("add", add, "a bool")
        action = _ADD_MARGIN if add else _REMOVE_MARGIN
        return _new_request(action, instrument, None, None, False, False, origin)


@attrs.frozen
class Decision:
    """The gate's answer to one request: accepted, or rejected with a stable reason.

    Decisions are built when a policy is compiled and shared between requests and instruments:
    compare them by their fields, never keep per-request data on them. ``phase`` is the phase
    that decided and ``scope`` the level it belongs to: `VENUE`, or `INSTRUMENT` for the
    requested instrument's own phase (which instrument is the request's to say). An accepted
    request reports the instrument's phase when it has one of its own, else the venue's.

    A rejection may say when to come back: ``next_phase`` is the phase the policy's planned
    way back to normal leads to next (None when there is no single one), and ``retry_after``
    the clock time (the controller's clock: epoch seconds by default) before which that next
    step cannot happen, when a dwell guard on it says so (venue-level decisions only).
    ``reason`` `Reason.ACCEPTED_AS_POST_ONLY` accepts the order only if the engine enters it
    as post-only. ``reason`` `Reason.DEFERRED` (``deferred``) is neither: the request is valid
    but not processed now; the engine holds it until the scope enters ``until`` (listeners are
    told: `PhaseChange.deferrals`) or its owner cancels it. ``accepted`` is False for it, so an
    engine that knows nothing of deferral refuses it: the safe side.
    """

    accepted: bool
    reason: Reason
    phase: str
    scope: str
    message: str
    next_phase: str | None = None
    retry_after: float | None = None
    until: str | None = None

    @property
    def deferred(self) -> bool:
        """Whether the request is deferred: not processed now (``accepted`` is False), but
        held until the scope enters ``until``, the phase that processes it."""
        return self.reason is Reason.DEFERRED

    def __str__(self) -> str:
        return self.message


def _roles(value: Iterable[str], field: str = "Actor.roles") -> frozenset[str]:
    if type(value) is str:  # one role, not the set of its letters
        return frozenset((value,))
    try:
        return frozenset(value)
    except Exception:  # not iterable, an unhashable or a hostile member
        msg = f"{field} must be a str or an iterable of strs, got {shown(value)}"
        raise ConfigurationError(msg) from None


@attrs.frozen
class Actor:
    """Who fires a transition: a person or an automation, with the roles it holds."""

    name: str
    roles: frozenset[str] = attrs.field(default=frozenset(), converter=_roles)

    def __attrs_post_init__(self) -> None:
        if type(self.name) is not str or not self.name.strip():
            msg = f"Actor.name must be a non-empty str, got {shown(self.name)}"
            raise ConfigurationError(msg)
        if not all(type(role) is str and role for role in self.roles):
            msg = f"Actor.roles must be non-empty strs, got {shown(sorted(map(shown, self.roles)))}"
            raise ConfigurationError(msg)
