"""The etcd coordinator: one key per scope, transactions on ``mod_revision``, watches that resume.

Client: ``aetcd`` 1.0.0 (asyncio over gRPC). Its watch is a server stream (no polling: a halt
reaches a gateway one loopback round trip after it is stored), its errors are typed
(``RevisionCompactedError`` tells compaction apart), and one event loop serves the watch, the
lease and the reads of a gateway without a thread per stream. Every RPC gets an explicit
deadline (``timeout``); the client's default is none.

Keys, under a prefix (default ``exchange_recovery/``):

- ``scopes/<scope>``: JSON of the scope's latest `TransitionRecord` without its version; the
  version is the key's ``mod_revision``, the etcd revision of the write;
- ``gateways/<name>``: one per following gateway, attached to its lease (TTL ``lease_ttl``).

A private event loop runs on a daemon thread; the synchronous methods submit to it and wait at
most ``timeout`` seconds (then `CoordinatorError`). `gate.check` never goes near it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aetcd
import aetcd.exceptions

from .._control.audit import audit_logger
from .._coordination.coordinator import Unsubscribe, conflict
from .._coordination.follower import Follower
from .._coordination.state import CoordinatorState
from .._core.errors import ConfigurationError, CoordinatorError
from .._decide.records import TransitionRecord

_T = TypeVar("_T")
# gRPC shares subchannels (and their reconnect backoff, up to 120 s) between channels to the same
# target: a "fresh" client would inherit the dead connection's backoff after an etcd restart.
# Each client gets its own subchannel pool, and reconnect backoff stays under a second.
_CHANNEL = {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.initial_reconnect_backoff_ms": 100,
    "grpc.min_reconnect_backoff_ms": 100,
    "grpc.max_reconnect_backoff_ms": 1000,
}
_FIELDS = ("scope", "source", "dest", "trigger", "actor", "reason", "timestamp", "relaxing")


class _Lagging(Exception):
    """A read shows records the watch has not delivered within a refresh period."""


def encode(record: TransitionRecord) -> bytes:
    """The stored value of `record` (its version is the key's mod_revision, not stored)."""
    body = {f: getattr(record, f) for f in _FIELDS}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def decode(scope: str, value: bytes, revision: int) -> TransitionRecord:
    """The record stored at `scope`'s key; raises ValueError if it is not one."""
    try:
        body = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"value is not JSON: {exc}"
        raise ValueError(msg) from None
    if not isinstance(body, dict) or set(body) != set(_FIELDS):
        msg = f"value is not a transition record: {value[:200]!r}"
        raise ValueError(msg)
    texts = ("scope", "source", "dest", "trigger", "actor", "reason")
    if not all(type(body[f]) is str for f in texts) or type(body["relaxing"]) is not bool \
            or type(body["timestamp"]) not in (int, float):
        msg = f"a record field has the wrong type: {body!r}"
        raise ValueError(msg)
    if body["scope"] != scope:
        msg = f"record for scope {body['scope']!r} stored under {scope!r}"
        raise ValueError(msg)
    return TransitionRecord(version=revision, **body)


def _endpoints(endpoint: object) -> list[tuple[str, int]]:
    if not isinstance(endpoint, str):
        msg = f"endpoint must be 'host:port[,host:port...]', got {endpoint!r}"
        raise ConfigurationError(msg)
    result = []
    for item in endpoint.split(","):
        host, sep, port = item.strip().rpartition(":")
        if not sep or not host or not port.isdigit():
            msg = f"endpoint must be 'host:port[,host:port...]', got {endpoint!r}"
            raise ConfigurationError(msg)
        result.append((host, int(port)))
    return result


class EtcdCoordinator:
    """A `Coordinator` on etcd: proposals are transactions, followers watch and resume.

    Args:
        endpoint: ``host:port`` of an etcd member, or several separated by commas (each new
            client, after an error, goes to the next one).
        prefix: the key prefix of this venue (several venues can share one cluster).
        timeout: the deadline of every RPC, in seconds.
        lease_ttl: the TTL of each following gateway's lease, in whole seconds.
        refresh: seconds between a follower's lease refresh and fresh read.

    Example:
        >>> from exchange_recovery import CoordinatedController, Follower, default_policy
        >>> etcd = EtcdCoordinator("127.0.0.1:2379")  # doctest: +SKIP
        >>> stop = etcd.follow(Follower(default_policy()), name="gw-1")  # doctest: +SKIP
        >>> CoordinatedController(default_policy(), etcd).halt(actor="ops:a", reason="r")  # doctest: +SKIP
    """

    def __init__(self, endpoint: str = "127.0.0.1:2379", *, prefix: str = "exchange_recovery/",
                 timeout: float = 2.0, lease_ttl: int = 3, refresh: float = 1.0,
                 logger: Any = None) -> None:
        self._endpoints = _endpoints(endpoint)
        self._next = 0
        if not isinstance(prefix, str) or not prefix:
            msg = f"prefix must be a non-empty str, got {prefix!r}"
            raise ConfigurationError(msg)
        for name, value in (("timeout", timeout), ("refresh", refresh)):
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                msg = f"{name} must be a number of seconds > 0, got {value!r}"
                raise ConfigurationError(msg)
        if type(lease_ttl) is not int or lease_ttl < 1:
            msg = f"lease_ttl must be an int >= 1 (seconds), got {lease_ttl!r}"
            raise ConfigurationError(msg)
        self._prefix = prefix.encode()
        self._scopes = self._prefix + b"scopes/"
        self._gateways = self._prefix + b"gateways/"
        self._timeout = float(timeout)
        self._lease_ttl = lease_ttl
        self._refresh = float(refresh)
        self._log = audit_logger(logger)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="etcd-coordinator",
                                        daemon=True)
        self._thread.start()
        self._client: aetcd.Client | None = None
        self._stops: list[Unsubscribe] = []

    # -- the Coordinator interface -------------------------------------------------------------

    def read(self) -> CoordinatorState:
        """A linearizable range read of every scope's record.

        Raises:
            CoordinatorError: no answer in time, or a scope's value is not a record.
        """
        state, bad = self._call(self._read)
        if bad:
            msg = f"etcd holds values that are not records: {bad}"
            raise CoordinatorError(msg)
        return state

    def propose(self, record: TransitionRecord, expected: int) -> TransitionRecord:
        """One transaction: if ``mod_revision(scope key) == expected`` put the record, else read.

        Raises:
            TransitionConflict: the key moved; carries the winning record and state.
            CoordinatorError: no answer in time; the outcome is unknown.
        """
        if not isinstance(record, TransitionRecord):
            msg = f"propose() needs a TransitionRecord, got {record!r}"
            raise ConfigurationError(msg)
        key = self._scopes + record.scope.encode()

        async def txn(c: aetcd.Client) -> tuple[bool, TransitionRecord | None]:
            t = c.transactions
            ok, responses = await c.transaction(
                compare=[t.mod(key) == expected],
                success=[t.put(key, encode(record)), t.get(key)],
                failure=[t.get(key)],
            )
            found = responses[-1]
            if not found:
                return ok, None
            return ok, decode(record.scope, found[0][0], found[0][1].mod_revision)

        ok, stored = self._call(txn)
        if ok and stored is not None:
            return stored
        raise conflict(record, expected, self.read(), stored)

    def follow(self, follower: Follower, *, name: str | None = None) -> Unsubscribe:
        """Keep `follower` up to date from a watch that resumes on any error; return a stop.

        With a `name`, the gateway also keeps ``gateways/<name>`` alive on a lease. A thread
        checks the follower's staleness bound (`Follower.watch`).
        """
        if not isinstance(follower, Follower):
            msg = f"follow() needs a Follower, got {follower!r}"
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
            self._call(lambda c: c.get(self._scopes))
        except CoordinatorError:
            return False
        return True

    # -- operators' extras ---------------------------------------------------------------------

    def gateways(self) -> dict[str, dict[str, Any]]:
        """The live gateways: name -> what each registered (pid, host, since)."""
        async def get(c: aetcd.Client) -> dict[str, dict[str, Any]]:
            found = await c.get_prefix(self._gateways)
            return {kv.key[len(self._gateways):].decode(): json.loads(kv.value) for kv in found}
        result: dict[str, dict[str, Any]] = self._call(get)
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

    # -- internals -------------------------------------------------------------------------------

    def _new_client(self) -> aetcd.Client:
        """A client on the next member in turn: every resume also tries another member."""
        host, port = self._endpoints[self._next % len(self._endpoints)]
        self._next += 1
        return aetcd.Client(host=host, port=port, timeout=self._timeout, options=_CHANNEL,
                            connect_wait_timeout=max(1, round(self._timeout)))

    async def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(client.close(), self._timeout)

    def _call(self, fn: Callable[[aetcd.Client], Coroutine[Any, Any, _T]]) -> _T:
        """Run `fn(client)` on the loop with the deadline; errors become CoordinatorError."""
        async def run() -> _T:
            if self._client is None:
                self._client = self._new_client()
            try:
                return await asyncio.wait_for(fn(self._client), self._timeout)
            except BaseException:
                await self._drop_client()  # the next call starts on a fresh client
                raise

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            return future.result(self._timeout + 1.0)
        except (aetcd.exceptions.ClientError, TimeoutError, OSError) as exc:
            future.cancel()
            members = ",".join(f"{h}:{p}" for h, p in self._endpoints)
            msg = f"etcd at {members} did not answer: {exc!r}"
            raise CoordinatorError(msg) from exc

    async def _read(self, c: aetcd.Client) -> tuple[CoordinatorState, dict[str, str]]:
        found = await c.get_prefix(self._scopes)
        records: dict[str, TransitionRecord] = {}
        bad: dict[str, str] = {}
        for kv in found:
            scope = kv.key[len(self._scopes):].decode(errors="replace")
            try:
                records[scope] = decode(scope, kv.value, kv.mod_revision)
            except ValueError as exc:
                bad[scope] = str(exc)
        return CoordinatorState.of(records, found.header.revision), bad

    async def _follow(self, follower: Follower, name: str | None, label: str) -> None:
        seen = [0]  # the etcd revision up to which every event has been delivered
        adopt = True
        while True:
            client = self._new_client()
            try:
                read_at = follower.clock()
                state, bad = await asyncio.wait_for(self._read(client), self._timeout)
                if adopt:
                    follower.adopt(state, read_at)
                    for scope, detail in bad.items():
                        follower.reject(scope, state.revision, detail)
                    seen[0] = state.revision
                    adopt = False
                else:
                    follower.heard()
                lease = await self._register(client, name, label, follower.version)
                watch = await asyncio.wait_for(
                    client.watch_prefix(self._scopes, start_revision=seen[0] + 1), self._timeout)
                await self._stream(client, watch, follower, seen, lease, name, label)
            except asyncio.CancelledError:  # stopped: leave the list of live gateways now
                if name is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(client.delete(self._gateways + name.encode()),
                                               self._timeout)
                await self._close(client)
                raise
            except aetcd.exceptions.RevisionCompactedError as exc:
                self._log.warning("follower_history_compacted", name=label, seen=seen[0],
                                  compacted=exc.compacted_revision)
                adopt = True
            except Exception as exc:  # any error: a fresh client, a read, a new watch
                self._log.warning("follower_resume", name=label, seen=seen[0], error=repr(exc))
            await self._close(client)
            await asyncio.sleep(min(0.2, self._refresh))

    async def _stream(self, client: aetcd.Client, watch: Any, follower: Follower, seen: list[int],
                      lease: Any, name: str | None, label: str) -> None:
        async def consume() -> None:
            async for event in watch:
                kv = event.kv
                scope = kv.key[len(self._scopes):].decode(errors="replace")
                if event.kind == "DELETE":
                    follower.reject(scope, kv.mod_revision, "the scope's key was deleted")
                else:
                    try:
                        record = decode(scope, kv.value, kv.mod_revision)
                    except ValueError as exc:
                        follower.reject(scope, kv.mod_revision, str(exc))
                    else:
                        follower.apply(record)
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
                state, _ = await self._read(client)
                if follower.fresh(state, read_at):
                    behind = 0
                elif behind and follower.version < behind:
                    msg = f"watch silent: read shows version {behind}, applied {follower.version}"
                    raise _Lagging(msg)
                else:
                    behind = state.version

        tasks = {asyncio.ensure_future(consume()), asyncio.ensure_future(tick())}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _register(self, client: aetcd.Client, name: str | None, label: str,
                        version: int) -> Any:
        if name is None:
            return None
        lease = await client.lease(self._lease_ttl)
        body = {"name": label, "pid": os.getpid(), "host": socket.gethostname(),
                "since": time.time(), "version": version}
        await client.put(self._gateways + name.encode(), json.dumps(body).encode(), lease=lease)
        return lease

    async def _close(self, client: aetcd.Client) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(client.close(), self._timeout)
