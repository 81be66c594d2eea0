"""The etcd coordinator: one key per scope, transactions on ``mod_revision``, watches that resume.

Client: ``aetcd`` 1.0.0 (asyncio over gRPC), on TLS with a client certificate and a password
(`._client`). Its watch is a server stream (no polling: a halt reaches a gateway one loopback
round trip after it is stored), its errors are typed (``RevisionCompactedError`` tells
compaction apart), and one event loop serves the watch, the lease and the reads of a gateway
without a thread per stream. Every RPC gets an explicit deadline (``timeout``); the client's
default is none.

Keys, under a prefix (default ``exchange_recovery/``):

- ``scopes/<scope>``: JSON of the scope's latest `TransitionRecord` without its version; the
  version is the key's ``mod_revision``, the etcd revision of the write;
- ``gateways/<name>``: one per following gateway, attached to its lease (TTL ``lease_ttl``).

Everything read is untrusted: a value that is not a record (junk, over the size cap) is
*quarantined*, never fatal: a follower holds that scope fail-safe (`Follower.reject`), an
operator's read leaves it out with a critical ``etcd_value_quarantined``, and a halt may
overwrite it. A key naming no scope is reported (critical ``etcd_key_quarantined``) and skipped.
Reads are paged at one revision (`._reads`); a follower's periodic freshness check reads one
key's metadata, not the whole prefix.

A private event loop runs on a daemon thread; the synchronous methods submit to it and wait at
most ``timeout`` seconds per RPC (then `CoordinatorError`). `gate.check` never goes near it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, TypeVar

import aetcd
import aetcd.exceptions

from .._control.audit import audit_logger
from .._coordination.coordinator import Unsubscribe, conflict
from .._coordination.follower import Follower
from .._coordination.state import CoordinatorState
from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, CoordinatorError, TransitionConflict
from .._core.text import shown
from .._decide.records import TransitionRecord
from ._client import MAX_RECEIVE, Client, password_source, tls_credentials, too_large
from ._reads import NAMELESS, PAGE, Read, Scopes, scan
from ._records import MAX_RECORD_BYTES, encode

_T = TypeVar("_T")
# gRPC shares subchannels (and their reconnect backoff, up to 120 s) between channels to the same
# target: a "fresh" client would inherit the dead connection's backoff after an etcd restart.
# Each client gets its own subchannel pool, and reconnect backoff stays under a second.
_CHANNEL = {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
    "grpc.max_receive_message_length": MAX_RECEIVE,
}
_READ_BUDGET = 8  # a full read (many pages) may take this many RPC deadlines in all
# etcd refuses a password token that expired (simple tokens: --auth-token-ttl seconds idle) or,
# for JWT tokens, that was issued before an RBAC change. Nothing was applied; a new client
# authenticates again.
_STALE_TOKEN = ("invalid auth token", "revision of auth store is old")
_REFUSED = ("permission denied", "authentication failed", "user name is empty",
            "invalid auth token", "revision of auth store is old")


class _Lagging(Exception):
    """A read shows records the watch has not delivered within a refresh period."""


def _endpoints(endpoint: object) -> list[tuple[str, int]]:
    if not isinstance(endpoint, str):
        msg = f"endpoint must be 'host:port[,host:port...]', got {shown(endpoint)}"
        raise ConfigurationError(msg)
    result = []
    for item in endpoint.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            msg = f"endpoint must be 'host:port[,host:port...]', got {shown(endpoint)}"
            raise ConfigurationError(msg)
        result.append((host, int(port)))
    return result


class EtcdCoordinator:
    """A `Coordinator` on etcd: proposals are transactions, followers watch and resume.

    Every connection is TLS (``ca_cert``), presents a client certificate (``client_cert``,
    ``client_key``) and authenticates as an etcd user (``user``, ``password``), so that etcd's
    RBAC decides what this process may do: operators read-write the prefix, gateways only read
    ``scopes/`` (see docs/deployment.md). ``plaintext=True`` (no TLS, no password) is for local
    development only and must be asked for.

    Args:
        endpoint: ``host:port`` of an etcd member, or several separated by commas (each new
            client, after an error, goes to the next one).
        prefix: the key prefix of this venue (several venues can share one cluster).
        timeout: the deadline of every RPC, in seconds.
        lease_ttl: the TTL of each following gateway's lease, in whole seconds.
        refresh: seconds between a follower's lease refresh and freshness check.
        ca_cert: path of the PEM CA certificate(s) that signed etcd's server certificate.
        client_cert: path of this client's PEM certificate (chain); its CN should be `user`.
        client_key: path of its unencrypted PEM private key.
        user: the etcd user to authenticate as.
        password: its password, or a callable returning it (called for every new connection:
            ``lambda: os.environ["ETCD_PASSWORD"]`` or a secret store lookup).
        plaintext: connect without TLS and without a password (local development only).
        max_record_bytes: the size cap of one stored record, on write and on read.

    Raises:
        ConfigurationError: an option is missing, inconsistent or unusable (a certificate
            file is unreadable, expired or does not match its key).

    Example:
        >>> from exchange_recovery import CoordinatedController, Follower, default_policy
        >>> etcd = EtcdCoordinator("10.0.0.5:2379", ca_cert="ca.crt", client_cert="gw.crt",
        ...                        client_key="gw.key", user="gateway",
        ...                        password=lambda: os.environ["ETCD_PASSWORD"])  # doctest: +SKIP
        >>> stop = etcd.follow(Follower(default_policy()), name="gw-1")  # doctest: +SKIP
        >>> EtcdCoordinator("127.0.0.1:2379")
        Traceback (most recent call last):
        exchange_recovery.ConfigurationError: EtcdCoordinator needs ca_cert= (TLS, with \
client_cert/client_key and user/password), or plaintext=True for local development
    """

    def __init__(self, endpoint: str = "127.0.0.1:2379", *, prefix: str = "exchange_recovery/",
                 timeout: float = 2.0, lease_ttl: int = 3, refresh: float = 1.0,
                 logger: Any = None, ca_cert: str | os.PathLike[str] | None = None,
                 client_cert: str | os.PathLike[str] | None = None,
                 client_key: str | os.PathLike[str] | None = None, user: str | None = None,
                 password: str | Callable[[], str] | None = None, plaintext: bool = False,
                 max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        self._endpoints = _endpoints(endpoint)
        self._next = 0
        if not isinstance(prefix, str) or not prefix or not _encodable(prefix):
            msg = f"prefix must be a non-empty str, got {shown(prefix)}"
            raise ConfigurationError(msg)
        for name, value in (("timeout", timeout), ("refresh", refresh)):
            if isinstance(value, bool) or not isinstance(value, int | float) \
                    or not 0 < value <= 3600:
                msg = f"{name} must be a number of seconds > 0 and at most 3600, got {shown(value)}"
                raise ConfigurationError(msg)
        if type(lease_ttl) is not int or lease_ttl < 1:
            msg = f"lease_ttl must be an int >= 1 (seconds), got {shown(lease_ttl)}"
            raise ConfigurationError(msg)
        if type(max_record_bytes) is not int or not 1024 <= max_record_bytes <= MAX_RECEIVE // PAGE:
            msg = (f"max_record_bytes must be an int from 1024 to {MAX_RECEIVE // PAGE}, "
                   f"got {shown(max_record_bytes)}")
            raise ConfigurationError(msg)
        if type(plaintext) is not bool:
            msg = f"plaintext must be a bool, got {shown(plaintext)}"
            raise ConfigurationError(msg)
        self._password = password_source(user, password)
        self._user = user
        if plaintext:
            given = [n for n, v in (("ca_cert", ca_cert), ("client_cert", client_cert),
                                    ("client_key", client_key), ("user", user)) if v is not None]
            if given:
                msg = f"plaintext=True sends no certificate and no password: drop {', '.join(given)}"
                raise ConfigurationError(msg)
            self._tls = None
        elif ca_cert is None:
            msg = ("EtcdCoordinator needs ca_cert= (TLS, with client_cert/client_key and "
                   "user/password), or plaintext=True for local development")
            raise ConfigurationError(msg)
        else:
            self._tls = tls_credentials(ca_cert, client_cert, client_key)
        self._prefix = prefix.encode()
        self._scopes = self._prefix + b"scopes/"
        self._gateways = self._prefix + b"gateways/"
        self._store = Scopes(self._scopes, max_record_bytes)
        self._timeout = float(timeout)
        self._lease_ttl = lease_ttl
        self._refresh = float(refresh)
        self._log = audit_logger(logger)
        self._lock = threading.Lock()
        self._quarantined: dict[bytes, int] = {}  # key -> mod_revision of what was alarmed on
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="etcd-coordinator",
                                        daemon=True)
        self._thread.start()
        self._client: Client | None = None
        self._stops: list[Unsubscribe] = []

    # -- the Coordinator interface -------------------------------------------------------------

    def read(self, scopes: Iterable[str] | None = None) -> CoordinatorState:
        """A linearizable read of every scope's record (paged, at one revision), or of `scopes`.

        With `scopes`, only those keys are read, in one transaction: a decision about one
        scope needs nothing else. A value that is not a record is left out (quarantined, with
        a critical ``etcd_value_quarantined`` the first time it is seen).

        Raises:
            CoordinatorError: no answer in time, or etcd refused the credentials.
        """
        if scopes is None:
            got = self._call(self._store.read_all, budget=self._timeout * _READ_BUDGET)
            self._alarm(got, None)
        else:
            if isinstance(scopes, str):
                msg = f"scopes must be a collection of scope names, got the str {shown(scopes)}"
                raise ConfigurationError(msg)
            keys = [self._store.key(scope) for scope in scopes]
            got = self._call(lambda c: self._store.read_keys(c, keys))
            self._alarm(got, keys)
        return got.state()

    def propose(self, record: TransitionRecord, expected: int) -> TransitionRecord:
        """One transaction: if ``mod_revision(scope key) == expected`` put the record, else read.

        A tightening record (not ``relaxing``, such as a halt) decided on a scope whose stored
        value was quarantined (``expected == 0``) replaces that value.

        Raises:
            TransitionConflict: the key moved; carries the winning record and state.
            ConfigurationError: the record is over ``max_record_bytes``; nothing was stored.
            CoordinatorError: no answer in time (the outcome is unknown), or etcd refused
                these credentials the write (nothing was stored).
        """
        if not isinstance(record, TransitionRecord):
            msg = f"propose() needs a TransitionRecord, got {shown(record)}"
            raise ConfigurationError(msg)
        key = self._store.key(record.scope)
        value = encode(record)
        if len(value) > self._store.max_record:
            msg = (f"the record for scope {shown(record.scope)} is {len(value)} bytes, over "
                   f"max_record_bytes={self._store.max_record} (its reason has {len(record.reason)} "
                   f"characters); nothing was stored")
            raise ConfigurationError(msg)
        compare = expected
        with self._lock:
            junk = self._quarantined.get(key)
        if expected == 0 and junk is not None and not record.relaxing:
            compare = junk  # over the quarantined value the read left out: anyone may halt

        async def txn(c: Client) -> tuple[bool, bytes | None, int]:
            t = c.transactions
            ok, responses = await c.transaction(compare=[t.mod(key) == compare],
                                                success=[t.put(key, value), t.get(key)],
                                                failure=[t.get(key)])
            found = responses[-1]
            return (ok, found[0][0], found[0][1].mod_revision) if found else (ok, None, 0)

        ok, stored_value, revision = self._call(txn)
        detail = ""
        stored = None
        if stored_value is not None:
            try:
                stored = self._store.decode(record.scope, stored_value, revision)
            except ValueError as exc:
                detail = str(exc)
        if ok and stored is not None:
            return stored
        state = self.read()
        if not detail:
            raise conflict(record, expected, state, stored)
        raise TransitionConflict(
            RefusalCode.VERSION_CONFLICT, scope=record.scope, phase="?", trigger=record.trigger,
            detail=(f"decided on version={expected}, stored version={revision} is not a record "
                    f"(quarantined: {detail}); only a tightening record such as a halt replaces it"),
            state=state, winner=None)

    def follow(self, follower: Follower, *, name: str | None = None) -> Unsubscribe:
        """Keep `follower` up to date from a watch that resumes on any error; return a stop.

        With a `name`, the gateway also keeps ``gateways/<name>`` alive on a lease. A thread
        checks the follower's staleness bound (`Follower.watch`).
        """
        if not isinstance(follower, Follower):
            msg = f"follow() needs a Follower, got {shown(follower)}"
            raise ConfigurationError(msg)
        label = name if name is not None else f"{socket.gethostname()}-{os.getpid()}"
        finished = threading.Event()

        async def run() -> None:
            try:
                await self._follow(follower, name, label)
            finally:
                finished.set()

        task = asyncio.run_coroutine_threadsafe(run(), self._loop)
        stop_watchdog = follower.watch()

        def stop() -> None:
            stop_watchdog()
            task.cancel()
            finished.wait(self._timeout * 2)

        self._stops.append(stop)
        return stop

    def alive(self) -> bool:
        """Whether etcd answers a read within the deadline now."""
        try:
            self._call(lambda c: c.range(self._scopes, self._scopes + b"\0", keys_only=True))
        except CoordinatorError:
            return False
        return True

    # -- operators' extras ---------------------------------------------------------------------

    def gateways(self) -> dict[str, dict[str, Any]]:
        """The live gateways: name -> what each registered (pid, host, since); junk skipped."""
        async def get(c: Client) -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            kvs, _ = await scan(c, self._gateways)
            for key, value, _rev in kvs:
                with contextlib.suppress(ValueError):  # UnicodeDecodeError is a ValueError
                    body = json.loads(value or b"")
                    if isinstance(body, dict) and len(value or b"") <= self._store.max_record:
                        found[key[len(self._gateways):].decode()] = body
            return found
        result: dict[str, dict[str, Any]] = self._call(get, budget=self._timeout * _READ_BUDGET)
        return result

    def close(self) -> None:
        """Stop following, close the client and the loop thread."""
        for stop in self._stops:
            stop()
        self._stops.clear()
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._drop_client(), self._loop).result(self._timeout)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self._timeout)
        if not self._loop.is_running() and not self._loop.is_closed():
            self._loop.close()

    def __enter__(self) -> EtcdCoordinator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- connections -----------------------------------------------------------------------------

    def _new_client(self) -> Client:
        """A client on the next member in turn: every resume also tries another member."""
        host, port = self._endpoints[self._next % len(self._endpoints)]
        self._next += 1
        password = None
        if self._password is not None:
            password = self._password()
            if not isinstance(password, str) or not password:
                msg = f"the password callable must return a non-empty str, got a {type(password).__name__}"
                raise ConfigurationError(msg)
        return Client(tls=self._tls, host=host, port=port, username=self._user, password=password,
                      timeout=self._timeout, options=_CHANNEL,
                      connect_wait_timeout=max(1, round(self._timeout)))

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await self._close(client)

    async def _close(self, client: Client) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), self._timeout)

    def _call(self, fn: Callable[[Client], Coroutine[Any, Any, _T]], *,
              budget: float | None = None) -> _T:
        """Run `fn(client)` on the loop within `budget` (one RPC deadline); errors become
        CoordinatorError. A refused token (expired, or older than an RBAC change) is retried
        once on a new client, which authenticates again."""
        limit = self._timeout if budget is None else budget

        async def run() -> _T:
            for attempt in (1, 2):
                if self._client is None:
                    self._client = self._new_client()
                try:
                    return await asyncio.wait_for(fn(self._client), limit)
                except BaseException as exc:
                    await self._drop_client()  # the next call starts on a fresh client
                    if attempt == 1 and any(s in str(exc) for s in _STALE_TOKEN):
                        continue
                    raise
            raise AssertionError("unreachable")  # pragma: no cover

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result(2 * limit + 1.0)
        except (aetcd.exceptions.ClientError, TimeoutError, OSError) as exc:
            future.cancel()
            members = ",".join(f"{h}:{p}" for h, p in self._endpoints)
            if any(s in str(exc) for s in _REFUSED):
                who = "no user" if self._user is None else f"user {self._user!r}"
                msg = f"etcd at {members} refused the request ({who}): {exc}"
            else:
                msg = f"etcd at {members} did not answer: {shown(exc)}"
            raise CoordinatorError(msg) from exc

    # -- reads -----------------------------------------------------------------------------------

    def _alarm(self, got: Read, keys: list[bytes] | None) -> None:
        """Remember what a read quarantined (a halt may replace it); alarm on what is new."""
        now = {self._scopes + s.encode(): (rev, detail) for s, (rev, detail) in got.bad.items()}
        now.update((key, (rev, NAMELESS)) for key, rev in got.nameless)
        with self._lock:
            before = dict(self._quarantined)
            if keys is None:
                self._quarantined = {key: rev for key, (rev, _) in now.items()}
            else:
                for key in keys:
                    self._quarantined.pop(key, None)
                self._quarantined.update((key, rev) for key, (rev, _) in now.items())
        for key, (rev, detail) in now.items():
            if before.get(key) != rev:
                self._log_quarantined(key, rev, detail)

    def _log_quarantined(self, key: bytes, revision: int, detail: str) -> None:
        scope = self._store.scope(key)
        if scope is None:
            self._log.critical("etcd_key_quarantined", key=repr(key[:200]), version=revision,
                               detail=detail)
        else:
            self._log.critical("etcd_value_quarantined", scope=scope, version=revision,
                               detail=detail)

    # -- following -------------------------------------------------------------------------------

    def _deliver(self, follower: Follower, key: bytes, value: bytes | None, revision: int, *,
                 batched: bool = False) -> None:
        """Hand one stored value (None: deleted) to `follower`; quarantine what is no record.

        `batched`: an earlier key changed in the same revision. This library writes one scope
        per transaction; the follower would skip the record as a replay of that revision.
        """
        scope = self._store.scope(key)
        if scope is None:  # no scope to hold fail-safe: alarm, and keep the follower's clock
            self._log_quarantined(key, revision, NAMELESS)
            follower.heard()
            return
        try:
            if value is None:
                follower.reject(scope, revision, "the scope's key was deleted")
                return
            if batched:
                follower.reject(scope, revision, "written in one transaction with another scope")
                return
            try:
                record = self._store.decode(scope, value, revision)
            except ValueError as exc:
                follower.reject(scope, revision, str(exc))
            else:
                follower.apply(record)
        except ConfigurationError as exc:  # a scope or phase the follower's gate cannot hold
            self._log_quarantined(key, revision, str(exc))

    async def _follow(self, follower: Follower, name: str | None, label: str) -> None:
        seen = [0]  # the etcd revision up to which every event has been delivered
        adopt = True
        while True:
            client = None
            try:
                client = self._new_client()
                read_at = follower.clock()
                if adopt:
                    got = await asyncio.wait_for(self._store.read_all(client),
                                                 self._timeout * _READ_BUDGET)
                    got.drop_unknown_phases(follower.policy)
                    follower.adopt(got.state(), read_at,
                                   [(scope, revision, detail)
                                    for scope, (revision, detail) in got.bad.items()])
                    for key, revision in got.nameless:
                        self._log_quarantined(key, revision, NAMELESS)
                    seen[0] = got.revision
                    adopt = False
                else:
                    await asyncio.wait_for(self._store.newer(client, seen[0]), self._timeout)
                    follower.heard()
                lease = await self._register(client, name, label, follower.version)
                watch = await asyncio.wait_for(
                    client.watch_prefix(self._scopes, start_revision=seen[0] + 1), self._timeout)
                await self._stream(client, watch, follower, seen, lease, name, label)
            except asyncio.CancelledError:  # stopped: leave the list of live gateways now
                if name is not None and client is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(client.delete(self._gateways + name.encode()),
                                               self._timeout)
                if client is not None:
                    await self._close(client)
                raise
            except aetcd.exceptions.RevisionCompactedError as exc:
                self._log.warning("follower_history_compacted", name=label, seen=seen[0],
                                  compacted=exc.compacted_revision)
                adopt = True
            except Exception as exc:  # any error: a fresh client, a read, a new watch
                if too_large(exc):  # the history to catch up on is too big to receive: re-read
                    self._log.warning("follower_history_too_large", name=label, seen=seen[0],
                                      error=repr(exc))
                    adopt = True
                else:
                    self._log.warning("follower_resume", name=label, seen=seen[0], error=repr(exc))
            if client is not None:
                await self._close(client)
            await asyncio.sleep(min(0.2, self._refresh))

    async def _stream(self, client: Client, watch: Any, follower: Follower, seen: list[int],
                      lease: Any, name: str | None, label: str) -> None:
        async def consume() -> None:
            last = 0
            async for event in watch:
                kv = event.kv
                self._deliver(follower, kv.key, None if event.kind == "DELETE" else kv.value,
                              kv.mod_revision, batched=kv.mod_revision == last)
                last = kv.mod_revision
                seen[0] = max(seen[0], kv.mod_revision)
            msg = "watch ended"
            raise _Lagging(msg)

        async def tick() -> None:
            nonlocal lease
            behind = 0
            while True:
                await asyncio.sleep(self._refresh)
                if lease is not None:
                    reply = await client.refresh_lease(lease.id)
                    if reply is None or reply.TTL <= 0:  # expired while we were away: re-register
                        lease = await self._register(client, name, label, follower.version)
                read_at = follower.clock()
                newest, revision = await self._store.newer(client, seen[0])
                # Only the version matters to fresh(): nothing stored after what the watch
                # delivered (newest == 0), or the newest such record.
                follower.fresh(CoordinatorState({}, newest, max(newest, revision)), read_at)
                if not newest:
                    behind = 0
                elif behind and seen[0] < behind:
                    msg = f"watch silent: a read shows revision {behind}, delivered {seen[0]}"
                    raise _Lagging(msg)
                else:
                    behind = newest

        tasks = {asyncio.ensure_future(consume()), asyncio.ensure_future(tick())}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _register(self, client: Client, name: str | None, label: str,
                        version: int) -> Any:
        if name is None:
            return None
        lease = await client.lease(self._lease_ttl)
        body = {"name": label, "pid": os.getpid(), "host": socket.gethostname(),
                "since": time.time(), "version": version}
        await client.put(self._gateways + name.encode(), json.dumps(body).encode(), lease=lease)
        return lease


def _encodable(text: str) -> bool:
    """Whether `text` can be a key prefix: UTF-8 encodable (no lone surrogates)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True
