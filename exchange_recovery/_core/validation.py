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

from .codes import ProblemCode
from .disposition import IncomingAction, OrderClass, RestingAction, RestingRule
from .model import ALL_KINDS, ORDER_ENTRY_ACTIONS, Action, OrderType, Origin, TimeInForce
from .phases import Acceptance, PhaseSpec, Problem, TransitionSpec, is_relaxing, phase_verdicts
from .reopen import AuctionSpec, Exhausted, LiquidationRelease, MaxStay, StayAction, reopen_problems
from .specs import GuardSpec, check_criteria, usable_name
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
    _check_dispositions(phases, edges, accepted, add)
    _check_deferrals_processed(policy.normal, phases, edges, add)
    _check_reopen(policy, phases, edges, add)
    triggers = frozenset(t.trigger for t in policy.transitions
                         if isinstance(t, TransitionSpec) and usable_name(t.trigger))
    check_criteria(policy.guards, policy.permissions, triggers, add)
    return problems


def planned_steps(transitions: Iterable[TransitionSpec],
                  normal: str) -> dict[str, TransitionSpec | None]:
    """Per phase, the first transition of its shortest way to `normal` (None there).

    Breadth-first from the normal phase backwards; among equally short ways, the transition
    defined first wins, so the answer is deterministic.
    """
    edges = list(transitions)
    steps: dict[str, TransitionSpec | None] = {normal: None}
    frontier = [normal]
    while frontier:
        reached = []
        for spec in edges:
            if spec.dest in frontier and spec.source not in steps:
                steps[spec.source] = spec
                reached.append(spec.source)
        frontier = reached
    return steps


def _accepted(spec: PhaseSpec) -> frozenset[int]:
    return frozenset(i for i, verdict in enumerate(phase_verdicts(spec)) if verdict[0].accepts)


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
    for field in ("matching", "stop_triggers", "liquidations", "funding"):
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
    _check_disposition_values(spec, add)  # the phase stays in the graph checks either way
    return ok


_CLASS_FIELDS: Final = (("order_types", OrderType), ("time_in_force", TimeInForce),
                        ("origins", Origin))
_POST_ONLY_TYPES: Final = frozenset({OrderType.LIMIT})
_POST_ONLY_TIFS: Final = frozenset({TimeInForce.GTC, TimeInForce.GTD})


def _check_disposition_values(spec: PhaseSpec, add: _Add) -> bool:
    """The types and the self-contained sense of a phase's resting rules and incoming action."""
    where = f"phases.{spec.name}"
    ok = True
    if not isinstance(spec.incoming, IncomingAction):
        add(ProblemCode.INVALID_VALUE, f"{where}.incoming",
            f"expected an IncomingAction, got {shown(spec.incoming)}")
        ok = False
    elif spec.incoming is IncomingAction.POST_ONLY and spec.accepts.post_only is not True:
        add(ProblemCode.INVALID_DISPOSITION, f"{where}.incoming",
            f"{spec.name} converts incoming orders to post-only but does not require post-only")
    for index, rule in enumerate(spec.resting):
        at = f"{where}.resting[{index}]"
        if not (isinstance(rule, RestingRule) and isinstance(rule.action, RestingAction)
                and isinstance(rule.orders, OrderClass) and usable_name(rule.until)):
            add(ProblemCode.INVALID_VALUE, at,
                f"expected a RestingRule (a RestingAction, an OrderClass, a phase name or ''), "
                f"got {shown(rule)}")
            ok = False
            continue
        for field, enum_cls in _CLASS_FIELDS:
            bad = [v for v in getattr(rule.orders, field) if not isinstance(v, enum_cls)]
            if bad:
                add(ProblemCode.INVALID_VALUE, f"{at}.orders.{field}",
                    f"expected {enum_cls.__name__} members, got {shown(bad)}")
                ok = False
        for field in ("post_only", "reduce_only"):
            value = getattr(rule.orders, field)
            if value is not None and type(value) is not bool:
                add(ProblemCode.INVALID_VALUE, f"{at}.orders.{field}",
                    f"expected True, False or None, got {shown(value)}")
                ok = False
        suspends = rule.action is RestingAction.SUSPEND
        if suspends == (not rule.until):
            add(ProblemCode.INVALID_DISPOSITION, f"{at}.until",
                "a SUSPEND rule names the phase that reinstates the orders (until), and only "
                f"a SUSPEND rule does; got {rule.action.value} until {shown(rule.until)}")
        elif rule.until == spec.name:
            add(ProblemCode.INVALID_DISPOSITION, f"{at}.until",
                f"orders suspended on entering {spec.name} cannot wait for {spec.name} itself")
        if rule.action is RestingAction.POST_ONLY and not (
                rule.orders.order_types <= _POST_ONLY_TYPES
                and rule.orders.time_in_force <= _POST_ONLY_TIFS):
            add(ProblemCode.INVALID_DISPOSITION, f"{at}.orders",
                "only LIMIT GTC/GTD orders can become post-only; restrict the class to them")
    _check_deferral_values(spec, add)
    return ok


