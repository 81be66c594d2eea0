"""Build-time checks of a policy definition; every problem is reported, none stops the others.

`transitions` itself checks nothing (an unknown source is accepted silently, an unknown dest
fails only when fired, nothing checks reachability), so the policy is validated here before a
machine is ever built from it. Locations read like ``transitions[3].dest`` or
``phases.HALTED.accepts`` so that a file loader can point at the table and key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Final

from .codes import ProblemCode, Reason
from .model import ALL_KINDS, Action, OrderType, Origin, TimeInForce
from .phases import Acceptance, PhaseSpec, Problem, TransitionSpec, is_relaxing
from .specs import check_criteria, usable_name
from .text import shown

if TYPE_CHECKING:
    from .policy import Policy

RESERVED_TRIGGERS: Final = frozenset(
    {"state", "trigger", "fire", "apply", "phase", "phases", "gate", "policy", "version",
     "scopes", "machine"}
)
"""Trigger names that would clash with the controller's own attributes."""

_ENUM_FIELDS: Final = (
    ("actions", Action), ("origins", Origin), ("order_types", OrderType),
    ("time_in_force", TimeInForce),
)


def find_problems(policy: Policy) -> list[Problem]:
    """Return every problem in `policy`'s definition (an empty list when it is valid)."""
    problems: list[Problem] = []

    def add(code: ProblemCode, location: str, message: str) -> None:
        problems.append(Problem(code, location, message))

    phases = _check_phases(policy.phases, add)
    _check_settings(policy, phases, add)
    edges = _check_transitions(policy, phases, add)
    accepted = {name: _accepted(spec) for name, spec in phases.items()}
    for name, spec in phases.items():
        _check_phase_rules(spec, accepted[name], add)
    if _known(policy.fail_safe, phases):
        _check_fail_safe(phases[policy.fail_safe], accepted[policy.fail_safe], add)
    _check_graph(policy, phases, edges, accepted, add)
    triggers = frozenset(t.trigger for t in policy.transitions
                         if isinstance(t, TransitionSpec) and usable_name(t.trigger))
    check_criteria(policy.guards, policy.permissions, triggers, add)
    return problems


def _accepted(spec: PhaseSpec) -> frozenset[int]:
    return frozenset(
        i for i, kind in enumerate(ALL_KINDS) if spec.accepts.evaluate(kind)[0] is Reason.ACCEPTED
    )


_Add = Callable[[ProblemCode, str, str], None]


def _check_phases(items: Iterable[object], add: _Add) -> dict[str, PhaseSpec]:
    phases: dict[str, PhaseSpec] = {}
    for index, spec in enumerate(items):
        where = f"phases[{index}]"
        if not isinstance(spec, PhaseSpec):
            add(ProblemCode.INVALID_VALUE, where, f"expected a PhaseSpec, got {shown(spec)}")
            continue
        if not _is_phase_name(spec.name):
            add(ProblemCode.INVALID_NAME, f"{where}.name",
                f"phase name {shown(spec.name)} must be an identifier in upper case, e.g. PRE_OPEN")
            continue
        if spec.name in phases:
            add(ProblemCode.DUPLICATE_PHASE, f"phases.{spec.name}",
                f"phase {spec.name} is defined more than once")
            continue
        if _check_values(spec, add):
            phases[spec.name] = spec
    return phases


def _check_values(spec: PhaseSpec, add: _Add) -> bool:
    where = f"phases.{spec.name}"
    ok = True
    if not isinstance(spec.accepts, Acceptance):
        add(ProblemCode.INVALID_VALUE, f"{where}.accepts",
            f"expected an Acceptance, got {shown(spec.accepts)}")
        return False
    for field in ("matching", "stop_triggers", "liquidations"):
        value = getattr(spec, field)
        if type(value) is not bool:
            add(ProblemCode.INVALID_VALUE, f"{where}.{field}", f"expected a bool, got {shown(value)}")
            ok = False
    for field in ("post_only", "reduce_only"):
        value = getattr(spec.accepts, field)
        if type(value) is not bool:
            add(ProblemCode.INVALID_VALUE, f"{where}.accepts.{field}",
                f"expected a bool, got {shown(value)}")
            ok = False
    for field, enum_cls in _ENUM_FIELDS:
        bad = [v for v in getattr(spec.accepts, field) if not isinstance(v, enum_cls)]
        if bad:
            add(ProblemCode.INVALID_VALUE, f"{where}.accepts.{field}",
                f"expected {enum_cls.__name__} members, got {shown(bad)}")
            ok = False
    return ok


def _known(name: object, phases: Mapping[str, PhaseSpec]) -> bool:
    """Whether `name` is a defined phase (an unhashable value is simply not one)."""
    return usable_name(name) and name in phases


def _is_phase_name(name: object) -> bool:
    return usable_name(name) and name.isidentifier() and name == name.upper()  # type: ignore[attr-defined]


