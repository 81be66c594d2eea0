"""Run a restart plan against a scripted timeline, instantly and deterministically.

The script is a sequence of events: `Wait` moves the simulated clock, `SetHealth` flips a health
check, `Approve` records an approval, `Advance` tries the next step, `Abort` halts through the
plan, `Fire` pulls a trigger directly on the controller (a circuit breaker's halt, say). The
result is the timeline: after every event, the time, the phase, and the refusal if there was one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .._control.guards import HealthChecks
from .._core.clock import ManualClock
from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, TransitionRefused
from .._core.model import VENUE, Actor
from .._core.specs import seconds, usable_name
from .._core.text import shown
from .._decide.records import TransitionRecord
from .._journal.protocol import MemoryJournal
from .plan import RestartPlan
from .runner import PlanRunner, PlanStatus


def _seconds(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    seconds(f"Wait.{attribute.name}", value)


def _actor(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not (isinstance(value, Actor) or type(value) is str):
        msg = (f"{type(instance).__name__}.{attribute.name} must be an Actor or an actor id "
               f"(a str), got {shown(value)}")
        raise ConfigurationError(msg)


def _text(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not str:
        msg = f"{type(instance).__name__}.{attribute.name} must be a str, got {shown(value)}"
        raise ConfigurationError(msg)


def _bool(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if type(value) is not bool:
        msg = f"{type(instance).__name__}.{attribute.name} must be a bool, got {shown(value)}"
        raise ConfigurationError(msg)


def _name(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not (usable_name(value) and value.isidentifier()):  # type: ignore[attr-defined]
        msg = (f"{type(instance).__name__}.{attribute.name} must be an identifier, got "
               f"{shown(value)}")
        raise ConfigurationError(msg)


# Each event checks its fields when it is built (ConfigurationError naming the field): a script
# that would fail half-way fails before the simulation starts.


@attrs.frozen
class Wait:
    """Move the simulated clock forward by `seconds` (a finite number from 0 to 1e12)."""

    seconds: float = attrs.field(validator=_seconds)


@attrs.frozen
class SetHealth:
    """Set the health check `name` (an identifier) to `healthy` (a bool)."""

    name: str = attrs.field(validator=_name)
    healthy: bool = attrs.field(validator=_bool)


@attrs.frozen
class Approve:
    """`actor` approves the plan's next step."""

    actor: Actor | str = attrs.field(validator=_actor)


@attrs.frozen
class Advance:
    """`actor` tries to take the plan's next step."""

    actor: Actor | str = attrs.field(validator=_actor)


@attrs.frozen
class Abort:
    """`actor` aborts the plan: the scope halts and the plan goes back to its first step."""

    actor: Actor | str = attrs.field(validator=_actor)
    reason: str = attrs.field(validator=_text)


@attrs.frozen
class Fire:
    """`actor` fires `trigger` on the controller directly, outside the plan."""

    trigger: str = attrs.field(validator=_text)
    actor: Actor | str = attrs.field(validator=_actor)
    reason: str = attrs.field(validator=_text)


SimulationEvent = Wait | SetHealth | Approve | Advance | Abort | Fire
"""One event of a scripted timeline."""

_EVENTS = (Wait, SetHealth, Approve, Advance, Abort, Fire)


@attrs.frozen
class TimelineEntry:
    """What happened at one event: when (seconds since the start), the phase after, any refusal."""

    at: float
    event: str
    phase: str
    step: int | None
    refusal: RefusalCode | None = None
    detail: str = ""
    status: PlanStatus | None = attrs.field(default=None, eq=False, repr=False)
    """The plan's status right after the event."""

    def __str__(self) -> str:
        minutes = f"{self.at / 60:6.1f} min"
        outcome = f"REFUSED {self.refusal.value}: {self.detail}" if self.refusal else self.detail
        return f"{minutes}  {self.phase:<9}  {self.event}  {outcome}".rstrip()


@attrs.frozen
class Timeline:
    """The result of `simulate`: a "start" entry then one per event, the plan's final status,
    and the journal the simulated controller wrote."""

    entries: tuple[TimelineEntry, ...]
    final: PlanStatus
    journal: tuple[TransitionRecord, ...]

    @property
    def phases(self) -> tuple[tuple[float, str], ...]:
        """(time, phase) at every phase change, starting with the initial phase."""
        out: list[tuple[float, str]] = []
        for entry in self.entries:
            if not out or out[-1][1] != entry.phase:
                out.append((entry.at, entry.phase))
        return tuple(out)

    @property
    def refusals(self) -> tuple[TimelineEntry, ...]:
        """The entries that were refused."""
        return tuple(e for e in self.entries if e.refusal is not None)


