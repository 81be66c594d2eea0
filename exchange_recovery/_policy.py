"""Policies: the phases, what each accepts, and the transitions between them — all data.

A `Policy` validates itself when it is built (every problem is reported at once, see
`_validation`) and precomputes, for every phase, the verdict on every request kind. The gate
compiles those verdicts into lookup tables; nothing here runs on the per-order path.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

import attrs

from ._codes import ProblemCode, Reason
from ._criteria import GuardSpec, Permission
from ._exceptions import ConfigurationError, InvalidPolicyError
from ._model import (
    ALL_KINDS,
    ORDER_ACTIONS,
    ORDER_ENTRY_ACTIONS,
    Action,
    OrderType,
    Origin,
    Request,
    RequestKind,
    TimeInForce,
)

Verdict = tuple[Reason, str]
"""A rule's answer for one request kind: the reason, and the offending field as ``key=value``."""

_ACCEPT: Final[Verdict] = (Reason.ACCEPTED, "")


def _actions(value: Iterable[Action]) -> frozenset[Action]:
    return frozenset(value)


def _order_types(value: Iterable[OrderType]) -> frozenset[OrderType]:
    return frozenset(value)


def _tifs(value: Iterable[TimeInForce]) -> frozenset[TimeInForce]:
    return frozenset(value)


def _origins(value: Iterable[Origin]) -> frozenset[Origin]:
    return frozenset(value)


def _phase_tuple(value: Iterable[PhaseSpec]) -> tuple[PhaseSpec, ...]:
    return tuple(value)


def _transition_tuple(value: Iterable[TransitionSpec]) -> tuple[TransitionSpec, ...]:
    return tuple(value)


def _guard_tuple(value: Iterable[GuardSpec]) -> tuple[GuardSpec, ...]:
    return tuple(value)


def _permission_tuple(value: Iterable[Permission]) -> tuple[Permission, ...]:
    return tuple(value)


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


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
        """Return the verdict of these rules for one request kind."""
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


@attrs.frozen
class PhaseSpec:
    """One phase: what it accepts and what the engine itself may do while in it."""

    name: str
    accepts: Acceptance
    matching: bool
    stop_triggers: bool = False
    liquidations: bool = False
    description: str = ""

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


class _Derived:
    """Lookup structures computed once from a valid policy."""

    __slots__ = ("accepted", "edges", "guards", "permissions", "phases", "relaxing", "triggers",
                 "verdicts")

    def __init__(self, policy: Policy) -> None:
        self.phases: dict[str, PhaseSpec] = {p.name: p for p in policy.phases}
        self.edges: dict[tuple[str, str], TransitionSpec] = {
            (t.source, t.trigger): t for t in policy.transitions
        }
        self.triggers = frozenset(t.trigger for t in policy.transitions)
        self.guards: dict[str, GuardSpec] = {g.name: g for g in policy.guards}
        self.permissions: dict[str, Permission] = {p.trigger: p for p in policy.permissions}
        self.verdicts: dict[str, tuple[Verdict, ...]] = {
            p.name: tuple(p.accepts.evaluate(kind) for kind in ALL_KINDS) for p in policy.phases
        }
        self.accepted: dict[str, frozenset[int]] = {
            name: frozenset(i for i, v in enumerate(verdicts) if v[0] is Reason.ACCEPTED)
            for name, verdicts in self.verdicts.items()
        }
        self.relaxing: dict[tuple[str, str], bool] = {
            (a, b): is_relaxing(self.phases[a], self.phases[b], self.accepted[a], self.accepted[b])
            for a in self.phases for b in self.phases
        }


def is_relaxing(
    source: PhaseSpec, dest: PhaseSpec, source_keys: frozenset[int], dest_keys: frozenset[int]
) -> bool:
    """Whether moving from `source` to `dest` permits anything `source` did not."""
    return bool(dest_keys - source_keys) or bool(dest.capabilities - source.capabilities)


