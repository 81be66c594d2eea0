"""Policies: the phases, what each accepts, and the transitions between them — all data.

A `Policy` validates itself when it is built (every problem is reported at once, see
`_validation`) and precomputes, for every phase, the verdict on every request kind. The gate
compiles those verdicts into lookup tables; nothing here runs on the per-order path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import attrs

from .codes import ProblemCode
from .disposition import NO_DEFERRALS, Deferrals, Disposition
from .errors import ConfigurationError, InvalidPolicyError
from .model import (
    ALL_KINDS,
    Action,
    Origin,
    Request,
    RequestKind,
    kind_key,
)
from .phases import PhaseSpec, Problem, TransitionSpec, Verdict, is_relaxing, phase_verdicts
from .specs import GuardSpec, Permission
from .text import shown
from .validation import find_problems, planned_steps, processing_phase

_T = TypeVar("_T")


def _tuple_of(field: str, what: str) -> Callable[[Iterable[_T]], tuple[_T, ...]]:
    """A converter to a tuple; a value that is no iterable is the policy's INVALID_VALUE."""

    def convert(value: Iterable[_T]) -> tuple[_T, ...]:
        if not isinstance(value, str | bytes):  # a str is iterable, but never a list of specs
            try:
                return tuple(value)
            except Exception:  # noqa: S110 - not iterable, or its iterator raises
                pass
        raise InvalidPolicyError([Problem(ProblemCode.INVALID_VALUE, field,
                                          f"expected an iterable of {what}, got {shown(value)}")])

    return convert


_to_phases = _tuple_of("phases", "PhaseSpec")
_to_transitions = _tuple_of("transitions", "TransitionSpec")
_to_guards = _tuple_of("guards", "GuardSpec")
_to_permissions = _tuple_of("permissions", "Permission")


# Named functions: the attrs plugin of mypy types converters only so.
def _phase_tuple(value: Iterable[PhaseSpec]) -> tuple[PhaseSpec, ...]:
    return _to_phases(value)


def _transition_tuple(value: Iterable[TransitionSpec]) -> tuple[TransitionSpec, ...]:
    return _to_transitions(value)


def _guard_tuple(value: Iterable[GuardSpec]) -> tuple[GuardSpec, ...]:
    return _to_guards(value)


def _permission_tuple(value: Iterable[Permission]) -> tuple[Permission, ...]:
    return _to_permissions(value)


def _lookup(table: Mapping[Any, _T], key: object, field: str) -> _T | None:
    """``table.get(key)``; a key that cannot be looked up is a `ConfigurationError`."""
    try:
        return table.get(key)
    except Exception:  # unhashable, or a hash that raises
        msg = f"{field} must be a str, got {shown(key)}"
        raise ConfigurationError(msg) from None


class _Derived:
    """Lookup structures computed once from a valid policy."""

    __slots__ = ("accepted", "deferrals", "dispositions", "edges", "gate_tables", "guards",
                 "permissions", "phases", "planned", "relaxing", "tightening", "triggers",
                 "until", "verdicts")

    def __init__(self, policy: Policy) -> None:
        self.phases: dict[str, PhaseSpec] = {p.name: p for p in policy.phases}
        self.edges: dict[tuple[str, str], TransitionSpec] = {
            (t.source, t.trigger): t for t in policy.transitions
        }
        self.triggers = frozenset(t.trigger for t in policy.transitions)
        self.guards: dict[str, GuardSpec] = {g.name: g for g in policy.guards}
        self.permissions: dict[str, Permission] = {p.trigger: p for p in policy.permissions}
        self.planned: dict[str, TransitionSpec | None] = planned_steps(policy.transitions,
                                                                       policy.normal)
        self.until: dict[str, dict[Action, str]] = {
            p.name: {a: w for a in p.defers if (w := self._processing(p.name, a)) is not None}
            for p in policy.phases}
        self.verdicts: dict[str, tuple[Verdict, ...]] = {
            p.name: phase_verdicts(p, self.until[p.name]) for p in policy.phases
        }
        self.accepted: dict[str, frozenset[int]] = {
            name: frozenset(i for i, v in enumerate(verdicts) if v[0].accepts)
            for name, verdicts in self.verdicts.items()
        }
        self.deferrals: dict[tuple[str, str], Deferrals] = {
            (a, b): _deferrals(self.phases[a], self.phases[b])
            for a in self.phases for b in self.phases}
        self.dispositions: dict[str, Disposition] = {
            p.name: Disposition(p.name, p.resting) for p in policy.phases
        }
        self.tightening: dict[tuple[str, str], bool] = {
            (a, b): bool(self.accepted[a] - self.accepted[b]
                         or self.phases[a].capabilities - self.phases[b].capabilities)
            for a in self.phases for b in self.phases
        }
        self.relaxing: dict[tuple[str, str], bool] = {
            (a, b): is_relaxing(self.phases[a], self.phases[b], self.accepted[a], self.accepted[b])
            for a in self.phases for b in self.phases
        }
        self.gate_tables: object = None  # built by the gate on first use: see `gate_tables()`

    def _processing(self, phase: str, action: Action) -> str | None:
        """The first phase on `phase`'s planned way back to normal that processes `action`."""
        return processing_phase(self.planned, self.phases, phase, action)


