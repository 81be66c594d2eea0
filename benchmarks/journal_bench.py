"""How long recovery, compaction and journaled transitions take on this machine.

Measures, each ratio in one run so that the machine's speed cancels out:
- recovery of a journal of ``--records`` records (default 1,000,000): `verify_journal` and
  `recover` against the least any verifier does, ``hashlib.sha256`` + ``json.loads`` of every
  line (read the same way), paired and interleaved, medians of ``--rounds`` rounds. The journal
  is keyed (a `JournalKey`, an HMAC-SHA256 on every line) unless ``--unkeyed``: a keyed line
  needs its MAC checked too, so the baseline then computes ``hmac.digest`` of every line as
  well. Goal (issues #10, #11): recover / baseline <= 1.5;
- peak memory (tracemalloc) of `verify_journal` and `recover` at a tenth of the records and at
  all of them. Goal: ratio ~1 (memory does not grow with the record count);
- compaction and recovery of a journal whose snapshot holds ``--scopes`` scopes (default 100,000)
  against a tenth of them, interleaved, medians. Goal: recover <= 12x. `recover` builds a
  `Controller` in the recovered phases; its construction is timed on its own beside it, so the
  journal's share (recover - controller) shows apart from the controller's. So is ``json.loads``
  of the snapshot line, the least recovery must do (building a dict of every scope);
- one transition journaled to a `FileJournal` with ``durability="fsync"``, and with ``"none"``
  (mean over a run of transitions, through `Controller.fire`), with the anchor (the default:
  the record's fsync, then the anchor's write, fsync, rename and directory fsync) and without.

Figures are printed, never asserted (a noisy machine would make them flaky). The journal files
live in a temporary directory on the filesystem of ``--dir`` (default: the system temp dir):
fsync costs depend entirely on that device. A 1,000,000-record journal is ~380 MB and takes a
few seconds to write (records are encoded directly, not through a controller).

Run: ``python benchmarks/journal_bench.py [--records N] [--scopes N] [--rounds N]
[--transitions N] [--dir PATH] [--unkeyed] [--quick]``
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import pathlib
import statistics
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from functools import partial

from _logging import configure_production_logging

from exchange_recovery import (
    VENUE,
    Controller,
    FileJournal,
    Policy,
    TransitionRecord,
    compact_journal,
    default_policy,
    recover,
    verify_journal,
)
from exchange_recovery._journal.anchor import Anchor, write_anchor
from exchange_recovery._journal.format import GENESIS, encode, utc_text
from exchange_recovery._journal.keys import JournalKey

# A cycle of the default policy that comes back to where it started: NORMAL -> ... -> NORMAL.
CYCLE = (("degrade", "NORMAL", "DEGRADED"), ("halt", "DEGRADED", "HALTED"),
         ("pre_open", "HALTED", "PRE_OPEN"), ("open", "PRE_OPEN", "FULL_OPEN"),
         ("normalize", "FULL_OPEN", "NORMAL"))
GOAL_RECOVER = 1.5
GOAL_SCOPES = 12.0


def write_journal(path: pathlib.Path, records: int, key: JournalKey | None, *,
                  first: pathlib.Path | None = None, first_records: int = 0) -> None:
    """A valid journal of `records` transitions on the venue and two instruments, with its
    anchor; `first`, if given, gets the same journal's first `first_records` records (a valid
    journal too, anchored)."""
    policy = default_policy()
    relaxing = {(source, dest): policy.is_relaxing(source, dest) for _, source, dest in CYCLE}
    scopes = (VENUE, "BTC-USDT-SWAP", "ETH-USDT-SWAP")
    steps = dict.fromkeys(scopes, 0)
    start = time.time() - records
    prev, stamp, heads = GENESIS, "", {}
    with open(path, "wb", buffering=1 << 20) as out:
        for version in range(1, records + 1):
            scope = scopes[version % len(scopes)]
            trigger, source, dest = CYCLE[steps[scope] % len(CYCLE)]
            steps[scope] += 1
            if version % 64 == 1:  # a new time every 64 records: formatting it costs as much as encoding
                stamp = utc_text(start + version)
            line, prev = encode({"kind": "transition", "version": version, "time": stamp,
                                 "scope": scope, "from": source, "to": dest, "trigger": trigger,
                                 "actor": "bench:writer", "reason": "benchmark transition",
                                 "relaxing": relaxing[(source, dest)]}, prev, key)
            out.write(line)
            if version in (first_records, records):
                heads[version] = prev
    _anchor(path, Anchor(records, heads[records]), key)
    if first is not None:
        with open(path, "rb") as source_file, open(first, "wb") as head:
            head.writelines(itertools.islice(source_file, first_records))
        _anchor(first, Anchor(first_records, heads[first_records]), key)


def _anchor(path: pathlib.Path, anchor: Anchor, key: JournalKey | None) -> None:
    write_anchor(path.with_name(f"{path.name}.anchor"), anchor, key, durable=False)


def baseline(path: pathlib.Path, key: JournalKey | None) -> None:
    """The least a verifier does: read each line, hash it (and MAC it, keyed), parse it."""
    with open(path, "rb") as lines:
        if key is None:
            for line in lines:
                hashlib.sha256(line).hexdigest()
                json.loads(line)
            return
        mac = key.mac  # HMAC-SHA256 from precomputed pad states, as the journal computes it
        for line in lines:
            hashlib.sha256(line).hexdigest()
            mac(line)
            json.loads(line)


def recover_once(path: pathlib.Path, policy: Policy, key: JournalKey | None) -> None:
    """`recover` without fsync; its journal is closed again."""
    controller = recover(path, policy, key=key, durability="none")
    controller.journal.close()  # type: ignore[union-attr]


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of `fn` takes."""
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(rounds: int, **candidates: Callable[[], object]) -> dict[str, list[float]]:
    """Seconds per call of each candidate, one call of each per round, in turn."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, fn in candidates.items():
            times[name].append(timed(fn))
    return times


def paired_ratio(times: dict[str, list[float]], over: str, under: str) -> float:
    """The median of the per-round ratios `over` / `under`."""
    return statistics.median(a / b for a, b in zip(times[over], times[under], strict=True))


def peak_bytes(fn: Callable[[], object]) -> int:
    """The peak traced memory during one call of `fn`."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def scope_journal(path: pathlib.Path, scopes: int, key: JournalKey | None) -> dict[str, str]:
    """A journal opening with a snapshot of the venue and `scopes` instruments, then one
    transition; returns the phases it ends in."""
    kinds = ("HALTED", "PRE_OPEN", "DEGRADED")
    phases = {VENUE: "NORMAL", **{f"I{i:06d}-USDT-SWAP": kinds[i % 3] for i in range(scopes)}}
    with FileJournal(path, key=key, durability="none") as journal:
        journal.snapshot(phases, 1, actor="bench:seed", reason="many instruments", now=time.time())
        journal.append(TransitionRecord(2, VENUE, "NORMAL", "DEGRADED", "degrade", "bench:ops",
                                        "benchmark", time.time(), False))
    return {**phases, VENUE: "DEGRADED"}


