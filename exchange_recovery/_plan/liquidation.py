"""Liquidations on their own clock after a restart; mark prices at the halt; frozen funding.

Users' most documented complaint about restarts: liquidated the moment the venue resumed,
because they could not add margin while it was down, and funding kept accruing meanwhile.

- `LiquidationClock`: in a phase with a `LiquidationRelease` (the reopening policy's
  ``FULL_OPEN``) liquidations resume `delay` seconds after the phase was entered (None: after
  as long as the pause, from the scope's last halt to the reopen, lasted), then at most
  `per_minute` per instrument per rolling 60 s. The liquidation engine asks `check` before
  each liquidation. The release time is journaled as a note (topic ``liquidations``) and read
  back after ``recover()``.
- `record_marks` / `halt_marks`: the reference (mark) prices at a halt, journaled as a note
  (topic ``marks``).
- `frozen_intervals`: from the journal's transition records alone, when funding was frozen
  (`PhaseSpec.funding` False in the venue's or the instrument's phase). `Gate.funding` says it
  for now.

Compensation from the journal alone: the marks note gives each position's reference price at
the halt; `frozen_intervals` over the records gives the seconds during which funding must not
have accrued; a user charged funding over that interval, or liquidated below the mark before
the release time in the ``liquidations`` note, is owed the difference.
"""

from __future__ import annotations

import collections
import enum
import math
import threading
import types
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import attrs

from .._control.controller import Controller
from .._control.listeners import SYSTEM_ACTOR_PREFIX, PhaseChange
from .._core.codes import Reason
from .._core.errors import ConfigurationError
from .._core.model import INSTRUMENT, VENUE, Actor, Decision, OrderType, Origin, Request
from .._core.policy import Policy
from .._core.reopen import LiquidationRelease
from .._core.text import shown
from .._decide.records import JournalNote, TransitionRecord

RELEASE_TOPIC: Final = "liquidations"
"""The note topic of a scope's liquidation release (and of its last halt)."""
MARKS_TOPIC: Final = "marks"
"""The note topic of the mark prices at a halt."""
WINDOW: Final = 60.0
"""The rolling window of `LiquidationRelease.per_minute`, in seconds."""
MAX_MARKS: Final = 1000
"""The most instruments one `record_marks` call takes. A note is also at most 16 KiB of JSON
(`NOTE_LIMIT`): a few hundred instruments; beyond that, record marks per instrument scope."""
_MAX_NAME: Final = 64
_MAX_PRICE: Final = 40
_MAX_WINDOWS: Final = 100_000
_ACTOR: Final = f"{SYSTEM_ACTOR_PREFIX}liquidations"


class LiquidationState(enum.StrEnum):
    """Where an instrument's liquidations stand (`ReleaseSchedule.state`).

    Example:
        >>> LiquidationState("WAITING") is LiquidationState.WAITING
        True
    """

    RUNNING = "RUNNING"
    """The phases run liquidations themselves (NORMAL, DEGRADED): no clock applies."""
    HELD = "HELD"
    """The phases refuse liquidations, or the release time is not known (yet)."""
    WAITING = "WAITING"
    """In a release phase, before the release time."""
    RELEASED = "RELEASED"
    """Released: at most `per_minute` per instrument per rolling minute."""


@attrs.frozen
class ReleaseSchedule:
    """An instrument's (or the venue's) liquidation release now: what status pages show.

    ``scope`` is the scope whose release clock decides (the venue, or the instrument with a
    phase of its own; "" when none does); ``resume_at`` and ``next_slot`` are times on the
    controller's clock (None: not known, or not applicable); ``used`` counts the liquidations
    accepted in the last `WINDOW` seconds.

    Example:
        >>> s = ReleaseSchedule("BTC-USDT", LiquidationState.WAITING, "FULL_OPEN", "venue",
        ...                     resume_at=4500.0, paused=3600.0, per_minute=10)
        >>> s.state.value, s.resume_at
        ('WAITING', 4500.0)
    """

    instrument: str | None
    state: LiquidationState
    phase: str
    scope: str
    resume_at: float | None = None
    paused: float | None = None
    per_minute: int | None = None
    used: int = 0
    next_slot: float | None = None


