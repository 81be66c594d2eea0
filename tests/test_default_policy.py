"""The default policy implements DESIGN.md's acceptance matrix and transition graph, rule by rule.

Each decision is read through a `Gate` with the venue in the phase under test, and checked for
its accepted flag, its reason code, and the phase and scope that decided it.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import pytest

from exchange_recovery import (
    ALL_KINDS,
    VENUE,
    Action,
    Decision,
    Gate,
    OrderType,
    Origin,
    Policy,
    Reason,
    Request,
    RequestKind,
    TimeInForce,
    default_policy,
)

INSTRUMENT = "BTC-USDT-SWAP"
PHASES = ("NORMAL", "DEGRADED", "HALTED", "PRE_OPEN", "FULL_OPEN")
ORDER_ACTIONS = (Action.NEW_ORDER, Action.AMEND)
ORDER_ENTRY = (Action.NEW_ORDER, Action.AMEND, Action.CANCEL, Action.MASS_CANCEL)
NOT_LIQUIDATION = tuple(o for o in Origin if o is not Origin.LIQUIDATION)
RESTING = (TimeInForce.GTC, TimeInForce.GTD)
IMMEDIATE = (TimeInForce.IOC, TimeInForce.FOK)
STOPS = (OrderType.STOP_MARKET, OrderType.STOP_LIMIT)


@functools.cache
def _policy() -> Policy:
    return default_policy()


@functools.cache
def _gate(phase: str) -> Gate:
    return Gate(_policy(), {VENUE: phase})


def decide(phase: str, request: Request) -> Decision:
    """The decision for `request` with the whole venue in `phase`."""
    decision = _gate(phase).check(request)
    assert decision.phase == phase
    assert decision.scope == VENUE
    assert decision.accepted is (decision.reason is Reason.ACCEPTED)
    return decision


def assert_accepted(phase: str, requests: Iterable[Request]) -> None:
    for request in requests:
        decision = decide(phase, request)
        assert decision.accepted, (request, decision)


def assert_rejected(phase: str, requests: Iterable[Request], reason: Reason) -> None:
    for request in requests:
        decision = decide(phase, request)
        assert not decision.accepted, (request, decision)
        assert decision.reason is reason, (request, decision)


def of_kinds(kinds: Iterable[RequestKind]) -> list[Request]:
    """One request of each kind, on one instrument."""
    return [Request(k.action, INSTRUMENT, k.order_type, k.time_in_force, k.post_only, k.reduce_only,
                    k.origin) for k in kinds]


def kinds(*actions: Action, origins: Iterable[Origin] = tuple(Origin),
          order_types: Iterable[OrderType] = tuple(OrderType),
          tifs: Iterable[TimeInForce | None] = (*TimeInForce, None),
          post_only: Iterable[bool] = (False, True)) -> list[Request]:
    """Requests of every kind with these actions, origins, order types, tifs and post-only flags."""
    origins, order_types, tifs, post_only = (set(origins), set(order_types), set(tifs),
                                             set(post_only))
    return of_kinds(
        k for k in ALL_KINDS
        if k.action in actions and k.origin in origins and k.post_only in post_only
        and (k.order_type is None or k.order_type in order_types) and k.time_in_force in tifs
    )


# -- NORMAL --------------------------------------------------------------------------------------


def test_normal_accepts_every_request_kind_from_every_origin() -> None:
    """Business as usual: every kind is accepted, liquidation-engine orders included."""
    assert_accepted("NORMAL", of_kinds(ALL_KINDS))


# -- DEGRADED -------------------------------------------------------------------------------------


def test_degraded_accepts_limit_orders_of_every_time_in_force() -> None:
    """A thin venue still takes limit orders, resting or immediate, new or amended."""
    assert_accepted("DEGRADED", kinds(*ORDER_ACTIONS, order_types=[OrderType.LIMIT]))


def test_degraded_refuses_market_orders() -> None:
    """Market orders on a thin, laggy book are refused as an order type."""
    assert_rejected("DEGRADED", kinds(Action.NEW_ORDER, order_types=[OrderType.MARKET]),
                    Reason.ORDER_TYPE_NOT_ALLOWED)


def test_degraded_refuses_stop_orders_new_and_amended() -> None:
    """Stop-market and stop-limit orders are refused, whether new or amended."""
    requests = kinds(*ORDER_ACTIONS, order_types=STOPS)

    assert len(requests) == (16 + 8) * len(Origin)  # new: 2 types x 4 tifs x ro; amend: 2 x 2 x ro
    assert_rejected("DEGRADED", requests, Reason.ORDER_TYPE_NOT_ALLOWED)
    decision = decide("DEGRADED", Request.new_order(INSTRUMENT, OrderType.STOP_MARKET))
    assert decision.message == (
        "ORDER_TYPE_NOT_ALLOWED: phase=DEGRADED scope=venue order_type=STOP_MARKET")


def test_degraded_refuses_stop_orders_deposits_and_withdrawals() -> None:
    """Deposits and withdrawals are refused as actions while degraded."""
    assert_rejected("DEGRADED", kinds(Action.DEPOSIT, Action.WITHDRAWAL), Reason.ACTION_NOT_ALLOWED)
    assert decide("DEGRADED", Request(Action.WITHDRAWAL)).message == (
        "ACTION_NOT_ALLOWED: phase=DEGRADED scope=venue action=WITHDRAWAL")


def test_degraded_accepts_cancels_and_both_margin_changes() -> None:
    """Risk-reducing and account actions stay open while degraded."""
    assert_accepted("DEGRADED", kinds(Action.CANCEL, Action.MASS_CANCEL, Action.ADD_MARGIN,
                                      Action.REMOVE_MARGIN))


def test_degraded_keeps_liquidations_running() -> None:
    """The liquidation engine's limit orders are accepted while degraded."""
    assert_accepted("DEGRADED", [
        Request.new_order(INSTRUMENT, OrderType.LIMIT, reduce_only=True, origin=Origin.LIQUIDATION),
        Request.new_order(INSTRUMENT, OrderType.LIMIT, TimeInForce.IOC, origin=Origin.LIQUIDATION),
    ])