def _who(actor: Actor | str) -> str:
    return actor.name if isinstance(actor, Actor) else actor


def simulate(plan: RestartPlan, events: Iterable[SimulationEvent], *,
             health: Mapping[str, bool] | None = None, scope: str = VENUE,
             logger: Any = None) -> Timeline:
    """Run `events` against a fresh controller starting `scope` in the plan's first step.

    Health checks start as given in `health` (unset ones are unhealthy); the clock starts at 0.

    Example:
        >>> from exchange_recovery import default_restart_plan
        >>> ops = Actor("ops:alice", {"operator"})
        >>> timeline = simulate(default_restart_plan(), [Advance(ops)])
        >>> timeline.entries[1].refusal.value  # entries[0] is the start
        'HEALTH_CHECK_FAILED'

    Raises:
        ConfigurationError: an argument is unusable, or an event is none of the
            `SimulationEvent` types (checked before the simulation starts).
    """
    if not isinstance(plan, RestartPlan):
        msg = f"plan must be a RestartPlan, got {shown(plan)}"
        raise ConfigurationError(msg)
    try:
        script = tuple(events) if not isinstance(events, str | bytes) else None
    except Exception:  # not iterable, or its iterator raises
        script = None
    if script is None:
        msg = f"events must be an iterable of simulation events, got {shown(events)}"
        raise ConfigurationError(msg)
    unknown = [(i, e) for i, e in enumerate(script) if not isinstance(e, _EVENTS)]
    if unknown:
        index, event = unknown[0]
        msg = (f"events[{index}] must be one of {', '.join(t.__name__ for t in _EVENTS)}, got "
               f"{shown(event)}")
        raise ConfigurationError(msg)
    if health is not None and not isinstance(health, Mapping):
        msg = f"health must be a mapping of check name to bool, got {shown(health)}"
        raise ConfigurationError(msg)
    clock = ManualClock()
    checks = HealthChecks(health or {})
    journal = MemoryJournal()
    runner = PlanRunner.create(plan, health=checks, clock=clock, journal=journal, logger=logger,
                               scope=scope)
    start = runner.status()
    entries = [TimelineEntry(clock.now, "start", start.phase, start.step, status=start)]
    for event in script:
        refusal: TransitionRefused | None = None
        detail = ""
        try:
            detail, words = _apply(event, runner, checks, clock)
        except TransitionRefused as exc:
            refusal = exc
            words = _words(event)
        status = runner.status()
        entries.append(TimelineEntry(
            clock.now, words, status.phase, status.step,
            None if refusal is None else refusal.code,
            refusal.detail if refusal is not None else detail, status,
        ))
    return Timeline(tuple(entries), entries[-1].status or start, journal.records)


def _apply(event: object, runner: PlanRunner, checks: HealthChecks,
           clock: ManualClock) -> tuple[str, str]:
    words = _words(event)
    if isinstance(event, Wait):
        clock.advance(event.seconds)
        return "", words
    if isinstance(event, SetHealth):
        checks.set(event.name, event.healthy)
        return "", words
    if isinstance(event, Approve):
        approval = runner.approve(event.actor)
        return f"approved {approval.trigger}", words
    if isinstance(event, Advance):
        record = runner.advance(event.actor)
        return f"{record.source} -> {record.dest}", words
    if isinstance(event, Abort):
        halted = runner.abort(event.actor, event.reason)
        return "" if halted is None else f"{halted.source} -> {halted.dest}", words
    if isinstance(event, Fire):
        record = runner.controller.fire(event.trigger, actor=event.actor, reason=event.reason,
                                        scope=runner.status().scope)
        return f"{record.source} -> {record.dest}", words
    msg = f"unknown simulation event {event!r}"
    raise ConfigurationError(msg)


def _words(event: object) -> str:
    if isinstance(event, Wait):
        return f"wait {event.seconds / 60:g} min"
    if isinstance(event, SetHealth):
        return f"{event.name} -> {'healthy' if event.healthy else 'UNHEALTHY'}"
    if isinstance(event, Approve):
        return f"approve by {_who(event.actor)}"
    if isinstance(event, Advance):
        return f"advance by {_who(event.actor)}"
    if isinstance(event, Abort):
        return f"abort by {_who(event.actor)}: {event.reason}"
    if isinstance(event, Fire):
        return f"{event.trigger} by {_who(event.actor)}: {event.reason}"
    return repr(event)
