"""Helpers for the etcd tests and the propagation benchmark: an etcd server, gateway processes.

`EtcdServer` runs ``etcd`` on free loopback ports with a temporary data dir (kill, restart on
the same dir and port, stop). `Gateway` runs tests/etcd_gateway.py and follows the status lines
it prints; `wait_for` polls a condition with a generous timeout (never asserts on durations).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

HERE = pathlib.Path(__file__).parent
GATEWAY = HERE / "etcd_gateway.py"


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


def healthy(endpoint: str) -> bool:
    """Whether etcd at `endpoint` answers /health with health true."""
    try:
        with urllib.request.urlopen(f"http://{endpoint}/health", timeout=1) as r:
            return bool(json.loads(r.read()).get("health") in ("true", True))
    except (OSError, ValueError):
        return False


class EtcdServer:
    """One etcd member on loopback, with its own data dir; killable and restartable."""

    def __init__(self) -> None:
        binary = shutil.which("etcd")
        if binary is None:
            msg = "no etcd binary on PATH"
            raise FileNotFoundError(msg)
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix="etcd-test-")
        self.port = free_port()
        self.peer = free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> EtcdServer:
        """Start (or restart, on the same data) and wait until healthy."""
        url = f"http://{self.endpoint}"
        self._log = open(f"{self.dir}/log", "ab")  # noqa: SIM115 - closed by kill()
        self.proc = subprocess.Popen(
            [self.binary, "--data-dir", f"{self.dir}/data", "--name", "test",
             "--listen-client-urls", url, "--advertise-client-urls", url,
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer}",
             "--initial-cluster", f"test=http://127.0.0.1:{self.peer}"],
            stdout=subprocess.DEVNULL, stderr=self._log,
        )
        wait_for(lambda: healthy(self.endpoint), timeout, f"etcd healthy at {self.endpoint}")
        return self

    def kill(self) -> None:
        """SIGKILL etcd and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        if self.proc is not None:
            self._log.close()

    def stop(self) -> None:
        """Kill etcd and remove its data."""
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


class Gateway:
    """A gateway process following etcd; `status` is its latest status line (parsed)."""

    def __init__(self, endpoint: str, prefix: str, name: str, *, staleness: float = 1.5,
                 refresh: float = 0.25, lease_ttl: int = 2, log: pathlib.Path | None = None) -> None:
        self.name = name
        self.lines: list[dict[str, Any]] = []
        self.proc = subprocess.Popen(
            [sys.executable, str(GATEWAY), endpoint, prefix, name, str(staleness), str(refresh),
             str(lease_ttl), str(log or "")],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONUNBUFFERED": "1"},
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
