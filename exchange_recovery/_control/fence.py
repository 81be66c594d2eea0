"""The fence: a halt that engines batching their write-ahead log cannot outrun.

An engine that group-commits its WAL checks a batch of orders, writes and fsyncs the batch, and
only then matches it. A halt published during the fsync comes too late for the batch's checks,
and checking again after the fsync would journal refused commands. The fence closes that gap
with two reads per batch and no lock on the order path.

The engine (one thread matches, batches in order)::

    stamp = fence.stamp()                 # R1: before the batch's first check
    batch = [o for o in orders if check(o).accepted]
    wal.write(batch); wal.fsync()
    while not fence.clear(stamp):         # R2: after the write, just before matching
        stamp = fence.stamp()             # R3: re-check under the newer phases; cancel
        batch, cancelled = recheck(batch) #     what they refuse (a system cancel, journaled)
    match(batch)
    fence.acknowledge(stamp)              # R4: after matching (idle: acknowledge(stamp()))

The operator: ``record = controller.halt(...)``, then ``fence.wait(record.version, timeout)``.

**Invariant.** Once ``acknowledged >= v``, every order the engine matches was last checked with
the tables of every tightening of version ``<= v`` in force (publications that only relax
refuse nothing the older tables accepted); and an order whose batch clears after a tightening
began to publish is matched only if that tightening's tables accept it. So, with the gate's own
promise: no order checked after ``halt()`` returns is accepted, and once ``wait(halt.version)``
returns True no order accepted before the halt fills.

**Proof sketch.** Under CPython's GIL each attribute load and store is atomic and threads
interleave whole bytecodes in program order: the loads and stores below are sequentially
consistent. A publication that may refuse more, of version ``T``, runs w1 ``tightened = T``,
w2 the tables, w3 ``version = T`` (`Gate._publish_scope`; one writer at a time). ``tightened``
and ``version`` never decrease. Take a batch stamped ``s`` (R1, a load of ``version``) whose
clear (R2, a load of ``tightened``) reads ``t``:

1. ``s >= T``: w3 came before R1, so w2 came before every check of the batch: they saw ``T``.
2. ``s < T`` and w1 came before R2: then ``t >= T > s``, the clear fails, and the engine
   stamps again and re-checks (R3) until a clear succeeds, which needs a stamp ``s' >= t >= T``:
   the last re-checks saw ``T`` by case 1.
3. ``s < T`` and R2 came before w1: every check of the batch came before ``halt()`` even began
   to publish. These orders were rightly accepted; they are matched now, before any later batch.

Acknowledging a version ``>= T`` (R4) comes after the load of that stamp (R1 or R3), so after
w3 and w1. Every batch matched later is cleared later (its R2 after this R4: one thread, in
order), so after w1: case 1 or 2, never case 3. That holds for each tightening ``T <= v``:
hence the invariant. The engine's part is R1-R4; `acknowledge` also refuses a version
the gate has not published, so a confused engine cannot acknowledge ahead of the gate.

Costs: `stamp` and `clear` are one attribute load each (plus an argument check in `clear`), no
lock; `acknowledge` takes a small lock only when the acknowledged version moves (once per
transition), and `wait` is the only method that blocks.

Limits: one engine (one matching thread) per fence; several engines take one fence each and
the operator waits on each. Publications that re-use a version (a `Follower` holding scopes in
the fail-safe phase when its coordinator goes quiet or a record is junk) move neither version
nor the stamp: the fence guarantees nothing about them, only about transitions.
"""

from __future__ import annotations

import threading
import time
from typing import Final, NoReturn

from .._core.errors import ConfigurationError
from .._core.gate import Gate
from .._core.text import shown

MAX_WAIT: Final = 86_400.0
"""The longest `Fence.wait` (a day, in seconds): an operator waiting longer for an engine has
lost it, and a longer timeout is a mistake."""


