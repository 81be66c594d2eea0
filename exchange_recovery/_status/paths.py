"""The shortest trigger path between two phases of a policy, with the guards on the way."""

from __future__ import annotations

from collections import deque

import attrs

from .._core.errors import ConfigurationError
from .._core.policy import Policy
from .._core.specs import GuardSpec
from .._core.text import shown


@attrs.frozen
class PathStep:
    """One transition on a path: its trigger, where it leaves and enters, and its guards.

    A guard the policy declares (`Policy.guards`) is its `GuardSpec`; a custom guard (a
    callable given to the controller) is its name.
    """

    trigger: str
    source: str
    dest: str
    guards: tuple[GuardSpec | str, ...] = ()

    def describe(self) -> str:
        """The step in words, with what its guards require.

        Example:
            >>> PathStep("open", "PRE_OPEN", "FULL_OPEN",
            ...          (GuardSpec("stay", "dwell", seconds=600), "book_ok")).describe()
            'open (PRE_OPEN -> FULL_OPEN; stay: at least 10 min in the phase, book_ok: custom guard)'
        """
        if not self.guards:
            return f"{self.trigger} ({self.source} -> {self.dest})"
        needs = ", ".join(f"{g.name}: {g.describe()}" if isinstance(g, GuardSpec)
                          else f"{g}: custom guard" for g in self.guards)
        return f"{self.trigger} ({self.source} -> {self.dest}; {needs})"


@attrs.frozen
class TriggerPath:
    """The triggers that take a scope from `source` to `dest`, in order (none when equal)."""

    source: str
    dest: str
    steps: tuple[PathStep, ...] = ()

    @property
    def triggers(self) -> tuple[str, ...]:
        """The triggers to fire, in order."""
        return tuple(step.trigger for step in self.steps)

    @property
    def guarded(self) -> tuple[PathStep, ...]:
        """The steps that have guards (what may hold the path up)."""
        return tuple(step for step in self.steps if step.guards)

    def describe(self) -> str:
        """The path in one line.

        Example:
            >>> from exchange_recovery import default_policy
            >>> find_path(default_policy(), "HALTED", "FULL_OPEN").describe()
            'from HALTED to FULL_OPEN: pre_open, open'
            >>> find_path(default_policy(), "HALTED", "HALTED").describe()
            'from HALTED to HALTED: already there'
        """
        how = ", ".join(self.triggers) if self.steps else "already there"
        return f"from {self.source} to {self.dest}: {how}"


def checked_policy(policy: object) -> Policy:
    """`policy` if it is a `Policy`; a `ConfigurationError` otherwise."""
    if not isinstance(policy, Policy):
        msg = f"policy must be a Policy, got {shown(policy)}"
        raise ConfigurationError(msg)
    return policy


def phase_name(policy: Policy, name: object, field: str) -> str:
    """The policy's own spelling of phase `name`; a `ConfigurationError` naming `field` and the
    known phases when it is none."""
    if isinstance(name, str):
        try:
            return policy.phase(name).name
        except ConfigurationError:
            pass
    msg = (f"{field}: unknown phase {shown(name)}; expected one of "
           f"{', '.join(policy.phase_names)}")
    raise ConfigurationError(msg)


def distances(policy: Policy, source: str) -> dict[str, tuple[PathStep, ...]]:
    """The shortest path (as steps) from `source` to every phase it reaches.

    Breadth first, edges in the policy's definition order: of two paths of the same length,
    the one whose first differing step the policy defines first wins.
    """
    found: dict[str, tuple[PathStep, ...]] = {source: ()}
    queue = deque([source])
    while queue:
        here = queue.popleft()
        for spec in policy.transitions_from(here):
            if spec.dest in found:
                continue
            guards = tuple(policy.guard(name) or name for name in spec.guards)
            found[spec.dest] = (*found[here], PathStep(spec.trigger, here, spec.dest, guards))
            queue.append(spec.dest)
    return found


def find_path(policy: Policy, source: str, dest: str) -> TriggerPath:
    """The shortest trigger path from phase `source` to phase `dest` of `policy`.

    Shortest by number of transitions; of several, the one whose first differing step comes
    first in the policy's definition order. Each step lists its guards, so a caller sees what
    may hold the path up.

    Raises:
        ConfigurationError: `policy` is no `Policy`; `source` or `dest` is no phase of it (the
            message lists the phases); or no path leads from `source` to `dest`.

    Example:
        >>> from exchange_recovery import default_policy
        >>> path = find_path(default_policy(), "NORMAL", "PRE_OPEN")
        >>> path.triggers
        ('halt', 'pre_open')
    """
    policy = checked_policy(policy)
    source = phase_name(policy, source, "source")
    dest = phase_name(policy, dest, "dest")
    steps = distances(policy, source).get(dest)
    if steps is None:
        msg = f"no path from {source} to {dest} in policy {shown(policy.name)}"
        raise ConfigurationError(msg)
    return TriggerPath(source, dest, steps)