# -- HALTED ---------------------------------------------------------------------------------------


def test_halted_accepts_no_order_entry() -> None:
    """No new order, amend, cancel or mass cancel gets through, from any origin."""
    requests = kinds(*ORDER_ENTRY)

    assert_rejected("HALTED", requests, Reason.PHASE_HALTED)
    assert_rejected("HALTED", [Request.mass_cancel()], Reason.PHASE_HALTED)


def test_halted_rejection_names_the_action() -> None:
    """The halted message says which action was refused, in the stable CODE: key=value form."""
    decision = decide("HALTED", Request.new_order(INSTRUMENT, OrderType.LIMIT, post_only=True))

    assert decision.message == "PHASE_HALTED: phase=HALTED scope=venue action=NEW_ORDER"


def test_halted_accepts_adding_margin() -> None:
    """Adding margin only lowers risk: it stays open during a halt, venue-wide or per instrument."""
    assert_accepted("HALTED", kinds(Action.ADD_MARGIN, origins=NOT_LIQUIDATION))
    assert_accepted("HALTED", [Request.margin(add=True)])


def test_halted_refuses_removing_margin_deposits_and_withdrawals() -> None:
    """Everything but adding margin is refused while halted."""
    assert_rejected("HALTED", kinds(Action.REMOVE_MARGIN, Action.DEPOSIT, Action.WITHDRAWAL),
                    Reason.PHASE_HALTED)


def test_halted_refuses_the_liquidation_engine() -> None:
    """The liquidation engine may not even add margin while halted."""
    assert_rejected("HALTED", [Request.margin(add=True, origin=Origin.LIQUIDATION)],
                    Reason.ORIGIN_NOT_ALLOWED)


