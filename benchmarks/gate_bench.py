"""What an engine pays per order, next to the least any gate can do (issue #10's goals).

Every figure is a ratio to a baseline that does the same work without the gate's logic: a plain
function with the subject's signature, returning a prebuilt object from a dict. Baseline and
subject are paired and interleaved: each round times passes over the same inputs in the order
baseline, subject, subject, baseline, and the figure is the median of the per-round ratios,
printed with their inter-quartile range. A loop over the inputs is in both timings alike.

Figures and goals (``ratio`` on every line):

- ``check(request)``: venue only <= 1.6 (baseline: a dict by the request's int key); with
  100,000 instruments with their own phase, in a seeded random order, <= 2.0 (baseline: a dict
  holding the same 100,000 instrument keys, probed in the same order);
- ``check_fields(...)``, venue only and with the 100,000 instruments: <= 2.0 (baseline: a dict
  keyed by the tuple of the same six fields), and 0 allocations per call (blocks kept over many
  calls, and the bytes tracemalloc sees one call allocate even briefly);
- ``check_priced(request, side, price, bid, ask)`` against ``check(request)`` behind a call
  with the same arguments, in PRE_OPEN (matching off: the price is compared) and NORMAL:
  <= 1.6 (issue #13);
- building a ``Request`` (new order, amend, cancel): <= 15 (baseline: a dict probe behind a
  call with the same arguments);
- gate publication of a venue and of an instrument transition with 100,000 instruments with
  their own phase, against the same with none: <= 5 (the controller's part is measured by
  ``control_bench.py``);
- memory per instrument with its own phase, the gate's share (tracemalloc; the goal across gate
  and controller is 300 bytes).

Run: ``python benchmarks/gate_bench.py`` (``--quick``: 10,000 instruments and 3 rounds, a smoke
run; ``--rounds``, ``--seed``). Exits 1 when a goal is missed, so it can gate a release pipeline;
CI only smoke-runs it (timing on shared runners is noise).
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from exchange_recovery import (
    ALL_KINDS,
    VENUE,
    Action,
    Decision,
    Gate,
    OrderType,
    Origin,
    Request,
    Side,
    TimeInForce,
    default_policy,
)
from exchange_recovery._core.model import FIELDS

INSTRUMENTS = 100_000
SEED = 20221218
OWN_PHASES = ("DEGRADED", "PRE_OPEN", "HALTED", "FULL_OPEN")
"""Phases instruments get of their own (NORMAL would release them: they would cost nothing)."""

# Enum members as locals-to-be: an enum attribute load costs ~70 ns on 3.11, in both loops alike.
NEW, AMEND, CANCEL, MASS = Action.NEW_ORDER, Action.AMEND, Action.CANCEL, Action.MASS_CANCEL
LIMIT, MARKET, STOP = OrderType.LIMIT, OrderType.MARKET, OrderType.STOP_LIMIT
GTD, CLIENT, MAKER = TimeInForce.GTD, Origin.CLIENT, Origin.MARKET_MAKER

Pass = Callable[[], object]
"""One timed pass over a benchmark's inputs."""


class Figure:
    """One measured ratio: the median of per-round ratios, with its spread and goal."""

    def __init__(self, label: str, ratios: list[float], base_ns: float, subject_ns: float,
                 goal: float) -> None:
        self.label, self.goal = label, goal
        self.ratio = statistics.median(ratios)
        quartiles = statistics.quantiles(ratios, n=4) if len(ratios) > 1 else [ratios[0]] * 3
        self.low, self.high = quartiles[0], quartiles[2]
        self.base_ns, self.subject_ns = base_ns, subject_ns

    @property
    def ok(self) -> bool:
        return self.ratio <= self.goal

    def __str__(self) -> str:
        return (f"{self.label:<52} ratio {self.ratio:5.2f} (IQR {self.low:.2f}-{self.high:.2f}; "
                f"{self.subject_ns:8.1f} vs {self.base_ns:7.1f} ns) goal <= {self.goal:g} "
                f"{'ok' if self.ok else 'MISSED'}")


@contextmanager
def _no_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _time(run: Pass) -> int:
    start = time.perf_counter_ns()
    run()
    return time.perf_counter_ns() - start


def paired(label: str, baseline: Pass, subject: Pass, per_pass: int, rounds: int,
           goal: float) -> Figure:
    """Time `baseline` and `subject` in `rounds` rounds; the per-round ratios' median.

    Each round runs baseline, subject, subject, baseline (ABBA): whatever the first pass leaves
    in the caches, or a drift of the machine's speed, favours both alike.
    """
    baseline(), subject()  # warm up: specialisation, caches
    ratios, base_times, subject_times = [], [], []
    with _no_gc():
        for _ in range(rounds):
            b1, s1, s2, b2 = _time(baseline), _time(subject), _time(subject), _time(baseline)
            ratios.append((s1 + s2) / (b1 + b2))
            base_times.append((b1 + b2) / 2)
            subject_times.append((s1 + s2) / 2)
    return Figure(label, ratios, statistics.median(base_times) / per_pass,
                  statistics.median(subject_times) / per_pass, goal)


