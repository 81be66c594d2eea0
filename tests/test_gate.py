"""The gate: shared compiled tables, instrument overrides and release, preallocated decisions,
publication, and `check_fields` against `check(Request(...))`."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import attrs
import pytest

from exchange_recovery import (
    ALL_KINDS,
    INSTRUMENT,
    VENUE,
    Action,
    ConfigurationError,
    Controller,
    Decision,
    Gate,
    InvalidRequestError,
    OrderType,
    Origin,
    Policy,
    Reason,
    Request,
    RequestKind,
    Side,
    TimeInForce,
    default_policy,
    restart_policy,
)
from exchange_recovery.testing import ManualClock

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"
PHASES = ("NORMAL", "DEGRADED", "HALTED", "PRE_OPEN", "FULL_OPEN")


@functools.cache
def _policy() -> Policy:
    return default_policy()


def gate(phases: dict[str, str] | None = None, version: int = 0) -> Gate:
    return Gate(_policy(), phases, version)


def request_of(kind: RequestKind, instrument: str | None = BTC) -> Request:
    return Request(kind.action, instrument, kind.order_type, kind.time_in_force, kind.post_only,
                   kind.reduce_only, kind.origin)


def fields_of(kind: RequestKind) -> dict[str, Any]:
    return {"order_type": kind.order_type, "time_in_force": kind.time_in_force,
            "post_only": kind.post_only, "reduce_only": kind.reduce_only, "origin": kind.origin}


LIMIT = Request.new_order(BTC, OrderType.LIMIT)
POST_ONLY = Request.new_order(BTC, OrderType.LIMIT, post_only=True)
MARKET = Request.new_order(BTC, OrderType.MARKET)


# -- instrument overrides -----------------------------------------------------------------------


def test_one_halted_instrument_rejects_while_the_venue_trades() -> None:
    """BTC halted on its own: its orders get INSTRUMENT_HALTED, decided at the instrument level."""
    g = gate({BTC: "HALTED"})

    decision = g.check(LIMIT)

    assert not decision.accepted
    assert decision.reason is Reason.INSTRUMENT_HALTED
    assert (decision.phase, decision.scope) == ("HALTED", INSTRUMENT)
    assert decision.message == "INSTRUMENT_HALTED: phase=HALTED scope=instrument action=NEW_ORDER"


def test_other_instruments_follow_the_venue() -> None:
    """An instrument without its own phase is decided by the venue alone."""
    g = gate({BTC: "HALTED"})

    decision = g.check(Request.new_order(ETH, OrderType.MARKET))

    assert decision.accepted
    assert (decision.phase, decision.scope) == ("NORMAL", VENUE)


def test_a_halted_instrument_refuses_cancels_but_takes_added_margin() -> None:
    """The instrument's HALTED rules apply in full: no order entry, margin may be added."""
    g = gate({BTC: "HALTED"})

    assert g.check(Request.cancel(BTC)).reason is Reason.INSTRUMENT_HALTED
    added = g.check(Request.margin(add=True, instrument=BTC))
    assert added.accepted
    assert (added.phase, added.scope) == ("HALTED", INSTRUMENT)


def test_requests_without_an_instrument_are_decided_by_the_venue() -> None:
    """A venue-wide mass cancel or margin change ignores instrument overrides."""
    g = gate({VENUE: "PRE_OPEN", BTC: "HALTED"})

    for request in (Request.mass_cancel(), Request.margin(add=True)):
        decision = g.check(request)
        assert decision.accepted
        assert (decision.phase, decision.scope) == ("PRE_OPEN", VENUE)


def test_venue_halt_overrides_an_instrument_that_trades() -> None:
    """Venue HALTED, BTC NORMAL: the venue is stricter and reports PHASE_HALTED as the venue."""
    decision = gate({VENUE: "HALTED", BTC: "NORMAL"}).check(LIMIT)

    assert decision.reason is Reason.PHASE_HALTED
    assert (decision.phase, decision.scope) == ("HALTED", VENUE)


def test_venue_rejection_decides_even_when_the_instrument_would_accept() -> None:
    """Venue PRE_OPEN, BTC NORMAL: a market order on BTC is refused by the venue's rule."""
    decision = gate({VENUE: "PRE_OPEN", BTC: "NORMAL"}).check(MARKET)

    assert decision.reason is Reason.ORDER_TYPE_NOT_ALLOWED
    assert (decision.phase, decision.scope) == ("PRE_OPEN", VENUE)