_NEVER_DEFERRED: Final = ORDER_ENTRY_ACTIONS | {Action.CANCEL_WITHDRAWAL}


def _check_deferral_values(spec: PhaseSpec, add: _Add) -> None:
    where = f"phases.{spec.name}.defers"
    bad = [a for a in spec.defers if not isinstance(a, Action)]
    if bad:
        add(ProblemCode.INVALID_VALUE, where, f"expected Action members, got {shown(bad)}")
        return
    cannot = sorted(a.name for a in spec.defers & _NEVER_DEFERRED)
    if cannot:
        add(ProblemCode.INVALID_DEFERRAL, where,
            f"{', '.join(cannot)} cannot wait for a later phase (order entry, or the cancel of a "
            "withdrawal): accept or refuse it")
    both = sorted(a.name for a in spec.defers & spec.accepts.actions)
    if both:
        add(ProblemCode.INVALID_DEFERRAL, where,
            f"{spec.name} both accepts and defers {', '.join(both)}")
    if Action.WITHDRAWAL in spec.defers and Action.CANCEL_WITHDRAWAL not in spec.accepts.actions:
        add(ProblemCode.DEFERRED_NOT_CANCELLABLE, f"phases.{spec.name}.accepts",
            f"{spec.name} defers withdrawals but refuses their owners' CANCEL_WITHDRAWAL")


def _check_deferrals_processed(normal: object, phases: Mapping[str, PhaseSpec],
                               edges: list[tuple[int, TransitionSpec]], add: _Add) -> None:
    """Every deferred action reaches a phase that processes it on the way back to normal."""
    if not _known(normal, phases):
        return
    steps = planned_steps((e for _, e in edges), normal)  # type: ignore[arg-type]
    for name, spec in phases.items():
        for action in sorted(a for a in spec.defers if isinstance(a, Action)):
            if processing_phase(steps, phases, name, action) is None:
                add(ProblemCode.INVALID_DEFERRAL, f"phases.{name}.defers",
                    f"{name} defers {action.name}, but no phase on its way back to {normal} "
                    "processes it")


def processing_phase(steps: Mapping[str, TransitionSpec | None], phases: Mapping[str, PhaseSpec],
                     phase: str, action: Action) -> str | None:
    """The first phase after `phase`, along the planned `steps` back to normal, whose rules
    accept `action` (None if none does)."""
    seen, step = {phase}, steps.get(phase)
    while step is not None and step.dest not in seen:
        if action in phases[step.dest].accepts.actions:
            return step.dest
        seen.add(step.dest)
        step = steps.get(step.dest)
    return None


_STOPS: Final = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
_STOP_KEYS: Final = frozenset(i for i, k in enumerate(ALL_KINDS)
                              if k.action is Action.NEW_ORDER and k.order_type in _STOPS)


