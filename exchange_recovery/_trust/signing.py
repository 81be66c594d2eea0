"""Ed25519 signatures: a `Signer` interface, a key-file signer, and `verify`.

The cryptography is `cryptography`'s (``hazmat.primitives.asymmetric.ed25519``), never our own.
A signer is anything with a ``principal_id`` and a ``sign(message) -> bytes`` returning a
64-byte Ed25519 signature: `KeyFileSigner` holds a private key read from a file; an HSM or a
KMS plugs in as another class with the same two members (the private key never leaves it).

Example:
    >>> private_pem, public_key = generate_keypair()
    >>> signer = KeyFileSigner.from_bytes("ops:alice", private_pem)
    >>> verify(public_key, b"open BTC-USDT-SWAP", signer.sign(b"open BTC-USDT-SWAP"))
    True
    >>> verify(public_key, b"open ETH-USDT-SWAP", signer.sign(b"open BTC-USDT-SWAP"))
    False
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from typing import Final, Protocol, runtime_checkable

import attrs
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .._core.errors import ConfigurationError
from .errors import SigningError, bounded_repr
from .ids import canonical_id

PUBLIC_KEY_BYTES: Final = 32
"""Length of a raw Ed25519 public key (and of a raw private key)."""
SIGNATURE_BYTES: Final = 64
"""Length of an Ed25519 signature."""
_MAX_KEY_FILE: Final = 64 * 1024
"""A key file larger than this is not a key file."""


@runtime_checkable
class Signer(Protocol):
    """Signs messages for one principal: a key file by default; an HSM or a KMS plugs in here.

    ``principal_id`` is the id the directory knows the signer's public key under;
    ``sign(message)`` returns the 64-byte Ed25519 signature of `message`.
    """

    @property
    def principal_id(self) -> str:
        """The id of the principal whose key signs."""
        ...

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of `message` (64 bytes)."""
        ...


def _private_key(data: bytes, source: str) -> Ed25519PrivateKey:
    """A private key from raw 32 bytes or an unencrypted PEM (PKCS #8), else `SigningError`."""
    if len(data) == PUBLIC_KEY_BYTES and not data.startswith(b"-----"):
        return Ed25519PrivateKey.from_private_bytes(data)
    if not data.lstrip().startswith(b"-----BEGIN"):
        msg = (f"{source}: expected an Ed25519 private key as raw {PUBLIC_KEY_BYTES} bytes or an "
               f"unencrypted PEM (PKCS #8), got {len(data)} bytes of something else")
        raise SigningError(msg)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:  # encrypted, malformed, or an unsupported algorithm
        msg = f"{source}: cannot load the PEM private key ({error})"
        raise SigningError(msg) from None
    if not isinstance(key, Ed25519PrivateKey):
        msg = f"{source}: expected an Ed25519 private key, got {type(key).__name__}"
        raise SigningError(msg)
    return key


def file_path(path: object, what: str,
              error: Callable[[str], Exception] = SigningError) -> str:
    """`path` as a str, if it names a file at all (a str or an `os.PathLike` of one, not
    empty, without NUL), else `error` naming `what`, the value received and what was expected."""
    problem = None
    try:
        where = os.fspath(path) if isinstance(path, str | os.PathLike) else None
    except Exception:  # a PathLike whose __fspath__ raises
        where = None
    if type(where) is not str:
        problem = "expected a path (a str or an os.PathLike of a str)"
    elif not where:
        problem = "expected a path, got an empty one"
    elif "\0" in where:
        problem = "a path cannot hold a NUL character"
    if problem is not None:
        msg = f"{what}: {problem}, got {bounded_repr(path)}"
        raise error(msg)
    return where  # type: ignore[return-value]  # a str: checked above