def test_instrument_rejection_decides_when_the_venue_accepts() -> None:
    """Venue NORMAL, BTC PRE_OPEN: BTC's post-only rule refuses a plain limit order."""
    decision = gate({BTC: "PRE_OPEN"}).check(LIMIT)

    assert decision.reason is Reason.POST_ONLY_REQUIRED
    assert (decision.phase, decision.scope) == ("PRE_OPEN", INSTRUMENT)


def test_stricter_instrument_decides_when_both_reject() -> None:
    """Venue DEGRADED refuses the market order as a type; BTC HALTED is stricter and decides."""
    decision = gate({VENUE: "DEGRADED", BTC: "HALTED"}).check(MARKET)

    assert decision.reason is Reason.INSTRUMENT_HALTED
    assert (decision.phase, decision.scope) == ("HALTED", INSTRUMENT)


def test_stricter_venue_decides_when_both_reject() -> None:
    """Venue HALTED is stricter than BTC DEGRADED: PHASE_HALTED, decided by the venue."""
    decision = gate({VENUE: "HALTED", BTC: "DEGRADED"}).check(MARKET)

    assert decision.reason is Reason.PHASE_HALTED
    assert (decision.phase, decision.scope) == ("HALTED", VENUE)


def test_equally_strict_scopes_let_the_venue_decide() -> None:
    """Both in HALTED: the tie goes to the venue."""
    decision = gate({VENUE: "HALTED", BTC: "HALTED"}).check(LIMIT)

    assert decision.reason is Reason.PHASE_HALTED
    assert decision.scope == VENUE


def test_when_both_accept_the_instrument_phase_is_reported() -> None:
    """Venue NORMAL, BTC PRE_OPEN: a post-only order is accepted under BTC's phase."""
    decision = gate({BTC: "PRE_OPEN"}).check(POST_ONLY)

    assert decision.accepted
    assert (decision.phase, decision.scope) == ("PRE_OPEN", INSTRUMENT)


def _expected(venue: str, inst: str | None, kind: RequestKind) -> tuple[bool, Reason, str, str]:
    """Slow statement of the two-scope rule: accept only if both accept, else the stricter rejects.

    An instrument in NORMAL (it adds no restriction) or None is decided by the venue alone.
    """
    policy = _policy()
    venue_reason = policy.evaluate(venue, kind)[0]
    if inst in {None, "NORMAL"}:
        return venue_reason is Reason.ACCEPTED, venue_reason, venue, VENUE
    assert inst is not None
    inst_reason = policy.evaluate(inst, kind)[0]
    if venue_reason is Reason.ACCEPTED and inst_reason is Reason.ACCEPTED:
        return True, Reason.ACCEPTED, inst, INSTRUMENT
    venue_decides = venue_reason is not Reason.ACCEPTED and (
        inst_reason is Reason.ACCEPTED or policy.strictness(venue) >= policy.strictness(inst))
    if venue_decides:
        return False, venue_reason, venue, VENUE
    if inst_reason is Reason.PHASE_HALTED:
        inst_reason = Reason.INSTRUMENT_HALTED
    return False, inst_reason, inst, INSTRUMENT


@pytest.mark.parametrize("venue", PHASES)
def test_every_phase_pair_combines_as_the_stricter_scope(venue: str) -> None:
    """For each instrument phase and each kind: accepted iff both scopes accept; else stricter wins."""
    for inst in PHASES:
        g = gate({VENUE: venue, BTC: inst})
        for kind in ALL_KINDS:
            decision = g.check(request_of(kind))
            got = (decision.accepted, decision.reason, decision.phase, decision.scope)
            assert got == _expected(venue, inst, kind), (venue, inst, kind.describe())


# -- check_fields ---------------------------------------------------------------------------------


@pytest.mark.parametrize("phases", [{}, {VENUE: "PRE_OPEN"}, {VENUE: "DEGRADED", BTC: "HALTED"},
                                    {VENUE: "FULL_OPEN", BTC: "PRE_OPEN", ETH: "NORMAL"}])
def test_check_fields_returns_the_same_decision_as_check_for_every_kind(phases: dict[str, str]) -> None:
    """Fields in, decision out: the very object `check` returns, on overridden and plain scopes."""
    g = gate(phases)

    for instrument in (BTC, ETH, "SOL-USDT"):
        for kind in ALL_KINDS:
            expected = g.check(request_of(kind, instrument))
            assert g.check_fields(kind.action, instrument, **fields_of(kind)) is expected


