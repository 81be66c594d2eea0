"""Coordination: where the authoritative phases live when many gateways enforce one venue.

A `Coordinator` stores one record per scope (the scope's latest transition) and a version that
strictly increases with every stored record; it offers four things:

- `read`: every scope's phase, its record's version, and the overall version, consistently;
- `propose`: store a record if its scope's version is still the one the proposal was decided
  on (a compare-and-swap), else raise `TransitionConflict` carrying the winning state;
- `follow`: keep a `Follower` (and through it a `Gate`) up to date with every change;
- `alive`: whether the coordinator answered recently.

`LocalCoordinator` is the in-process implementation (tests, simulations, one-process venues);
`exchange_recovery.etcd.EtcdCoordinator` is the distributed one. The plain `Controller` with a
file journal needs neither and stays the default. `CoordinatedController` is the operator side:
it decides a transition exactly as a `Controller` does (graph, guards, authorization), on the
state it just read, and stores it with `propose`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs
import structlog

from ._codes import RefusalCode
from ._controller import Controller
from ._exceptions import ConfigurationError, TransitionConflict
from ._journal import Authorizer, Clock, Guard, TransitionRecord
from ._model import VENUE, Actor
from ._policy import Policy
from ._state import CoordinatorState

if TYPE_CHECKING:
    from ._follower import Follower


Unsubscribe = Callable[[], None]
"""Stops following; idempotent."""


@runtime_checkable
class Coordinator(Protocol):
    """Where the authoritative phases live; see the module docstring for the contract."""

    def read(self) -> CoordinatorState:
        """A consistent snapshot of every scope's record and the version.

        Raises:
            CoordinatorError: the coordinator did not answer in time.
        """

    def propose(self, record: TransitionRecord, expected: int) -> TransitionRecord:
        """Store `record` if its scope's version is still `expected`; return it as stored.

        The returned record's `version` is the one the coordinator assigned (for etcd, the
        revision of the write): the fencing token every later decision carries.

        Raises:
            TransitionConflict: the scope moved since `expected`; nothing was stored.
            CoordinatorError: no answer in time; the outcome is unknown, read again.
        """

    def follow(self, follower: Follower) -> Unsubscribe:
        """Keep `follower` up to date with every stored record, from now on, until stopped."""

    def alive(self) -> bool:
        """Whether the coordinator answered within its staleness bound."""


class LocalCoordinator:
    """An in-process coordinator: records in a dict, a lock, followers called synchronously.

    Example:
        >>> from exchange_recovery import CoordinatedController, default_policy
        >>> ops = CoordinatedController(default_policy(), LocalCoordinator())
        >>> ops.halt(actor="ops:alice", reason="zone down").version
        1
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[str, TransitionRecord] = {}
        self._version = 0
        self._followers: list[Follower] = []

    def read(self) -> CoordinatorState:
        """Every scope's record and the version."""
        with self._lock:
            return CoordinatorState.of(self._records, self._version)

    def propose(self, record: TransitionRecord, expected: int) -> TransitionRecord:
        """Store `record` if its scope is still at version `expected` (compare-and-swap)."""
        if not isinstance(record, TransitionRecord):
            msg = f"propose() needs a TransitionRecord, got {record!r}"
            raise ConfigurationError(msg)
        with self._lock:
            current = self._records.get(record.scope)
            if (0 if current is None else current.version) != expected:
                state = CoordinatorState.of(self._records, self._version)
                raise conflict(record, expected, state, current)
            self._version += 1
            stored = attrs.evolve(record, version=self._version)
            self._records[record.scope] = stored
            followers = tuple(self._followers)
        for follower in followers:
            follower.apply(stored)
        return stored

    def follow(self, follower: Follower) -> Unsubscribe:
        """Adopt the current state into `follower`, then call it with every stored record."""
        with self._lock:
            follower.adopt(CoordinatorState.of(self._records, self._version), time.monotonic())
            self._followers.append(follower)

        def stop() -> None:
            with self._lock:
                if follower in self._followers:
                    self._followers.remove(follower)

        return stop

    def alive(self) -> bool:
        """Always True: the state lives in this process."""
        return True


def conflict(record: TransitionRecord, expected: int, state: CoordinatorState,
             winner: TransitionRecord | None) -> TransitionConflict:
    """The exception a coordinator raises when `record` lost the compare-and-swap."""
    phase = winner.dest if winner is not None else "?"
    got = 0 if winner is None else winner.version
    return TransitionConflict(
        RefusalCode.VERSION_CONFLICT, scope=record.scope, phase=phase, trigger=record.trigger,
        detail=f"decided on version={expected}, stored version={got}", state=state, winner=winner,
    )


class _DecisionLog:
    """Passes refusals and alarms through; holds back ``phase_changed`` until the store agrees."""

    def __init__(self, log: Any) -> None:
        self._log = log

    def info(self, event: str, **kw: Any) -> None:
        pass

    def warning(self, event: str, **kw: Any) -> None:
        self._log.warning(event, **kw)

    def critical(self, event: str, **kw: Any) -> None:
        self._log.critical(event, **kw)


