"""Built-in guards and role authorization: the run-time side of `GuardSpec` and `Permission`.

- `HealthChecks`: the named health predicates the engine registers (``book_uncrossed``, ...).
- `Approvals`: the approvals operators give before a two-person transition.
- `policy_guards(policy, ...)`: one guard callable per `GuardSpec`, for ``Controller(guards=)``.
  A built-in guard that says no raises `TransitionRefused` with its own code (DWELL_NOT_MET,
  HEALTH_CHECK_FAILED, APPROVAL_MISSING, SELF_APPROVAL), so a refusal says exactly why.
- `RoleAuthorizer`: the policy's permissions, for ``Controller(authorizer=)``.

**Tightening is never refused for want of a role.** A halt or a degrade fired by an actor that
holds none of the trigger's roles still happens (DESIGN property 6: tightening always succeeds);
it is logged as a ``tightening_by_unlisted_actor`` warning with the actor. A relaxing trigger
fired without a permitted role is refused with UNAUTHORIZED.

Every time-based decision uses the controller's clock (dwell) or the clock given to `Approvals`
(the moment an approval is given): inject the same clock into both.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import attrs

from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, TransitionRefused
from .._core.model import VENUE, Actor
from .._core.policy import Policy
from .._core.specs import GuardSpec, _duration, seconds_problem, usable_name
from .._core.text import escape_text, shown
from .._decide.decide import actor_of, clean_reason, require_text
from .._decide.records import Clock, Guard, TransitionContext
from .audit import audit_logger

HealthCheck = Callable[[], bool]
"""A health predicate: True when healthy. Raising counts as unhealthy."""


class HealthChecks:
    """The named health predicates the engine registers; ``health`` guards ask them by name.

    An unknown name, a predicate that raises and anything but ``True`` count as unhealthy.

    Example:
        >>> health = HealthChecks({"cloud_zone_healthy": True})
        >>> health.register("book_uncrossed", lambda: False)
        >>> health.evaluate("book_uncrossed")
        (False, 'book_uncrossed=False')
    """

    def __init__(self, checks: Mapping[str, HealthCheck | bool] | None = None) -> None:
        if checks is not None and not isinstance(checks, Mapping):
            msg = f"checks must be a mapping of name to predicate or bool, got {shown(checks)}"
            raise ConfigurationError(msg)
        self._checks: dict[str, HealthCheck] = {}
        for name, check in ({} if checks is None else checks).items():
            self.register(name, check)

    def register(self, name: str, check: HealthCheck | bool) -> None:
        """Register (or replace) the predicate `name`; a bool registers a fixed answer.

        Raises:
            ConfigurationError: `name` is not an identifier, or `check` neither callable nor
                a bool.
        """
        _check_name(name)
        if isinstance(check, bool):
            value = check
            self._checks[name] = lambda: value
        elif callable(check):
            self._checks[name] = check
        else:
            msg = f"health check {name!r} must be callable or a bool, got {shown(check)}"
            raise ConfigurationError(msg)

    def set(self, name: str, healthy: bool) -> None:
        """Fix the answer of `name` (simulations and tests).

        Raises:
            ConfigurationError: `name` is not an identifier, or `healthy` not a bool.
        """
        if type(healthy) is not bool:
            msg = f"healthy must be a bool, got {shown(healthy)}"
            raise ConfigurationError(msg)
        self.register(name, healthy)

    @property
    def names(self) -> frozenset[str]:
        """The registered check names."""
        return frozenset(self._checks)

    def evaluate(self, name: str) -> tuple[bool, str]:
        """(healthy, detail as ``name=value``) for the check `name`.

        Raises:
            ConfigurationError: `name` is not an identifier.
        """
        _check_name(name)
        check = self._checks.get(name)
        if check is None:
            return False, f"{name}=unregistered"
        try:
            value = check()
        except Exception as exc:  # raising counts as unhealthy
            return False, f"{name} raised {shown(exc)}"
        return value is True, f"{name}={shown(value)}"


@attrs.frozen
class Approval:
    """One approval: `actor` (with its roles) approves firing `trigger` on `scope`."""

    actor: str
    roles: frozenset[str]
    trigger: str
    scope: str
    at: float
    reason: str


class Approvals:
    """The approvals given for two-person transitions, checked by ``approval`` guards.

    An approval counts for the scope's current phase visit only: it must have been given no
    earlier than the scope entered its phase, and a tightening transition of the scope (seen by
    a `RoleAuthorizer` holding this book) or a `clear` withdraws it.

    Example:
        >>> from exchange_recovery import default_restart_plan
        >>> book = Approvals(default_restart_plan().policy, clock=lambda: 60.0)
        >>> book.approve(Actor("ops:bob", {"supervisor"}), "open").actor
        'ops:bob'
    """

    def __init__(self, policy: Policy, *, clock: Clock = time.time,
                 logger: Any = None) -> None:
        if not isinstance(policy, Policy):
            msg = f"Approvals needs a Policy, got {shown(policy)}"
            raise ConfigurationError(msg)
        _read_clock(clock)  # checked when given: a clock that cannot tell the time is refused now
        self._roles: dict[str, frozenset[str]] = {}
        for spec in policy.transitions:
            for name in spec.guards:
                guard = policy.guard(name)
                if guard is not None and guard.kind == "approval":
                    self._roles[spec.trigger] = self._roles.get(spec.trigger, frozenset()) | guard.roles
        self._triggers = policy.triggers
        self._clock = clock
        self._log = audit_logger(logger)
        self._lock = threading.Lock()
        self._approvals: list[Approval] = []

    def approver_roles(self, trigger: str) -> frozenset[str]:
        """The roles that may approve `trigger` (empty: it needs no approval).

        Raises:
            ConfigurationError: `trigger` is not a str.
        """
        if type(trigger) is not str:
            msg = f"trigger must be a str, got {shown(trigger)}"
            raise ConfigurationError(msg)
        return self._roles.get(trigger, frozenset())

    def approve(self, actor: Actor | str, trigger: str, *, scope: str = VENUE,
                reason: str = "approved") -> Approval:
        """Record that `actor` approves firing `trigger` on `scope`.

        Raises:
            TransitionRefused: APPROVER_UNAUTHORIZED if the actor holds no approving role,
                UNKNOWN_TRIGGER or INVALID_ARGUMENT for a trigger that needs no approval, or
                INVALID_ARGUMENT for an actor, trigger, scope or reason that is not a clean
                str (naming the field). Nothing is recorded; the refusal is logged with the
                actor.
        """
        for field, value in (("trigger", trigger), ("scope", scope), ("reason", reason)):
            _text(field, value, scope=scope, trigger=trigger)
        who = actor_of(check_actor(actor, scope=scope, trigger=trigger), scope=scope,
                       trigger=trigger)
        reason = clean_reason(reason)
        roles = self._roles.get(trigger)
        refusal: TransitionRefused | None = None
        if trigger not in self._triggers:
            refusal = TransitionRefused(RefusalCode.UNKNOWN_TRIGGER, scope=scope, phase="?",
                                        trigger=str(trigger), detail="nothing to approve")
        elif roles is None:
            refusal = TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=scope, phase="?",
                                        trigger=trigger, detail="the trigger needs no approval")
        elif not who.roles & roles:
            refusal = TransitionRefused(
                RefusalCode.APPROVER_UNAUTHORIZED, scope=scope, phase="?", trigger=trigger,
                detail=f"actor={who.name} roles={sorted(who.roles)} needs one of {sorted(roles)}",
                context={"actor": who.name, "roles": sorted(who.roles),
                         "needed_roles": sorted(roles)})
        if refusal is not None:
            self._log.warning("approval_refused", code=refusal.code.value, scope=scope,
                              trigger=str(trigger), actor=who.name, detail=refusal.detail)
            raise refusal
        at = _read_clock(self._clock)
        with self._lock:
            approval = Approval(who.name, who.roles, trigger, scope, at, reason)
            self._approvals.append(approval)
        self._log.info("approval_recorded", scope=scope, trigger=trigger, actor=who.name,
                       reason=reason, at=approval.at)
        return approval

    def clear(self, scope: str = VENUE) -> None:
        """Withdraw every approval given for `scope` (a halt does this through the authorizer).

        Raises:
            ConfigurationError: `scope` is not a str.
        """
        if type(scope) is not str:
            msg = f"scope must be a str, got {shown(scope)}"
            raise ConfigurationError(msg)
        with self._lock:
            self._approvals = [a for a in self._approvals if a.scope != scope]

    def current(self, scope: str, trigger: str, since: float,
                roles: frozenset[str]) -> tuple[Approval, ...]:
        """The approvals that count now for `trigger` on `scope` in a visit entered at `since`.

        Raises:
            ConfigurationError: `scope` or `trigger` is not a str, `since` not a finite number,
                or `roles` not a set of strs.
        """
        for field, value in (("scope", scope), ("trigger", trigger)):
            if type(value) is not str:
                msg = f"{field} must be a str, got {shown(value)}"
                raise ConfigurationError(msg)
        if seconds_problem(since, allow_negative=True) is not None:
            msg = f"since must be a finite number of seconds, got {shown(since)}"
            raise ConfigurationError(msg)
        if not isinstance(roles, frozenset | set) or not all(type(r) is str for r in roles):
            msg = f"roles must be a set of role names (strs), got {shown(roles)}"
            raise ConfigurationError(msg)
        with self._lock:
            return tuple(a for a in self._approvals
                         if a.scope == scope and a.trigger == trigger and a.at >= since
                         and a.roles & roles)

    @property
    def records(self) -> tuple[Approval, ...]:
        """Every approval still held, oldest first."""
        with self._lock:
            return tuple(self._approvals)


@attrs.frozen
class Criterion:
    """One condition a transition (or a plan step) needs, evaluated at one moment.

    `code` is None when satisfied; `detail` is the data (``key=value``), `requirement` the
    words. ``str()`` renders one line, e.g. ``blocked  book_uncrossed: health check ...``.
    """

    name: str
    kind: str
    satisfied: bool
    code: RefusalCode | None
    requirement: str
    detail: str
    data: Mapping[str, object] = attrs.field(factory=dict, eq=False, repr=False)
    """What was measured, as data (seconds as floats, names as lists): a refusal's context."""

    def __str__(self) -> str:
        mark = "ok     " if self.satisfied else "blocked"
        why = "" if self.code is None else f" -> {self.code.value}"
        # detail holds names people typed (approvers): escaped, so none can add a line
        return f"{mark}  {escape_text(self.name)}: {self.requirement} ({escape_text(self.detail)}){why}"


