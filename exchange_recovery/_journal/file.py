"""A journal in a file: one JSON record a line, chained by SHA-256 and, keyed, by HMAC.

The line format is `format`'s; the anchor (the last version and hash, on another path) is
`anchor`'s. Each append writes one line, fsyncs it, then rewrites the anchor; it returns only
once both are durable.

Before every write the journal checks that it is still writing *the* journal: the path still
names the open file (same device and inode, not unlinked) and the file is as long as this
process made it. A file replaced, deleted or truncated behind its back refuses the write
(``JOURNAL_REPLACED``, ``JOURNAL_UNLINKED``, ``JOURNAL_RESIZED``) instead of writing to a file
nobody will read. A transition line over `max_record` bytes is refused before anything is
written (``RECORD_TOO_LARGE``; snapshots are not capped: they name every scope).

A failed append leaves no trace: the file is truncated back to its last good length, the chain
head does not move, and the exception propagates (the controller then refuses a relaxing
transition, or keeps a tightening one as unjournaled and retries it later). If even the
truncation fails, the journal latches broken (``JOURNAL_BROKEN``): every later append raises
rather than write after a fragment; `recover` sorts the file out on the next start.
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import re
import threading
from collections.abc import Callable, Mapping
from typing import IO, Any, Final, Literal

from .._core.codes import IntegrityCode
from .._core.errors import ConfigurationError, JournalError
from .._core.text import shown
from .._decide.records import JournalNote, TransitionRecord
from .anchor import (
    START,
    Anchor,
    AnchorOption,
    AnchorProblem,
    anchor_path,
    fsync_directory,
    read_anchor,
    write_anchor,
)
from .format import (
    GENESIS,
    MAX_RECORD,
    body_of,
    encode,
    note_fields,
    snapshot_fields,
    split_line,
    transition_fields,
)
from .keys import JournalKey
from .paths import file_path

_T = IntegrityCode
_TAIL_CHUNK: Final = 1 << 16  # how far _read_head steps back at a time looking for the last line

Durability = Literal["fsync", "none"]
Opener = Callable[[pathlib.Path], IO[bytes]]
"""Opens the journal file for appending in binary mode (injectable for fault tests)."""


def _default_opener(path: pathlib.Path) -> IO[bytes]:
    return open(path, "ab", buffering=0)  # the journal owns it until close()


def _refuse(code: IntegrityCode, path: pathlib.Path, detail: str) -> JournalError:
    return JournalError(f"{code.value}: journal {path}: {detail}")


class FileJournal:
    """An append-only, hash-chained (and, with a key, MAC-chained) journal file.

    Args:
        path: the journal file; created if missing (`recover` decides whether a missing
            journal may be created). An existing file must end with a complete record
            (`recover` trims a torn tail first) and agree with its anchor.
        key: MACs every line and the anchor; without it lines carry only their SHA-256.
        anchor: where the anchor lives: ``True`` (default) ``<path>.anchor``, ``False`` none,
            or a path.
        durability: ``"fsync"`` (default) makes every record and anchor durable before
            `append` returns; ``"none"`` only hands them to the OS (tests, simulations).
        max_record: the longest transition line accepted, in bytes (default 64 KiB).
        opener: opens `path` for binary appending; inject one to simulate a failing disk.
        fsync: flushes a file descriptor to stable storage (``os.fsync``); injectable likewise.

    Raises:
        ConfigurationError: an unknown durability, a bad key, anchor or cap, or a path that is
            not a file path.
        JournalError: the existing file does not end with a complete record, is keyed
            otherwise than `key`, or disagrees with its anchor (open it with `recover`).

    Example:
        >>> import tempfile, pathlib
        >>> from exchange_recovery import Controller, default_policy
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "journal.jsonl"
        >>> c = Controller(default_policy(), journal=FileJournal(path, durability="none"))
        >>> c.halt(actor="ops:alice", reason="zone down").version
        1
        >>> FileJournal(path).version, FileJournal(path).keyed
        (1, False)
    """

    def __init__(self, path: str | os.PathLike[str], *, key: JournalKey | None = None,
                 anchor: AnchorOption = True, durability: Durability = "fsync",
                 max_record: int = MAX_RECORD, opener: Opener | None = None,
                 fsync: Callable[[int], None] = os.fsync) -> None:
        if not (_plain_str(durability) and durability in ("fsync", "none")):
            msg = f"durability must be 'fsync' or 'none', got {shown(durability)}"
            raise ConfigurationError(msg)
        if key is not None and not isinstance(key, JournalKey):
            msg = f"key must be a JournalKey or None, got {type(key).__name__}"
            raise ConfigurationError(msg)
        if type(max_record) is not int or max_record < 256:  # a record's bare fields take ~250 bytes
            msg = f"max_record must be an int of at least 256 bytes, got {shown(max_record)}"
            raise ConfigurationError(msg)
        _check_callable("opener", opener, optional=True)
        _check_callable("fsync", fsync)
        self._path = file_path(path)
        self._absolute = self._path.absolute()  # what the path named at open, whatever the cwd
        self._key = key
        where = anchor_path(self._path, anchor)
        self._anchor = None if where is None else where.absolute()  # rewritten after a chdir too
        self._durable = durability == "fsync"
        self._max_record = max_record
        self._fsync = fsync
        self._lock = threading.Lock()
        self._broken: str | None = None
        created = not self._path.exists()
        self._head, self._version, self._size, last = _read_head(self._path)
        if last:
            _check_key(self._path, last, key)
        anchored = self._check_anchor(created)
        self._file = _open(opener, self._path)
        opened = os.fstat(self._file.fileno())
        self._identity = (opened.st_dev, opened.st_ino)
        if opened.st_size != self._size:
            self._file.close()
            raise _refuse(_T.JOURNAL_RESIZED, self._path, f"{opened.st_size} bytes when opened, "
                          f"{self._size} when read")
        if created and self._durable:
            fsync_directory(self._path, fsync)
        if self._anchor is not None and not anchored:
            write_anchor(self._anchor, START, key, durable=self._durable, fsync=fsync)

    @property
    def path(self) -> pathlib.Path:
        """The journal file."""
        return self._path

    @property
    def anchor_path(self) -> pathlib.Path | None:
        """Where the anchor is kept (None: this journal has none)."""
        return self._anchor

    @property
    def keyed(self) -> bool:
        """Whether lines and anchor carry a MAC under a journal key."""
        return self._key is not None

    @property
    def head(self) -> str:
        """The hash of the last record written (64 zeros for an empty journal)."""
        return self._head

    @property
    def version(self) -> int:
        """The version of the last record written (0 for an empty journal)."""
        return self._version

    @property
    def broken(self) -> str | None:
        """Why appends are refused for good (a write that could not be undone), or None."""
        return self._broken

    def append(self, record: TransitionRecord) -> None:
        """Write `record` after the last one, then the anchor (fsyncing both, unless
        durability is "none").

        Raises:
            JournalError: `record.version` is not above the last version written, the record
                is over the size cap, the file was replaced, unlinked or resized behind this
                journal, or the journal is broken; nothing was written.
            OSError: the write, an fsync or the anchor failed; the file is as it was before.
        """
        if not isinstance(record, TransitionRecord) or not _well_formed(record):
            msg = f"append() needs a well-formed TransitionRecord, got {shown(record)}"
            raise ConfigurationError(msg)
        self._write(transition_fields(record), record.version, snapshot=False)

    def snapshot(self, phases: Mapping[str, str], version: int, *, actor: str, reason: str,
                 now: float, after: str | None = None) -> None:
        """Write a snapshot record: every scope's phase as of `version` (the last version).

        `after` chains the first record of an empty journal to the last hash of the journal it
        continues (compaction, a fail-safe restart).
        """
        _check_snapshot(phases, version, actor, reason, now)
        if after is not None:
            if self._size or not (type(after) is str and len(after) == 64):
                msg = f"after= needs an empty journal and a 64-hex hash, got {shown(after)}"
                raise ConfigurationError(msg)
            self._head = after
        self._write(snapshot_fields(phases, version, actor=actor, reason=reason, now=now),
                    version, snapshot=True)

    def note(self, note: JournalNote) -> None:
        """Write `note` after the last record, at the last version written, then the anchor.

        Raises:
            ConfigurationError: `note` is not a well-formed `JournalNote`.
            JournalError: `note.version` is not the last version written, the line is over
                the size cap, or the file changed behind this journal; nothing was written.
            OSError: the write, an fsync or the anchor failed; the file is as it was before.
        """
        if not isinstance(note, JournalNote) or not _well_formed_note(note):
            msg = f"note() needs a well-formed JournalNote, got {shown(note)}"
            raise ConfigurationError(msg)
        self._write(note_fields(note), note.version, snapshot=False, note=True)

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

    def _check_anchor(self, created: bool) -> bool:
        """Refuse to append to a file its anchor disowns; True if the anchor is in place."""
        if self._anchor is None:
            return True
        try:
            found = read_anchor(self._anchor, self._key)
        except AnchorProblem as problem:
            raise _refuse(problem.code, self._path, f"{problem.detail}; open it with "
                          "recover()") from None
        here = Anchor(self._version, self._head)
        if found is None:
            if self._size:
                raise _refuse(_T.ANCHOR_MISSING, self._path, f"no anchor at {self._anchor}; "
                              "open it with recover()")
            return False
        if found == here:
            return True
        code = (_T.JOURNAL_MISSING if created else _T.JOURNAL_EMPTIED if not self._size
                else _T.ROLLED_BACK if self._version < found.version else _T.ANCHOR_MISMATCH)
        raise _refuse(code, self._path, f"it ends at version {self._version}, its anchor "
                      f"{self._anchor} names version {found.version}; open it with recover()")

    def _write(self, fields: dict[str, Any], version: int, *, snapshot: bool,
               note: bool = False) -> None:
        with self._lock:
            if self._broken is not None:
                raise _refuse(_T.JOURNAL_BROKEN, self._path, self._broken)
            if note and version != self._version:
                msg = (f"journal {self._path}: a note at version {version} must carry the last "
                       f"version written ({self._version})")
                raise JournalError(msg)
            if not note and (version < self._version
                             or (version == self._version and not snapshot)):
                msg = (f"journal {self._path}: record version {version} is not above the last "
                       f"version written ({self._version})")
                raise JournalError(msg)
            line, digest = encode(fields, self._head, self._key)
            if not snapshot and len(line) > self._max_record:
                raise _refuse(_T.RECORD_TOO_LARGE, self._path, f"version {version}'s record "
                              f"has {len(line)} bytes, the cap is {self._max_record}")
            self._check_file()
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
            if self._anchor is not None:
                try:
                    write_anchor(self._anchor, Anchor(version, digest), self._key,
                                 durable=self._durable, fsync=self._fsync)
                except BaseException:
                    self._rollback()
                    self._restore_anchor()
                    raise
            self._head, self._version = digest, version
            self._size += len(line)

    def _check_file(self) -> None:
        """Refuse (and latch) if the path no longer names the open file, or its size moved."""
        opened = os.fstat(self._file.fileno())
        try:
            named = os.stat(self._absolute)
        except FileNotFoundError:
            named = None
        if named is not None and (named.st_dev, named.st_ino) != self._identity:
            code, detail = _T.JOURNAL_REPLACED, "the path names another file than the one open"
        elif named is None or opened.st_nlink == 0:
            code, detail = _T.JOURNAL_UNLINKED, "the open file was deleted or moved away"
        elif opened.st_size != self._size:
            code, detail = _T.JOURNAL_RESIZED, (f"the file has {opened.st_size} bytes, this "
                                                f"journal wrote {self._size}")
        else:
            return
        self._broken = f"{code.value}: {detail}"
        raise _refuse(code, self._path, f"{detail}; nothing written, restart through recover()")

    def _rollback(self) -> None:
        """Cut off whatever part of a failed record reached the file; latch if that fails."""
        try:
            self._file.truncate(self._size)
        except (OSError, ValueError) as exc:
            self._broken = (f"a failed write could not be truncated back to {self._size} bytes "
                            f"({exc!r}); recover() will report the damage")
            raise _refuse(_T.JOURNAL_BROKEN, self._path, self._broken) from exc

    def _restore_anchor(self) -> None:
        """Best effort after a failed anchor write: name the last record again."""
        assert self._anchor is not None  # noqa: S101 - the caller checks
        with contextlib.suppress(OSError):
            write_anchor(self._anchor, Anchor(self._version, self._head), self._key,
                         durable=self._durable, fsync=self._fsync)


def _check_key(path: pathlib.Path, last: bytes, key: JournalKey | None) -> None:
    """Refuse to chain keyed lines after unkeyed ones, or the reverse, or after a forged one."""
    parts = split_line(last)
    mac = parts[1] if parts is not None else None
    if key is None:
        if mac is not None:
            raise _refuse(_T.KEY_MISSING, path, "its records carry MACs; pass its key=")
        return
    if parts is None or mac is None:
        raise _refuse(_T.MAC_MISMATCH, path, "its last record has no MAC: it was written "
                      "without a key (or forged)")
    if not key.verifies(body_of(last, parts[2]), mac):
        raise _refuse(_T.MAC_MISMATCH, path, "its last record's MAC does not verify with this "
                      "key; open it with recover()")


def _read_head(path: pathlib.Path) -> tuple[str, int, int, bytes]:
    """(last hash, last version, size, last line) of an existing journal file; genesis for a
    new one."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            last = _last_line(f, size) if size else b""
    except FileNotFoundError:
        return GENESIS, 0, 0, b""
    except IsADirectoryError:
        msg = f"journal path {path} is a directory"
        raise ConfigurationError(msg) from None
    if not size:
        return GENESIS, 0, 0, b""
    if last is None:
        msg = f"journal {path} ends with an incomplete record; open it with recover()"
        raise JournalError(msg)
    ends = _ends(last)
    if ends is not None:
        return *ends, size, last
    try:
        obj = json.loads(last)
        return str(obj["hash"]), int(obj["version"]), size, last
    except (ValueError, KeyError, TypeError, RecursionError):
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