@attrs.frozen
class _Release:
    """One scope's release for its current visit of a release phase."""

    phase: str
    entered: float
    paused: float | None
    resume_at: float | None
    per_minute: int
    halted_at: float | None
    marker: float
    """`Controller.entered_at(scope)` when this was set: a later entry not yet seen differs."""

    def data(self, version: int) -> dict[str, Any]:
        return {"phase": self.phase, "at": self.entered, "entered": self.entered,
                "paused": self.paused, "resume_at": self.resume_at,
                "per_minute": self.per_minute, "halted_at": self.halted_at, "version": version}


def _release_of(phase: str, entered: float, halted_at: float | None, spec: LiquidationRelease,
                marker: float) -> _Release:
    paused = None if halted_at is None else max(0.0, entered - halted_at)
    if spec.delay is not None:
        resume: float | None = entered + spec.delay
    else:
        resume = None if paused is None else spec.resume_at(entered, paused)
    return _Release(phase, entered, paused, resume, spec.per_minute, halted_at, marker)


class LiquidationClock:
    """When the liquidation engine may liquidate again after a restart, and how fast.

    Built on a `Controller` (before it fires anything: it learns of phase changes as a
    listener), on its clock. A scope's *pause* runs from its last entry into the fail-safe
    phase (an instrument without a halt of its own: the venue's) to its entry into a phase
    with a `LiquidationRelease`; the release time is `LiquidationRelease.resume_at` of them.

    Durable: on entering a release phase, on a halt, and on leaving a release phase, the
    scope's state is journaled as a note (topic ``liquidations``: entered, paused, resume_at,
    per_minute, halted_at). A clock built on a controller that `recover()` rebuilt reads them
    back, so the release time is the same after a SIGKILL. Where a note is missing (a crash
    between a transition and its note), the clock never releases earlier than the journal
    allows: the entry time is taken as the restart's (later than the real one), and a pause
    of unknown start (``delay=None``) holds liquidations until the scope leaves the phase.
    The rate windows are not journaled: after a restart they start empty, which is safe
    because a restart is a new process whose liquidations start after the recovered release
    time anyway (at most `per_minute` more in the first minute after a restart).

    Thread-safe (one lock; not the gate's per-order path).

    Example:
        >>> import attrs
        >>> from exchange_recovery import Controller, MemoryJournal, reopening_policy
        >>> from exchange_recovery.testing import ManualClock
        >>> policy = reopening_policy()
        >>> policy = policy.with_changes(guards=(), transitions=tuple(
        ...     attrs.evolve(t, guards=()) for t in policy.transitions))
        >>> clock = ManualClock(0)
        >>> controller = Controller(policy, clock=clock, journal=MemoryJournal())
        >>> liquidations = LiquidationClock(controller)
        >>> _ = controller.halt(actor="ops", reason="zone down")
        >>> clock.advance(3600)
        >>> for trigger in ("pre_open", "call", "uncross"):
        ...     _ = controller.fire(trigger, actor="ops", reason="restart")
        >>> liquidations.check("BTC-USDT").reason.name, liquidations.schedule().resume_at
        ('LIQUIDATION_NOT_RELEASED', 4500.0)
        >>> clock.advance(900)
        >>> liquidations.check("BTC-USDT").accepted
        True

    Raises:
        ConfigurationError: `controller` is not a `Controller`.
    """

    def __init__(self, controller: Controller) -> None:
        if not isinstance(controller, Controller):
            msg = f"LiquidationClock needs a Controller, got {shown(controller)}"
            raise ConfigurationError(msg)
        self._controller = controller
        self._policy = controller.policy
        self._lock = threading.Lock()
        self._releases: dict[str, _Release] = {}
        self._halted: dict[str, float | None] = {}
        self._windows: dict[str, collections.deque[float]] = {}
        journal = controller.journal
        self._durable = journal is not None and callable(getattr(journal, "note", None))
        self._remove = controller.add_listener(self._on_change)
        self._reconcile()

    def close(self) -> None:
        """Stop listening to the controller (the clock then no longer follows its phases)."""
        self._remove()

    # -- the liquidation engine's questions --------------------------------------------------

    def check(self, instrument: str) -> Decision:
        """May the liquidation engine liquidate one position on `instrument` now?

        Accepted in a phase that runs liquidations; in a release phase, refused with
        `Reason.LIQUIDATION_NOT_RELEASED` before the release time and with
        `Reason.LIQUIDATION_RATE_LIMITED` beyond `per_minute` in the last 60 s; in any other
        phase, the gate's refusal of a liquidation order. An accepted check uses a slot.
        ``retry_after`` is, like every `Decision`'s, a time on the controller's clock: the
        release time, or when the oldest slot in the window frees (None: not known).

        Raises:
            InvalidRequestError: `instrument` is no instrument name.
        """
        request = Request.new_order(instrument, OrderType.LIMIT, origin=Origin.LIQUIDATION)
        with self._lock:
            now = float(self._controller.clock())
            return self._decide(request, instrument, now)

    def schedule(self, instrument: str | None = None) -> ReleaseSchedule:
        """The release as it stands now for `instrument` (None: the venue), using no slot.

        Raises:
            InvalidRequestError: `instrument` is no instrument name.
        """
        if instrument is not None:
            Request.new_order(instrument, OrderType.LIMIT, origin=Origin.LIQUIDATION)
        with self._lock:
            now = float(self._controller.clock())
            return self._schedule(instrument, now)

    # -- deciding (lock held) ------------------------------------------------------------------

    def _limits(self, instrument: str | None) -> tuple[str, str, list[tuple[str, str, _Release | None]]]:
        """(effective phase, its scope label, releases) for `instrument`: one entry per scope
        whose phase neither runs liquidations nor lacks a release clock; a release is None
        when it is not known (yet). Raises _Held naming a scope with no clock at all."""
        gate = self._controller.gate
        scopes = [(VENUE, gate.phase(VENUE))]
        own = None
        if instrument is not None:
            own = gate._own_phase(instrument)  # None: it follows the venue
            if own is not None:
                scopes.append((instrument, own))
        phase, label = scopes[-1][1], VENUE if own is None else INSTRUMENT
        limits: list[tuple[str, str, _Release | None]] = []
        for scope, current in scopes:
            spec = self._policy.phase(current)
            if "liquidations" in spec.capabilities:
                continue
            if spec.liquidation_release is None:
                raise _Held(current, VENUE if scope == VENUE else INSTRUMENT)
            release = self._releases.get(scope)
            if (release is None or release.phase != current
                    or release.marker != self._controller.entered_at(scope)):
                release = None  # a change the listener has not been told of yet: hold
            limits.append((scope, current, release))
        return phase, label, limits

    def _decide(self, request: Request, instrument: str, now: float) -> Decision:
        decision = self._controller.gate.check(request)
        if not decision.accepted:
            return decision
        try:
            phase, label, limits = self._limits(instrument)
        except _Held as held:
            return _reject(Reason.LIQUIDATION_NOT_RELEASED, held.phase, held.label,
                           "release=none", None)
        if not limits:
            return decision
        resume, per_minute, phase, label = self._bound(limits)
        if resume is None:
            return _reject(Reason.LIQUIDATION_NOT_RELEASED, phase, label, "resume_at=unknown",
                           None)
        if now < resume:
            return _reject(Reason.LIQUIDATION_NOT_RELEASED, phase, label,
                           f"resume_at={resume!r}", resume)
        window = self._window(instrument, now)
        if len(window) >= per_minute:
            free = window[0] + WINDOW
            return _reject(Reason.LIQUIDATION_RATE_LIMITED, phase, label,
                           f"per_minute={per_minute} used={len(window)}", free)
        window.append(now)
        return Decision(True, Reason.ACCEPTED, phase, label,
                        f"{Reason.ACCEPTED.value}: phase={phase} scope={label} "
                        f"per_minute={per_minute} used={len(window)}")

    @staticmethod
    def _bound(limits: list[tuple[str, str, _Release | None]]
               ) -> tuple[float | None, int, str, str]:
        """The latest release time (None if any is unknown) and the lowest rate of `limits`,
        with the phase and scope label of the scope that decides the time."""
        resume: float | None = -math.inf
        per_minute = min((r.per_minute for _, _, r in limits if r is not None), default=1)
        scope, phase = limits[0][0], limits[0][1]
        for name, current, release in limits:
            if release is None or release.resume_at is None:
                return None, per_minute, current, VENUE if name == VENUE else INSTRUMENT
            if resume is not None and release.resume_at >= resume:
                resume, scope, phase = release.resume_at, name, current
        return resume, per_minute, phase, VENUE if scope == VENUE else INSTRUMENT

    def _window(self, instrument: str, now: float) -> collections.deque[float]:
        window = self._windows.get(instrument)
        if window is None:
            if len(self._windows) >= _MAX_WINDOWS:  # forget instruments with nothing recent
                for name in [n for n, w in self._windows.items() if not w or w[-1] <= now - WINDOW]:
                    del self._windows[name]
            window = self._windows[instrument] = collections.deque()
        while window and window[0] <= now - WINDOW:
            window.popleft()
        return window

    def _schedule(self, instrument: str | None, now: float) -> ReleaseSchedule:
        gate = self._controller.gate
        if instrument is not None:
            request = Request.new_order(instrument, OrderType.LIMIT, origin=Origin.LIQUIDATION)
            refused = gate.check(request)
            if not refused.accepted:
                return ReleaseSchedule(instrument, LiquidationState.HELD, refused.phase, "")
        try:
            phase, _label, limits = self._limits(instrument)
        except _Held as held:
            return ReleaseSchedule(instrument, LiquidationState.HELD, held.phase, "")
        if not limits:
            return ReleaseSchedule(instrument, LiquidationState.RUNNING, phase, "")
        resume, per_minute, phase, label = self._bound(limits)
        deciding = next((r for _, p, r in limits if p == phase and r is not None), None)
        scope = VENUE if label == VENUE else (instrument or VENUE)
        paused = None if deciding is None else deciding.paused
        if resume is None:
            return ReleaseSchedule(instrument, LiquidationState.HELD, phase, scope,
                                   paused=paused, per_minute=per_minute)
        if now < resume:
            return ReleaseSchedule(instrument, LiquidationState.WAITING, phase, scope, resume,
                                   paused, per_minute, 0, resume)
        used = 0
        slot = now
        if instrument is not None and instrument in self._windows:
            window = self._window(instrument, now)
            used = len(window)
            slot = window[0] + WINDOW if used >= per_minute else now
        return ReleaseSchedule(instrument, LiquidationState.RELEASED, phase, scope, resume,
                               paused, per_minute, used, slot)

    # -- following the controller --------------------------------------------------------------

    def _on_change(self, change: PhaseChange) -> None:
        """The listener: a halt, an entry into a release phase, or a way out of one."""
        controller, scope, dest = self._controller, change.scope, change.dest
        fired = change.cause == "fired" and change.record is not None
        at = change.record.timestamp if fired else float(controller.clock())  # type: ignore[union-attr]
        spec = self._policy.phase(dest)
        with self._lock:
            marker = at if fired else controller.entered_at(scope)
            if dest == self._policy.fail_safe:
                self._halted[scope] = at
                self._releases.pop(scope, None)
                data: dict[str, Any] | None = _plain(dest, at, at, change.version)
            elif spec.liquidation_release is not None:
                release = _release_of(dest, at, self._halt_of(scope), spec.liquidation_release,
                                      marker)
                self._releases[scope] = release
                data = release.data(change.version)
            elif self._releases.pop(scope, None) is not None:
                data = _plain(dest, at, self._halted.get(scope), change.version)
            else:
                data = None
        if data is not None:
            self._write(scope, data)

    def _halt_of(self, scope: str) -> float | None:
        halted = self._halted.get(scope)
        if halted is None and scope != VENUE:
            halted = self._halted.get(VENUE)
        return halted

    def _reconcile(self) -> None:
        """Take up the state the controller is in: the notes journaled (a recovered
        controller), the phases it is in; journal what the notes lack."""
        controller, policy = self._controller, self._policy
        notes = controller.notes(RELEASE_TOPIC) if self._durable else {}
        phases = dict(controller.gate.phases)
        writes: list[tuple[str, dict[str, Any]]] = []
        with self._lock:
            for scope in sorted({*phases, *notes}, key=lambda s: (s != VENUE, s)):
                current = phases.get(scope, policy.normal)
                note = notes.get(scope)
                known = _note_fields(note)
                self._halted[scope] = known.get("halted_at")
                spec = policy.phase(current)
                marker = controller.entered_at(scope)
                if current == policy.fail_safe:
                    if known.get("phase") == current:
                        continue
                    # A halt this clock did not see: its time is the entry's, unless the
                    # controller was rebuilt from a journal (then the entry is the restart).
                    halted = marker if controller.recovery is None else None
                    self._halted[scope] = halted
                    writes.append((scope, _plain(current, marker, halted, controller.version)))
                elif spec.liquidation_release is not None:
                    release = _adopted(known, current, marker)
                    if release is None:
                        release = _release_of(current, marker, self._halt_of(scope),
                                              spec.liquidation_release, marker)
                        writes.append((scope, release.data(controller.version)))
                    self._releases[scope] = release
                elif "resume_at" in known:  # left a release phase unseen
                    writes.append((scope, _plain(current, marker, self._halted[scope],
                                                 controller.version)))
        for scope, data in writes:
            self._write(scope, data)

    def _write(self, scope: str, data: dict[str, Any]) -> None:
        if self._durable:
            self._controller.note(RELEASE_TOPIC, scope, data, actor=_ACTOR)


