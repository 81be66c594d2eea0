"""How much does `gate.check` cost next to the least any gate can do?

The baseline is a plain function returning a prebuilt decision from a dict by the request's key,
measured in the same run, interleaved with the gate, best of several repeats (the minimum is the
least noisy estimate on a shared machine). Goals (issue #2): check/baseline <= 1.7 venue-only,
<= 2.0 with 1,000 instrument overrides; a transition without fsync <= 50 us.

Run: ``python benchmarks/gate_bench.py`` (``--quick`` for a smoke run). Exits 1 when a goal is
missed, so it can gate a release pipeline; CI does not run it (timing on shared runners is noise).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import timeit
from collections.abc import Callable

from _logging import configure_production_logging

from exchange_recovery import ALL_KINDS, Controller, Decision, Gate, OrderType, Request, default_policy

GOAL_VENUE = 1.7
GOAL_OVERRIDES = 2.0
GOAL_TRANSITION_US = 50.0
INSTRUMENTS = 1_000


def _best_ns(stmt: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(stmt, number=number, repeat=repeat)) / number * 1e9


def _requests() -> list[Request]:
    """A mix of order kinds across the book's instruments (the last one has an override)."""
    return [
        Request.new_order(f"INST-{i}", order_type, post_only=post_only)
        for i, (order_type, post_only) in zip(
            range(INSTRUMENTS), itertools.cycle([(OrderType.LIMIT, False), (OrderType.LIMIT, True),
                                                 (OrderType.MARKET, False)]), strict=False)
    ]


def _check_ratio(gate: Gate, requests: list[Request], number: int, repeat: int) -> tuple[float, float]:
    table = {key: gate.check_fields(kind.action, "INST-0", kind.order_type, kind.time_in_force,
                                    post_only=kind.post_only, reduce_only=kind.reduce_only,
                                    origin=kind.origin) for key, kind in enumerate(ALL_KINDS)}

    def baseline(key: int, _table: dict[int, Decision] = table) -> Decision:
        return _table[key]

    check = gate.check
    reqs = requests
    n = len(reqs)

    def run_baseline() -> None:
        for r in reqs:
            baseline(r.key)

    def run_gate() -> None:
        for r in reqs:
            check(r)

    base = gate_ns = float("inf")
    for _ in range(repeat):  # interleaved, so drift hits both alike
        base = min(base, _best_ns(run_baseline, number, 1) / n)
        gate_ns = min(gate_ns, _best_ns(run_gate, number, 1) / n)
    return base, gate_ns


def _transition_us(controller: Controller, scope: str, number: int) -> float:
    fire = controller.fire

    def cycle() -> None:
        fire("degrade", actor="bench", reason="bench", scope=scope)
        fire("recover", actor="bench", reason="bench", scope=scope)

    return _best_ns(cycle, number, 5) / 2 / 1_000


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and return 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer iterations (smoke run)")
    args = parser.parse_args(argv)
    configure_production_logging()
    number, repeat = (20, 3) if args.quick else (200, 15)

    policy = default_policy()
    requests = _requests()
    venue_gate = Gate(policy)
    base_v, gate_v = _check_ratio(venue_gate, requests, number, repeat)

    overrides = {f"INST-{i}": "NORMAL" if i % 2 else "DEGRADED" for i in range(INSTRUMENTS)}
    wide_gate = Gate(policy, overrides)
    base_o, gate_o = _check_ratio(wide_gate, requests, number, repeat)

    plain = Controller(policy)
    venue_us = _transition_us(plain, "venue", number)
    wide = Controller(policy, phases=overrides)
    instrument_us = _transition_us(wide, "INST-1", number)
    wide_venue_us = _transition_us(wide, "venue", max(1, number // 20))

    rows = [
        ("gate.check, venue scope only", base_v, gate_v, GOAL_VENUE),
        (f"gate.check, {INSTRUMENTS:,} instrument overrides", base_o, gate_o, GOAL_OVERRIDES),
    ]
    ok = True
    print(f"Python {sys.version.split()[0]}; {len(ALL_KINDS)} request kinds, "
          f"{len(policy.phase_names)} phases")
    for label, base, ns, goal in rows:
        ratio = ns / base
        ok &= ratio <= goal
        print(f"{label:<42} baseline {base:6.1f} ns  check {ns:6.1f} ns  ratio {ratio:4.2f} "
              f"(goal <= {goal}) {'ok' if ratio <= goal else 'MISSED'}")
    for label, us, goal in [
        ("transition, venue scope (no journal)", venue_us, GOAL_TRANSITION_US),
        (f"transition, one instrument of {INSTRUMENTS:,}", instrument_us, GOAL_TRANSITION_US),
    ]:
        ok &= us <= goal
        print(f"{label:<42} {us:8.1f} us (goal <= {goal:.0f}) {'ok' if us <= goal else 'MISSED'}")
    print(f"{'transition, venue scope with ' + format(INSTRUMENTS, ',') + ' overrides':<42} "
          f"{wide_venue_us:8.1f} us (rebuilds every override's table; no goal)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
