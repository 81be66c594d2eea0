"""Hypothesis strategies: requests, valid policies, broken policies, legal transition sequences.

Valid policies are built, not filtered: a normal phase accepting everything, a fail-safe phase, a
pre-open phase (post-only limit orders, no matching; sometimes a maximum stay that alerts or
halts) between them, and a few extra phases hung off the normal one; funding accrues or not in
the two closed phases. Each broken policy is one of those with exactly one mutation, labelled with
the problem codes the validator must report for it.
"""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs
from hypothesis import strategies as st

from .._core.codes import ProblemCode
from .._core.disposition import OrderClass, RestingAction, RestingRule
from .._core.errors import ConfigurationError, InvalidRequestError
from .._core.model import Action, OrderType, Origin, Request, TimeInForce
from .._core.phases import Acceptance, PhaseSpec, TransitionSpec
from .._core.policy import Policy
from .._core.reopen import AuctionSpec, LiquidationRelease, MaxStay, StayAction
from .._core.specs import GuardSpec, Permission
from .._core.text import shown

DEFAULT_INSTRUMENTS: Final = ("BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT")
"""The instruments request strategies draw from unless told otherwise."""

_RESTING: Final = (TimeInForce.GTC, TimeInForce.GTD)
_IMMEDIATE: Final = (TimeInForce.IOC, TimeInForce.FOK)


# -- arguments --------------------------------------------------------------------------------
# Checked when a strategy is asked for, not when it is first drawn from: a mistake shows at the
# line that made it, as a ConfigurationError naming the argument.


def _items(field: str, value: object, what: str) -> tuple[Any, ...]:
    """`value` as a non-empty tuple, or `ConfigurationError` naming `field`."""
    try:
        items = tuple(value) if not isinstance(value, str | bytes) else ()  # type: ignore[arg-type]
    except Exception:  # not iterable, or its iterator raises
        items = ()
    if not items:
        msg = f"{field} must be a non-empty sequence of {what}, got {shown(value)}"
        raise ConfigurationError(msg)
    return items


def _instruments(value: object) -> tuple[str, ...]:
    names = _items("instruments", value, "instrument names")
    for name in names:
        try:
            Request.cancel(name)
        except InvalidRequestError:
            msg = f"instruments must be instrument names Request takes, got {shown(name)}"
            raise ConfigurationError(msg) from None
    return names


def _origins(value: object) -> tuple[Origin, ...]:
    origins = _items("origins", value, "Origin members")
    bad = [o for o in origins if type(o) is not Origin]
    if bad:
        msg = f"origins must be Origin members, got {shown(bad)}"
        raise ConfigurationError(msg)
    return origins


# -- requests ---------------------------------------------------------------------------------


def order_requests(
    action: Action = Action.NEW_ORDER,
    *,
    instruments: Sequence[str] = DEFAULT_INSTRUMENTS,
    origins: Sequence[Origin] = tuple(Origin),
) -> st.SearchStrategy[Request]:
    """A new order (or, with ``action=Action.AMEND``, an amend) with consistent fields.

    The time in force is sometimes left out (so the default applies); post-only is drawn only
    where it is allowed (limit GTC/GTD).

    Raises:
        ConfigurationError: `action` is neither NEW_ORDER nor AMEND, `instruments` no
            non-empty sequence of instrument names, `origins` no non-empty sequence of
            `Origin` members.

    Example:
        >>> from hypothesis import given
        >>> @given(order_requests(instruments=["BTC-USDT"]))
        ... def test_orders_carry_an_order_type(request):
        ...     assert request.order_type is not None
    """
    if type(action) is not Action or action not in (Action.NEW_ORDER, Action.AMEND):
        msg = f"order_requests() needs NEW_ORDER or AMEND, got {shown(action)}"
        raise ConfigurationError(msg)
    return _order_requests(action, _instruments(instruments), _origins(origins))


