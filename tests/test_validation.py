"""Building a policy validates it: every problem is reported at once, each with a stable code.

Each test starts from a small valid policy (NORMAL, HALTED, PRE_OPEN) and breaks one thing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import pytest

from exchange_recovery import (
    Acceptance,
    Action,
    AuctionSpec,
    ConfigurationError,
    ExchangeRecoveryError,
    Exhausted,
    GuardSpec,
    IncomingAction,
    InvalidPlanError,
    InvalidPolicyError,
    LiquidationRelease,
    MaxStay,
    OrderClass,
    OrderType,
    Origin,
    Permission,
    PhaseSpec,
    PlanStep,
    Policy,
    Problem,
    ProblemCode,
    Request,
    RestartPlan,
    RestingAction,
    RestingRule,
    StayAction,
    TimeInForce,
    TransitionSpec,
    default_policy,
    deferred_funds_policy,
    dump_policy,
    loads_policy,
    reopening_policy,
    restart_policy,
)
from exchange_recovery._core.validation import find_problems

F = TypeVar("F", bound=Callable[..., object])
COVERED: set[ProblemCode] = set()


def covers(code: ProblemCode) -> Callable[[F], F]:
    """Mark a test as the one that proves `code` is reported."""

    def mark(test: F) -> F:
        COVERED.add(code)
        return test

    return mark


NORMAL = PhaseSpec("NORMAL", Acceptance.everything(), matching=True, stop_triggers=True,
                   liquidations=True)
STOPS = OrderClass(order_types={OrderType.STOP_MARKET, OrderType.STOP_LIMIT})
HALTED = PhaseSpec("HALTED", Acceptance.nothing(), matching=False,
                   resting=(RestingRule(RestingAction.CANCEL, STOPS),))
PRE_OPEN = PhaseSpec(
    "PRE_OPEN",
    Acceptance(actions={Action.NEW_ORDER, Action.CANCEL}, order_types={OrderType.LIMIT},
               time_in_force={TimeInForce.GTC}, post_only=True),
    matching=False,
)
TRANSITIONS = (
    TransitionSpec("halt", "NORMAL", "HALTED"),
    TransitionSpec("halt", "PRE_OPEN", "HALTED"),
    TransitionSpec("pre_open", "HALTED", "PRE_OPEN"),
    TransitionSpec("open", "PRE_OPEN", "NORMAL"),
)


def build(**changes: Any) -> Policy:
    """The small valid policy, with some fields replaced."""
    fields: dict[str, Any] = {"name": "small", "phases": (NORMAL, HALTED, PRE_OPEN),
                              "transitions": TRANSITIONS}
    fields.update(changes)
    return Policy(**fields)


def problems(**changes: Any) -> set[tuple[ProblemCode, str]]:
    """The (code, location) of every problem of the small policy with `changes`."""
    with pytest.raises(InvalidPolicyError) as caught:
        build(**changes)
    for problem in caught.value.problems:
        assert problem.message, problem
    return {(p.code, p.location) for p in caught.value.problems}


def with_phase(*extra: PhaseSpec) -> tuple[PhaseSpec, ...]:
    return (NORMAL, HALTED, PRE_OPEN, *extra)


def with_transitions(*extra: TransitionSpec) -> tuple[TransitionSpec, ...]:
    return (*TRANSITIONS, *extra)


def replaced(spec: PhaseSpec, **changes: Any) -> tuple[PhaseSpec, ...]:
    """The three phases with `spec` replaced by a copy holding `changes` (no validation)."""
    new = attrs.evolve(spec, **changes)
    return tuple(new if p is spec else p for p in (NORMAL, HALTED, PRE_OPEN))


def test_the_small_policy_is_valid() -> None:
    """The starting point of every test below has no problem."""
    policy = build()

    assert find_problems(policy) == []
    assert policy.phase_names == ("NORMAL", "HALTED", "PRE_OPEN")


def test_the_default_policy_is_valid() -> None:
    """The shipped policy passes every check."""
    assert find_problems(default_policy()) == []


# -- one test per code ---------------------------------------------------------------------------


@covers(ProblemCode.INVALID_NAME)
def test_lower_case_phase_name_is_an_invalid_name() -> None:
    """Phase names are upper-case identifiers; the location is the phase's index."""
    found = problems(phases=replaced(PRE_OPEN, name="pre_open"))

    assert (ProblemCode.INVALID_NAME, "phases[2].name") in found
    # the phase is dropped, so transitions naming PRE_OPEN point at an unknown phase
    assert (ProblemCode.UNKNOWN_PHASE, "transitions[1].source") in found


@pytest.mark.parametrize(
    ("changes", "location"),
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"halt_trigger": "Halt"}, "halt_trigger"),
        ({"transitions": with_transitions(TransitionSpec("state", "NORMAL", "HALTED"))},
         "transitions[4].trigger"),
        ({"transitions": with_transitions(TransitionSpec("_hidden", "NORMAL", "PRE_OPEN"))},
         "transitions[4].trigger"),
        ({"transitions": with_transitions(TransitionSpec("re-open", "HALTED", "NORMAL"))},
         "transitions[4].trigger"),
        ({"transitions": with_transitions(TransitionSpec("cool", "NORMAL", "PRE_OPEN",
                                                         guards=("ops-ok",)))},
         "transitions[4].guards"),
        ({"phases": with_phase(attrs.evolve(PRE_OPEN, name="2ND"))}, "phases[3].name"),
    ],
)
def test_unusable_names_are_reported_where_they_are(changes: dict[str, Any], location: str) -> None:
    """Empty policy names, reserved or mis-cased triggers and non-identifier guards are refused."""
    assert (ProblemCode.INVALID_NAME, location) in problems(**changes)


@covers(ProblemCode.INVALID_VALUE)
def test_phase_flag_of_the_wrong_type_is_an_invalid_value() -> None:
    """`matching` must be a bool, not a truthy str."""
    found = problems(phases=replaced(NORMAL, matching="yes"))

    assert (ProblemCode.INVALID_VALUE, "phases.NORMAL.matching") in found