class _Held(Exception):
    """A scope whose phase neither runs liquidations nor has a release clock (internal)."""

    def __init__(self, phase: str, label: str) -> None:
        self.phase = phase
        self.label = label


def _plain(phase: str, at: float, halted_at: float | None, version: int) -> dict[str, Any]:
    return {"phase": phase, "at": at, "halted_at": halted_at, "version": version}


def _number(value: object) -> float | None:
    """`value` as a finite float, or None (a bool, a non-number, an int too large)."""
    if type(value) not in (int, float):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _note_fields(note: JournalNote | None) -> dict[str, Any]:
    """A liquidations note's fields, those of the wrong type dropped (a keyed journal's note
    is the library's own; a malformed one is taken as missing: the conservative side)."""
    if note is None:
        return {}
    try:
        data = note.data
    except ValueError:
        return {}
    out: dict[str, Any] = {}
    if type(data.get("phase")) is str:
        out["phase"] = data["phase"]
    for field in ("at", "entered", "paused", "resume_at", "halted_at"):
        if field in data and (data[field] is None or _number(data[field]) is not None):
            out[field] = None if data[field] is None else float(data[field])
    if type(data.get("per_minute")) is int and data["per_minute"] > 0:
        out["per_minute"] = data["per_minute"]
    return out


