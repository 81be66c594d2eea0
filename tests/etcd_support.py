"""Helpers for the etcd tests and the propagation benchmark: a locked-down etcd, gateway processes.

etcd runs the way .ci/run runs it: TLS on loopback with a throwaway CA (tests/etcd_pki.py),
``--client-cert-auth``, and RBAC enabled (`Site.lock_down`): user ``operator`` reads and writes a
venue's prefix, user ``gateway`` reads its ``scopes/`` and writes only its own liveness keys under
``gateways/``, ``root`` is for setup. Each client certificate's CN is its user.

`Site` is such an etcd as the tests reach it (the one .ci/run started, from the environment, or
an `EtcdServer`'s): credentials per party, ``etcdctl`` as one of them, `Site.grant` for a new
venue prefix. `EtcdServer` runs ``etcd`` on free loopback ports with a temporary data dir (kill,
restart on the same dir and port, stop). `Gateway` runs tests/etcd_gateway.py and follows the
status lines it prints; `wait_for` polls a condition with a generous timeout (never asserts on
durations).
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import attrs
from etcd_pki import generate

HERE = pathlib.Path(__file__).parent
GATEWAY = HERE / "etcd_gateway.py"
DEFAULT_PREFIX = "exchange_recovery/"  # EtcdCoordinator's default: .ci/run grants it up front
_CREDS_ENV = ("EXR_ETCD_CA", "EXR_ETCD_CERT", "EXR_ETCD_KEY", "EXR_ETCD_USER", "EXR_ETCD_PASSWORD")


def free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(condition: Callable[[], bool], timeout: float = 20.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; raise AssertionError naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            msg = f"timed out after {timeout} s waiting for {what}"
            raise AssertionError(msg)
        time.sleep(0.01)


def _etcd_env() -> dict[str, str]:
    """The environment for etcd and etcdctl: without ETCD_*/ETCDCTL_* (etcd reads ETCD_<FLAG>
    as flags and logs the ones it does not know, values included: passwords stay out)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ETCD_", "ETCDCTL_"))}


@attrs.frozen
class Creds:
    """How one party connects: the CA it trusts, its certificate and key, its user and password."""

    ca: str
    cert: str | None = None
    key: str | None = None
    user: str | None = None
    password: str | None = None

    def options(self) -> dict[str, Any]:
        """EtcdCoordinator's keyword options for these credentials."""
        return {"ca_cert": self.ca, "client_cert": self.cert, "client_key": self.key,
                "user": self.user, "password": self.password}

    def env(self) -> dict[str, str]:
        """These credentials as environment variables for a gateway process (`from_env`)."""
        values = (self.ca, self.cert, self.key, self.user, self.password)
        return {k: v for k, v in zip(_CREDS_ENV, values, strict=True) if v is not None}

    @classmethod
    def from_env(cls) -> Creds:
        """The credentials `env` handed to this process."""
        ca, cert, key, user, password = (os.environ.get(k) for k in _CREDS_ENV)
        assert ca is not None, "EXR_ETCD_CA is not set"
        return cls(ca, cert, key, user, password)