def test_check_fields_without_an_instrument_is_decided_by_the_venue() -> None:
    """A venue-wide mass cancel via fields matches the Request path."""
    g = gate({VENUE: "PRE_OPEN", BTC: "HALTED"})

    assert g.check_fields(Action.MASS_CANCEL) is g.check(Request.mass_cancel())


def test_check_fields_defaults_the_time_in_force_like_a_request() -> None:
    """Without a time in force, market orders are IOC and others GTC, as in `Request`."""
    g = gate({VENUE: "PRE_OPEN"})

    assert g.check_fields(Action.NEW_ORDER, BTC, OrderType.MARKET) is g.check(MARKET)
    assert g.check_fields(Action.NEW_ORDER, BTC, OrderType.LIMIT, post_only=True) is g.check(POST_ONLY)
    assert g.check_fields(Action.NEW_ORDER, BTC, OrderType.LIMIT, post_only=True).accepted


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"action": Action.NEW_ORDER, "order_type": OrderType.MARKET, "post_only": True}, "post_only"),
        ({"action": Action.NEW_ORDER, "order_type": OrderType.LIMIT,
          "time_in_force": TimeInForce.IOC, "post_only": True}, "post_only"),
        ({"action": Action.NEW_ORDER, "order_type": OrderType.MARKET,
          "time_in_force": TimeInForce.GTC}, "time_in_force"),
        ({"action": Action.CANCEL, "order_type": OrderType.LIMIT}, "order_type"),
        ({"action": Action.CANCEL, "reduce_only": True}, "reduce_only"),
        ({"action": Action.AMEND, "order_type": OrderType.MARKET}, "order_type"),
        ({"action": Action.AMEND}, "order_type"),
        ({"action": Action.DEPOSIT, "time_in_force": TimeInForce.GTC}, "time_in_force"),
        ({"action": Action.NEW_ORDER, "order_type": OrderType.LIMIT, "instrument": " BTC"},
         "instrument"),
        ({"action": Action.NEW_ORDER, "order_type": OrderType.LIMIT, "instrument": "venue"},
         "instrument"),
    ],
)
def test_fields_a_client_can_send_that_do_not_go_together_get_an_invalid_request_rejection(
        fields: dict[str, Any], field: str) -> None:
    """Post-only IOC, a market GTC, ...: a reject decision naming the field, not an exception."""
    fields = {"instrument": BTC, **fields}
    g = gate({BTC: "PRE_OPEN"})

    decision = g.check_fields(**fields)

    assert not decision.accepted
    assert decision.reason is Reason.INVALID_REQUEST
    assert f"field={field} " in decision.message
    assert g.check_fields(**fields) is decision  # built once, then shared


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"action": "NEW_ORDER", "order_type": OrderType.LIMIT}, "action"),
        ({"action": Action.NEW_ORDER, "order_type": "LIMIT"}, "order_type"),
        ({"action": Action.NEW_ORDER, "order_type": OrderType.LIMIT, "origin": "CLIENT"}, "origin"),
        ({"action": Action.NEW_ORDER, "order_type": [OrderType.LIMIT]}, "order_type"),
        ({"action": Action.NEW_ORDER, "order_type": OrderType.LIMIT, "instrument": 42}, "instrument"),
        ({"action": Action.NEW_ORDER, "order_type": OrderType.LIMIT, "instrument": [BTC]},
         "instrument"),
        ({"action": Action.NEW_ORDER, "order_type": OrderType.LIMIT, "post_only": 1}, "post_only"),
    ],
)
def test_check_fields_of_the_wrong_type_raise_naming_the_field(fields: dict[str, Any],
                                                                field: str) -> None:
    """A field of the wrong type is the adapter's bug: InvalidRequestError naming the field."""
    fields = {"instrument": BTC, **fields}
    g = gate({BTC: "PRE_OPEN"})

    with pytest.raises(InvalidRequestError) as caught:
        g.check_fields(**fields)

    assert caught.value.field == field


@pytest.mark.parametrize("action", [Action.NEW_ORDER, Action.AMEND, Action.CANCEL])
def test_an_order_action_without_an_instrument_is_an_invalid_request(action: Action) -> None:
    order_type = None if action is Action.CANCEL else OrderType.LIMIT

    decision = gate().check_fields(action, None, order_type)

    assert decision.reason is Reason.INVALID_REQUEST
    assert "field=instrument " in decision.message


# -- preallocated decisions -----------------------------------------------------------------------


