"""A journal in a file: one JSON record a line, each chained to the one before by SHA-256.

Line format (format 1). Every line is ``{"hash":"<64 hex>",`` followed by the rest of the
record's canonical JSON (keys sorted, no spaces, UTF-8)::

    {"hash":"9f…","actor":"ops:lead","format":1,"from":"HALTED","kind":"transition",
     "prev":"4c…","reason":"zone restored","relaxing":true,"scope":"venue",
     "time":"2022-12-18T10:51:00.000000Z","to":"PRE_OPEN","trigger":"pre_open","version":3}

``hash`` is the SHA-256 of the canonical JSON *without* the hash (which includes ``prev``, the
previous record's hash; the first record of a fresh journal has 64 zeros). Because the hash
covers exactly the bytes stored, a verifier never re-encodes a record: it hashes a slice of the
line. A ``snapshot`` record (kind ``snapshot``) carries every scope's phase and the version
instead of from/to/trigger; it starts a compacted journal (its ``prev`` is the last hash of the
archived file) or a journal restarted in the fail-safe phase.

A failed append leaves no trace: the file is truncated back to its last good length, the chain
head does not move, and the exception propagates (the controller then refuses a relaxing
transition, or keeps a tightening one as unjournaled and retries it later).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import pathlib
import re
import threading
from collections.abc import Callable, Mapping
from typing import IO, Any, Literal

from .._core.errors import ConfigurationError, JournalError
from .._decide.records import TransitionRecord

FORMAT = 1
GENESIS = "0" * 64
"""The ``prev`` of the first record of a journal that has no predecessor."""

_PREFIX = b'{"hash":"'
_HASH_END = len(_PREFIX) + 64  # the hash occupies line[9:73]
_BODY_START = _HASH_END + 2  # then '",' and the rest of the body after its '{'
_TAIL_CHUNK = 1 << 16  # how far _read_head steps back at a time looking for the last line

Durability = Literal["fsync", "none"]
Opener = Callable[[pathlib.Path], IO[bytes]]
"""Opens the journal file for appending in binary mode (injectable for fault tests)."""


def utc_text(seconds: float) -> str:
    """An ISO-8601 UTC time with microseconds and a ``Z``."""
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode(fields: Mapping[str, Any], prev: str) -> tuple[bytes, str]:
    """The line (with its newline) for a record's fields chained after `prev`, and its hash."""
    body = json.dumps({**fields, "format": FORMAT, "prev": prev}, sort_keys=True,
                      separators=(",", ":"), ensure_ascii=False).encode()
    digest = hashlib.sha256(body).hexdigest()
    return _PREFIX + digest.encode() + b'",' + body[1:] + b"\n", digest


def line_hash(line: bytes) -> tuple[str, str] | None:
    """(stored hash, hash of the stored body) of one line without its newline; None if the
    line does not have the shape every record line has."""
    if not line.startswith(_PREFIX) or line[_HASH_END:_BODY_START] != b'",':
        return None
    stored = line[len(_PREFIX):_HASH_END].decode("ascii", "replace")
    body = hashlib.sha256(b"{")
    body.update(memoryview(line)[_BODY_START:])  # no copy of a line that may be megabytes
    return stored, body.hexdigest()


def transition_fields(record: TransitionRecord) -> dict[str, Any]:
    """The journaled fields of a transition record."""
    return {"kind": "transition", "version": record.version, "time": utc_text(record.timestamp),
            "scope": record.scope, "from": record.source, "to": record.dest,
            "trigger": record.trigger, "actor": record.actor, "reason": record.reason,
            "relaxing": record.relaxing}


def snapshot_fields(phases: Mapping[str, str], version: int, *, actor: str, reason: str,
                    now: float) -> dict[str, Any]:
    """The journaled fields of a snapshot: every scope's phase at `version`."""
    return {"kind": "snapshot", "version": version, "time": utc_text(now),
            "phases": dict(sorted(phases.items())), "actor": actor, "reason": reason}


def _default_opener(path: pathlib.Path) -> IO[bytes]:
    return open(path, "ab", buffering=0)  # the journal owns it until close()