# -- PRE_OPEN -------------------------------------------------------------------------------------


def test_pre_open_rejects_market_orders() -> None:
    """Nothing matches in pre-open, so market orders are refused as an order type."""
    assert_rejected("PRE_OPEN", kinds(Action.NEW_ORDER, order_types=[OrderType.MARKET],
                                      origins=NOT_LIQUIDATION), Reason.ORDER_TYPE_NOT_ALLOWED)
    decision = decide("PRE_OPEN", Request.new_order(INSTRUMENT, OrderType.MARKET))
    assert decision.message == "ORDER_TYPE_NOT_ALLOWED: phase=PRE_OPEN scope=venue order_type=MARKET"


def test_pre_open_rejects_stop_orders() -> None:
    """Stop orders are refused in pre-open, new or amended."""
    assert_rejected("PRE_OPEN", kinds(*ORDER_ACTIONS, order_types=STOPS, origins=NOT_LIQUIDATION),
                    Reason.ORDER_TYPE_NOT_ALLOWED)


def test_pre_open_rejects_ioc_and_fok_limit_orders() -> None:
    """An immediate limit order cannot execute before matching resumes."""
    assert_rejected("PRE_OPEN", kinds(Action.NEW_ORDER, order_types=[OrderType.LIMIT], tifs=IMMEDIATE,
                                      origins=NOT_LIQUIDATION), Reason.TIME_IN_FORCE_NOT_ALLOWED)


def test_pre_open_requires_post_only_on_resting_limit_orders() -> None:
    """A resting limit order without post-only could cross at the open: refused."""
    assert_rejected("PRE_OPEN", kinds(*ORDER_ACTIONS, order_types=[OrderType.LIMIT], tifs=RESTING,
                                      post_only=[False], origins=NOT_LIQUIDATION),
                    Reason.POST_ONLY_REQUIRED)
    decision = decide("PRE_OPEN", Request.new_order(INSTRUMENT, OrderType.LIMIT))
    assert decision.message == "POST_ONLY_REQUIRED: phase=PRE_OPEN scope=venue post_only=False"


def test_pre_open_accepts_post_only_limit_orders() -> None:
    """Post-only GTC/GTD limit orders rebuild the book, reduce-only or not."""
    requests = kinds(Action.NEW_ORDER, post_only=[True], origins=NOT_LIQUIDATION)

    assert len(requests) == 4 * len(NOT_LIQUIDATION)  # GTC/GTD x reduce-only or not
    assert_accepted("PRE_OPEN", requests)


def test_pre_open_accepts_post_only_limit_amends() -> None:
    """Amending a post-only resting limit order is accepted."""
    requests = kinds(Action.AMEND, post_only=[True], origins=NOT_LIQUIDATION)

    assert requests
    assert_accepted("PRE_OPEN", requests)
    assert_accepted("PRE_OPEN", [Request.amend(INSTRUMENT, time_in_force=TimeInForce.GTD,
                                               post_only=True, origin=Origin.MARKET_MAKER)])


def test_pre_open_accepts_cancels_mass_cancels_and_adding_margin() -> None:
    """Participants can pull orders and add margin before the reopen."""
    assert_accepted("PRE_OPEN", kinds(Action.CANCEL, Action.MASS_CANCEL, Action.ADD_MARGIN,
                                      origins=NOT_LIQUIDATION))
    assert_accepted("PRE_OPEN", [Request.mass_cancel(), Request.margin(add=True)])


def test_pre_open_refuses_removing_margin_deposits_and_withdrawals() -> None:
    """Only risk-reducing account actions are open in pre-open."""
    assert_rejected("PRE_OPEN", kinds(Action.REMOVE_MARGIN, Action.DEPOSIT, Action.WITHDRAWAL,
                                      origins=NOT_LIQUIDATION), Reason.ACTION_NOT_ALLOWED)


