"""The plan runner: where a restart stands, what still blocks it, and taking the next step.

The current step is read from the controller, never kept apart from it: it is the step whose
phase the scope is in. So a halt from anywhere (the runner's `abort`, an operator, a circuit
breaker) sends the plan back to its first step, and a phase that is no step of the plan
(DEGRADED, say) puts the scope *off plan* until it is halted or recovered.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any, NoReturn

import attrs

from .._control.audit import audit_logger
from .._control.controller import Controller
from .._control.guards import (
    Approval,
    Approvals,
    BuiltinGuard,
    Criterion,
    HealthChecks,
    RoleAuthorizer,
    check_actor,
)
from .._control.guards import policy_guards as _policy_guards
from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, TransitionRefused
from .._core.model import VENUE, Actor
from .._core.text import escape_text, shown
from .._decide.decide import LIMITS, actor_of
from .._decide.records import Clock, Guard, TransitionContext, TransitionRecord
from .._journal.protocol import Journal
from .plan import RestartPlan

_ANYONE = Actor("(anyone)")


@attrs.frozen
class PlanStatus:
    """Where a plan stands at one moment: as data (the fields) and in words (``str()``).

    `step` is the index of the current step (None: off plan); `criteria` are the next
    transition's exit criteria, each satisfied or blocking with a code and the data behind it.
    """

    plan: str
    scope: str
    phase: str
    step: int | None
    steps: int
    next_trigger: str | None
    next_phase: str | None
    criteria: tuple[Criterion, ...]
    at: float
    restarts: int

    @property
    def complete(self) -> bool:
        """Whether the scope is in the plan's last step."""
        return self.step == self.steps - 1

    @property
    def satisfied(self) -> tuple[Criterion, ...]:
        """The criteria that hold now."""
        return tuple(c for c in self.criteria if c.satisfied)

    @property
    def blocking(self) -> tuple[Criterion, ...]:
        """The criteria that do not hold now, each with its refusal code."""
        return tuple(c for c in self.criteria if not c.satisfied)

    @property
    def ready(self) -> bool:
        """Whether `advance` would take the next step now."""
        return self.next_trigger is not None and not self.blocking

    def lines(self) -> list[str]:
        """The status in words, one line per criterion."""
        plan, scope = escape_text(self.plan), escape_text(self.scope)
        if self.step is None:
            head = f"plan '{plan}' on {scope}: OFF PLAN in {self.phase}"
        else:
            head = f"plan '{plan}' on {scope}: step {self.step + 1}/{self.steps} {self.phase}"
        if self.restarts:
            head += f" (sent back to step 1 by a halt {self.restarts}x)"
        if self.complete:
            return [head, "  complete: nothing left to do"]
        verdict = "ready" if self.ready else f"blocked by {len(self.blocking)}"
        out = [head, f"  next: {self.next_trigger} -> {self.next_phase}: {verdict}"]
        out += [f"    {c}" for c in self.criteria]
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


