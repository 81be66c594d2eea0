"""A gateway process for the etcd tests: follow etcd, check a new order like an engine would.

Usage: etcd_gateway.py ENDPOINT PREFIX NAME STALENESS REFRESH LEASE_TTL [LOG_FILE]

Credentials come from the environment (``EXR_ETCD_CA``, ``EXR_ETCD_CERT``, ``EXR_ETCD_KEY``,
``EXR_ETCD_USER``, ``EXR_ETCD_PASSWORD``: `etcd_support.Creds.env`), never from the command line.

Prints one JSON line each time what its gate answers changes: ``t`` (time.monotonic(), the same
clock in every process on the machine), ``accepts`` (whether a new limit order is accepted),
``phase`` and ``version`` of the gate, ``stale`` and ``refused`` from the follower.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import time

from etcd_support import Creds

from exchange_recovery import Follower, OrderType, Request, default_policy
from exchange_recovery.etcd import EtcdCoordinator


def main(endpoint: str, prefix: str, name: str, staleness: str, refresh: str, ttl: str,
         log: str = "") -> None:
    if log:  # audit events (stdlib records on the "exchange_recovery" logger) as lines in LOG_FILE
        handler = logging.FileHandler(log)
        handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
        audit = logging.getLogger("exchange_recovery")
        audit.addHandler(handler)
        audit.setLevel(logging.INFO)
    policy = default_policy()
    etcd = EtcdCoordinator(endpoint, prefix=prefix, refresh=float(refresh), lease_ttl=int(ttl),
                           timeout=1.0, **Creds.from_env().options())
    follower = Follower(policy, staleness=float(staleness), name=name)
    gate = follower.gate
    check = gate.check
    order = Request.new_order("BTC-USDT-SWAP", OrderType.LIMIT)
    running = [True]
    signal.signal(signal.SIGTERM, lambda *_: running.__setitem__(0, False))
    stop = etcd.follow(follower, name=name)
    last = None
    out = sys.stdout
    while running[0]:
        accepts = check(order).accepted
        now = (accepts, gate.phase(), gate.version, follower.stale, follower.refused)
        if now != last:
            last = now
            line = dict(zip(("accepts", "phase", "version", "stale", "refused"), now, strict=True))
            out.write(json.dumps({"t": time.monotonic(), **line}) + "\n")
            out.flush()
        time.sleep(0.0002)
    stop()
    etcd.close()


if __name__ == "__main__":
    main(*sys.argv[1:8])
