"""Restart plans as data: the ordered steps from the fail-safe phase back to the normal one.

A step holds the scope in one phase; its *exit criteria* are the guards of the transition that
leaves it toward the next step, declared in the plan's policy. Because they live on the
transition, the controller enforces them whoever fires it — inside the plan or not — and at the
very moment of the transition, under its lock. `restart_policy()` is `default_policy()` with the
December 2022 restart's guards and permissions added; `default_restart_plan()` walks it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import attrs

from .._core.codes import ProblemCode
from .._core.defaults import default_policy
from .._core.errors import ConfigurationError, InvalidPlanError
from .._core.phases import Problem, TransitionSpec
from .._core.policy import Policy
from .._core.specs import GuardSpec, Permission, seconds, usable_name
from .._core.text import shown

OPERATOR: Final = "operator"
"""Role of the people who run a restart (may fire every trigger of `restart_policy()`)."""
SUPERVISOR: Final = "supervisor"
"""Role of the people who approve the relaxing steps (and may fire them too)."""
AUTOMATION: Final = "automation"
"""Role of circuit breakers and health monitors (may halt and degrade)."""


@attrs.frozen
class PlanStep:
    """One step: hold `phase` until the exit criteria hold, then fire `trigger` (None: last)."""

    phase: str
    trigger: str | None = None
    description: str = ""


def _steps(value: Iterable[PlanStep]) -> tuple[PlanStep, ...]:
    if not isinstance(value, str | bytes):  # iterable, but never a list of steps
        try:
            return tuple(value)
        except Exception:  # noqa: S110 - not iterable, or its iterator raises
            pass
    raise InvalidPlanError([Problem(ProblemCode.INVALID_VALUE, "steps",
                                    f"expected an iterable of PlanSteps, got {shown(value)}")])


@attrs.frozen
class RestartPlan:
    """An ordered list of steps over `policy`, from its fail-safe phase to its normal phase.

    Building one checks it against the policy and raises `InvalidPlanError` listing every
    problem: unknown phases (UNKNOWN_PHASE), a first or last step that is not the fail-safe or
    normal phase (PLAN_ENDPOINTS), a trigger that does not lead to the next step's phase
    (PLAN_STEP_MISMATCH).

    Example:
        >>> plan = default_restart_plan(min_pre_open=300)
        >>> tuple(step.phase for step in plan.steps)
        ('HALTED', 'PRE_OPEN', 'FULL_OPEN', 'NORMAL')
        >>> plan.exit_criteria(1)[:2]
        ('pre_open_min_stay', 'book_uncrossed')
    """

    name: str
    policy: Policy
    steps: tuple[PlanStep, ...] = attrs.field(converter=_steps)

    def __attrs_post_init__(self) -> None:
        problems = _plan_problems(self)
        if problems:
            raise InvalidPlanError(problems)

    def index(self, phase: str) -> int | None:
        """The index of the step holding `phase`, or None if no step does.

        Raises:
            ConfigurationError: `phase` is not a str.
        """
        if not usable_name(phase):
            msg = f"phase must be a str (a phase name), got {shown(phase)}"
            raise ConfigurationError(msg)
        for i, step in enumerate(self.steps):
            if step.phase == phase:
                return i
        return None

    def transition(self, index: int) -> TransitionSpec | None:
        """The transition that leaves step `index` (None for the last step).

        Raises:
            ConfigurationError: `index` is not the index of a step (an int from 0).
        """
        step = self.steps[self._step_index(index)]
        return None if step.trigger is None else self.policy.transition(step.phase, step.trigger)

    def exit_criteria(self, index: int) -> tuple[str, ...]:
        """The guard names that must all hold before step `index` may be left.

        Raises:
            ConfigurationError: `index` is not the index of a step (an int from 0).
        """
        spec = self.transition(index)
        return () if spec is None else spec.guards

    def _step_index(self, index: object) -> int:
        if type(index) is not int or not 0 <= index < len(self.steps):
            msg = (f"index must be the index of a step, an int from 0 to {len(self.steps) - 1}, "
                   f"got {shown(index)}")
            raise ConfigurationError(msg)
        return index


def _plan_problems(plan: RestartPlan) -> list[Problem]:
    problems: list[Problem] = []
    policy = plan.policy
    if not isinstance(plan.name, str):
        problems.append(Problem(ProblemCode.INVALID_NAME, "name",
                                f"expected a str, got {shown(plan.name)}"))
    if not isinstance(policy, Policy):
        return [*problems, Problem(ProblemCode.INVALID_VALUE, "policy",
                                   f"expected a Policy, got {shown(policy)}")]
    steps = plan.steps
    if any(not isinstance(s, PlanStep) for s in steps) or len(steps) < 2:
        return [*problems, Problem(ProblemCode.INVALID_VALUE, "steps",
                                   f"expected at least two PlanSteps, got {shown(steps)}")]
    known = set(policy.phase_names)
    for i, step in enumerate(steps):
        if not (usable_name(step.phase) and step.phase in known):
            problems.append(Problem(ProblemCode.UNKNOWN_PHASE, f"steps[{i}].phase",
                                    f"phase {shown(step.phase)} is not a phase of {policy.name!r}"))
        if step.trigger is not None and not usable_name(step.trigger):
            problems.append(Problem(ProblemCode.PLAN_STEP_MISMATCH, f"steps[{i}].trigger",
                                    f"expected a trigger name or None, got {shown(step.trigger)}"))
    if problems:  # the checks below compare names: only names that can be compared
        return problems
    if steps[0].phase != policy.fail_safe or steps[-1].phase != policy.normal:
        problems.append(Problem(
            ProblemCode.PLAN_ENDPOINTS, "steps",
            f"a restart plan runs from {policy.fail_safe} to {policy.normal}, this one from "
            f"{steps[0].phase} to {steps[-1].phase}"))
    for i, (step, nxt) in enumerate(zip(steps, (*steps[1:], None), strict=True)):
        if nxt is None:
            if step.trigger is not None:
                problems.append(Problem(ProblemCode.PLAN_STEP_MISMATCH, f"steps[{i}].trigger",
                                        f"the last step fires nothing, got {shown(step.trigger)}"))
            continue
        spec = (policy.transition(step.phase, step.trigger)
                if isinstance(step.trigger, str) else None)
        if spec is None or spec.dest != nxt.phase:
            problems.append(Problem(
                ProblemCode.PLAN_STEP_MISMATCH, f"steps[{i}].trigger",
                f"trigger {shown(step.trigger)} does not lead from {step.phase} to {nxt.phase}"))
    return problems


def restart_policy(*, min_pre_open: float = 600.0, full_open_dwell: float = 1800.0) -> Policy:
    """`default_policy()` with the guards and permissions of a supervised restart.

    - ``pre_open`` (HALTED -> PRE_OPEN) needs ``cloud_zone_healthy``.
    - ``open`` (PRE_OPEN -> FULL_OPEN) needs at least `min_pre_open` seconds in PRE_OPEN, the
      health checks ``book_uncrossed``, ``market_data_fresh`` and ``cloud_zone_healthy``, and a
      supervisor's approval (two-person rule).
    - ``normalize`` (FULL_OPEN -> NORMAL) needs `full_open_dwell` seconds in FULL_OPEN (a halt
      leaves FULL_OPEN, so this is "that long with no new halt") and a supervisor's approval.
    - ``recover`` (DEGRADED -> NORMAL) needs a supervisor's approval.
    - ``degrade`` out of FULL_OPEN turns stops and liquidations back on, so it needs what
      ``normalize`` needs: the dwell and an approval (else FULL_OPEN -> DEGRADED -> NORMAL
      would lift the restart's protections at once).
    - Operators and supervisors may fire every trigger; automation may ``halt`` (tightening is
      never refused for want of a role, so an automated ``degrade`` out of NORMAL still
      happens, logged; out of FULL_OPEN, which relaxes, it is refused).

    Example:
        >>> restart_policy().permission("halt").roles == {"operator", "supervisor", "automation"}
        True

    Raises:
        ConfigurationError: a duration is not a finite number of seconds from 0 to 1e12.
    """
    min_pre_open = seconds("min_pre_open", min_pre_open)
    full_open_dwell = seconds("full_open_dwell", full_open_dwell)
    base = default_policy()
    guards = {
        ("HALTED", "pre_open"): ("cloud_zone_healthy",),
        ("PRE_OPEN", "open"): ("pre_open_min_stay", "book_uncrossed", "market_data_fresh",
                               "cloud_zone_healthy", "supervisor_approval"),
        ("FULL_OPEN", "normalize"): ("full_open_dwell", "supervisor_approval"),
        ("FULL_OPEN", "degrade"): ("full_open_dwell", "supervisor_approval"),
        ("DEGRADED", "recover"): ("supervisor_approval",),
    }
    people = frozenset({OPERATOR, SUPERVISOR})
    return base.with_changes(
        name="restart",
        description="The default policy with a supervised, guarded restart.",
        transitions=tuple(attrs.evolve(t, guards=guards.get((t.source, t.trigger), ()))
                          for t in base.transitions),
        guards=(
            GuardSpec("pre_open_min_stay", "dwell", seconds=min_pre_open),
            GuardSpec("full_open_dwell", "dwell", seconds=full_open_dwell),
            GuardSpec("book_uncrossed", "health"),
            GuardSpec("market_data_fresh", "health"),
            GuardSpec("cloud_zone_healthy", "health"),
            GuardSpec("supervisor_approval", "approval", roles={SUPERVISOR}),
        ),
        permissions=tuple(
            Permission(trigger, people | {AUTOMATION} if trigger == "halt" else people)
            for trigger in sorted(base.triggers)
        ),
    )


def default_restart_plan(*, min_pre_open: float = 600.0,
                         full_open_dwell: float = 1800.0) -> RestartPlan:
    """The seed's restart: HALTED -> PRE_OPEN -> FULL_OPEN -> NORMAL over `restart_policy()`.

    Example:
        >>> default_restart_plan().exit_criteria(2)
        ('full_open_dwell', 'supervisor_approval')

    Raises:
        ConfigurationError: a duration is not a finite number of seconds from 0 to 1e12.
    """
    return RestartPlan(
        name="default restart",
        policy=restart_policy(min_pre_open=min_pre_open, full_open_dwell=full_open_dwell),
        steps=(
            PlanStep("HALTED", "pre_open", "Halted; pre-open once the cloud zone is healthy."),
            PlanStep("PRE_OPEN", "open", "Book rebuild: margin and post-only orders, no "
                     "matching; open after the minimum stay, with the book uncrossed, the "
                     "infrastructure healthy and a supervisor's approval."),
            PlanStep("FULL_OPEN", "normalize", "Matching resumes with restart protections on; "
                     "normalize after the dwell time with no new halt, with approval."),
            PlanStep("NORMAL", None, "Back to normal: protections lifted."),
        ),
    )