def _adopted(known: Mapping[str, Any], phase: str, marker: float) -> _Release | None:
    """The release a note journaled for `phase`, or None if the note is of another phase."""
    if known.get("phase") != phase or "resume_at" not in known or "per_minute" not in known \
            or known.get("entered") is None:
        return None
    return _Release(phase, known["entered"], known.get("paused"), known["resume_at"],
                    known["per_minute"], known.get("halted_at"), marker)


def _reject(reason: Reason, phase: str, label: str, detail: str,
            retry_after: float | None) -> Decision:
    message = f"{reason.value}: phase={phase} scope={label} {detail}"
    return Decision(False, reason, phase, label, message, retry_after=retry_after)


# -- mark prices at the halt -----------------------------------------------------------------


def _price(name: str, value: object) -> str:
    """`value` as the canonical text of a positive finite Decimal."""
    number: Decimal | None
    try:
        if type(value) is float:
            number = Decimal(repr(value))
        elif type(value) is int or isinstance(value, Decimal):
            number = Decimal(value)
        elif type(value) is str and len(value) <= _MAX_PRICE:
            number = Decimal(value.strip())
        else:
            number = None
    except (InvalidOperation, ValueError):
        number = None
    text = "" if number is None else str(number)
    if number is None or not number.is_finite() or number <= 0 or len(text) > _MAX_PRICE:
        msg = (f"marks[{shown(name)}] must be a positive finite price (int, float, Decimal or "
               f"decimal text, at most {_MAX_PRICE} characters), got {shown(value)}")
        raise ConfigurationError(msg)
    return text