class Fence:
    """Makes a halt hold for an engine that batches its write-ahead log writes.

    The engine stamps each batch before checking it (`stamp`), asks after writing it whether a
    tightening overtook it (`clear`; if so it re-checks the batch with `Gate.check` and cancels
    what is now refused), and acknowledges the stamp once the batch is matched
    (`acknowledge`). The operator waits for the engine to acknowledge a transition's version
    (`wait`). See the module docstring for the protocol and its proof, and
    docs/integrating.md, "Engines that batch their WAL writes".

    Args:
        gate: The gate the engine checks orders with (``controller.gate``, ``follower.gate``).

    Raises:
        ConfigurationError: `gate` is not a `Gate`.

    Example:
        >>> from exchange_recovery import Controller, default_policy
        >>> controller = Controller(default_policy())
        >>> fence = Fence(controller.gate)
        >>> stamp = fence.stamp()                     # engine: before checking the batch
        >>> record = controller.halt(actor="ops:alice", reason="zone down")
        >>> fence.clear(stamp)                         # engine: after the fsync
        False
        >>> fence.wait(record.version, timeout=0.0)    # operator: not acknowledged yet
        False
        >>> stamp = fence.stamp()                     # engine: re-check the batch, then
        >>> fence.clear(stamp)
        True
        >>> fence.acknowledge(stamp)                   # ... match it and acknowledge
        >>> fence.wait(record.version, timeout=2.0), fence.acknowledged
        (True, 1)
    """

    __slots__ = ("__weakref__", "_acknowledged", "_changed", "_gate")

    def __init__(self, gate: Gate) -> None:
        if not isinstance(gate, Gate):
            msg = f"gate must be a Gate (controller.gate, follower.gate), got {shown(gate)}"
            raise ConfigurationError(msg)
        self._gate = gate
        self._acknowledged = 0
        self._changed = threading.Condition(threading.Lock())

    # -- the engine, once per batch ----------------------------------------------------------

    def stamp(self) -> int:
        """The gate's version now: read it before the first check of a batch.

        Returns:
            The version to stamp the batch with, for `clear` and `acknowledge`.
        """
        return self._gate._version  # the slot, not the property: no call

    def clear(self, stamp: int) -> bool:
        """Whether no tightening overtook the batch stamped `stamp`: call it after writing the
        batch to the WAL and just before matching it.

        Args:
            stamp: What `stamp` returned before the batch's first check.

        Returns:
            True: match the batch. False: a publication that may refuse more started after the
            stamp; take a new `stamp`, re-check every order of the batch with `Gate.check`,
            cancel the ones now refused (a system cancel, journaled as a cancel), and ask
            again with the new stamp.

        Raises:
            ConfigurationError: `stamp` is not an int >= 0.
        """
        if type(stamp) is not int or stamp < 0:
            _bad_version("stamp", stamp)
        return self._gate._tightened <= stamp

    def acknowledge(self, version: int) -> None:
        """Tell the operator the engine has applied every phase up to `version`.

        Call it once a batch is matched, with the stamp it was cleared with (an idle engine,
        with nothing in flight, may acknowledge `stamp()` directly). An older version than
        the one acknowledged is ignored: `acknowledged` never goes back.

        Args:
            version: The stamp of the batch just matched.

        Raises:
            ConfigurationError: `version` is not an int >= 0, or is newer than the gate's
                version (no stamp can be: the engine acknowledged something it never read).
        """
        if type(version) is not int or version < 0:
            _bad_version("version", version)
        if version <= self._acknowledged:  # the common case: no lock
            return
        published = self._gate._version
        if version > published:
            msg = (f"version {shown(version)} is newer than the gate's ({published}): acknowledge "
                   f"the stamp of a batch, which is never ahead of the gate")
            raise ConfigurationError(msg)
        with self._changed:
            if version > self._acknowledged:
                self._acknowledged = version
                self._changed.notify_all()

    # -- the operator ---------------------------------------------------------------------------

    @property
    def acknowledged(self) -> int:
        """The latest version the engine acknowledged (0 until it acknowledges one)."""
        return self._acknowledged

    @property
    def gate(self) -> Gate:
        """The gate this fence reads."""
        return self._gate

    def wait(self, version: int, timeout: float) -> bool:
        """Block until the engine acknowledged `version`, or `timeout` seconds passed.

        After ``record = controller.halt(...)``, ``fence.wait(record.version, timeout=2.0)``
        returning True means no order accepted before the halt will fill any more.

        Args:
            version: A transition's version (``record.version``).
            timeout: Seconds to wait at most (0 only looks; at most a day, 86400).

        Returns:
            Whether the engine acknowledged `version` (or a later one) in time.

        Raises:
            ConfigurationError: `version` is not an int >= 0, or `timeout` is not a finite
                number of seconds from 0 to 86400.
        """
        if type(version) is not int or version < 0:
            _bad_version("version", version)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) \
                or not 0 <= timeout <= MAX_WAIT:  # NaN fails the comparison too
            msg = (f"timeout must be a finite number of seconds from 0 to {MAX_WAIT:g}, "
                   f"got {shown(timeout)}")
            raise ConfigurationError(msg)
        if self._acknowledged >= version:
            return True
        deadline = time.monotonic() + float(timeout)
        with self._changed:
            while self._acknowledged < version:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
        return True

    def __repr__(self) -> str:
        return f"<Fence acknowledged={self._acknowledged} gate_version={self._gate.version}>"


def _bad_version(field: str, value: object) -> NoReturn:
    msg = f"{field} must be a gate version (an int >= 0), got {shown(value)}"
    raise ConfigurationError(msg)
