"""Principals and the directory that knows them: where roles and public keys come from.

A `Principal` is a person or an automation: a canonical id, a display name, roles, and the
raw Ed25519 public key its signatures verify with. A `Directory` answers ``principal(id)``
(matched by confusable skeleton, so any spelling of an id finds its one principal) and
``principals()``. When a directory is configured, roles come from it only: what a caller says
about itself grants nothing.

Three ways to have one:
    - `StaticDirectory`: in memory, for tests, demos and generated configurations;
    - `FileDirectory.load`: a reviewed TOML file, checked strictly (every problem listed at once);
    - an identity provider: any object with the two methods of `Directory` (``principal`` and
      ``principals``), e.g. a class that asks an LDAP server or an OIDC provider and builds
      `Principal`s from its answer. It should return principals whose id has the same
      skeleton as the id asked for; the verifier checks that again and ignores any other.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import functools
import os
import re
import stat
import tomllib
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Protocol, runtime_checkable

import attrs

from .errors import DirectoryError, DirectoryProblem, IdentityError, bounded_repr
from .ids import canonical_id, check_label, skeleton
from .signing import PUBLIC_KEY_BYTES, file_path, public_key_valid

_MAX_FILE: Final = 1024 * 1024
"""A directory file larger than this is refused unread."""
_PRINCIPAL_KEYS: Final = ("id", "name", "roles", "public_key")
_REQUIRED_KEYS: Final = ("id", "name", "roles")


def _principal_id(value: str) -> str:
    return canonical_id(value, field="id")


def _roles(value: object) -> frozenset[str]:
    items = None
    if not isinstance(value, str | bytes) and isinstance(value, Iterable):
        try:
            items = list(value)
        except Exception:  # an iterable whose iterator raises
            items = None
    if items is None:
        raise IdentityError("roles", value, "expected a collection of role names")
    return frozenset(check_label(role, field="role") for role in items)


def _check_display_name(value: object) -> None:
    check_label(value, field="display_name", inner_spaces=True)


def _check_name(_instance: object, _attribute: object, value: str) -> None:
    _check_display_name(value)


def _check_key(_instance: object, _attribute: object, value: bytes | None) -> None:
    if value is not None and not public_key_valid(value):
        raise IdentityError("public_key", value,
                            f"expected None or a raw Ed25519 public key ({PUBLIC_KEY_BYTES} bytes)")


def _short_key(value: bytes | None) -> str:
    return "None" if value is None else f"<ed25519 {value.hex()[:16]}...>"


@attrs.frozen
class Principal:
    """A person or an automation known to the directory.

    Attributes:
        id: its id, stored canonical (see `canonical_id`).
        display_name: the name people read (single inner spaces allowed).
        roles: the roles it holds, as the policy names them (compared as written).
        public_key: the raw 32-byte Ed25519 public key its signatures verify with, or None
            (then it can sign nothing, so it can approve nothing).

    Raises:
        IdentityError: a field is refused (names the field and the value).

    Example:
        >>> Principal("OPS:Alice", "Alice Example", {"supervisor"}).id
        'ops:alice'
    """

    id: str = attrs.field(converter=_principal_id)
    display_name: str = attrs.field(validator=_check_name)
    roles: frozenset[str] = attrs.field(default=frozenset(), converter=_roles)
    public_key: bytes | None = attrs.field(default=None, validator=_check_key, repr=_short_key)

    @property
    def skeleton(self) -> str:
        """The confusable skeleton of the id: the key the directory matches spellings by."""
        return skeleton(self.id)


@runtime_checkable
class Directory(Protocol):
    """Who the principals are: the interface a reviewed file or an identity provider implements.

    ``principal(principal_id)`` returns the principal whose id has the same skeleton as
    `principal_id` (any accepted spelling of it), or None; it may raise `IdentityError` for a
    refused spelling. ``principals()`` returns them all.
    """

    def principal(self, principal_id: str) -> Principal | None:
        """The principal `principal_id` names (by skeleton), or None."""
        ...

    def principals(self) -> tuple[Principal, ...]:
        """Every principal of the directory."""
        ...


def _collisions(principals: Sequence[Principal],
                origins: Sequence[tuple[int, int | None]] = ()) -> list[DirectoryProblem]:
    """A problem for each principal whose id looks like an earlier one's (same skeleton).

    `origins` gives each principal's (index, line) in its file; by default its position.
    """
    problems: list[DirectoryProblem] = []
    seen: dict[str, int] = {}
    for position, principal in enumerate(principals):
        index, line = origins[position] if origins else (position, None)
        earlier = seen.setdefault(principal.skeleton, position)
        if earlier != position:
            other = principals[earlier]
            first = origins[earlier][0] if origins else earlier
            problems.append(DirectoryProblem(
                f"principals[{index}].id",
                f"{principal.id!r} looks like {other.id!r} (principals[{first}]; both read as "
                f"{principal.skeleton!r}): one person twice, or an impersonation risk",
                line=line))
    return problems


class StaticDirectory:
    """A `Directory` held in memory.

    Refuses two principals whose ids look alike (same skeleton): that is one person twice or
    an impersonation risk, and the two-person rule could not tell them apart.

    Raises:
        DirectoryError: an entry is not a `Principal`, or two ids look alike (all listed).

    Example:
        >>> directory = StaticDirectory([Principal("ops:alice", "Alice", {"supervisor"})])
        >>> directory.principal("OPS:ALICE").display_name
        'Alice'
        >>> directory.principal("ops:\\u0430lice").display_name  # a Cyrillic a
        'Alice'
        >>> directory.principal("ops:mallory") is None
        True
    """

    def __init__(self, principals: Iterable[Principal]) -> None:
        try:
            items = tuple(principals) if not isinstance(principals, str | bytes) else None
        except Exception:  # not iterable, or its iterator raises
            items = None
        if items is None:
            raise DirectoryError([DirectoryProblem(
                "principals", f"expected an iterable of Principal, got {bounded_repr(principals)}")])
        problems = [DirectoryProblem(f"principals[{i}]",
                                     f"expected a Principal, got {bounded_repr(p)}")
                    for i, p in enumerate(items) if not isinstance(p, Principal)]
        if problems:
            raise DirectoryError(problems)
        self._raise_collisions(items)
        self._principals = items
        self._by_skeleton = {p.skeleton: p for p in items}

    def _raise_collisions(self, items: Sequence[Principal]) -> None:
        problems = _collisions(items)
        if problems:
            raise DirectoryError(problems)

    def principal(self, principal_id: str) -> Principal | None:
        """The principal named by `principal_id` in any accepted spelling, or None.

        Raises:
            IdentityError: `principal_id` is refused (see `canonical_id`).
        """
        return self._by_skeleton.get(skeleton(principal_id))

    def principals(self) -> tuple[Principal, ...]:
        """Every principal, in the order given."""
        return self._principals

    def __len__(self) -> int:
        return len(self._principals)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({[p.id for p in self._principals]!r})"


class FileDirectory(StaticDirectory):
    """A `Directory` read from a reviewed TOML file.

    The file lists one table per principal; ids are written in canonical form (what the
    reviewer reads is what is stored), the public key as 64 hex digits or base64::

        [[principals]]
        id = "ops:alice"
        name = "Alice Example"
        roles = ["operator", "supervisor"]
        public_key = "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="   # optional

    Unknown keys, wrong types, refused or non-canonical ids, bad keys and look-alike ids are
    all reported at once, each with its line when it can be found.

    Example:
        >>> directory = FileDirectory.loads('''
        ... [[principals]]
        ... id = "ops:alice"
        ... name = "Alice Example"
        ... roles = ["supervisor"]
        ... ''')
        >>> tuple(p.id for p in directory.principals())
        ('ops:alice',)
    """

    def __init__(self, principals: Iterable[Principal], *, source: str = "<memory>") -> None:
        _check_source(source)
        self.source = source
        super().__init__(principals)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> FileDirectory:
        """The directory in the file at `path` (UTF-8 TOML, at most 1 MiB).

        Raises:
            DirectoryError: the file cannot be read, is writable by others, or has problems
                (every problem found, with its line).
        """
        source = file_path(path, "directory file",
                           lambda message: DirectoryError([DirectoryProblem("file", message)]))
        try:
            with open(source, "rb") as handle:
                mode = os.fstat(handle.fileno()).st_mode
                data = handle.read(_MAX_FILE + 1)
        except OSError as error:
            raise DirectoryError([DirectoryProblem(
                "file", f"cannot read it ({error.strerror or error})", source)]) from None
        problem = None
        if os.name == "posix" and mode & stat.S_IWOTH:
            problem = f"anyone may write it (mode {stat.S_IMODE(mode):o}); run `chmod o-w {source}`"
        elif len(data) > _MAX_FILE:
            problem = f"larger than {_MAX_FILE} bytes"
        else:
            try:
                return cls.loads(data.decode("utf-8"), source=source)
            except UnicodeDecodeError as error:
                problem = f"not UTF-8 ({error.reason} at byte {error.start})"
        raise DirectoryError([DirectoryProblem("file", problem, source)])

    @classmethod
    def loads(cls, text: str, *, source: str = "<string>") -> FileDirectory:
        """The directory written in `text` (TOML); `source` names it in problems.

        Raises:
            DirectoryError: every problem found, with its line (also: `text` or `source` is
                not a str).
        """
        _check_source(source)
        if type(text) is not str:
            raise DirectoryError([DirectoryProblem(
                "file", f"expected the text of a TOML file (a str), got {bounded_repr(text)}",
                source)])
        return cls(_parse(text, source), source=source)

    def _raise_collisions(self, items: Sequence[Principal]) -> None:
        pass  # `_parse` reported them, with their lines

    def __repr__(self) -> str:
        return f"FileDirectory({self.source!r}, {[p.id for p in self.principals()]!r})"


def _check_source(source: object) -> None:
    if type(source) is not str:
        raise DirectoryError([DirectoryProblem(
            "source", f"expected a str naming where the directory comes from, got "
            f"{bounded_repr(source)}")])


_AT_LINE: Final = re.compile(r"\(at line (\d+), column \d+\)")
_HEADER: Final = re.compile(r"^\s*\[\[\s*principals\s*\]\]")
_HEX_KEY: Final = re.compile(r"[0-9a-fA-F]{64}")


class _Lines:
    """Where each ``[[principals]]`` table and its keys are written, for problem lines."""

    def __init__(self, text: str) -> None:
        self.lines = text.splitlines()
        self.headers = [n for n, line in enumerate(self.lines) if _HEADER.match(line)]

    def of(self, index: int, key: str | None = None) -> int | None:
        if index >= len(self.headers):
            return None
        start = self.headers[index]
        if key is None:
            return start + 1
        end = self.headers[index + 1] if index + 1 < len(self.headers) else len(self.lines)
        pattern = re.compile(rf"^\s*{re.escape(key)}\s*=")
        return next((n + 1 for n in range(start, end) if pattern.match(self.lines[n])), start + 1)


def _public_key(value: object) -> bytes:
    if not isinstance(value, str):
        raise ValueError(f"expected a string (hex or base64), got {type(value).__name__}")  # noqa: TRY004 - reported as a problem, like every other
    try:
        key = (bytes.fromhex(value) if _HEX_KEY.fullmatch(value)
               else base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise ValueError(f"neither 64 hex digits nor base64: {value[:60]!r}") from None
    if not public_key_valid(key):
        raise ValueError(f"not a raw Ed25519 public key ({len(key)} bytes, expected 32)")
    return key


_Add = Callable[[str, str, "int | None"], None]


def _id_problem(written: object) -> str | None:
    """What is wrong with an id as written in a directory file, or None."""
    if not isinstance(written, str):
        return f"expected a string, got {type(written).__name__}"
    try:
        canonical = canonical_id(written)
    except IdentityError as error:
        return error.problem
    return None if canonical == written else (
        f"{written!r} is not in canonical form; write {canonical!r}")


def _entry(entry: dict[str, object], where: str, line: Callable[[str | None], int | None],
           add: _Add) -> Principal | None:
    """The principal of one ``[[principals]]`` table, or None after adding its problems."""
    added = 0

    def problem(key: str | None, message: str) -> None:
        nonlocal added
        added += 1
        add(f"{where}.{key}" if key else where, message, line(key))

    for key in entry:
        if key not in _PRINCIPAL_KEYS:
            close = difflib.get_close_matches(key, _PRINCIPAL_KEYS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problem(key, f"unknown key; expected one of {', '.join(_PRINCIPAL_KEYS)}{hint}")
    for key in _REQUIRED_KEYS:
        if key not in entry:
            add(f"{where}.{key}", "missing", line(None))
            added += 1
    if "id" in entry and (message := _id_problem(entry["id"])) is not None:
        problem("id", message)
    for key, check in (("name", _check_display_name), ("roles", _roles)):
        if key in entry:
            try:
                check(entry[key])
            except IdentityError as error:
                problem(key, f"{error.problem}; got {bounded_repr(error.value)}")
    key_bytes = None
    if "public_key" in entry:
        try:
            key_bytes = _public_key(entry["public_key"])
        except ValueError as error:
            problem("public_key", str(error))
    if added:
        return None
    return Principal(entry["id"], entry["name"], entry["roles"], key_bytes)  # type: ignore[arg-type]


def _parse(text: str, source: str) -> list[Principal]:
    """The principals of a directory file, or `DirectoryError` with every problem found."""
    problems: list[DirectoryProblem] = []

    def add(where: str, message: str, line: int | None = None) -> None:
        problems.append(DirectoryProblem(where, message, source, line))

    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        match = _AT_LINE.search(str(error))
        add("file", f"not valid TOML: {error}", int(match.group(1)) if match else None)
        raise DirectoryError(problems) from None
    except RecursionError:  # arrays or tables nested past the interpreter's recursion limit
        add("file", "not a directory: values nested too deeply")
        raise DirectoryError(problems) from None
    lines = _Lines(text)
    problems += [DirectoryProblem(key, "unknown key; expected only [[principals]] tables", source)
                 for key in document if key != "principals"]
    entries = document.get("principals")
    if not isinstance(entries, list):
        add("principals", "missing: expected [[principals]] tables" if entries is None
            else f"expected [[principals]] tables, got {bounded_repr(entries)}")
        raise DirectoryError(problems)
    principals: list[Principal] = []
    origins: list[tuple[int, int | None]] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            add(f"principals[{index}]", f"expected a table, got {type(entry).__name__}",
                lines.of(index))
            continue
        principal = _entry(entry, f"principals[{index}]", functools.partial(lines.of, index), add)
        if principal is not None:
            principals.append(principal)
            origins.append((index, lines.of(index)))
    problems += [attrs.evolve(problem, source=source) for problem in _collisions(principals, origins)]
    if problems:
        raise DirectoryError(problems)
    return principals