def _instrument_name(name: object) -> str:
    if (type(name) is not str or not name or name != name.strip() or len(name) > _MAX_NAME
            or name == VENUE or not name.isprintable()):
        msg = (f"marks keys must be instrument names (non-empty, printable, no outer spaces, at "
               f"most {_MAX_NAME} characters, not {VENUE!r}), got {shown(name)}")
        raise ConfigurationError(msg)
    return name


def record_marks(controller: Controller, marks: Mapping[str, object], *, actor: Actor | str,
                 scope: str = VENUE) -> JournalNote:
    """Journal the reference (mark) prices of a halt: what compensation is computed from.

    Call it from the engine's halt listener, with the marks it published last. Prices are
    stored as decimal text (exact: no float rounding in the journal) with the scope's phase.

    Example:
        >>> from exchange_recovery import Controller, MemoryJournal, default_policy
        >>> controller = Controller(default_policy(), journal=MemoryJournal())
        >>> _ = controller.halt(actor="ops:alice", reason="zone down")
        >>> note = record_marks(controller, {"BTC-USDT": "16800.5", "ETH-USDT": 1210.25},
        ...                     actor="ops:alice")
        >>> halt_marks(controller)["ETH-USDT"]
        Decimal('1210.25')

    Raises:
        ConfigurationError: `controller` is no `Controller` (or has no journal that stores
            notes), `marks` no mapping of 1 to `MAX_MARKS` instrument names to positive finite
            prices, or the note is too large.
    """
    if not isinstance(controller, Controller):
        msg = f"record_marks needs a Controller, got {shown(controller)}"
        raise ConfigurationError(msg)
    try:
        items = list(marks.items()) if isinstance(marks, Mapping) else []
    except Exception:  # a mapping whose iteration raises
        items = []
    if not 1 <= len(items) <= MAX_MARKS:
        msg = f"marks must map 1 to {MAX_MARKS} instruments to prices, got {shown(marks)}"
        raise ConfigurationError(msg)
    prices = {_instrument_name(name): _price(name, value) for name, value in items}
    data = {"phase": controller.phase(scope), "marks": prices}
    return controller.note(MARKS_TOPIC, scope, data, actor=actor)


