"""The secret that keys a journal: every line and the anchor carry an HMAC-SHA256 under it.

A hash chain shows damage, not forgery: anyone who can write the file can recompute every
SHA-256. A MAC can only be computed with the key, so a journal verified with its key cannot be
forged, edited or spliced from another key's journal without it showing (``MAC_MISMATCH``).
The key lives outside the journal: a file only its owner can read (``chmod 600``), or an
environment variable (e.g. filled from a secret store). The MACs use `hmac` and `hashlib` from
the standard library.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "journal.key"
    >>> key = JournalKey.generate(path)
    >>> JournalKey.from_file(path) == key
    True
    >>> len(key.mac(b'{"version":1}'))
    64
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from typing import Any, Final

import attrs

from .._core.errors import ConfigurationError
from .._core.text import shown
from .paths import file_path

MIN_KEY_BYTES: Final = 32
"""The shortest secret accepted (256 bits)."""
_MAX_KEY_FILE: Final = 64 * 1024
"""A key file larger than this is not a key file."""
_FINGERPRINT_LABEL: Final = b"exchange_recovery journal key fingerprint"
_BLOCK: Final = 64
"""SHA-256's block size: HMAC pads (or first hashes) the key to it."""


def _secret(data: bytes, source: str) -> bytes:
    secret = data.rstrip(b" \t\r\n")  # an editor's trailing newline is not part of the key
    if len(secret) < MIN_KEY_BYTES:
        msg = (f"journal key from {source} has {len(secret)} bytes, expected at least "
               f"{MIN_KEY_BYTES}")
        raise ConfigurationError(msg)
    return secret


@attrs.frozen(repr=False)
class JournalKey:
    """A secret of at least 32 bytes that MACs journal lines and anchors.

    Compared by secret; its repr shows where it came from and a fingerprint, never the secret.
    """

    secret: bytes = attrs.field(eq=True)
    source: str = attrs.field(eq=False, default="bytes")
    _inner: Any = attrs.field(init=False, eq=False, repr=False)
    _outer: Any = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if type(self.secret) is not bytes:
            msg = f"journal key secret must be bytes, got {type(self.secret).__name__}"
            raise ConfigurationError(msg)
        _secret(self.secret, self.source)
        # HMAC (RFC 2104) with its two padded-key states hashed once: each MAC then costs two
        # state copies instead of `hmac.digest` setting up a context (~0.8 µs, not ~1.7).
        block = self.secret if len(self.secret) <= _BLOCK else hashlib.sha256(self.secret).digest()
        block = block.ljust(_BLOCK, b"\0")
        object.__setattr__(self, "_inner", hashlib.sha256(bytes(b ^ 0x36 for b in block)))
        object.__setattr__(self, "_outer", hashlib.sha256(bytes(b ^ 0x5C for b in block)))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> JournalKey:
        """The key held in a file that only its owner may read or write.

        The file's bytes are the secret (trailing whitespace dropped).

        Raises:
            ConfigurationError: the file is missing, not a regular file, open to its group or
                to others (any of ``0o077``), larger than 64 KiB, or shorter than 32 bytes.
        """
        path = file_path(path)
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError as exc:
            msg = f"journal key file {path} cannot be opened: {exc.strerror}"
            raise ConfigurationError(msg) from None
        try:
            info = os.fstat(fd)  # of the file opened, not of whatever the path names now
            if not stat.S_ISREG(info.st_mode):
                msg = f"journal key file {path} is not a regular file"
                raise ConfigurationError(msg)
            if info.st_mode & 0o077:
                msg = (f"journal key file {path} has mode {stat.filemode(info.st_mode)}: its "
                       "group or others may use it; expected -rw------- (chmod 600)")
                raise ConfigurationError(msg)
            if info.st_size > _MAX_KEY_FILE:
                msg = f"journal key file {path} has {info.st_size} bytes, expected a key"
                raise ConfigurationError(msg)
            data = os.read(fd, _MAX_KEY_FILE + 1)
        finally:
            os.close(fd)
        source = f"file {path}"
        return cls(_secret(data, source), source)

    @classmethod
    def from_env(cls, name: str) -> JournalKey:
        """The key held in environment variable `name` (its UTF-8 bytes, at least 32).

        Raises:
            ConfigurationError: the variable is unset or shorter than 32 bytes.
        """
        if not isinstance(name, str) or not name or "=" in name or "\x00" in name:
            msg = f"name must be an environment variable's name, got {shown(name)}"
            raise ConfigurationError(msg)
        value = os.environ.get(name)
        if value is None:
            msg = f"environment variable {shown(name)} holding the journal key is not set"
            raise ConfigurationError(msg)
        source = f"environment {name}"
        return cls(_secret(value.encode("utf-8", "surrogateescape"), source), source)

    @classmethod
    def generate(cls, path: str | os.PathLike[str]) -> JournalKey:
        """Write a new random key (256 bits, as 64 hex characters) to a new file of mode 0600.

        For a first start and for tests; never overwrites a key.

        Raises:
            ConfigurationError: `path` already exists.
        """
        path = file_path(path)
        data = secrets.token_hex(MIN_KEY_BYTES).encode() + b"\n"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            msg = f"journal key file {path} already exists; it is never overwritten"
            raise ConfigurationError(msg) from None
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        source = f"file {path}"
        return cls(_secret(data, source), source)

    @property
    def fingerprint(self) -> str:
        """16 hex digits naming this key in reports and logs (reveals nothing of the secret)."""
        return hmac.digest(self.secret, _FINGERPRINT_LABEL, "sha256").hex()[:16]

    def mac(self, body: bytes) -> str:
        """The HMAC-SHA256 of `body` under this key, in hex (equal to ``hmac.digest``'s)."""
        if not isinstance(body, bytes | bytearray | memoryview):
            msg = f"body must be bytes, got {shown(body)}"
            raise ConfigurationError(msg)
        inner = self._inner.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return str(outer.hexdigest())

    def verifies(self, body: bytes, mac: str) -> bool:
        """Whether `mac` is this key's MAC of `body` (compared in constant time)."""
        if not isinstance(mac, str) or not mac.isascii():
            return False  # not a MAC this key could have made
        return hmac.compare_digest(self.mac(body).encode(), mac.encode())

    def __repr__(self) -> str:
        return f"<JournalKey from {self.source} fingerprint={self.fingerprint}>"