class PlanRunner:
    """Drives one scope through a `RestartPlan` on a controller.

    `status()` says what blocks the next step, `advance(actor)` takes it only when nothing does
    (the controller re-checks the same guards atomically when it fires), `abort(actor, reason)`
    halts. Build one over an existing controller, or let `create` wire a controller with the
    plan's built-in guards and a `RoleAuthorizer`.

    Example:
        >>> from exchange_recovery import default_restart_plan
        >>> runner = PlanRunner.create(default_restart_plan(), clock=lambda: 0.0,
        ...                            health=HealthChecks({"cloud_zone_healthy": True}))
        >>> runner.advance(Actor("ops:alice", {"operator"})).dest
        'PRE_OPEN'
        >>> runner.status().blocking[0].code.value
        'DWELL_NOT_MET'
    """

    def __init__(self, plan: RestartPlan, controller: Controller, *,
                 approvals: Approvals | None = None, scope: str = VENUE,
                 logger: Any = None) -> None:
        if not isinstance(plan, RestartPlan) or not isinstance(controller, Controller):
            msg = (f"PlanRunner needs a RestartPlan and a Controller, got {shown(plan)}, "
                   f"{shown(controller)}")
            raise ConfigurationError(msg)
        if approvals is not None and not isinstance(approvals, Approvals):
            msg = f"approvals must be an Approvals book or None, got {shown(approvals)}"
            raise ConfigurationError(msg)
        _check_scope(scope)
        if controller.policy != plan.policy:
            msg = (f"the controller enforces policy {controller.policy.name!r}, the plan runs "
                   f"on {plan.policy.name!r}; they must be the same policy")
            raise ConfigurationError(msg)
        self._plan = plan
        self._controller = controller
        self._approvals = approvals
        self._scope = scope
        self._log = audit_logger(logger)
        self._lock = threading.Lock()
        self._last_step: int | None = plan.index(controller.phase(scope))
        self._restarts = 0

    @classmethod
    def create(cls, plan: RestartPlan, *, health: HealthChecks,
               clock: Clock = time.time, journal: Journal | None = None,
               logger: Any = None, guards: Mapping[str, Guard] | None = None,
               scope: str = VENUE, version: int = 0) -> PlanRunner:
        """A runner on a new controller that starts `scope` in the plan's first step.

        The controller gets the plan policy's built-in guards (plus your custom `guards`), a
        `RoleAuthorizer` if the policy states permissions, and a fresh `Approvals` book.

        Raises:
            ConfigurationError: an argument is unusable (named, with the value received);
                checked before anything is built.
        """
        if not isinstance(plan, RestartPlan):
            msg = f"plan must be a RestartPlan, got {shown(plan)}"
            raise ConfigurationError(msg)
        if guards is not None and not isinstance(guards, Mapping):
            msg = f"guards must be a mapping of guard name to callable, got {shown(guards)}"
            raise ConfigurationError(msg)
        _check_scope(scope)
        policy = plan.policy
        approvals = Approvals(policy, clock=clock, logger=logger)
        authorizer = (RoleAuthorizer(policy, approvals=approvals, logger=logger)
                      if policy.permissions else None)
        controller = Controller(
            policy, guards={**_policy_guards(policy, health=health, approvals=approvals),
                            **(guards or {})},
            journal=journal, authorizer=authorizer, clock=clock, logger=logger,
            phases={scope: plan.steps[0].phase}, version=version,
        )
        return cls(plan, controller, approvals=approvals, scope=scope, logger=logger)

    @property
    def plan(self) -> RestartPlan:
        """The plan being run."""
        return self._plan

    @property
    def controller(self) -> Controller:
        """The controller the plan drives."""
        return self._controller

    @property
    def approvals(self) -> Approvals | None:
        """The approval book, if the runner has one."""
        return self._approvals

    def status(self, actor: Actor | str | None = None) -> PlanStatus:
        """Where the plan stands now; with `actor`, also whether that actor may take the step."""
        who = None if actor is None else self._actor(actor, "status")
        with self._lock:
            return self._status(who)

    def approve(self, actor: Actor | str, reason: str = "approved") -> Approval:
        """Approve the next step's trigger as `actor` (see `Approvals.approve`)."""
        if self._approvals is None:
            msg = "this runner has no Approvals book; build it with approvals=..."
            raise ConfigurationError(msg)
        actor = self._actor(actor, "approve")
        with self._lock:
            status = self._status(None)
        trigger = status.next_trigger
        if trigger is None:
            self._refuse(status, RefusalCode.NOT_ON_PLAN if status.step is None
                         else RefusalCode.PLAN_COMPLETE, "nothing to approve", actor)
        return self._approvals.approve(actor, trigger, scope=self._scope, reason=reason)

    def advance(self, actor: Actor | str, reason: str | None = None) -> TransitionRecord:
        """Take the next step if every exit criterion holds and `actor` may; else refuse.

        Raises:
            TransitionRefused: NOT_ON_PLAN, PLAN_COMPLETE, or the code of the first blocking
                criterion (UNAUTHORIZED, DWELL_NOT_MET, HEALTH_CHECK_FAILED, APPROVAL_MISSING,
                SELF_APPROVAL, ...); nothing changed. Logged as ``plan_advance_refused``.
        """
        who = self._actor(actor, "advance")
        if not (reason is None or type(reason) is str):
            raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=self._scope, phase="?",
                                    trigger="advance", context={
                                        "field": "reason", "got": shown(reason),
                                        "expected": "a str or None"})
        with self._lock:
            status = self._status(who)
            if status.step is None:
                self._refuse(status, RefusalCode.NOT_ON_PLAN,
                             f"{status.phase} is not a step of the plan", who)
            if status.next_trigger is None:
                self._refuse(status, RefusalCode.PLAN_COMPLETE, "the plan is complete", who)
            blocking = status.blocking
            if blocking:
                code = blocking[0].code or RefusalCode.GUARD_REJECTED
                # each blocker under its own code: the refusal's code is the first one's
                self._refuse(status, code, "; ".join(
                    f"{c.name}: {(c.code or RefusalCode.GUARD_REJECTED).value} {c.detail}"
                    for c in blocking),
                             who)
            step = status.step + 1
            if reason is None or (type(reason) is str and not reason):
                reason = f"plan {self._plan.name!r} step {step + 1}/{status.steps}"
            record = self._controller.fire(status.next_trigger, actor=who, scope=self._scope,
                                           reason=reason)
            self._last_step = step
            return record

    def abort(self, actor: Actor | str, reason: str) -> TransitionRecord | None:
        """Halt the scope (never refused for want of a role) and withdraw its approvals.

        The plan is back at its first step; returns the halt's record, None if already halted.
        """
        name = self._actor(actor, "abort").name
        if type(reason) is not str:  # the controller refuses it too: here it is named safely
            raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=self._scope, phase="?",
                                    trigger="abort", context={
                                        "field": "reason", "got": shown(reason),
                                        "expected": "a non-empty printable str"})
        with self._lock:
            record = self._controller.halt(actor=actor, reason=reason, scope=self._scope)
            if self._approvals is not None:
                self._approvals.clear(self._scope)
            self._sync()
            self._log.warning("plan_aborted", plan=self._plan.name, scope=self._scope,
                              actor=name, reason=reason)
            return record

    # -- internals (lock held) -----------------------------------------------------------------

    def _actor(self, actor: object, trigger: str) -> Actor:
        """`actor` as an `Actor`, or TransitionRefused INVALID_ARGUMENT (no lock needed)."""
        return actor_of(check_actor(actor, scope=self._scope, trigger=trigger), scope=self._scope,
                        trigger=trigger)

    def _sync(self) -> int | None:
        step = self._plan.index(self._controller.phase(self._scope))
        if step == 0 and self._last_step not in (None, 0):
            self._restarts += 1
            self._log.warning("plan_restarted", plan=self._plan.name, scope=self._scope,
                              from_step=(self._last_step or 0) + 1)
        self._last_step = step
        return step

    def _status(self, actor: Actor | None) -> PlanStatus:
        controller, plan, scope = self._controller, self._plan, self._scope
        phase = controller.phase(scope)
        step = self._sync()
        now = controller.clock()
        spec = None if step is None else plan.transition(step)
        criteria: tuple[Criterion, ...] = ()
        if step is None:
            criteria = (Criterion("on_plan", "plan", False, RefusalCode.NOT_ON_PLAN,
                                  "the scope is in a step of the plan", f"phase={phase}"),)
        elif spec is not None:
            ctx = TransitionContext(scope, phase, spec.dest, spec.trigger, actor or _ANYONE,
                                    "status", now, controller.entered_at(scope),
                                    plan.policy.is_relaxing(phase, spec.dest),
                                    controller.version + 1)
            criteria = tuple(self._criterion(name, ctx, anyone=actor is None)
                             for name in spec.guards)
            authorizer = controller.authorizer
            if actor is not None and isinstance(authorizer, RoleAuthorizer):
                refusal = authorizer.check(ctx)
                criteria = (Criterion("authorized", "role", refusal is None,
                                      None if refusal is None else refusal.code,
                                      f"{actor.name} may fire {spec.trigger}",
                                      f"roles={sorted(actor.roles)}"), *criteria)
        return PlanStatus(plan.name, scope, phase, step, len(plan.steps),
                          None if spec is None else spec.trigger,
                          None if spec is None else spec.dest, criteria, now, self._restarts)

    def _criterion(self, name: str, ctx: TransitionContext, *, anyone: bool) -> Criterion:
        guard = self._controller.guard(name)
        if isinstance(guard, BuiltinGuard):
            return guard.evaluate(ctx, anyone=anyone)
        try:
            ok = guard(ctx)
        except TransitionRefused as refusal:
            return Criterion(name, "custom", False, refusal.code, "custom guard", refusal.detail)
        except Exception as exc:
            return Criterion(name, "custom", False, RefusalCode.GUARD_FAILED, "custom guard",
                             f"raised {exc!r}")
        return Criterion(name, "custom", ok is True, None if ok is True else
                         RefusalCode.GUARD_REJECTED, "custom guard", f"returned {ok!r}")

    def _refuse(self, status: PlanStatus, code: RefusalCode, detail: str,
                actor: Actor | str) -> NoReturn:
        name = actor.name if isinstance(actor, Actor) else str(actor)
        refusal = TransitionRefused(code, scope=self._scope, phase=status.phase,
                                    trigger=status.next_trigger or "-", detail=detail)
        self._log.warning("plan_advance_refused", code=code.value, plan=self._plan.name,
                          scope=self._scope, phase=status.phase, trigger=refusal.trigger,
                          actor=name, detail=detail)
        raise refusal


def _check_scope(scope: object) -> None:
    """A runner's scope: a name as the controller takes it (checked before anything is built)."""
    limit = LIMITS["scope"]
    if not (type(scope) is str and scope and len(scope) <= limit and scope.isprintable()
            and scope == scope.strip()):
        msg = (f"scope must be a non-empty printable str of at most {limit} characters, no "
               f"outer spaces, got {shown(scope)}")
        raise ConfigurationError(msg)