class BuiltinGuard:
    """The guard callable for one `GuardSpec`; `evaluate` says why, calling it enforces."""

    def __init__(self, spec: GuardSpec, health: HealthChecks | None,
                 approvals: Approvals | None) -> None:
        self.spec = spec
        self._health = health
        self._approvals = approvals

    def evaluate(self, ctx: TransitionContext, *, anyone: bool = False) -> Criterion:
        """Evaluate against `ctx`; with `anyone`, ignore who fires (for status displays)."""
        spec = self.spec
        ok, code, detail = False, RefusalCode.GUARD_REJECTED, ""
        data: dict[str, object] = {"guard": spec.name}
        if spec.kind == "dwell":
            needed = float(spec.seconds or 0.0)
            ok = ctx.dwell >= needed
            code = RefusalCode.DWELL_NOT_MET
            data.update(in_phase=max(ctx.dwell, 0.0), needed=needed)
            detail = f"in_phase={_duration(max(ctx.dwell, 0.0))} needed={_duration(needed)}"
            if not ok:
                data["remaining"] = needed - ctx.dwell
                detail += f" remaining={_duration(needed - ctx.dwell)}"
        elif spec.kind == "health":
            assert self._health is not None  # noqa: S101 - policy_guards checks it
            ok, detail = self._health.evaluate(spec.health_check)
            code = RefusalCode.HEALTH_CHECK_FAILED
            data.update(health_check=spec.health_check, healthy=ok)
        else:
            assert self._approvals is not None  # noqa: S101 - policy_guards checks it
            given = self._approvals.current(ctx.scope, ctx.trigger, ctx.entered_at, spec.roles)
            others = [a.actor for a in given if anyone or a.actor != ctx.actor.name]
            ok = bool(others)
            code = RefusalCode.SELF_APPROVAL if given and not ok else RefusalCode.APPROVAL_MISSING
            data.update(approved_by=sorted({a.actor for a in given}), needed_roles=sorted(spec.roles))
            detail = f"approved_by={','.join(sorted({a.actor for a in given})) or 'nobody'}"
            if not anyone:
                data["firer"] = ctx.actor.name
                detail += f" firer={ctx.actor.name}"
        return Criterion(spec.name, spec.kind, ok, None if ok else code, spec.describe(), detail,
                         data)

    def __call__(self, ctx: TransitionContext) -> bool:
        result = self.evaluate(ctx)
        if result.code is not None:
            raise TransitionRefused(result.code, scope=ctx.scope, phase=ctx.source,
                                    trigger=ctx.trigger, detail=f"guard={result.name} {result.detail}",
                                    context=result.data)
        return True