@pytest.mark.parametrize(
    ("changes", "location"),
    [
        ({"phases": (*with_phase(), "AUCTION")}, "phases[3]"),
        ({"phases": replaced(PRE_OPEN, accepts={"post_only": True})}, "phases.PRE_OPEN.accepts"),
        ({"phases": replaced(PRE_OPEN, liquidations=1)}, "phases.PRE_OPEN.liquidations"),
        ({"phases": replaced(PRE_OPEN, accepts=attrs.evolve(PRE_OPEN.accepts, post_only=1))},
         "phases.PRE_OPEN.accepts.post_only"),
        ({"phases": replaced(PRE_OPEN, accepts=attrs.evolve(PRE_OPEN.accepts,
                                                           actions={"NEW_ORDER", Action.CANCEL}))},
         "phases.PRE_OPEN.accepts.actions"),
        ({"phases": replaced(PRE_OPEN, accepts=attrs.evolve(PRE_OPEN.accepts, order_types={0}))},
         "phases.PRE_OPEN.accepts.order_types"),
        ({"transitions": with_transitions(("halt", "NORMAL", "HALTED"))}, "transitions[4]"),  # type: ignore[arg-type]
    ],
)
def test_values_of_the_wrong_type_are_reported_where_they_are(changes: dict[str, Any],
                                                              location: str) -> None:
    """Non-specs in the lists, and non-bools or non-members in phase fields, are refused."""
    assert (ProblemCode.INVALID_VALUE, location) in problems(**changes)


@covers(ProblemCode.DUPLICATE_PHASE)
def test_a_phase_defined_twice_is_a_duplicate() -> None:
    """Two phases called HALTED are reported once, at the name."""
    found = problems(phases=with_phase(attrs.evolve(HALTED, description="again")))

    assert found == {(ProblemCode.DUPLICATE_PHASE, "phases.HALTED")}


@covers(ProblemCode.UNKNOWN_PHASE)
def test_a_transition_to_an_undefined_phase_is_unknown() -> None:
    """A destination the policy does not define is reported at the transition's dest."""
    found = problems(transitions=with_transitions(TransitionSpec("auction", "PRE_OPEN", "AUCTION")))

    assert found == {(ProblemCode.UNKNOWN_PHASE, "transitions[4].dest")}


@pytest.mark.parametrize(
    ("changes", "location"),
    [
        ({"transitions": with_transitions(TransitionSpec("halt", "AUCTION", "HALTED"))},
         "transitions[4].source"),
        ({"initial": "START"}, "initial"),
        ({"normal": "OPEN"}, "normal"),
        ({"fail_safe": "STOPPED"}, "fail_safe"),
        ({"initial": ["NORMAL"]}, "initial"),  # unhashable: reported, not a TypeError
        ({"transitions": with_transitions(TransitionSpec("halt", ["PRE_OPEN"], "HALTED"))},  # type: ignore[arg-type]
         "transitions[4].source"),
    ],
)
def test_unknown_phases_are_reported_wherever_they_are_named(changes: dict[str, Any],
                                                             location: str) -> None:
    """Sources, destinations and the initial/normal/fail-safe settings must name defined phases."""
    assert (ProblemCode.UNKNOWN_PHASE, location) in problems(**changes)


@covers(ProblemCode.DUPLICATE_TRIGGER)
def test_one_trigger_twice_from_one_source_is_a_duplicate() -> None:
    """'open' from PRE_OPEN to NORMAL and again to HALTED: the second one is reported."""
    found = problems(transitions=with_transitions(TransitionSpec("open", "PRE_OPEN", "HALTED")))

    assert found == {(ProblemCode.DUPLICATE_TRIGGER, "transitions[4].trigger")}


def test_one_trigger_from_two_sources_is_fine() -> None:
    """The same trigger name may leave several phases ('halt' does)."""
    assert build().transition("NORMAL", "halt") is not None
    assert build().transition("PRE_OPEN", "halt") is not None


@covers(ProblemCode.UNREACHABLE_PHASE)
def test_a_phase_no_path_leads_to_is_unreachable() -> None:
    """AUCTION has a way out but no way in from the initial phase."""
    auction = attrs.evolve(PRE_OPEN, name="AUCTION")
    found = problems(phases=with_phase(auction), transitions=with_transitions(
        TransitionSpec("halt", "AUCTION", "HALTED"), TransitionSpec("open", "AUCTION", "NORMAL")))

    assert found == {(ProblemCode.UNREACHABLE_PHASE, "phases.AUCTION")}


@covers(ProblemCode.NORMAL_UNREACHABLE)
def test_phases_with_no_way_back_to_normal_are_reported() -> None:
    """Without 'open', neither HALTED nor PRE_OPEN can get back to NORMAL."""
    found = problems(transitions=TRANSITIONS[:3])

    assert found == {(ProblemCode.NORMAL_UNREACHABLE, "phases.HALTED"),
                     (ProblemCode.NORMAL_UNREACHABLE, "phases.PRE_OPEN")}


@covers(ProblemCode.NO_PATH_TO_HALT)
def test_a_phase_with_no_path_to_the_fail_safe_is_reported() -> None:
    """A dead-end phase cannot reach HALTED by any route."""
    sink = attrs.evolve(PRE_OPEN, name="SINK")
    found = problems(phases=with_phase(sink),
                     transitions=with_transitions(TransitionSpec("park", "PRE_OPEN", "SINK")))

    assert (ProblemCode.NO_PATH_TO_HALT, "phases.SINK") in found
    assert (ProblemCode.NO_PATH_TO_HALT, "phases.PRE_OPEN") not in found


@covers(ProblemCode.MISSING_HALT_TRIGGER)
def test_a_phase_that_reaches_halt_only_indirectly_lacks_a_halt_trigger() -> None:
    """AUCTION reaches HALTED through PRE_OPEN, but halting must be one trigger away."""
    auction = attrs.evolve(PRE_OPEN, name="AUCTION")
    found = problems(phases=with_phase(auction), transitions=with_transitions(
        TransitionSpec("auction", "PRE_OPEN", "AUCTION"),
        TransitionSpec("resume", "AUCTION", "PRE_OPEN")))

    assert found == {(ProblemCode.MISSING_HALT_TRIGGER, "phases.AUCTION")}


