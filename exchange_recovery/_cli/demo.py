"""Replay the 18 Dec 2022 outage and phased restart through exchange_recovery.

A cloud zone fails; the venue degrades, then halts. It comes back first in a *pre-open* (margin
changes and post-only orders only, nothing matches), then fully opens, then returns to normal.
At every step a few sample requests go through the gate and their decisions are printed.

Run: ``python examples/okx_2022_restart.py`` (a thin wrapper around this module). With
``--journal PATH`` the transitions go to a durable journal file, and a second run against the
same file resumes where the first stopped (``--steps N`` stops a run after N steps, as if the
gateway went down there).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from collections.abc import Iterator

import structlog

from exchange_recovery import (
    Action,
    Actor,
    Advance,
    Approve,
    Controller,
    Decision,
    MemoryJournal,
    OrderType,
    Origin,
    Request,
    SetHealth,
    SimulationEvent,
    TimeInForce,
    TransitionRecord,
    TransitionRefused,
    Wait,
    default_policy,
    default_restart_plan,
    recover,
    simulate,
)

from .._core.clock import ManualClock

SWAP = "BTC-USDT-SWAP"

SAMPLES: tuple[tuple[str, Request], ...] = (
    ("market buy", Request.new_order(SWAP, OrderType.MARKET)),
    ("limit GTC", Request.new_order(SWAP, OrderType.LIMIT)),
    ("post-only limit", Request.new_order(SWAP, OrderType.LIMIT, post_only=True)),
    ("post-only amend", Request.amend(SWAP, post_only=True)),
    ("limit IOC", Request.new_order(SWAP, OrderType.LIMIT, TimeInForce.IOC)),
    ("stop-market", Request.new_order(SWAP, OrderType.STOP_MARKET)),
    ("cancel", Request.cancel(SWAP)),
    ("add margin", Request.margin(add=True, instrument=SWAP)),
    ("withdrawal", Request(Action.WITHDRAWAL)),
    ("liquidation order", Request.new_order(SWAP, OrderType.LIMIT, origin=Origin.LIQUIDATION)),
)

# (minutes after the zone failed, trigger, actor, reason); "open" straight from HALTED is refused:
# the policy has no door from a halt to matching that skips the pre-open.
TIMELINE: tuple[tuple[int, str, str, str], ...] = (
    (0, "degrade", "monitor:zone-health", "cloud zone hardware failure: latency and errors rising"),
    (4, "halt", "ops:oncall", "matching engine hosts lost in the failed zone"),
    (185, "open", "ops:impatient", "zone is back, just open"),
    (190, "pre_open", "ops:lead", "zone restored; rebuild books with post-only orders"),
    (220, "open", "ops:lead", "books rebuilt and uncrossed; resume matching"),
    (280, "normalize", "ops:lead", "stable for an hour; lift restart protections"),
)

START = dt.datetime(2022, 12, 18, 7, 41, tzinfo=dt.UTC)


def _stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%H:%M UTC")


def _decisions(controller: Controller) -> Iterator[tuple[str, Decision]]:
    check = controller.gate.check
    for label, request in SAMPLES:
        yield label, check(request)


def _show(record: TransitionRecord | None, controller: Controller, out: list[str]) -> None:
    if record is not None:
        out.append(
            f"\n{_stamp(record.timestamp)}  v{record.version}  {record.source} -> {record.dest}"
            f"  [{record.trigger} by {record.actor}]  {record.reason}"
        )
    gate = controller.gate
    out.append(f"    phase {gate.phase()}: matching={'on' if gate.matching() else 'off'}")
    for label, decision in _decisions(controller):
        verdict = "ACCEPT" if decision.accepted else "reject"
        detail = "" if decision.accepted else decision.message
        out.append(f"      {verdict}  {label:<18}  {detail}".rstrip())


def _audit_trail(events: list[str]) -> structlog.typing.WrappedLogger:
    """A structlog logger that keeps each audit event as one key=value line."""

    def keep(_logger: object, method: str, event: structlog.typing.EventDict) -> str:
        fields = " ".join(f"{k}={v}" for k, v in event.items() if k != "event")
        events.append(f"    audit {method}: {event['event']} {fields}")
        raise structlog.DropEvent

    return structlog.wrap_logger(structlog.PrintLogger(), processors=[keep])


def _resume_at(phase: str) -> int:
    """Where the timeline continues when the journal says the venue is in `phase`: after the
    last step that leads there; from the top when it is back to normal (versions carry on)."""
    policy = default_policy()
    if phase == policy.normal:
        return 0
    dest = {t.trigger: t.dest for t in policy.transitions}  # one destination per trigger here
    landed = [i for i, (_, trigger, _, _) in enumerate(TIMELINE) if dest[trigger] == phase]
    return landed[-1] + 1 if landed else 0


def run(journal: str | os.PathLike[str] | None = None, steps: int | None = None) -> list[str]:
    """Replay the timeline; return the printed lines (the tests read them).

    With `journal` (a file path) the controller is recovered from that journal and writes to
    it, so a later run resumes where this one stopped; `steps` stops after that many steps.
    """
    clock = ManualClock(START.timestamp())  # the replay runs instantly, at the story's times
    audit: list[str] = []
    if journal is None:
        memory = MemoryJournal()
        controller = Controller(default_policy(), journal=memory, clock=clock,
                                logger=_audit_trail(audit))
    else:
        # A demo run may always be the first: create=True starts from nothing only where no
        # journal and no anchor exist (a journal deleted behind its anchor still fails safe).
        controller = recover(journal, default_policy(), create=True, clock=clock,
                             logger=_audit_trail(audit))
    start = 0
    report = controller.recovery
    if report is not None and report.records:
        start = _resume_at(controller.phase())
        out = [(f"resumed from journal {journal}: phase {controller.phase()}, version "
               f"{controller.version} ({report.records} records verified)")]
        out.extend(f"    journal problem: {problem}" for problem in report.problems)
        if start:
            clock.now = START.timestamp() + 60 * TIMELINE[start - 1][0]
    else:
        out = [f"18 Dec 2022, {_stamp(clock.now)}: normal trading on {SWAP}"]
    out.extend(audit)
    audit.clear()
    _show(None, controller, out)
    fired = 0
    for minute, trigger, actor, reason in TIMELINE[start:][:steps]:
        clock.now = START.timestamp() + 60 * minute
        try:
            record = controller.fire(trigger, actor=actor, reason=reason)
        except TransitionRefused as refusal:
            out.append(f"\n{_stamp(clock.now)}  REFUSED {trigger} by {actor}: {refusal}")
            out.extend(audit)
            audit.clear()
            continue
        fired += 1
        _show(record, controller, out)
        out.extend(audit)
        audit.clear()
    out.append(f"\n{fired} transitions journaled; final phase {controller.phase()}, "
               f"version {controller.version}")
    if steps is None:  # a run stopped early (as if it crashed) does not get to the epilogue
        out.extend(plan_story())
    return out


def plan_story() -> list[str]:
    """The same restart run as a plan (`default_restart_plan`): why not at minute 5, why at 12."""
    alice = Actor("ops:alice", {"operator"})
    bob = Actor("ops:bob", {"supervisor"})
    events: list[SimulationEvent] = [
        Advance(alice),                                   # minute 0: zone restored -> pre-open
        Wait(300), Advance(alice),                        # minute 5: too early, book crossed
        Wait(180), SetHealth("book_uncrossed", True),     # minute 8
        Wait(60), Approve(alice), Approve(bob),           # minute 9: only a supervisor approves
        Wait(120), Advance(bob),                          # minute 11: bob approved, bob may not fire
        Wait(60), Advance(alice),                         # minute 12: open
        Wait(1800), Approve(bob), Advance(alice),         # minute 42: normal
    ]
    audit: list[str] = []
    timeline = simulate(default_restart_plan(min_pre_open=600, full_open_dwell=1800), events,
                        health={"cloud_zone_healthy": True, "market_data_fresh": True,
                                "book_uncrossed": False},
                        logger=_audit_trail(audit))
    out = ["\nThe same restart as a plan (default_restart_plan, 10 min minimum pre-open),",
           "simulated; ops:alice is an operator, ops:bob a supervisor:"]
    out += [f"  {entry}" for entry in timeline.entries if not entry.event.startswith("wait")]
    for minute in (5, 12):  # the status as the clock reaches the minute, before anyone acts
        status = next(e.status for e in timeline.entries
                      if e.at == 60 * minute and e.event.startswith("wait"))
        out.append(f"\nStatus at minute {minute}:")
        out += [f"  {line}" for line in str(status).splitlines()]
    return out


def main(argv: list[str] | None = None) -> int:
    """Print the timeline."""
    parser = argparse.ArgumentParser(description="Replay the 18 Dec 2022 outage and restart.")
    parser.add_argument("--journal", help="journal file: resume from it and write to it")
    parser.add_argument("--steps", type=int, default=None, help="stop after this many steps")
    args = parser.parse_args(argv)
    sys.stdout.write("\n".join(run(args.journal, args.steps)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
