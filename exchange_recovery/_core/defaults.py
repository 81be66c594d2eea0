"""The default policy, modelled on the phased restart of 18 December 2022."""

from __future__ import annotations

from typing import Final

from .disposition import OrderClass, RestingAction, RestingRule
from .model import Action, OrderType, Origin, TimeInForce
from .phases import Acceptance, PhaseSpec, TransitionSpec
from .policy import Policy

_NOT_LIQUIDATION = frozenset(Origin) - {Origin.LIQUIDATION}
_STOPS = frozenset({OrderType.STOP_MARKET, OrderType.STOP_LIMIT})


def default_policy() -> Policy:
    """The December-2022-style policy: NORMAL, DEGRADED, HALTED, PRE_OPEN, FULL_OPEN.

    - ``HALTED`` accepts no order entry (adding margin only: it lowers risk; and a
      participant's cancel of their own pending withdrawal, accepted in every phase).
    - ``PRE_OPEN`` accepts cancels, mass cancels, adding margin, and post-only limit GTC/GTD orders
      (new and amend) from any origin but the liquidation engine; nothing matches.
    - ``FULL_OPEN`` matches again and accepts all order entry, but removing margin stays refused,
      liquidations and stop triggers stay off, and liquidation-engine orders are deferred until
      ``NORMAL``.
    - ``DEGRADED`` keeps trading but refuses market and stop orders (new or amended), deposits
      and withdrawals.

    Resting orders (what entering a phase does to them, see `RestingRule`): entering
    ``HALTED`` cancels the liquidation engine's orders (they are re-decided on fresh prices
    after the restart, never executed against a book rebuilt without them) and suspends stop
    orders until ``NORMAL`` (stop triggers are off until then; reinstated earlier, the reopen
    print would fire them all at once). Every other order stays in the book, keeping its
    queue position (as Cboe and Kalshi do); nothing matches while halted. Incoming plain limit
    orders in ``PRE_OPEN`` are refused, not converted (a client learns its order was not
    entered as sent).

    Transitions: ``degrade`` NORMAL/FULL_OPEN -> DEGRADED, ``recover`` DEGRADED -> NORMAL,
    ``halt`` from every other phase -> HALTED, ``pre_open`` HALTED -> PRE_OPEN, ``open``
    PRE_OPEN -> FULL_OPEN, ``normalize`` FULL_OPEN -> NORMAL.

    Example:
        >>> from exchange_recovery import Request, OrderType
        >>> policy = default_policy()
        >>> policy.evaluate("PRE_OPEN", Request.new_order("BTC-USDT", OrderType.MARKET))[0].name
        'ORDER_TYPE_NOT_ALLOWED'
    """
    phases = (
        PhaseSpec(
            "NORMAL", Acceptance.everything(), matching=True, stop_triggers=True,
            liquidations=True, description="Business as usual: everything is accepted.",
        ),
        PhaseSpec(
            "DEGRADED",
            Acceptance(
                actions=frozenset(Action) - {Action.DEPOSIT, Action.WITHDRAWAL},
                order_types={OrderType.LIMIT},
            ),
            matching=True, stop_triggers=True, liquidations=True,
            description="Thin, laggy venue: limit orders only, no transfers.",
        ),
        PhaseSpec(
            "HALTED",
            Acceptance(actions={Action.ADD_MARGIN, Action.CANCEL_WITHDRAWAL},
                       origins=_NOT_LIQUIDATION),
            matching=False,
            description=("Fail-safe: no order entry, no matching; margin may still be added "
                         "and pending withdrawals cancelled."),
            resting=(
                RestingRule(RestingAction.CANCEL, OrderClass(origins={Origin.LIQUIDATION})),
                RestingRule(RestingAction.SUSPEND, OrderClass(order_types=_STOPS),
                            until="NORMAL"),
            ),
        ),
        PhaseSpec(
            "PRE_OPEN",
            Acceptance(
                actions={Action.NEW_ORDER, Action.AMEND, Action.CANCEL, Action.MASS_CANCEL,
                         Action.ADD_MARGIN, Action.CANCEL_WITHDRAWAL},
                order_types={OrderType.LIMIT},
                time_in_force={TimeInForce.GTC, TimeInForce.GTD},
                origins=_NOT_LIQUIDATION,
                post_only=True,
            ),
            matching=False,
            description="Book rebuild: post-only limit orders, cancels, adding margin; no matching.",
        ),
        PhaseSpec(
            "FULL_OPEN",
            Acceptance(
                actions=frozenset(Action) - {Action.REMOVE_MARGIN},
                origins=_NOT_LIQUIDATION,
            ),
            matching=True,
            description="Matching resumes; liquidations and stop triggers stay off until NORMAL.",
        ),
    )
    transitions = (
        TransitionSpec("degrade", "NORMAL", "DEGRADED"),
        TransitionSpec("recover", "DEGRADED", "NORMAL"),
        TransitionSpec("halt", "NORMAL", "HALTED"),
        TransitionSpec("halt", "DEGRADED", "HALTED"),
        TransitionSpec("halt", "PRE_OPEN", "HALTED"),
        TransitionSpec("halt", "FULL_OPEN", "HALTED"),
        TransitionSpec("pre_open", "HALTED", "PRE_OPEN"),
        TransitionSpec("open", "PRE_OPEN", "FULL_OPEN"),
        TransitionSpec("normalize", "FULL_OPEN", "NORMAL"),
        TransitionSpec("degrade", "FULL_OPEN", "DEGRADED"),
    )
    return Policy(
        name="default",
        phases=phases,
        transitions=transitions,
        initial="NORMAL",
        normal="NORMAL",
        fail_safe="HALTED",
        halt_trigger="halt",
        description="Phased restart modelled on the 18 Dec 2022 outage and reopen.",
    )