def test_an_edge_to_the_fail_safe_under_another_name_is_not_a_halt_trigger() -> None:
    """'stop' AUCTION -> HALTED gives a path, but not the policy's halt trigger."""
    auction = attrs.evolve(PRE_OPEN, name="AUCTION")
    found = problems(phases=with_phase(auction), transitions=with_transitions(
        TransitionSpec("auction", "PRE_OPEN", "AUCTION"),
        TransitionSpec("resume", "AUCTION", "PRE_OPEN"),
        TransitionSpec("stop", "AUCTION", "HALTED")))

    assert found == {(ProblemCode.MISSING_HALT_TRIGGER, "phases.AUCTION")}


@covers(ProblemCode.HALT_SKIPS_PRE_OPEN)
def test_resuming_matching_straight_from_halt_skips_pre_open() -> None:
    """HALTED -> NORMAL resumes matching with no book rebuild: reported at that transition."""
    found = problems(transitions=with_transitions(TransitionSpec("resume", "HALTED", "NORMAL")))

    assert found == {(ProblemCode.HALT_SKIPS_PRE_OPEN, "transitions[4]")}


def test_a_closed_phase_between_halt_and_matching_does_not_count_as_pre_open() -> None:
    """A non-matching phase that takes no new orders is still 'halted': going on to match skips."""
    cool = PhaseSpec("COOL", Acceptance(actions={Action.CANCEL}), matching=False)
    found = problems(phases=with_phase(cool), transitions=with_transitions(
        TransitionSpec("cool", "HALTED", "COOL"),
        TransitionSpec("halt", "COOL", "HALTED"),
        TransitionSpec("resume", "COOL", "NORMAL")))

    assert found == {(ProblemCode.HALT_SKIPS_PRE_OPEN, "transitions[6]")}


@covers(ProblemCode.IMMEDIATE_EXECUTION_WITHOUT_MATCHING)
def test_a_non_matching_phase_accepting_market_orders_is_reported() -> None:
    """PRE_OPEN does not match, so accepting market orders there is reported."""
    accepts = Acceptance(actions={Action.NEW_ORDER, Action.CANCEL},
                         order_types={OrderType.LIMIT, OrderType.MARKET})
    found = problems(phases=replaced(PRE_OPEN, accepts=accepts))

    assert found == {(ProblemCode.IMMEDIATE_EXECUTION_WITHOUT_MATCHING, "phases.PRE_OPEN.accepts")}


def test_a_non_matching_phase_accepting_ioc_limit_orders_is_reported() -> None:
    """IOC needs matching too, even on a limit order."""
    accepts = attrs.evolve(PRE_OPEN.accepts, time_in_force={TimeInForce.GTC, TimeInForce.IOC},
                           post_only=False)
    found = problems(phases=replaced(PRE_OPEN, accepts=accepts))

    assert found == {(ProblemCode.IMMEDIATE_EXECUTION_WITHOUT_MATCHING, "phases.PRE_OPEN.accepts")}


@covers(ProblemCode.CANCEL_NOT_ACCEPTED)
def test_a_phase_taking_new_orders_but_not_their_cancels_is_reported() -> None:
    """Accepting an order that cannot then be cancelled traps participants."""
    accepts = attrs.evolve(PRE_OPEN.accepts, actions={Action.NEW_ORDER})
    found = problems(phases=replaced(PRE_OPEN, accepts=accepts))

    assert found == {(ProblemCode.CANCEL_NOT_ACCEPTED, "phases.PRE_OPEN.accepts")}


@covers(ProblemCode.CAPABILITY_WITHOUT_MATCHING)
@pytest.mark.parametrize("flag", ["stop_triggers", "liquidations"])
def test_stops_or_liquidations_without_matching_are_reported(flag: str) -> None:
    """A phase that does not match cannot trigger stops or run liquidations."""
    found = problems(phases=replaced(PRE_OPEN, **{flag: True}))

    assert found == {(ProblemCode.CAPABILITY_WITHOUT_MATCHING, "phases.PRE_OPEN")}


@covers(ProblemCode.UNSAFE_FAIL_SAFE)
def test_a_fail_safe_that_takes_new_orders_is_unsafe() -> None:
    """The phase a process starts in when it cannot trust its record must take no new orders."""
    found = problems(phases=replaced(HALTED, accepts=PRE_OPEN.accepts))

    assert (ProblemCode.UNSAFE_FAIL_SAFE, "phases.HALTED") in found


def test_a_fail_safe_that_matches_is_unsafe() -> None:
    """The fail-safe phase must not match orders."""
    found = problems(phases=replaced(HALTED, matching=True))

    assert (ProblemCode.UNSAFE_FAIL_SAFE, "phases.HALTED") in found


@covers(ProblemCode.GUARDED_TIGHTENING)
def test_a_guard_on_a_halt_is_reported() -> None:
    """Halting tightens acceptance, so nothing may block it."""
    guarded = (TransitionSpec("halt", "NORMAL", "HALTED", guards="ops_approved"), *TRANSITIONS[1:])
    found = problems(transitions=guarded)

    assert found == {(ProblemCode.GUARDED_TIGHTENING, "transitions[0].guards")}


@covers(ProblemCode.CAPABILITY_BYPASS)
def test_a_side_door_that_lifts_restart_protections_without_the_exits_guards_is_reported() -> None:
    """FULL_OPEN -degrade-> DEGRADED turns stops and liquidations on: it needs normalize's guards."""
    policy = restart_policy()
    side_door = tuple(attrs.evolve(t, guards=("supervisor_approval",))
                      if (t.source, t.trigger) == ("FULL_OPEN", "degrade") else t
                      for t in policy.transitions)
    with pytest.raises(InvalidPolicyError) as raised:
        policy.with_changes(transitions=side_door)
    assert raised.value.codes == {ProblemCode.CAPABILITY_BYPASS}
    assert "full_open_dwell" in str(raised.value)


@covers(ProblemCode.STOP_FIRES_ON_REOPEN)
def test_stops_kept_through_a_halt_into_a_reopen_with_stop_triggers_are_reported() -> None:
    """HALTED keeps resting stops and PRE_OPEN opens straight into NORMAL's stop triggers: the
    reopen print would fire every stop at once."""
    keeps = attrs.evolve(HALTED, resting=())
    assert problems(phases=(NORMAL, keeps, PRE_OPEN)) == {
        (ProblemCode.STOP_FIRES_ON_REOPEN, "transitions[3]")}


