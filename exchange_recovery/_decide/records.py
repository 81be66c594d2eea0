"""What a transition is, as data: its record and the context guards see; the seams' types."""

from __future__ import annotations

import base64
import binascii
import json
import math
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


NOTE_LIMIT: Final = 48 * 1024
"""The longest a note's data may be, as canonical JSON (bytes)."""
_NOTE_DEPTH: Final = 8


@attrs.frozen
class JournalNote:
    """Durable data that is not a phase change, journaled between transitions: an auction's
    schedule, a deadline, a maintenance window, the mark prices at a halt.

    A note is chained, keyed and anchored like a transition record, but does not advance the
    version: it carries the version it was written at. `recover()` gives back the latest
    note per (topic, scope). `payload` is the data as canonical JSON; `data` parses it again
    (a fresh dict every time: a note cannot be changed after it is written).

    Example:
        >>> note = JournalNote("marks", "venue", '{"BTC-USDT":"16800.5"}', "ops:alice", 1.0, 3)
        >>> note.data["BTC-USDT"]
        '16800.5'
    """

    topic: str
    scope: str
    payload: str
    actor: str
    timestamp: float
    version: int

    @property
    def data(self) -> dict[str, Any]:
        """The note's data (a new dict, parsed from `payload`)."""
        parsed: dict[str, Any] = json.loads(self.payload)
        return parsed


def note_payload(data: object) -> str:
    """`data` as the canonical JSON a note carries (keys sorted, no spaces).

    Raises:
        ConfigurationError: `data` is not a mapping of str keys to JSON values (str, int,
            finite float, bool, None, lists and mappings of them, at most 8 deep), or its
            JSON is over `NOTE_LIMIT` bytes.
    """
    if not isinstance(data, Mapping):
        msg = f"note data must be a mapping of str to JSON values, got {shown(data)}"
        raise ConfigurationError(msg)
    problem = _json_problem(data, 0)
    if problem is not None:
        msg = f"note data: {problem}"
        raise ConfigurationError(msg)
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)
    if len(text.encode("utf-8", "backslashreplace")) > NOTE_LIMIT:
        msg = f"note data is over {NOTE_LIMIT} bytes as JSON"
        raise ConfigurationError(msg)
    return text


def _json_problem(value: object, depth: int) -> str | None:
    """Why `value` is not a plain JSON value, or None."""
    if depth > _NOTE_DEPTH:
        return f"nested deeper than {_NOTE_DEPTH}"
    if value is None or type(value) in (str, bool, int):
        return None
    if type(value) is float:
        return None if math.isfinite(value) else f"{value!r} is not a finite number"
    if type(value) in (list, tuple):
        for item in value:  # type: ignore[attr-defined]
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if type(key) is not str:
                return f"key {shown(key)} is not a str"
            problem = _json_problem(item, depth + 1)
            if problem is not None:
                return problem
        return None
    return f"{shown(value)} is not a JSON value (str, int, float, bool, None, list, dict)"
