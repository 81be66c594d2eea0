"""Child process of the crash test: recover a journal, then fire transitions until killed.

Prints ``start <version>`` once recovered, then ``ack <version> <scope> <dest>`` after every
transition whose `fire` returned (so its record was fsynced). The next transition is fully
determined by the state: scope ``SCOPES[version % 2]``, the trigger `NEXT` names for that scope's
own phase. The parent uses the same rule to know which transition may have been in flight.
"""

from __future__ import annotations

import sys

import structlog

from exchange_recovery import VENUE, default_policy, recover

SCOPES = (VENUE, "BTC-USDT-SWAP")
NEXT = {"NORMAL": "degrade", "DEGRADED": "halt", "HALTED": "pre_open", "PRE_OPEN": "open",
        "FULL_OPEN": "normalize"}


def main(path: str) -> None:
    policy = default_policy()
    quiet = structlog.wrap_logger(structlog.ReturnLogger())
    controller = recover(path, policy, create=True, durability="fsync", logger=quiet)
    out = sys.stdout
    out.write(f"start {controller.version}\n")
    out.flush()
    while True:
        scope = SCOPES[controller.version % 2]
        phase = controller.gate.phases.get(scope, policy.normal)
        record = controller.fire(NEXT[phase], actor="test:crash", reason="crash loop", scope=scope)
        out.write(f"ack {record.version} {record.scope} {record.dest}\n")
        out.flush()


if __name__ == "__main__":
    main(sys.argv[1])
