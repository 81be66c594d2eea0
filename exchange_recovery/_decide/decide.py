"""The one place that decides whether a transition may happen: pure, no lock, no I/O, no log.

Every door that changes a phase asks here:

- a trigger (`Controller.fire`/`halt`, `CoordinatedController`): `decide` checks the graph,
  the authorizer and the guards, and returns the `TransitionContext` to carry out, or raises
  `TransitionRefused` whose `context` says, as data, what decided it;
- a record decided elsewhere (`Controller.apply`, a `Follower` adopting a stored record,
  `recover` replaying a journal): `misfit` says whether it fits the policy's graph from the
  scope's current phase, as a `Misfit` (code and context), or None.

Guards and the authorizer are callables the layers above hand in; what they do is theirs. The
caller holds whatever lock it needs and carries out (journal, publish, audit) what is decided.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Final

import attrs

from .._core.codes import RefusalCode
from .._core.errors import TransitionRefused
from .._core.model import Actor
from .._core.policy import Policy
from .._core.text import escape_text, shown
from .records import Authorizer, Guard, TransitionContext

NO_GUARDS: Final[Mapping[str, Guard]] = {}


@attrs.frozen
class Misfit:
    """Why a record does not fit the policy's graph: PHASE_MISMATCH or TRANSITION_NOT_ALLOWED."""

    code: RefusalCode
    context: Mapping[str, object]

    def refusal(self, scope: str, phase: str, trigger: str) -> TransitionRefused:
        """This misfit as the exception a door raises."""
        return TransitionRefused(self.code, scope=scope, phase=phase, trigger=trigger,
                                 context=self.context)


def misfit(policy: Policy, current: str, source: str, trigger: str, dest: str,
           relaxing: bool) -> Misfit | None:
    """Whether a record ``source -trigger-> dest`` fits the graph from `current`; None if it does.

    The record must start from the scope's current phase, the policy must have that trigger from
    there to that destination, and the record's relaxing flag must agree with the policy.
    """
    if source != current:
        return Misfit(RefusalCode.PHASE_MISMATCH, {"source": source, "current": current})
    spec = policy._derived.edges.get((source, trigger))
    if spec is None or spec.dest != dest:
        return Misfit(RefusalCode.TRANSITION_NOT_ALLOWED,
                      {"source": source, "dest": dest, "allowed": _allowed(policy, source)})
    if policy._derived.relaxing[(source, dest)] is not relaxing:
        return Misfit(RefusalCode.TRANSITION_NOT_ALLOWED,
                      {"relaxing": relaxing, "policy_relaxing": not relaxing})
    return None


def decide(
    policy: Policy,
    *,
    scope: str,
    phase: str,
    trigger: str,
    actor: Actor,
    reason: str,
    now: float,
    entered_at: float,
    version: int,
    guards: Mapping[str, Guard] = NO_GUARDS,
    authorizer: Authorizer | None = None,
) -> TransitionContext:
    """Decide whether `trigger` may move `scope` out of its own `phase` now.

    Checks, in order: the trigger exists, it leads somewhere from `phase`, the authorizer
    agrees (for a relaxing transition: a tightening one is never refused, whatever the
    authorizer says or raises), each of the transition's guards returns True. Returns the
    transition to carry out (version ``version + 1``).

    Raises:
        TransitionRefused: UNKNOWN_TRIGGER, TRANSITION_NOT_ALLOWED, UNAUTHORIZED, GUARD_REJECTED,
            GUARD_FAILED, or the code a guard or the authorizer raised with.

    Example:
        >>> from exchange_recovery import Actor, default_policy
        >>> ctx = decide(default_policy(), scope="venue", phase="NORMAL", trigger="halt",
        ...              actor=Actor("ops:alice"), reason="zone down", now=5.0,
        ...              entered_at=0.0, version=0)
        >>> ctx.dest, ctx.version, ctx.relaxing
        ('HALTED', 1, False)
    """
    if trigger not in policy._derived.triggers:
        raise TransitionRefused(RefusalCode.UNKNOWN_TRIGGER, scope=scope, phase=phase,
                                trigger=trigger,
                                context={"known": sorted(policy._derived.triggers)})
    spec = policy._derived.edges.get((phase, trigger))
    if spec is None:
        raise TransitionRefused(RefusalCode.TRANSITION_NOT_ALLOWED, scope=scope, phase=phase,
                                trigger=trigger, context={"allowed": _allowed(policy, phase)})
    ctx = TransitionContext(scope, phase, spec.dest, trigger, actor, reason, now, entered_at,
                            policy._derived.relaxing[(phase, spec.dest)], version + 1)
    if authorizer is not None:
        if ctx.relaxing:
            _authorize(authorizer, ctx)
        else:  # tightening is never refused: the authorizer sees it (and may audit), no more
            with contextlib.suppress(Exception):
                authorizer(ctx)
    for name in spec.guards:
        _guard(name, guards[name], ctx)
    return ctx


