"""Transition records and the journal interface the controller writes them to.

The controller calls `Journal.append` for every transition: *before* publishing a relaxing one
(write-ahead: if the write fails the transition is refused) and *after* publishing a tightening
one (a halt is never blocked by storage). `MemoryJournal` keeps records in a list, for tests and
simulations; durable journals implement the same one-method protocol.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import attrs

from ._model import Actor


@attrs.frozen
class TransitionRecord:
    """One transition as it is journaled: who moved which scope from where to where, and why."""

    version: int
    scope: str
    source: str
    dest: str
    trigger: str
    actor: str
    reason: str
    timestamp: float
    relaxing: bool


@attrs.frozen
class TransitionContext:
    """What guards and authorizers see about a transition that is about to happen."""

    scope: str
    source: str
    dest: str
    trigger: str
    actor: Actor
    reason: str
    now: float
    entered_at: float
    relaxing: bool
    version: int

    @property
    def dwell(self) -> float:
        """Seconds spent in the source phase so far."""
        return self.now - self.entered_at

    def record(self) -> TransitionRecord:
        """The journal record of this transition."""
        return TransitionRecord(self.version, self.scope, self.source, self.dest, self.trigger,
                                self.actor.name, self.reason, self.now, self.relaxing)


Guard = Callable[[TransitionContext], bool]
"""A guard: returns True to let a transition happen. Raising refuses it (fails closed): raising
`TransitionRefused` refuses with that code (the built-in guards do), anything else is
GUARD_FAILED."""

Authorizer = Callable[[TransitionContext], bool | None]
"""Called before every transition; raises `TransitionRefused` (UNAUTHORIZED) or returns False
to refuse it (anything but None or True refuses: an authorizer fails closed)."""

Clock = Callable[[], float]
"""A clock in seconds (the epoch for records, monotonic for staleness); injectable so tests
and simulations control time."""


@runtime_checkable
class Journal(Protocol):
    """Where the controller writes transition records; `append` raises if the write failed."""

    def append(self, record: TransitionRecord) -> None:
        """Durably store `record`, or raise."""


class MemoryJournal:
    """A journal that keeps records in memory (tests, simulations); never fails."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[TransitionRecord] = []

    def append(self, record: TransitionRecord) -> None:
        """Keep `record`."""
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> tuple[TransitionRecord, ...]:
        """Every record appended so far, oldest first."""
        with self._lock:
            return tuple(self._records)