@st.composite
def _order_requests(draw: st.DrawFn, action: Action, instruments: tuple[str, ...],
                    origins: tuple[Origin, ...]) -> Request:
    types_ = [t for t in OrderType if not (action is Action.AMEND and t is OrderType.MARKET)]
    order_type = draw(st.sampled_from(types_))
    if action is Action.AMEND:
        tifs: tuple[TimeInForce, ...] = _RESTING
    elif order_type is OrderType.MARKET:
        tifs = _IMMEDIATE
    else:
        tifs = tuple(TimeInForce)
    tif = draw(st.none() | st.sampled_from(tifs))
    effective = tif if tif is not None else (
        TimeInForce.IOC if order_type is OrderType.MARKET else TimeInForce.GTC)
    can_post = order_type is OrderType.LIMIT and effective in _RESTING
    post_only = draw(st.booleans()) if can_post else False
    shortcut = Request.new_order if action is Action.NEW_ORDER else Request.amend
    return shortcut(draw(st.sampled_from(instruments)), order_type, tif, post_only=post_only,
                    reduce_only=draw(st.booleans()), origin=draw(st.sampled_from(origins)))


def requests(
    *, instruments: Sequence[str] = DEFAULT_INSTRUMENTS, origins: Sequence[Origin] = tuple(Origin)
) -> st.SearchStrategy[Request]:
    """Any valid request: new orders, amends, cancels, mass cancels, margin changes, transfers.

    Raises:
        ConfigurationError: as `order_requests`.

    Example:
        >>> from hypothesis import given
        >>> from exchange_recovery import Gate, default_policy
        >>> gate = Gate(default_policy())
        >>> @given(requests())
        ... def test_the_gate_answers_everything(request):
        ...     assert gate.check(request) is not None
    """
    instruments = _instruments(instruments)
    origins = _origins(origins)
    instrument = st.sampled_from(instruments)
    maybe_instrument = st.none() | instrument
    origin = st.sampled_from(origins)
    return st.one_of(
        order_requests(Action.NEW_ORDER, instruments=instruments, origins=origins),
        order_requests(Action.AMEND, instruments=instruments, origins=origins),
        st.builds(Request.cancel, instrument, origin=origin),
        st.builds(Request.mass_cancel, maybe_instrument, origin=origin),
        st.builds(Request.margin, add=st.booleans(), instrument=maybe_instrument, origin=origin),
        st.builds(Request, st.sampled_from([Action.DEPOSIT, Action.WITHDRAWAL]), maybe_instrument,
                  origin=origin),
    )


# -- policies ---------------------------------------------------------------------------------


@attrs.frozen
class _Parts:
    """The ingredients of a generated policy, plus the roles its phases play."""

    phases: tuple[PhaseSpec, ...]
    transitions: tuple[TransitionSpec, ...]
    initial: str
    normal: str
    fail_safe: str
    pre_open: str
    halt_trigger: str

    def kwargs(self) -> dict[str, Any]:
        return {"name": "generated", "phases": self.phases, "transitions": self.transitions,
                "initial": self.initial, "normal": self.normal, "fail_safe": self.fail_safe,
                "halt_trigger": self.halt_trigger}

    def phase(self, name: str) -> PhaseSpec:
        return next(p for p in self.phases if p.name == name)

    def replace_phase(self, name: str, **changes: Any) -> tuple[PhaseSpec, ...]:
        return tuple(attrs.evolve(p, **changes) if p.name == name else p for p in self.phases)


def _subset(values: Sequence[Any], *, min_size: int = 1) -> st.SearchStrategy[frozenset[Any]]:
    return st.frozensets(st.sampled_from(values), min_size=min_size)


@st.composite
def _matching_phase(draw: st.DrawFn, name: str) -> PhaseSpec:
    actions = draw(_subset(list(Action), min_size=0)) | {Action.CANCEL}  # cancels always work
    accepts = Acceptance(
        actions=actions, order_types=draw(_subset(list(OrderType))),
        time_in_force=draw(_subset(list(TimeInForce))), origins=draw(_subset(list(Origin))),
        post_only=draw(st.booleans()), reduce_only=draw(st.booleans()),
    )
    return PhaseSpec(name, accepts, matching=True, stop_triggers=draw(st.booleans()),
                     liquidations=draw(st.booleans()))


def _max_stays() -> st.SearchStrategy[MaxStay | None]:
    """Mostly none; else a maximum stay that alerts or halts (ADVANCE needs a trigger that leaves
    the phase, which some mutations remove)."""
    return st.none() | st.builds(
        MaxStay, st.integers(1, 10**6) | st.floats(0.5, 1e6),
        st.sampled_from([StayAction.ALERT, StayAction.HALT]))


