"""A progress line for long command-line work: drawn on a terminal, silent when piped.

Used by the command line only (it is the only code that prints). Library code that does long
work takes an optional ``on_progress(done, total)`` callable and the CLI passes `Progress.update`.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import TextIO


class Progress:
    """``with Progress(sys.stderr, "verifying", total) as p: p.update(done)``.

    Draws ``label  done/total (pct%)`` on one line, at most every `interval` seconds, and clears
    it on exit. When `stream` is not a terminal nothing is ever written, so scripts and pipes
    get clean output.
    """

    def __init__(self, stream: TextIO, label: str, total: int | None = None, *,
                 interval: float = 0.1, enabled: bool | None = None) -> None:
        self._stream = stream
        self._label = label
        self._total = total
        self._interval = interval
        self._enabled = _is_tty(stream) if enabled is None else enabled
        self._last = 0.0
        self._drawn = False

    @property
    def enabled(self) -> bool:
        """Whether this progress line is drawn at all (only on a terminal by default)."""
        return self._enabled

    def update(self, done: int, total: int | None = None) -> None:
        """Record that `done` units of work are finished (of `total`, if it is now known)."""
        if total is not None:
            self._total = total
        if not self._enabled:
            return
        now = time.monotonic()
        if self._drawn and now - self._last < self._interval and done != self._total:
            return
        self._last = now
        if self._total:
            text = f"{self._label}  {done}/{self._total} ({100 * done // self._total}%)"
        else:
            text = f"{self._label}  {done}"
        self._stream.write("\r\x1b[2K" + text)
        self._stream.flush()
        self._drawn = True

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._drawn:
            self._stream.write("\r\x1b[2K")
            self._stream.flush()


def _is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or exotic stream is no terminal
        return False
