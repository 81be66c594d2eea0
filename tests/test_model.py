"""Requests, decisions and actors: a value that exists is valid; a bad field names itself."""

from __future__ import annotations

from typing import Any

import attrs
import pytest

from exchange_recovery import (
    ALL_KINDS,
    VENUE,
    Action,
    Actor,
    ConfigurationError,
    Decision,
    ExchangeRecoveryError,
    InvalidRequestError,
    OrderType,
    Origin,
    Reason,
    Request,
    RequestKind,
    TimeInForce,
)

INSTRUMENT = "BTC-USDT-SWAP"
ORDER_ACTIONS = (Action.NEW_ORDER, Action.AMEND)
NON_ORDER_ACTIONS = tuple(a for a in Action if a not in ORDER_ACTIONS)


def _raises_on(field: str, **fields: Any) -> InvalidRequestError:
    """Build a request from `fields`; assert it fails on `field` and return the error."""
    with pytest.raises(InvalidRequestError) as caught:
        Request(**fields)
    assert caught.value.field == field, caught.value
    assert field in str(caught.value)
    return caught.value


# -- valid requests --------------------------------------------------------------------------


def test_new_limit_order_defaults_to_gtc_client_without_flags() -> None:
    """A new order built from action, instrument and type gets GTC, CLIENT and no flags."""
    request = Request(Action.NEW_ORDER, INSTRUMENT, OrderType.LIMIT)

    assert request.time_in_force is TimeInForce.GTC
    assert request.origin is Origin.CLIENT
    assert (request.post_only, request.reduce_only) == (False, False)
    assert request.kind == RequestKind(Action.NEW_ORDER, OrderType.LIMIT, TimeInForce.GTC,
                                       False, False, Origin.CLIENT)


def test_new_market_order_defaults_to_ioc() -> None:
    """A market order never rests, so its default time in force is IOC."""
    assert Request.new_order(INSTRUMENT, OrderType.MARKET).time_in_force is TimeInForce.IOC


@pytest.mark.parametrize("order_type", [OrderType.LIMIT, OrderType.STOP_MARKET, OrderType.STOP_LIMIT])
def test_resting_capable_order_types_default_to_gtc(order_type: OrderType) -> None:
    """Every order type except market defaults to GTC, for new orders and amends alike."""
    assert Request.new_order(INSTRUMENT, order_type).time_in_force is TimeInForce.GTC
    assert Request.amend(INSTRUMENT, order_type).time_in_force is TimeInForce.GTC


@pytest.mark.parametrize("action", NON_ORDER_ACTIONS)
def test_non_order_actions_carry_no_order_type_nor_time_in_force(action: Action) -> None:
    """Cancels, margin changes and transfers get no default order type or time in force."""
    request = Request(action, INSTRUMENT)

    assert request.order_type is None
    assert request.time_in_force is None


def test_explicit_time_in_force_is_kept() -> None:
    """A time in force given explicitly is not replaced by the default."""
    request = Request.new_order(INSTRUMENT, OrderType.MARKET, TimeInForce.FOK)

    assert request.time_in_force is TimeInForce.FOK


def test_new_order_shortcut_passes_every_field() -> None:
    """`new_order` builds the same request as the constructor with the same fields."""
    request = Request.new_order(INSTRUMENT, OrderType.LIMIT, TimeInForce.GTD, post_only=True,
                                reduce_only=True, origin=Origin.MARKET_MAKER)

    assert request == Request(Action.NEW_ORDER, INSTRUMENT, OrderType.LIMIT, TimeInForce.GTD,
                              post_only=True, reduce_only=True, origin=Origin.MARKET_MAKER)


def test_amend_shortcut_describes_a_limit_order_by_default() -> None:
    """`amend` defaults to a LIMIT GTC order, the state of the order after the amend."""
    request = Request.amend(INSTRUMENT, post_only=True)

    assert (request.action, request.order_type, request.time_in_force) == (
        Action.AMEND, OrderType.LIMIT, TimeInForce.GTC)
    assert request.post_only is True


def test_cancel_shortcut_builds_a_cancel_with_its_origin() -> None:
    """`cancel` builds a CANCEL of one instrument with no order fields."""
    request = Request.cancel(INSTRUMENT, origin=Origin.OPERATOR)

    assert request == Request(Action.CANCEL, INSTRUMENT, origin=Origin.OPERATOR)