def _plain_str(value: object) -> bool:
    return type(value) is str


def _open(opener: Opener | None, path: pathlib.Path) -> IO[bytes]:
    """The journal file opened for appending; an opener that fails other than with an OSError
    (which the caller sees as is) or returns no file is a `ConfigurationError`."""
    try:
        file = (opener or _default_opener)(path)
        file.fileno()
    except OSError:
        raise
    except Exception as exc:
        msg = f"opener must return a binary file open for appending; it gave {shown(exc)}"
        raise ConfigurationError(msg) from exc
    return file


def _check_callable(field: str, value: object, *, optional: bool = False) -> None:
    """A seam given as an argument must be callable: checked when given, not at first use."""
    if (value is None and optional) or callable(value):
        return
    msg = f"{field} must be callable, got {shown(value)}"
    raise ConfigurationError(msg)


def _check_snapshot(phases: object, version: object, actor: object, reason: object,
                    now: object) -> None:
    """A snapshot's fields as a verifier will read them back, checked before anything is written."""
    problem = ""
    if not isinstance(phases, Mapping) or not all(
            type(k) is str and k and type(v) is str for k, v in phases.items()):
        problem = f"phases must map scope names to phase names, got {shown(phases)}"
    elif type(version) is not int or not 0 <= version < 2**63:
        problem = f"version must be an int >= 0, got {shown(version)}"
    elif not (type(actor) is str and actor and type(reason) is str):
        problem = f"actor and reason must be strs, got {shown(actor)} and {shown(reason)}"
    elif isinstance(now, bool) or not isinstance(now, int | float) or not 0 <= now < 1e11:
        problem = f"now must be a clock reading in epoch seconds, got {shown(now)}"
    if problem:
        raise ConfigurationError(problem)


def _well_formed(record: TransitionRecord) -> bool:
    """Whether `record`'s fields are what a verifier reads back: never write a line
    `verify_journal` would reject for its shape."""
    names = (record.scope, record.source, record.dest, record.trigger, record.actor)
    return (type(record.version) is int and 0 < record.version < 2**63
            and all(type(n) is str and n for n in names) and type(record.reason) is str
            and type(record.relaxing) is bool
            and type(record.timestamp) in (int, float) and 0 <= record.timestamp < 1e11)


def _well_formed_note(note: JournalNote) -> bool:
    """Whether `note`'s fields are what a verifier reads back."""
    return (type(note.version) is int and 0 <= note.version < 2**63
            and type(note.topic) is str and note.topic.isidentifier()
            and type(note.scope) is str and bool(note.scope)
            and type(note.actor) is str and bool(note.actor) and type(note.payload) is str
            and type(note.timestamp) in (int, float) and 0 <= note.timestamp < 1e11)
