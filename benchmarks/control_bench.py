"""What transitions cost as a venue grows: each figure a ratio against a baseline of the same run.

Measures (issue #10's goals in brackets):
- a venue transition and an instrument transition with N instruments in their own phase,
  against the same transition with none [each <= 5x];
- building a `Controller` with N scopes against N/10 (100,000 against 10,000) [<= 12x, i.e.
  linear];
- a `CoordinatedController` decision stored on a `LocalCoordinator` against a plain
  `Controller.fire` of the same transition [<= 3x];
- memory per instrument with its own phase, across the gate and the controller [<= 300 bytes].

Baselines and subjects alternate in rounds (paired, interleaved); a ratio is the median of the
per-round ratios. Figures are printed, never asserted. Audit events are rendered as JSON and
dropped (`_logging.py`), as in production.

Run: ``python benchmarks/control_bench.py [--instruments N] [--rounds N] [--quick]``
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable

from _logging import configure_production_logging

from exchange_recovery import Controller as _Controller
from exchange_recovery import CoordinatedController, LocalCoordinator, default_policy

POLICY = default_policy()


def _names(count: int, prefix: str = "INST") -> list[str]:
    return [f"{prefix}-{i:06d}-USDT-SWAP" for i in range(count)]


def _controller(instruments: int) -> _Controller:
    """A controller whose `instruments` instruments are each HALTED on their own."""
    return _Controller(POLICY, phases=dict.fromkeys(_names(instruments), "HALTED"))


def _cycle(fire: Callable[..., object], scope: str, times: int) -> float:
    """Seconds per transition of `times` degrade/recover pairs on `scope`."""
    start = time.perf_counter()
    for _ in range(times):
        fire("degrade", actor="ops", reason="bench", scope=scope)
        fire("recover", actor="ops", reason="bench", scope=scope)
    return (time.perf_counter() - start) / (2 * times)


def paired(subject: Callable[[], float], baseline: Callable[[], float], rounds: int) -> tuple[
        float, float, float]:
    """(median subject, median baseline, median per-round ratio), alternating the two."""
    subjects, baselines, ratios = [], [], []
    for i in range(rounds):
        if i % 2:
            s, b = subject(), baseline()
        else:
            b, s = baseline(), subject()
        subjects.append(s)
        baselines.append(b)
        ratios.append(s / b)
    return statistics.median(subjects), statistics.median(baselines), statistics.median(ratios)


def transitions_with_overrides(instruments: int, rounds: int, times: int) -> None:
    big, small = _controller(instruments), _controller(0)
    probe = "PROBE-USDT-SWAP"  # an instrument of its own on both, moved back and forth
    for scope, label in (("venue", "venue"), (probe, "instrument")):
        s, b, r = paired(lambda scope=scope: _cycle(big.fire, scope, times),
                         lambda scope=scope: _cycle(small.fire, scope, times), rounds)
        print(f"{label} transition, {instruments:,} overrides vs none: {s * 1e6:.1f} us vs "
              f"{b * 1e6:.1f} us, ratio {r:.2f} (goal <= 5)")


def _build_seconds(scopes: int) -> Callable[[], float]:
    phases = dict.fromkeys(_names(scopes), "HALTED")

    def build() -> float:
        gc.collect()
        start = time.perf_counter()
        _Controller(POLICY, phases=phases)
        return time.perf_counter() - start

    return build


def _dict_seconds(scopes: int) -> Callable[[], float]:
    keys = _names(scopes)

    def build() -> float:
        gc.collect()
        start = time.perf_counter()
        dict(zip(keys, range(scopes), strict=True))
        return time.perf_counter() - start

    return build


def construction(instruments: int, rounds: int) -> None:
    small = max(instruments // 10, 1)
    s, b, r = paired(_build_seconds(instruments), _build_seconds(small), rounds)
    print(f"Controller construction, {instruments:,} scopes vs {small:,}: {s * 1e3:.1f} ms vs "
          f"{b * 1e3:.1f} ms, ratio {r:.2f} (goal <= 12: linear)")
    s, b, r = paired(_dict_seconds(instruments), _dict_seconds(small), rounds)
    print(f"  for scale: a plain dict of the same {instruments:,} vs {small:,} names: "
          f"{s * 1e3:.2f} ms vs {b * 1e3:.2f} ms, ratio {r:.2f} (the memory hierarchy's share)")


def coordinated(rounds: int, times: int) -> None:
    ops = CoordinatedController(POLICY, LocalCoordinator())
    plain = _Controller(POLICY)
    s, b, r = paired(lambda: _cycle(ops.fire, "venue", times),
                     lambda: _cycle(plain.fire, "venue", times), rounds)
    print(f"CoordinatedController decision on LocalCoordinator vs Controller.fire: "
          f"{s * 1e6:.1f} us vs {b * 1e6:.1f} us, ratio {r:.2f} (goal <= 3)")


def memory_per_instrument(instruments: int) -> None:
    names = _names(instruments, "MEM")  # the caller's strings: not the library's cost
    controller = _Controller(POLICY)
    halt = controller.halt
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for name in names:
        halt(actor="ops", reason="bench", scope=name)
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    per = (after - before) / instruments
    print(f"memory per instrument with its own phase (gate + controller, {instruments:,} "
          f"instruments halted one by one): {per:.0f} bytes, ratio {per / 300:.2f} of the "
          f"300-byte goal")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--instruments", type=int, default=100_000,
                        help="instruments with their own phase (default 100,000)")
    parser.add_argument("--rounds", type=int, default=7, help="paired rounds per figure")
    parser.add_argument("--quick", action="store_true", help="a fast smoke run (small numbers)")
    args = parser.parse_args()
    configure_production_logging()
    instruments, rounds, times = args.instruments, args.rounds, 200
    if args.quick:
        instruments, rounds, times = 2_000, 3, 20
    transitions_with_overrides(instruments, rounds, times)
    construction(instruments, rounds)
    coordinated(rounds, times)
    memory_per_instrument(instruments)


if __name__ == "__main__":
    main()