class CoordinatedController:
    """The operator's side: decide a transition like a `Controller`, store it in a coordinator.

    Each call reads the coordinator, decides on that state with the policy's graph, the guards
    and the authorizer (a refusal raises `TransitionRefused`, nothing is stored), then proposes
    the record with a compare-and-swap against the scope's version it was decided on.

    Example:
        >>> from exchange_recovery import LocalCoordinator, default_policy
        >>> ops = CoordinatedController(default_policy(), LocalCoordinator())
        >>> ops.halt(actor="ops:alice", reason="zone down").dest
        'HALTED'
        >>> ops.state().phases["venue"]
        'HALTED'
    """

    def __init__(
        self,
        policy: Policy,
        coordinator: Coordinator,
        *,
        guards: Mapping[str, Guard] | None = None,
        authorizer: Authorizer | None = None,
        clock: Clock = time.time,
        logger: Any = None,
        halt_attempts: int = 5,
    ) -> None:
        if not isinstance(policy, Policy):
            msg = f"CoordinatedController needs a Policy, got {policy!r}"
            raise ConfigurationError(msg)
        if not isinstance(coordinator, Coordinator):
            msg = f"coordinator must implement Coordinator (read/propose/follow/alive), got {coordinator!r}"
            raise ConfigurationError(msg)
        if type(halt_attempts) is not int or halt_attempts < 1:
            msg = f"halt_attempts must be an int >= 1, got {halt_attempts!r}"
            raise ConfigurationError(msg)
        self._policy = policy
        self._coordinator = coordinator
        self._guards = dict(guards or {})
        self._authorizer = authorizer
        self._clock = clock
        self._log = logger if logger is not None else structlog.get_logger("exchange_recovery")
        self._quiet = _DecisionLog(self._log)
        self._halt_attempts = halt_attempts
        self._decide_on(CoordinatorState.of({}), VENUE)  # fail now on missing guards, not at 3 a.m.

    @property
    def policy(self) -> Policy:
        """The policy transitions are decided with."""
        return self._policy

    @property
    def coordinator(self) -> Coordinator:
        """Where decided transitions are stored."""
        return self._coordinator

    def state(self) -> CoordinatorState:
        """A fresh read of the coordinator."""
        return self._coordinator.read()

    def fire(self, trigger: str, *, actor: Actor | str, reason: str, scope: str = VENUE,
             on: CoordinatorState | None = None) -> TransitionRecord:
        """Decide `trigger` on the current state (or `on`) and store it; return the stored record.

        Raises:
            TransitionRefused: refused by the graph, a guard or the authorizer; nothing stored.
            TransitionConflict: another transition of `scope` was stored first; it carries the
                winning state. Nothing of this one was stored.
            CoordinatorError: the coordinator did not answer; the outcome is unknown.
        """
        state = self._coordinator.read() if on is None else on
        record = self._decide_on(state, scope).fire(trigger, actor=actor, reason=reason, scope=scope)
        return self._store(record, state)

    def halt(self, *, actor: Actor | str, reason: str, scope: str = VENUE) -> TransitionRecord | None:
        """Move `scope` to the fail-safe phase; None if the coordinator has it there already.

        A halt is never lost to a race: on a conflict it reads again and retries (up to
        ``halt_attempts`` times) unless the winner already halted the scope.
        """
        for attempt in range(1, self._halt_attempts + 1):
            state = self._coordinator.read()
            record = self._decide_on(state, scope).halt(actor=actor, reason=reason, scope=scope)
            if record is None:
                return None
            try:
                return self._store(record, state)
            except TransitionConflict:
                if attempt == self._halt_attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def __getattr__(self, name: str) -> Callable[..., TransitionRecord]:
        policy: Policy = self.__dict__.get("_policy")  # type: ignore[assignment]
        if policy is not None and not name.startswith("_") and name in policy.triggers:
            def fire(**kwargs: Any) -> TransitionRecord:
                return self.fire(name, **kwargs)
            return fire
        msg = f"{type(self).__name__!r} object has no attribute {name!r}"
        raise AttributeError(msg)

    def _decide_on(self, state: CoordinatorState, scope: str) -> Controller:
        """A controller holding only what deciding a transition of `scope` reads: its phase and
        the venue's (a decision never looks at other scopes, and building a controller with
        every instrument's phase would cost O(instruments) per decision)."""
        records = {s: r for s, r in state.records.items() if s in (VENUE, scope)}
        return Controller(
            self._policy, guards=self._guards, authorizer=self._authorizer, clock=self._clock,
            logger=self._quiet, phases={s: r.dest for s, r in records.items()},
            version=state.version,
            # dwell guards count from when each stored phase was entered
            entered_at={s: r.timestamp for s, r in records.items()},
        )

    def _store(self, record: TransitionRecord, state: CoordinatorState) -> TransitionRecord:
        expected = state.version_of(record.scope)
        try:
            stored = self._coordinator.propose(record, expected)
        except TransitionConflict as lost:
            self._log.warning("transition_refused", code=lost.code.value, scope=lost.scope,
                              phase=lost.phase, trigger=lost.trigger, actor=record.actor,
                              detail=lost.detail, reason=record.reason)
            raise
        self._log.info("phase_changed", scope=stored.scope, from_phase=stored.source,
                       to_phase=stored.dest, trigger=stored.trigger, actor=stored.actor,
                       reason=stored.reason, version=stored.version, relaxing=stored.relaxing)
        return stored