def test_stops_suspended_until_a_phase_entered_from_a_closed_one_are_reported() -> None:
    """Reinstated on entering NORMAL straight from the pre-open, suspended stops fire on the
    reopen print just as kept ones do."""
    suspends = attrs.evolve(HALTED, resting=(RestingRule(RestingAction.SUSPEND, STOPS,
                                                         until="NORMAL"),))
    assert problems(phases=(NORMAL, suspends, PRE_OPEN)) == {
        (ProblemCode.STOP_FIRES_ON_REOPEN, "transitions[3]")}


def test_stops_reopen_safely_when_the_first_matching_phase_keeps_stop_triggers_off() -> None:
    """The default policy suspends stops until NORMAL, which only matching phases lead to."""
    policy = default_policy()
    assert policy.disposition("HALTED").rule(
        Request.new_order("BTC-USDT", OrderType.STOP_MARKET)).until == "NORMAL"
    assert not policy.phase("FULL_OPEN").stop_triggers


@covers(ProblemCode.INVALID_DISPOSITION)
@pytest.mark.parametrize(("rule", "where"), [
    (RestingRule(RestingAction.SUSPEND, STOPS), "phases.HALTED.resting[0].until"),
    (RestingRule(RestingAction.CANCEL, STOPS, until="NORMAL"), "phases.HALTED.resting[0].until"),
    (RestingRule(RestingAction.SUSPEND, STOPS, until="HALTED"), "phases.HALTED.resting[0].until"),
    (RestingRule(RestingAction.POST_ONLY, OrderClass()), "phases.HALTED.resting[0].orders"),
])
def test_a_resting_rule_that_cannot_work_is_reported(rule: RestingRule, where: str) -> None:
    """A suspension without its end (or ending where it starts), an end on a non-suspension,
    post-only for orders that cannot be post-only."""
    halted = attrs.evolve(HALTED, resting=(*HALTED.resting, rule))
    where = where.replace("resting[0]", "resting[1]")
    assert problems(phases=(NORMAL, halted, PRE_OPEN)) == {
        (ProblemCode.INVALID_DISPOSITION, where)}


def test_a_suspension_until_an_unknown_phase_is_reported() -> None:
    rule = RestingRule(RestingAction.SUSPEND, STOPS, until="LATER")
    halted = attrs.evolve(HALTED, resting=(rule,))
    assert problems(phases=(NORMAL, halted, PRE_OPEN)) == {
        (ProblemCode.UNKNOWN_PHASE, "phases.HALTED.resting[0].until")}


def test_converting_incoming_orders_needs_a_phase_that_requires_post_only() -> None:
    converts = attrs.evolve(NORMAL, incoming=IncomingAction.POST_ONLY)
    assert problems(phases=(converts, HALTED, PRE_OPEN)) == {
        (ProblemCode.INVALID_DISPOSITION, "phases.NORMAL.incoming")}


def test_a_resting_rule_of_the_wrong_type_is_an_invalid_value() -> None:
    halted = attrs.evolve(HALTED, resting=(*HALTED.resting, "cancel everything"))
    assert problems(phases=(NORMAL, halted, PRE_OPEN)) == {
        (ProblemCode.INVALID_VALUE, "phases.HALTED.resting[1]")}


def test_a_pre_open_that_converts_incoming_limits_accepts_them_as_post_only() -> None:
    """AscendEX-style: a plain limit GTC is accepted, converted; a market order still is not."""
    converts = attrs.evolve(PRE_OPEN, incoming=IncomingAction.POST_ONLY)
    policy = build(phases=(NORMAL, HALTED, converts))
    limit = Request.new_order("BTC-USDT", OrderType.LIMIT)
    market = Request.new_order("BTC-USDT", OrderType.MARKET)

    assert policy.evaluate("PRE_OPEN", limit)[0].name == "POST_ONLY_REQUIRED"  # the rule alone
    assert policy.verdicts("PRE_OPEN")[limit.key][0].name == "ACCEPTED_AS_POST_ONLY"
    assert policy.verdicts("PRE_OPEN")[market.key][0].name == "ORDER_TYPE_NOT_ALLOWED"


@covers(ProblemCode.INVALID_DEFERRAL)
@pytest.mark.parametrize(("defers", "accepts"), [
    ({Action.CANCEL}, set()),                        # order entry cannot wait
    ({Action.CANCEL_WITHDRAWAL}, set()),             # nor the cancel of a withdrawal
    ({Action.DEPOSIT}, {Action.DEPOSIT}),            # accepted and deferred at once
])
def test_a_deferral_that_cannot_work_is_reported(defers: set[Action],
                                                 accepts: set[Action]) -> None:
    halted = attrs.evolve(HALTED, defers=defers,
                          accepts=Acceptance(actions=accepts | {Action.CANCEL_WITHDRAWAL}))
    assert problems(phases=(NORMAL, halted, PRE_OPEN)) == {
        (ProblemCode.INVALID_DEFERRAL, "phases.HALTED.defers")}


def test_a_deferral_no_phase_on_the_way_back_processes_is_reported() -> None:
    """NORMAL itself refuses deposits here: a deposit deferred in HALTED would wait forever."""
    normal = attrs.evolve(NORMAL, accepts=Acceptance(actions=frozenset(Action) - {Action.DEPOSIT}))
    halted = attrs.evolve(HALTED, defers={Action.DEPOSIT})
    assert problems(phases=(normal, halted, PRE_OPEN)) == {
        (ProblemCode.INVALID_DEFERRAL, "phases.HALTED.defers")}


@covers(ProblemCode.DEFERRED_NOT_CANCELLABLE)
def test_deferring_withdrawals_without_accepting_their_cancels_is_reported() -> None:
    halted = attrs.evolve(HALTED, defers={Action.WITHDRAWAL})
    assert problems(phases=(NORMAL, halted, PRE_OPEN)) == {
        (ProblemCode.DEFERRED_NOT_CANCELLABLE, "phases.HALTED.accepts")}


def test_a_deferred_action_waits_for_the_first_phase_on_the_way_back_that_processes_it() -> None:
    policy = deferred_funds_policy()
    assert policy.deferred_until("FUNDS_DEFERRED", Action.WITHDRAWAL) == "NORMAL"
    assert policy.deferred_until("FUNDS_DEFERRED", Action.CANCEL) is None
    assert policy.deferred_until("NORMAL", Action.WITHDRAWAL) is None
    with pytest.raises(ConfigurationError):
        policy.deferred_until("FUNDS_DEFERRED", "WITHDRAWAL")  # type: ignore[arg-type]