def _read_key_file(path: str | os.PathLike[str], *, check_permissions: bool) -> bytes:
    where = file_path(path, "key file")
    if type(check_permissions) is not bool:
        msg = f"check_permissions must be a bool, got {bounded_repr(check_permissions)}"
        raise ConfigurationError(msg)
    try:
        with open(where, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                msg = f"{where}: not a regular file"
                raise SigningError(msg)
            if check_permissions and os.name == "posix" and info.st_mode & 0o077:
                msg = (f"{where}: the private key is open to group or others "
                       f"(mode {stat.S_IMODE(info.st_mode):o}); run `chmod 600 {where}`")
                raise SigningError(msg)
            data = handle.read(_MAX_KEY_FILE + 1)
    except OSError as error:
        msg = f"{bounded_repr(where)}: cannot read the key file ({error.strerror or error})"
        raise SigningError(msg) from None
    if len(data) > _MAX_KEY_FILE:
        msg = f"{where}: larger than {_MAX_KEY_FILE} bytes, not a key file"
        raise SigningError(msg)
    return data


def _principal_id(value: str) -> str:
    return canonical_id(value, field="principal_id")


def _check_private_key(_instance: object, _attribute: object, value: Ed25519PrivateKey) -> None:
    if not isinstance(value, Ed25519PrivateKey):
        msg = f"key: expected an Ed25519PrivateKey, got {bounded_repr(value)}"
        raise SigningError(msg)


@attrs.frozen
class KeyFileSigner:
    """A `Signer` holding an Ed25519 private key read from a file (or given as bytes).

    The key is kept out of ``repr``. Build one with `load` (a file) or `from_bytes`.

    Example:
        >>> private_pem, public_key = generate_keypair()
        >>> signer = KeyFileSigner.from_bytes("OPS:Alice", private_pem)
        >>> signer.principal_id, signer.public_key == public_key
        ('ops:alice', True)
    """

    principal_id: str = attrs.field(converter=_principal_id)
    _key: Ed25519PrivateKey = attrs.field(repr=False, validator=_check_private_key)

    @classmethod
    def load(cls, principal_id: str, path: str | os.PathLike[str], *,
             check_permissions: bool = True) -> KeyFileSigner:
        """The signer whose private key is in the file at `path`.

        Args:
            principal_id: the principal the key belongs to (as the directory knows it).
            path: a file holding the key: raw 32 bytes or an unencrypted PEM (PKCS #8).
            check_permissions: refuse a file that group or others may read or write (POSIX),
                as ssh does; pass False only where the file system has no such modes.

        Raises:
            SigningError: the file cannot be read, is too open, or holds no Ed25519 key.
            IdentityError: `principal_id` is refused (see `canonical_id`).
        """
        principal_id = _principal_id(principal_id)  # refused before the file is read
        data = _read_key_file(path, check_permissions=check_permissions)
        return cls(principal_id, _private_key(data, file_path(path, "key file")))

    @classmethod
    def from_bytes(cls, principal_id: str, data: bytes) -> KeyFileSigner:
        """The signer of a private key given as raw 32 bytes or an unencrypted PEM (PKCS #8).

        Raises:
            SigningError: `data` holds no Ed25519 private key.
        """
        principal_id = _principal_id(principal_id)
        if not isinstance(data, bytes):
            msg = f"private key: expected bytes, got {type(data).__name__}"
            raise SigningError(msg)
        return cls(principal_id, _private_key(data, "private key"))

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte public key, as a directory lists it."""
        return self._key.public_key().public_bytes(serialization.Encoding.Raw,
                                                    serialization.PublicFormat.Raw)

    def sign(self, message: bytes) -> bytes:
        """The Ed25519 signature of `message` (64 bytes).

        Raises:
            SigningError: `message` is not bytes.
        """
        if not isinstance(message, bytes):
            msg = f"message: expected bytes, got {bounded_repr(message)}"
            raise SigningError(msg)
        return self._key.sign(message)


def generate_keypair() -> tuple[bytes, bytes]:
    """A fresh key pair for tests and demos: (private key as unencrypted PEM, raw public key).

    Never commit a generated private key; a deployment creates its keys where they are used.

    Example:
        >>> private_pem, public_key = generate_keypair()
        >>> private_pem.splitlines()[0].endswith(b" PRIVATE KEY-----"), len(public_key)
        (True, 32)
    """
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return private_pem, public


def public_key_valid(public_key: object) -> bool:
    """Whether `public_key` is a usable raw Ed25519 public key (32 bytes that decode)."""
    if not isinstance(public_key, bytes) or len(public_key) != PUBLIC_KEY_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key)
    except ValueError:
        return False
    return True


def verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    """Whether `signature` is `public_key`'s Ed25519 signature of `message`.

    Never raises on bad input: a key, message or signature of the wrong type or length is
    simply not a valid signature (False).

    Example:
        >>> verify(b"not a key", b"message", b"not a signature")
        False
    """
    if not (isinstance(public_key, bytes) and isinstance(message, bytes)
            and isinstance(signature, bytes)):
        return False
    if len(public_key) != PUBLIC_KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(signature, message)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True