_STOPS: Final = OrderClass(order_types={OrderType.STOP_MARKET, OrderType.STOP_LIMIT})


@st.composite
def _halt_rules(draw: st.DrawFn) -> tuple[RestingRule, ...]:
    """Resting rules for a phase that stops matching: stop orders are always cancelled (kept,
    the reopen print could fire them: STOP_FIRES_ON_REOPEN); other classes vary."""
    rules = [RestingRule(RestingAction.CANCEL, _STOPS)]
    if draw(st.booleans()):
        rules.append(RestingRule(
            draw(st.sampled_from([RestingAction.CANCEL, RestingAction.KEEP])),
            OrderClass(origins=draw(_subset(list(Origin))))))
    return tuple(rules)


@st.composite
def _policy_parts(draw: st.DrawFn) -> _Parts:
    normal = "NORMAL"
    fail_safe = draw(st.sampled_from(["HALTED", "MAINTENANCE"]))
    pre_open = draw(st.sampled_from(["PRE_OPEN", "POST_ONLY", "REBUILD"]))
    halt = draw(st.sampled_from(["halt", "suspend"]))
    phases = [
        PhaseSpec(normal, Acceptance.everything(), matching=True,
                  stop_triggers=draw(st.booleans()), liquidations=draw(st.booleans())),
        PhaseSpec(fail_safe, Acceptance(
            actions=draw(_subset([Action.ADD_MARGIN, Action.CANCEL, Action.MASS_CANCEL], min_size=0)),
            origins=draw(_subset(list(Origin)))), matching=False, resting=draw(_halt_rules())),
        PhaseSpec(pre_open, Acceptance(
            actions={Action.NEW_ORDER, Action.CANCEL} | draw(
                _subset([Action.AMEND, Action.MASS_CANCEL, Action.ADD_MARGIN], min_size=0)),
            order_types={OrderType.LIMIT}, time_in_force=draw(_subset(list(_RESTING))),
            origins=draw(_subset(list(Origin))), post_only=True), matching=False,
            max_stay=draw(_max_stays()), funding=draw(st.booleans())),
    ]
    phases[1] = attrs.evolve(phases[1], funding=draw(st.booleans()))
    extras = draw(st.lists(st.sampled_from(["DEGRADED", "LIMIT_ONLY", "REDUCE_ONLY", "FULL_OPEN"]),
                           unique=True, max_size=2))
    phases += [draw(_matching_phase(name)) for name in extras]
    if draw(st.booleans()):
        closed = draw(_subset([Action.CANCEL, Action.MASS_CANCEL, Action.ADD_MARGIN], min_size=0))
        phases.append(PhaseSpec("CANCEL_ONLY", Acceptance(actions=closed), matching=False,
                                resting=draw(_halt_rules())))
        extras.append("CANCEL_ONLY")
    guarded = draw(st.booleans())  # guards only where a transition is sure to be relaxing
    open_dest = draw(st.sampled_from([normal, *[e for e in extras if e != "CANCEL_ONLY"]]))
    transitions = [
        TransitionSpec("pre_open", fail_safe, pre_open, guards=("ready",) if guarded else ()),
        TransitionSpec("open", pre_open, open_dest, guards=("ready",) if guarded else ()),
        *(TransitionSpec(halt, p.name, fail_safe) for p in phases if p.name != fail_safe),
    ]
    for extra in extras:
        transitions += [TransitionSpec(f"enter_{extra.lower()}", normal, extra),
                        TransitionSpec("resume", extra, normal)]
    initial = draw(st.sampled_from([normal, fail_safe]))
    return _Parts(tuple(phases), tuple(transitions), initial, normal, fail_safe, pre_open, halt)


def valid_policies() -> st.SearchStrategy[Policy]:
    """Policies that pass validation, in varied shapes (phase names, extra phases, guards).

    Every guard a drawn policy names is called ``ready``.

    Example:
        >>> from hypothesis import given
        >>> @given(valid_policies())
        ... def test_every_phase_reaches_normal(policy):
        ...     assert policy.normal in policy.phase_names
    """
    return _policy_parts().map(lambda parts: Policy(**parts.kwargs()))


