"""The LSE-style reopening policy: pre-open, a call auction, an uncross, liquidations on a clock."""

from __future__ import annotations

import attrs

from .._core.model import Origin
from .._core.phases import PhaseSpec, TransitionSpec
from .._core.policy import Policy
from .._core.reopen import AuctionSpec, Exhausted, LiquidationRelease, MaxStay, StayAction
from .._core.specs import GuardSpec, Permission
from .plan import AUTOMATION, OPERATOR, SUPERVISOR, PlanStep, RestartPlan, restart_policy


def reopening_policy() -> Policy:
    """`restart_policy()` with a reopening call auction and liquidations on a release clock.

    - ``PRE_OPEN`` (post-only book rebuild) is left by ``call`` into ``AUCTION`` instead of
      straight to ``FULL_OPEN``; it may last at most 30 minutes, then the call starts by
      itself when its guards pass (`MaxStay` ADVANCE).
    - ``AUCTION`` accepts plain limit GTC/GTD orders (crossing ones too: that is the call),
      amends, cancels and adding margin; nothing matches continuously. The call lasts 2
      minutes, then ends at a seeded random moment within 30 s. An indicative price more than
      5 % from the reference extends the call by 5 minutes, at most twice (LSE's extension,
      then the "second and final"); then supervision decides, two people
      (``override_open``, which needs a supervisor's approval). In the last 30 s before the
      scheduled end, cancels and less aggressive amends are refused.
    - ``uncross`` and ``override_open`` lead to ``FULL_OPEN``, where liquidation orders are
      accepted but released by the clock: 15 minutes after the open, then at most 10 a minute
      per instrument (Binance resumed liquidations 15 minutes after trading).
    - Funding and interest do not accrue while ``HALTED``, ``PRE_OPEN`` or ``AUCTION``.

    Example:
        >>> policy = reopening_policy()
        >>> policy.phase("AUCTION").auction.max_extensions
        2
        >>> policy.transition("AUCTION", "uncross").dest
        'FULL_OPEN'
    """
    base = restart_policy()
    pre_open = base.phase("PRE_OPEN")
    auction = PhaseSpec(
        "AUCTION",
        attrs.evolve(pre_open.accepts, post_only=False),  # plain limits too: the call
        matching=False,
        description=("Reopening call: limit orders (crossing ones too), amends, cancels; no "
                     "continuous matching; ends in one uncross."),
        auction=AuctionSpec("uncross", "override_open", min_call=120.0, random_end=30.0,
                            collar=0.05, extension=300.0, max_extensions=2,
                            when_exhausted=Exhausted.MANUAL, cutoff=30.0),
        funding=False,
    )
    phases = [_reopening_phase(spec) for spec in base.phases]
    phases.append(auction)
    transitions = [t for t in base.transitions if (t.source, t.trigger) != ("PRE_OPEN", "open")]
    call = next(t for t in base.transitions if (t.source, t.trigger) == ("PRE_OPEN", "open"))
    transitions += [
        TransitionSpec("call", "PRE_OPEN", "AUCTION", guards=call.guards),
        TransitionSpec("uncross", "AUCTION", "FULL_OPEN"),
        TransitionSpec("override_open", "AUCTION", "FULL_OPEN", guards=("supervisor_approval",)),
        TransitionSpec("halt", "AUCTION", "HALTED"),
    ]
    people = frozenset({OPERATOR, SUPERVISOR})
    triggers = sorted({t.trigger for t in transitions})
    return base.with_changes(
        name="reopening",
        description="A supervised restart that reopens through a call auction (LSE-style).",
        phases=tuple(phases),
        transitions=tuple(transitions),
        guards=tuple(g for g in base.guards if isinstance(g, GuardSpec)),
        permissions=tuple(
            Permission(t, people | {AUTOMATION} if t in ("halt", "uncross", "call") else people)
            for t in triggers),
    )


def _reopening_phase(spec: PhaseSpec) -> PhaseSpec:
    """One of `restart_policy()`'s phases as the reopening policy has it."""
    if spec.name == "FULL_OPEN":
        return attrs.evolve(
            spec, accepts=attrs.evolve(spec.accepts, origins=frozenset(Origin)),
            liquidation_release=LiquidationRelease(delay=900.0, per_minute=10),
            description=("Matching resumes; liquidations released on their clock (15 min, "
                         "then 10 a minute per instrument); stop triggers off until NORMAL."))
    if spec.name == "PRE_OPEN":
        return attrs.evolve(spec, funding=False,
                            max_stay=MaxStay(1800.0, StayAction.ADVANCE, trigger="call"))
    if spec.name == "HALTED":
        return attrs.evolve(spec, funding=False)
    return spec


def reopening_plan() -> RestartPlan:
    """The LSE-style reopening over `reopening_policy()`: HALTED -> PRE_OPEN -> AUCTION ->
    FULL_OPEN -> NORMAL. The auction step is left by its runner (`AuctionRunner`: the uncross,
    or people's override), not by a person advancing the plan.

    Example:
        >>> [step.phase for step in reopening_plan().steps]
        ['HALTED', 'PRE_OPEN', 'AUCTION', 'FULL_OPEN', 'NORMAL']
    """
    return RestartPlan(
        name="reopening",
        policy=reopening_policy(),
        steps=(
            PlanStep("HALTED", "pre_open", "Halted; pre-open once the cloud zone is healthy."),
            PlanStep("PRE_OPEN", "call", "Book rebuild (post-only); the call starts after the "
                     "minimum stay, with the book uncrossed, the infrastructure healthy and a "
                     "supervisor's approval (or by itself at the maximum stay, if they hold)."),
            PlanStep("AUCTION", "uncross", "The call: limit orders, no matching; a seeded random "
                     "end, extensions while the price is outside the collar, one uncross."),
            PlanStep("FULL_OPEN", "normalize", "Continuous trading; liquidations resume on "
                     "their clock; normalize after the dwell, with approval."),
            PlanStep("NORMAL", None, "Back to normal."),
        ),
    )
