"""The etcd client: aetcd 1.0.0 on a TLS channel, with its own password authentication kept.

aetcd 1.0.0 authenticates (``Authenticate`` RPC, then a ``token`` in every call's metadata) but
opens only insecure gRPC channels: its ``connect()`` calls ``grpc.aio.insecure_channel``. `Client`
overrides that one method to open ``grpc.aio.secure_channel`` with
``grpc.ssl_channel_credentials(ca, key, chain)`` and otherwise does exactly what aetcd 1.0.0's
``connect()`` does (the token, the stubs, the watcher), so everything else in aetcd is unchanged.
aetcd is pinned to 1.0.0 (pyproject.toml) because this override copies its ``connect()``.

`tls_credentials` reads and checks the PEM files once, when a coordinator is built: a missing
file, a key that does not match its certificate or an expired certificate is a
`ConfigurationError` then, not an opaque TLS handshake failure at the first halt.

`password_source` checks the user and password options. `Client.range` is the one read the
coordinator pages with (aetcd's ``get_prefix`` has no
``limit``, ``revision`` or ``min_mod_revision``); `TooLarge` is a reply over gRPC's receive limit.
"""

from __future__ import annotations

import asyncio
import datetime
import os
from collections.abc import Callable
from typing import Any

import aetcd
import aetcd.exceptions
import aetcd.watcher
import grpc  # type: ignore[import-untyped]  # grpcio ships no type information
import grpc.aio  # type: ignore[import-untyped]
from aetcd import rpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from .._core.errors import ConfigurationError
from .._core.text import shown

MAX_RECEIVE = 4 * 1024 * 1024
"""gRPC's receive limit, set deliberately: pages are sized to fit it (see `_backend`)."""


class TooLarge(aetcd.exceptions.ClientError):  # type: ignore[misc]  # aetcd is untyped
    """etcd's reply is larger than `MAX_RECEIVE` (gRPC ``RESOURCE_EXHAUSTED``)."""


def too_large(exc: BaseException) -> bool:
    """Whether `exc` (or what it wraps) is a reply over the receive limit."""
    cause = exc if isinstance(exc, grpc.aio.AioRpcError) else exc.__cause__
    return isinstance(exc, TooLarge) or (
        isinstance(cause, grpc.aio.AioRpcError) and cause.code() == grpc.StatusCode.RESOURCE_EXHAUSTED)


def _path(name: str, value: object) -> str:
    if isinstance(value, str | os.PathLike):
        path = os.fspath(value)
        if isinstance(path, str) and path:
            return path
    msg = f"{name} must be the path of a PEM file, got {shown(value)}"
    raise ConfigurationError(msg)