@attrs.frozen(repr=False)
class BrokenPolicy:
    """A policy definition with one deliberate mistake, and what the validator must say.

    `codes` is exactly the set of problem codes building it must report: `{code}`, except where
    a mistake cannot happen alone (a phase with no path to the halt has no halt trigger either).
    """

    code: ProblemCode
    codes: frozenset[ProblemCode]
    mutation: str
    fields: Mapping[str, Any] = attrs.field(eq=False)

    def build(self) -> Policy:
        """Build the policy; this raises `InvalidPolicyError`, or the validator has a hole.

        Raises:
            ConfigurationError: `fields` is not a mapping of `Policy` fields.
        """
        known = {f.name for f in attrs.fields(Policy) if f.init}
        if not (isinstance(self.fields, Mapping) and all(
                type(key) is str and key in known for key in self.fields)):
            msg = f"fields must be a mapping of Policy fields, got {shown(self.fields)}"
            raise ConfigurationError(msg)
        return Policy(**self.fields)

    def __repr__(self) -> str:
        return f"BrokenPolicy({self.code.value}: {self.mutation})"


def _fields(parts: _Parts, **changes: Any) -> Mapping[str, Any]:
    return types.MappingProxyType({**parts.kwargs(), **changes})


def _without(parts: _Parts, keep: Callable[[TransitionSpec], bool]) -> tuple[TransitionSpec, ...]:
    return tuple(t for t in parts.transitions if keep(t))


_Mutation = Callable[[_Parts], tuple[str, Mapping[str, Any]]]