def _is_trigger_name(name: object) -> bool:
    return (usable_name(name) and name.isidentifier() and name == name.lower()  # type: ignore[attr-defined]
            and not name.startswith("_") and name not in RESERVED_TRIGGERS)  # type: ignore[attr-defined]


def _check_settings(policy: Policy, phases: Mapping[str, PhaseSpec], add: _Add) -> None:
    if not isinstance(policy.name, str) or not policy.name.strip():
        add(ProblemCode.INVALID_NAME, "name", f"policy name must be a non-empty str, got "
            f"{shown(policy.name)}")
    for field in ("initial", "normal", "fail_safe"):
        value = getattr(policy, field)
        if not _known(value, phases):
            add(ProblemCode.UNKNOWN_PHASE, field, f"{field} names phase {shown(value)}, which the "
                f"policy does not define")
    if not _is_trigger_name(policy.halt_trigger):
        add(ProblemCode.INVALID_NAME, "halt_trigger",
            f"halt trigger {shown(policy.halt_trigger)} is not a usable trigger name")


def _check_transitions(
    policy: Policy, phases: Mapping[str, PhaseSpec], add: _Add
) -> list[tuple[int, TransitionSpec]]:
    """Report bad transitions; return the usable ones with their index in the policy."""
    edges: list[tuple[int, TransitionSpec]] = []
    seen: set[tuple[str, str]] = set()
    for index, spec in enumerate(policy.transitions):
        where = f"transitions[{index}]"
        if not isinstance(spec, TransitionSpec):
            add(ProblemCode.INVALID_VALUE, where, f"expected a TransitionSpec, got {shown(spec)}")
            continue
        ok = True
        if not _is_trigger_name(spec.trigger):
            add(ProblemCode.INVALID_NAME, f"{where}.trigger",
                f"trigger {shown(spec.trigger)} must be a lower-case identifier, not one of "
                f"{sorted(RESERVED_TRIGGERS)}")
            ok = False
        for field in ("source", "dest"):
            value = getattr(spec, field)
            if not _known(value, phases):
                add(ProblemCode.UNKNOWN_PHASE, f"{where}.{field}",
                    f"{field} {shown(value)} is not a phase of this policy")
                ok = False
        for guard in spec.guards:
            if not (usable_name(guard) and guard.isidentifier()):
                add(ProblemCode.INVALID_NAME, f"{where}.guards",
                    f"guard name {shown(guard)} must be an identifier")
                ok = False
        if ok and (spec.source, spec.trigger) in seen:
            add(ProblemCode.DUPLICATE_TRIGGER, f"{where}.trigger",
                f"trigger {shown(spec.trigger)} is defined more than once from {spec.source}")
            ok = False
        if ok:
            seen.add((spec.source, spec.trigger))
            edges.append((index, spec))
    return edges


def _check_phase_rules(spec: PhaseSpec, accepted: frozenset[int], add: _Add) -> None:
    where = f"phases.{spec.name}"
    if not spec.matching:
        immediate = [ALL_KINDS[k] for k in sorted(accepted) if ALL_KINDS[k].needs_immediate_execution]
        if immediate:
            add(ProblemCode.IMMEDIATE_EXECUTION_WITHOUT_MATCHING, f"{where}.accepts",
                f"{spec.name} does not match orders but accepts {len(immediate)} kind(s) that "
                f"need immediate execution, e.g. {immediate[0].describe()}")
        extra = sorted(spec.capabilities - {"matching"})
        if extra:
            add(ProblemCode.CAPABILITY_WITHOUT_MATCHING, where,
                f"{spec.name} does not match orders but enables {', '.join(extra)}")
    by_origin = {(ALL_KINDS[k].action, ALL_KINDS[k].origin) for k in accepted}
    for origin in Origin:
        if (Action.NEW_ORDER, origin) in by_origin and (Action.CANCEL, origin) not in by_origin:
            add(ProblemCode.CANCEL_NOT_ACCEPTED, f"{where}.accepts",
                f"{spec.name} accepts new orders from {origin.name} but not their cancels")


def _takes_new_orders(accepted: frozenset[int]) -> bool:
    return any(ALL_KINDS[k].action is Action.NEW_ORDER for k in accepted)


def _check_fail_safe(spec: PhaseSpec, accepted: frozenset[int], add: _Add) -> None:
    if spec.matching or any(ALL_KINDS[k].action in (Action.NEW_ORDER, Action.AMEND)
                            for k in accepted):
        add(ProblemCode.UNSAFE_FAIL_SAFE, f"phases.{spec.name}",
            f"fail-safe phase {spec.name} must neither match orders nor accept new orders "
            f"or amends")


def _reach(start: str, adjacency: Mapping[str, list[str]]) -> set[str]:
    seen = {start}
    queue = deque([start])
    while queue:
        for nxt in adjacency.get(queue.popleft(), ()):
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