def test_repeated_checks_return_the_same_decision_object() -> None:
    """No decision is built per request: equal requests get the identical object."""
    g = gate({BTC: "PRE_OPEN"})

    for kind in ALL_KINDS:
        for instrument in (BTC, ETH):
            first = g.check(request_of(kind, instrument))
            assert g.check(request_of(kind, instrument)) is first
            assert isinstance(first, Decision)


def test_kinds_with_the_same_verdict_share_one_decision() -> None:
    """Decisions are pooled per phase and scope: HALTED has a handful of distinct answers."""
    g = gate({VENUE: "HALTED"})

    decisions = {id(g.check(request_of(kind))) for kind in ALL_KINDS}

    assert len(decisions) <= 2 * len(Action)


def test_returning_to_a_phase_returns_the_same_decision_objects() -> None:
    """Publishing away from a phase and back reuses the decisions built for it."""
    g = gate({BTC: "PRE_OPEN"})
    before = [g.check(request_of(kind)) for kind in ALL_KINDS]

    g._publish({VENUE: "HALTED", BTC: "HALTED"}, 1)
    g._publish({BTC: "PRE_OPEN"}, 2)

    assert all(g.check(request_of(kind)) is d for kind, d in zip(ALL_KINDS, before, strict=True))


# -- publication ----------------------------------------------------------------------------------


def test_a_full_publication_swaps_in_new_state_and_leaves_the_old_one_whole() -> None:
    """A reader holding the old tables and overrides keeps seeing the old answers, whole."""
    g = gate({BTC: "PRE_OPEN"}, version=3)
    old_tables, old_own, old_phases = g._tables, g._own, g.phases

    g._publish({VENUE: "HALTED"}, 4)

    assert old_own == {BTC: g._compiled.index["PRE_OPEN"]}
    assert dict(old_phases) == {VENUE: "NORMAL", BTC: "PRE_OPEN"}
    assert old_tables[0][MARKET.key].accepted
    assert old_tables[old_own[BTC]][MARKET.key].reason is Reason.ORDER_TYPE_NOT_ALLOWED
    assert (g._tables, g._own) == (g._compiled.tables["HALTED"], {})
    assert g._own is not old_own
    assert g.check(MARKET).reason is Reason.PHASE_HALTED
    assert (g.version, dict(g.phases)) == (4, {VENUE: "HALTED"})


def test_an_instrument_transition_changes_one_key_in_place() -> None:
    """O(1): the venue's tables and every other instrument's entry stay as they were."""
    g = gate({ETH: "DEGRADED"})
    tables, own = g._tables, g._own

    g._publish_scope(BTC, "HALTED", 1)

    assert g._tables is tables
    assert g._own is own
    assert dict(g.phases) == {VENUE: "NORMAL", ETH: "DEGRADED", BTC: "HALTED"}
    assert g.version == 1
    assert g.check(LIMIT).reason is Reason.INSTRUMENT_HALTED
    assert g.check(Request.new_order(ETH, OrderType.MARKET)).reason is Reason.ORDER_TYPE_NOT_ALLOWED
    assert g.check(Request.new_order("SOL-USDT", OrderType.LIMIT)).accepted


def test_a_venue_transition_re_points_and_touches_no_instrument() -> None:
    """O(1): the venue phase's precompiled tables are swapped in; BTC in PRE_OPEN follows."""
    g = gate({BTC: "PRE_OPEN"})
    own = g._own

    g._publish_scope(VENUE, "HALTED", 1)
    halted = g.check(POST_ONLY)
    tables = g._tables
    g._publish_scope(VENUE, "NORMAL", 2)
    reopened = g.check(POST_ONLY)

    assert g._own is own
    assert tables is g._compiled.tables["HALTED"]
    assert (halted.reason, halted.scope) == (Reason.PHASE_HALTED, VENUE)
    assert reopened.accepted
    assert (reopened.phase, reopened.scope) == ("PRE_OPEN", INSTRUMENT)
    assert dict(g.phases) == {VENUE: "NORMAL", BTC: "PRE_OPEN"}


def test_a_venue_transition_with_overrides_answers_right_for_every_instrument() -> None:
    """Instruments in every phase (and one in none), the venue walked through every phase."""
    instruments = {f"I-{phase}": phase for phase in PHASES} | {"I-NONE": None}
    g = gate({name: phase for name, phase in instruments.items() if phase is not None})

    for version, venue in enumerate([*PHASES, *reversed(PHASES)], 1):
        g._publish_scope(VENUE, venue, version)
        for name, own in instruments.items():
            for kind in ALL_KINDS:
                decision = g.check(request_of(kind, name))
                got = (decision.accepted, decision.reason, decision.phase, decision.scope)
                assert got == _expected(venue, own, kind), (venue, name, kind.describe())