def fsync_directory(path: pathlib.Path) -> None:
    """Make a file's creation or rename in `path`'s directory durable."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileJournal:
    """An append-only, hash-chained journal file; the in-process default `Journal`.

    Args:
        path: the journal file; created if missing. An existing file must end with a complete
            record (`recover` trims a torn tail first).
        durability: ``"fsync"`` (default) makes every record durable before `append` returns;
            ``"none"`` only hands it to the OS (tests, simulations).
        opener: opens `path` for binary appending; inject one to simulate a failing disk.
        fsync: flushes a file descriptor to stable storage (``os.fsync``); injectable likewise.

    Raises:
        ConfigurationError: an unknown durability, or a path that is not a file path.
        JournalError: the existing file does not end with a complete record.

    Example:
        >>> import tempfile, pathlib
        >>> from exchange_recovery import Controller, default_policy
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "journal.jsonl"
        >>> c = Controller(default_policy(), journal=FileJournal(path, durability="none"))
        >>> c.halt(actor="ops:alice", reason="zone down").version
        1
        >>> FileJournal(path).version
        1
    """

    def __init__(self, path: str | os.PathLike[str], *, durability: Durability = "fsync",
                 opener: Opener | None = None, fsync: Callable[[int], None] = os.fsync) -> None:
        if durability not in ("fsync", "none"):
            msg = f"durability must be 'fsync' or 'none', got {durability!r}"
            raise ConfigurationError(msg)
        self._path = pathlib.Path(path)
        self._durable = durability == "fsync"
        self._fsync = fsync
        self._lock = threading.Lock()
        created = not self._path.exists()
        self._head, self._version, self._size = _read_head(self._path)
        self._file = (opener or _default_opener)(self._path)
        if created and self._durable:
            fsync_directory(self._path)

    @property
    def path(self) -> pathlib.Path:
        """The journal file."""
        return self._path

    @property
    def head(self) -> str:
        """The hash of the last record written (64 zeros for an empty journal)."""
        return self._head

    @property
    def version(self) -> int:
        """The version of the last record written (0 for an empty journal)."""
        return self._version

    def append(self, record: TransitionRecord) -> None:
        """Write `record` after the last one (and fsync it, unless durability is "none").

        Raises:
            JournalError: `record.version` is not above the last version written.
            OSError: the write or the fsync failed; the file is as it was before the call.
        """
        self._write(transition_fields(record), record.version, snapshot=False)

    def snapshot(self, phases: Mapping[str, str], version: int, *, actor: str, reason: str,
                 now: float, after: str | None = None) -> None:
        """Write a snapshot record: every scope's phase as of `version` (the last version).

        `after` chains the first record of an empty journal to the last hash of the journal it
        continues (compaction, a fail-safe restart).
        """
        if after is not None:
            if self._size or not (type(after) is str and len(after) == 64):
                msg = f"after= needs an empty journal and a 64-hex hash, got {after!r}"
                raise ConfigurationError(msg)
            self._head = after
        self._write(snapshot_fields(phases, version, actor=actor, reason=reason, now=now),
                    version, snapshot=True)

    def close(self) -> None:
        """Close the file; further appends fail."""
        with self._lock:
            self._file.close()

    def __del__(self) -> None:
        # A journal usually lives as long as its controller; its file is unbuffered, so
        # closing it on collection loses nothing (and keeps ResourceWarnings out of callers).
        file = getattr(self, "_file", None)
        if file is not None:
            with contextlib.suppress(Exception):
                file.close()

    def __enter__(self) -> FileJournal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<FileJournal {str(self._path)!r} version={self._version}>"

    def _write(self, fields: dict[str, Any], version: int, *, snapshot: bool) -> None:
        with self._lock:
            if version < self._version or (version == self._version and not snapshot):
                msg = (f"journal {self._path}: record version {version} is not above the last "
                       f"version written ({self._version})")
                raise JournalError(msg)
            line, digest = encode(fields, self._head)
            try:
                view = memoryview(line)
                while view:
                    written = self._file.write(view)
                    view = view[written if written is not None else len(view):]
                self._file.flush()
                if self._durable:
                    self._fsync(self._file.fileno())
            except BaseException:
                self._rollback()
                raise
            self._head, self._version = digest, version
            self._size += len(line)

    def _rollback(self) -> None:
        """Cut off whatever part of a failed record reached the file."""
        try:
            self._file.truncate(self._size)
        except OSError as exc:
            msg = (f"journal {self._path}: a failed write could not be truncated back to "
                   f"{self._size} bytes; recover() will report the damage")
            raise JournalError(msg) from exc


def _read_head(path: pathlib.Path) -> tuple[str, int, int]:
    """(last hash, last version, size) of an existing journal file; genesis for a new one."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            last = _last_line(f, size) if size else b""
    except FileNotFoundError:
        return GENESIS, 0, 0
    except IsADirectoryError:
        msg = f"journal path {path} is a directory"
        raise ConfigurationError(msg) from None
    if not size:
        return GENESIS, 0, 0
    if last is None:
        msg = f"journal {path} ends with an incomplete record; open it with recover()"
        raise JournalError(msg)
    ends = _ends(last)
    if ends is not None:
        return *ends, size
    try:
        obj = json.loads(last)
        return str(obj["hash"]), int(obj["version"]), size
    except (ValueError, KeyError, TypeError):
        msg = f"journal {path}: its last record does not parse; open it with recover()"
        raise JournalError(msg) from None


_HASH_START = re.compile(rb'\{"hash":"([0-9a-f]{64})",').match
_VERSION_END = re.compile(rb',"version":(0|[1-9][0-9]*)\}').fullmatch


def _ends(line: bytes) -> tuple[str, int] | None:
    """(hash, version) read off the two ends of a line as `encode` writes it (version is the
    last key of every kind); None for any other line. A snapshot line may be megabytes: parsing
    it whole only to continue the chain costs more than everything else opening does."""
    start = _HASH_START(line)
    end = _VERSION_END(line, max(0, line.rfind(b',"version":', -64)))
    if start is None or end is None:
        return None
    return start.group(1).decode(), int(end.group(1))


def _last_line(f: IO[bytes], size: int) -> bytes | None:
    """The last line of a non-empty file without its newline, or None if it has no newline.

    Steps back a chunk at a time until the newline before it: a snapshot of many scopes or a
    long reason makes one line of megabytes, and reading only a fixed tail would cut it. Reads
    the last line plus at most one chunk.
    """
    pieces: list[bytes] = []
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        f.seek(start)
        chunk = f.read(end - start)
        if end == size:
            if not chunk.endswith(b"\n"):
                return None
            chunk = chunk[:-1]
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            pieces.append(chunk[cut + 1:])
            break
        pieces.append(chunk)
        end = start
    return b"".join(reversed(pieces))
