"""What happens to orders when a scope enters a phase: resting ones by class, incoming ones.

Real venues decide this per order class (FIX ExecInst 18: K cancel on trading halt, J reinstate
on trading halt, m suspend on trading halt); the policy states it as data, per phase entered:

- `RestingRule`: for the resting orders of one `OrderClass`, an action — `RestingAction.KEEP`,
  `CANCEL` (a system cancel, `SystemCancel`), `SUSPEND` until a named phase (taken out of the
  book, reinstated when the scope enters that phase), or `POST_ONLY` (stays, but may no longer
  take liquidity). The first rule whose class matches decides; no rule keeps the order.
- `IncomingAction`: what a phase that requires post-only does with an incoming plain limit
  order: `REFUSE` it (POST_ONLY_REQUIRED) or accept it converted to post-only
  (`Reason.ACCEPTED_AS_POST_ONLY`), as AscendEX did for 30 minutes after its 2020 restart.

A `Disposition` is a phase's rules compiled into a table indexed by the request key of the
resting order's new-order request: what an engine's listener applies to each order, in O(1).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from typing import Final, TypeVar

import attrs

from .codes import Reason
from .errors import ConfigurationError
from .model import ALL_KINDS, Action, OrderType, Origin, Request, RequestKind, TimeInForce
from .text import shown


class RestingAction(enum.StrEnum):
    """What a phase's entry does to a resting order of a class."""

    KEEP = "KEEP"
    CANCEL = "CANCEL"
    SUSPEND = "SUSPEND"
    POST_ONLY = "POST_ONLY"

    @property
    def fix_exec_inst(self) -> str | None:
        """The FIX ExecInst (18) value that asks for this on a trading halt, if there is one:
        J reinstate (keep), K cancel, m suspend."""
        return _EXEC_INST.get(self)


_EXEC_INST: Final = {RestingAction.KEEP: "J", RestingAction.CANCEL: "K",
                     RestingAction.SUSPEND: "m"}


class IncomingAction(enum.StrEnum):
    """What a phase that requires post-only does with an incoming plain limit order."""

    REFUSE = "REFUSE"
    POST_ONLY = "POST_ONLY"


_M = TypeVar("_M")


def member_set(where: str, members: str) -> Callable[[Iterable[_M]], frozenset[_M]]:
    """A converter to a frozenset that names `where` when the value is no iterable of hashables.

    What the members are is checked when a `Policy` is built (INVALID_VALUE, with every other
    problem), so that a policy file reports them all at once.
    """

    def convert(value: Iterable[_M]) -> frozenset[_M]:
        try:
            return frozenset(value)
        except Exception:  # not iterable, unhashable, a hostile member
            msg = f"{where} must be an iterable of {members}, got {shown(value)}"
            raise ConfigurationError(msg) from None

    return convert


_to_order_types = member_set("OrderClass.order_types", "OrderType members")
_to_tifs = member_set("OrderClass.time_in_force", "TimeInForce members")
_to_origins = member_set("OrderClass.origins", "Origin members")


# Named functions: the attrs plugin of mypy types converters only so.
def _order_types(value: Iterable[OrderType]) -> frozenset[OrderType]:
    return _to_order_types(value)


def _tifs(value: Iterable[TimeInForce]) -> frozenset[TimeInForce]:
    return _to_tifs(value)


def _origins(value: Iterable[Origin]) -> frozenset[Origin]:
    return _to_origins(value)


@attrs.frozen
class OrderClass:
    """A class of resting orders: those whose fields are all in the given sets.

    ``post_only`` and ``reduce_only`` are True or False to require the flag on or off, None
    for either. The default class holds every order.

    Example:
        >>> stops = OrderClass(order_types={OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
        >>> stops.matches(Request.new_order("BTC-USDT", OrderType.STOP_LIMIT).kind)
        True
    """

    order_types: frozenset[OrderType] = attrs.field(default=frozenset(OrderType),
                                                    converter=_order_types)
    time_in_force: frozenset[TimeInForce] = attrs.field(default=frozenset(TimeInForce),
                                                        converter=_tifs)
    origins: frozenset[Origin] = attrs.field(default=frozenset(Origin), converter=_origins)
    post_only: bool | None = None
    reduce_only: bool | None = None

    def matches(self, kind: RequestKind) -> bool:
        """Whether a resting order of `kind` (its new order's kind) is in this class.

        Raises:
            ConfigurationError: `kind` is not a `RequestKind`.
        """
        if not isinstance(kind, RequestKind):
            msg = f"kind must be a RequestKind (request.kind), got {shown(kind)}"
            raise ConfigurationError(msg)
        return (kind.order_type in self.order_types and kind.time_in_force in self.time_in_force
                and kind.origin in self.origins
                and (self.post_only is None or kind.post_only is self.post_only)
                and (self.reduce_only is None or kind.reduce_only is self.reduce_only))

    def describe(self) -> str:
        """A short description, e.g. ``STOP_LIMIT/STOP_MARKET orders``."""
        parts = []
        if self.order_types != frozenset(OrderType):
            parts.append("/".join(sorted(t.name for t in self.order_types)))
        if self.time_in_force != frozenset(TimeInForce):
            parts.append("/".join(sorted(t.name for t in self.time_in_force)))
        for flag in ("post_only", "reduce_only"):
            value = getattr(self, flag)
            if value is not None:
                parts.append(flag if value else f"not {flag}")
        text = " ".join(parts) + " orders" if parts else "all orders"
        if self.origins != frozenset(Origin):
            text += " from " + "/".join(sorted(o.name for o in self.origins))
        return text


