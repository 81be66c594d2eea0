"""What a transition is, as data: its record and the context guards see; the seams' types."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from .._core.model import Actor
from .._trust.approvals import SignedApproval


def _approvals(value: Iterable[SignedApproval]) -> tuple[SignedApproval, ...]:
    return tuple(value)


@attrs.frozen
class TransitionRecord:
    """One transition as it is journaled: who moved which scope from where to where, and why.

    With an identity directory, a relaxing record also carries what makes it trustworthy
    wherever it goes: the `policy` fingerprint it was decided under, the `visit` (the version
    at which its scope entered the source phase), the signed `approvals` it needed and the
    firer's `signature` over all of it (see `exchange_recovery.record_message`).
    """

    version: int
    scope: str
    source: str
    dest: str
    trigger: str
    actor: str
    reason: str
    timestamp: float
    relaxing: bool
    policy: str = ""
    visit: int = 0
    approvals: tuple[SignedApproval, ...] = attrs.field(default=(), converter=_approvals)
    signature: bytes = attrs.field(default=b"", repr=lambda s: f"<{len(s)} bytes>")


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
