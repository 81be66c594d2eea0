"""The follower: a gateway's copy of the coordinator's phases, kept in its gate, failing safe.

A coordinator backend calls, from its own thread (never the request path):

- `adopt(state, read_at)` with a full read when following starts or history was compacted;
- `apply(record)` for every stored record, in version order (replays of older ones are skipped);
- `reject(scope, version, detail)` for an update that is not a record at all (a deleted key,
  an unreadable value);
- `heard()` whenever the coordinator answered, and `fresh(state, read_at)` after a read.

Every change is published to the gate with one reference swap (`Gate._publish`). Two things
tighten *locally*, each with a critical event:

- an update the policy does not allow from the follower's phase (``follower_update_refused``):
  the scope goes to the fail-safe phase and stays there, refusing further updates, until the
  coordinator itself moves it to the fail-safe phase (an operator's halt). One bad writer
  cannot open the venue;
- silence longer than the staleness bound (``follower_stale``, checked by `check_staleness`,
  which `watch` runs on a thread): the venue goes to the fail-safe phase until a read that
  started after going stale shows nothing newer than what was applied (``follower_fresh``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .._control.audit import audit_logger
from .._control.listeners import Listener, Listeners, PhaseChange
from .._control.trust import Trust
from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, render_context
from .._core.gate import Gate
from .._core.model import VENUE
from .._core.policy import Policy
from .._core.text import escape_text, shown
from .._decide.decide import misfit
from .._decide.records import Clock, TransitionRecord
from .._trust.directory import Directory
from .state import CoordinatorState


class Follower:
    """Keeps a gate in step with a coordinator; fails safe on silence or a disallowed update.

    Until its first read the gate is in the fail-safe phase. Hand ``follower.gate.check`` to the
    engine; `check` never touches the network.

    Example:
        >>> from exchange_recovery import CoordinatedController, LocalCoordinator, default_policy
        >>> store = LocalCoordinator()
        >>> follower = Follower(default_policy())
        >>> stop = store.follow(follower)
        >>> _ = CoordinatedController(default_policy(), store).halt(actor="ops:a", reason="r")
        >>> follower.gate.phase(), follower.version
        ('HALTED', 1)
    """

    def __init__(
        self,
        policy: Policy,
        *,
        staleness: float = 3.0,
        gate: Gate | None = None,
        clock: Clock = time.monotonic,
        logger: Any = None,
        name: str = "gateway",
        directory: Directory | None = None,
    ) -> None:
        if not isinstance(policy, Policy):
            msg = f"Follower needs a Policy, got {shown(policy)}"
            raise ConfigurationError(msg)
        self._trust = Trust.of(policy, directory, None)
        self._visits: dict[str, int] = {}
        if not _seconds_ok(staleness):
            msg = f"staleness must be a number of seconds > 0, got {shown(staleness)}"
            raise ConfigurationError(msg)
        if gate is not None and (not isinstance(gate, Gate) or gate.policy is not policy):
            msg = "the gate must be compiled from the follower's policy"
            raise ConfigurationError(msg)
        self._policy = policy
        self._staleness = float(staleness)
        self._clock = clock
        if not callable(clock):
            msg = f"clock must be callable, got {shown(clock)}"
            raise ConfigurationError(msg)
        self._log = audit_logger(logger)
        self._name = name
        self._lock = threading.Lock()
        self._phases: dict[str, str] = {VENUE: policy.initial}
        self._version = 0
        self._quarantined: set[str] = set()
        self._stale = True  # nothing heard yet: fail safe until the first read
        self._stale_at = float("-inf")
        try:
            self._heard = float(clock())
        except Exception as exc:
            msg = f"clock must return seconds as a number; it gave {shown(exc)}"
            raise ConfigurationError(msg) from None
        self.refused = 0
        """How many updates were refused (disallowed by the policy, or not records at all)."""
        self._gate = gate if gate is not None else Gate(policy, {VENUE: policy.fail_safe})
        self._listeners = Listeners(self._log, f"follower:{shown(self._name, 80)}")
        self._cause = "adopted"  # what the changes being published now come from
        self._record: TransitionRecord | None = None
        self._publish()

    # -- read-only views -----------------------------------------------------------------------

    @property
    def gate(self) -> Gate:
        """The gate this follower publishes to."""
        return self._gate

    @property
    def policy(self) -> Policy:
        """The policy updates are checked against."""
        return self._policy

    @property
    def clock(self) -> Clock:
        """The monotonic clock staleness is measured with (backends time their reads by it)."""
        return self._clock

    @property
    def staleness(self) -> float:
        """Seconds of silence after which the venue fails safe locally."""
        return self._staleness

    @property
    def version(self) -> int:
        """The version of the latest record applied (or adopted)."""
        return self._version

    @property
    def phases(self) -> Mapping[str, str]:
        """The coordinator's phases as followed (before the local staleness overlay)."""
        with self._lock:
            return dict(self._phases)

    @property
    def stale(self) -> bool:
        """Whether the venue is failed safe locally for lack of a fresh read."""
        return self._stale

    @property
    def quarantined(self) -> frozenset[str]:
        """Scopes held in the fail-safe phase after a refused update."""
        with self._lock:
            return frozenset(self._quarantined)

    # -- called by the coordinator backend ---------------------------------------------------------

    def adopt(self, state: CoordinatorState, read_at: float,
              rejected: Iterable[tuple[str, int, str]] = ()) -> None:
        """Take a full read as the truth (start, or history compacted); relax if fresh.

        `rejected` lists the read's values that are not records, as ``(scope, version,
        detail)``: those scopes are held fail-safe in the same publication as the rest of the
        read, so no reader ever sees the read's phases without them.
        """
        _expect_state(state, read_at)
        try:
            junk = [(scope, version, detail) for scope, version, detail in rejected]
        except Exception:  # not iterable, not triples, or an iterator that raises
            msg = f"adopt() needs rejected as (scope, version, detail) triples, got {shown(rejected)}"
            raise ConfigurationError(msg) from None
        for record in state.records.values():
            self._policy.phase(record.dest)  # an unknown phase raises before anything changes
        try:
            self._adopt(state, read_at, junk)
        finally:
            self._listeners.deliver()

    def _adopt(self, state: CoordinatorState, read_at: float,
               junk: list[tuple[str, int, str]]) -> None:
        with self._lock:
            if state.version < self._version:
                return
            self._cause, self._record = "adopted", None
            phases = {VENUE: self._policy.initial}
            phases.update(state.phases)
            refused = []
            for scope, record in state.records.items():
                # A full read has only each scope's latest record: its approvals are checked
                # against the visit it names (which the firer's signature covers).
                bad = self._trust.check(record, record.visit)
                if bad is not None:
                    refused.append((scope, record, bad))
                    self.refused += 1
                    self._quarantined.add(scope)
                self._visits[scope] = record.version
            for scope in self._quarantined.copy():
                if phases.get(scope) == self._policy.fail_safe:
                    self._quarantined.discard(scope)
                else:
                    phases[scope] = self._policy.fail_safe
            self._phases = phases
            self._version = state.version
            for scope, version, detail in junk:
                self._reject_locked(scope, version, detail, show=False)
            self._heard_locked(read_at)
            self._publish()  # under the staleness overlay, if any: the scopes first
            self._cause = "fresh"
            self._fresh_locked(state, read_at)  # then, if fresh, the venue relaxes
        for scope, record, bad in refused:
            self._log.critical("follower_update_refused", name=self._name, code=bad.code.value,
                               scope=scope, phase=record.dest, version=record.version,
                               detail=bad.detail, to_phase=self._policy.fail_safe)

    def apply(self, record: TransitionRecord) -> bool:
        """Apply one stored record; return whether it changed the phases.

        A record not newer than `version` is a replay and is skipped. A record the policy does
        not allow from the scope's phase puts the scope in the fail-safe phase (refused).
        """
        if not isinstance(record, TransitionRecord):
            msg = f"apply() needs a TransitionRecord, got {shown(record)}"
            raise ConfigurationError(msg)
        try:
            return self._apply(record)
        finally:
            self._listeners.deliver()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with a `PhaseChange` each time a published phase changes; return
        its remover.

        As `Controller.add_listener`: after publication, in order, one at a time, outside the
        follower's lock; a failing listener is reported and changes nothing. Changes come from
        followed records (cause ``followed``), full reads (``adopted``), refused updates
        (``refused``), and the local fail-safe for lack of news and its end (``stale``,
        ``fresh``): the venue's phase as the gate publishes it.

        Raises:
            ConfigurationError: `listener` is not callable.
        """
        return self._listeners.add(listener)

    def _apply(self, record: TransitionRecord) -> bool:
        with self._lock:
            self._heard = self._clock()
            if record.version <= self._version:
                return False
            self._cause, self._record = "followed", record
            self._version = record.version
            fail_safe = self._policy.fail_safe
            scope = record.scope
            current = self._own_phase(scope)
            if scope in self._quarantined:
                if record.dest != fail_safe:
                    self._refuse_locked(scope, current, record.version,
                                        f"{record.trigger} to {record.dest} while quarantined")
                    return False
                self._quarantined.discard(scope)
                self._show(scope)
                self._log.warning("follower_quarantine_lifted", name=self._name, scope=scope,
                                  version=record.version, actor=record.actor)
                return True
            bad = misfit(self._policy, current, record.source, record.trigger, record.dest,
                         record.relaxing)
            if bad is not None:
                self._refuse_locked(scope, current, record.version,
                                    f"{record.source} -{record.trigger}-> {record.dest}: "
                                    f"{bad.code.value} {render_context(bad.context)}")
                return True
            distrust = self._trust.check(record, self._visits.get(scope, 0))
            if distrust is not None:
                self._refuse_locked(scope, current, record.version,
                                    f"{record.source} -{record.trigger}-> {record.dest} by "
                                    f"{record.actor}: {distrust}", code=distrust.code)
                return True
            if self._trust.enabled:
                self._visits[scope] = record.version
            if scope != VENUE and record.dest == self._policy.normal:
                self._phases.pop(scope, None)  # adds no restriction: follows the venue again
            else:
                self._phases[scope] = record.dest
            self._show(scope)
        self._log.info("phase_followed", name=self._name, scope=scope, from_phase=current,
                       to_phase=record.dest, trigger=record.trigger, actor=record.actor,
                       version=record.version)
        return True

    def reject(self, scope: str, version: int, detail: str) -> None:
        """An update of `scope` that is not a valid record: fail the scope safe, alarm.

        A `scope` that names no scope (empty, not a str, not printable) cannot be held: the
        venue is, since nothing says which instrument it was meant for.
        """
        try:
            with self._lock:
                self._heard = self._clock()
                self._reject_locked(scope, version, detail, show=True)
        finally:
            self._listeners.deliver()

    def heard(self) -> None:
        """The coordinator answered (a keep-alive): push the staleness deadline back."""
        with self._lock:
            self._heard = self._clock()

    def fresh(self, state: CoordinatorState, read_at: float) -> bool:
        """A read started at `read_at` returned `state`; relax if it is fresh and nothing is newer.

        Returns False when `state` holds records this follower has not applied yet (the
        backend's follow stream is behind).
        """
        _expect_state(state, read_at)
        try:
            with self._lock:
                self._heard_locked(read_at)
                if state.version > self._version:
                    return False
                self._cause, self._record = "fresh", None
                if self._fresh_locked(state, read_at):
                    self._show(VENUE)
                return True
        finally:
            self._listeners.deliver()

    def check_staleness(self) -> bool:
        """Fail the venue safe if nothing was heard within the bound; return whether stale."""
        with self._lock:
            if self._stale:
                return True
            silent = self._clock() - self._heard
            if silent <= self._staleness:
                return False
            self._stale = True
            self._stale_at = self._clock()
            self._cause, self._record = "stale", None
            self._show(VENUE)
        self._listeners.deliver()
        self._log.critical("follower_stale", name=self._name, silent=round(silent, 3),
                           bound=self._staleness, to_phase=self._policy.fail_safe,
                           version=self._version)
        return True

    def watch(self, interval: float | None = None) -> Callable[[], None]:
        """Run `check_staleness` on a daemon thread every `interval` s; return a stop function."""
        if interval is not None and not _seconds_ok(interval):
            msg = f"interval must be a finite number of seconds > 0, got {shown(interval)}"
            raise ConfigurationError(msg)
        period = self._staleness / 10 if interval is None else float(interval)
        stop = threading.Event()

        def loop() -> None:
            while not stop.wait(period):
                self.check_staleness()

        threading.Thread(target=loop, name=f"{self._name}-staleness", daemon=True).start()
        return stop.set

    # -- internals (lock held) -----------------------------------------------------------------

    def _own_phase(self, scope: str) -> str:
        return self._phases.get(scope, self._policy.normal)

    def _heard_locked(self, at: float) -> None:
        self._heard = max(self._heard, at)

    def _fresh_locked(self, state: CoordinatorState, read_at: float) -> bool:
        if not self._stale or read_at < self._stale_at or state.version > self._version:
            return False
        # The venue's followed phase is published before `stale` reads False, so whoever sees
        # the follower fresh sees its gate relaxed too (never the other way round).
        before = self._published(VENUE)
        self._gate._publish_scope(VENUE, self._phases.get(VENUE, self._policy.normal),
                                  self._version)
        self._note(VENUE, before)
        self._stale = False
        self._log.warning("follower_fresh", name=self._name, version=self._version,
                          phase=self._phases[VENUE])
        return True

    def _reject_locked(self, scope: object, version: object, detail: object, *,
                       show: bool) -> None:
        if type(version) is not int or not 0 <= version < 2**63:
            version = self._version
        held = scope if type(scope) is str and scope.isprintable() and scope.strip() else VENUE
        self._version = max(self._version, version)
        said = detail if isinstance(detail, str) else shown(detail)
        self._refuse_locked(held, self._own_phase(held), version,
                            escape_text(f"{shown(scope)}: {said}", 400), show=show)

    def _refuse_locked(self, scope: str, current: str, version: int, detail: str,
                       code: RefusalCode = RefusalCode.UPDATE_NOT_ALLOWED, *,
                       show: bool = True) -> None:
        self.refused += 1
        self._quarantined.add(scope)
        self._phases[scope] = self._policy.fail_safe
        if show:
            self._cause, self._record = "refused", None
            self._show(scope)
        self._log.critical("follower_update_refused", name=self._name,
                           code=code.value, scope=scope, phase=current,
                           version=version, detail=detail, to_phase=self._policy.fail_safe)

    def _show(self, scope: str) -> None:
        """Publish one scope's phase as followed (the venue's under the staleness overlay)."""
        phase = self._phases.get(scope, self._policy.normal)
        if scope == VENUE and self._stale:
            phase = self._policy.fail_safe
        before = self._published(scope)
        self._gate._publish_scope(scope, phase, self._version)
        self._note(scope, before)

    def _publish(self) -> None:
        phases = self._phases
        if self._stale:
            phases = {**phases, VENUE: self._policy.fail_safe}
        gate = self._gate
        before = dict(gate.phases) if self._listeners.active else None
        gate._publish(phases, self._version)
        if before is not None:
            after = gate.phases
            for scope in sorted(before.keys() | after.keys(), key=lambda s: s != VENUE):
                self._note(scope, before.get(scope, self._policy.normal))

    def _published(self, scope: str) -> str:
        own = self._gate._own_phase(scope)
        return self._policy.normal if own is None else own

    def _note(self, scope: str, before: str) -> None:
        """Queue a `PhaseChange` for listeners if `scope`'s published phase moved."""
        after = self._published(scope)
        if after != before and self._listeners.active:
            self._listeners.enqueue(PhaseChange(
                scope, before, after, self._version, self._policy.disposition(after),
                self._cause, self._record if self._record is not None
                and self._record.scope == scope else None,
                self._policy.deferrals(before, after)))


_MAX_SECONDS = 86_400.0 * 365
"""The longest staleness bound or check interval taken (a year): beyond it a thread's wait
overflows, and no venue means it."""


_MAX_CLOCK = 1e15
"""Clock readings beyond this are no clock's (monotonic or epoch seconds)."""


def _seconds_ok(value: object) -> bool:
    """Whether `value` is a number of seconds > 0 and at most `_MAX_SECONDS`."""
    return (not isinstance(value, bool) and isinstance(value, int | float)
            and 0 < value <= _MAX_SECONDS)


def _expect_state(state: object, read_at: object) -> None:
    if not isinstance(state, CoordinatorState):
        msg = f"a full read is a CoordinatorState, got {shown(state)}"
        raise ConfigurationError(msg)
    if isinstance(read_at, bool) or not isinstance(read_at, int | float) \
            or not -_MAX_CLOCK < read_at < _MAX_CLOCK:
        msg = f"read_at must be a finite clock reading, got {shown(read_at)}"
        raise ConfigurationError(msg)
