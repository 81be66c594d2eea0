"""The parts of a policy: what a phase accepts, the phase, a transition, a problem found.

Pure data with no knowledge of the whole policy, so that validation can check them without
importing `Policy` (and `Policy` can run validation without a cycle).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from .codes import ProblemCode, Reason
from .disposition import IncomingAction, RestingRule, member_set
from .errors import ConfigurationError
from .model import (
    ALL_KINDS,
    ORDER_ACTIONS,
    ORDER_ENTRY_ACTIONS,
    Action,
    OrderType,
    Origin,
    RequestKind,
    TimeInForce,
    kind_key,
)
from .reopen import AuctionSpec, LiquidationRelease, MaxStay
from .text import shown

Verdict = tuple[Reason, str]
"""A rule's answer for one request kind: the reason, and the offending field as ``key=value``."""

_ACCEPT: Final[Verdict] = (Reason.ACCEPTED, "")


_to_actions = member_set("Acceptance.actions", "Action members")
_to_order_types = member_set("Acceptance.order_types", "OrderType members")
_to_tifs = member_set("Acceptance.time_in_force", "TimeInForce members")
_to_origins = member_set("Acceptance.origins", "Origin members")


# Named functions: the attrs plugin of mypy types converters only so.
def _actions(value: Iterable[Action]) -> frozenset[Action]:
    return _to_actions(value)


def _order_types(value: Iterable[OrderType]) -> frozenset[OrderType]:
    return _to_order_types(value)


def _tifs(value: Iterable[TimeInForce]) -> frozenset[TimeInForce]:
    return _to_tifs(value)


def _origins(value: Iterable[Origin]) -> frozenset[Origin]:
    return _to_origins(value)


def _names(value: Iterable[str]) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    try:
        return tuple(value)
    except Exception:  # not iterable, or its iterator raises
        msg = f"TransitionSpec.guards must be a guard name or an iterable of them, got {shown(value)}"
        raise ConfigurationError(msg) from None


@attrs.frozen
class Acceptance:
    """What a phase accepts, as data.

    A request is accepted when its action is in `actions`, its origin in `origins`, and — for new
    orders and amends — its order type in `order_types`, its time in force in `time_in_force`,
    and it is post-only / reduce-only where those are required. The first rule that fails gives
    the reason, in that order.
    """

    actions: frozenset[Action] = attrs.field(default=frozenset(), converter=_actions)
    order_types: frozenset[OrderType] = attrs.field(
        default=frozenset(OrderType), converter=_order_types
    )
    time_in_force: frozenset[TimeInForce] = attrs.field(
        default=frozenset(TimeInForce), converter=_tifs
    )
    origins: frozenset[Origin] = attrs.field(default=frozenset(Origin), converter=_origins)
    post_only: bool = False
    reduce_only: bool = False

    @classmethod
    def everything(cls) -> Acceptance:
        """Accept every request."""
        return cls(actions=frozenset(Action))

    @classmethod
    def nothing(cls) -> Acceptance:
        """Accept no request at all."""
        return cls()

    def evaluate(self, kind: RequestKind) -> Verdict:
        """Return the verdict of these rules for one request kind.

        Raises:
            ConfigurationError: `kind` is not a `RequestKind`.
        """
        if not isinstance(kind, RequestKind):
            msg = f"kind must be a RequestKind (request.kind), got {shown(kind)}"
            raise ConfigurationError(msg)
        if kind.action not in self.actions:
            closed = not (self.actions & ORDER_ENTRY_ACTIONS)
            reason = Reason.PHASE_HALTED if closed else Reason.ACTION_NOT_ALLOWED
            return reason, f"action={kind.action.name}"
        if kind.origin not in self.origins:
            return Reason.ORIGIN_NOT_ALLOWED, f"origin={kind.origin.name}"
        if kind.action not in ORDER_ACTIONS:
            return _ACCEPT
        if kind.order_type not in self.order_types:
            return Reason.ORDER_TYPE_NOT_ALLOWED, f"order_type={_name(kind.order_type)}"
        if kind.time_in_force not in self.time_in_force:
            return Reason.TIME_IN_FORCE_NOT_ALLOWED, f"time_in_force={_name(kind.time_in_force)}"
        if self.post_only and not kind.post_only:
            return Reason.POST_ONLY_REQUIRED, "post_only=False"
        if self.reduce_only and not kind.reduce_only:
            return Reason.REDUCE_ONLY_REQUIRED, "reduce_only=False"
        return _ACCEPT


def _name(value: OrderType | TimeInForce | None) -> str:
    return "None" if value is None else value.name


_to_deferred = member_set("PhaseSpec.defers", "Action members")


def _deferred(value: Iterable[Action]) -> frozenset[Action]:
    return _to_deferred(value)


