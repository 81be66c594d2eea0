"""How long recovery and journaled transitions take on this machine.

Measures:
- recovery of a 100,000-record journal (`verify_journal` and `recover`, best of a few runs);
- one transition journaled to a `FileJournal` with ``durability="fsync"``, and with ``"none"``
  (mean over a run of transitions, through `Controller.fire`).

Figures are printed, never asserted (a noisy machine would make them flaky). The journal files
live in a temporary directory on the filesystem of ``--dir`` (default: the system temp dir):
fsync costs depend entirely on that device.

Run: ``python benchmarks/journal_bench.py [--records N] [--transitions N] [--dir PATH] [--quick]``
"""

from __future__ import annotations

import argparse
import pathlib
import tempfile
import time

from _logging import configure_production_logging

from exchange_recovery import (
    VENUE,
    FileJournal,
    TransitionRecord,
    default_policy,
    recover,
    verify_journal,
)

# A cycle of the default policy that comes back to where it started: NORMAL -> ... -> NORMAL.
CYCLE = (("degrade", "NORMAL", "DEGRADED"), ("halt", "DEGRADED", "HALTED"),
         ("pre_open", "HALTED", "PRE_OPEN"), ("open", "PRE_OPEN", "FULL_OPEN"),
         ("normalize", "FULL_OPEN", "NORMAL"))


def write_journal(path: pathlib.Path, records: int) -> None:
    """A valid journal of `records` transitions on the venue and two instruments."""
    policy = default_policy()
    scopes = (VENUE, "BTC-USDT-SWAP", "ETH-USDT-SWAP")
    steps = dict.fromkeys(scopes, 0)
    now = time.time() - records
    with FileJournal(path, durability="none") as journal:
        for version in range(1, records + 1):
            scope = scopes[version % len(scopes)]
            trigger, source, dest = CYCLE[steps[scope] % len(CYCLE)]
            steps[scope] += 1
            journal.append(TransitionRecord(version, scope, source, dest, trigger, "bench:writer",
                                            "benchmark transition", now + version,
                                            policy.is_relaxing(source, dest)))


def best_of(runs: int, fn: object) -> float:
    """The fastest of `runs` calls of `fn`, in seconds."""
    assert callable(fn)
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def transition_cost(directory: pathlib.Path, durability: str, transitions: int) -> float:
    """Mean seconds per `Controller.fire` journaled with `durability`."""
    path = directory / f"fire-{durability}.jsonl"
    controller = recover(path, default_policy(), durability=durability)  # type: ignore[arg-type]
    start = time.perf_counter()
    for i in range(transitions):
        trigger = CYCLE[i % len(CYCLE)][0]
        controller.fire(trigger, actor="bench:ops", reason="benchmark")
    return (time.perf_counter() - start) / transitions


def main() -> int:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--transitions", type=int, default=500)
    parser.add_argument("--dir", type=pathlib.Path, default=None)
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    args = parser.parse_args()
    # Audit events are dropped after being built (the cost of building them is part of a transition).
    configure_production_logging()
    records = 5_000 if args.quick else args.records
    transitions = 50 if args.quick else args.transitions
    runs = 1 if args.quick else 5
    policy = default_policy()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = pathlib.Path(tmp)
        path = directory / "journal.jsonl"
        write_journal(path, records)
        size = path.stat().st_size
        verify = best_of(runs, lambda: verify_journal(path, policy))
        rebuilt = best_of(runs, lambda: recover(path, policy, durability="none"))
        report = verify_journal(path, policy)
        assert report.trusted, report.problems
        assert report.version == records, report.version
        fsynced = transition_cost(directory, "fsync", transitions)
        unsynced = transition_cost(directory, "none", transitions)
    print(f"journal: {records:,} records, {size / 1e6:.1f} MB, in {directory.parent}")
    print(f"verify_journal: {verify * 1e3:8.1f} ms  ({verify / records * 1e6:.2f} µs/record)")
    print(f"recover:        {rebuilt * 1e3:8.1f} ms  (best of {runs})")
    print(f"transition, durability=fsync: {fsynced * 1e6:9.1f} µs  (mean of {transitions})")
    print(f"transition, durability=none:  {unsynced * 1e6:9.1f} µs  (mean of {transitions})")
    print(f"ratio fsync/none: {fsynced / unsynced:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
