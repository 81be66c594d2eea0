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
from typing import Any, Final

import structlog

from exchange_recovery import (
    VENUE,
    Action,
    Actor,
    Advance,
    Approve,
    Controller,
    Gate,
    Liquidate,
    MemoryJournal,
    OrderType,
    Origin,
    PhaseChange,
    Request,
    RestingAction,
    SetHealth,
    SetIndicative,
    Side,
    SimulationEvent,
    TimeInForce,
    TransitionRefused,
    Wait,
    default_policy,
    default_restart_plan,
    deferred_funds_policy,
    recover,
    reopening_plan,
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

# The engine's book before the outage: (label, request it was entered with, side, price).
RESTING: tuple[tuple[str, Request, Side, int], ...] = (
    ("client bid 99 (limit GTC)", Request.new_order(SWAP, OrderType.LIMIT), Side.BUY, 99),
    ("maker ask 101 (post-only)", Request.new_order(SWAP, OrderType.LIMIT, post_only=True),
     Side.SELL, 101),
    ("client stop-market sell at 95", Request.new_order(SWAP, OrderType.STOP_MARKET),
     Side.SELL, 95),
    ("liquidation sell 102 (reduce-only)",
     Request.new_order(SWAP, OrderType.LIMIT, reduce_only=True, origin=Origin.LIQUIDATION),
     Side.SELL, 102),
)

# Post-only bids sent in the pre-open, while nothing matches: one through the ask, one behind.
PRE_OPEN_BIDS: tuple[tuple[str, int], ...] = (("post-only bid 101", 101),
                                              ("post-only bid 100", 100))


class _Book:
    """A toy engine's book that acts on phase changes as an engine's listener would."""

    def __init__(self, controller: Controller) -> None:
        self._gate = controller.gate
        self.resting = {label: (request, side, price) for label, request, side, price in RESTING}
        self.suspended: dict[str, tuple[Request, Side, int, str]] = {}
        self.events: list[dict[str, object]] = []
        controller.add_listener(self.on_change)

    def on_change(self, change: PhaseChange) -> None:
        """Apply the disposition of the phase entered, then reinstate what waited for it."""
        for label, (request, side, price) in list(self.resting.items()):
            rule = change.disposition.rule(request)
            if rule.action is RestingAction.CANCEL:
                del self.resting[label]
                self.events.append({"event": "cancelled", "order": label,
                                    "code": change.cancel_code.value,
                                    "fix_378": change.cancel_code.fix_restatement_reason})
            elif rule.action is RestingAction.SUSPEND:
                del self.resting[label]
                self.suspended[label] = (request, side, price, rule.until)
                self.events.append({"event": "suspended", "order": label, "until": rule.until})
        for label, (request, side, price, until) in list(self.suspended.items()):
            if until == change.disposition.reinstates:
                del self.suspended[label]
                self.resting[label] = (request, side, price)
                self.events.append({"event": "reinstated", "order": label})

    def touch(self) -> tuple[int | None, int | None]:
        """Best bid and ask of the resting limit orders."""
        limits = [(side, price) for request, side, price in self.resting.values()
                  if request.order_type is OrderType.LIMIT]
        bids = [p for side, p in limits if side is Side.BUY]
        asks = [p for side, p in limits if side is Side.SELL]
        return max(bids, default=None), min(asks, default=None)

    def submit(self, label: str, side: Side, price: int) -> None:
        """A new post-only limit order, checked against the gate and the book's touch."""
        request = Request.new_order(SWAP, OrderType.LIMIT, post_only=True)
        bid, ask = self.touch()
        decision = self._gate.check_priced(request, side, price, best_bid=bid, best_ask=ask)
        if decision.accepted:
            self.resting[label] = (request, side, price)
        self.events.append({"event": "accepted" if decision.accepted else "refused",
                            "order": label, "reason": decision.reason.value,
                            "touch": [bid, ask]})

    def taken(self) -> list[dict[str, object]]:
        taken = list(self.events)
        self.events.clear()
        return taken


def _stamp(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%H:%M UTC")


def _state(controller: Controller) -> dict[str, object]:
    """The gate's phase, whether it matches, and its decision for every sample request."""
    gate = controller.gate
    check = gate.check
    decisions = []
    for label, request in SAMPLES:
        decision = check(request)
        decisions.append({"request": label, "accepted": decision.accepted,
                          "reason": decision.reason.value, "message": decision.message})
    return {"phase": gate.phase(), "matching": gate.matching(), "decisions": decisions}


def _state_lines(state: dict[str, Any]) -> list[str]:
    out = [f"    phase {state['phase']}: matching={'on' if state['matching'] else 'off'}"]
    for d in state["decisions"]:
        verdict = "ACCEPT" if d["accepted"] else "reject"
        detail = "" if d["accepted"] else d["message"]
        out.append(f"      {verdict}  {d['request']:<18}  {detail}".rstrip())
    return out


def _audit_trail(events: list[dict[str, object]]) -> structlog.typing.WrappedLogger:
    """A structlog logger that keeps each audit event as a dict (its level, name and fields)."""

    def keep(_logger: object, method: str, event: structlog.typing.EventDict) -> str:
        events.append({"level": method, **event})
        raise structlog.DropEvent

    return structlog.wrap_logger(structlog.PrintLogger(), processors=[keep])


def _audit_lines(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        fields = " ".join(f"{k}={v}" for k, v in e.items() if k not in ("event", "level"))
        out.append(f"    audit {e['level']}: {e['event']} {fields}")
    return out


def _taken(events: list[dict[str, object]]) -> list[dict[str, object]]:
    """The events so far, leaving `events` empty for the next step."""
    taken = list(events)
    events.clear()
    return taken


def _resume_at(phase: str) -> int:
    """Where the timeline continues when the journal says the venue is in `phase`: after the
    last step that leads there; from the top when it is back to normal (versions carry on)."""
    policy = default_policy()
    if phase == policy.normal:
        return 0
    dest = {t.trigger: t.dest for t in policy.transitions}  # one destination per trigger here
    landed = [i for i, (_, trigger, _, _) in enumerate(TIMELINE) if dest[trigger] == phase]
    return landed[-1] + 1 if landed else 0


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def story(journal: str | os.PathLike[str] | None = None, steps: int | None = None) -> dict[str, Any]:
    """Replay the timeline; return every step as data (what ``demo --json`` prints).

    With `journal` (a file path) the controller is recovered from that journal and writes to
    it, so a later run resumes where this one stopped; `steps` stops after that many steps.
    """
    clock = ManualClock(START.timestamp())  # the replay runs instantly, at the story's times
    audit: list[dict[str, object]] = []
    if journal is None:
        controller = Controller(default_policy(), journal=MemoryJournal(), clock=clock,
                                logger=_audit_trail(audit))
    else:
        # A demo run may always be the first: create=True starts from nothing only where no
        # journal and no anchor exist (a journal deleted behind its anchor still fails safe).
        controller = recover(journal, default_policy(), create=True, clock=clock,
                             logger=_audit_trail(audit))
    start = 0
    report = controller.recovery
    resumed: dict[str, object] | None = None
    if report is not None and report.records:
        start = _resume_at(controller.phase())
        resumed = {"journal": os.fspath(journal or ""), "phase": controller.phase(),
                   "version": controller.version, "records": report.records,
                   "problems": [str(problem) for problem in report.problems]}
        if start:
            clock.now = START.timestamp() + 60 * TIMELINE[start - 1][0]
    book = _Book(controller)
    data: dict[str, Any] = {"instrument": SWAP, "time": _iso(clock.now), "resumed": resumed,
                            "audit": _taken(audit), "state": _state(controller),
                            "book": sorted(book.resting), "steps": []}
    fired = 0
    for minute, trigger, actor, reason in TIMELINE[start:][:steps]:
        clock.now = START.timestamp() + 60 * minute
        step: dict[str, Any] = {"time": _iso(clock.now), "trigger": trigger, "actor": actor,
                                "reason": reason, "refused": None, "record": None, "state": None}
        try:
            record = controller.fire(trigger, actor=actor, reason=reason)
        except TransitionRefused as refusal:
            step["refused"] = {"code": refusal.code.value, "message": str(refusal)}
        else:
            fired += 1
            if record is not None:
                step["record"] = {"version": record.version, "from": record.source,
                                  "to": record.dest}
            step["state"] = _state(controller)
            if trigger == "pre_open":
                for label, price in PRE_OPEN_BIDS:
                    book.submit(label, Side.BUY, price)
        step["audit"] = _taken(audit)
        step["book"] = book.taken()
        data["steps"].append(step)
    data["final"] = {"transitions": fired, "phase": controller.phase(),
                     "version": controller.version}
    data["plan"] = plan_data() if steps is None else None  # a run stopped early: no epilogue
    data["other_venue"] = other_venue() if steps is None else None
    data["reopening"] = reopening() if steps is None else None
    return data


def other_venue() -> dict[str, Any]:
    """The other venue of 18 Dec 2022 through the same outage (`deferred_funds_policy`):
    trading stays on, funds movements wait; one withdrawal is released on recovery, another
    cancelled by its owner while deferred. Beside it, what the default policy says."""
    clock = ManualClock(START.timestamp())
    controller = Controller(deferred_funds_policy(), clock=clock, logger=_audit_trail([]))
    held: dict[str, Request] = {}
    events: list[dict[str, object]] = []

    def wallet(change: PhaseChange) -> None:  # the wallet service acts on the release
        for owner, request in list(held.items()):
            if request.action in change.deferrals.released:
                del held[owner]
                events.append({"event": "released", "owner": owner,
                                "action": request.action.name})

    controller.add_listener(wallet)
    steps: list[dict[str, object]] = []
    for minute, trigger, reason in ((0, "defer_funds", "wallet provider's nodes in maintenance"),
                                    (280, "release_funds", "wallet nodes back; process the queue")):
        clock.now = START.timestamp() + 60 * minute
        record = controller.fire(trigger, actor="ops:wallet", reason=reason)
        if trigger == "defer_funds":
            for owner in ("alice", "bob"):
                decision = controller.gate.check(Request(Action.WITHDRAWAL))
                if decision.deferred:
                    held[owner] = Request(Action.WITHDRAWAL)
                events.append({"event": "withdrawal", "owner": owner,
                               "reason": decision.reason.value, "until": decision.until})
            trading = controller.gate.check(SAMPLES[0][1])
            events.append({"event": "trading", "request": SAMPLES[0][0],
                           "reason": trading.reason.value})
            cancel = controller.gate.check(Request.cancel_withdrawal())
            if cancel.accepted:
                del held["bob"]
            events.append({"event": "cancelled", "owner": "bob", "reason": cancel.reason.value})
        steps.append({"time": _iso(clock.now), "trigger": trigger, "from": record.source,
                      "to": record.dest, "reason": reason, "events": list(events)})
        events.clear()
    here = Gate(default_policy(), {VENUE: "DEGRADED"}).check(Request(Action.WITHDRAWAL))
    return {"policy": "deferred_funds", "steps": steps, "held": sorted(held),
            "default_degraded_withdrawal": here.reason.value}


_ALICE = Actor("ops:alice", {"operator"})
_BOB = Actor("ops:bob", {"supervisor"})
_REOPENING: tuple[SimulationEvent, ...] = (
    Advance(_ALICE), Wait(600), Approve(_BOB), Advance(_ALICE),  # 10 min pre-open, then the call
    SetIndicative(107.5, 40),  # the price moved: 7.5 % above the reference, outside the collar
    Wait(180), SetIndicative(103.2, 55),  # extended; the price comes back inside
    Wait(420), Liquidate(SWAP),  # open: liquidations wait for their clock
    Wait(900), *[Liquidate(SWAP)] * 11,  # released: at most 10 a minute
)
REOPENING_SEED: Final = 20221218
"""The seed of the demo's auction: its random end (and so the whole timeline) is the same on
every run."""


def reopening() -> dict[str, Any]:
    """The same restart reopened LSE-style (`reopening_plan`, simulated with a fixed seed): a
    call with a random end, one extension because the price moved too far, the uncross, then
    liquidations released 15 minutes after the open at 10 a minute."""
    timeline = simulate(reopening_plan(), _REOPENING, seed=REOPENING_SEED, reference=100.0,
                        health={"cloud_zone_healthy": True, "market_data_fresh": True,
                                "book_uncrossed": True},
                        logger=_audit_trail([]))
    entries = [{"minute": e.at / 60, "phase": e.phase, "event": e.event, "detail": e.detail,
                "text": str(e)} for e in timeline.entries if not e.event.startswith("wait")]
    auction, release = timeline.auction, timeline.liquidations
    if auction is None or release is None:  # the reopening plan has both
        msg = "the reopening plan lost its auction or its liquidation release"
        raise RuntimeError(msg)
    return {"plan": "reopening", "seed": REOPENING_SEED, "entries": entries,
            "auction": {"extensions": auction.extensions, "open_price": auction.open_price,
                        "open_size": auction.open_size, "state": auction.state.value},
            "liquidations": {"resume_at_minute": release.resume_at / 60 if release.resume_at
                             is not None else None, "per_minute": release.per_minute}}


def reopening_lines(data: dict[str, Any]) -> list[str]:
    """The LSE-style reopening in words: one line per event, repeated liquidations folded."""
    out = [(f"\nThe same restart reopened LSE-style (reopening_plan, seed {data['seed']}): a "
           "2-minute call with a random end within 30 s,"),
           ("a 5 % collar around the reference price 100, 5-minute extensions, liquidations "
           "15 minutes after the open, 10 a minute:")]
    entries = data["entries"]
    i = 0
    while i < len(entries):
        entry = entries[i]
        same = 1
        while (i + same < len(entries) and entries[i + same]["text"] == entry["text"]):
            same += 1
        out.append(f"  {entry['text']}" + (f"  (x{same})" if same > 1 else ""))
        i += same
    return out


def other_venue_lines(data: dict[str, Any]) -> list[str]:
    """The other venue's story in words."""
    out = [("\nThe other venue of 18 Dec 2022, same outage (deferred_funds_policy: trading on, "
            "funds movements deferred):")]
    for step in data["steps"]:
        out.append(f"  {_stamp_of(step['time'])}  {step['from']} -> {step['to']}  "
                   f"[{step['trigger']} by ops:wallet]  {step['reason']}")
        for e in step["events"]:
            if e["event"] == "withdrawal":
                until = f" until {e['until']}" if e["until"] else ""
                out.append(f"      withdrawal by {e['owner']}: {e['reason']}{until}")
            elif e["event"] == "trading":
                out.append(f"      {e['request']}: {e['reason']} (trading goes on)")
            elif e["event"] == "cancelled":
                out.append(f"      {e['owner']} cancels his pending withdrawal: {e['reason']}")
            else:
                out.append(f"      released: {e['owner']}'s {e['action'].lower()} processed")
    out.append(f"  The default policy refuses the same withdrawal while DEGRADED: "
               f"{data['default_degraded_withdrawal']}")
    return out


def _stamp_of(iso: str) -> str:
    return f"{iso[11:16]} UTC"


def run(journal: str | os.PathLike[str] | None = None, steps: int | None = None) -> list[str]:
    """Replay the timeline; return the printed lines (the tests read them)."""
    data = story(journal, steps)
    resumed = data["resumed"]
    if resumed is not None:
        out = [(f"resumed from journal {resumed['journal']}: phase {resumed['phase']}, version "
                f"{resumed['version']} ({resumed['records']} records verified)")]
        out.extend(f"    journal problem: {problem}" for problem in resumed["problems"])
    else:
        out = [f"18 Dec 2022, {_stamp_of(data['time'])}: normal trading on {SWAP}"]
    out.extend(_audit_lines(data["audit"]))
    out.extend(_state_lines(data["state"]))
    out.append(f"    book: {'; '.join(data['book'])}")
    for step in data["steps"]:
        stamp = _stamp_of(step["time"])
        if step["refused"] is not None:
            out.append(f"\n{stamp}  REFUSED {step['trigger']} by {step['actor']}: "
                       f"{step['refused']['message']}")
        else:
            record = step["record"]
            if record is not None:
                out.append(f"\n{stamp}  v{record['version']}  {record['from']} -> {record['to']}"
                           f"  [{step['trigger']} by {step['actor']}]  {step['reason']}")
            out.extend(_state_lines(step["state"]))
        out.extend(_book_lines(step["book"]))
        out.extend(_audit_lines(step["audit"]))
    final = data["final"]
    out.append(f"\n{final['transitions']} transitions journaled; final phase {final['phase']}, "
               f"version {final['version']}")
    if data["plan"] is not None:
        out.extend(plan_lines(data["plan"]))
    if data["other_venue"] is not None:
        out.extend(other_venue_lines(data["other_venue"]))
    if data.get("reopening") is not None:
        out.extend(reopening_lines(data["reopening"]))
    return out


def _book_lines(events: list[dict[str, Any]]) -> list[str]:
    """What the engine's listener did to its book, and the pre-open's priced checks."""
    out = []
    for e in events:
        if e["event"] == "cancelled":
            out.append(f"    book: cancelled {e['order']} ({e['code']}, FIX 378={e['fix_378']})")
        elif e["event"] == "suspended":
            out.append(f"    book: suspended {e['order']} until {e['until']}")
        elif e["event"] == "reinstated":
            out.append(f"    book: reinstated {e['order']}")
        else:
            bid, ask = e["touch"]
            out.append(f"    book: {e['order']} with the book at {bid}/{ask}: {e['reason']}")
    return out


_PLAN_EVENTS: tuple[SimulationEvent, ...] = (
    Advance(Actor("ops:alice", {"operator"})),            # minute 0: zone restored -> pre-open
    Wait(300), Advance(Actor("ops:alice", {"operator"})),  # minute 5: too early, book crossed
    Wait(180), SetHealth("book_uncrossed", True),          # minute 8
    Wait(60), Approve(Actor("ops:alice", {"operator"})),   # minute 9: only a supervisor approves
    Approve(Actor("ops:bob", {"supervisor"})),
    Wait(120), Advance(Actor("ops:bob", {"supervisor"})),  # minute 11: bob approved, may not fire
    Wait(60), Advance(Actor("ops:alice", {"operator"})),   # minute 12: open
    Wait(1800), Approve(Actor("ops:bob", {"supervisor"})),  # minute 42: normal
    Advance(Actor("ops:alice", {"operator"})),
)


def plan_data() -> dict[str, Any]:
    """The same restart run as a plan (`default_restart_plan`): why not at minute 5, why at 12."""
    timeline = simulate(default_restart_plan(min_pre_open=600, full_open_dwell=1800),
                        list(_PLAN_EVENTS),
                        health={"cloud_zone_healthy": True, "market_data_fresh": True,
                                "book_uncrossed": False},
                        logger=_audit_trail([]))
    entries = []
    for entry in timeline.entries:
        if entry.event.startswith("wait"):
            continue
        blockers = []
        blocking = () if entry.status is None else entry.status.blocking
        if entry.refusal is not None and blocking and blocking[0].code is entry.refusal:
            # refused for its exit criteria: each one that blocks, with its own code
            blockers = [{"criterion": c.name, "code": None if c.code is None else c.code.value,
                         "detail": c.detail} for c in blocking]
        entries.append({"minute": entry.at / 60, "phase": entry.phase, "event": entry.event,
                        "refused": None if entry.refusal is None else entry.refusal.value,
                        "detail": entry.detail, "blockers": blockers, "text": str(entry)})
    statuses = []
    for minute in (5, 12):  # the status as the clock reaches the minute, before anyone acts
        status = next(e.status for e in timeline.entries
                      if e.at == 60 * minute and e.event.startswith("wait"))
        assert status is not None  # noqa: S101 - simulate gives every entry its status
        statuses.append({"minute": minute, "ready": status.ready,
                         "blocking": [{"criterion": c.name,
                                       "code": None if c.code is None else c.code.value}
                                      for c in status.blocking],
                         "text": str(status)})
    return {"plan": "default restart", "entries": entries, "statuses": statuses}


def plan_lines(plan: dict[str, Any]) -> list[str]:
    """The plan epilogue in words; a refused step lists each blocker under its own code."""
    out = ["\nThe same restart as a plan (default_restart_plan, 10 min minimum pre-open),",
           "simulated; ops:alice is an operator, ops:bob a supervisor:"]
    for entry in plan["entries"]:
        if len(entry["blockers"]) > 1:
            out.append(f"  {entry['minute']:6.1f} min  {entry['phase']:<9}  {entry['event']}  "
                       f"REFUSED, blocked by {len(entry['blockers'])}:")
            width = max(len(b["code"] or "") for b in entry["blockers"])
            out += [f"{'':32}{b['code'] or '':<{width}}  {b['criterion']}: {b['detail']}"
                    for b in entry["blockers"]]
        else:
            out.append(f"  {entry['text']}")
    for status in plan["statuses"]:
        out.append(f"\nStatus at minute {status['minute']}:")
        out += [f"  {line}" for line in status["text"].splitlines()]
    return out


def plan_story() -> list[str]:
    """The plan epilogue's lines (as `run` prints them)."""
    return plan_lines(plan_data())


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