def _check_graph(
    policy: Policy,
    phases: Mapping[str, PhaseSpec],
    edges: list[tuple[int, TransitionSpec]],
    accepted: Mapping[str, frozenset[int]],
    add: _Add,
) -> None:
    forward: dict[str, list[str]] = {name: [] for name in phases}
    backward: dict[str, list[str]] = {name: [] for name in phases}
    for _, edge in edges:
        forward[edge.source].append(edge.dest)
        backward[edge.dest].append(edge.source)
    if _known(policy.initial, phases):
        reachable = _reach(policy.initial, forward)
        for name in phases:
            if name not in reachable:
                add(ProblemCode.UNREACHABLE_PHASE, f"phases.{name}",
                    f"no path leads from the initial phase {policy.initial} to {name}")
    if _known(policy.normal, phases):
        reaches_normal = _reach(policy.normal, backward)
        for name in phases:
            if name not in reaches_normal:
                add(ProblemCode.NORMAL_UNREACHABLE, f"phases.{name}",
                    f"no path leads from {name} back to {policy.normal}")
    if not _known(policy.fail_safe, phases):
        return
    reaches_halt = _reach(policy.fail_safe, backward)
    halt = policy.halt_trigger if _is_trigger_name(policy.halt_trigger) else None
    halts = {(e.source, e.dest) for _, e in edges if e.trigger == halt}
    for name in phases:
        if name == policy.fail_safe:
            continue
        if name not in reaches_halt:
            add(ProblemCode.NO_PATH_TO_HALT, f"phases.{name}",
                f"no path leads from {name} to the fail-safe phase {policy.fail_safe}")
        if (name, policy.fail_safe) not in halts:
            add(ProblemCode.MISSING_HALT_TRIGGER, f"phases.{name}",
                f"{name} has no {shown(policy.halt_trigger)} transition to {policy.fail_safe}")
    _check_pre_open_path(policy.fail_safe, phases, edges, accepted, add)
    _check_capability_exits(policy.normal, phases, edges, add)
    for index, edge in edges:
        if edge.guards and not is_relaxing(
            phases[edge.source], phases[edge.dest], accepted[edge.source], accepted[edge.dest]
        ):
            add(ProblemCode.GUARDED_TIGHTENING, f"transitions[{index}].guards",
                f"{edge.trigger} {edge.source}->{edge.dest} tightens acceptance, so nothing may "
                f"block it, but it has guards {list(edge.guards)}")


_PROTECTIONS: Final = frozenset({"stop_triggers", "liquidations"})
"""What a restart turns off while matching resumes (matching itself: HALT_SKIPS_PRE_OPEN)."""


def _check_capability_exits(
    normal: str, phases: Mapping[str, PhaseSpec], edges: list[tuple[int, TransitionSpec]],
    add: _Add,
) -> None:
    """A phase that turned stops or liquidations off (a restart's full open) gives them back
    only with at least the guards of its planned exit to the normal phase, whichever way."""
    if not _known(normal, phases):
        return
    for name, spec in phases.items():
        off = (phases[normal].capabilities - spec.capabilities) & _PROTECTIONS
        planned = [e for _, e in edges if e.source == name and e.dest == normal]
        if not off or not planned:
            continue
        needed = frozenset.intersection(*(frozenset(e.guards) for e in planned))
        for index, edge in edges:
            if edge.source != name or edge.dest == normal or edge.dest not in phases:
                continue
            regained = (phases[edge.dest].capabilities - spec.capabilities) & off
            missing = needed - set(edge.guards)
            if regained and missing:
                add(ProblemCode.CAPABILITY_BYPASS, f"transitions[{index}].guards",
                    f"{edge.trigger} {name}->{edge.dest} turns {sorted(regained)} back on "
                    f"without {sorted(missing)}, which the planned exit {name}->{normal} needs")


def _check_pre_open_path(
    fail_safe: str,
    phases: Mapping[str, PhaseSpec],
    edges: list[tuple[int, TransitionSpec]],
    accepted: Mapping[str, frozenset[int]],
    add: _Add,
) -> None:
    """From the fail-safe phase, every way into matching must pass a non-matching entry phase."""

    def closed(name: str) -> bool:  # non-matching and takes no new orders: still "halted"
        return not phases[name].matching and not _takes_new_orders(accepted[name])

    if not closed(fail_safe):
        return
    through_closed: dict[str, list[str]] = {}
    for _, edge in edges:
        if closed(edge.dest):
            through_closed.setdefault(edge.source, []).append(edge.dest)
    halted_region = _reach(fail_safe, through_closed)
    for index, edge in edges:
        if edge.source in halted_region and phases[edge.dest].matching:
            add(ProblemCode.HALT_SKIPS_PRE_OPEN, f"transitions[{index}]",
                f"{edge.trigger} {edge.source}->{edge.dest} resumes matching after a halt "
                f"without a pre-open phase (non-matching, accepting new orders) in between")