@attrs.frozen
class Policy:
    """A validated set of phases, acceptance rules and transitions.

    Building one runs every check of `_validation` and raises `InvalidPolicyError` listing all
    problems at once. See `default_policy()` for the December-2022-style restart policy.

    ``guards`` declares built-in guards (`GuardSpec`) that transitions name; ``permissions``
    (`Permission`) says which roles may fire which trigger, enforced by a `RoleAuthorizer`.
    Both default to empty, which leaves guards to the controller and authorization open.
    """

    name: str
    phases: tuple[PhaseSpec, ...] = attrs.field(converter=_phase_tuple)
    transitions: tuple[TransitionSpec, ...] = attrs.field(converter=_transition_tuple)
    initial: str = "NORMAL"
    normal: str = "NORMAL"
    fail_safe: str = "HALTED"
    halt_trigger: str = "halt"
    description: str = ""
    guards: tuple[GuardSpec, ...] = attrs.field(default=(), converter=_guard_tuple)
    permissions: tuple[Permission, ...] = attrs.field(default=(), converter=_permission_tuple)
    _derived: _Derived = attrs.field(init=False, repr=False, eq=False, hash=False)

    def __attrs_post_init__(self) -> None:
        from ._validation import find_problems  # noqa: PLC0415 - validation imports this module

        problems = find_problems(self)
        if problems:
            raise InvalidPolicyError(problems)
        object.__setattr__(self, "_derived", _Derived(self))

    @property
    def phase_names(self) -> tuple[str, ...]:
        """The phase names, in definition order."""
        return tuple(p.name for p in self.phases)

    @property
    def triggers(self) -> frozenset[str]:
        """Every trigger name the policy defines."""
        return self._derived.triggers

    def phase(self, name: str) -> PhaseSpec:
        """Return the phase called `name`; raise `ConfigurationError` if there is none."""
        try:
            return self._derived.phases[name]
        except (KeyError, TypeError):
            msg = f"unknown phase {name!r}; expected one of {', '.join(self.phase_names)}"
            raise ConfigurationError(msg) from None

    def transition(self, source: str, trigger: str) -> TransitionSpec | None:
        """The transition `trigger` fires from `source`, or None if it fires none."""
        return self._derived.edges.get((source, trigger))

    def guard(self, name: str) -> GuardSpec | None:
        """The built-in guard declared as `name`, or None (a custom guard, or no guard)."""
        return self._derived.guards.get(name)

    def permission(self, trigger: str) -> Permission | None:
        """The permission for `trigger`, or None if the policy states none."""
        return self._derived.permissions.get(trigger)

    def transitions_from(self, source: str) -> tuple[TransitionSpec, ...]:
        """Every transition that leaves `source`."""
        return tuple(t for t in self.transitions if t.source == source)

    def evaluate(self, phase: str, request: Request | RequestKind) -> Verdict:
        """The rule's verdict for a request in a phase (slow path, for tools and tests)."""
        kind = request.kind if isinstance(request, Request) else request
        return self.phase(phase).accepts.evaluate(kind)

    def accepted_keys(self, phase: str) -> frozenset[int]:
        """The keys of every request kind `phase` accepts."""
        self.phase(phase)
        return self._derived.accepted[phase]

    def verdicts(self, phase: str) -> tuple[Verdict, ...]:
        """The verdict of `phase` for every request kind, indexed by key."""
        self.phase(phase)
        return self._derived.verdicts[phase]

    def is_relaxing(self, source: str, dest: str) -> bool:
        """Whether going from `source` to `dest` permits anything `source` did not."""
        self.phase(source)
        self.phase(dest)
        return self._derived.relaxing[(source, dest)]

    def strictness(self, phase: str) -> int:
        """How many request kinds `phase` rejects: the larger, the stricter."""
        return len(ALL_KINDS) - len(self.accepted_keys(phase))

    def with_changes(self, **changes: object) -> Policy:
        """A copy with some fields replaced, validated again."""
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]


def phases_by_name(policy: Policy) -> Mapping[str, PhaseSpec]:
    """The phases of a valid policy keyed by name."""
    return policy._derived.phases