class Site:
    """A locked-down etcd as the tests reach it: its endpoint and every party's credentials."""

    def __init__(self, endpoint: str, ca: str, certs: dict[str, tuple[str, str]],
                 passwords: dict[str, str]) -> None:
        self.endpoint = endpoint
        self.ca = ca
        self.certs = certs
        self.passwords = passwords

    @classmethod
    def from_dir(cls, endpoint: str, pki: pathlib.Path) -> Site:
        """A site whose credentials are the files tests/etcd_pki.py wrote into `pki`."""
        certs = {name: (str(pki / f"{name}.crt"), str(pki / f"{name}.key"))
                 for name in ("root", "operator", "gateway")}
        passwords = {name: (pki / f"{name}.password").read_text()
                     for name in ("root", "operator", "gateway")}
        return cls(endpoint, str(pki / "ca.crt"), certs, passwords)

    @classmethod
    def from_env(cls) -> Site | None:
        """The etcd .ci/run started (``ETCD_ENDPOINT``, ``ETCD_CA``, ...), or None."""
        endpoint = os.environ.get("ETCD_ENDPOINT")
        if not endpoint:
            return None
        env = os.environ
        certs = {name: (env[f"ETCD_{name.upper()}_CERT"], env[f"ETCD_{name.upper()}_KEY"])
                 for name in ("root", "operator", "gateway")}
        passwords = {name: env[f"ETCD_{name.upper()}_PASSWORD"] for name in ("operator", "gateway")}
        return cls(endpoint, env["ETCD_CA"], certs, passwords)

    def creds(self, party: str) -> Creds:
        """``operator``/``gateway``: certificate and password; ``root``: the certificate only."""
        cert, key = self.certs[party]
        if party in ("operator", "gateway"):
            return Creds(self.ca, cert, key, party, self.passwords[party])
        return Creds(self.ca, cert, key)

    def coordinator(self, prefix: str, party: str = "operator", **options: Any) -> Any:
        """An EtcdCoordinator on `prefix` with `party`'s credentials."""
        from exchange_recovery.etcd import EtcdCoordinator  # noqa: PLC0415 - optional extra

        options.setdefault("endpoint", self.endpoint)
        return EtcdCoordinator(prefix=prefix, **self.creds(party).options(), **options)

    def etcdctl(self, *args: str, party: str = "root", stdin: str | None = None) -> str:
        """Run ``etcdctl ARGS`` with `party`'s certificate (its CN is the user); its stdout."""
        cert, key = self.certs[party]
        cmd = ["etcdctl", "--endpoints", f"https://{self.endpoint}", "--cacert", self.ca,
               "--cert", cert, "--key", key, "--command-timeout", "5s", *args]
        done = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30,
                              env=_etcd_env(), check=False)
        if done.returncode:
            msg = f"etcdctl {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-500:]}"
            raise RuntimeError(msg)
        return done.stdout

    def grant(self, prefix: str) -> None:
        """Let the operator role read-write `prefix`, the gateway role read its ``scopes/`` and
        write its ``gateways/`` (each gateway's liveness key)."""
        for role, permission, key in (("operator", "readwrite", prefix),
                                      ("gateway", "read", f"{prefix}scopes/"),
                                      ("gateway", "readwrite", f"{prefix}gateways/")):
            self.etcdctl("role", "grant-permission", role, permission, "--prefix=true", key)

    def lock_down(self) -> None:
        """Users, roles and ``auth enable`` on a fresh etcd (.ci/run runs this too)."""
        self.etcdctl("user", "add", "root", "--interactive=false", stdin=self.passwords["root"])
        self.etcdctl("user", "grant-role", "root", "root")
        for role in ("operator", "gateway"):
            self.etcdctl("role", "add", role)
        self.grant(DEFAULT_PREFIX)
        for user in ("operator", "gateway"):
            self.etcdctl("user", "add", user, "--interactive=false", stdin=self.passwords[user])
            self.etcdctl("user", "grant-role", user, user)
        self.etcdctl("auth", "enable")

    def healthy(self) -> bool:
        """Whether etcd answers /health with health true (over TLS, as root)."""
        context = ssl.create_default_context(cafile=self.ca)
        context.load_cert_chain(*self.certs["root"])
        try:
            with urllib.request.urlopen(f"https://{self.endpoint}/health", timeout=1,
                                        context=context) as r:
                return bool(json.loads(r.read()).get("health") in ("true", True))
        except (OSError, ValueError):
            return False

    def put_many(self, items: list[tuple[bytes, bytes]], *, party: str = "operator") -> None:
        """Raw puts, bypassing EtcdCoordinator (as a rogue or buggy writer would), batched in
        transactions under etcd's request size and operation limits."""
        from exchange_recovery.etcd._client import Client, tls_credentials  # noqa: PLC0415

        creds = self.creds(party)
        host, port = self.endpoint.rsplit(":", 1)

        async def run() -> None:
            client = Client(tls=tls_credentials(creds.ca, creds.cert, creds.key), host=host,
                            port=int(port), username=creds.user, password=creds.password,
                            timeout=10)
            async with client:
                batch: list[Any] = []
                size = 0
                for n, (key, value) in enumerate(items, 1):
                    batch.append(client.transactions.put(key, value))
                    size += len(key) + len(value)
                    if len(batch) == 100 or size > 512 * 1024 or n == len(items):
                        await client.transaction(compare=[], success=batch, failure=[])
                        batch, size = [], 0

        asyncio.run(run())


