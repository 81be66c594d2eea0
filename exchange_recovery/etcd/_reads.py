"""Reading what is stored: paged at one revision, every value checked, junk set aside.

`Scopes` reads the keys under one venue's ``scopes/``. Everything read is untrusted: a value
over the size cap or not a record goes to `Read.bad` (its scope is then quarantined), a key
naming no scope to `Read.nameless`. `scan` pages any prefix (`PAGE` keys per RPC, all at the
revision of the first page); a page over gRPC's receive limit is asked again for fewer keys, and
a single value over it comes back as None.
"""

from __future__ import annotations

import aetcd.utils

from .._coordination.state import CoordinatorState
from .._core.errors import ConfigurationError
from .._core.policy import Policy
from .._core.text import shown
from .._decide.records import TransitionRecord
from ._client import MAX_RECEIVE, Client, TooLarge
from ._records import decode, scope_of

PAGE = 128  # keys per range RPC: 128 records under the 16 KiB cap are 2 MiB, half the receive limit
NAMELESS = "the key names no scope (empty, not UTF-8 or unprintable)"


class Read:
    """A read of the scopes: records, quarantined scopes, keys naming no scope, the revision."""

    def __init__(self) -> None:
        self.records: dict[str, TransitionRecord] = {}
        self.bad: dict[str, tuple[int, str]] = {}  # scope -> (mod_revision, what is wrong)
        self.nameless: list[tuple[bytes, int]] = []  # (key, mod_revision)
        self.revision = 0

    def state(self) -> CoordinatorState:
        """The records as a coordinator state (what is set aside is not in it)."""
        return CoordinatorState.of(self.records, self.revision)

    def drop_unknown_phases(self, policy: Policy) -> None:
        """Set aside records into a phase `policy` does not know (`Follower.adopt` would refuse
        the whole read for one of them; `Follower.apply` refuses just the record)."""
        for scope, record in list(self.records.items()):
            try:
                policy.phase(record.dest)
            except ConfigurationError as exc:
                del self.records[scope]
                self.bad[scope] = (record.version, str(exc))


async def scan(c: Client, prefix: bytes) -> tuple[list[tuple[bytes, bytes | None, int]], int]:
    """Every (key, value, mod_revision) under `prefix`, paged at one revision; and that revision."""
    end = aetcd.utils.prefix_range_end(prefix)
    found: list[tuple[bytes, bytes | None, int]] = []
    start, limit, revision = prefix, PAGE, 0
    while True:
        try:
            page = await c.range(start, end, limit=limit, revision=revision)
            kvs = [(kv.key, kv.value, kv.mod_revision) for kv in page.kvs]
        except TooLarge:
            if limit > 1:
                limit = max(1, limit // 4)
                continue
            page = await c.range(start, end, limit=1, revision=revision, keys_only=True)
            kvs = [(kv.key, None, kv.mod_revision) for kv in page.kvs]
        revision = revision or page.header.revision
        found.extend(kvs)
        if not page.more or not kvs:
            return found, revision
        start = kvs[-1][0] + b"\0"


class Scopes:
    """The keys ``<prefix>scopes/<scope>`` of one venue, read with a record size cap."""

    def __init__(self, prefix: bytes, max_record: int) -> None:
        self.prefix = prefix
        self.end = aetcd.utils.prefix_range_end(prefix)
        self.max_record = max_record

    def key(self, scope: object) -> bytes:
        """The key of `scope`; ConfigurationError if it is not a usable scope name."""
        try:
            suffix = scope.encode() if isinstance(scope, str) else b""
        except UnicodeEncodeError:
            suffix = b""
        if not isinstance(scope, str) or scope_of(suffix) != scope:
            msg = f"scope names must be non-empty printable strs, got {shown(scope)}"
            raise ConfigurationError(msg)
        return self.prefix + suffix

    def scope(self, key: bytes) -> str | None:
        """The scope `key` names, or None."""
        return scope_of(key[len(self.prefix):])

    def decode(self, scope: str, value: bytes, revision: int) -> TransitionRecord:
        """`decode` with this venue's size cap."""
        return decode(scope, value, revision, max_bytes=self.max_record)

    def sort(self, got: Read, key: bytes, value: bytes | None, revision: int) -> None:
        """File one stored (key, value) into `got`: a record, a quarantined scope, or nameless."""
        scope = self.scope(key)
        if scope is None:
            got.nameless.append((key, revision))
        elif value is None:
            got.bad[scope] = (revision, f"value is over gRPC's receive limit of {MAX_RECEIVE} bytes")
        else:
            try:
                got.records[scope] = self.decode(scope, value, revision)
            except ValueError as exc:
                got.bad[scope] = (revision, str(exc))

    async def read_all(self, c: Client) -> Read:
        """Every scope, paged at one revision."""
        got = Read()
        kvs, got.revision = await scan(c, self.prefix)
        for key, value, revision in kvs:
            self.sort(got, key, value, revision)
        return got

    async def read_keys(self, c: Client, keys: list[bytes]) -> Read:
        """Only `keys`, in one transaction (one revision)."""
        got = Read()
        reply = await c.get_many(keys)
        got.revision = reply.header.revision
        for response in reply.responses:
            for kv in response.response_range.kvs:
                self.sort(got, kv.key, kv.value, kv.mod_revision)
        return got

    async def newer(self, c: Client, after: int) -> tuple[int, int]:
        """The newest mod_revision above `after` (0: none), and the revision the read was at:
        one key's metadata, however many scopes there are."""
        reply = await c.range(self.prefix, self.end, limit=1, min_mod_revision=after + 1,
                              keys_only=True, newest_first=True)
        newest = reply.kvs[0].mod_revision if reply.kvs else 0
        return newest, reply.header.revision