# -- shared tables and release --------------------------------------------------------------------


def test_instruments_in_the_same_phase_share_one_table() -> None:
    """An instrument's own phase costs a reference to a table shared by all in that phase."""
    g = gate({BTC: "PRE_OPEN", ETH: "PRE_OPEN", "SOL-USDT": "HALTED"})

    assert g._table(BTC) is g._table(ETH)
    assert g._table(BTC) is not g._table("SOL-USDT")
    assert g._table("XRP-USDT") is g._table(None)


def test_gates_of_one_policy_share_their_compiled_tables() -> None:
    """Tables are compiled once per policy: a second gate (any phases) reuses them."""
    a, b = gate({BTC: "PRE_OPEN"}), gate({VENUE: "HALTED", ETH: "PRE_OPEN"})

    b._publish_scope(VENUE, "NORMAL", 1)

    assert a._compiled is b._compiled
    assert a._table(BTC) is b._table(ETH)


def test_an_instrument_returned_to_normal_is_released() -> None:
    """Back in NORMAL, BTC leaves `phases`, follows the venue and decides exactly as the venue."""
    g = gate({VENUE: "FULL_OPEN", BTC: "PRE_OPEN"})

    g._publish_scope(BTC, "NORMAL", 1)

    assert BTC not in g.phases
    assert BTC not in g._own
    assert g.phase(BTC) == "FULL_OPEN"
    assert g._table(BTC) is g._table(None)
    for kind in ALL_KINDS:
        assert g.check(request_of(kind)) is g.check(request_of(kind, "never-overridden"))
    g._publish_scope(VENUE, "DEGRADED", 2)
    assert g.check(MARKET).reason is Reason.ORDER_TYPE_NOT_ALLOWED
    assert g.check(MARKET).scope == VENUE


def test_an_instrument_published_in_normal_is_never_listed() -> None:
    """Built or fully published with an instrument in NORMAL, the gate keeps no entry for it."""
    g = gate({VENUE: "HALTED", BTC: "NORMAL"})
    assert dict(g.phases) == {VENUE: "HALTED"}

    g._publish({VENUE: "PRE_OPEN", ETH: "NORMAL", BTC: "DEGRADED"}, 1)

    assert dict(g.phases) == {VENUE: "PRE_OPEN", BTC: "DEGRADED"}


def test_a_normal_phase_that_restricts_is_not_released() -> None:
    """If NORMAL refuses what another phase accepts, an instrument in NORMAL keeps its phase."""
    policy = _policy()
    strict_normal = [attrs.evolve(p, accepts=attrs.evolve(
        p.accepts, actions=p.accepts.actions - {Action.DEPOSIT})) if p.name == "NORMAL" else p
        for p in policy.phases]
    g = Gate(policy.with_changes(phases=strict_normal), {VENUE: "FULL_OPEN", BTC: "NORMAL"})

    deposit = g.check(Request(Action.DEPOSIT, BTC))

    assert dict(g.phases) == {VENUE: "FULL_OPEN", BTC: "NORMAL"}
    assert (deposit.reason, deposit.phase, deposit.scope) == (
        Reason.ACTION_NOT_ALLOWED, "NORMAL", INSTRUMENT)
    assert g.check(Request(Action.DEPOSIT, ETH)).accepted


def test_a_normal_phase_without_every_capability_is_not_released() -> None:
    """If NORMAL accepts everything but runs no liquidations while DEGRADED does, an instrument
    in NORMAL keeps its phase: released, it would let liquidations run under a DEGRADED venue."""
    policy = _policy()
    no_liquidations = [attrs.evolve(p, liquidations=False) if p.name == "NORMAL" else p
                       for p in policy.phases]
    g = Gate(policy.with_changes(phases=no_liquidations), {VENUE: "DEGRADED", BTC: "NORMAL"})

    assert dict(g.phases) == {VENUE: "DEGRADED", BTC: "NORMAL"}
    assert not g.liquidations(BTC)
    assert g.liquidations(ETH)


def test_publishing_several_scopes_applies_each() -> None:
    """`_publish_scopes` is `_publish_scope` for each, releases included."""
    g = gate({BTC: "HALTED"})

    g._publish_scopes({VENUE: "DEGRADED", BTC: "NORMAL", ETH: "HALTED"}, 7)

    assert (g.version, dict(g.phases)) == (7, {VENUE: "DEGRADED", ETH: "HALTED"})