@attrs.frozen
class RestingRule:
    """On entering the phase, do `action` to the resting orders of class `orders`.

    ``until`` (SUSPEND only) names the phase whose entry puts them back in the book.

    Example:
        >>> rule = RestingRule(RestingAction.SUSPEND, OrderClass(order_types={OrderType.STOP_LIMIT}),
        ...                    until="NORMAL")
        >>> rule.describe()
        'SUSPEND STOP_LIMIT orders until NORMAL'
    """

    action: RestingAction
    orders: OrderClass = OrderClass()
    until: str = ""

    def describe(self) -> str:
        """The rule in words."""
        until = f" until {self.until}" if self.until else ""
        return f"{self.action.value} {self.orders.describe()}{until}"


KEEP: Final = RestingRule(RestingAction.KEEP)
"""The rule of an order no rule matches: it stays as it is."""

_NEW_ORDER: Final = Action.NEW_ORDER


def _compile(
    rules: tuple[object, ...],
) -> tuple[tuple[RestingRule, ...], tuple[RestingRule, ...]] | None:
    """The rules and the rule of every request key (KEEP for all but new orders), or None if
    a rule is no `RestingRule` of an `OrderClass` with an action."""
    if not all(isinstance(r, RestingRule) and isinstance(r.orders, OrderClass)
               and isinstance(r.action, RestingAction) for r in rules):
        return None
    checked: tuple[RestingRule, ...] = rules  # type: ignore[assignment]  # checked above
    return checked, tuple(next((r for r in checked if r.orders.matches(kind)), KEEP)
                          if kind.action is _NEW_ORDER else KEEP for kind in ALL_KINDS)


class Disposition:
    """What entering `phase` does to resting orders, by the kind of their new-order request.

    Built once per phase of a policy (`Policy.disposition`); `rule(request)` is a tuple index.

    Example:
        >>> from exchange_recovery import default_policy
        >>> halted = default_policy().disposition("HALTED")
        >>> halted.rule(Request.new_order("BTC-USDT", OrderType.STOP_MARKET)).action.value
        'SUSPEND'
    """

    __slots__ = ("_table", "phase", "reinstates", "rules")

    def __init__(self, phase: str, rules: Iterable[RestingRule]) -> None:
        """Compile `rules` for the phase called `phase`.

        Raises:
            ConfigurationError: `phase` is not a str, or `rules` not an iterable of
                `RestingRule`s whose classes are `OrderClass`es of members.
        """
        if not isinstance(phase, str):
            msg = f"phase must be a phase name (a str), got {shown(phase)}"
            raise ConfigurationError(msg)
        compiled: tuple[tuple[RestingRule, ...], tuple[RestingRule, ...]] | None = None
        try:
            if not isinstance(rules, str | bytes):
                compiled = _compile(tuple(rules))
        except Exception:  # noqa: S110 - not iterable, its iterator raises, a member raises
            pass
        if compiled is None:
            msg = f"rules must be an iterable of RestingRule, got {shown(rules)}"
            raise ConfigurationError(msg)
        self.phase = phase
        """The phase entered."""
        self.rules = compiled[0]
        """The phase's rules, first match wins."""
        self.reinstates = phase
        """Orders suspended until this phase go back to the book now."""
        self._table = compiled[1]

    def rule(self, request: Request) -> RestingRule:
        """The rule for a resting order, given the new-order `request` it was entered with.

        Raises:
            ConfigurationError: `request` is not a new-order `Request`.
        """
        try:
            if request.action is _NEW_ORDER:
                return self._table[request.key]
        except Exception:  # not a Request  # noqa: S110
            pass
        msg = f"rule() needs the resting order's new-order Request, got {shown(request)}"
        raise ConfigurationError(msg)

    @property
    def changes_anything(self) -> bool:
        """Whether any resting order is cancelled, suspended or converted on entry."""
        return any(r.action is not RestingAction.KEEP for r in self.rules)

    def describe(self) -> str:
        """The rules in words, e.g. ``HALTED: CANCEL ... ; SUSPEND ...``."""
        rules = "; ".join(r.describe() for r in self.rules) or "keep all orders"
        return f"{self.phase}: {rules}"

    def __repr__(self) -> str:
        return f"<Disposition {self.describe()}>"


@attrs.frozen
class Deferrals:
    """What a phase change does to requests held by deferral (`Reason.DEFERRED`).

    ``released``: actions the source phase deferred and the destination processes: the engine
    processes the requests it holds for them now (checking each again). ``refused``: actions
    the source deferred that the destination neither processes nor defers, each with the
    destination's reason: the engine refuses (and reports) what it holds for them, e.g. a halt
    that turns deferral into refusal. ``waiting``: deferred by both: they keep waiting.

    Example:
        >>> from exchange_recovery import deferred_funds_policy
        >>> policy = deferred_funds_policy()
        >>> sorted(a.name for a in policy.deferrals("FUNDS_DEFERRED", "NORMAL").released)
        ['DEPOSIT', 'WITHDRAWAL']
    """

    released: frozenset[Action] = frozenset()
    refused: tuple[tuple[Action, Reason], ...] = ()
    waiting: frozenset[Action] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.released or self.refused or self.waiting)


NO_DEFERRALS: Final = Deferrals()
"""A change that concerns no held request."""