def policy_guards(policy: Policy, *, health: HealthChecks | None = None,
                  approvals: Approvals | None = None) -> dict[str, Guard]:
    """One guard per `GuardSpec` of `policy`, to pass as ``Controller(guards=...)``.

    Merge your custom guards in: ``guards={**policy_guards(p, health=h), "mine": fn}``.

    Raises:
        ConfigurationError: `policy` is no `Policy`, `health` or `approvals` is of the wrong
            type, or the policy declares health guards and no `health` was given, or
            approval guards and no `approvals`.
    """
    if not isinstance(policy, Policy):
        msg = f"policy_guards needs a Policy, got {shown(policy)}"
        raise ConfigurationError(msg)
    if health is not None and not isinstance(health, HealthChecks):
        msg = f"health must be a HealthChecks or None, got {shown(health)}"
        raise ConfigurationError(msg)
    if approvals is not None and not isinstance(approvals, Approvals):
        msg = f"approvals must be an Approvals book or None, got {shown(approvals)}"
        raise ConfigurationError(msg)
    kinds = {g.kind for g in policy.guards}
    if "health" in kinds and not isinstance(health, HealthChecks):
        msg = f"policy {policy.name!r} declares health guards; pass health=HealthChecks(...)"
        raise ConfigurationError(msg)
    if "approval" in kinds and not isinstance(approvals, Approvals):
        msg = f"policy {policy.name!r} declares approval guards; pass approvals=Approvals(...)"
        raise ConfigurationError(msg)
    return {g.name: BuiltinGuard(g, health, approvals) for g in policy.guards}


