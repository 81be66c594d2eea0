"""Transition listeners: how an engine learns that a scope changed phase, and what to do now.

`Controller.add_listener` and `Follower.add_listener` take a callable that gets one
`PhaseChange` per scope whose published phase changed:

- **after publication**: when a listener runs, every `check` already sees the new phase;
- **in version order, never concurrently** for one controller or follower: changes are queued
  under the publisher's lock (so in the order they were published) and delivered, outside it,
  by whichever thread holds the delivery lock, until the queue is empty. The thread that made
  a change returns only once its change was delivered, except when it is itself a listener
  (a listener that halts does not wait for itself: its change is delivered right after);
- **isolated**: a listener that raises is reported (a critical ``listener_failed`` event) and
  the next one still runs; a transition is never undone by a listener.

`PhaseChanges` is the asyncio form: a listener that hands each change to an event loop, and
an async iterator over them.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any, Final

import attrs

from .._core.codes import SystemCancel
from .._core.disposition import NO_DEFERRALS, Deferrals, Disposition
from .._core.errors import ConfigurationError
from .._core.text import shown
from .._decide.records import TransitionRecord

SYSTEM_ACTOR_PREFIX: Final = "exchange_recovery:"
"""Actors the library itself fires as (a refused record, a fail-safe restart)."""


@attrs.frozen
class PhaseChange:
    """One scope's published phase changed: what a listener is told.

    ``disposition`` is what entering ``dest`` does to resting orders (`Disposition.rule` per
    order) and which suspended ones it reinstates. A venue change applies to every
    instrument's orders, an instrument change to that instrument's. ``cancel_code`` is the
    `SystemCancel` to send with the cancels it asks for: SYSTEM_FAILURE when the library
    failed the scope safe by itself, TRADING_HALT otherwise. ``record`` is None for a
    follower's local fail-safe (no news) and its recovery. ``deferrals`` says which requests
    held by deferral (`Reason.DEFERRED`) are released, refused or keep waiting. ``cause`` is
    what made the change: ``fired`` (a trigger here), ``applied`` (`Controller.apply`),
    ``followed`` or ``adopted`` (a follower's record or full read), ``refused`` (an update a
    follower refused), ``stale`` or ``fresh`` (a follower failing safe for lack of news, and its
    first fresh read after that).
    """

    scope: str
    source: str
    dest: str
    version: int
    disposition: Disposition
    cause: str
    record: TransitionRecord | None = None
    deferrals: Deferrals = NO_DEFERRALS

    @property
    def cancel_code(self) -> SystemCancel:
        """The system-cancel code for the orders this change cancels."""
        system = self.cause in ("stale", "refused") or (
            self.record is not None and self.record.actor.startswith(SYSTEM_ACTOR_PREFIX))
        return SystemCancel.SYSTEM_FAILURE if system else SystemCancel.TRADING_HALT


Listener = Callable[[PhaseChange], object]


class Listeners:
    """The listeners of one publisher, and its queue of changes not yet delivered."""

    def __init__(self, log: Any, name: str) -> None:
        self._fns: tuple[_Entry, ...] = ()
        self._queue: collections.deque[PhaseChange] = collections.deque()
        self._delivering = threading.Lock()
        self._owner: int | None = None  # the thread delivering now
        self._edit = threading.Lock()
        self._log = log
        self._name = name

    def add(self, listener: Listener) -> Callable[[], None]:
        """Register `listener`; return a function that removes it again.

        Raises:
            ConfigurationError: `listener` is not callable.
        """
        if not callable(listener):
            msg = f"a listener must be callable with one PhaseChange, got {shown(listener)}"
            raise ConfigurationError(msg)
        entry = _Entry(listener)
        with self._edit:
            self._fns = (*self._fns, entry)

        def remove() -> None:
            with self._edit:
                self._fns = tuple(fn for fn in self._fns if fn is not entry)

        return remove

    @property
    def active(self) -> bool:
        """Whether any listener is registered (else changes are not even built)."""
        return bool(self._fns)

    def enqueue(self, change: PhaseChange) -> None:
        """Queue `change` (called under the publisher's lock: the queue is in version order)."""
        if self._fns:
            self._queue.append(change)

    def deliver(self) -> None:
        """Deliver every queued change, in order, unless this thread is delivering already.

        With listeners registered it always takes the delivery lock, even when the queue looks
        empty: another thread may be delivering this thread's change right now, and this call
        must return only after that delivery ends.
        """
        if not self._fns or self._owner == threading.get_ident():
            return
        with self._delivering:
            self._owner = threading.get_ident()
            try:
                queue = self._queue
                while queue:
                    change = queue.popleft()
                    for fn in self._fns:
                        try:
                            fn(change)
                        except Exception as exc:  # isolated: reported, never undone
                            self._log.critical(
                                "listener_failed", name=self._name, listener=fn.name,
                                scope=change.scope, version=change.version,
                                to_phase=change.dest, error=shown(exc, 200))
            finally:
                self._owner = None


class _Entry:
    """A registered listener (its own object, so that one callable may be added twice)."""

    __slots__ = ("fn", "name")

    def __init__(self, fn: Listener) -> None:
        self.fn = fn
        try:
            qualname = fn.__qualname__
        except Exception:  # a callable without one, or one whose attributes raise
            qualname = None
        self.name = qualname[:80] if isinstance(qualname, str) else shown(fn, 80)

    def __call__(self, change: PhaseChange) -> object:
        return self.fn(change)


class PhaseChanges:
    """Phase changes as an asyncio stream: add it as a listener, iterate it in the loop.

    Each change is handed to `loop` with ``call_soon_threadsafe`` (so in order), and read with
    ``async for change in changes`` or ``await changes.get()``. Build it in the loop's thread
    (or pass the loop).

    Example:
        >>> import asyncio
        >>> from exchange_recovery import Controller, default_policy
        >>> async def main():
        ...     controller = Controller(default_policy())
        ...     changes = PhaseChanges()
        ...     controller.add_listener(changes)
        ...     controller.halt(actor="ops:alice", reason="zone down")
        ...     change = await changes.get()
        ...     return change.dest, change.disposition.changes_anything
        >>> asyncio.run(main())
        ('HALTED', True)
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        if loop is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                msg = "PhaseChanges needs a running event loop (build it inside one) or loop="
                raise ConfigurationError(msg) from None
        if not isinstance(loop, asyncio.AbstractEventLoop):
            msg = f"loop must be an asyncio event loop, got {shown(loop)}"
            raise ConfigurationError(msg)
        self._loop = loop
        self._queue: asyncio.Queue[PhaseChange] = asyncio.Queue()

    def __call__(self, change: PhaseChange) -> None:
        """The listener: hand `change` to the loop (from any thread)."""
        self._loop.call_soon_threadsafe(self._queue.put_nowait, change)

    async def get(self) -> PhaseChange:
        """The next change (waits for one)."""
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[PhaseChange]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[PhaseChange]:
        while True:
            yield await self._queue.get()
