"""Child process of the deadline crash test: enter a phase with a short maximum stay, announce a
maintenance window, then wait to be killed.

Works on a real clock (``time.time``) and a fsynced `FileJournal`. Prints one line once the
deadline and the window are journaled: ``ready <entered> <due> <begin>`` (clock seconds), then
sleeps: the parent SIGKILLs it before either comes due.
"""

from __future__ import annotations

import sys
import time

import attrs
import structlog

from exchange_recovery import (
    Deadlines,
    MaintenanceWindow,
    MaxStay,
    Policy,
    StayAction,
    default_policy,
    recover,
)

STAY = 4.0
"""The maximum stay in PRE_OPEN (seconds): long enough to be killed and recovered before it."""
BEGIN_AFTER = 5.0
"""The window on `INSTRUMENT` begins this long after the venue entered PRE_OPEN."""
INSTRUMENT = "BTC-USDT-SWAP"


def crash_policy() -> Policy:
    """The default policy with a `STAY`-second maximum stay in PRE_OPEN, then a halt."""
    base = default_policy()
    return base.with_changes(phases=tuple(
        attrs.evolve(p, max_stay=MaxStay(STAY, StayAction.HALT)) if p.name == "PRE_OPEN" else p
        for p in base.phases))


def main(path: str) -> None:
    quiet = structlog.wrap_logger(structlog.ReturnLogger())
    controller = recover(path, crash_policy(), create=True, durability="fsync", logger=quiet)
    controller.halt(actor="ops:alice", reason="zone down")
    controller.pre_open(actor="ops:alice", reason="zone back")
    entered = controller.entered_at()
    deadlines = Deadlines(controller, actor="auto:deadlines")
    deadlines.poll()  # journals the deadline of this visit
    window = MaintenanceWindow("upgrade", begin=entered + BEGIN_AFTER, end=entered + 60.0,
                               scope=INSTRUMENT, reason="engine upgrade")
    deadlines.announce(window, actor="ops:alice")
    due = deadlines.next_due()
    sys.stdout.write(f"ready {entered!r} {due!r} {window.begin!r}\n")
    sys.stdout.flush()
    while True:
        time.sleep(60)


if __name__ == "__main__":
    main(sys.argv[1])