def halt_marks(source: Controller | JournalNote | Mapping[str, JournalNote],
               scope: str = VENUE) -> Mapping[str, Decimal] | None:
    """The mark prices last journaled for `scope` by `record_marks` (None: none).

    `source` is a controller (a recovered one too), a marks note, or what
    ``controller.notes("marks")`` returns.

    Example:
        >>> from exchange_recovery import JournalNote
        >>> note = JournalNote("marks", "venue", '{"marks":{"BTC-USDT":"16800.5"}}', "ops", 0.0, 1)
        >>> dict(halt_marks(note))
        {'BTC-USDT': Decimal('16800.5')}

    Raises:
        ConfigurationError: `source` is none of those, or its note holds no marks.
    """
    if isinstance(source, Controller):
        note = source.last_note(MARKS_TOPIC, scope)
    elif isinstance(source, JournalNote):
        note = source
    elif isinstance(source, Mapping):
        if type(scope) is not str:
            msg = f"scope must be a str, got {shown(scope)}"
            raise ConfigurationError(msg)
        note = source.get(scope)
    else:
        note = None
        msg = f"halt_marks reads a Controller, a JournalNote or notes by scope, got {shown(source)}"
        raise ConfigurationError(msg)
    if note is None:
        return None
    if not isinstance(note, JournalNote) or note.topic != MARKS_TOPIC:
        msg = f"expected a {MARKS_TOPIC!r} JournalNote, got {shown(note)}"
        raise ConfigurationError(msg)
    try:
        marks = note.data.get("marks")
    except (ValueError, AttributeError):
        marks = None
    if not isinstance(marks, dict):
        msg = f"the marks note of {shown(note.scope)} holds no marks"
        raise ConfigurationError(msg)
    return types.MappingProxyType(
        {_instrument_name(name): Decimal(_price(name, value)) for name, value in marks.items()})