# -- check(request) ----------------------------------------------------------------------------


def _requests(instruments: list[str], rng: random.Random) -> list[Request]:
    """One request per instrument, of a random kind, in a random order."""
    kinds = [k for k in ALL_KINDS if k.action in {NEW, AMEND, CANCEL}]
    requests = [Request(k.action, name, k.order_type, k.time_in_force, k.post_only,
                        k.reduce_only, k.origin)
                for name, k in zip(instruments, (rng.choice(kinds) for _ in instruments),
                                   strict=True)]
    rng.shuffle(requests)
    return requests


def check_venue_only(rounds: int, rng: random.Random) -> Figure:
    gate = Gate(default_policy())
    requests = _requests([f"VENUE-{i}" for i in range(1_000)], rng)
    by_key = {r.key: gate.check(r) for r in requests}

    def baseline(request: Request, _table: dict[int, Decision] = by_key) -> Decision:
        return _table[request.key]

    check = gate.check

    def run_baseline() -> None:
        for r in requests:
            baseline(r)

    def run_check() -> None:
        for r in requests:
            check(r)

    return paired("check(request), venue only", run_baseline, run_check, len(requests), rounds,
                  1.6)


def check_many_instruments(gate: Gate, names: list[str], rounds: int,
                           rng: random.Random) -> Figure:
    requests = _requests(names, rng)
    by_name = {r.instrument: gate.check(r) for r in requests}
    # The same keys, inserted in the gate's order: the same dict layout, the same probes.
    by_name_in_order: dict[str | None, Decision] = {name: by_name[name] for name in names}

    def baseline(request: Request, _table: dict[str | None, Decision] = by_name_in_order
                 ) -> Decision:
        return _table[request.instrument]

    check = gate.check

    def run_baseline() -> None:
        for r in requests:
            baseline(r)

    def run_check() -> None:
        for r in requests:
            check(r)

    return paired(f"check(request), {len(names):,} own phases, random order", run_baseline,
                  run_check, len(requests), rounds, 2.0)


# -- check_priced(...) ---------------------------------------------------------------------------


def check_priced_ratio(phase: str, rounds: int, rng: random.Random) -> Figure:
    """`check_priced` against `check` behind a call with the same arguments (issue #13's
    price-aware check: "a cost that stays close to today's check"). In a phase that does not
    match, post-only limit orders at random prices around a 99/101 touch: the whole path (price
    check, one comparison, WOULD_CROSS or the table's decision); in NORMAL the early return."""
    gate = Gate(default_policy(), {VENUE: phase})
    orders = [(Request.new_order(f"P-{i % 50}", LIMIT, post_only=True),
               rng.choice((Side.BUY, Side.SELL)), rng.randint(97, 103)) for i in range(1_000)]
    check, priced = gate.check, gate.check_priced

    def baseline(request: Request, side: Side, price: int, best_bid: int | None,  # noqa: ARG001
                 best_ask: int | None) -> Decision:  # noqa: ARG001 - check_priced's signature
        return check(request)

    def run_baseline() -> None:
        for request, side, price in orders:
            baseline(request, side, price, 99, 101)

    def run_priced() -> None:
        for request, side, price in orders:
            priced(request, side, price, 99, 101)

    return paired(f"check_priced(...) vs check, {phase}", run_baseline, run_priced, len(orders),
                  rounds, 1.6)


# -- check_fields(...) ---------------------------------------------------------------------------


