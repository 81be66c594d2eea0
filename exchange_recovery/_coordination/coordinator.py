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
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, TransitionConflict
from .._core.text import shown
from .._decide.records import TransitionRecord
from .state import CoordinatorState

if TYPE_CHECKING:
    from .follower import Follower


Unsubscribe = Callable[[], None]
"""Stops following; idempotent."""


@runtime_checkable
class Coordinator(Protocol):
    """Where the authoritative phases live; see the module docstring for the contract."""

    def read(self, scopes: Iterable[str] | None = None) -> CoordinatorState:
        """A consistent snapshot of every scope's record and the version (or of `scopes` only:
        a decision about one scope reads nothing else, so a halt does not depend on the rest).

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

    def read(self, scopes: Iterable[str] | None = None) -> CoordinatorState:
        """Every scope's record and the version (or `scopes`' records only)."""
        if scopes is not None and (isinstance(scopes, str) or not isinstance(scopes, Iterable)):
            msg = f"scopes must be an iterable of scope names, got {shown(scopes)}"
            raise ConfigurationError(msg)
        with self._lock:
            if scopes is None:
                return CoordinatorState.of(self._records, self._version)
            try:
                wanted = {s for s in scopes if type(s) is str}
            except Exception as exc:
                msg = f"scopes must be an iterable of scope names, got {shown(scopes)}"
                raise ConfigurationError(msg) from exc
            return CoordinatorState.of({s: r for s, r in self._records.items() if s in wanted},
                                       self._version)

    def propose(self, record: TransitionRecord, expected: int) -> TransitionRecord:
        """Store `record` if its scope is still at version `expected` (compare-and-swap)."""
        if not isinstance(record, TransitionRecord):
            msg = f"propose() needs a TransitionRecord, got {shown(record)}"
            raise ConfigurationError(msg)
        if type(expected) is not int or not 0 <= expected < 2**63:
            msg = f"expected must be the scope's version, an int >= 0, got {shown(expected)}"
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
        try:
            conforms = callable(getattr(follower, "adopt", None)) and callable(
                getattr(follower, "apply", None))
        except Exception:  # a hostile __getattr__
            conforms = False
        if not conforms:
            msg = f"follow() needs a Follower, got {shown(follower)}"
            raise ConfigurationError(msg)
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
