"""The journal interface the controller writes transition records to, and an in-memory one.

The controller calls `Journal.append` for every transition: *before* publishing a relaxing one
(write-ahead: if the write fails the transition is refused) and *after* publishing a tightening
one (a halt is never blocked by storage). `MemoryJournal` keeps records in a list, for tests and
simulations; durable journals implement the same one-method protocol. A journal that also has
``note(note)`` stores `JournalNote`s (`Controller.note`): both journals here do.
"""

from __future__ import annotations

import threading
from typing import Protocol, runtime_checkable

from .._decide.records import JournalNote, TransitionRecord


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
        self._notes: list[JournalNote] = []

    def append(self, record: TransitionRecord) -> None:
        """Keep `record`."""
        with self._lock:
            self._records.append(record)

    def note(self, note: JournalNote) -> None:
        """Keep `note` (see `Controller.note`)."""
        with self._lock:
            self._notes.append(note)

    @property
    def notes(self) -> tuple[JournalNote, ...]:
        """Every note written so far, oldest first."""
        with self._lock:
            return tuple(self._notes)

    @property
    def records(self) -> tuple[TransitionRecord, ...]:
        """Every record appended so far, oldest first."""
        with self._lock:
            return tuple(self._records)