def test_pre_open_refuses_the_liquidation_engine() -> None:
    """Even a post-only limit order from the liquidation engine waits for NORMAL."""
    assert_rejected("PRE_OPEN", kinds(Action.NEW_ORDER, Action.AMEND, Action.CANCEL,
                                      Action.ADD_MARGIN, post_only=[True, False],
                                      origins=[Origin.LIQUIDATION]), Reason.ORIGIN_NOT_ALLOWED)


def test_pre_open_reduce_only_orders_still_need_post_only() -> None:
    """Reduce-only does not waive post-only: a reduce-only limit order without it is refused."""
    decision = decide("PRE_OPEN", Request.new_order(INSTRUMENT, OrderType.LIMIT, reduce_only=True))

    assert decision.reason is Reason.POST_ONLY_REQUIRED


# -- FULL_OPEN ------------------------------------------------------------------------------------


def test_full_open_accepts_all_order_entry() -> None:
    """Matching has resumed: every order type and time in force is accepted again."""
    assert_accepted("FULL_OPEN", kinds(*ORDER_ENTRY, origins=NOT_LIQUIDATION))


def test_full_open_defers_liquidation_orders() -> None:
    """The liquidation engine is refused until an operator or the plan moves to NORMAL."""
    open_actions = [a for a in Action if a is not Action.REMOVE_MARGIN]  # that one: the action decides
    assert_rejected("FULL_OPEN", kinds(*open_actions, origins=[Origin.LIQUIDATION]),
                    Reason.ORIGIN_NOT_ALLOWED)
    assert_rejected("FULL_OPEN", [Request.margin(add=False, origin=Origin.LIQUIDATION)],
                    Reason.ACTION_NOT_ALLOWED)
    decision = decide("FULL_OPEN", Request.new_order(INSTRUMENT, OrderType.MARKET,
                                                     origin=Origin.LIQUIDATION))
    assert decision.message == "ORIGIN_NOT_ALLOWED: phase=FULL_OPEN scope=venue origin=LIQUIDATION"


def test_full_open_refuses_removing_margin() -> None:
    """Margin may be added but not removed until the venue is back to NORMAL."""
    assert_rejected("FULL_OPEN", kinds(Action.REMOVE_MARGIN, origins=NOT_LIQUIDATION),
                    Reason.ACTION_NOT_ALLOWED)
    assert_accepted("FULL_OPEN", kinds(Action.ADD_MARGIN, origins=NOT_LIQUIDATION))


def test_full_open_accepts_deposits_and_withdrawals() -> None:
    """Transfers reopen with matching."""
    assert_accepted("FULL_OPEN", kinds(Action.DEPOSIT, Action.WITHDRAWAL, origins=NOT_LIQUIDATION))


# -- across phases --------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", PHASES)
def test_reduce_only_is_decided_as_its_order_type(phase: str) -> None:
    """Setting reduce-only never changes the verdict of the default policy."""
    for kind in ALL_KINDS:
        if kind.reduce_only:
            plain = Request(kind.action, INSTRUMENT, kind.order_type, kind.time_in_force,
                            kind.post_only, False, kind.origin)
            reduce = Request(kind.action, INSTRUMENT, kind.order_type, kind.time_in_force,
                             kind.post_only, True, kind.origin)
            assert decide(phase, reduce).reason is decide(phase, plain).reason


@pytest.mark.parametrize("phase", ["HALTED", "PRE_OPEN"])
def test_non_matching_phases_accept_nothing_that_needs_immediate_execution(phase: str) -> None:
    """Safety property 7: no market, IOC or FOK order in a phase that does not match."""
    assert not _policy().phase(phase).matching
    for request in of_kinds(ALL_KINDS):
        if request.kind.needs_immediate_execution:
            assert not decide(phase, request).accepted, request