def test_mass_cancel_shortcut_may_cover_every_instrument() -> None:
    """`mass_cancel` without an instrument cancels everywhere; with one, on that instrument."""
    assert Request.mass_cancel().instrument is None
    assert Request.mass_cancel().action is Action.MASS_CANCEL
    assert Request.mass_cancel(INSTRUMENT).instrument == INSTRUMENT


def test_margin_shortcut_picks_add_or_remove() -> None:
    """`margin(add=True)` adds margin, `margin(add=False)` removes it; the instrument is optional."""
    assert Request.margin(add=True).action is Action.ADD_MARGIN
    assert Request.margin(add=False, instrument=INSTRUMENT).action is Action.REMOVE_MARGIN
    assert Request.margin(add=True, origin=Origin.LIQUIDATION).origin is Origin.LIQUIDATION


@pytest.mark.parametrize("action", [Action.MASS_CANCEL, Action.ADD_MARGIN, Action.REMOVE_MARGIN,
                                    Action.DEPOSIT, Action.WITHDRAWAL])
def test_account_wide_actions_need_no_instrument(action: Action) -> None:
    """Mass cancels, margin changes and transfers may be venue-wide (instrument None)."""
    assert Request(action).instrument is None


def test_equal_requests_are_equal_and_hash_alike() -> None:
    """Two requests with the same fields are equal, hash alike and share their key."""
    a = Request.new_order(INSTRUMENT, OrderType.LIMIT, post_only=True)
    b = Request.new_order(INSTRUMENT, OrderType.LIMIT, TimeInForce.GTC, post_only=True)

    assert a == b
    assert hash(a) == hash(b)
    assert a.key == b.key
    assert a != Request.new_order("ETH-USDT", OrderType.LIMIT, post_only=True)


# -- keys ----------------------------------------------------------------------------------


def test_every_kind_gets_its_own_dense_key() -> None:
    """Building a request of each kind gives back that kind's index: keys are 0..n-1, unique."""
    keys = []
    for index, kind in enumerate(ALL_KINDS):
        request = Request(kind.action, INSTRUMENT, kind.order_type, kind.time_in_force,
                          kind.post_only, kind.reduce_only, kind.origin)
        assert request.key == index
        assert request.kind == kind
        keys.append(request.key)

    assert keys == list(range(len(ALL_KINDS)))
    assert len(set(ALL_KINDS)) == len(ALL_KINDS)


def test_the_instrument_does_not_change_the_key() -> None:
    """Keys index request kinds; the same kind on another instrument has the same key."""
    a = Request.new_order(INSTRUMENT, OrderType.STOP_LIMIT, reduce_only=True)
    b = Request.new_order("ETH-USDT", OrderType.STOP_LIMIT, reduce_only=True)

    assert a.key == b.key


def test_all_kinds_covers_every_action_and_origin() -> None:
    """Every action comes from every origin in some kind."""
    pairs = {(k.action, k.origin) for k in ALL_KINDS}

    assert pairs == {(a, o) for a in Action for o in Origin}


def test_all_kinds_holds_only_consistent_combinations() -> None:
    """No kind is market post-only, a market amend, a resting market order or an IOC amend."""
    for kind in ALL_KINDS:
        if kind.action not in ORDER_ACTIONS:
            assert (kind.order_type, kind.time_in_force, kind.post_only, kind.reduce_only) == (
                None, None, False, False)
            continue
        assert kind.order_type is not None
        assert kind.time_in_force is not None
        if kind.post_only:
            assert kind.order_type is OrderType.LIMIT
            assert kind.time_in_force in {TimeInForce.GTC, TimeInForce.GTD}
        if kind.order_type is OrderType.MARKET:
            assert kind.action is Action.NEW_ORDER
            assert kind.time_in_force in {TimeInForce.IOC, TimeInForce.FOK}
        if kind.action is Action.AMEND:
            assert kind.time_in_force in {TimeInForce.GTC, TimeInForce.GTD}


def test_all_kinds_count_matches_the_combinations() -> None:
    """Per origin: 6 non-order kinds, 28 new-order kinds and 14 amend kinds."""
    # new: limit 2 resting x (po 0/1) x (ro 0/1) = 8, limit IOC/FOK x ro = 4, market IOC/FOK x ro = 4,
    # stop-market 4 tifs x ro = 8, stop-limit 4 x ro = 8 -> 32; amend: limit 8, stops 2 x 2 x 2 = 8 -> 16
    per_origin = len(NON_ORDER_ACTIONS) + 32 + 16

    assert len(ALL_KINDS) == per_origin * len(Origin)