class RoleAuthorizer:
    """Enforces a policy's permissions; install it as ``Controller(authorizer=...)``.

    A relaxing trigger needs an actor holding one of its permission's roles (a trigger without a
    permission may not be fired by anyone): otherwise UNAUTHORIZED. A tightening trigger is
    never refused; an actor outside its roles is logged (``tightening_by_unlisted_actor``), and
    when `approvals` is given, the scope's approvals are withdrawn.

    Raises:
        ConfigurationError: the policy states no permissions (every relaxing trigger would be
            refused), or `approvals` is not an `Approvals` book.
    """

    def __init__(self, policy: Policy, *, approvals: Approvals | None = None,
                 logger: Any = None) -> None:
        if not isinstance(policy, Policy) or not policy.permissions:
            msg = f"RoleAuthorizer needs a Policy with permissions, got {shown(policy)}"
            raise ConfigurationError(msg)
        if approvals is not None and not isinstance(approvals, Approvals):
            msg = f"approvals must be an Approvals book or None, got {shown(approvals)}"
            raise ConfigurationError(msg)
        self._policy = policy
        self._approvals = approvals
        self._log = audit_logger(logger)

    def permitted(self, actor: Actor, trigger: str) -> bool:
        """Whether `actor` holds a role the policy permits to fire `trigger`.

        Raises:
            ConfigurationError: `actor` is not an `Actor`, or `trigger` not a str.
        """
        if not isinstance(actor, Actor):
            msg = f"actor must be an Actor, got {shown(actor)}"
            raise ConfigurationError(msg)
        if type(trigger) is not str:
            msg = f"trigger must be a str, got {shown(trigger)}"
            raise ConfigurationError(msg)
        permission = self._policy.permission(trigger)
        return permission is not None and bool(actor.roles & permission.roles)

    def check(self, ctx: TransitionContext) -> TransitionRefused | None:
        """The refusal this transition would get, or None; no side effects.

        Raises:
            ConfigurationError: `ctx` is not a `TransitionContext`.
        """
        if not isinstance(ctx, TransitionContext):
            msg = f"ctx must be a TransitionContext, got {shown(ctx)}"
            raise ConfigurationError(msg)
        if not ctx.relaxing or self.permitted(ctx.actor, ctx.trigger):
            return None
        permission = self._policy.permission(ctx.trigger)
        needed = sorted(permission.roles) if permission is not None else []
        return TransitionRefused(
            RefusalCode.UNAUTHORIZED, scope=ctx.scope, phase=ctx.source, trigger=ctx.trigger,
            detail=f"actor={ctx.actor.name} roles={sorted(ctx.actor.roles)} needs one of {needed}",
            context={"actor": ctx.actor.name, "roles": sorted(ctx.actor.roles),
                     "needed_roles": needed})

    def __call__(self, ctx: TransitionContext) -> None:
        refusal = self.check(ctx)
        if refusal is not None:
            raise refusal
        if ctx.relaxing:
            return
        if not self.permitted(ctx.actor, ctx.trigger):
            self._log.warning("tightening_by_unlisted_actor", scope=ctx.scope, trigger=ctx.trigger,
                              actor=ctx.actor.name, roles=sorted(ctx.actor.roles),
                              reason=ctx.reason)
        if self._approvals is not None:
            self._approvals.clear(ctx.scope)


