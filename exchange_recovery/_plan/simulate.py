"""Run a restart plan against a scripted timeline, instantly and deterministically.

The script is a sequence of events: `Wait` moves the simulated clock, `SetHealth` flips a health
check, `Approve` records an approval, `Advance` tries the next step, `Abort` halts through the
plan, `Fire` pulls a trigger directly on the controller (a circuit breaker's halt, say),
`SetIndicative` moves the engine's indicative auction price, `Liquidate` asks the liquidation
clock, `Announce` announces a maintenance window. The result is the timeline: after every
event, the time, the phase, and the refusal if there was one.

While the clock moves (`Wait`, in steps of at most one second), the plan's auctions, maximum
stays, maintenance windows and liquidation release run by themselves, as the venue's timers
would run them: an `AuctionRunner` (seeded with `seed`), `Deadlines` and a
`LiquidationClock` on the same controller. What they do is in the timeline too, at the second
it happened. Everything is a function of the script and the seed: the same arguments give the
same timeline, auction end, extensions and liquidation schedule on every run.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from .._control.guards import HealthChecks
from .._core.clock import ManualClock
from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, TransitionRefused
from .._core.model import VENUE, Actor
from .._core.specs import seconds, usable_name
from .._core.text import shown
from .._decide.records import JournalNote, TransitionRecord
from .._journal.protocol import MemoryJournal
from .auction import AuctionRunner, AuctionState, AuctionStatus, Indicative, Price
from .deadlines import Deadlines, MaintenanceWindow
from .liquidation import LiquidationClock, ReleaseSchedule
from .plan import AUTOMATION, RestartPlan
from .runner import PlanRunner, PlanStatus

_AUCTION: Final = Actor("auto:auction", {AUTOMATION})
_DEADLINES: Final = Actor("auto:deadlines", {AUTOMATION})


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


def _indicative_price(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not (
            0 < value <= 1e15):
        msg = (f"SetIndicative.{attribute.name} must be None or a positive finite number, got "
               f"{shown(value)}")
        raise ConfigurationError(msg)


def _volume(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1e15:
        msg = f"SetIndicative.{attribute.name} must be a positive finite number, got {shown(value)}"
        raise ConfigurationError(msg)


def _instrument(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not (usable_name(value) and 0 < len(value) <= 64  # type: ignore[arg-type]
            and value.isprintable()):  # type: ignore[attr-defined]
        msg = f"Liquidate.{attribute.name} must be an instrument name, got {shown(value)}"
        raise ConfigurationError(msg)


def _window(_instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    if not isinstance(value, MaintenanceWindow):
        msg = f"Announce.{attribute.name} must be a MaintenanceWindow, got {shown(value)}"
        raise ConfigurationError(msg)


@attrs.frozen
class SetIndicative:
    """The engine's indicative auction price moves to `price` (None: nothing would trade),
    with `volume` executable there."""

    price: float | None = attrs.field(validator=_indicative_price)
    volume: float = attrs.field(default=1.0, validator=_volume)


@attrs.frozen
class Liquidate:
    """The liquidation engine asks to liquidate one position on `instrument`."""

    instrument: str = attrs.field(validator=_instrument)


@attrs.frozen
class Announce:
    """`actor` announces a maintenance `window`."""

    window: MaintenanceWindow = attrs.field(validator=_window)
    actor: Actor | str = attrs.field(validator=_actor)


SimulationEvent = (Wait | SetHealth | Approve | Advance | Abort | Fire | SetIndicative | Liquidate
                   | Announce)
"""One event of a scripted timeline."""

_EVENTS = (Wait, SetHealth, Approve, Advance, Abort, Fire, SetIndicative, Liquidate, Announce)
_TICK: Final = 1.0
"""The longest step the simulated clock takes while waiting: timers run at least this often."""


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
    auction: AuctionStatus | None = attrs.field(default=None, eq=False)
    """The last auction call's status (None: the plan's policy has no auction phase)."""
    liquidations: ReleaseSchedule | None = attrs.field(default=None, eq=False)
    """The scope's liquidation release schedule at the end (None: no release phase)."""
    notes: tuple[JournalNote, ...] = attrs.field(default=(), eq=False)
    """Every note the simulated controller journaled (auction calls, deadlines, windows)."""

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
             logger: Any = None, seed: int = 0, reference: float = 100.0) -> Timeline:
    """Run `events` against a fresh controller starting `scope` in the plan's first step.

    Health checks start as given in `health` (unset ones are unhealthy); the clock starts at 0.
    When the plan's policy has an auction phase, its calls run with `seed` (their random ends)
    around the `reference` price, on an engine whose indicative price `SetIndicative` sets;
    maximum stays, maintenance windows and the liquidation release run on the same clock.

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
    if type(seed) is not int or not 0 <= seed < 2**63:
        msg = f"seed must be an int from 0 to 2**63 - 1, got {shown(seed)}"
        raise ConfigurationError(msg)
    if isinstance(reference, bool) or not isinstance(reference, int | float) or not (
            0 < reference <= 1e15):
        msg = f"reference must be a positive finite price, got {shown(reference)}"
        raise ConfigurationError(msg)
    clock = ManualClock()
    checks = HealthChecks(health or {})
    journal = MemoryJournal()
    runner = PlanRunner.create(plan, health=checks, clock=clock, journal=journal, logger=logger,
                               scope=scope)
    venue = _Timers(runner, scope, seed, reference, logger)
    start = runner.status()
    entries = [TimelineEntry(clock.now, "start", start.phase, start.step, status=start)]
    entries += venue.run(clock)
    for event in script:
        refusal: TransitionRefused | None = None
        detail = ""
        try:
            if isinstance(event, Wait):
                entries += venue.wait(clock, event.seconds)
                detail, words = "", _words(event)
            else:
                detail, words = _apply(event, runner, checks, venue)
        except TransitionRefused as exc:
            refusal = exc
            words = _words(event)
        status = runner.status()
        entries.append(TimelineEntry(
            clock.now, words, status.phase, status.step,
            None if refusal is None else refusal.code,
            refusal.detail if refusal is not None else detail, status,
        ))
        entries += venue.run(clock)
    return Timeline(tuple(entries), entries[-1].status or start, journal.records,
                    venue.auction_status(), venue.release(), journal.notes)


class _ScriptedEngine:
    """The simulated engine: its indicative price is what the script says; its uncross trades."""

    def __init__(self) -> None:
        self.quote: Indicative | None = None
        self.trades: list[tuple[Price, Price]] = []

    def indicative(self, scope: str) -> Indicative | None:  # noqa: ARG002 - one scope simulated
        return self.quote

    def uncross(self, scope: str, price: Price) -> None:  # noqa: ARG002 - one scope simulated
        self.trades.append((price, self.quote.volume if self.quote is not None else 0.0))


class _Timers:
    """The venue's timers in a simulation: the auction runner, deadlines, liquidation clock."""

    def __init__(self, runner: PlanRunner, scope: str, seed: int, reference: float,
                 logger: Any) -> None:
        controller = runner.controller
        phases = controller.policy.phases
        self.runner, self.scope = runner, scope
        self.engine = _ScriptedEngine()
        self.auction = (AuctionRunner(controller, self.engine, reference=reference, seed=seed,
                                      actor=_AUCTION, scope=scope, logger=logger)
                        if any(p.auction is not None for p in phases) else None)
        self.deadlines = Deadlines(controller, actor=_DEADLINES, logger=logger)
        self.liquidations = (LiquidationClock(controller)
                             if any(p.liquidation_release is not None for p in phases) else None)
        self.reported: dict[tuple[str, str, float], str] = {}

    def wait(self, clock: ManualClock, seconds: float) -> list[TimelineEntry]:
        """Move the clock by `seconds` in steps of at most `_TICK`, running the timers."""
        out: list[TimelineEntry] = []
        end = clock.now + seconds
        while clock.now < end:
            clock.now = min(end, clock.now + _TICK)
            out += self.run(clock)
        return out

    def run(self, clock: ManualClock) -> list[TimelineEntry]:
        """Poll every timer once; an entry for each thing they did."""
        out: list[TimelineEntry] = []
        for firing in self.deadlines.poll():
            words = f"{firing.kind.replace('_', ' ')} due at {firing.due / 60:g} min"
            detail = f"{firing.trigger or ''} {firing.outcome.value} {firing.detail}".strip()
            key = (firing.kind, firing.scope, firing.due)
            if self.reported.get(key) == detail:
                continue  # a refused step retried each second: said once, until it changes
            self.reported[key] = detail
            out.append(self._entry(clock, words, detail))
        if self.auction is not None:
            before = self.auction.status()
            after = self.auction.poll()
            changed = _auction_event(before, after)
            if changed:
                out.append(self._entry(clock, changed[0], changed[1]))
        return out

    def _entry(self, clock: ManualClock, words: str, detail: str) -> TimelineEntry:
        status = self.runner.status()
        return TimelineEntry(clock.now, words, status.phase, status.step, None, detail, status)

    def liquidate(self, instrument: str) -> str:
        if self.liquidations is None:
            msg = "Liquidate needs a policy with a liquidation release (PhaseSpec.liquidation_release)"
            raise ConfigurationError(msg)
        decision = self.liquidations.check(instrument)
        if decision.accepted:
            return "accepted"
        retry = "" if decision.retry_after is None else (
            f", retry at {decision.retry_after / 60:g} min")
        return f"not yet: {decision.reason.value}{retry}"

    def auction_status(self) -> AuctionStatus | None:
        return None if self.auction is None else self.auction.status()

    def release(self) -> ReleaseSchedule | None:
        return None if self.liquidations is None else self.liquidations.schedule()


