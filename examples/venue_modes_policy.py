"""A second, differently-shaped policy: Coinbase/Kraken-style trading modes.

Coinbase Exchange and Kraken publish per-product (or venue-wide) modes such as *cancel only*,
*post only*, *limit only* and *reduce only*. Here they are plain data in a `Policy`: no code in
the gate changes. The same build-time checks apply, and this script shows them catching a
"shortcut" from the halt straight back to full trading.

Run: ``python examples/venue_modes_policy.py``
"""

from __future__ import annotations

import sys

import structlog

from exchange_recovery import (
    Acceptance,
    Action,
    Controller,
    InvalidPolicyError,
    OrderType,
    PhaseSpec,
    Policy,
    Request,
    TimeInForce,
    TransitionSpec,
)

_ORDERS = frozenset({Action.NEW_ORDER, Action.AMEND, Action.CANCEL, Action.MASS_CANCEL})
_CANCELS = frozenset({Action.CANCEL, Action.MASS_CANCEL})
_MARGIN = frozenset({Action.ADD_MARGIN, Action.REMOVE_MARGIN})

PHASES = (
    PhaseSpec("NORMAL", Acceptance.everything(), matching=True, stop_triggers=True,
              liquidations=True, description="online: everything is accepted"),
    PhaseSpec("LIMIT_ONLY", Acceptance(actions=_ORDERS | _MARGIN, order_types={OrderType.LIMIT}),
              matching=True, liquidations=True,
              description="limit orders only (they may still take liquidity)"),
    PhaseSpec("POST_ONLY",
              Acceptance(actions=_ORDERS | _MARGIN, order_types={OrderType.LIMIT},
                         time_in_force={TimeInForce.GTC, TimeInForce.GTD}, post_only=True),
              matching=False, description="post-only limit orders rebuild the book; no trades"),
    PhaseSpec("CANCEL_ONLY", Acceptance(actions=_CANCELS | {Action.ADD_MARGIN}), matching=False,
              description="participants may only pull orders (and add margin)"),
    PhaseSpec("REDUCE_ONLY", Acceptance(actions=_ORDERS | _MARGIN, reduce_only=True),
              matching=True, liquidations=True,
              description="delisting: orders may only reduce positions"),
    PhaseSpec("HALTED", Acceptance.nothing(), matching=False, description="maintenance"),
)

TRANSITIONS = (
    TransitionSpec("limit_only", "NORMAL", "LIMIT_ONLY"),
    TransitionSpec("reduce_only", "NORMAL", "REDUCE_ONLY"),
    TransitionSpec("cancel_only", "NORMAL", "CANCEL_ONLY"),
    TransitionSpec("cancel_only", "LIMIT_ONLY", "CANCEL_ONLY"),
    TransitionSpec("cancel_only", "POST_ONLY", "CANCEL_ONLY"),
    TransitionSpec("cancel_only", "HALTED", "CANCEL_ONLY"),
    TransitionSpec("post_only", "CANCEL_ONLY", "POST_ONLY"),
    TransitionSpec("limit_only", "POST_ONLY", "LIMIT_ONLY"),
    TransitionSpec("resume", "LIMIT_ONLY", "NORMAL"),
    TransitionSpec("resume", "REDUCE_ONLY", "NORMAL"),
    *(TransitionSpec("halt", phase.name, "HALTED") for phase in PHASES if phase.name != "HALTED"),
)


def venue_modes_policy() -> Policy:
    """Coinbase/Kraken-style modes: cancel-only, post-only, limit-only, reduce-only."""
    return Policy(name="venue-modes", phases=PHASES, transitions=TRANSITIONS,
                  description="Per-product trading modes as published by spot venues.")


SAMPLES = (
    ("market buy", Request.new_order("ETH-USD", OrderType.MARKET)),
    ("limit IOC", Request.new_order("ETH-USD", OrderType.LIMIT, TimeInForce.IOC)),
    ("post-only limit", Request.new_order("ETH-USD", OrderType.LIMIT, post_only=True)),
    ("reduce-only market", Request.new_order("ETH-USD", OrderType.MARKET, reduce_only=True)),
    ("cancel", Request.cancel("ETH-USD")),
)


def run() -> list[str]:
    """Walk a maintenance window and a delisting; return the printed lines."""
    policy = venue_modes_policy()
    size = f"{len(policy.phase_names)} phases, {len(policy.transitions)} transitions"
    out = [f"policy {policy.name!r}: {size}, validated"]
    controller = Controller(policy)
    steps = [("halt", "venue"), ("cancel_only", "venue"), ("post_only", "venue"),
             ("limit_only", "venue"), ("resume", "venue"), ("reduce_only", "ETH-USD")]
    for trigger, scope in steps:
        controller.fire(trigger, actor="ops:maintenance", reason="scheduled window", scope=scope)
        out.append(f"\n{trigger} on {scope}: venue={controller.phase()} "
                   f"ETH-USD={controller.phase('ETH-USD')}")
        for label, request in SAMPLES:
            decision = controller.gate.check(request)
            verdict = "ACCEPT" if decision.accepted else "reject"
            out.append(f"    {verdict}  {label:<19} {'' if decision.accepted else decision.message}"
                       .rstrip())

    shortcut = (*TRANSITIONS, TransitionSpec("reopen", "HALTED", "NORMAL"))
    try:
        Policy(name="venue-modes-with-shortcut", phases=PHASES, transitions=shortcut)
    except InvalidPolicyError as error:
        out.append(f"\nadding HALTED -> NORMAL is refused when the policy is built:\n{error}")
    return out


def main() -> int:
    """Print the walk-through (audit events go to stderr)."""
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
    sys.stdout.write("\n".join(run()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