def _check_name(name: object) -> None:
    if not (usable_name(name) and name.isidentifier()):  # type: ignore[attr-defined]
        msg = f"health check name must be an identifier, got {shown(name)}"
        raise ConfigurationError(msg)


def _read_clock(clock: object) -> float:
    """The time `clock` tells now, or `ConfigurationError` naming the clock and what it did."""
    if not callable(clock):
        msg = f"clock must be callable (returning seconds), got {shown(clock)}"
        raise ConfigurationError(msg)
    try:
        now = clock()
    except Exception as exc:
        msg = f"clock {shown(clock)} raised {shown(exc)}"
        raise ConfigurationError(msg) from exc
    if seconds_problem(now, allow_negative=True) is not None:
        msg = f"clock {shown(clock)} must return a finite number of seconds, returned {shown(now)}"
        raise ConfigurationError(msg)
    return float(now)


def check_actor(actor: object, *, scope: object, trigger: object) -> Actor | str:
    """`actor` itself if it is an `Actor` or a str (`actor_of` checks the rest), else
    TransitionRefused INVALID_ARGUMENT naming the field."""
    if not (isinstance(actor, Actor) or type(actor) is str):
        _invalid_argument("actor", actor, scope, trigger)
    return actor


def _text(field: str, value: object, *, scope: object, trigger: object) -> None:
    """`value` as a clean, bounded str for `field`, or TransitionRefused INVALID_ARGUMENT.

    Checks the type first, so that `require_text` only ever shows a str.
    """
    if type(value) is not str:
        _invalid_argument(field, value, scope, trigger)
    require_text(field, value, scope=scope if type(scope) is str else "?",
                 trigger=trigger if type(trigger) is str else "?")


def _invalid_argument(field: str, value: object, scope: object, trigger: object) -> NoReturn:
    raise TransitionRefused(RefusalCode.INVALID_ARGUMENT,
                            scope=escape_text(scope, 64) if type(scope) is str else "?",
                            phase="?",
                            trigger=escape_text(trigger, 64) if type(trigger) is str else "?",
                            context={"field": field, "got": shown(value),
                                     "expected": "a non-empty printable str"})