# -- funding ---------------------------------------------------------------------------------


def frozen_intervals(records: Iterable[TransitionRecord], policy: Policy, *, start: float,
                     end: float, scope: str = VENUE,
                     phases: Mapping[str, str] | None = None) -> tuple[tuple[float, float], ...]:
    """When funding and interest were frozen for `scope` between `start` and `end`.

    From transition records alone (as a journal holds them, in version order): funding is
    frozen while the venue's phase, or the instrument's own phase, has ``funding = False``.
    `phases` is where the scopes were before the first record (default: the venue in the
    policy's initial phase, instruments following it). A record takes effect at its
    timestamp, or at the previous record's if the clock stepped back. Returns disjoint,
    sorted ``(from, to)`` intervals within [`start`, `end`]; the seconds during which funding
    accrued are ``end - start`` minus their lengths.

    Example:
        >>> from exchange_recovery import TransitionRecord, reopening_policy
        >>> halt = TransitionRecord(1, "venue", "NORMAL", "HALTED", "halt", "ops", "r", 100.0, False)
        >>> back = TransitionRecord(2, "venue", "HALTED", "PRE_OPEN", "pre_open", "ops", "r",
        ...                         400.0, True)
        >>> frozen_intervals([halt, back], reopening_policy(), start=0, end=1000)
        ((100.0, 1000.0),)

    Raises:
        ConfigurationError: a record is no `TransitionRecord` or names an unknown phase,
            `start`/`end` are not finite numbers with start <= end, or `scope`/`phases` are
            malformed.
    """
    if not isinstance(policy, Policy):
        msg = f"frozen_intervals needs a Policy, got {shown(policy)}"
        raise ConfigurationError(msg)
    lo, hi = _number(start), _number(end)
    if lo is None or hi is None or lo > hi:
        msg = f"start and end must be finite numbers with start <= end, got {shown(start)}, {shown(end)}"
        raise ConfigurationError(msg)
    if type(scope) is not str or not scope:
        msg = f"scope must be a scope name, got {shown(scope)}"
        raise ConfigurationError(msg)
    if phases is not None and not isinstance(phases, Mapping):
        msg = f"phases must map scopes to phases, got {shown(phases)}"
        raise ConfigurationError(msg)
    venue = (phases or {}).get(VENUE, policy.initial)
    own = None if scope == VENUE else (phases or {}).get(scope)
    frozen = _frozen(policy, venue, own)
    since, last = -math.inf, -math.inf
    out: list[tuple[float, float]] = []
    try:
        listed = list(records)
    except Exception:  # not iterable, or its iterator raises
        msg = f"records must be an iterable of TransitionRecord, got {shown(records)}"
        raise ConfigurationError(msg) from None
    for record in listed:
        if not isinstance(record, TransitionRecord) or _number(record.timestamp) is None:
            msg = f"records must be TransitionRecords with finite timestamps, got {shown(record)}"
            raise ConfigurationError(msg)
        last = max(last, float(record.timestamp))
        if record.scope == VENUE:
            venue = record.dest
        elif record.scope == scope:
            own = record.dest
        else:
            continue
        now = _frozen(policy, venue, own)
        if now != frozen:
            if frozen:
                _add(out, max(since, lo), min(last, hi))
            since, frozen = last, now
    if frozen:
        _add(out, max(since, lo), hi)
    return tuple(out)


def _frozen(policy: Policy, venue: str, own: str | None) -> bool:
    """Whether funding is frozen with the venue in `venue` and the instrument in `own`."""
    if not policy.phase(venue).funding:
        return True
    return own is not None and own != policy.normal and not policy.phase(own).funding


def _add(out: list[tuple[float, float]], lo: float, hi: float) -> None:
    if lo >= hi:
        return
    if out and out[-1][1] >= lo:
        out[-1] = (out[-1][0], max(out[-1][1], hi))
    else:
        out.append((lo, hi))