def test_a_bound_check_kept_in_a_local_sees_each_publication() -> None:
    """Engines keep `check = gate.check`; it reads the current snapshot on every call."""
    g = gate()
    check = g.check

    assert check(LIMIT).accepted
    g._publish({VENUE: "HALTED"}, 1)
    assert check(LIMIT).reason is Reason.PHASE_HALTED
    g._publish({VENUE: "PRE_OPEN"}, 2)
    assert check(LIMIT).reason is Reason.POST_ONLY_REQUIRED


# -- views ----------------------------------------------------------------------------------------


def test_gate_reports_each_scopes_phase() -> None:
    """`phase()` is the venue's; an instrument's own phase, else the venue's."""
    g = gate({VENUE: "DEGRADED", BTC: "HALTED"})

    assert g.phase() == "DEGRADED"
    assert g.phase(VENUE) == "DEGRADED"
    assert g.phase(BTC) == "HALTED"
    assert g.phase(ETH) == "DEGRADED"
    assert dict(g.phases) == {VENUE: "DEGRADED", BTC: "HALTED"}


def test_gate_phases_are_read_only() -> None:
    """The phases mapping cannot be changed from outside."""
    g = gate()

    with pytest.raises(TypeError):
        g.phases[BTC] = "HALTED"  # type: ignore[index]
    assert BTC not in g.phases


def test_a_gate_without_phases_starts_in_the_initial_phase() -> None:
    """No phases given: the venue is in the policy's initial phase, version 0."""
    g = Gate(_policy().with_changes(initial="HALTED"))

    assert dict(g.phases) == {VENUE: "HALTED"}
    assert g.version == 0
    assert g.check(LIMIT).reason is Reason.PHASE_HALTED


def test_gate_reports_its_version_and_policy() -> None:
    """The version given at build time, and the policy object it was compiled from."""
    policy = _policy()
    g = Gate(policy, {VENUE: "PRE_OPEN"}, version=12)

    assert g.version == 12
    assert g.policy is policy
    assert repr(g) == "<Gate policy='default' version=12 phases={'venue': 'PRE_OPEN'}>"


@pytest.mark.parametrize(
    ("phases", "instrument", "capabilities"),
    [
        ({}, None, {"matching", "stop_triggers", "liquidations"}),
        ({VENUE: "FULL_OPEN"}, None, {"matching"}),
        ({BTC: "PRE_OPEN"}, BTC, set()),
        ({BTC: "PRE_OPEN"}, ETH, {"matching", "stop_triggers", "liquidations"}),
        ({BTC: "PRE_OPEN"}, None, {"matching", "stop_triggers", "liquidations"}),
        ({VENUE: "FULL_OPEN", BTC: "DEGRADED"}, BTC, {"matching"}),
        ({VENUE: "DEGRADED", BTC: "FULL_OPEN"}, BTC, {"matching"}),
        ({VENUE: "HALTED", BTC: "NORMAL"}, BTC, set()),
    ],
)
def test_engine_capabilities_need_both_scopes_to_allow_them(
    phases: dict[str, str], instrument: str | None, capabilities: set[str]
) -> None:
    """Matching, stop triggers and liquidations run only where venue and instrument both allow."""
    g = gate(phases)

    assert g.capabilities(instrument) == capabilities
    assert g.matching(instrument) is ("matching" in capabilities)
    assert g.stop_triggers(instrument) is ("stop_triggers" in capabilities)
    assert g.liquidations(instrument) is ("liquidations" in capabilities)


# -- bad construction ------------------------------------------------------------------------------


@pytest.mark.parametrize("phases", [{VENUE: "AUCTION"}, {BTC: "halted"}, {VENUE: None}])
def test_gate_built_with_an_unknown_phase_is_refused(phases: dict[str, Any]) -> None:
    """A phase the policy does not define is a configuration error naming the known phases."""
    with pytest.raises(ConfigurationError, match="unknown phase"):
        gate(phases)


@pytest.mark.parametrize("scope", ["", 7, None])
def test_gate_built_with_a_bad_scope_name_is_refused(scope: Any) -> None:
    """Scope names are non-empty strs."""
    with pytest.raises(ConfigurationError, match="scope names"):
        gate({scope: "HALTED"})


def test_gate_needs_a_policy() -> None:
    """Anything but a `Policy` is refused at build time."""
    with pytest.raises(ConfigurationError, match="Gate needs a Policy"):
        Gate("default")  # type: ignore[arg-type]