def _matrix_accepts(phase: str, kind: RequestKind) -> bool:
    """DESIGN.md's default acceptance matrix, transcribed row by row."""
    if kind.origin is Origin.LIQUIDATION and phase in {"HALTED", "PRE_OPEN", "FULL_OPEN"}:
        return False  # origin = liquidation engine: deferred until NORMAL
    action = kind.action
    if action in ORDER_ACTIONS:
        if phase == "HALTED":
            return False
        if phase == "PRE_OPEN":
            return (kind.order_type is OrderType.LIMIT and kind.time_in_force in RESTING
                    and kind.post_only)
        if phase == "DEGRADED":
            return kind.order_type is OrderType.LIMIT
        return True
    rows = {
        Action.CANCEL: {"NORMAL", "DEGRADED", "PRE_OPEN", "FULL_OPEN"},
        Action.MASS_CANCEL: {"NORMAL", "DEGRADED", "PRE_OPEN", "FULL_OPEN"},
        Action.ADD_MARGIN: set(PHASES),
        Action.REMOVE_MARGIN: {"NORMAL", "DEGRADED"},
        Action.DEPOSIT: {"NORMAL", "FULL_OPEN"},
        Action.WITHDRAWAL: {"NORMAL", "FULL_OPEN"},
        Action.CANCEL_WITHDRAWAL: set(PHASES),  # issue #16: never refused but to the liquidator
    }
    return phase in rows[action]


@pytest.mark.parametrize("phase", PHASES)
def test_every_kind_is_decided_as_the_design_matrix_says(phase: str) -> None:
    """Each of the request kinds gets the verdict of DESIGN.md's table, in each phase."""
    mismatches = [
        (k.describe(), decide(phase, r).reason.value)
        for k, r in zip(ALL_KINDS, of_kinds(ALL_KINDS), strict=True)
        if decide(phase, r).accepted is not _matrix_accepts(phase, k)
    ]

    assert mismatches == []


@pytest.mark.parametrize(
    ("phase", "capabilities"),
    [
        ("NORMAL", {"matching", "stop_triggers", "liquidations"}),
        ("DEGRADED", {"matching", "stop_triggers", "liquidations"}),
        ("HALTED", set()),
        ("PRE_OPEN", set()),
        ("FULL_OPEN", {"matching"}),
    ],
)
def test_each_phase_tells_the_engine_what_it_may_do(phase: str, capabilities: set[str]) -> None:
    """Matching in NORMAL/DEGRADED/FULL_OPEN; stops and liquidations in NORMAL/DEGRADED only."""
    gate = _gate(phase)

    assert _policy().phase(phase).capabilities == capabilities
    assert gate.capabilities() == capabilities
    assert gate.matching() is ("matching" in capabilities)
    assert gate.stop_triggers() is ("stop_triggers" in capabilities)
    assert gate.liquidations() is ("liquidations" in capabilities)


def test_halted_is_the_strictest_phase_and_normal_the_loosest() -> None:
    """Strictness counts rejected kinds: HALTED rejects the most, NORMAL none."""
    policy = _policy()
    strictness = {phase: policy.strictness(phase) for phase in PHASES}

    assert strictness["NORMAL"] == 0
    assert max(strictness, key=strictness.__getitem__) == "HALTED"
    assert strictness["HALTED"] > strictness["PRE_OPEN"] > strictness["FULL_OPEN"] > 0


# -- the transition graph -------------------------------------------------------------------------


def test_policy_has_the_five_phases_and_starts_normal() -> None:
    """Phases in order, NORMAL initial and normal, HALTED the fail-safe, 'halt' the halt trigger."""
    policy = _policy()

    assert policy.phase_names == PHASES
    assert (policy.initial, policy.normal, policy.fail_safe, policy.halt_trigger) == (
        "NORMAL", "NORMAL", "HALTED", "halt")


