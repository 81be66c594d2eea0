"""The journal's line format: one JSON record a line, SHA-256-chained, optionally keyed.

Line format (format 1). Every line is ``{"hash":"<64 hex>",``, then, in a keyed journal,
``"mac":"<64 hex>",``, then the rest of the record's canonical JSON (keys sorted, no spaces,
UTF-8)::

    {"hash":"9f…","mac":"0d…","actor":"ops:lead","format":1,"from":"HALTED",
     "kind":"transition","prev":"4c…","reason":"zone restored","relaxing":true,
     "scope":"venue","time":"2022-12-18T10:51:00.000000Z","to":"PRE_OPEN",
     "trigger":"pre_open","version":3}

The *body* is the canonical JSON without ``hash`` and ``mac``; it includes ``prev``, the
previous record's hash (the first record of a fresh journal has 64 zeros). ``hash`` is the
SHA-256 of the body; ``mac`` is the HMAC-SHA256 of the same body under the journal's key
(`JournalKey`), so it is chained too: it covers ``prev``. Because both cover exactly the bytes
stored, a verifier never re-encodes a record: it hashes a slice of the line. Anyone can
recompute a hash; only a holder of the key can compute a MAC.

A record sealed by a controller with an identity directory also carries ``policy``,
``visit``, ``approvals`` and ``signature`` (and its exact float ``timestamp``), so that its
signatures can be checked again from the journal.

A ``note`` record (kind ``note``) carries durable data that is not a phase change (an
auction's schedule, a deadline, a maintenance window, mark prices at a halt): ``topic``,
``scope``, the data as a JSON object under ``note`` and the exact ``timestamp``. It does not
advance the version: it carries the version it was written at.

A ``snapshot`` record (kind ``snapshot``) carries every scope's phase and the version instead
of from/to/trigger; it starts a compacted journal (its ``prev`` is the last hash of the archived
file) or a journal restarted in the fail-safe phase.

Text that UTF-8 cannot encode (a lone surrogate such as ``"\\udcff"``, which ``sys.argv`` makes
of invalid UTF-8) is written as its JSON escape (``\\udcff``), which reads back as the same
string: a halt is never left unjournaled because of its reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from .._core.text import shown
from .._decide.records import (
    JournalNote,
    TransitionRecord,
    note_payload,
    parse_trust_fields,
    trust_fields,
)

if TYPE_CHECKING:
    from .keys import JournalKey

FORMAT: Final = 1
GENESIS: Final = "0" * 64
"""The ``prev`` of the first record of a journal that has no predecessor."""
MAX_RECORD: Final = 64 * 1024
"""The longest transition line (bytes, newline included) a `FileJournal` writes by default."""

PREFIX: Final = b'{"hash":"'
HASH_END: Final = len(PREFIX) + 64  # the hash occupies line[9:73]
MAC_FIELD: Final = b'"mac":"'
_PLAIN_BODY: Final = HASH_END + 2  # '",' then the body after its '{'
_MAC_START: Final = _PLAIN_BODY + len(MAC_FIELD)
_KEYED_BODY: Final = _MAC_START + 64 + 2


def utc_text(seconds: float) -> str:
    """An ISO-8601 UTC time with microseconds and a ``Z``."""
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical(fields: Mapping[str, Any]) -> bytes:
    """Canonical JSON bytes: keys sorted, no spaces, UTF-8 (unencodable text escaped)."""
    text = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8", "backslashreplace")  # a lone surrogate becomes its JSON escape


def encode(fields: Mapping[str, Any], prev: str,
           key: JournalKey | None = None) -> tuple[bytes, str]:
    """The line (with its newline) for a record's fields chained after `prev`, and its hash;
    with `key`, the line carries the body's MAC too."""
    body = canonical({**fields, "format": FORMAT, "prev": prev})
    digest = hashlib.sha256(body).hexdigest()
    mac = b"" if key is None else MAC_FIELD + key.mac(body).encode() + b'",'
    return PREFIX + digest.encode() + b'",' + mac + body[1:] + b"\n", digest


