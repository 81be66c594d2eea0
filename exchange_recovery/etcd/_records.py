"""What is stored under ``scopes/``: one JSON record per scope key, bounded in size.

Everything read from etcd is untrusted input: `decode` refuses a value over the size cap before
parsing it, and anything that is not exactly a record; `scope_of` refuses a key suffix that
names no scope (empty, not UTF-8, unprintable). The coordinator quarantines what these refuse.
"""

from __future__ import annotations

import json

from .._core.errors import ConfigurationError
from .._core.text import shown
from .._decide.records import TRUST_FIELDS, TransitionRecord, parse_trust_fields, trust_fields

MAX_RECORD_BYTES = 16 * 1024
"""The default size cap of one stored record (a record is ~250 bytes plus its reason)."""

_FIELDS = ("scope", "source", "dest", "trigger", "actor", "reason", "timestamp", "relaxing")
_TEXTS = ("scope", "source", "dest", "trigger", "actor", "reason")


def encode(record: TransitionRecord) -> bytes:
    """The stored value of `record` (its version is the key's mod_revision, not stored)."""
    if not isinstance(record, TransitionRecord):
        msg = f"encode() needs a TransitionRecord, got {shown(record)}"
        raise ConfigurationError(msg)
    body: dict[str, object] = {f: getattr(record, f) for f in _FIELDS}
    body.update(trust_fields(record))  # a sealed record's fingerprint, approvals, signature
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def decode(scope: str, value: bytes, revision: int, *,
           max_bytes: int = MAX_RECORD_BYTES) -> TransitionRecord:
    """The record stored at `scope`'s key; raises `ConfigurationError` (a ValueError) if it is
    not one.

    A value over `max_bytes` is refused unparsed.

    Example:
        >>> decode("venue", b"[]", 7)
        Traceback (most recent call last):
        exchange_recovery.ConfigurationError: value is not a transition record: b'[]'
    """
    if type(scope) is not str or not isinstance(value, bytes) or type(max_bytes) is not int \
            or type(revision) is not int:
        msg = (f"decode() needs a scope (str), a value (bytes), a revision and max_bytes (ints), "
               f"got {shown(scope)}, {shown(value)}, {shown(revision)}, {shown(max_bytes)}")
        raise ConfigurationError(msg)
    if len(value) > max_bytes:
        msg = f"value of {len(value)} bytes is over the record size cap of {max_bytes} bytes"
        raise ConfigurationError(msg)
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"value is not JSON: {exc}"
        raise ConfigurationError(msg) from None
    if not isinstance(body, dict) or not set(_FIELDS) <= set(body) <= {*_FIELDS, *TRUST_FIELDS}:
        msg = f"value is not a transition record: {value[:200]!r}"
        raise ConfigurationError(msg)
    if not all(type(body[f]) is str for f in _TEXTS) or type(body["relaxing"]) is not bool \
            or type(body["timestamp"]) not in (int, float):
        msg = f"a record field has the wrong type: {value[:200]!r}"
        raise ConfigurationError(msg)
    if body["scope"] != scope:
        msg = f"record for scope {body['scope'][:100]!r} stored under {shown(scope)}"
        raise ConfigurationError(msg)
    sealed = parse_trust_fields(body)
    return TransitionRecord(version=revision, **{f: body[f] for f in _FIELDS}, **sealed)


def scope_of(suffix: bytes) -> str | None:
    """The scope a key suffix under ``scopes/`` names; None if it names none.

    Example:
        >>> scope_of(b"venue"), scope_of(b""), scope_of(b"\\xff"), scope_of(b"a\\nb")
        ('venue', None, None, None)
    """
    try:
        scope = suffix.decode()
    except UnicodeDecodeError:
        return None
    return scope if scope and scope.isprintable() else None