def _read(name: str, path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        msg = f"cannot read {name} {shown(path)}: {exc}"
        raise ConfigurationError(msg) from None


def _certificates(name: str, path: str, data: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        msg = f"{name} {shown(path)} holds no PEM certificate"
        raise ConfigurationError(msg) from None
    now = datetime.datetime.now(datetime.UTC)
    for cert in certs:
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            msg = (f"{name} {shown(path)}: certificate {cert.subject.rfc4514_string()} is valid from "
                   f"{cert.not_valid_before_utc} to {cert.not_valid_after_utc}, not now ({now})")
            raise ConfigurationError(msg)
    return certs


def tls_credentials(ca_cert: object, client_cert: object = None,
                    client_key: object = None) -> grpc.ChannelCredentials:
    """Channel credentials from PEM files: the CA to trust, and this client's certificate and key.

    Raises:
        ConfigurationError: a file is missing or unreadable, holds no PEM certificate or key,
            the key does not match the certificate, or a certificate is not valid now.
    """
    if (client_cert is None) != (client_key is None):
        msg = (f"client_cert and client_key go together, got client_cert={shown(client_cert)}, "
               f"client_key={client_key!r}")
        raise ConfigurationError(msg)
    ca_path = _path("ca_cert", ca_cert)
    root = _read("ca_cert", ca_path)
    _certificates("ca_cert", ca_path, root)
    if client_cert is None:
        return grpc.ssl_channel_credentials(root_certificates=root)
    cert_path, key_path = _path("client_cert", client_cert), _path("client_key", client_key)
    chain = _read("client_cert", cert_path)
    leaf = _certificates("client_cert", cert_path, chain)[0]
    key_pem = _read("client_key", key_path)
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        msg = f"client_key {shown(key_path)} is encrypted; gRPC needs an unencrypted key"
        raise ConfigurationError(msg) from None
    except ValueError:
        msg = f"client_key {shown(key_path)} holds no PEM private key"
        raise ConfigurationError(msg) from None
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        msg = (f"client_key {shown(key_path)} does not match client_cert {shown(cert_path)} "
               f"({leaf.subject.rfc4514_string()})")
        raise ConfigurationError(msg)
    return grpc.ssl_channel_credentials(root_certificates=root, private_key=key_pem,
                                        certificate_chain=chain)


def password_source(user: object, password: object) -> Callable[[], str] | None:
    """The user's password as a callable (called for every new connection); None: no user.

    Raises:
        ConfigurationError: only one of the two given, or of the wrong type.
    """
    if (user is None) != (password is None):
        given = "a" if password is not None else "no"
        msg = f"user and password go together, got user={shown(user)} and {given} password"
        raise ConfigurationError(msg)
    if user is None:
        return None
    if not isinstance(user, str) or not user:
        msg = f"user must be a non-empty str, got {shown(user)}"
        raise ConfigurationError(msg)
    if callable(password):
        return password
    if isinstance(password, str) and password:
        return lambda: password
    msg = f"password must be a non-empty str or a callable returning one, got a {type(password).__name__}"
    raise ConfigurationError(msg)


class Client(aetcd.Client):  # type: ignore[misc]  # aetcd is untyped
    """aetcd's client; on a TLS channel when given `tls` credentials, else plaintext."""

    _is_connecting: bool

    def __init__(self, *, tls: grpc.ChannelCredentials | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._tls = tls

    async def connect(self) -> None:
        """Open the channel (TLS if configured), authenticate if a user is set, build the stubs."""
        if self._tls is None:
            await super().connect()
            return
        try:
            await self._connect_tls()
        except grpc.aio.AioRpcError as exc:
            aetcd.exceptions._handle_exception(exc)  # aetcd's typed errors, as its connect() does

    async def _connect_tls(self) -> None:
        # aetcd 1.0.0's Client.connect(), with secure_channel in place of insecure_channel.
        if self._connected.is_set():
            return
        if self._is_connecting:
            await asyncio.wait_for(self._connected.wait(), self._connect_wait_timeout)
            return
        try:
            self._is_connecting = True
            target = f"{self._host}:{self._port}"
            self.channel = grpc.aio.secure_channel(target, self._tls, options=self._options.items())
            if self._username is not None and self._password is not None:
                self.auth_stub = rpc.AuthStub(self.channel)
                request = rpc.AuthenticateRequest(name=self._username, password=self._password)
                resp = await self.auth_stub.Authenticate(request, timeout=self._timeout)
                self.metadata = (("token", resp.token),)
            self.kvstub = rpc.KVStub(self.channel)
            self.clusterstub = rpc.ClusterStub(self.channel)
            self.leasestub = rpc.LeaseStub(self.channel)
            self.maintenancestub = rpc.MaintenanceStub(self.channel)
            self._watcher = aetcd.watcher.Watcher(rpc.WatchStub(self.channel), timeout=self._timeout,
                                                  metadata=self.metadata)
            self._connected.set()
        finally:
            self._is_connecting = False

    async def range(self, start: bytes, end: bytes, *, limit: int = 0, revision: int = 0,
                    min_mod_revision: int = 0, keys_only: bool = False,
                    newest_first: bool = False) -> Any:
        """One Range RPC over ``[start, end)``; the raw ``RangeResponse`` (kvs, more, header).

        Raises:
            TooLarge: the reply is over `MAX_RECEIVE` (ask for fewer keys).
        """
        await self.connect()
        request = rpc.RangeRequest(key=start, range_end=end, limit=limit, revision=revision,
                                   min_mod_revision=min_mod_revision, keys_only=keys_only)
        if newest_first:
            request.sort_target = rpc.RangeRequest.SortTarget.Value("MOD")
            request.sort_order = rpc.RangeRequest.SortOrder.Value("DESCEND")
        try:
            return await self.kvstub.Range(request, timeout=self._timeout, metadata=self.metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise TooLarge(exc.details()) from exc
            aetcd.exceptions._handle_exception(exc)
            raise  # pragma: no cover - _handle_exception always raises

    async def get_many(self, keys: list[bytes]) -> Any:
        """Several keys in one transaction (one revision); the raw ``TxnResponse``."""
        await self.connect()
        ops = [rpc.RequestOp(request_range=rpc.RangeRequest(key=key)) for key in keys]
        try:
            return await self.kvstub.Txn(rpc.TxnRequest(success=ops), timeout=self._timeout,
                                         metadata=self.metadata)
        except grpc.aio.AioRpcError as exc:
            if exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise TooLarge(exc.details()) from exc
            aetcd.exceptions._handle_exception(exc)
            raise  # pragma: no cover - _handle_exception always raises