def test_needs_immediate_execution_marks_market_ioc_and_fok_orders() -> None:
    """Market, IOC and FOK orders need the book to match now; resting orders and cancels do not."""
    assert Request.new_order(INSTRUMENT, OrderType.MARKET).kind.needs_immediate_execution
    assert Request.new_order(INSTRUMENT, OrderType.LIMIT, TimeInForce.IOC).kind.needs_immediate_execution
    assert Request.new_order(INSTRUMENT, OrderType.STOP_LIMIT,
                             TimeInForce.FOK).kind.needs_immediate_execution
    assert not Request.new_order(INSTRUMENT, OrderType.LIMIT).kind.needs_immediate_execution
    assert not Request.new_order(INSTRUMENT, OrderType.STOP_MARKET).kind.needs_immediate_execution
    assert not Request.cancel(INSTRUMENT).kind.needs_immediate_execution


def test_kind_describes_itself_briefly() -> None:
    """A kind's description names the action, order type, time in force, flags and origin."""
    kind = Request.new_order(INSTRUMENT, OrderType.LIMIT, post_only=True, reduce_only=True).kind

    assert kind.describe() == "NEW_ORDER LIMIT GTC post_only reduce_only origin=CLIENT"
    assert Request.cancel(INSTRUMENT, origin=Origin.OPERATOR).kind.describe() == (
        "CANCEL origin=OPERATOR")


# -- inconsistent fields ------------------------------------------------------------------------


def test_market_order_cannot_be_post_only() -> None:
    """A post-only market order is refused, naming post_only."""
    _raises_on("post_only", action=Action.NEW_ORDER, instrument=INSTRUMENT,
               order_type=OrderType.MARKET, post_only=True)


@pytest.mark.parametrize("order_type", [OrderType.STOP_MARKET, OrderType.STOP_LIMIT])
def test_stop_orders_cannot_be_post_only(order_type: OrderType) -> None:
    """Post-only belongs to limit orders only."""
    _raises_on("post_only", action=Action.NEW_ORDER, instrument=INSTRUMENT, order_type=order_type,
               post_only=True)


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_immediate_limit_orders_cannot_be_post_only(tif: TimeInForce) -> None:
    """An IOC or FOK limit order would never rest, so post-only is refused."""
    _raises_on("post_only", action=Action.NEW_ORDER, instrument=INSTRUMENT,
               order_type=OrderType.LIMIT, time_in_force=tif, post_only=True)


@pytest.mark.parametrize("tif", [TimeInForce.GTC, TimeInForce.GTD])
def test_market_orders_cannot_rest(tif: TimeInForce) -> None:
    """A market order with GTC or GTD is refused, naming time_in_force."""
    error = _raises_on("time_in_force", action=Action.NEW_ORDER, instrument=INSTRUMENT,
                       order_type=OrderType.MARKET, time_in_force=tif)
    assert error.value is tif


def test_amend_cannot_make_a_market_order() -> None:
    """Only resting orders can be amended: an amend to MARKET names order_type."""
    _raises_on("order_type", action=Action.AMEND, instrument=INSTRUMENT, order_type=OrderType.MARKET)


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
def test_amend_cannot_make_an_immediate_order(tif: TimeInForce) -> None:
    """An amend describes a resting order: IOC and FOK are refused."""
    _raises_on("time_in_force", action=Action.AMEND, instrument=INSTRUMENT,
               order_type=OrderType.LIMIT, time_in_force=tif)


@pytest.mark.parametrize("action", ORDER_ACTIONS)
def test_orders_need_an_order_type(action: Action) -> None:
    """A new order or amend without an order type names order_type."""
    _raises_on("order_type", action=action, instrument=INSTRUMENT)


def test_cancel_with_an_order_type_is_refused() -> None:
    """A cancel carries no order type."""
    error = _raises_on("order_type", action=Action.CANCEL, instrument=INSTRUMENT,
                       order_type=OrderType.LIMIT)
    assert "CANCEL" in error.expected


@pytest.mark.parametrize("action", NON_ORDER_ACTIONS)
def test_non_order_actions_refuse_a_time_in_force(action: Action) -> None:
    """Only orders have a time in force."""
    _raises_on("time_in_force", action=action, instrument=INSTRUMENT, time_in_force=TimeInForce.GTC)