def split_line(line: bytes) -> tuple[str, str | None, int] | None:
    """(stored hash, stored MAC or None, where the body resumes after its ``{``) of a line
    without its newline; None if the line does not have the shape every record line has."""
    if not line.startswith(PREFIX) or line[HASH_END:_PLAIN_BODY] != b'",':
        return None
    stored = line[len(PREFIX):HASH_END].decode("ascii", "replace")
    if line.startswith(MAC_FIELD, _PLAIN_BODY) and line[_KEYED_BODY - 2:_KEYED_BODY] == b'",':
        return stored, line[_MAC_START:_KEYED_BODY - 2].decode("ascii", "replace"), _KEYED_BODY
    return stored, None, _PLAIN_BODY


def body_of(line: bytes, start: int) -> bytes:
    """The canonical body of a line whose body resumes at `start` (see `split_line`)."""
    return b"{" + line[start:]


def line_hash(line: bytes) -> tuple[str, str] | None:
    """(stored hash, hash of the stored body) of one line without its newline; None if the
    line does not have the shape every record line has."""
    parts = split_line(line)
    if parts is None:
        return None
    body = hashlib.sha256(b"{")
    body.update(memoryview(line)[parts[2]:])  # no copy of a line that may be megabytes
    return parts[0], body.hexdigest()


def transition_fields(record: TransitionRecord) -> dict[str, Any]:
    """The journaled fields of a transition record.

    A sealed record (one a controller with an identity directory signed) also keeps what
    makes it verifiable later: its policy fingerprint, visit, signed approvals, signature
    (`trust_fields`) and its exact ``timestamp`` (the signature covers the float, which the
    microsecond ``time`` text does not always give back).
    """
    fields = {"kind": "transition", "version": record.version,
              "time": utc_text(record.timestamp), "scope": record.scope, "from": record.source,
              "to": record.dest, "trigger": record.trigger, "actor": record.actor,
              "reason": record.reason, "relaxing": record.relaxing}
    sealed = trust_fields(record)
    if sealed:
        fields.update(sealed, timestamp=record.timestamp)
    return fields


def record_of(obj: Mapping[str, Any]) -> TransitionRecord:
    """The transition record a journal line's JSON object holds (trust fields included).

    Raises:
        ValueError, KeyError, TypeError: the object is not a well-formed transition record.
    """
    timestamp = obj.get("timestamp", 0.0)
    if type(timestamp) not in (int, float):
        msg = f"timestamp must be a number, got {shown(timestamp)}"
        raise TypeError(msg)
    return TransitionRecord(obj["version"], obj["scope"], obj["from"], obj["to"], obj["trigger"],
                            obj["actor"], obj["reason"], float(timestamp), obj["relaxing"],
                            **parse_trust_fields(obj))


def snapshot_fields(phases: Mapping[str, str], version: int, *, actor: str, reason: str,
                    now: float) -> dict[str, Any]:
    """The journaled fields of a snapshot: every scope's phase at `version`."""
    return {"kind": "snapshot", "version": version, "time": utc_text(now),
            "phases": dict(sorted(phases.items())), "actor": actor, "reason": reason}


def note_fields(note: JournalNote) -> dict[str, Any]:
    """The journaled fields of a note: its data as a JSON object under ``note``, its exact
    ``timestamp`` (the microsecond ``time`` text is for people)."""
    return {"kind": "note", "version": note.version, "time": utc_text(note.timestamp),
            "timestamp": note.timestamp, "topic": note.topic, "scope": note.scope,
            "actor": note.actor, "note": json.loads(note.payload)}


def note_of(obj: Mapping[str, Any]) -> JournalNote:
    """The note a journal line's JSON object holds (its shape already checked)."""
    return JournalNote(obj["topic"], obj["scope"], note_payload(obj["note"]), obj["actor"],
                       float(obj["timestamp"]), obj["version"])