def _fields_passes(gate: Gate, names: list[str]) -> tuple[Pass, Pass, Pass, int]:
    """check_fields and its baseline over the same calls; and a pass of the loop alone."""
    check_fields = gate.check_fields
    # Every valid six-field tuple (the time in force given or left out), as check_fields knows.
    table = {fields: gate.check_fields(fields[0], names[0], fields[1], fields[2],  # type: ignore[arg-type]
                                       post_only=fields[3], reduce_only=fields[4],  # type: ignore[arg-type]
                                       origin=fields[5])  # type: ignore[arg-type]
             for fields in FIELDS}

    def baseline(  # check_fields' signature: the calls cost the same
        action: Action,
        instrument: str | None = None,  # noqa: ARG001
        order_type: OrderType | None = None,
        time_in_force: TimeInForce | None = None,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        origin: Origin = CLIENT,
        _table: dict[tuple[object, ...], Decision] = table,
    ) -> Decision:
        return _table[(action, order_type, time_in_force, post_only, reduce_only, origin)]

    def nothing(  # the loop and the call alone, for the allocation figures
        action: Action,  # noqa: ARG001
        instrument: str | None = None,  # noqa: ARG001
        order_type: OrderType | None = None,  # noqa: ARG001
        time_in_force: TimeInForce | None = None,  # noqa: ARG001
        *,
        post_only: bool = False,  # noqa: ARG001
        reduce_only: bool = False,  # noqa: ARG001
        origin: Origin = CLIENT,  # noqa: ARG001
    ) -> None:
        return None

    def calls(f: Callable[..., object]) -> Pass:
        new, amend, cancel, limit, market, stop, gtd, maker = (
            NEW, AMEND, CANCEL, LIMIT, MARKET, STOP, GTD, MAKER)

        def run() -> None:
            for name in names:  # what engines send most: new orders, cancels, some amends
                f(new, name, limit)
                f(new, name, limit, post_only=True)
                f(new, name, market)
                f(cancel, name)
                f(amend, name, stop, gtd, reduce_only=True, origin=maker)
        return run

    return calls(baseline), calls(check_fields), calls(nothing), 5 * len(names)


def check_fields_ratio(label: str, gate: Gate, names: list[str], rounds: int) -> Figure:
    run_baseline, run_check_fields, _, per_pass = _fields_passes(gate, names)
    return paired(f"check_fields(...), {label}", run_baseline, run_check_fields, per_pass, rounds,
                  2.0)


def check_fields_allocations(gate: Gate, names: list[str]) -> tuple[float, int]:
    """Allocated blocks kept per call, and the most one call allocates even briefly (bytes).

    Blocks: over every call of a pass, less the same pass calling a do-nothing function.
    Bytes: tracemalloc's peak during a single call of each shape (the least of 20 tries, less
    the same for an empty call), the largest over the shapes.
    """
    _, run_check_fields, run_loop, per_pass = _fields_passes(gate, names)

    def blocks(run: Pass) -> int:
        run()
        with _no_gc():
            before = sys.getallocatedblocks()
            run()
            return sys.getallocatedblocks() - before

    def peak(call: Callable[[], object]) -> int:
        call()
        least = sys.maxsize
        for _ in range(20):
            start, _ = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            call()
            _, top = tracemalloc.get_traced_memory()
            least = min(least, top - start)
        return least

    kept_blocks = blocks(run_check_fields) - blocks(run_loop)
    check_fields, name = gate.check_fields, names[0]
    shapes: list[Callable[[], object]] = [
        lambda: check_fields(NEW, name, LIMIT),
        lambda: check_fields(NEW, name, LIMIT, post_only=True),
        lambda: check_fields(NEW, name, MARKET),
        lambda: check_fields(CANCEL, name),
        lambda: check_fields(AMEND, name, STOP, GTD, reduce_only=True, origin=MAKER),
        lambda: check_fields(MASS),  # venue-wide: no instrument
    ]
    tracemalloc.start()
    try:
        calls = [peak(shape) for shape in shapes]
        empty = max(peak(lambda: None) for _ in range(3))  # the harness's own (ints it returns)
        most = max(calls) - empty
    finally:
        tracemalloc.stop()
    return kept_blocks / per_pass, most


# -- building a Request --------------------------------------------------------------------------


def request_ratios(names: list[str], rounds: int) -> list[Figure]:
    decision = Gate(default_policy()).check(Request.cancel(names[0]))
    table: dict[OrderType | None, Decision] = dict.fromkeys([None, *OrderType], decision)

    def baseline(  # the shortcuts' signature: the calls cost the same
        instrument: str,  # noqa: ARG001
        order_type: OrderType | None = None,
        time_in_force: TimeInForce | None = None,  # noqa: ARG001
        *,
        post_only: bool = False,  # noqa: ARG001
        reduce_only: bool = False,  # noqa: ARG001
        origin: Origin = CLIENT,  # noqa: ARG001
        _table: dict[OrderType | None, Decision] = table,
    ) -> Decision:
        return _table[order_type]

    check = Gate(default_policy()).check
    new_order = Request.new_order

    def new_and_check(instrument: str, order_type: OrderType, *, post_only: bool = False
                      ) -> Decision:
        return check(new_order(instrument, order_type, post_only=post_only))

    def new_limit(f: Callable[..., object]) -> Pass:
        def run() -> None:
            for name in names:
                f(name, LIMIT, post_only=True)
        return run

    def new_market(f: Callable[..., object]) -> Pass:
        def run() -> None:
            for name in names:
                f(name, MARKET)
        return run

    def amend_stop(f: Callable[..., object]) -> Pass:
        def run() -> None:
            for name in names:
                f(name, STOP, GTD, reduce_only=True)
        return run

    def cancel(f: Callable[..., object]) -> Pass:
        def run() -> None:
            for name in names:
                f(name)
        return run

    cases: list[tuple[str, Callable[[Callable[..., object]], Pass], Callable[..., object]]] = [
        ("Request.new_order(name, LIMIT, post_only=True)", new_limit, new_order),
        ("Request.new_order(name, MARKET)", new_market, new_order),
        ("Request.amend(name, STOP_LIMIT, GTD, reduce_only=True)", amend_stop, Request.amend),
        ("Request.cancel(name)", cancel, Request.cancel),
        ("Request.new_order(...) + check (issue: 76-175)", new_limit, new_and_check),
    ]
    return [paired(label, loop(baseline), loop(subject), len(names), rounds, 15.0)
            for label, loop, subject in cases]


