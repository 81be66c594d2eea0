"""Halt propagation over etcd: from an operator's halt() call to 3 gateway processes rejecting.

Over a locked-down etcd, as deployed: TLS with client certificates, password auth and RBAC
(the operator as user ``operator``, gateways as the read-only ``gateway``). Starts one the way
the tests do (tests/etcd_support.py, throwaway certificates), or uses the one .ci/run exports
(``ETCD_ENDPOINT``, ``ETCD_CA``, ...). Starts 3 gateway processes (tests/etcd_gateway.py: each
follows etcd and checks a new limit order in a loop, printing when the answer changes), then
repeats: reopen the venue (halt -> pre_open -> open -> normalize, not timed), wait until every
gateway accepts, call ``halt()`` and take the time of the call; the latency of a round is the
latest of the 3 gateways' first rejecting check minus the time of the call (time.monotonic() is
one clock for every process on the machine). Also times the bare CAS round trip (one etcd
transaction through ``propose``) and a full ``halt()`` (read + decide + CAS).

Usage: python benchmarks/propagation_bench.py [ROUNDS]   (default 200)
"""

from __future__ import annotations

import argparse
import os
import pathlib
import statistics
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

from _logging import configure_production_logging
from etcd_support import EtcdServer, Gateway, Site, wait_for

from exchange_recovery import CoordinatedController, TransitionRecord, default_policy

REOPEN = ("pre_open", "open", "normalize")


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def main(rounds: int) -> None:
    configure_production_logging()
    server = None
    site = Site.from_env()
    if site is None:
        server = EtcdServer().start()
        site = server.site
    prefix = f"bench-{os.getpid()}/"
    site.grant(prefix)
    etcd = site.coordinator(prefix)
    ops = CoordinatedController(default_policy(), etcd)
    gws = [Gateway(site, prefix, f"gw-{i}", staleness=3.0, refresh=1.0, lease_ttl=3)
           for i in (1, 2, 3)]
    try:
        wait_for(lambda: all(g.status.get("stale") is False for g in gws), what="gateways")
        latencies: list[float] = []
        halts: list[float] = []
        for _ in range(rounds):
            state = ops.state()
            if state.phases.get("venue", "NORMAL") != "NORMAL":
                ops.halt(actor="ops:bench", reason="reset")
                for trigger in REOPEN:
                    ops.fire(trigger, actor="ops:bench", reason="reopen")
            wait_for(lambda: all(g.status.get("accepts") for g in gws), what="accepting")
            marks = [len(g.history()) for g in gws]
            t0 = time.monotonic()
            record = ops.halt(actor="ops:bench", reason="bench")
            halts.append(time.monotonic() - t0)
            assert record is not None
            wait_for(lambda: all(not g.status.get("accepts") for g in gws), what="rejecting")
            firsts = [next(s["t"] for s in g.history()[m:] if not s["accepts"])
                      for g, m in zip(gws, marks, strict=True)]
            latencies.append(max(firsts) - t0)
        cas = []
        state = etcd.read()
        expected = state.version_of("venue")
        phase = state.phases["venue"]
        for i in range(200):  # bare CAS round trips, alternating halt/pre_open (followers agree)
            trigger, dest = ("pre_open", "PRE_OPEN") if phase == "HALTED" else ("halt", "HALTED")
            rec = TransitionRecord(0, "venue", phase, dest, trigger, "ops:bench", f"cas {i}",
                                   time.time(), dest == "PRE_OPEN")
            t0 = time.perf_counter()
            stored = etcd.propose(rec, expected)
            cas.append(time.perf_counter() - t0)
            expected, phase = stored.version, dest
        ms = 1000.0
        print(f"halt -> all 3 gateways rejecting, {rounds} halts: "
              f"p50 {pct(latencies, 0.5) * ms:.2f} ms  p99 {pct(latencies, 0.99) * ms:.2f} ms  "
              f"max {max(latencies) * ms:.2f} ms   (goal: p99 <= 50 ms)")
        print(f"halt() call (read + decide + CAS): p50 {pct(halts, 0.5) * ms:.2f} ms  "
              f"p99 {pct(halts, 0.99) * ms:.2f} ms")
        print(f"CAS round trip (one etcd txn via propose), 200 runs: "
              f"p50 {pct(cas, 0.5) * ms:.2f} ms  p99 {pct(cas, 0.99) * ms:.2f} ms  "
              f"mean {statistics.fmean(cas) * ms:.2f} ms")
        refused = [g.status.get("refused") for g in gws]
        print(f"gateway refusals (must be 0): {refused}")
    finally:
        for g in gws:
            g.stop()
        etcd.close()
        if server is not None:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rounds", nargs="?", type=int, default=200,
                        help="halts to time (default 200)")
    main(parser.parse_args().rounds)
