"""A slow, obviously-correct reference model of the default policy (DESIGN.md), for the tests.

Written from the design's acceptance matrix and transition list, *not* from the policy or gate
code: it imports only the public request enums, and states each phase's rules as plain ``if``s in
the order the rules are documented to be checked (action, origin, order type, time in force,
post-only, reduce-only: the first that fails gives the reason). Nothing here is fast, and nothing
here should ever need to be.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Final

from exchange_recovery import (
    ALL_KINDS,
    VENUE,
    Action,
    OrderType,
    Origin,
    Reason,
    RequestKind,
    TimeInForce,
)

NORMAL: Final = "NORMAL"
DEGRADED: Final = "DEGRADED"
HALTED: Final = "HALTED"
PRE_OPEN: Final = "PRE_OPEN"
FULL_OPEN: Final = "FULL_OPEN"
PHASES: Final = (NORMAL, DEGRADED, HALTED, PRE_OPEN, FULL_OPEN)

INITIAL: Final = NORMAL
FAIL_SAFE: Final = HALTED

INSTRUMENT: Final = "instrument"
"""The deciding scope when an instrument's own phase decides (DESIGN.md: a decision names the
phase and the scope that decided; decisions are shared by instruments, so the scope is the level)."""

GRAPH: Final[dict[tuple[str, str], str]] = {
    # (source, trigger): dest -- the transition list of DESIGN.md, typed out by hand.
    (NORMAL, "degrade"): DEGRADED,
    (DEGRADED, "recover"): NORMAL,
    (NORMAL, "halt"): HALTED,
    (DEGRADED, "halt"): HALTED,
    (PRE_OPEN, "halt"): HALTED,
    (FULL_OPEN, "halt"): HALTED,
    (HALTED, "pre_open"): PRE_OPEN,
    (PRE_OPEN, "open"): FULL_OPEN,
    (FULL_OPEN, "normalize"): NORMAL,
    (FULL_OPEN, "degrade"): DEGRADED,
}
"""Every allowed transition; anything not listed here must be refused."""

TRIGGERS: Final = frozenset(trigger for _, trigger in GRAPH)

MATCHING: Final = frozenset({NORMAL, DEGRADED, FULL_OPEN})
"""Phases in which the engine matches orders."""

STOP_TRIGGERS: Final = frozenset({NORMAL, DEGRADED})
LIQUIDATIONS: Final = frozenset({NORMAL, DEGRADED})

ORDER_ENTRY: Final = frozenset({Action.NEW_ORDER, Action.AMEND, Action.CANCEL, Action.MASS_CANCEL})

def _normal(kind: RequestKind) -> Reason:
    return Reason.ACCEPTED


def _degraded(kind: RequestKind) -> Reason:
    # Keeps trading, but no market or stop orders (new or amended) and no transfers.
    if kind.action in (Action.DEPOSIT, Action.WITHDRAWAL):
        return Reason.ACTION_NOT_ALLOWED
    if kind.action in (Action.NEW_ORDER, Action.AMEND) and kind.order_type is not OrderType.LIMIT:
        return Reason.ORDER_TYPE_NOT_ALLOWED
    return Reason.ACCEPTED


def _halted(kind: RequestKind) -> Reason:
    # No order entry at all; adding margin only (it lowers risk) and cancelling one's own
    # pending withdrawal, and not by the liquidation engine.
    if kind.action not in (Action.ADD_MARGIN, Action.CANCEL_WITHDRAWAL):
        return Reason.PHASE_HALTED
    if kind.origin is Origin.LIQUIDATION:
        return Reason.ORIGIN_NOT_ALLOWED
    return Reason.ACCEPTED


def _pre_open(kind: RequestKind) -> Reason:
    # Book rebuild: cancels, adding margin, post-only resting limit orders; no liquidation engine.
    if kind.action in (Action.REMOVE_MARGIN, Action.DEPOSIT, Action.WITHDRAWAL):
        return Reason.ACTION_NOT_ALLOWED
    if kind.origin is Origin.LIQUIDATION:
        return Reason.ORIGIN_NOT_ALLOWED
    if kind.action in (Action.CANCEL, Action.MASS_CANCEL, Action.ADD_MARGIN,
                       Action.CANCEL_WITHDRAWAL):
        return Reason.ACCEPTED
    # A new order or an amend.
    if kind.order_type is not OrderType.LIMIT:
        return Reason.ORDER_TYPE_NOT_ALLOWED
    if kind.time_in_force not in (TimeInForce.GTC, TimeInForce.GTD):
        return Reason.TIME_IN_FORCE_NOT_ALLOWED
    if not kind.post_only:
        return Reason.POST_ONLY_REQUIRED
    return Reason.ACCEPTED


def _full_open(kind: RequestKind) -> Reason:
    # Matching again; margin may not be removed and liquidation-engine orders wait for NORMAL.
    if kind.action is Action.REMOVE_MARGIN:
        return Reason.ACTION_NOT_ALLOWED
    if kind.origin is Origin.LIQUIDATION:
        return Reason.ORIGIN_NOT_ALLOWED
    return Reason.ACCEPTED


_RULES: Final[dict[str, Callable[[RequestKind], Reason]]] = {
    NORMAL: _normal,
    DEGRADED: _degraded,
    HALTED: _halted,
    PRE_OPEN: _pre_open,
    FULL_OPEN: _full_open,
}


def reason_in(phase: str, kind: RequestKind, *, instrument_scope: bool = False) -> Reason:
    """The reason `phase` gives `kind`; a closed phase says INSTRUMENT_HALTED on an instrument."""
    reason = _RULES[phase](kind)
    if reason is Reason.PHASE_HALTED and instrument_scope:
        return Reason.INSTRUMENT_HALTED
    return reason


def accepts(phase: str, kind: RequestKind) -> bool:
    """Whether `phase` accepts `kind`."""
    return _RULES[phase](kind) is Reason.ACCEPTED


def capabilities(phase: str) -> frozenset[str]:
    """What the engine itself may do in `phase`."""
    caps = set()
    if phase in MATCHING:
        caps.add("matching")
    if phase in STOP_TRIGGERS:
        caps.add("stop_triggers")
    if phase in LIQUIDATIONS:
        caps.add("liquidations")
    return frozenset(caps)


@functools.cache  # the same answer every time: counting 216 kinds once per phase is enough
def strictness(phase: str) -> int:
    """How many request kinds `phase` rejects (the larger, the stricter)."""
    return sum(1 for kind in ALL_KINDS if not accepts(phase, kind))


def relaxing(source: str, dest: str) -> bool:
    """Whether `dest` permits anything `source` did not (a request kind or an engine activity)."""
    if not capabilities(dest) <= capabilities(source):
        return True
    return any(accepts(dest, kind) and not accepts(source, kind) for kind in ALL_KINDS)


def adds_no_restriction(phase: str) -> bool:
    """Whether an instrument in `phase` is decided as the venue alone would decide.

    True for a phase that accepts every request kind and allows every engine activity: the gate
    then drops the instrument's own phase (it follows the venue again).
    """
    everything = frozenset({"matching", "stop_triggers", "liquidations"})
    return capabilities(phase) == everything and all(accepts(phase, kind) for kind in ALL_KINDS)


def takes_order_entry(phase: str) -> bool:
    """Whether `phase` accepts any new order or amend (from anyone)."""
    return any(accepts(phase, k) for k in ALL_KINDS if k.action in (Action.NEW_ORDER, Action.AMEND))


def needs_immediate_execution(kind: RequestKind) -> bool:
    """Market, IOC, FOK, or a stop order (which executes the moment it triggers)."""
    if kind.action not in (Action.NEW_ORDER, Action.AMEND):
        return False
    return (kind.order_type in (OrderType.MARKET, OrderType.STOP_MARKET, OrderType.STOP_LIMIT)
            or kind.time_in_force in (TimeInForce.IOC, TimeInForce.FOK))


def expected_decision(
    kind: RequestKind, instrument: str | None, phases: Mapping[str, str]
) -> tuple[bool, Reason, str | None, str | None]:
    """(accepted, reason, phase, scope) the gate must answer for a request in `phases`.

    `phases` maps "venue" and every instrument with a phase of its own to its phase. Where both
    the venue and the instrument reject, the stricter phase decides (the venue on a tie). The
    scope is the level that decided: "venue", or INSTRUMENT for the instrument's own phase. For
    an accepted request phase and scope are None: who "decided" an acceptance is not specified.
    """
    venue_phase = phases[VENUE]
    venue_reason = reason_in(venue_phase, kind)
    own = phases.get(instrument) if instrument is not None else None
    if own is None:
        if venue_reason is Reason.ACCEPTED:
            return True, Reason.ACCEPTED, None, None
        return False, venue_reason, venue_phase, VENUE
    inst_reason = reason_in(own, kind, instrument_scope=True)
    venue_rejects = venue_reason is not Reason.ACCEPTED
    inst_rejects = inst_reason is not Reason.ACCEPTED
    if not venue_rejects and not inst_rejects:
        return True, Reason.ACCEPTED, None, None
    if venue_rejects and (not inst_rejects or strictness(venue_phase) >= strictness(own)):
        return False, venue_reason, venue_phase, VENUE
    return False, inst_reason, own, INSTRUMENT