@pytest.mark.parametrize("action", NON_ORDER_ACTIONS)
@pytest.mark.parametrize("flag", ["post_only", "reduce_only"])
def test_non_order_actions_refuse_order_flags(action: Action, flag: str) -> None:
    """post_only and reduce_only make sense on orders only."""
    _raises_on(flag, action=action, instrument=INSTRUMENT, **{flag: True})


# -- instruments -------------------------------------------------------------------------------


@pytest.mark.parametrize("action", [Action.NEW_ORDER, Action.AMEND, Action.CANCEL])
def test_order_actions_and_cancels_need_an_instrument(action: Action) -> None:
    """New orders, amends and cancels are always on one instrument."""
    order_type = OrderType.LIMIT if action in ORDER_ACTIONS else None
    _raises_on("instrument", action=action, order_type=order_type)


@pytest.mark.parametrize("bad", ["", " ", "BTC ", " BTC", "\tBTC"])
def test_empty_or_padded_instruments_are_refused(bad: str) -> None:
    """An empty instrument or one with surrounding whitespace names instrument."""
    error = _raises_on("instrument", action=Action.CANCEL, instrument=bad)
    assert error.value == bad


def test_instrument_cannot_be_the_reserved_venue_scope() -> None:
    """'venue' is the venue's scope name, so no instrument may be called that."""
    error = _raises_on("instrument", action=Action.MASS_CANCEL, instrument=VENUE)
    assert "reserved" in error.expected


@pytest.mark.parametrize("bad", [b"BTC", 7, ["BTC"], ("BTC",)])
def test_instrument_must_be_a_str(bad: object) -> None:
    """An instrument of another type names instrument."""
    _raises_on("instrument", action=Action.CANCEL, instrument=bad)


def test_instrument_str_subclass_is_refused() -> None:
    """A str subclass is not a str here: requests hold plain values only."""

    class Symbol(str):
        __slots__ = ()

    _raises_on("instrument", action=Action.CANCEL, instrument=Symbol("BTC"))


# -- wrong types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("action", "NEW_ORDER"),
        ("action", 0),
        ("action", None),
        ("action", Origin.CLIENT),  # an IntEnum equal to Action.NEW_ORDER, of the wrong enum
        ("order_type", "LIMIT"),
        ("order_type", 0),
        ("order_type", TimeInForce.GTC),
        ("time_in_force", "GTC"),
        ("time_in_force", 0),
        ("time_in_force", OrderType.LIMIT),
        ("post_only", 1),
        ("post_only", 0),
        ("post_only", None),
        ("post_only", "yes"),
        ("reduce_only", 1),
        ("reduce_only", 0.0),
        ("origin", "CLIENT"),
        ("origin", 0),
        ("origin", None),
        ("origin", Action.NEW_ORDER),
    ],
)
def test_wrong_types_name_their_field(field: str, bad: object) -> None:
    """A str for an enum, an int for an IntEnum or a bool, a member of another enum: all refused."""
    fields: dict[str, Any] = {"action": Action.NEW_ORDER, "instrument": INSTRUMENT,
                              "order_type": OrderType.LIMIT, field: bad}

    error = _raises_on(field, **fields)

    assert error.value is bad
    assert repr(bad) in str(error)


def test_invalid_request_error_is_a_library_value_error() -> None:
    """Callers may catch the library base class or ValueError."""
    assert issubclass(InvalidRequestError, ExchangeRecoveryError)
    assert issubclass(InvalidRequestError, ValueError)


def test_error_message_shows_the_value_and_what_was_expected() -> None:
    """The message reads 'invalid request field ...: got ..., expected ...'."""
    error = _raises_on("time_in_force", action=Action.NEW_ORDER, instrument=INSTRUMENT,
                       order_type=OrderType.MARKET, time_in_force=TimeInForce.GTC)

    assert str(error).startswith("invalid request field 'time_in_force': got <TimeInForce.GTC: 0>")
    assert "IOC" in error.expected
    assert "FOK" in error.expected


# -- never a half-valid object ----------------------------------------------------------------


def test_requests_are_frozen() -> None:
    """Fields cannot be changed after construction, the key included."""
    request = Request.new_order(INSTRUMENT, OrderType.LIMIT, post_only=True)

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.order_type = OrderType.MARKET  # type: ignore[misc]
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        request.key = 0  # type: ignore[misc]


