"""How often the conformance kit catches each mutant adapter at CI settings, over many seeds.

The mutants and the reference engine they break are those of ``tests/test_kit_mutants.py``:
each breaks one property the kit checks. Each is run under ``--seeds`` distinct seeds with the
``ci`` profile's budget (60 examples of up to 40 steps), randomized, without shrinking; a seed
counts as caught when the kit raises `ConformanceFailure`. Prints, per mutant, the detection
rate, the mean time per seed, and the property named by the most frequent failure message.

Run: ``python benchmarks/kit_mutants.py [--seeds N] [--first N]``
"""

from __future__ import annotations

import argparse
import collections
import pathlib
import sys
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "tests"))

from test_kit_mutants import MUTANTS, RefBook, caught


def _gist(message: str) -> str:
    """The property a failure message names, in a few words."""
    for words, gist in (("crossed", "crossed book"), ("gate refused", "gate refused it"),
                        ("stop triggers are off", "stop fired, triggers off"),
                        ("took liquidity", "post-only took liquidity"),
                        ("does not match", "traded, not matching"),
                        ("rests in the book", "remainder/disposition rests"),
                        ("still rests", "disposition not applied"),
                        ("liquidations are off", "liquidation executed"),
                        ("not back", "not reinstated")):
        if words in message:
            return gist
    return message[:30]


def main() -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--first", type=int, default=1000, help="the first seed")
    args = parser.parse_args()
    print(f"{'mutant':<40} {'caught':>9} {'rate':>6} {'s/seed':>7}  most often caught by")
    for engine in (*MUTANTS, RefBook):
        started = time.perf_counter()
        messages = [caught(engine, args.first + s) for s in range(args.seeds)]
        elapsed = (time.perf_counter() - started) / args.seeds
        hits = [m for m in messages if m is not None]
        by = collections.Counter(_gist(m) for m in hits).most_common(1)
        name = engine.__name__ + (" (correct)" if engine is RefBook else "")
        print(f"{name:<40} {len(hits):>4}/{args.seeds:<4} {len(hits) / args.seeds:>6.0%} "
              f"{elapsed:>7.2f}  {by[0][0] if by else '-'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