class EtcdServer:
    """One locked-down etcd member on loopback, with its own data dir and certificates;
    killable and restartable. Started with the same flags as .ci/run's."""

    def __init__(self, *flags: str) -> None:
        binary = shutil.which("etcd")
        if binary is None:
            msg = "no etcd binary on PATH"
            raise FileNotFoundError(msg)
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="etcd-test-")
        self.pki = generate(f"{self.dir}/pki")
        self.port = free_port()
        self.peer = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.site = Site.from_dir(self.endpoint, self.pki)
        self.flags = flags  # more etcd flags, such as a short --auth-token-ttl
        self.proc: subprocess.Popen[bytes] | None = None
        self._locked = False

    def start(self, timeout: float = 20.0) -> EtcdServer:
        """Start (or restart, on the same data) and wait until healthy; lock down once."""
        url, peer, pki = f"https://{self.endpoint}", f"https://127.0.0.1:{self.peer}", self.pki
        self._log = open(f"{self.dir}/log", "ab")  # noqa: SIM115 - closed by kill()
        self.proc = subprocess.Popen(
            [self.binary, "--data-dir", f"{self.dir}/data", "--name", "test",
             "--listen-client-urls", url, "--advertise-client-urls", url,
             "--cert-file", f"{pki}/server.crt", "--key-file", f"{pki}/server.key",
             "--client-cert-auth", "--trusted-ca-file", f"{pki}/ca.crt",
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"test={peer}",
             "--peer-cert-file", f"{pki}/server.crt", "--peer-key-file", f"{pki}/server.key",
             "--peer-client-cert-auth", "--peer-trusted-ca-file", f"{pki}/ca.crt", *self.flags],
            stdout=subprocess.DEVNULL, stderr=self._log, env=_etcd_env(),
        )
        wait_for(self.site.healthy, timeout, f"etcd healthy at {self.endpoint}")
        if not self._locked:
            self.site.lock_down()
            self._locked = True
        return self

    def kill(self) -> None:
        """SIGKILL etcd and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if self.proc is not None:
            self._log.close()

    def stop(self) -> None:
        """Kill etcd and remove its data and certificates."""
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Gateway:
    """A gateway process following etcd with `party`'s credentials (passed in its environment);
    `status` is its latest status line (parsed)."""

    def __init__(self, site: Site, prefix: str, name: str, *, staleness: float = 1.5,
                 refresh: float = 0.25, lease_ttl: int = 2, log: pathlib.Path | None = None,
                 party: str = "gateway") -> None:
        self.name = name
        self.lines: list[dict[str, Any]] = []
        env = {**os.environ, **site.creds(party).env(), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, str(GATEWAY), site.endpoint, prefix, name, str(staleness),
             str(refresh), str(lease_ttl), str(log or "")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env,
        )
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._lock:
                self.lines.append(json.loads(line))

    @property
    def status(self) -> dict[str, Any]:
        """The latest status: t, accepts, phase, version, stale, refused."""
        with self._lock:
            return self.lines[-1] if self.lines else {}

    def history(self) -> list[dict[str, Any]]:
        """Every status line so far."""
        with self._lock:
            return list(self.lines)

    def at(self, phase: str, version: int) -> bool:
        """Whether the gateway publishes `phase` at `version`, not stale."""
        s = self.status
        return s.get("phase") == phase and s.get("version") == version and not s.get("stale")

    def signal(self, sig: int) -> None:
        """Send `sig` to the gateway process."""
        self.proc.send_signal(sig)

    def stop(self) -> None:
        """Terminate the process (SIGCONT first, in case it was stopped)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._reader.join(5)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


if __name__ == "__main__":  # .ci/run: python tests/etcd_support.py lock-down ENDPOINT PKI_DIR
    if len(sys.argv) != 4 or sys.argv[1] != "lock-down":
        sys.exit("usage: etcd_support.py lock-down HOST:PORT PKI_DIR")
    Site.from_dir(sys.argv[2], pathlib.Path(sys.argv[3])).lock_down()
