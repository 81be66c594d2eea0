"""The anchor: a journal's latest version and hash, kept outside the journal file.

A hash chain (even a keyed one) cannot see its own end cut off, nor the whole file deleted or
emptied: what is left still verifies. The anchor remembers where the journal ended. It is one
line on another path (by default ``<journal>.anchor``)::

    {"mac":"0d…","format":1,"hash":"9f…","kind":"anchor","version":7}

``hash`` and ``version`` are those of the journal's last record (64 zeros and 0 for a journal
created empty); ``mac``, present when the journal is keyed, is the HMAC-SHA256 of the rest (the
canonical JSON ``{"format":1,"hash":…,"kind":"anchor","version":…}``) under the journal key.
`FileJournal` rewrites it atomically (a temporary file, fsync, rename, fsync of the directory)
after every record is durable, so the anchor never names a record the journal lacks, and the
journal is at most one record ahead of it (a crash between the two writes).

Put the anchor where whoever can damage the journal cannot also roll it back (another volume,
another owner); when the phases are coordinated through etcd the anchor could live there (not
built yet). An anchor next to the journal still turns an accidental deletion, a restored backup
or a truncation into a fail-safe start instead of a silent one.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

import attrs

from .._core.codes import IntegrityCode
from .._core.errors import ConfigurationError
from .._core.text import shown
from .format import FORMAT, GENESIS, MAC_FIELD, canonical

if TYPE_CHECKING:
    from .keys import JournalKey
from .paths import file_path

AnchorOption = bool | str | os.PathLike[str]
"""``True``: ``<journal>.anchor`` (the default); ``False``: no anchor; else the anchor's path."""

_MAX_ANCHOR: Final = 4096
_MAC_PREFIX: Final = re.compile(rb'\{"mac":"([0-9a-f]{64})",').match


@attrs.frozen
class Anchor:
    """The version and hash of a journal's last record, as kept outside the journal."""

    version: int
    hash: str


START: Final = Anchor(0, GENESIS)
"""The anchor of a journal created empty."""


class AnchorProblem(Exception):
    """The anchor file cannot be trusted: a stable code and a detail (internal: it becomes a
    `JournalProblem` or a `JournalError`, never escapes the journal layer)."""

    def __init__(self, code: IntegrityCode, detail: str) -> None:
        super().__init__(code, detail)
        self.code = code
        self.detail = detail


def anchor_path(journal: pathlib.Path, option: AnchorOption) -> pathlib.Path | None:
    """Where the anchor of `journal` lives (None: it has none).

    Raises:
        ConfigurationError: `option` is not a bool or a path, or names the journal itself.
    """
    if option is True:
        return journal.with_name(f"{journal.name}.anchor")
    if option is False:
        return None
    if not isinstance(option, str | os.PathLike):
        msg = f"anchor must be True, False or a path, got {shown(option)}"
        raise ConfigurationError(msg)
    path = file_path(option, "anchor")
    if path.absolute() == journal.absolute():
        msg = f"anchor {path} must be another file than the journal"
        raise ConfigurationError(msg)
    return path


def encode_anchor(anchor: Anchor, key: JournalKey | None) -> bytes:
    """The anchor file's bytes."""
    body = canonical({"format": FORMAT, "hash": anchor.hash, "kind": "anchor",
                      "version": anchor.version})
    if key is None:
        return body + b"\n"
    return b"{" + MAC_FIELD + key.mac(body).encode() + b'",' + body[1:] + b"\n"


def read_anchor(path: pathlib.Path, key: JournalKey | None) -> Anchor | None:
    """The anchor at `path`, None if there is no such file.

    Raises:
        AnchorProblem: the file does not parse (``ANCHOR_MISMATCH``), its MAC does not verify
            or is missing with a key (``MAC_MISMATCH``), or it has one and no key was given
            (``KEY_MISSING``).
    """
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_ANCHOR + 1)
    except FileNotFoundError:
        return None
    except IsADirectoryError:
        msg = f"anchor path {path} is a directory"
        raise ConfigurationError(msg) from None
    line = data.removesuffix(b"\n")
    keyed = _MAC_PREFIX(line)
    body = b"{" + line[keyed.end():] if keyed else line
    anchor = _parse(body)
    if anchor is None:
        raise AnchorProblem(IntegrityCode.ANCHOR_MISMATCH,
                            f"the anchor {path} is not an anchor: {data[:80]!r}")
    if key is not None and (keyed is None or not key.verifies(body, keyed.group(1).decode())):
        raise AnchorProblem(IntegrityCode.MAC_MISMATCH,
                            f"the anchor {path} has no MAC" if keyed is None else
                            f"the anchor {path}'s MAC does not verify with the journal key")
    if key is None and keyed is not None:
        raise AnchorProblem(IntegrityCode.KEY_MISSING,
                            f"the anchor {path} is keyed; no journal key was given")
    return anchor


def _parse(body: bytes) -> Anchor | None:
    try:
        obj = json.loads(body)
    except (ValueError, RecursionError):
        return None
    if (type(obj) is not dict or set(obj) != {"format", "hash", "kind", "version"}
            or obj["format"] != FORMAT or obj["kind"] != "anchor"
            or type(obj["version"]) is not int or obj["version"] < 0
            or type(obj["hash"]) is not str or re.fullmatch("[0-9a-f]{64}", obj["hash"]) is None
            or canonical(obj) != body):
        return None
    return Anchor(obj["version"], obj["hash"])


def write_anchor(path: pathlib.Path, anchor: Anchor, key: JournalKey | None, *, durable: bool,
                 fsync: Callable[[int], None] = os.fsync) -> None:
    """Replace the anchor at `path` atomically: a crash leaves the old one or the new one."""
    data = encode_anchor(anchor, key)
    temporary = path.with_name(f"{path.name}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    if durable:
        fsync_directory(path, fsync)


def fsync_directory(path: pathlib.Path, fsync: Callable[[int], None] = os.fsync) -> None:
    """Make a file's creation or rename in `path`'s directory durable."""
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        fsync(fd)
    finally:
        os.close(fd)
