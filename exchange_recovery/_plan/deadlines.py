"""Deadlines and maintenance schedules as journaled data, fired on the controller's clock.

Two kinds of scheduled change, both kept in the controller's journal as notes (so that
`recover()` gives them back after a crash and they fire at their original time):

- **a maximum stay** (`PhaseSpec.max_stay`): a scope that has been in the phase for
  `MaxStay.seconds` is alerted on (ALERT), halted (HALT) or moved on by `MaxStay.trigger` when its
  guards pass (ADVANCE; retried at every poll while they do not). The deadline is measured from
  the moment the scope entered the phase; it is journaled (topic ``deadline``) when `Deadlines`
  first sees the visit, and a recovered controller's `Deadlines` reads it back instead of
  counting again from the restart. It fires once per visit.
- **a maintenance window** (`MaintenanceWindow`, as OKX announces them: begin, pre-open begin,
  end): at `begin` the scope is halted; at `pre_open_begin` the policy's planned step out of the
  fail-safe phase is fired (``pre_open``); at `end` the next planned step. A relaxing step is
  only ever fired through the controller, which checks its guards: a refused one is reported,
  never forced. All windows of a scope live in one note (topic ``schedule``), since `recover()`
  keeps the latest note per (topic, scope).

`Deadlines.poll()` does what is due at the clock's now: call it at least once a second (a
venue's timer, `simulate()`), and every change fires within a second of its time.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable, Mapping
from typing import Any, Final

import attrs

from .._control.audit import audit_logger
from .._control.controller import Controller
from .._control.listeners import PhaseChange
from .._core.errors import ConfigurationError, TransitionRefused
from .._core.model import VENUE, Actor
from .._core.policy import Policy
from .._core.reopen import MaxStay, StayAction
from .._core.specs import seconds_problem
from .._core.text import shown
from .._decide.decide import LIMITS
from .._decide.records import JournalNote, TransitionRecord

MAX_WINDOWS: Final = 8
"""The most windows a scope keeps (in memory and in its journal note); finished ones make room."""
MAX_ID: Final = 64
"""The longest window id (characters)."""
MAX_REASON: Final = 200
"""The longest window reason (characters)."""

DEADLINE_TOPIC: Final = "deadline"
SCHEDULE_TOPIC: Final = "schedule"


class WindowState(enum.Enum):
    """Where a maintenance window stands; each value is OKX's maintenance ``state``.

    Example:
        >>> WindowState("pre_open").name
        'PRE_OPEN'
    """

    SCHEDULED = "scheduled"
    """Announced; `begin` is still ahead."""
    ONGOING = "ongoing"
    """Between `begin` and `pre_open_begin` (or `end`): the scope is halted."""
    PRE_OPEN = "pre_open"
    """Between `pre_open_begin` and `end`: the scope is in its pre-open phase."""
    COMPLETED = "completed"
    """`end` has passed."""
    CANCELED = "canceled"
    """Canceled before it completed: nothing more is fired for it."""


class FiringOutcome(enum.Enum):
    """What a scheduled change did when it came due.

    Example:
        >>> FiringOutcome.REFUSED.value
        'REFUSED'
    """

    FIRED = "FIRED"
    """The transition happened (`Firing.version` is its record's)."""
    ALERTED = "ALERTED"
    """A critical audit event, no transition (`StayAction.ALERT`)."""
    REFUSED = "REFUSED"
    """The controller refused the transition (`Firing.detail` holds the refusal code)."""
    SKIPPED = "SKIPPED"
    """Nothing to do: the scope was already there, or somewhere the step does not start from."""
    MISSED = "MISSED"
    """The window had ended before it was first polled: nothing was fired for it."""


@attrs.frozen
class Firing:
    """One scheduled change that came due: what (`kind`), where, when it was due and when it
    fired (clock seconds), the trigger, and the outcome.

    `kind` is ``max_stay`` or a window's step: ``begin``, ``pre_open``, ``end``.

    Example:
        >>> f = Firing("max_stay", "venue", due=100.0, at=100.4, trigger="halt",
        ...            outcome=FiringOutcome.FIRED, version=3)
        >>> round(f.at - f.due, 1), f.outcome.value
        (0.4, 'FIRED')
    """

    kind: str
    scope: str
    due: float
    at: float
    trigger: str | None
    outcome: FiringOutcome
    version: int | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        """This firing as JSON values (as journaled)."""
        return {"kind": self.kind, "scope": self.scope, "due": self.due, "at": self.at,
                "trigger": self.trigger, "outcome": self.outcome.value,
                "version": self.version, "detail": self.detail}


def _firing(data: Mapping[str, Any]) -> Firing:
    """A firing from `Firing.to_json`'s values (from a journal note this module wrote)."""
    return Firing(str(data["kind"]), str(data["scope"]), float(data["due"]), float(data["at"]),
                  None if data["trigger"] is None else str(data["trigger"]),
                  FiringOutcome(data["outcome"]),
                  None if data["version"] is None else int(data["version"]), str(data["detail"]))


def _time(field: str, value: object) -> float:
    problem = seconds_problem(value)
    if problem is not None:
        msg = f"{field}: {problem}, got {shown(value)}"
        raise ConfigurationError(msg)
    return float(value)  # type: ignore[arg-type]  # checked above


def _name(field: str, value: object, limit: int) -> str:
    if not (type(value) is str and value and len(value) <= limit and value.isprintable()
            and value == value.strip()):
        msg = (f"{field} must be a non-empty printable str of at most {limit} characters, no "
               f"outer spaces, got {shown(value)}")
        raise ConfigurationError(msg)
    return value


@attrs.frozen
class MaintenanceWindow:
    """A maintenance window announced in advance (OKX: ``begin``, ``preOpenBegin``, ``end``).

    At `begin` the scope is halted; at `pre_open_begin` (optional) it goes to its pre-open
    phase; at `end` it takes the next planned step (when the guards pass). Times are clock
    seconds (the controller's clock).

    Raises:
        ConfigurationError: naming the field and the value: an id or scope that is no
            printable name, a time that is no finite number of seconds >= 0, times out of
            order (begin < pre_open_begin < end), a reason that is no str of at most
            `MAX_REASON` characters.

    Example:
        >>> w = MaintenanceWindow("upgrade-42", begin=1000, end=4600, pre_open_begin=4000,
        ...                       reason="matching engine upgrade")
        >>> [w.state(t).value for t in (999.0, 1000.0, 4000.0, 4600.0)]
        ['scheduled', 'ongoing', 'pre_open', 'completed']
        >>> MaintenanceWindow("w", begin=10, end=5)
        Traceback (most recent call last):
        ...
        exchange_recovery.ConfigurationError: end must be after begin (10.0), got 5
    """

    id: str
    begin: float
    end: float
    pre_open_begin: float | None = None
    scope: str = VENUE
    reason: str = ""

    def __attrs_post_init__(self) -> None:
        _name("id", self.id, MAX_ID)
        begin, end = _time("begin", self.begin), _time("end", self.end)
        if not end > begin:
            msg = f"end must be after begin ({begin!r}), got {shown(self.end)}"
            raise ConfigurationError(msg)
        pre = self.pre_open_begin
        if pre is not None:
            pre = _time("pre_open_begin", pre)
            if not begin < pre < end:
                msg = (f"pre_open_begin must be after begin ({begin!r}) and before end "
                       f"({end!r}), got {shown(self.pre_open_begin)}")
                raise ConfigurationError(msg)
        _name("scope", self.scope, LIMITS["scope"])
        if type(self.reason) is not str or len(self.reason) > MAX_REASON:
            msg = f"reason must be a str of at most {MAX_REASON} characters, got {shown(self.reason)}"
            raise ConfigurationError(msg)
        object.__setattr__(self, "begin", begin)  # ints as floats: what the journal gives back
        object.__setattr__(self, "end", end)
        object.__setattr__(self, "pre_open_begin", pre)

    def steps(self) -> tuple[tuple[str, float], ...]:
        """The window's steps in order, each with its time: begin, pre_open (if any), end."""
        pre = () if self.pre_open_begin is None else (("pre_open", self.pre_open_begin),)
        return (("begin", self.begin), *pre, ("end", self.end))

    def state(self, now: float, *, canceled: bool = False) -> WindowState:
        """The window's state at clock time `now` (CANCELED if `canceled`).

        Raises:
            ConfigurationError: `now` is no finite number of seconds, `canceled` no bool.
        """
        if type(canceled) is not bool:
            msg = f"canceled must be a bool, got {shown(canceled)}"
            raise ConfigurationError(msg)
        now = _time("now", now)
        if canceled:
            return WindowState.CANCELED
        if now < self.begin:
            return WindowState.SCHEDULED
        if now >= self.end:
            return WindowState.COMPLETED
        if self.pre_open_begin is not None and now >= self.pre_open_begin:
            return WindowState.PRE_OPEN
        return WindowState.ONGOING

    def to_json(self) -> dict[str, Any]:
        """The window as JSON values (as journaled)."""
        return {"id": self.id, "scope": self.scope, "begin": self.begin, "end": self.end,
                "pre_open_begin": self.pre_open_begin, "reason": self.reason}


@attrs.frozen
class WindowStatus:
    """A maintenance window at one moment: its `state` and the steps that came due so far.

    Example:
        >>> w = MaintenanceWindow("w1", begin=10, end=20)
        >>> WindowStatus(w, WindowState.SCHEDULED, ()).to_dict()["state"]
        'scheduled'
    """

    window: MaintenanceWindow
    state: WindowState
    fired: tuple[Firing, ...]

    def to_dict(self) -> dict[str, Any]:
        """As plain JSON values: the window's fields, its state and its firings."""
        return {**self.window.to_json(), "state": self.state.value,
                "fired": [f.to_json() for f in self.fired]}


@attrs.frozen
class DeadlineStatus:
    """A scope's maximum-stay deadline in its current visit of a phase.

    `due` is when it comes due (clock seconds), `then` what happens; `overdue` means it is due
    and not done (an ADVANCE whose guards keep refusing); `fired` is what it did (None: not yet).

    Example:
        >>> from exchange_recovery import StayAction
        >>> d = DeadlineStatus("venue", "PRE_OPEN", 4, 1800.0, StayAction.HALT, "halt", False, None)
        >>> d.due, d.then.value
        (1800.0, 'HALT')
    """

    scope: str
    phase: str
    visit: int
    due: float
    then: StayAction
    trigger: str | None
    overdue: bool
    fired: Firing | None


@attrs.frozen
class ScheduleStatus:
    """Every deadline and window that `Deadlines` tracks, at clock time `at`.

    Example:
        >>> ScheduleStatus(0.0, (), ()).windows_of("venue")
        ()
    """

    at: float
    deadlines: tuple[DeadlineStatus, ...]
    windows: tuple[WindowStatus, ...]

    def windows_of(self, scope: str) -> tuple[WindowStatus, ...]:
        """The windows of `scope`, earliest begin first.

        Raises:
            ConfigurationError: `scope` is no scope name.
        """
        scope = _name("scope", scope, LIMITS["scope"])
        return tuple(w for w in self.windows if w.window.scope == scope)


@attrs.define
class _Stay:
    scope: str
    phase: str
    visit: int
    due: float
    spec: MaxStay
    journaled: bool
    fired: Firing | None = None
    last: Firing | None = None
    alerted: bool = False

    @property
    def trigger(self) -> str | None:
        return self.spec.trigger if self.spec.then is StayAction.ADVANCE else None

    def to_json(self) -> dict[str, Any]:
        return {"phase": self.phase, "visit": self.visit, "due": self.due,
                "then": self.spec.then.value, "seconds": self.spec.seconds,
                "fired": None if self.fired is None else self.fired.to_json()}


@attrs.define
class _Window:
    window: MaintenanceWindow
    canceled: bool = False
    done: dict[str, Firing] = attrs.Factory(dict)

    def finished(self) -> bool:
        return self.canceled or len(self.done) == len(self.window.steps())

    def to_json(self) -> dict[str, Any]:
        return {**self.window.to_json(), "canceled": self.canceled,
                "done": [f.to_json() for f in self.done.values()]}


def _actor(value: object, field: str = "actor") -> Actor | str:
    if isinstance(value, Actor):
        _name(f"{field}.name", value.name, LIMITS["actor"])
        return value
    return _name(field, value, LIMITS["actor"])


class Deadlines:
    """Fires a controller's maximum stays and maintenance windows on its clock, from its journal.

    Build it over a `Controller` (its clock, guards and journal are used; a controller built by
    `recover()` gives back the deadlines and windows journaled before a crash). `actor` fires the
    transitions; `logger` (default: audit events go where the controller's do) gets
    ``max_stay_exceeded`` (critical) and the schedule's events. Without a journal that stores
    notes, everything works in memory only and does not survive a restart.

    Example:
        >>> from exchange_recovery import MemoryJournal, Controller, StayAction, MaxStay
        >>> from exchange_recovery import default_policy
        >>> from exchange_recovery.testing import ManualClock
        >>> import attrs
        >>> base = default_policy()
        >>> policy = base.with_changes(phases=tuple(
        ...     attrs.evolve(p, max_stay=MaxStay(60, StayAction.HALT)) if p.name == "DEGRADED"
        ...     else p for p in base.phases))
        >>> clock = ManualClock(1000.0)
        >>> c = Controller(policy, clock=clock, journal=MemoryJournal())
        >>> deadlines = Deadlines(c, actor="auto:deadlines")
        >>> _ = c.degrade(actor="ops:alice", reason="feed lag")
        >>> deadlines.poll()
        ()
        >>> clock.advance(60)
        >>> [(f.kind, f.outcome.value, c.phase()) for f in deadlines.poll()]
        [('max_stay', 'FIRED', 'HALTED')]
        >>> w = deadlines.announce(MaintenanceWindow("w1", begin=2000, end=3000), actor="ops:alice")
        >>> deadlines.status().windows[0].state.value
        'scheduled'

    Raises:
        ConfigurationError: `controller` is no `Controller`, `actor` no actor, `logger` no
            logger.
    """

    def __init__(self, controller: Controller, *, actor: Actor | str, logger: Any = None) -> None:
        if not isinstance(controller, Controller):
            msg = f"Deadlines needs a Controller, got {shown(controller)}"
            raise ConfigurationError(msg)
        self._actor = _actor(actor)
        # Audit events go where the controller's go unless told otherwise.
        self._log = audit_logger(logger) if logger is not None else controller._log
        self._controller = controller
        self._policy: Policy = controller.policy
        self._durable = callable(getattr(controller.journal, "note", None))
        self._stay_phases = {p.name: p.max_stay for p in self._policy.phases
                             if p.max_stay is not None}
        self._lock = threading.RLock()  # the state; never held while the controller fires
        self._polling = threading.Lock()  # one poll at a time
        self._stays: dict[str, _Stay] = {}
        self._windows: dict[str, _Window] = {}
        for scope, note in sorted(controller.notes(SCHEDULE_TOPIC).items()):
            self._restore_windows(scope, note)
        # The scopes in a phase with a maximum stay: kept by a listener, so that a poll costs
        # what those scopes cost, not what every instrument with a phase of its own does.
        self._staying: set[str] = set()
        if self._stay_phases:
            controller.add_listener(self._moved)
            self._staying.update(scope for scope, phase in controller.gate.phases.items()
                                 if phase in self._stay_phases)

    @property
    def controller(self) -> Controller:
        """The controller whose scopes this schedules."""
        return self._controller

    # -- maintenance windows ---------------------------------------------------------------------

    def announce(self, window: MaintenanceWindow, *, actor: Actor | str) -> WindowStatus:
        """Announce `window`: journal it (with its scope's other windows), then keep it.

        Raises:
            ConfigurationError: `window` is no `MaintenanceWindow`, `actor` no actor, the id is
                taken, the window has already ended, it overlaps another live window of its
                scope, or the scope has `MAX_WINDOWS` windows still to run.
            JournalError, OSError: the note could not be written (nothing announced).
        """
        if not isinstance(window, MaintenanceWindow):
            msg = f"window must be a MaintenanceWindow, got {shown(window)}"
            raise ConfigurationError(msg)
        who = _actor(actor)
        with self._lock:
            now = self._now()
            if window.id in self._windows:
                msg = f"window id {shown(window.id)} is taken; announce it under another id"
                raise ConfigurationError(msg)
            if window.end <= now:
                msg = f"window {shown(window.id)} ended at {window.end!r}, before now ({now!r})"
                raise ConfigurationError(msg)
            mine = [w for w in self._windows.values() if w.window.scope == window.scope]
            for other in mine:
                if not other.finished() and (other.window.begin < window.end
                                             and window.begin < other.window.end):
                    msg = (f"window {shown(window.id)} overlaps window {shown(other.window.id)} "
                           f"of {shown(window.scope)}; cancel that one first")
                    raise ConfigurationError(msg)
            keep = _pruned([*mine, _Window(window)])
            if keep is None:
                msg = (f"scope {shown(window.scope)} has {MAX_WINDOWS} windows still to run; "
                       f"cancel one first")
                raise ConfigurationError(msg)
            self._write_windows(window.scope, keep, who)  # durable first: else nothing changes
            self._set_windows(window.scope, keep)
            self._log.info("maintenance_announced", window=window.id, scope=window.scope,
                           begin=window.begin, end=window.end,
                           pre_open_begin=window.pre_open_begin, actor=_actor_name(who))
            return self._window_status(self._windows[window.id], now)

    def cancel(self, window_id: str, *, actor: Actor | str) -> WindowStatus:
        """Cancel the window `window_id`: nothing more is fired for it (a scope it already
        halted stays where it is). Canceling a canceled window changes nothing.

        Raises:
            ConfigurationError: no window has that id, it has completed, or `actor` is no actor.
            JournalError, OSError: the note could not be written (nothing canceled).
        """
        _name("window_id", window_id, MAX_ID)
        who = _actor(actor)
        with self._lock:
            now = self._now()
            win = self._windows.get(window_id)
            if win is None:
                msg = f"no window {shown(window_id)}; known: {sorted(self._windows)[:20]}"
                raise ConfigurationError(msg)
            if not win.canceled:
                if win.finished():
                    msg = f"window {shown(window_id)} has completed; it cannot be canceled"
                    raise ConfigurationError(msg)
                scope = win.window.scope
                mine = [w if w is not win else attrs.evolve(w, canceled=True)
                        for w in self._windows.values() if w.window.scope == scope]
                self._write_windows(scope, mine, who)
                win.canceled = True
                self._log.info("maintenance_canceled", window=window_id, scope=scope,
                               actor=_actor_name(who))
            return self._window_status(win, now)

    # -- polling ---------------------------------------------------------------------------------

    def poll(self) -> tuple[Firing, ...]:
        """Do what is due at the clock's now; return what came due in this call.

        Never raises for a refused or failed transition: it is in the returned firing (and the
        controller's audit events); a maximum stay that ADVANCEs is retried at the next poll.
        One poll runs at a time (a concurrent call returns at once, with nothing), and no lock
        of this object is held while the controller fires: a listener may read `status()`.
        Each poll also gives the gate the venue's `retry_after` (`Controller.hint_retry`):
        the venue's refusals carry it.
        """
        if not self._polling.acquire(blocking=False):
            return ()  # another thread is polling: it does what is due
        try:
            now = self._now()
            out: list[Firing] = []
            self._poll_windows(now, out)
            self._poll_stays(now, out)
            # Refused requests say when to come back: the venue's next relaxing change.
            self._controller.hint_retry(self.retry_after(VENUE))
            return tuple(out)
        finally:
            self._polling.release()

    def next_due(self, scope: str = VENUE) -> float | None:
        """The clock time of `scope`'s next scheduled change of any kind (None: none), as of
        the last poll: a window's begin, pre-open begin or end, a maximum stay's deadline.

        Raises:
            ConfigurationError: `scope` is no scope name.
        """
        return self._earliest(scope, relaxing=False, also_venue=False)

    def retry_after(self, scope: str = VENUE) -> float | None:
        """The clock time of the next scheduled change that would relax `scope` (None: none):
        a window's pre-open begin or end, a maximum stay that ADVANCEs (now, while overdue). For
        an instrument, the venue's count too (it follows the venue). Clock time, like
        `Decision.retry_after`.

        Raises:
            ConfigurationError: `scope` is no scope name.
        """
        return self._earliest(scope, relaxing=True, also_venue=True)

    def status(self) -> ScheduleStatus:
        """Every tracked deadline and window now (windows by begin, deadlines by scope)."""
        with self._lock:
            now = self._now()
            stays = tuple(DeadlineStatus(
                s.scope, s.phase, s.visit, s.due, s.spec.then, s.trigger,
                s.fired is None and now >= s.due, s.fired or s.last)
                for _, s in sorted(self._stays.items()))
            windows = tuple(self._window_status(w, now) for w in sorted(
                self._windows.values(), key=lambda w: (w.window.begin, w.window.id)))
            return ScheduleStatus(now, stays, windows)

    # -- internals -------------------------------------------------------------------------------

    def _now(self) -> float:
        return float(self._controller.clock())

    def _window_status(self, win: _Window, now: float) -> WindowStatus:
        return WindowStatus(win.window, win.window.state(now, canceled=win.canceled),
                            tuple(win.done.values()))

    def _earliest(self, scope: object, *, relaxing: bool, also_venue: bool) -> float | None:
        scope = _name("scope", scope, LIMITS["scope"])
        scopes = {scope, VENUE} if also_venue else {scope}
        times: list[float] = []
        with self._lock:
            now = self._now()
            for win in self._windows.values():
                if win.window.scope in scopes and not win.finished():
                    times += [at for step, at in win.window.steps() if step not in win.done
                              and (step != "begin" or not relaxing)]
            for name in scopes:
                stay = self._stays.get(name)
                if stay is not None and stay.fired is None and (
                        not relaxing or stay.spec.then is StayAction.ADVANCE):
                    times.append(max(stay.due, now))
        return min(times) if times else None

    def _fire(self, trigger: str | None, scope: str, reason: str) -> tuple[FiringOutcome, int | None, str]:
        """Fire `trigger` (None: the halt) on `scope`; never raises."""
        try:
            record: TransitionRecord | None
            if trigger is None:
                record = self._controller.halt(actor=self._actor, reason=reason, scope=scope)
            else:
                record = self._controller.fire(trigger, actor=self._actor, reason=reason,
                                               scope=scope)
        except TransitionRefused as refusal:
            return FiringOutcome.REFUSED, None, refusal.code.value
        except Exception as exc:  # a broken guard or journal: reported, never raised to a timer
            self._log.critical("schedule_fire_failed", scope=scope, trigger=trigger,
                               error=shown(exc, 200))
            return FiringOutcome.REFUSED, None, shown(exc, 200)
        if record is None:
            return FiringOutcome.SKIPPED, None, "already in the fail-safe phase"
        return FiringOutcome.FIRED, record.version, ""

    def _own_phase(self, scope: str) -> str:
        """`scope`'s own phase (the normal one for an instrument that follows the venue)."""
        own = self._controller.gate._own_phase(scope)
        return self._policy.normal if own is None else own

    # maximum stays

    def _moved(self, change: PhaseChange) -> None:
        """The listener: a scope entered a phase with a maximum stay, or left one."""
        with self._lock:
            if change.dest in self._stay_phases:
                self._staying.add(change.scope)
            else:
                self._staying.discard(change.scope)

    def _poll_stays(self, now: float, out: list[Firing]) -> None:
        if not self._stay_phases:
            return
        due: list[_Stay] = []
        with self._lock:
            phases = {scope: self._own_phase(scope) for scope in self._staying}
            for gone in [s for s in self._stays if s not in phases]:
                del self._stays[gone]
            for scope, phase in phases.items():
                spec = self._stay_phases.get(phase)
                if spec is None:  # left it; the listener is about to say so
                    self._stays.pop(scope, None)
                    continue
                stay = self._stays.get(scope)
                visit = self._controller.visit(scope)
                if stay is None or stay.visit != visit or stay.phase != phase:
                    entered = self._controller.entered_at(scope)
                    if (self._controller.visit(scope) != visit
                            or self._controller.phase(scope) != phase):
                        continue  # moved while we looked: the next poll sees where it went
                    stay = self._stays[scope] = self._adopt(scope, phase, visit, entered, spec)
                if not stay.journaled:
                    stay.journaled = self._note_stay(stay)
                if stay.fired is None and now >= stay.due:
                    due.append(stay)
        for stay in due:
            self._fire_stay(stay, now, out)

    def _adopt(self, scope: str, phase: str, visit: int, entered: float, spec: MaxStay) -> _Stay:
        """The deadline of this visit: journaled before (a recovered controller), or new."""
        note = self._controller.last_note(DEADLINE_TOPIC, scope)
        if note is not None:
            try:
                data = note.data
                if data["phase"] == phase and int(data["visit"]) == visit:
                    fired = data.get("fired")
                    return _Stay(scope, phase, visit, float(data["due"]), spec, journaled=True,
                                 fired=None if fired is None else _firing(fired))
            except Exception as exc:  # a note this module did not write: counted afresh
                self._log.critical("deadline_note_unreadable", scope=scope,
                                   error=shown(exc, 200))
        return _Stay(scope, phase, visit, entered + spec.seconds, spec, journaled=False)

    def _note_stay(self, stay: _Stay) -> bool:
        if not self._durable:
            return True
        try:
            self._controller.note(DEADLINE_TOPIC, stay.scope, stay.to_json(), actor=self._actor)
        except Exception as exc:  # retried at the next poll; the deadline still fires here
            self._log.critical("deadline_not_journaled", scope=stay.scope, phase=stay.phase,
                               error=shown(exc, 200))
            return False
        return True

    def _fire_stay(self, stay: _Stay, now: float, out: list[Firing]) -> None:
        then = stay.spec.then
        if not stay.alerted:
            stay.alerted = True
            self._log.critical("max_stay_exceeded", scope=stay.scope, phase=stay.phase,
                               seconds=stay.spec.seconds, due=stay.due, then=then.value,
                               visit=stay.visit)
        reason = f"max stay of {stay.spec.seconds:g} s in {stay.phase} reached"
        if then is StayAction.ALERT:
            outcome, version, detail = FiringOutcome.ALERTED, None, ""
        else:  # outside the lock: the controller's listeners may read our status
            outcome, version, detail = self._fire(stay.trigger, stay.scope, reason)
        firing = Firing("max_stay", stay.scope, stay.due, now,
                        stay.trigger or self._policy.halt_trigger if then is not StayAction.ALERT
                        else None, outcome, version, detail)
        out.append(firing)
        with self._lock:
            stay.last = firing
            if outcome is FiringOutcome.REFUSED:
                return  # retried at the next poll; reported overdue meanwhile
            stay.fired = firing
            stay.journaled = self._note_stay(stay)

    # maintenance windows

    def _poll_windows(self, now: float, out: list[Firing]) -> None:
        changed: set[str] = set()
        due: list[tuple[_Window, str, float]] = []
        with self._lock:
            for win in sorted(self._windows.values(),
                              key=lambda w: (w.window.begin, w.window.id)):
                if win.finished():
                    continue
                w = win.window
                if "begin" not in win.done and now >= w.end:
                    for step, at in w.steps():  # over before it began here: nothing to do now
                        win.done[step] = Firing(step, w.scope, at, now, None, FiringOutcome.MISSED)
                    out.extend(win.done.values())
                    changed.add(w.scope)
                    continue
                due += [(win, step, at) for step, at in w.steps()
                        if step not in win.done and at <= now]
        for win, step, at in due:  # in order of time; outside the lock, as the controller fires
            with self._lock:
                if win.canceled:
                    continue
            firing = self._fire_step(win.window, step, at, now)
            with self._lock:
                win.done[step] = firing
            out.append(firing)
            changed.add(win.window.scope)
        with self._lock:
            for scope in sorted(changed):
                mine = [w for w in self._windows.values() if w.window.scope == scope]
                try:
                    self._write_windows(scope, mine, self._actor)
                except Exception as exc:  # the steps happened; after a crash, they would again
                    self._log.critical("schedule_not_journaled", scope=scope,
                                       error=shown(exc, 200))

    def _fire_step(self, w: MaintenanceWindow, step: str, due: float, now: float) -> Firing:
        reason = f"maintenance {w.id}: {step}" + (f" ({w.reason})" if w.reason else "")
        fail_safe = self._policy.fail_safe
        if step == "begin":
            trigger = None
        else:
            phase = self._own_phase(w.scope)
            first = self._policy.planned_step(fail_safe)
            starts = {fail_safe} if step == "pre_open" else {
                fail_safe, *(() if first is None else (first.dest,))}
            spec = self._policy.planned_step(phase) if phase in starts else None
            if spec is None:
                return Firing(step, w.scope, due, now, None, FiringOutcome.SKIPPED,
                              detail=f"in {phase}, not {' or '.join(sorted(starts))}")
            trigger = spec.trigger
        outcome, version, detail = self._fire(trigger, w.scope, reason)
        self._log.info("maintenance_step", window=w.id, scope=w.scope, step=step, due=due,
                       outcome=outcome.value, detail=detail)
        return Firing(step, w.scope, due, now, trigger or self._policy.halt_trigger, outcome,
                      version, detail)

    def _write_windows(self, scope: str, windows: Iterable[_Window], actor: Actor | str) -> None:
        if self._durable:
            self._controller.note(SCHEDULE_TOPIC, scope,
                                  {"windows": [w.to_json() for w in windows]}, actor=actor)

    def _set_windows(self, scope: str, windows: list[_Window]) -> None:
        for gone in [i for i, w in self._windows.items() if w.window.scope == scope]:
            del self._windows[gone]
        self._windows.update((w.window.id, w) for w in windows)

    def _restore_windows(self, scope: str, note: JournalNote) -> None:
        try:
            restored = []
            for item in note.data["windows"]:
                window = MaintenanceWindow(item["id"], item["begin"], item["end"],
                                           item["pre_open_begin"], item["scope"], item["reason"])
                done = {f.kind: f for f in map(_firing, item["done"])}
                restored.append(_Window(window, bool(item["canceled"]), done))
        except Exception as exc:  # a note this module did not write: reported, not guessed at
            self._log.critical("schedule_note_unreadable", scope=scope, error=shown(exc, 200))
            return
        self._windows.update((w.window.id, w) for w in restored if w.window.id not in self._windows)


def _pruned(windows: list[_Window]) -> list[_Window] | None:
    """`windows` cut to `MAX_WINDOWS`, dropping the earliest finished ones; None if the
    unfinished ones alone are too many."""
    live = [w for w in windows if not w.finished()]
    if len(live) > MAX_WINDOWS:
        return None
    finished = sorted((w for w in windows if w.finished()), key=lambda w: w.window.begin)
    room = MAX_WINDOWS - len(live)
    kept = finished[len(finished) - room:] if room else []
    return [w for w in windows if w in live or w in kept]


def _actor_name(actor: Actor | str) -> str:
    return actor.name if isinstance(actor, Actor) else actor