def _allowed(policy: Policy, phase: str) -> list[str]:
    return [t.trigger for t in policy.transitions if t.source == phase]


def _refusal(code: RefusalCode, ctx: TransitionContext, **context: object) -> TransitionRefused:
    return TransitionRefused(code, scope=ctx.scope, phase=ctx.source, trigger=ctx.trigger,
                             context=context)


def _authorize(authorizer: Authorizer, ctx: TransitionContext) -> None:
    try:
        verdict = authorizer(ctx)
    except TransitionRefused:
        raise
    except Exception as exc:
        raise _refusal(RefusalCode.UNAUTHORIZED, ctx, authorizer_raised=repr(exc)) from exc
    if verdict is not None and verdict is not True:  # a predicate saying no: fail closed
        raise _refusal(RefusalCode.UNAUTHORIZED, ctx, authorizer_returned=repr(verdict))


def _guard(name: str, guard: Guard, ctx: TransitionContext) -> None:
    try:
        ok = guard(ctx)
    except TransitionRefused:
        raise
    except Exception as exc:
        raise _refusal(RefusalCode.GUARD_FAILED, ctx, guard=name, raised=repr(exc)) from exc
    if ok is not True:
        raise _refusal(RefusalCode.GUARD_REJECTED, ctx, guard=name)


def actor_of(actor: object, *, scope: object, trigger: object) -> Actor:
    """`actor` as an `Actor` (a non-empty str names one with no roles).

    Raises:
        TransitionRefused: INVALID_ARGUMENT, naming the field.
    """
    if isinstance(actor, Actor):
        require_text("actor", actor.name, scope=scope, trigger=trigger)
        return actor
    if type(actor) is str:
        return Actor(require_text("actor", actor, scope=scope, trigger=trigger))
    raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=_label(scope),
                            phase="?", trigger=_label(trigger),
                            context={"field": "actor", "got": shown(actor),
                                     "expected": "an Actor or a non-empty str"})


LIMITS: Final[Mapping[str, int]] = {"trigger": 64, "scope": 64, "actor": 128, "reason": 1000}
"""The longest trigger, scope, actor id and reason a door takes (characters)."""


def require_text(field: str, value: object, *, scope: object, trigger: object) -> str:
    """`value` if it is a clean, bounded str for `field`, else TransitionRefused.

    Clean: non-empty, no leading or trailing whitespace for names, every character printable
    and encodable (no control, format or bidi characters, no lone surrogates), at most
    ``LIMITS[field]`` characters. A reason is never refused for its content: see `clean_reason`.

    Raises:
        TransitionRefused: INVALID_ARGUMENT naming the field and what was expected.
    """
    limit = LIMITS.get(field, 1000)
    if type(value) is str and value.strip() and (
        field == "reason" or (len(value) <= limit and value.isprintable() and value == value.strip())
    ):
        return value
    raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=_label(scope),
                            phase="?", trigger=_label(trigger),
                            context={"field": field, "got": shown(value),
                                     "expected": f"a non-empty printable str of at most {limit} "
                                                 "characters, no outer spaces"})


def _label(value: object) -> str:
    """A scope or trigger as a refusal names it: bounded and escaped, whatever it is."""
    return escape_text(value, 64) if isinstance(value, str) else shown(value, 64)


def clean_reason(reason: str) -> str:
    """A reason as it may be journaled and logged: itself when printable and at most
    ``LIMITS["reason"]`` characters, else escaped and cut (`escape_text`). Never refused, so
    that no halt fails, nor stays unjournaled, for the text that explains it."""
    limit = LIMITS["reason"]
    if len(reason) <= limit and reason.isprintable():
        return reason
    return escape_text(reason, limit)