def test_the_restart_policy_lifts_protections_only_after_the_dwell_and_an_approval() -> None:
    """Every edge out of FULL_OPEN that turns stops or liquidations on carries both guards."""
    policy = restart_policy()
    full_open = policy.phase("FULL_OPEN")
    for edge in policy.transitions_from("FULL_OPEN"):
        dest = policy.phase(edge.dest)
        if {"stop_triggers", "liquidations"} & (dest.capabilities - full_open.capabilities):
            assert {"full_open_dwell", "supervisor_approval"} <= set(edge.guards), edge
    assert "automation" not in policy.permission("degrade").roles


def test_a_guard_on_a_relaxing_transition_is_allowed() -> None:
    """Reopening may wait for guards."""
    guarded = (*TRANSITIONS[:3], TransitionSpec("open", "PRE_OPEN", "NORMAL",
                                                guards=("book_rebuilt", "ops_approved")))
    policy = build(transitions=guarded)

    assert policy.transition("PRE_OPEN", "open") == guarded[3]
    assert guarded[3].guards == ("book_rebuilt", "ops_approved")


FILE_CODES = {ProblemCode.FILE_UNREADABLE, ProblemCode.SYNTAX_ERROR, ProblemCode.UNKNOWN_KEY,
              ProblemCode.MISSING_KEY, ProblemCode.UNKNOWN_MEMBER}  # policy files: test_toml.py
# -- reopening: auctions, maximum stays, liquidation releases (issue #14) -------------------------

AUCTION = PhaseSpec(
    "AUCTION",
    Acceptance(actions={Action.NEW_ORDER, Action.AMEND, Action.CANCEL},
               order_types={OrderType.LIMIT}, time_in_force={TimeInForce.GTC}),
    matching=False, auction=AuctionSpec("uncross", "override", cutoff=30), funding=False,
)
AUCTION_TRANSITIONS = (
    TransitionSpec("halt", "NORMAL", "HALTED"),
    TransitionSpec("halt", "PRE_OPEN", "HALTED"),
    TransitionSpec("halt", "AUCTION", "HALTED"),
    TransitionSpec("pre_open", "HALTED", "PRE_OPEN"),
    TransitionSpec("call", "PRE_OPEN", "AUCTION"),
    TransitionSpec("uncross", "AUCTION", "NORMAL"),
    TransitionSpec("override", "AUCTION", "NORMAL"),
)


def reopen_problems_of(*, auction: object = AUCTION.auction, normal: PhaseSpec = NORMAL,
                       transitions: tuple[TransitionSpec, ...] = AUCTION_TRANSITIONS,
                       **changes: Any) -> set[tuple[ProblemCode, str]]:
    """The problems of the small policy with an AUCTION phase between PRE_OPEN and NORMAL,
    that phase's auction replaced and its other fields changed."""
    spec = attrs.evolve(AUCTION, auction=auction, **changes)
    return problems(phases=(normal, HALTED, PRE_OPEN, spec), transitions=transitions)


def test_an_auction_between_pre_open_and_normal_is_valid() -> None:
    """The starting point of the reopening tests: a call auction, a stay, a release."""
    pre_open = attrs.evolve(PRE_OPEN, max_stay=MaxStay(1800, StayAction.ADVANCE, "call"))
    normal = attrs.evolve(NORMAL, liquidation_release=LiquidationRelease(None, per_minute=5))
    policy = build(phases=(normal, HALTED, pre_open, AUCTION), transitions=AUCTION_TRANSITIONS)

    assert find_problems(policy) == []
    assert policy.phase("AUCTION").auction == AuctionSpec("uncross", "override", cutoff=30)


def test_the_reopening_policy_is_valid_and_survives_a_policy_file() -> None:
    """reopening_policy() passes every check and loads back from its TOML unchanged."""
    policy = reopening_policy()

    assert find_problems(policy) == []
    assert loads_policy(dump_policy(policy)) == policy


@covers(ProblemCode.INVALID_AUCTION)
def test_an_auction_phase_that_matches_is_refused() -> None:
    """A call auction never matches continuously: reported at the phase's matching key."""
    found = reopen_problems_of(matching=True)

    assert found == {(ProblemCode.INVALID_AUCTION, "phases.AUCTION.matching")}