def test_evolving_into_an_inconsistent_request_is_refused() -> None:
    """attrs.evolve validates again: a post-only limit order cannot become a post-only market one."""
    request = Request.new_order(INSTRUMENT, OrderType.LIMIT, post_only=True)

    with pytest.raises(InvalidRequestError) as caught:
        attrs.evolve(request, order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC)

    assert caught.value.field == "post_only"


def test_evolving_into_another_valid_kind_recomputes_the_key() -> None:
    """An evolved request carries the key of its new kind, not the old one."""
    limit = Request.new_order(INSTRUMENT, OrderType.LIMIT)

    market = attrs.evolve(limit, order_type=OrderType.MARKET, time_in_force=TimeInForce.IOC)

    assert market.key != limit.key
    assert ALL_KINDS[market.key].order_type is OrderType.MARKET


def test_key_cannot_be_passed_in() -> None:
    """The key is computed, never given: a caller cannot forge one."""
    with pytest.raises(TypeError):
        Request(Action.CANCEL, INSTRUMENT, key=0)  # type: ignore[call-arg]


# -- decisions ------------------------------------------------------------------------------------


def test_decision_holds_verdict_reason_phase_scope_and_message() -> None:
    """A decision carries its fields and renders as its message."""
    decision = Decision(False, Reason.POST_ONLY_REQUIRED, "PRE_OPEN", VENUE,
                        "POST_ONLY_REQUIRED: phase=PRE_OPEN scope=venue post_only=False")

    assert decision.accepted is False
    assert decision.reason is Reason.POST_ONLY_REQUIRED
    assert (decision.phase, decision.scope) == ("PRE_OPEN", VENUE)
    assert str(decision) == decision.message


def test_decisions_compare_by_their_fields_and_are_frozen() -> None:
    """Decisions are values: equal fields make equal decisions; none can be changed."""
    a = Decision(True, Reason.ACCEPTED, "NORMAL", VENUE, "ACCEPTED: phase=NORMAL scope=venue")
    b = Decision(True, Reason.ACCEPTED, "NORMAL", VENUE, "ACCEPTED: phase=NORMAL scope=venue")

    assert a == b
    assert a != attrs.evolve(a, scope="BTC")
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        a.accepted = False  # type: ignore[misc]


def test_reason_values_are_their_names_with_descriptions() -> None:
    """Reason codes are stable strings equal to their names, each with a one-line description."""
    for reason in Reason:
        assert reason.value == reason.name
        assert reason.description
        assert "\n" not in reason.description
    assert {"PHASE_HALTED", "POST_ONLY_REQUIRED", "ORDER_TYPE_NOT_ALLOWED", "ACTION_NOT_ALLOWED",
            "ORIGIN_NOT_ALLOWED", "INSTRUMENT_HALTED"} <= {r.value for r in Reason}


# -- actors ----------------------------------------------------------------------------------------


def test_actor_holds_a_name_and_its_roles() -> None:
    """Roles given as any iterable are kept as a frozenset."""
    actor = Actor("ops:alice", ["operator", "restart"])

    assert actor.name == "ops:alice"
    assert actor.roles == frozenset({"operator", "restart"})
    assert Actor("plan").roles == frozenset()


def test_actor_with_a_single_role_string_holds_that_role() -> None:
    """A str for roles is one role, not the set of its letters."""
    assert Actor("ops:alice", roles="admin").roles == frozenset({"admin"})  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "   ", None, 7, b"alice"])
def test_actor_needs_a_non_empty_str_name(bad: object) -> None:
    """An actor without a usable name is a configuration error."""
    with pytest.raises(ConfigurationError, match=r"Actor\.name"):
        Actor(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [[""], [7], ["ops", None]])
def test_actor_roles_must_be_non_empty_strs(bad: list[object]) -> None:
    """Every role is a non-empty str."""
    with pytest.raises(ConfigurationError, match=r"Actor\.roles"):
        Actor("ops:alice", bad)  # type: ignore[arg-type]


def test_actor_roles_must_be_iterable() -> None:
    """A non-iterable roles value is a configuration error, not a TypeError."""
    with pytest.raises(ConfigurationError, match=r"Actor\.roles"):
        Actor("ops:alice", 7)  # type: ignore[arg-type]


def test_configuration_error_is_a_library_value_error() -> None:
    """Callers may catch the library base class or ValueError."""
    assert issubclass(ConfigurationError, ExchangeRecoveryError)
    assert issubclass(ConfigurationError, ValueError)