# -- publication ---------------------------------------------------------------------------------


def publication_ratios(names: list[str], rounds: int) -> list[Figure]:
    policy = default_policy()
    wide = Gate(policy, {name: OWN_PHASES[i % len(OWN_PHASES)] for i, name in enumerate(names)})
    cycles = 200
    scope = names[len(names) // 2]

    def cycle(gate: Gate, target: str, there: str, back: str) -> Pass:
        publish = gate._publish_scope

        def run() -> None:
            for version in range(cycles):
                publish(target, there, version)
                publish(target, back, version)
        return run

    return [
        paired(f"publish {label}, {len(names):,} own vs none", cycle(Gate(policy), *how),
               cycle(wide, *how), 2 * cycles, rounds, 5.0)
        for label, how in [
            ("venue DEGRADED <-> NORMAL", (VENUE, "DEGRADED", "NORMAL")),
            ("instrument HALTED <-> PRE_OPEN", (scope, "HALTED", "PRE_OPEN")),
            ("instrument DEGRADED <-> NORMAL (released)", (scope, "DEGRADED", "NORMAL")),
        ]
    ]


def gate_bytes_per_instrument(names: list[str]) -> float:
    """What the gate keeps per instrument with its own phase (names are the caller's)."""
    gate = Gate(default_policy())
    publish = gate._publish_scope
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i, name in enumerate(names):
            publish(name, OWN_PHASES[i % len(OWN_PHASES)], i)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(gate.phases) == len(names) + 1
    return (after - before) / len(names)


def main(argv: list[str] | None = None) -> int:
    """Measure, print, and return 1 if a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="few rounds and 10,000 instruments (a smoke run, not a measurement)")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per figure (default 31)")
    parser.add_argument("--seed", type=int, default=SEED, help="seed of the random access order")
    args = parser.parse_args(argv)
    rounds = args.rounds or (3 if args.quick else 31)
    count = 10_000 if args.quick else INSTRUMENTS
    rng = random.Random(args.seed)  # noqa: S311 - an access order, not a secret

    names = [f"INST-{i}" for i in range(count)]
    policy = default_policy()
    wide = Gate(policy, {name: OWN_PHASES[i % len(OWN_PHASES)] for i, name in enumerate(names)})
    some = names[:: max(1, count // 1_000)][:1_000]  # 1,000 of them, for the per-call figures

    print(f"Python {sys.version.split()[0]}; {len(ALL_KINDS)} request kinds, "
          f"{len(policy.phase_names)} phases; {rounds} rounds per figure")
    figures = [check_venue_only(rounds, rng), check_many_instruments(wide, names, rounds, rng),
               check_fields_ratio("venue only", Gate(policy), some, rounds),
               check_fields_ratio(f"{count:,} own phases", wide, some, rounds),
               check_priced_ratio("PRE_OPEN", rounds, rng), check_priced_ratio("NORMAL", rounds, rng)]
    for figure in figures:
        print(figure, flush=True)
    blocks, most = check_fields_allocations(wide, some)
    alloc_ok = blocks <= 0 and most <= 0
    print(f"{'check_fields(...) allocations per call':<52} blocks kept {blocks:.4f}, most "
          f"allocated by one call {most} B (goal 0) {'ok' if alloc_ok else 'MISSED'}")
    for group in (request_ratios(some, rounds), publication_ratios(names, rounds)):
        for figure in group:
            print(figure, flush=True)
        figures += group
    per_instrument = gate_bytes_per_instrument([f"MEM-{i}" for i in range(count)])
    print(f"{'gate memory per instrument with its own phase':<52} {per_instrument:6.1f} B "
          f"({count:,} instruments; the gate's share of the 300 B goal)")
    return 0 if alloc_ok and all(f.ok for f in figures) else 1


if __name__ == "__main__":
    raise SystemExit(main())