def test_an_auction_whose_uncross_does_not_leave_the_phase_is_refused() -> None:
    """``uncross`` names a trigger of another phase (``call``), ``override`` one of none."""
    found = reopen_problems_of(auction=AuctionSpec("call", "override_now"))

    assert found == {(ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction.uncross"),
                     (ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction.override")}


def test_an_auction_ending_in_a_phase_that_does_not_match_is_refused() -> None:
    """An uncross into PRE_OPEN would leave the uncrossed book with nothing to trade it."""
    transitions = (*AUCTION_TRANSITIONS[:5], TransitionSpec("uncross", "AUCTION", "PRE_OPEN"),
                   AUCTION_TRANSITIONS[6])

    found = reopen_problems_of(transitions=transitions)

    assert found == {(ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction")}


def test_an_auction_overriding_with_its_uncross_is_refused() -> None:
    """An override must be told apart from an uncross in the journal."""
    found = reopen_problems_of(auction=AuctionSpec("uncross", "uncross"))

    assert found == {(ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction.override")}


_HUGE = 10**13  # seconds: beyond MAX_SECONDS


@pytest.mark.parametrize(("field", "value"), [
    ("min_call", float("nan")), ("min_call", -1), ("min_call", 0), ("min_call", True),
    ("min_call", _HUGE), ("random_end", float("inf")), ("random_end", -0.5),
    ("random_end", "30"), ("extension", float("nan")), ("extension", -300), ("extension", 0),
    ("extension", False), ("cutoff", -1), ("cutoff", _HUGE), ("cutoff", 120.0),
    ("collar", 0), ("collar", 1), ("collar", -0.05), ("collar", float("nan")),
    ("collar", True), ("max_extensions", -1), ("max_extensions", 101),
    ("max_extensions", 2.0), ("max_extensions", True), ("max_extensions", 10**30),
    ("when_exhausted", "MANUAL"), ("when_exhausted", None),
])
def test_an_auction_number_that_cannot_work_is_refused(field: str, value: object) -> None:
    """NaN, infinities, negatives, bools, strings, the huge and the out of range: at the key.
    (A cutoff of the whole 120 s minimum call would leave no time to cancel.)"""
    found = reopen_problems_of(auction=attrs.evolve(AUCTION.auction, **{field: value}))

    assert found == {(ProblemCode.INVALID_AUCTION, f"phases.AUCTION.auction.{field}")}


@pytest.mark.parametrize("bad", [
    "uncross", 5, None, {"uncross": "uncross"}, MaxStay(60)])
def test_an_auction_that_is_no_auction_spec_is_refused(bad: object) -> None:
    found = reopen_problems_of(auction=bad if bad is not None else "none")

    assert found == {(ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction")}


@pytest.mark.parametrize("trigger", [["uncross"], {"x": 1}, 7, None])
def test_an_auction_trigger_of_any_type_is_refused_not_a_crash(trigger: object) -> None:
    """An unhashable trigger is a problem like any other, never a TypeError."""
    found = reopen_problems_of(auction=attrs.evolve(AUCTION.auction, uncross=trigger))

    assert found == {(ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction.uncross")}


def test_an_auction_without_extensions_may_have_no_extension_time() -> None:
    policy = build(phases=(NORMAL, HALTED, PRE_OPEN, attrs.evolve(
        AUCTION, auction=attrs.evolve(AUCTION.auction, max_extensions=0, extension=0,
                                      random_end=0, cutoff=0))),
        transitions=AUCTION_TRANSITIONS)

    assert find_problems(policy) == []


@covers(ProblemCode.INVALID_DEADLINE)
def test_advancing_without_a_trigger_that_leaves_the_phase_is_refused() -> None:
    """ADVANCE by ``open`` (not a trigger of AUCTION), and by no trigger at all."""
    for stay in (MaxStay(60, StayAction.ADVANCE, "open"), MaxStay(60, StayAction.ADVANCE)):
        found = reopen_problems_of(max_stay=stay)

        assert found == {(ProblemCode.INVALID_DEADLINE, "phases.AUCTION.max_stay.trigger")}


@pytest.mark.parametrize("then", [StayAction.ALERT, StayAction.HALT])
def test_a_trigger_on_a_stay_that_does_not_advance_is_refused(then: StayAction) -> None:
    """Only ADVANCE fires a trigger: one written on ALERT or HALT is a mistake, not ignored."""
    found = reopen_problems_of(max_stay=MaxStay(60, then, "uncross"))

    assert found == {(ProblemCode.INVALID_DEADLINE, "phases.AUCTION.max_stay.trigger")}


@pytest.mark.parametrize(("stay", "field"), [
    (MaxStay(0), "seconds"), (MaxStay(-60), "seconds"), (MaxStay(float("nan")), "seconds"),
    (MaxStay(float("inf")), "seconds"), (MaxStay(True), "seconds"), (MaxStay(_HUGE), "seconds"),
    (MaxStay("60"), "seconds"),  # type: ignore[arg-type]
    (MaxStay(60, "HALT"), "then"),  # type: ignore[arg-type]
    (MaxStay(60, StayAction.ADVANCE, ["uncross"]), "trigger"),  # type: ignore[arg-type]
    ("1800", ""),
])
def test_a_maximum_stay_that_cannot_work_is_refused(stay: object, field: str) -> None:
    found = reopen_problems_of(max_stay=stay)

    where = f"phases.AUCTION.max_stay.{field}" if field else "phases.AUCTION.max_stay"
    assert found == {(ProblemCode.INVALID_DEADLINE, where)}


@covers(ProblemCode.INVALID_LIQUIDATION_RELEASE)
def test_a_liquidation_release_in_a_phase_that_does_not_match_is_refused() -> None:
    """Liquidations released in a call auction would trade before the uncross."""
    found = reopen_problems_of(liquidation_release=LiquidationRelease())

    assert found == {(ProblemCode.INVALID_LIQUIDATION_RELEASE,
                      "phases.AUCTION.liquidation_release")}


@pytest.mark.parametrize(("release", "field"), [
    (LiquidationRelease(delay=-1), "delay"), (LiquidationRelease(delay=float("nan")), "delay"),
    (LiquidationRelease(delay=float("inf")), "delay"), (LiquidationRelease(delay=True), "delay"),
    (LiquidationRelease(delay=_HUGE), "delay"),
    (LiquidationRelease(delay="15m"), "delay"),  # type: ignore[arg-type]
    (LiquidationRelease(per_minute=0), "per_minute"),
    (LiquidationRelease(per_minute=-10), "per_minute"),
    (LiquidationRelease(per_minute=10**7), "per_minute"),
    (LiquidationRelease(per_minute=10.0), "per_minute"),  # type: ignore[arg-type]
    (LiquidationRelease(per_minute=True), "per_minute"),
    (LiquidationRelease(per_minute=float("nan")), "per_minute"),  # type: ignore[arg-type]
    (MaxStay(60), ""),
])
def test_a_liquidation_release_that_cannot_work_is_refused(release: object, field: str) -> None:
    normal = attrs.evolve(NORMAL, liquidation_release=release)

    found = reopen_problems_of(normal=normal)

    where = "phases.NORMAL.liquidation_release" + (f".{field}" if field else "")
    assert found == {(ProblemCode.INVALID_LIQUIDATION_RELEASE, where)}


def test_a_liquidation_release_in_a_phase_that_refuses_the_liquidation_engine_is_refused() -> None:
    """Nothing could ever be released: the gate refuses every liquidation-engine order there."""
    accepts = Acceptance(actions=frozenset(Action), origins=frozenset(Origin) - {Origin.LIQUIDATION})
    normal = attrs.evolve(NORMAL, accepts=accepts, liquidation_release=LiquidationRelease())

    found = reopen_problems_of(normal=normal)

    assert found == {(ProblemCode.INVALID_LIQUIDATION_RELEASE,
                      "phases.NORMAL.liquidation_release")}


def test_a_maximum_stay_that_halts_the_fail_safe_phase_is_refused() -> None:
    """The fail-safe phase is the halt: a stay there may alert or advance, not halt."""
    halted = attrs.evolve(HALTED, max_stay=MaxStay(600, StayAction.HALT))

    found = problems(phases=(NORMAL, halted, PRE_OPEN))

    assert found == {(ProblemCode.INVALID_DEADLINE, "phases.HALTED.max_stay.then")}


def test_an_auction_that_opens_by_itself_through_an_approved_override_is_refused() -> None:
    """OPEN_WITHOUT_CROSS fires the override with no person: an approval guard would keep the
    call open forever, retried and refused at every poll."""
    auction = AuctionSpec("uncross", "override", when_exhausted=Exhausted.OPEN_WITHOUT_CROSS)
    transitions = (*AUCTION_TRANSITIONS[:6],
                   TransitionSpec("override", "AUCTION", "NORMAL", guards=("two_people",)))
    spec = attrs.evolve(AUCTION, auction=auction)

    found = problems(phases=(NORMAL, HALTED, PRE_OPEN, spec), transitions=transitions,
                     guards=(GuardSpec("two_people", "approval", roles={"supervisor"}),))

    assert found == {(ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction.when_exhausted")}
    assert find_problems(build(  # the same override with MANUAL: people decide, approved
        phases=(NORMAL, HALTED, PRE_OPEN, attrs.evolve(AUCTION, auction=AuctionSpec(
            "uncross", "override", when_exhausted=Exhausted.MANUAL))),
        transitions=transitions,
        guards=(GuardSpec("two_people", "approval", roles={"supervisor"}),))) == []


@pytest.mark.parametrize("delay", [None, 0, 900, 1800.5])
def test_a_release_after_no_delay_or_after_the_pause_is_valid(delay: float | None) -> None:
    normal = attrs.evolve(NORMAL, liquidation_release=LiquidationRelease(delay, per_minute=1))

    assert find_problems(build(phases=(normal, HALTED, PRE_OPEN))) == []


@pytest.mark.parametrize("funding", [0, "false", None])
def test_funding_that_is_no_bool_is_an_invalid_value(funding: object) -> None:
    found = problems(phases=replaced(HALTED, funding=funding))

    assert (ProblemCode.INVALID_VALUE, "phases.HALTED.funding") in found


def test_every_reopen_problem_of_a_phase_is_reported_at_once() -> None:
    """A matching auction with a bad collar, a stay of 0 s and a release: four problems."""
    found = reopen_problems_of(matching=True, auction=attrs.evolve(AUCTION.auction, collar=2),
                               max_stay=MaxStay(0), liquidation_release=LiquidationRelease(-1))

    assert found == {
        (ProblemCode.INVALID_AUCTION, "phases.AUCTION.matching"),
        (ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction.collar"),
        (ProblemCode.INVALID_DEADLINE, "phases.AUCTION.max_stay.seconds"),
        (ProblemCode.INVALID_LIQUIDATION_RELEASE, "phases.AUCTION.liquidation_release.delay"),
    }


def test_reopen_problems_show_the_value_received() -> None:
    """Messages name what was expected and what came, escaped and bounded."""
    with pytest.raises(InvalidPolicyError) as caught:
        build(phases=(NORMAL, HALTED, PRE_OPEN, attrs.evolve(
            AUCTION, auction=attrs.evolve(AUCTION.auction, collar=float("nan"),
                                          uncross="x\n" * 500))),
              transitions=AUCTION_TRANSITIONS)

    messages = {p.location.rpartition(".")[2]: p.message for p in caught.value.problems}
    assert messages["collar"].endswith("got nan")
    assert "\n" not in messages["uncross"]
    assert len(messages["uncross"]) < 400



# -- guard declarations, permissions and restart plans --------------------------------------------


@covers(ProblemCode.DUPLICATE_GUARD)
def test_a_guard_declared_twice_is_reported() -> None:
    """Transitions name guards, so a name must mean one guard."""
    found = problems(guards=(GuardSpec("stay", "dwell", seconds=60),
                             GuardSpec("stay", "dwell", seconds=120)))

    assert found == {(ProblemCode.DUPLICATE_GUARD, "guards.stay")}


@covers(ProblemCode.INVALID_GUARD)
@pytest.mark.parametrize(("guard", "location"), [
    (GuardSpec("g", "quorum"), "guards.g.kind"),
    (GuardSpec("g", "dwell"), "guards.g.seconds"),
    (GuardSpec("g", "dwell", seconds="600"), "guards.g.seconds"),  # type: ignore[arg-type]
    (GuardSpec("g", "health", seconds=5), "guards.g"),
    (GuardSpec("g", "dwell", seconds=5, roles={"supervisor"}), "guards.g"),
    (GuardSpec("g", "health", check="not an identifier"), "guards.g.check"),
])
def test_a_guard_whose_parameters_do_not_fit_its_kind_is_reported(
    guard: GuardSpec, location: str
) -> None:
    """Each kind takes exactly its own parameter: dwell seconds, a health check, approver roles."""
    assert problems(guards=(guard,)) == {(ProblemCode.INVALID_GUARD, location)}


@covers(ProblemCode.NEGATIVE_DURATION)
@pytest.mark.parametrize("seconds", [-1, -0.5, float("inf"), float("nan")])
def test_a_dwell_with_a_negative_or_endless_duration_is_reported(seconds: float) -> None:
    """A minimum stay is a finite number of seconds, zero or more."""
    found = problems(guards=(GuardSpec("stay", "dwell", seconds=seconds),))

    assert found == {(ProblemCode.NEGATIVE_DURATION, "guards.stay.seconds")}


def test_an_approval_guard_without_approver_roles_is_reported() -> None:
    """Nobody could ever approve it."""
    found = problems(guards=(GuardSpec("two_person", "approval"),))

    assert found == {(ProblemCode.INVALID_VALUE, "guards.two_person.roles")}


@covers(ProblemCode.PERMISSION_FOR_UNKNOWN_TRIGGER)
def test_a_permission_for_a_trigger_the_policy_lacks_is_reported() -> None:
    """A typo in a permission would otherwise leave the real trigger unfireable."""
    found = problems(permissions=(Permission("opne", {"operator"}),))

    assert found == {(ProblemCode.PERMISSION_FOR_UNKNOWN_TRIGGER, "permissions[0].trigger")}


@covers(ProblemCode.DUPLICATE_PERMISSION)
def test_two_permissions_for_one_trigger_are_reported() -> None:
    """One trigger, one list of roles."""
    found = problems(permissions=(Permission("open", "operator"), Permission("open", "lead")))

    assert found == {(ProblemCode.DUPLICATE_PERMISSION, "permissions[1].trigger")}


def test_a_permission_without_roles_is_reported() -> None:
    """A permission nobody holds is a mistake, not a way to forbid a trigger."""
    assert problems(permissions=(Permission("open", ()),)) == {
        (ProblemCode.INVALID_VALUE, "permissions[0].roles")}


def test_declared_guards_and_permissions_are_kept_and_looked_up_by_name() -> None:
    """The policy answers `guard(name)` and `permission(trigger)`."""
    stay = GuardSpec("stay", "dwell", seconds=60)
    policy = build(guards=(stay,), permissions=(Permission("open", "operator"),))

    assert policy.guard("stay") is stay
    assert policy.guard("custom") is None
    assert policy.permission("open") == Permission("open", frozenset({"operator"}))
    assert policy.permission("halt") is None


def _plan(*steps: PlanStep) -> RestartPlan:
    return RestartPlan("p", restart_policy(), steps)


@covers(ProblemCode.PLAN_ENDPOINTS)
def test_a_plan_that_does_not_run_from_halt_to_normal_is_refused() -> None:
    """A restart plan starts where a halt leaves the venue and ends at business as usual."""
    with pytest.raises(InvalidPlanError) as caught:
        _plan(PlanStep("PRE_OPEN", "open"), PlanStep("FULL_OPEN"))

    assert caught.value.codes == {ProblemCode.PLAN_ENDPOINTS}


@covers(ProblemCode.PLAN_STEP_MISMATCH)
def test_a_plan_step_whose_trigger_skips_a_phase_is_refused() -> None:
    """Every step's trigger must lead to the next step's phase."""
    with pytest.raises(InvalidPlanError) as caught:
        _plan(PlanStep("HALTED", "pre_open"), PlanStep("FULL_OPEN", "normalize"),
              PlanStep("NORMAL", "halt"))

    assert caught.value.codes == {ProblemCode.PLAN_STEP_MISMATCH}
    assert [p.location for p in caught.value.problems] == ["steps[0].trigger", "steps[2].trigger"]
    assert "restart plan has 2 problem(s)" in str(caught.value)


def test_a_plan_naming_an_unknown_phase_is_refused() -> None:
    """Every step's phase is one of the policy's."""
    with pytest.raises(InvalidPlanError) as caught:
        _plan(PlanStep("HALTED", "pre_open"), PlanStep("PREOPEN", "open"), PlanStep("NORMAL"))

    assert ProblemCode.UNKNOWN_PHASE in caught.value.codes


def test_every_problem_code_has_a_test_here() -> None:
    """A new ProblemCode without a test in this module (or, for files, test_toml) fails this one."""
    assert set(ProblemCode) - FILE_CODES == COVERED


# -- all at once ---------------------------------------------------------------------------------


def test_several_problems_are_all_reported_at_once() -> None:
    """One build reports a bad name, a duplicate trigger, a guarded halt and an unknown initial."""
    transitions = (TransitionSpec("halt", "NORMAL", "HALTED", guards=("ok",)), *TRANSITIONS[1:],
                   TransitionSpec("open", "PRE_OPEN", "HALTED"))

    with pytest.raises(InvalidPolicyError) as caught:
        build(name="", initial="START", transitions=transitions,
              phases=replaced(PRE_OPEN, stop_triggers=True))

    error = caught.value
    assert error.codes == {ProblemCode.INVALID_NAME, ProblemCode.UNKNOWN_PHASE,
                           ProblemCode.DUPLICATE_TRIGGER, ProblemCode.GUARDED_TIGHTENING,
                           ProblemCode.CAPABILITY_WITHOUT_MATCHING}
    assert len(error.problems) == 5
    assert f"policy has {len(error.problems)} problem(s):" in str(error)
    for problem in error.problems:
        assert f"  - {problem}" in str(error)


def test_invalid_policy_error_codes_are_the_distinct_codes() -> None:
    """`codes` collapses repeated codes into a frozenset."""
    error = InvalidPolicyError([
        Problem(ProblemCode.NORMAL_UNREACHABLE, "phases.A", "a"),
        Problem(ProblemCode.NORMAL_UNREACHABLE, "phases.B", "b"),
        Problem(ProblemCode.UNKNOWN_PHASE, "initial", "c"),
    ])

    assert error.codes == frozenset({ProblemCode.NORMAL_UNREACHABLE, ProblemCode.UNKNOWN_PHASE})
    assert len(error.problems) == 3
    assert isinstance(error, ExchangeRecoveryError)
    assert isinstance(error, ValueError)


def test_a_problem_renders_code_location_and_message() -> None:
    """`str(problem)` reads 'CODE at location: message'."""
    problem = Problem(ProblemCode.UNKNOWN_PHASE, "transitions[3].dest", "dest 'X' is not a phase")

    assert str(problem) == "UNKNOWN_PHASE at transitions[3].dest: dest 'X' is not a phase"


def test_problem_codes_are_stable_strings_with_descriptions() -> None:
    """Codes equal their names and each has a one-line description."""
    for code in ProblemCode:
        assert code.value == code.name
        assert code.description
        assert "\n" not in code.description


def test_with_changes_validates_the_copy() -> None:
    """A changed copy is checked again; the original stays valid."""
    policy = build()

    with pytest.raises(InvalidPolicyError) as caught:
        policy.with_changes(initial="NOPE")

    assert caught.value.codes == {ProblemCode.UNKNOWN_PHASE}
    assert policy.initial == "NORMAL"
    assert policy.with_changes(initial="HALTED").initial == "HALTED"


# -- lookups on a valid policy --------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["AUCTION", "", None, ["NORMAL"]])
def test_looking_up_an_unknown_phase_is_a_configuration_error(bad: object) -> None:
    """`phase`, `verdicts`, `accepted_keys`, `strictness` and `evaluate` name the known phases."""
    policy = build()
    request = Request.cancel("BTC-USDT")

    for lookup in (policy.phase, policy.verdicts, policy.accepted_keys, policy.strictness,
                   lambda name: policy.evaluate(name, request)):
        with pytest.raises(ConfigurationError, match="expected one of NORMAL, HALTED, PRE_OPEN"):
            lookup(bad)  # type: ignore[operator]
    with pytest.raises(ConfigurationError):
        policy.is_relaxing("NORMAL", bad)  # type: ignore[arg-type]
