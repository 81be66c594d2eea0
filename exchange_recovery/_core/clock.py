"""A clock that moves only when told to: the test double for every ``clock=`` argument.

Published as `exchange_recovery.testing.ManualClock`. It lives in the pure core (no I/O, no
dependency) so that the restart-plan simulator, two layers up, can run on it too.
"""

from __future__ import annotations

import math
import numbers
import threading

from .errors import ConfigurationError
from .text import shown


def _seconds(name: str, value: object, *, allow_negative: bool) -> float:
    """`value` as float seconds, or a `ConfigurationError` naming `name` and the value."""
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        msg = f"{name} must be a number of seconds, got {shown(value)}"
        raise ConfigurationError(msg)
    try:
        seconds = float(value)
    except (OverflowError, ValueError, TypeError):
        seconds = math.inf
    if not math.isfinite(seconds):
        msg = f"{name} must be finite, got {shown(value)}"
        raise ConfigurationError(msg)
    if seconds < 0 and not allow_negative:
        msg = f"{name} must be >= 0 (to set an earlier time, assign `now`), got {shown(value)}"
        raise ConfigurationError(msg)
    return seconds


class ManualClock:
    """A clock for tests and simulations: calling it returns `now`, which changes only when told.

    Pass it wherever the library takes a ``clock`` (any ``Callable[[], float]`` returning
    seconds). `advance` moves it forward; assigning `now` sets it to any finite time, also an
    earlier one (to test a wall clock stepped back). Safe to share between threads.

    Args:
        start: The time in seconds the clock shows until it is moved (finite, not a bool).

    Raises:
        ConfigurationError: `start`, a new `now` or an `advance` is not a finite number, or
            an `advance` is negative.

    Example:
        >>> from exchange_recovery.testing import ManualClock
        >>> clock = ManualClock(start=100.0)
        >>> clock()
        100.0
        >>> clock.advance(300)
        >>> clock(), clock.now
        (400.0, 400.0)
        >>> clock.advance(-1)
        Traceback (most recent call last):
        ...
        exchange_recovery.ConfigurationError: seconds must be >= 0 (...), got -1
    """

    __slots__ = ("_lock", "_now")

    def __init__(self, start: float = 0.0) -> None:
        self._now = _seconds("start", start, allow_negative=True)
        self._lock = threading.Lock()

    def __call__(self) -> float:
        """The current time in seconds."""
        return self._now

    @property
    def now(self) -> float:
        """The current time in seconds; assign a finite number to set it (backwards too)."""
        return self._now

    @now.setter
    def now(self, value: float) -> None:
        seconds = _seconds("now", value, allow_negative=True)
        with self._lock:
            self._now = seconds

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (finite, >= 0; zero leaves it where it is)."""
        step = _seconds("seconds", seconds, allow_negative=False)
        with self._lock:
            self._now += step

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"