def _auction_event(before: AuctionStatus, after: AuctionStatus) -> tuple[str, str] | None:
    """What the auction runner did between two statuses, in words (None: nothing)."""
    quote = after.indicative
    shown_quote = "none" if quote is None else f"{quote.price:g}"
    collar = f"collar {after.collar_low:g}-{after.collar_high:g}"
    if after.state is not before.state or after.visit != before.visit:
        if after.state is AuctionState.CALLING:
            return ("auction call starts", (f"ends at {_minutes(after.ends_at)} (seeded random "
                    f"end); {collar}"))
        if after.state is AuctionState.UNCROSSED:
            return ("auction uncross", (f"{after.open_size:g} at {after.open_price:g} "
                    f"(inside {collar})"))
        if after.state is AuctionState.AWAITING_DECISION:
            return ("auction extensions exhausted", (f"indicative {shown_quote} outside {collar}; "
                    "awaiting a two-person decision"))
        if after.state is AuctionState.OPENED_WITHOUT_CROSS:
            return "auction opened without a cross", f"indicative {shown_quote}"
        if after.state is AuctionState.INTERRUPTED:
            return "auction interrupted", "the scope left the call"
        return None
    if after.extensions != before.extensions:
        return ("auction extended", (f"indicative {shown_quote} outside {collar}; extension "
                f"{after.extensions} of {after.max_extensions}, ends at "
                f"{_minutes(after.ends_at)}"))
    return None


def _minutes(at: float | None) -> str:
    return "?" if at is None else f"{at / 60:.2f} min"


def _apply(event: object, runner: PlanRunner, checks: HealthChecks,
           venue: _Timers) -> tuple[str, str]:
    words = _words(event)
    if isinstance(event, SetIndicative):
        venue.engine.quote = (None if event.price is None
                              else Indicative(event.price, event.volume))
        return "", words
    if isinstance(event, Liquidate):
        return venue.liquidate(event.instrument), words
    if isinstance(event, Announce):
        status = venue.deadlines.announce(event.window, actor=event.actor)
        return f"{status.window.id}: {status.state.value}", words
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
    if isinstance(event, SetIndicative):
        return ("indicative price -> none" if event.price is None
                else f"indicative price -> {event.price:g} ({event.volume:g})")
    if isinstance(event, Liquidate):
        return f"liquidate on {event.instrument}"
    if isinstance(event, Announce):
        w = event.window
        return (f"maintenance {w.id} announced by {_who(event.actor)}: {w.begin / 60:g}-"
                f"{w.end / 60:g} min")
    return repr(event)