def _m_invalid_name(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    extra = TransitionSpec("Reopen Now", p.normal, p.fail_safe)
    return "a trigger named 'Reopen Now'", _fields(p, transitions=(*p.transitions, extra))


def _m_invalid_value(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return "a str among the transitions", _fields(p, transitions=(*p.transitions, "halt"))


def _m_duplicate_phase(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return f"{p.pre_open} defined twice", _fields(p, phases=(*p.phases, p.phase(p.pre_open)))


def _m_unknown_phase(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    extra = TransitionSpec("vanish", p.normal, "NOWHERE")
    return "a transition to NOWHERE", _fields(p, transitions=(*p.transitions, extra))


def _m_duplicate_trigger(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    extra = TransitionSpec(p.halt_trigger, p.normal, p.fail_safe)
    return f"{p.halt_trigger} from {p.normal} twice", _fields(
        p, transitions=(*p.transitions, extra))


def _m_unreachable_phase(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    orphan = PhaseSpec("ORPHAN", Acceptance.everything(), matching=True)
    exits = (TransitionSpec(p.halt_trigger, "ORPHAN", p.fail_safe),
             TransitionSpec("resume", "ORPHAN", p.normal))
    return "a phase ORPHAN nothing leads to", _fields(
        p, phases=(*p.phases, orphan), transitions=(*p.transitions, *exits))


def _m_normal_unreachable(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return f"every transition into {p.normal} removed", _fields(
        p, transitions=_without(p, lambda t: t.dest != p.normal), initial=p.normal)


def _m_no_path_to_halt(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return f"every {p.halt_trigger} transition removed (starting in {p.fail_safe})", _fields(
        p, transitions=_without(p, lambda t: t.trigger != p.halt_trigger), initial=p.fail_safe)


def _m_missing_halt_trigger(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return f"{p.pre_open} loses its {p.halt_trigger} (it still reaches it by opening)", _fields(
        p, transitions=_without(p, lambda t: (t.source, t.trigger) != (p.pre_open, p.halt_trigger)))


def _m_halt_skips_pre_open(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    extra = TransitionSpec("reopen_now", p.fail_safe, p.normal)
    return f"a shortcut {p.fail_safe} -> {p.normal}", _fields(
        p, transitions=(*p.transitions, extra))


def _m_immediate_execution(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    accepts = attrs.evolve(p.phase(p.pre_open).accepts, post_only=False,
                           time_in_force=frozenset(TimeInForce))
    return f"{p.pre_open} takes limit IOC/FOK orders", _fields(
        p, phases=p.replace_phase(p.pre_open, accepts=accepts))


def _m_cancel_not_accepted(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    accepts = Acceptance(actions=frozenset(Action) - {Action.CANCEL})
    return f"{p.normal} refuses cancels", _fields(
        p, phases=p.replace_phase(p.normal, accepts=accepts))


def _m_capability_without_matching(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return f"{p.pre_open} triggers stops", _fields(
        p, phases=p.replace_phase(p.pre_open, stop_triggers=True))


def _m_unsafe_fail_safe(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return f"{p.fail_safe} matches orders", _fields(
        p, phases=p.replace_phase(p.fail_safe, matching=True))


def _m_guarded_tightening(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    def guard(t: TransitionSpec) -> TransitionSpec:
        if (t.source, t.trigger) == (p.normal, p.halt_trigger):
            return attrs.evolve(t, guards=("confirmed",))
        return t

    return f"{p.halt_trigger} from {p.normal} needs a guard", _fields(
        p, transitions=tuple(guard(t) for t in p.transitions))


def _m_capability_bypass(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    normal = attrs.evolve(p.phase(p.normal), stop_triggers=True, liquidations=True)
    reopen = PhaseSpec("REOPEN", Acceptance.everything(), matching=True)  # protections off
    bypassed = PhaseSpec("BYPASSED", Acceptance.everything(), matching=True, stop_triggers=True,
                         liquidations=True)
    phases = (*(normal if q.name == p.normal else q for q in p.phases), reopen, bypassed)
    transitions = (
        *p.transitions,
        TransitionSpec("enter_reopen", p.normal, "REOPEN"),
        TransitionSpec("lift", "REOPEN", p.normal, guards=("approved",)),
        TransitionSpec("bypass", "REOPEN", "BYPASSED"),
        TransitionSpec("resume", "BYPASSED", p.normal),
        TransitionSpec(p.halt_trigger, "REOPEN", p.fail_safe),
        TransitionSpec(p.halt_trigger, "BYPASSED", p.fail_safe),
    )
    return "REOPEN gives stops and liquidations back through BYPASSED, unguarded", _fields(
        p, phases=phases, transitions=transitions)


def _m_invalid_disposition(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    rule = RestingRule(RestingAction.SUSPEND, _STOPS)  # suspended until when?
    phases = tuple(attrs.evolve(q, resting=(rule, *q.resting)) if q.name == p.fail_safe else q
                   for q in p.phases)
    return f"{p.fail_safe} suspends stops without saying until when", _fields(p, phases=phases)


def _m_stop_fires_on_reopen(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    normal = attrs.evolve(p.phase(p.normal), stop_triggers=True)
    frozen = PhaseSpec("FROZEN", Acceptance(actions={Action.CANCEL}), matching=False)
    phases = (*(normal if q.name == p.normal else q for q in p.phases), frozen)
    transitions = (
        *p.transitions,
        TransitionSpec("freeze", p.normal, "FROZEN"),
        TransitionSpec("thaw", "FROZEN", p.normal),
        TransitionSpec(p.halt_trigger, "FROZEN", p.fail_safe),
    )
    return "FROZEN keeps the stops of NORMAL and thaws straight into stop triggers", _fields(
        p, phases=phases, transitions=transitions)


def _m_invalid_deferral(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    phases = tuple(attrs.evolve(q, defers={Action.CANCEL}) if q.name == p.fail_safe else q
                   for q in p.phases)
    return f"{p.fail_safe} defers cancels", _fields(p, phases=phases)


def _m_deferred_not_cancellable(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    def defer(q: PhaseSpec) -> PhaseSpec:
        actions = q.accepts.actions - {Action.WITHDRAWAL, Action.CANCEL_WITHDRAWAL}
        return attrs.evolve(q, accepts=attrs.evolve(q.accepts, actions=actions),
                            defers={Action.WITHDRAWAL})

    phases = tuple(defer(q) if q.name == p.fail_safe else q for q in p.phases)
    return f"{p.fail_safe} defers withdrawals and refuses their cancels", _fields(p, phases=phases)


def _m_duplicate_guard(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    guards = (GuardSpec("stay", "dwell", seconds=60), GuardSpec("stay", "dwell", seconds=120))
    return "guard 'stay' declared twice", _fields(p, guards=guards)


def _m_invalid_guard(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return "a guard of kind 'quorum'", _fields(p, guards=(GuardSpec("votes", "quorum"),))


def _m_negative_duration(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return "a dwell of -1 s", _fields(p, guards=(GuardSpec("stay", "dwell", seconds=-1),))


def _m_permission_for_unknown_trigger(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return "a permission for 'opne'", _fields(p, permissions=(Permission("opne", "operator"),))


def _m_duplicate_permission(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    twice = (Permission("pre_open", "operator"), Permission("pre_open", "lead"))
    return "two permissions for 'pre_open'", _fields(p, permissions=twice)


def _m_invalid_auction(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    auction = AuctionSpec("open", "open_anyway")  # no such trigger leaves the phase
    return f"{p.pre_open} is an auction whose override does not leave it", _fields(
        p, phases=p.replace_phase(p.pre_open, auction=auction))


def _m_invalid_deadline(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    stay = MaxStay(600, StayAction.ADVANCE, trigger="vanish")
    return f"{p.pre_open} advances after 600 s by a trigger it lacks", _fields(
        p, phases=p.replace_phase(p.pre_open, max_stay=stay))


def _m_invalid_liquidation_release(p: _Parts) -> tuple[str, Mapping[str, Any]]:
    return f"{p.fail_safe} releases liquidations without matching", _fields(
        p, phases=p.replace_phase(p.fail_safe, liquidation_release=LiquidationRelease()))


MUTATIONS: Final[Mapping[ProblemCode, tuple[frozenset[ProblemCode], _Mutation]]] = (
    types.MappingProxyType({
        ProblemCode.INVALID_NAME: (frozenset(), _m_invalid_name),
        ProblemCode.INVALID_VALUE: (frozenset(), _m_invalid_value),
        ProblemCode.DUPLICATE_PHASE: (frozenset(), _m_duplicate_phase),
        ProblemCode.UNKNOWN_PHASE: (frozenset(), _m_unknown_phase),
        ProblemCode.DUPLICATE_TRIGGER: (frozenset(), _m_duplicate_trigger),
        ProblemCode.UNREACHABLE_PHASE: (frozenset(), _m_unreachable_phase),
        ProblemCode.NORMAL_UNREACHABLE: (frozenset(), _m_normal_unreachable),
        ProblemCode.NO_PATH_TO_HALT: (
            frozenset({ProblemCode.MISSING_HALT_TRIGGER}), _m_no_path_to_halt),
        ProblemCode.MISSING_HALT_TRIGGER: (frozenset(), _m_missing_halt_trigger),
        ProblemCode.HALT_SKIPS_PRE_OPEN: (frozenset(), _m_halt_skips_pre_open),
        ProblemCode.IMMEDIATE_EXECUTION_WITHOUT_MATCHING: (frozenset(), _m_immediate_execution),
        ProblemCode.CANCEL_NOT_ACCEPTED: (frozenset(), _m_cancel_not_accepted),
        ProblemCode.CAPABILITY_WITHOUT_MATCHING: (frozenset(), _m_capability_without_matching),
        ProblemCode.UNSAFE_FAIL_SAFE: (frozenset(), _m_unsafe_fail_safe),
        ProblemCode.GUARDED_TIGHTENING: (frozenset(), _m_guarded_tightening),
        ProblemCode.DUPLICATE_GUARD: (frozenset(), _m_duplicate_guard),
        ProblemCode.INVALID_GUARD: (frozenset(), _m_invalid_guard),
        ProblemCode.NEGATIVE_DURATION: (frozenset(), _m_negative_duration),
        ProblemCode.PERMISSION_FOR_UNKNOWN_TRIGGER: (
            frozenset(), _m_permission_for_unknown_trigger),
        ProblemCode.DUPLICATE_PERMISSION: (frozenset(), _m_duplicate_permission),
        ProblemCode.CAPABILITY_BYPASS: (frozenset(), _m_capability_bypass),
        ProblemCode.INVALID_DISPOSITION: (frozenset(), _m_invalid_disposition),
        ProblemCode.STOP_FIRES_ON_REOPEN: (frozenset(), _m_stop_fires_on_reopen),
        ProblemCode.INVALID_DEFERRAL: (frozenset(), _m_invalid_deferral),
        ProblemCode.DEFERRED_NOT_CANCELLABLE: (frozenset(), _m_deferred_not_cancellable),
        ProblemCode.INVALID_AUCTION: (frozenset(), _m_invalid_auction),
        ProblemCode.INVALID_DEADLINE: (frozenset(), _m_invalid_deadline),
        ProblemCode.INVALID_LIQUIDATION_RELEASE: (frozenset(), _m_invalid_liquidation_release),
    })
)
"""For each problem code a built `Policy` can have: the codes that unavoidably come with it, and
the mutation. `NOT_POLICY_CODES` are the others (a policy file's, a restart plan's)."""

NOT_POLICY_CODES: Final = frozenset({
    ProblemCode.FILE_UNREADABLE, ProblemCode.SYNTAX_ERROR, ProblemCode.UNKNOWN_KEY,
    ProblemCode.MISSING_KEY, ProblemCode.UNKNOWN_MEMBER,  # reading a policy file
    ProblemCode.PLAN_ENDPOINTS, ProblemCode.PLAN_STEP_MISMATCH,  # building a restart plan
})
"""Problem codes no `Policy` built in code reports: they have no mutation here."""


def broken_policies(
    codes: Sequence[ProblemCode] | None = None,
) -> st.SearchStrategy[BrokenPolicy]:
    """Valid policies with one mutation each, labelled with the problem code it must trigger.

    Args:
        codes: only mutations for these codes (default: one for every code).

    Raises:
        ConfigurationError: `codes` is not a non-empty sequence of codes with a mutation.

    Example:
        >>> import pytest
        >>> from hypothesis import given
        >>> from exchange_recovery import InvalidPolicyError
        >>> @given(broken_policies())
        ... def test_the_validator_names_the_mistake(broken):
        ...     with pytest.raises(InvalidPolicyError) as caught:
        ...         broken.build()
        ...     assert caught.value.codes == broken.codes
    """
    chosen = list(MUTATIONS) if codes is None else list(_items("codes", codes, "ProblemCodes"))
    unknown = [c for c in chosen if type(c) is not ProblemCode or c not in MUTATIONS]
    if unknown:
        msg = f"no mutation for {shown(unknown)}; known: {sorted(c.value for c in MUTATIONS)}"
        raise ConfigurationError(msg)

    def mutate(parts: _Parts, code: ProblemCode) -> BrokenPolicy:
        companions, mutation = MUTATIONS[code]
        description, fields = mutation(parts)
        return BrokenPolicy(code, frozenset({code}) | companions, description, fields)

    return st.builds(mutate, _policy_parts(), st.sampled_from(chosen))


# -- transitions ------------------------------------------------------------------------------


def transition_sequences(
    policy: Policy, *, start: str | None = None, max_size: int = 12
) -> st.SearchStrategy[list[TransitionSpec]]:
    """A walk through `policy`'s graph from `start` (default: its initial phase).

    Each element is the transition taken; fire them in order (``controller.fire(t.trigger,
    ...)``) and every one is legal. Guards are the caller's business.

    Raises:
        ConfigurationError: `policy` is no `Policy`, `start` no phase of it, or `max_size`
            not an int from 0 to 10,000.

    Example:
        >>> from hypothesis import given
        >>> from exchange_recovery import Controller, default_policy
        >>> policy = default_policy()
        >>> @given(transition_sequences(policy))
        ... def test_walks_are_legal(walk):
        ...     c = Controller(policy)
        ...     for t in walk:
        ...         assert c.fire(t.trigger, actor="ops:test", reason="walk").dest == t.dest
    """
    if not isinstance(policy, Policy):
        msg = f"policy must be a Policy, got {shown(policy)}"
        raise ConfigurationError(msg)
    here = policy.initial if start is None else policy.phase(start).name
    if type(max_size) is not int or not 0 <= max_size <= _MAX_WALK:
        msg = f"max_size must be an int from 0 to {_MAX_WALK}, got {shown(max_size)}"
        raise ConfigurationError(msg)
    return _walks(policy, here, max_size)


_MAX_WALK: Final = 10_000


@st.composite
def _walks(draw: st.DrawFn, policy: Policy, here: str, max_size: int) -> list[TransitionSpec]:
    size = draw(st.integers(min_value=0, max_value=max_size))
    walk: list[TransitionSpec] = []
    for _ in range(size):
        options = policy.transitions_from(here)
        if not options:
            break
        step = draw(st.sampled_from(options))
        walk.append(step)
        here = step.dest
    return walk