def scope_costs(directory: pathlib.Path, scopes: int, rounds: int, policy: Policy,
                key: JournalKey | None) -> dict[str, dict[str, list[float]]]:
    """Compaction, recovery and bare Controller construction with `scopes` and a tenth of them,
    interleaved; seconds per call by size, then by what was timed."""
    sizes = {"large": scopes, "small": max(1, scopes // 10)}
    paths = {size: directory / f"scopes-{size}.jsonl" for size in sizes}
    phases = {size: scope_journal(paths[size], count, key) for size, count in sizes.items()}
    times: dict[str, dict[str, list[float]]] = {size: {"compact": [], "recover": [],
                                                       "controller": [], "json": []}
                                                for size in sizes}
    for round_ in range(rounds):
        for size, path in paths.items():
            archive = path.with_name(f"{path.name}.archive-{round_}")
            times[size]["compact"].append(timed(partial(compact_journal, path, policy, key=key,
                                                        archive=archive)))
            times[size]["recover"].append(timed(partial(recover_once, path, policy, key)))
            times[size]["controller"].append(timed(partial(Controller, policy,
                                                           phases=phases[size])))
            line = path.read_bytes()  # compacted: the snapshot is the one line
            times[size]["json"].append(timed(partial(json.loads, line)))
    return times


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.1f} ms"


def transition_cost(directory: pathlib.Path, durability: str, transitions: int,
                    key: JournalKey | None, *, anchor: bool) -> float:
    """Mean seconds per `Controller.fire` journaled with `durability` (and an anchor)."""
    path = directory / f"fire-{durability}-{anchor}.jsonl"
    controller = recover(path, default_policy(), key=key, anchor=anchor, create=True,
                         durability=durability)  # type: ignore[arg-type]
    start = time.perf_counter()
    for i in range(transitions):
        trigger = CYCLE[i % len(CYCLE)][0]
        controller.fire(trigger, actor="bench:ops", reason="benchmark")
    return (time.perf_counter() - start) / transitions


def print_scope_figures(scoped: dict[str, dict[str, list[float]]], scopes: int) -> None:
    """The ratios of compaction and recovery with `scopes` scopes to a tenth of them."""
    med = statistics.median
    large, few = scoped["large"], scoped["small"]
    fewer = max(1, scopes // 10)
    for what, label in (("compact", "compact_journal"), ("recover", "recover"),
                        ("controller", "Controller() alone"),
                        ("json", "json.loads of the snapshot line alone")):
        goal = f"  (goal <= {GOAL_SCOPES:g})" if what == "recover" else ""
        print(f"ratio {label} {scopes:,}/{fewer:,} scopes: "
              f"{med(large[what]) / med(few[what]):.1f}  "
              f"({_ms(med(large[what])).strip()} / {_ms(med(few[what])).strip()}){goal}")
    share = {size: med(a - b for a, b in zip(t["recover"], t["controller"], strict=True))
             for size, t in scoped.items()}
    print(f"ratio recover minus Controller() {scopes:,}/{fewer:,} scopes: "
          f"{share['large'] / share['small']:.1f}  ({_ms(share['large']).strip()} / "
          f"{_ms(share['small']).strip()}: the journal's share of recover)")


def print_transition_figures(fsynced: float, bare: float, unsynced: float,
                             transitions: int) -> None:
    """What one journaled transition costs, with and without fsync and the anchor."""
    print(f"transition, durability=fsync, anchored:  {fsynced * 1e6:9.1f} µs  (mean of "
          f"{transitions}; the record's fsync, then the anchor's fsync, rename, directory fsync)")
    print(f"transition, durability=fsync, no anchor: {bare * 1e6:9.1f} µs")
    print(f"transition, durability=none, anchored:   {unsynced * 1e6:9.1f} µs")
    print(f"ratio fsync/none: {fsynced / unsynced:.1f}")
    print(f"ratio anchored/no anchor (fsync): {fsynced / bare:.1f}")


def main() -> int:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000,
                        help="records in the recovery journal (default 1,000,000)")
    parser.add_argument("--scopes", type=int, default=100_000,
                        help="scopes in the compaction journal, compared with a tenth of them "
                        "(default 100,000)")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved rounds per comparison (medians are printed)")
    parser.add_argument("--transitions", type=int, default=500)
    parser.add_argument("--dir", type=pathlib.Path, default=None)
    parser.add_argument("--unkeyed", action="store_true",
                        help="journal without a key (SHA-256 only; no HMAC in the baseline)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke test)")
    args = parser.parse_args()
    # Audit events are dropped after being built (the cost of building them is part of a transition).
    configure_production_logging()
    records = 5_000 if args.quick else args.records
    scopes = 1_000 if args.quick else args.scopes
    rounds = 1 if args.quick else args.rounds
    transitions = 50 if args.quick else args.transitions
    tenth = max(1, records // 10)
    policy = default_policy()
    med = statistics.median
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = pathlib.Path(tmp)
        key = None if args.unkeyed else JournalKey.generate(directory / "journal.key")
        path, small = directory / "journal.jsonl", directory / "journal-tenth.jsonl"
        written = timed(lambda: write_journal(path, records, key, first=small,
                                              first_records=tenth))
        size = path.stat().st_size
        report = verify_journal(path, policy, key=key)
        assert report.trusted, report.problems
        assert report.version == records, report.version
        times = interleaved(rounds, baseline=lambda: baseline(path, key),
                            verify=lambda: verify_journal(path, policy, key=key),
                            recover=lambda: recover_once(path, policy, key))
        peaks: dict[tuple[str, int], int] = {}
        for count, journal in ((tenth, small), (records, path)):
            peaks["verify_journal", count] = peak_bytes(partial(verify_journal, journal, policy,
                                                                key=key))
            peaks["recover", count] = peak_bytes(partial(recover_once, journal, policy, key))
        scoped = scope_costs(directory, scopes, rounds, policy, key)
        fsynced = transition_cost(directory, "fsync", transitions, key, anchor=True)
        bare = transition_cost(directory, "fsync", transitions, key, anchor=False)
        unsynced = transition_cost(directory, "none", transitions, key, anchor=True)

    keyed = "unkeyed (SHA-256 only)" if key is None else "keyed (HMAC-SHA256 on every line)"
    print(f"journal: {records:,} records, {keyed}, {size / 1e6:.1f} MB, in {directory.parent} "
          f"(written in {written:.1f} s)")
    base, verify, rebuilt = med(times["baseline"]), med(times["verify"]), med(times["recover"])
    what = "sha256+json.loads" if key is None else "sha256+hmac+json.loads"
    print(f"baseline {what}: {_ms(base)}  ({base / records * 1e6:.2f} µs/record, "
          f"median of {rounds}{'' if key is None else '; keyed: the HMAC is in the baseline'})")
    print(f"verify_journal:    {_ms(verify)}  ({verify / records * 1e6:.2f} µs/record)")
    print(f"recover:           {_ms(rebuilt)}  ({rebuilt / records * 1e6:.2f} µs/record)")
    print(f"ratio verify/baseline:  {paired_ratio(times, 'verify', 'baseline'):.2f}")
    print(f"ratio recover/baseline: {paired_ratio(times, 'recover', 'baseline'):.2f}  "
          f"(goal <= {GOAL_RECOVER})")
    for name in ("verify_journal", "recover"):
        low, high = peaks[name, tenth], peaks[name, records]
        print(f"ratio peak memory {name} {records:,}/{tenth:,} records: {high / low:.2f}  "
              f"({high / 1e3:.0f} kB / {low / 1e3:.0f} kB; goal ~1)")
    print_scope_figures(scoped, scopes)
    print_transition_figures(fsynced, bare, unsynced, transitions)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