def test_an_unknown_phase_in_publication_leaves_the_gate_unchanged() -> None:
    """Publishing a phase the policy does not know fails before the swap."""
    g = gate({BTC: "HALTED"})
    old = (g._tables, g._own, g._venue, g.version)

    with pytest.raises(ConfigurationError):
        g._publish({VENUE: "DEGRADED", ETH: "HALTED", BTC: "AUCTION"}, 1)

    assert (g._tables, g._own, g._venue, g.version) == old
    assert g._own == {BTC: g._compiled.index["HALTED"]}


@pytest.mark.parametrize(("scope", "phase"), [(VENUE, "AUCTION"), (BTC, "AUCTION"), (BTC, None),
                                            ("", "HALTED"), (None, "HALTED")])
def test_a_bad_single_scope_publication_changes_nothing(scope: Any, phase: Any) -> None:
    """An unknown phase or a bad scope name fails before anything is stored."""
    g = gate({ETH: "HALTED"}, version=3)
    tables, venue, own = g._tables, g._venue, dict(g._own)

    with pytest.raises(ConfigurationError):
        g._publish_scope(scope, phase, 4)

    assert (g._tables, g._venue, g._own, g.version) == (tables, venue, own, 3)


def test_gate_is_slotted() -> None:
    """The gate has no per-instance dict to grow or to race on."""
    assert not hasattr(gate(), "__dict__")


def test_the_origin_is_part_of_what_the_gate_decides_on() -> None:
    """The same order is accepted from a client and deferred from the liquidation engine."""
    g = gate({VENUE: "FULL_OPEN"})

    assert g.check(Request.new_order(BTC, OrderType.LIMIT)).accepted
    assert g.check(Request.new_order(BTC, OrderType.LIMIT, origin=Origin.LIQUIDATION)).reason is (
        Reason.ORIGIN_NOT_ALLOWED)


def test_tightened_names_the_last_publication_that_may_refuse_more() -> None:
    """A halt moves `tightened` to its version; the relaxing steps of a reopen leave it."""
    controller = Controller(default_policy())
    gate = controller.gate
    assert gate.tightened == 0

    halt = controller.halt(actor="ops:alice", reason="zone down")
    assert halt is not None
    assert gate.tightened == halt.version == gate.version
    controller.pre_open(actor="ops:alice", reason="book rebuild")
    controller.open(actor="ops:alice", reason="reopen")
    assert gate.version == halt.version + 2
    assert gate.tightened == halt.version

    instrument = controller.halt(actor="ops:alice", reason="bad feed", scope="BTC-USDT")
    assert instrument is not None
    assert gate.tightened == instrument.version


# -- no crossed book out of a phase that does not match (issue #13) -----------------------------

POST_ONLY_BID = Request.new_order(BTC, OrderType.LIMIT, post_only=True)


@pytest.mark.parametrize(("side", "price", "crosses"), [
    (Side.BUY, 101, True), (Side.BUY, 102, True), (Side.BUY, 100, False),
    (Side.SELL, 99, True), (Side.SELL, 98, True), (Side.SELL, 100, False),
])
def test_pre_open_refuses_a_post_only_order_at_or_through_the_opposite_touch(
        side: Side, price: int, crosses: bool) -> None:
    g = gate({VENUE: "PRE_OPEN"})

    decision = g.check_priced(POST_ONLY_BID, side, price, best_bid=99, best_ask=101)

    assert decision.reason is (Reason.WOULD_CROSS if crosses else Reason.ACCEPTED)
    assert decision.phase == "PRE_OPEN"
    assert decision.scope == VENUE


def test_an_empty_opposite_side_cannot_be_crossed() -> None:
    g = gate({VENUE: "PRE_OPEN"})
    assert g.check_priced(POST_ONLY_BID, Side.BUY, 10**6, best_bid=99).accepted
    assert g.check_priced(POST_ONLY_BID, Side.SELL, 1, best_ask=101).accepted


def test_while_matching_the_price_is_not_looked_at() -> None:
    """Crossing is the engine's matching then: the table's decision, whatever the price."""
    g = gate({VENUE: "NORMAL"})
    assert g.check_priced(POST_ONLY_BID, Side.BUY, 500, best_bid=99, best_ask=101) is g.check(
        POST_ONLY_BID)
    assert g.check_priced(POST_ONLY_BID, Side.BUY, float("nan"), 99, 101).accepted