_FUNDS: Final = frozenset({Action.DEPOSIT, Action.WITHDRAWAL})


def deferred_funds_policy() -> Policy:
    """The other venue of December 2022: trading stays on, funds movements wait.

    The same cloud failure hit a second exchange, whose deposits and withdrawals were *delayed*
    (its wallet provider's nodes were down) while trading went on; users with pending
    withdrawals could cancel them or wait. This policy is `default_policy()` plus that mode:

    - ``FUNDS_DEFERRED`` trades as ``NORMAL`` does, but deposits and withdrawals are
      `Reason.DEFERRED` until ``NORMAL`` (held by the wallet service, processed on release),
      and a participant may cancel a pending withdrawal (``CANCEL_WITHDRAWAL``).
    - ``defer_funds`` NORMAL -> FUNDS_DEFERRED, ``release_funds`` FUNDS_DEFERRED -> NORMAL
      (listeners learn the release: `PhaseChange.deferrals`), and ``halt`` from it: a halt
      turns deferral into refusal (what is held is refused with PHASE_HALTED).

    Example:
        >>> from exchange_recovery import Request, Action
        >>> policy = deferred_funds_policy()
        >>> policy.evaluate("FUNDS_DEFERRED", Request(Action.WITHDRAWAL))[0].name
        'ACTION_NOT_ALLOWED'
        >>> policy.verdicts("FUNDS_DEFERRED")[Request(Action.WITHDRAWAL).key]
        (<Reason.DEFERRED: 'DEFERRED'>, 'action=WITHDRAWAL until=NORMAL')
    """
    base = default_policy()
    funds_deferred = PhaseSpec(
        "FUNDS_DEFERRED",
        Acceptance(actions=frozenset(Action) - _FUNDS),
        matching=True, stop_triggers=True, liquidations=True,
        description=("Trading on; deposits and withdrawals deferred until NORMAL, pending "
                     "withdrawals cancellable."),
        defers=_FUNDS,
    )
    transitions = (
        *base.transitions,
        TransitionSpec("defer_funds", "NORMAL", "FUNDS_DEFERRED"),
        TransitionSpec("release_funds", "FUNDS_DEFERRED", "NORMAL"),
        TransitionSpec("halt", "FUNDS_DEFERRED", "HALTED"),
    )
    return base.with_changes(
        name="deferred_funds", phases=(*base.phases, funds_deferred), transitions=transitions,
        description="Trading on, funds movements deferred and cancellable (the other venue of "
                    "18 Dec 2022).")