def _check_dispositions(
    phases: Mapping[str, PhaseSpec], edges: list[tuple[int, TransitionSpec]],
    accepted: Mapping[str, frozenset[int]], add: _Add,
) -> None:
    """Suspensions name real phases, and no stop order rests into a reopen print that fires it.

    Stops may rest in a phase P when P takes new stop orders, reinstates stops suspended until
    P, or is entered from a phase where they may rest without cancelling or suspending them
    all. A transition from a P that does not match
    into a Q that matches with stop triggers on fires them on Q's first print, unless Q's own
    entry cancels or suspends every stop first.
    """
    reinstated: dict[str, list[str]] = {}
    for name, spec in phases.items():
        for index, rule in enumerate(spec.resting):
            if not _well_formed(rule) or not rule.until:
                continue
            if not _known(rule.until, phases):
                add(ProblemCode.UNKNOWN_PHASE, f"phases.{name}.resting[{index}].until",
                    f"until {shown(rule.until)} is not a phase of this policy")
            elif (rule.action is RestingAction.SUSPEND and rule.until != name
                  and rule.orders.order_types & _STOPS):
                reinstated.setdefault(rule.until, []).append(name)

    def clears_stops(spec: PhaseSpec) -> bool:
        table = _disposition(spec)
        return all(table[k] in (RestingAction.CANCEL, RestingAction.SUSPEND) for k in _STOP_KEYS)

    # Where stop orders may rest: from the phases that take them or reinstate them, along
    # every edge whose destination does not cancel or suspend them all on entry. (A venue
    # starts with an empty book; one restarted from its WAL holds what its phase allowed.)
    clears = {name: clears_stops(spec) for name, spec in phases.items()}
    live = {name: bool(accepted[name] & _STOP_KEYS) or name in reinstated for name in phases}
    changed = True
    while changed:
        changed = False
        for _, edge in edges:
            if live[edge.source] and not live[edge.dest] and not clears[edge.dest]:
                live[edge.dest] = changed = True

    for index, edge in edges:
        source, dest = phases[edge.source], phases[edge.dest]
        if source.matching or not (dest.matching and dest.stop_triggers):
            continue
        if (live[edge.source] and not clears[edge.dest]) or edge.dest in reinstated:
            add(ProblemCode.STOP_FIRES_ON_REOPEN, f"transitions[{index}]",
                f"{edge.trigger} {edge.source}->{edge.dest} opens matching with stop triggers on "
                f"while stop orders may rest: cancel or suspend them (until a later phase), or "
                f"keep stop triggers off in {edge.dest}")


def _well_formed(rule: object) -> bool:
    return isinstance(rule, RestingRule) and isinstance(rule.orders, OrderClass)


def _disposition(spec: PhaseSpec) -> dict[int, RestingAction]:
    """What entering `spec` does to each new-order kind of stop (first matching rule)."""
    table: dict[int, RestingAction] = {}
    rules = [r for r in spec.resting if _well_formed(r)]
    for key in _STOP_KEYS:
        kind = ALL_KINDS[key]
        table[key] = next((r.action for r in rules if r.orders.matches(kind)),
                          RestingAction.KEEP)
    return table


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


def _check_reopen(policy: Policy, phases: Mapping[str, PhaseSpec],
                  edges: list[tuple[int, TransitionSpec]], add: _Add) -> None:
    """Each phase's auction, maximum stay and liquidation release (issue #14): alone, then
    against the graph, the guards and the fail-safe phase."""
    approvals = {g.name for g in policy.guards
                 if isinstance(g, GuardSpec) and g.kind == "approval"}
    for name, spec in phases.items():
        out = frozenset(t.trigger for _, t in edges if t.source == name)
        where = f"phases.{name}"
        for code, location, message in reopen_problems(
                where, spec.auction, spec.max_stay, spec.liquidation_release,
                spec.matching, out):
            add(code, location, message)
        if (isinstance(spec.max_stay, MaxStay) and spec.max_stay.then is StayAction.HALT
                and name == policy.fail_safe):
            add(ProblemCode.INVALID_DEADLINE, f"{where}.max_stay.then",
                f"{name} is the fail-safe phase: a maximum stay cannot halt it further (ALERT, "
                "or ADVANCE by a trigger that leaves it)")
        if (isinstance(spec.liquidation_release, LiquidationRelease)
                and Origin.LIQUIDATION not in spec.accepts.origins):
            add(ProblemCode.INVALID_LIQUIDATION_RELEASE, f"{where}.liquidation_release",
                f"{name} refuses the liquidation engine's orders (accepts.origins has no "
                "LIQUIDATION): nothing could ever be released")
        if not isinstance(spec.auction, AuctionSpec):  # None, or reported above
            continue
        for _, t in edges:
            if t.source != name or t.trigger not in (spec.auction.uncross, spec.auction.override):
                continue
            if not phases[t.dest].matching:  # an edge's phases are known
                add(ProblemCode.INVALID_AUCTION, f"{where}.auction",
                    f"{t.trigger} leads to {t.dest}, which does not match: an auction ends "
                    "in continuous trading")
            needs = sorted(approvals.intersection(t.guards))
            if (t.trigger == spec.auction.override and needs
                    and spec.auction.when_exhausted is Exhausted.OPEN_WITHOUT_CROSS):
                add(ProblemCode.INVALID_AUCTION, f"{where}.auction.when_exhausted",
                    f"OPEN_WITHOUT_CROSS fires {t.trigger} by itself, but {t.trigger} needs a "
                    f"person's approval ({', '.join(needs)}): it would never open (use MANUAL, "
                    "or drop the approval)")


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

