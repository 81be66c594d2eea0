"""What a transition is, as data: its record and the context guards see; the seams' types."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

import attrs

from .._core.errors import ConfigurationError
from .._core.model import Actor
from .._core.text import shown
from .._trust.approvals import SignedApproval


def _approvals(value: Iterable[SignedApproval]) -> tuple[SignedApproval, ...]:
    if isinstance(value, list | tuple) and all(isinstance(a, SignedApproval) for a in value):
        return tuple(value)
    msg = f"approvals must be a list or tuple of SignedApproval, got {shown(value)}"
    raise ConfigurationError(msg)


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


TRUST_FIELDS: Final = ("policy", "visit", "approvals", "signature")
"""The fields a sealed record adds (stored only when set)."""


def trust_fields(record: TransitionRecord) -> dict[str, object]:
    """A sealed record's trust fields as plain JSON values (the signature in base64); empty
    for a record that carries none, so unsealed records are stored as before."""
    if not (record.policy or record.visit or record.approvals or record.signature):
        return {}
    return {"policy": record.policy, "visit": record.visit,
            "approvals": [a.to_dict() for a in record.approvals],
            "signature": base64.b64encode(record.signature).decode("ascii")}


def parse_trust_fields(body: Mapping[str, object]) -> dict[str, Any]:
    """The trust fields of a stored record (a journal line, an etcd value) as record fields.

    Raises:
        ValueError: a trust field is missing (when any is present) or malformed.
    """
    present = [name for name in TRUST_FIELDS if name in body]
    if not present:
        return {}
    if len(present) != len(TRUST_FIELDS):
        msg = f"a sealed record needs all of {list(TRUST_FIELDS)}, got {present}"
        raise ValueError(msg)
    policy, visit, approvals, signature = (body[name] for name in TRUST_FIELDS)
    if type(policy) is not str or type(visit) is not int or type(signature) is not str \
            or not isinstance(approvals, list) or len(approvals) > 16:
        msg = "a trust field has the wrong type"
        raise ValueError(msg)
    try:
        raw = base64.b64decode(signature, validate=True)
        signed = tuple(SignedApproval.from_dict(a) for a in approvals)
    except (ValueError, TypeError, binascii.Error) as exc:
        msg = f"a trust field is malformed: {exc}"
        raise ValueError(msg) from None
    return {"policy": policy, "visit": visit, "approvals": signed, "signature": raw}