def test_an_instrument_that_stopped_matching_refuses_crossing_orders_at_its_own_level() -> None:
    g = gate({BTC: "PRE_OPEN"})
    decision = g.check_priced(POST_ONLY_BID, Side.BUY, 101, best_bid=99, best_ask=101)
    assert decision.reason is Reason.WOULD_CROSS
    assert (decision.phase, decision.scope) == ("PRE_OPEN", INSTRUMENT)
    other = Request.new_order(ETH, OrderType.LIMIT, post_only=True)
    assert g.check_priced(other, Side.BUY, 101, best_bid=99, best_ask=101).accepted


def test_a_price_amend_across_the_touch_is_refused_too() -> None:
    amend = Request.amend(BTC, OrderType.LIMIT, post_only=True)
    g = gate({VENUE: "PRE_OPEN"})
    assert g.check_priced(amend, Side.BUY, 101, best_bid=99, best_ask=101).reason is (
        Reason.WOULD_CROSS)


def test_a_refused_request_keeps_its_own_reason_and_orders_outside_the_book_are_not_compared(
) -> None:
    g = gate({VENUE: "PRE_OPEN"})
    plain = Request.new_order(BTC, OrderType.LIMIT)
    assert g.check_priced(plain, Side.BUY, 101, 99, 101).reason is Reason.POST_ONLY_REQUIRED
    cancel = Request.cancel(BTC)
    assert g.check_priced(cancel, Side.BUY, 101, 99, 101) is g.check(cancel)


@pytest.mark.parametrize("price", [0, -1, float("nan"), float("inf"), True, "101", None,
                                   Decimal("NaN")])
def test_a_price_that_is_no_positive_number_is_an_invalid_request(price: object) -> None:
    decision = gate({VENUE: "PRE_OPEN"}).check_priced(POST_ONLY_BID, Side.BUY, price, 99, 101)
    assert decision.reason is Reason.INVALID_REQUEST
    assert "field=price " in decision.message


def test_decimal_and_float_prices_are_compared_like_ints() -> None:
    g = gate({VENUE: "PRE_OPEN"})
    assert g.check_priced(POST_ONLY_BID, Side.BUY, Decimal("100.5"), Decimal(99),
                          Decimal("100.5")).reason is Reason.WOULD_CROSS
    assert g.check_priced(POST_ONLY_BID, Side.BUY, 100.4, 99.0, 100.5).accepted


def test_a_bad_side_or_touch_is_the_engines_bug_and_raises_a_library_error() -> None:
    g = gate({VENUE: "PRE_OPEN"})
    with pytest.raises(InvalidRequestError) as caught:
        g.check_priced(POST_ONLY_BID, "BUY", 101, 99, 101)  # type: ignore[arg-type]
    assert caught.value.field == "side"
    with pytest.raises(ConfigurationError, match="best_bid/best_ask"):
        g.check_priced(POST_ONLY_BID, Side.BUY, 101, 99, "101")
    with pytest.raises(InvalidRequestError):
        g.check_priced("order", Side.BUY, 101, 99, 101)  # type: ignore[arg-type]


# -- rejects that say when to come back (issue #13) ---------------------------------------------


def test_rejections_name_the_planned_next_phase() -> None:
    g = gate({VENUE: "HALTED"})
    assert g.check(Request.new_order(BTC, OrderType.LIMIT)).next_phase == "PRE_OPEN"
    assert gate({VENUE: "PRE_OPEN"}).check(
        Request.new_order(BTC, OrderType.MARKET)).next_phase == "FULL_OPEN"
    assert g.check(Request.margin(add=True)).next_phase is None  # accepted: nothing to wait for


def test_venue_rejections_carry_when_the_dwell_of_the_next_step_ends() -> None:
    """restart_policy's open needs 10 min in PRE_OPEN: rejections say so, shared, no per-call
    work; the hint goes when the phase does."""
    clock = ManualClock(1_000.0)
    policy = restart_policy()
    controller = Controller(policy, clock=clock,
                            guards={name: lambda _ctx: True for t in policy.transitions
                                    for name in t.guards})
    controller.halt(actor="ops:alice", reason="zone down")
    controller.pre_open(actor="ops:alice", reason="zone back")
    market = Request.new_order(BTC, OrderType.MARKET)

    decision = controller.gate.check(market)

    assert (decision.reason, decision.next_phase) == (Reason.ORDER_TYPE_NOT_ALLOWED, "FULL_OPEN")
    assert decision.retry_after == 1_000.0 + 600
    assert controller.gate.check(market) is decision
    controller.halt(actor="ops:alice", reason="again")
    assert controller.gate.check(market).retry_after is None  # HALTED's next step has no dwell