def _deferrals(source: PhaseSpec, dest: PhaseSpec) -> Deferrals:
    """What going from `source` to `dest` does to the requests `source` holds by deferral."""
    if not source.defers:
        return NO_DEFERRALS
    released = frozenset(a for a in source.defers if a in dest.accepts.actions)
    waiting = frozenset(a for a in source.defers if a in dest.defers and a not in released)
    refused = tuple(
        (a, dest.accepts.evaluate(ALL_KINDS[kind_key(a, None, None, False, False,
                                                     Origin.CLIENT)])[0])
        for a in sorted(source.defers - released - waiting))
    return Deferrals(released, refused, waiting)


@attrs.frozen
class Policy:
    """A validated set of phases, acceptance rules and transitions.

    Building one runs every check (`ProblemCode` lists them) and raises `InvalidPolicyError` listing all
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
        except Exception:  # unknown, unhashable, a hash that raises
            msg = f"unknown phase {shown(name)}; expected one of {', '.join(self.phase_names)}"
            raise ConfigurationError(msg) from None

    def transition(self, source: str, trigger: str) -> TransitionSpec | None:
        """The transition `trigger` fires from `source`, or None if it fires none.

        Raises:
            ConfigurationError: `source` or `trigger` cannot be looked up (unhashable).
        """
        _lookup({}, source, "source")
        return _lookup(self._derived.edges, (source, trigger), "trigger")

    def guard(self, name: str) -> GuardSpec | None:
        """The built-in guard declared as `name`, or None (a custom guard, or no guard).

        Raises:
            ConfigurationError: `name` cannot be looked up (unhashable).
        """
        return _lookup(self._derived.guards, name, "name")

    def permission(self, trigger: str) -> Permission | None:
        """The permission for `trigger`, or None if the policy states none.

        Raises:
            ConfigurationError: `trigger` cannot be looked up (unhashable).
        """
        return _lookup(self._derived.permissions, trigger, "trigger")

    def transitions_from(self, source: str) -> tuple[TransitionSpec, ...]:
        """Every transition that leaves `source` (none for a name that is no phase).

        Raises:
            ConfigurationError: `source` cannot be looked up (unhashable).
        """
        if _lookup(self._derived.phases, source, "source") is None:
            return ()
        return tuple(t for t in self.transitions if t.source == source)

    def evaluate(self, phase: str, request: Request | RequestKind) -> Verdict:
        """The rule's verdict for a request in a phase (slow path, for tools and tests).

        Raises:
            ConfigurationError: `phase` is no phase of the policy, or `request` is neither a
                `Request` nor a `RequestKind`.
        """
        if not isinstance(request, Request | RequestKind):
            msg = f"request must be a Request or a RequestKind, got {shown(request)}"
            raise ConfigurationError(msg)
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

    def planned_step(self, phase: str) -> TransitionSpec | None:
        """The next transition of the shortest way from `phase` back to the normal phase (None
        in the normal phase); equally short ways: the transition defined first.

        Example:
            >>> from exchange_recovery import default_policy
            >>> default_policy().planned_step("HALTED").trigger
            'pre_open'

        Raises:
            ConfigurationError: `phase` is no phase of the policy.
        """
        self.phase(phase)
        return self._derived.planned[phase]

    def deferred_until(self, phase: str, action: Action) -> str | None:
        """The phase that processes `action` deferred in `phase` (None if `phase` does not
        defer it): the first on the planned way back to normal that accepts it.

        Raises:
            ConfigurationError: `phase` is no phase of the policy, or `action` no `Action`.
        """
        self.phase(phase)
        if not isinstance(action, Action):
            msg = f"action must be an Action, got {shown(action)}"
            raise ConfigurationError(msg)
        return self._derived.until[phase].get(action)

    def deferrals(self, source: str, dest: str) -> Deferrals:
        """What going from `source` to `dest` does to the requests held by deferral.

        Raises:
            ConfigurationError: `source` or `dest` is no phase of the policy.
        """
        self.phase(source)
        self.phase(dest)
        return self._derived.deferrals[(source, dest)]

    def disposition(self, phase: str) -> Disposition:
        """What entering `phase` does to resting orders (its `RestingRule`s, compiled).

        Raises:
            ConfigurationError: `phase` is no phase of the policy.
        """
        self.phase(phase)
        return self._derived.dispositions[phase]

    def is_relaxing(self, source: str, dest: str) -> bool:
        """Whether going from `source` to `dest` permits anything `source` did not."""
        self.phase(source)
        self.phase(dest)
        return self._derived.relaxing[(source, dest)]

    def strictness(self, phase: str) -> int:
        """How many request kinds `phase` rejects: the larger, the stricter."""
        return len(ALL_KINDS) - len(self.accepted_keys(phase))

    def with_changes(self, **changes: object) -> Policy:
        """A copy with some fields replaced, validated again.

        Raises:
            ConfigurationError: a change names no field of a policy.
            InvalidPolicyError: the changed policy has problems (all are listed).
        """
        fields = [f.name for f in attrs.fields(Policy) if f.init]
        unknown = sorted(set(changes) - set(fields))
        if unknown:
            msg = f"a Policy has no field {', '.join(unknown)}; expected some of {fields}"
            raise ConfigurationError(msg)
        return attrs.evolve(self, **changes)  # type: ignore[arg-type]


def phases_by_name(policy: Policy) -> Mapping[str, PhaseSpec]:
    """The phases of a valid policy keyed by name."""
    return policy._derived.phases


def planned_dwell(policy: Policy, phase: str) -> float | None:
    """The longest dwell guard on the planned step out of `phase` (None without one): how long
    after entering `phase` that step can happen at the earliest. `phase` must be a phase."""
    step = policy._derived.planned[phase]
    if step is None:
        return None
    dwell = [spec.seconds for name in step.guards
             if (spec := policy.guard(name)) is not None and spec.kind == "dwell" and spec.seconds]
    return max(dwell) if dwell else None


def tightens(policy: Policy, source: str, dest: str) -> bool:
    """Whether going from `source` to `dest` refuses anything `source` accepted, or turns off a
    capability (a step may relax and tighten at once: FULL_OPEN -> DEGRADED). Names must be
    phases of `policy` (the gate's writers pass only those)."""
    return policy._derived.tightening[(source, dest)]


_COMPILING = threading.Lock()


def gate_tables(policy: Policy, compile_tables: Callable[[Policy], _T]) -> _T:
    """The gate's compiled tables for `policy`, built by `compile_tables` once per policy.

    They are kept on the (frozen, so never stale) policy: every gate, controller and follower
    of one policy shares them, and a gate built for it again costs nothing. The gate owns what
    they are; this module only keeps them.
    """
    derived = policy._derived
    with _COMPILING:  # once, even when several threads build their first gate at once
        if derived.gate_tables is None:
            derived.gate_tables = compile_tables(policy)
        return derived.gate_tables  # type: ignore[return-value]  # only ever one builder's result