def _rules(value: Iterable[RestingRule]) -> tuple[RestingRule, ...]:
    if not isinstance(value, str | bytes):
        try:
            return tuple(value)
        except Exception:  # noqa: S110 - not iterable, or its iterator raises
            pass
    msg = f"PhaseSpec.resting must be an iterable of RestingRule, got {shown(value)}"
    raise ConfigurationError(msg)


@attrs.frozen
class PhaseSpec:
    """One phase: what it accepts and what the engine itself may do while in it.

    ``resting`` says what entering the phase does to resting orders, by class (first match
    wins, no match keeps the order); ``incoming`` whether a phase that requires post-only
    refuses a plain limit order or accepts it converted (see `RestingRule`, `IncomingAction`).
    ``defers`` names actions the phase does not process but holds (`Reason.DEFERRED`) until a
    phase on its way back to normal processes them: deposits and withdrawals while a wallet
    link is down, as the other venue of December 2022 did.

    How the phase reopens (see `AuctionSpec`, `MaxStay`, `LiquidationRelease`): ``auction``
    makes it a call auction; ``max_stay`` bounds how long a scope stays in it;
    ``liquidation_release`` lets liquidations resume on a clock (delay, then a rate) in a
    matching phase that otherwise defers them; ``funding`` says whether funding and interest
    accrue while in it (False: frozen, as they should be while users cannot act).
    """

    name: str
    accepts: Acceptance
    matching: bool
    stop_triggers: bool = False
    liquidations: bool = False
    description: str = ""
    resting: tuple[RestingRule, ...] = attrs.field(default=(), converter=_rules)
    incoming: IncomingAction = IncomingAction.REFUSE
    defers: frozenset[Action] = attrs.field(default=frozenset(), converter=_deferred)
    auction: AuctionSpec | None = None
    max_stay: MaxStay | None = None
    liquidation_release: LiquidationRelease | None = None
    funding: bool = True

    @property
    def capabilities(self) -> frozenset[str]:
        """The engine activities this phase allows: matching, stop_triggers, liquidations."""
        flags = (("matching", self.matching), ("stop_triggers", self.stop_triggers),
                 ("liquidations", self.liquidations))
        return frozenset(name for name, on in flags if on)


@attrs.frozen
class TransitionSpec:
    """A named trigger that moves a scope from `source` to `dest`, if every guard agrees."""

    trigger: str
    source: str
    dest: str
    guards: tuple[str, ...] = attrs.field(default=(), converter=_names)


@attrs.frozen
class Problem:
    """One problem found in a policy: a stable code, where it is, and what is wrong."""

    code: ProblemCode
    location: str
    message: str
    source: str = ""
    """The file the policy was read from ("" for a policy built in code)."""
    line: int | None = None
    """The 1-based line in `source` where the problem is, when known."""

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}: " if self.line else (
            f"{self.source}: " if self.source else "")
        return f"{where}{self.code.value} at {self.location}: {self.message}"


_REFUSED_ACTION: Final = frozenset({Reason.ACTION_NOT_ALLOWED, Reason.PHASE_HALTED})


def phase_verdicts(spec: PhaseSpec,
                   until: Mapping[Action, str] | None = None) -> tuple[Verdict, ...]:
    """The verdict of `spec` on every request kind, by key, incoming conversion and deferral
    included.

    With ``incoming = POST_ONLY``, a plain limit order refused only for not being post-only
    (its post-only twin is accepted) is accepted as post-only instead. An action in ``defers``
    that the rules refuse for the action itself is `Reason.DEFERRED`; its detail names the phase
    it waits for (``until=...``) when `until` says.
    """
    verdicts = [spec.accepts.evaluate(kind) for kind in ALL_KINDS]
    if spec.defers:
        for key, kind in enumerate(ALL_KINDS):
            if kind.action in spec.defers and verdicts[key][0] in _REFUSED_ACTION:
                wait = (until or {}).get(kind.action)
                detail = f"action={kind.action.name}" + (f" until={wait}" if wait else "")
                verdicts[key] = (Reason.DEFERRED, detail)
    if spec.incoming == IncomingAction.POST_ONLY:
        for key, kind in enumerate(ALL_KINDS):
            if verdicts[key][0] is not Reason.POST_ONLY_REQUIRED:
                continue
            twin = kind_key(kind.action, kind.order_type, kind.time_in_force, True,
                            kind.reduce_only, kind.origin)
            if twin >= 0 and verdicts[twin][0] is Reason.ACCEPTED:
                verdicts[key] = (Reason.ACCEPTED_AS_POST_ONLY, "post_only=False")
    return tuple(verdicts)


def is_relaxing(
    source: PhaseSpec, dest: PhaseSpec, source_keys: frozenset[int], dest_keys: frozenset[int]
) -> bool:
    """Whether moving from `source` to `dest` permits anything `source` did not."""
    return bool(dest_keys - source_keys) or bool(dest.capabilities - source.capabilities)
