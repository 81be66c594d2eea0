"""Properties: every buildable request gets a decision; bad fields only ever raise one error type."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_recovery import (
    ALL_KINDS,
    INSTRUMENT,
    VENUE,
    Action,
    Decision,
    Gate,
    InvalidRequestError,
    OrderType,
    Origin,
    Policy,
    Reason,
    Request,
    TimeInForce,
    default_policy,
)
from exchange_recovery.testing import requests as kit_requests

PHASES = ("NORMAL", "DEGRADED", "HALTED", "PRE_OPEN", "FULL_OPEN")
OVERRIDDEN = "BTC-USDT-SWAP"
INSTRUMENTS = (OVERRIDDEN, "ETH-USDT-SWAP", "SOL-USDT")
FIELDS = ("action", "instrument", "order_type", "time_in_force", "post_only", "reduce_only",
          "origin")


@functools.cache
def _policy() -> Policy:
    return default_policy()


@functools.cache
def _gate(venue: str, instrument: str | None) -> Gate:
    """A gate with the venue in `venue` and, unless None, OVERRIDDEN in `instrument`."""
    phases = {VENUE: venue} if instrument is None else {VENUE: venue, OVERRIDDEN: instrument}
    return Gate(_policy(), phases)


# -- strategies: valid requests come from exchange_recovery.testing -------------------------------

instruments = st.sampled_from(INSTRUMENTS)
origins = st.sampled_from(Origin)


maybe_instrument = st.none() | instruments

requests = kit_requests(instruments=INSTRUMENTS)
"""Any valid request, from the constructor and its shortcuts (the public kit's strategy)."""

override_phases = st.none() | st.sampled_from(PHASES)


# -- strategies: arbitrary field values, valid or not --------------------------------------------

class _Symbol(str):
    """A str subclass: equal to a valid instrument name, yet not a plain str."""

    __slots__ = ()


junk = st.one_of(
    st.none(), st.booleans(), st.integers(-2, 9), st.floats(allow_nan=False),
    st.sampled_from([0.0, 1.0, 2.0, 3.0]),  # equal to members (and to False/True) under ==
    st.text(max_size=4), st.sampled_from(["venue", "", " BTC", "NEW_ORDER", "LIMIT", "GTC"]),
    st.sampled_from(INSTRUMENTS).map(_Symbol),
    st.sampled_from([*Action, *OrderType, *TimeInForce, *Origin]),
    st.lists(st.integers(0, 3), max_size=2), st.just(object()),
)


def _field(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly well-typed values, so that many draws build; one time in ten, anything at all."""
    # one_of would flatten `junk` into its branches and draw junk most of the time
    return st.integers(0, 9).flatmap(lambda i: junk if i == 0 else valid)


field_sets = st.fixed_dictionaries({
    "action": _field(st.sampled_from(Action)),
    "instrument": _field(maybe_instrument),
    "order_type": _field(st.none() | st.sampled_from(OrderType)),
    "time_in_force": _field(st.none() | st.sampled_from(TimeInForce)),
    "post_only": _field(st.booleans()),
    "reduce_only": _field(st.booleans()),
    "origin": _field(origins),
})


def lookalikes(value: object) -> list[object]:
    """Values equal to `value` under == (and hashing alike) that are not of its type.

    ``0``, ``0.0``, ``False`` and ``OrderType.LIMIT`` all equal ``Action.NEW_ORDER``: a dict
    probe cannot tell them apart, the type checks must.
    """
    if value is None:
        return [False, 0, (), ""]
    number = int(value)  # type: ignore[call-overload]
    alike: list[object] = [number, float(number), *([bool(number)] if number in {0, 1} else []),
                           *(m for e in (Action, OrderType, TimeInForce, Origin) for m in e
                             if m == number)]
    return [v for v in alike if type(v) is not type(value)]


BAD_INSTRUMENTS: tuple[object, ...] = (
    "", "venue", " BTC", "BTC ", "\tETH", "ETH\n", b"BTC", 7, 7.0, ["BTC"], None,
    _Symbol(OVERRIDDEN), _Symbol("SOL-USDT"))
"""Instruments `Request` refuses (None only for actions that need an instrument)."""


@st.composite
def near_misses(draw: st.DrawFn) -> dict[str, Any]:
    """A valid request's fields, the time in force sometimes left out (None)."""
    request = draw(requests)
    fields = {name: getattr(request, name) for name in FIELDS}
    if draw(st.booleans()):
        fields["time_in_force"] = None  # left out: the defaulted path
    return fields


def _build(fields: dict[str, Any]) -> Request | InvalidRequestError:
    try:
        return Request(**fields)
    except InvalidRequestError as error:
        return error


def _check_fields(gate: Gate, fields: dict[str, Any]) -> Decision:
    rest = {k: v for k, v in fields.items() if k not in {"action", "instrument"}}
    return gate.check_fields(fields["action"], fields["instrument"], **rest)


def _try_check_fields(gate: Gate, fields: dict[str, Any]) -> Decision | InvalidRequestError:
    try:
        return _check_fields(gate, fields)
    except InvalidRequestError as error:
        return error


# -- properties ---------------------------------------------------------------------------------


@given(request=requests, instrument_phase=override_phases)
def test_every_buildable_request_gets_a_decision_in_every_phase(
    request: Request, instrument_phase: str | None
) -> None:
    """For each venue phase (and any phase of one instrument), check answers; it never raises."""
    policy = _policy()
    for venue in PHASES:
        gate = _gate(venue, instrument_phase)

        decision = gate.check(request)

        assert isinstance(decision, Decision)
        assert decision.accepted is (decision.reason is Reason.ACCEPTED)
        assert decision.scope in {VENUE, INSTRUMENT}
        deciding = VENUE if decision.scope == VENUE else request.instrument
        assert deciding is not None
        assert deciding in gate.phases  # an instrument decides only with a phase of its own
        assert decision.phase == gate.phase(deciding)
        venue_ok = policy.evaluate(venue, request)[0] is Reason.ACCEPTED
        own_phase = instrument_phase if request.instrument == OVERRIDDEN else None
        inst_ok = own_phase is None or policy.evaluate(own_phase, request)[0] is Reason.ACCEPTED
        assert decision.accepted is (venue_ok and inst_ok)
        if not decision.accepted:
            assert decision.message.startswith(f"{decision.reason.value}: phase={decision.phase} ")


@given(request=requests, instrument_phase=override_phases, venue=st.sampled_from(PHASES))
def test_check_and_check_fields_agree_for_the_same_fields(
    request: Request, instrument_phase: str | None, venue: str
) -> None:
    """The fields of any request give the very decision object the request gets."""
    gate = _gate(venue, instrument_phase)
    fields = {name: getattr(request, name) for name in FIELDS}

    assert _check_fields(gate, fields) is gate.check(request)


@given(fields=field_sets)
def test_random_fields_build_a_valid_request_or_raise_invalid_request_error(
    fields: dict[str, Any]
) -> None:
    """No field combination escapes as another exception, nor builds a half-valid request."""
    built = _build(fields)

    if isinstance(built, InvalidRequestError):
        assert built.field in FIELDS
        assert built.field in str(built)
        return
    for name in FIELDS:
        value = getattr(built, name)
        if name != "time_in_force" or fields[name] is not None:
            assert value is fields[name] or value == fields[name]
    kind = ALL_KINDS[built.key]
    assert (kind.action, kind.order_type, kind.time_in_force, kind.post_only, kind.reduce_only,
            kind.origin) == tuple(getattr(built, n) for n in FIELDS if n != "instrument")
    assert type(built.post_only) is bool
    assert type(built.reduce_only) is bool
    assert type(built.action) is Action
    assert type(built.origin) is Origin


@given(fields=field_sets, venue=st.sampled_from(PHASES), instrument_phase=override_phases)
def test_check_fields_on_random_fields_answers_exactly_as_check_of_the_request(
    fields: dict[str, Any], venue: str, instrument_phase: str | None
) -> None:
    """check_fields raises InvalidRequestError exactly when Request does, naming the same field;
    otherwise it returns the very decision `check(Request(...))` returns."""
    gate = _gate(venue, instrument_phase)
    built = _build(fields)

    decision = _try_check_fields(gate, fields)

    if isinstance(built, InvalidRequestError):
        _refuses_alike(decision, built, fields)
        if isinstance(decision, InvalidRequestError):
            assert decision.expected == built.expected
            assert decision.value is built.value
    else:
        assert decision is gate.check(built), f"check_fields gave {decision} for {built}"


def _client_sendable(fields: dict[str, Any]) -> bool:
    """Every field of its type (what a wire protocol can carry): only how they go together is
    wrong. Written apart from the gate's own test of it."""
    def member(value: object, cls: type, optional: bool = False) -> bool:
        return type(value) is cls or (optional and value is None)

    return (member(fields["action"], Action) and member(fields["order_type"], OrderType, True)
            and member(fields["time_in_force"], TimeInForce, True)
            and type(fields["post_only"]) is bool and type(fields["reduce_only"]) is bool
            and member(fields["origin"], Origin)
            and (fields["instrument"] is None or type(fields["instrument"]) is str))


def _refuses_alike(decision: object, built: InvalidRequestError, fields: dict[str, Any]) -> None:
    """Where `Request` raises, check_fields refuses naming the same field: with a reject
    decision (INVALID_REQUEST) for what a client can send, by raising for a wrong type."""
    if _client_sendable(fields):
        assert isinstance(decision, Decision), f"raised {decision} for {fields}"
        assert decision.reason is Reason.INVALID_REQUEST
        assert f"field={built.field} " in decision.message
    else:
        assert isinstance(decision, InvalidRequestError), f"decided {decision} for {fields}"
        assert decision.field == built.field


@given(fields=near_misses(), venue=st.sampled_from(PHASES), instrument_phase=override_phases,
       extra=junk)
def test_check_fields_refuses_every_near_miss_that_request_refuses(
    fields: dict[str, Any], venue: str, instrument_phase: str | None, extra: object
) -> None:
    """Each field of a valid request swapped in turn for a lookalike (0 for a member, 1.0 for
    True, another enum's member), a bad name or junk: check_fields raises exactly when Request
    does, naming the same field, and otherwise gives check(Request)'s very decision."""
    gate = _gate(venue, instrument_phase)
    for name in FIELDS:
        bad_values = BAD_INSTRUMENTS if name == "instrument" else lookalikes(fields[name])
        for bad in (*bad_values, extra):
            swapped = {**fields, name: bad}
            built = _build(swapped)

            decision = _try_check_fields(gate, swapped)

            if isinstance(built, InvalidRequestError):
                _refuses_alike(decision, built, swapped)
            else:
                assert decision is gate.check(built), swapped


@pytest.mark.parametrize("instrument_phase", [None, "PRE_OPEN"])
def test_check_fields_refuses_every_lookalike_of_every_field_of_every_kind(
    instrument_phase: str | None,
) -> None:
    """Exhaustively, for every request kind (time in force given and left out), each field
    swapped for each lookalike or bad name: check_fields agrees with Request, field for field."""
    gate = _gate("FULL_OPEN", instrument_phase)
    for kind in ALL_KINDS:
        fields: dict[str, Any] = {
            "action": kind.action, "instrument": OVERRIDDEN, "order_type": kind.order_type,
            "time_in_force": kind.time_in_force, "post_only": kind.post_only,
            "reduce_only": kind.reduce_only, "origin": kind.origin}
        for left_out in ({}, {"time_in_force": None}):
            for name in FIELDS:
                value = {**fields, **left_out}[name]
                for bad in BAD_INSTRUMENTS if name == "instrument" else lookalikes(value):
                    swapped = {**fields, **left_out, name: bad}
                    built = _build(swapped)

                    decision = _try_check_fields(gate, swapped)

                    if isinstance(built, InvalidRequestError):
                        _refuses_alike(decision, built, swapped)
                    else:
                        assert decision is gate.check(built), swapped