def test_the_graph_has_exactly_the_design_edges() -> None:
    """degrade, recover, halt (from all but HALTED), pre_open, open, normalize; nothing else."""
    edges = {(t.trigger, t.source, t.dest) for t in _policy().transitions}

    assert edges == {
        ("degrade", "NORMAL", "DEGRADED"),
        ("degrade", "FULL_OPEN", "DEGRADED"),
        ("recover", "DEGRADED", "NORMAL"),
        ("halt", "NORMAL", "HALTED"),
        ("halt", "DEGRADED", "HALTED"),
        ("halt", "PRE_OPEN", "HALTED"),
        ("halt", "FULL_OPEN", "HALTED"),
        ("pre_open", "HALTED", "PRE_OPEN"),
        ("open", "PRE_OPEN", "FULL_OPEN"),
        ("normalize", "FULL_OPEN", "NORMAL"),
    }
    assert len(_policy().transitions) == len(edges)
    assert _policy().triggers == {"degrade", "recover", "halt", "pre_open", "open", "normalize"}


@pytest.mark.parametrize(
    ("source", "triggers"),
    [
        ("NORMAL", {"degrade", "halt"}),
        ("DEGRADED", {"recover", "halt"}),
        ("HALTED", {"pre_open"}),
        ("PRE_OPEN", {"open", "halt"}),
        ("FULL_OPEN", {"normalize", "degrade", "halt"}),
    ],
)
def test_triggers_available_from_each_phase(source: str, triggers: set[str]) -> None:
    """Each phase offers exactly its design triggers; every other trigger leads nowhere."""
    policy = _policy()

    assert {t.trigger for t in policy.transitions_from(source)} == triggers
    for trigger in policy.triggers - triggers:
        assert policy.transition(source, trigger) is None


@pytest.mark.parametrize("source", ["NORMAL", "DEGRADED", "PRE_OPEN", "FULL_OPEN"])
def test_halt_leads_to_halted_from_every_other_phase(source: str) -> None:
    """A halt is one trigger away from every phase but HALTED itself."""
    edge = _policy().transition(source, "halt")

    assert edge is not None
    assert edge.dest == "HALTED"
    assert edge.guards == ()


def test_halted_cannot_be_halted_again() -> None:
    """There is no halt edge from HALTED to itself."""
    assert _policy().transition("HALTED", "halt") is None


def test_no_trigger_leads_from_halted_to_a_matching_phase() -> None:
    """Out of a halt the only way is pre-open, which does not match."""
    policy = _policy()
    out = policy.transitions_from("HALTED")

    assert [t.dest for t in out] == ["PRE_OPEN"]
    assert not policy.phase("PRE_OPEN").matching
    assert policy.transition("HALTED", "open") is None
    assert policy.transition("HALTED", "recover") is None
    assert policy.transition("HALTED", "normalize") is None


def test_halt_tightens_and_reopening_steps_relax() -> None:
    """Every halt is tightening; pre_open, open, normalize and recover relax acceptance."""
    policy = _policy()

    for source in ("NORMAL", "DEGRADED", "PRE_OPEN", "FULL_OPEN"):
        assert not policy.is_relaxing(source, "HALTED"), source
    for source, dest in [("HALTED", "PRE_OPEN"), ("PRE_OPEN", "FULL_OPEN"), ("FULL_OPEN", "NORMAL"),
                         ("DEGRADED", "NORMAL")]:
        assert policy.is_relaxing(source, dest), (source, dest)
    assert not policy.is_relaxing("NORMAL", "DEGRADED")


def test_default_policy_transitions_are_unguarded() -> None:
    """Guards are added by deployments; the default graph carries none."""
    assert all(t.guards == () for t in _policy().transitions)


def test_default_policy_is_the_same_value_every_call() -> None:
    """Two calls build equal policies (a value, not shared mutable state)."""
    assert default_policy() == default_policy()
    assert default_policy().name == "default"


def test_policy_evaluate_agrees_with_the_gate() -> None:
    """The slow-path `Policy.evaluate` gives the same reason the gate reports, in every phase."""
    policy = _policy()
    for phase in PHASES:
        for request in of_kinds(ALL_KINDS[::7]):
            assert policy.evaluate(phase, request)[0] is decide(phase, request).reason
