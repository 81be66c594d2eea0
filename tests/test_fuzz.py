"""Every public door checks what comes through it: a library error or a refusal, and no damage.

Each public entry point (every callable of ``exchange_recovery.__all__`` and of
``exchange_recovery.testing.__all__``, and every public method of their classes, called on an
instance built validly first) has an `Entry` in `ENTRIES`: how to call it and a builder of
valid arguments. The suite replaces one argument at a time (read with `inspect.signature`) by
each value of the hostile catalogue (`fuzz_values.CATALOGUE`), then by values hypothesis draws,
the others staying valid, and asserts:

- the call returns, or raises an `ExchangeRecoveryError` (never a builtin exception from deep
  inside; a strategy returned is drawn from, so a strategy that only fails when used fails here);
- when it raised, the object it was called on is as it was (a bad argument never half-applies);
- either way, the object still works: a controller still halts, checks and recovers; a gate
  checks; a follower applies; a runner aborts and advances.

`test_every_public_name_has_fuzz_coverage` fails when a public name has no entry (nor a stated
reason to have none). Leaks left in modules owned elsewhere are `KNOWN` and marked
``xfail(strict=True)``: the suite stays green and the gap visible, and fixing one turns its mark
into a failure to remove.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import os
import pathlib
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any, Final

import attrs
import pytest
from hypothesis import HealthCheck as HypothesisHealthCheck
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import exchange_recovery as er
import exchange_recovery.testing as kit
from exchange_recovery import (
    VENUE,
    Acceptance,
    Action,
    Actor,
    Approvals,
    Controller,
    CoordinatedController,
    CoordinatorState,
    ExchangeRecoveryError,
    FileDirectory,
    FileJournal,
    Follower,
    Gate,
    GuardSpec,
    HealthChecks,
    KeyFileSigner,
    LocalCoordinator,
    MemoryJournal,
    OrderType,
    Permission,
    PhaseSpec,
    PlanRunner,
    PlanStep,
    Policy,
    Principal,
    Request,
    RequestKind,
    RestartPlan,
    RoleAuthorizer,
    SignedApproval,
    StaticDirectory,
    TransitionContext,
    TransitionRecord,
    TransitionSpec,
    default_policy,
    default_restart_plan,
    generate_keypair,
    policy_fingerprint,
    sign_approval,
)
from exchange_recovery.testing import ManualClock

try:
    from exchange_recovery import etcd
except ImportError:  # the etcd extra is not installed: its names are not public here
    etcd = None  # type: ignore[assignment]

from fuzz_values import CATALOGUE, Raising, hostile, make

FUNDS: Final = er.deferred_funds_policy()
REOPENING: Final = er.reopening_policy()
WINDOW: Final = er.MaintenanceWindow("w", 10.0, 20.0)
FIRING: Final = er.Firing("max_stay", VENUE, due=100.0, at=100.4, trigger="halt",
                          outcome=er.FiringOutcome.FIRED, version=3)
NOTE: Final = er.JournalNote("marks", VENUE, '{"BTC-USDT":"16800.5"}', "ops:alice", 1.0, 0)
_LOOP: Final = asyncio.new_event_loop()  # never run: PhaseChanges only keeps it

POLICY: Final = default_policy()
PLAN: Final = default_restart_plan()
RESTART: Final = PLAN.policy
FINGERPRINT: Final = policy_fingerprint(RESTART)
BTC: Final = "BTC-USDT-SWAP"
LIMIT: Final = Request.new_order(BTC, OrderType.LIMIT)
KIND: Final = LIMIT.kind
POST_ONLY_BID: Final = Request.new_order(BTC, OrderType.LIMIT, post_only=True)
HALTED_RULES: Final = POLICY.phase("HALTED").resting
_ALICE_PEM, _ALICE_PUB = generate_keypair()
_BOB_PEM, _BOB_PUB = generate_keypair()
ALICE: Final = KeyFileSigner.from_bytes("ops:alice", _ALICE_PEM)
BOB: Final = KeyFileSigner.from_bytes("ops:bob", _BOB_PEM)
PRINCIPALS: Final = (Principal("ops:alice", "Alice", {"operator"}, _ALICE_PUB),
                     Principal("ops:bob", "Bob", {"supervisor"}, _BOB_PUB))
DIRECTORY: Final = StaticDirectory(PRINCIPALS)
APPROVAL: Final = sign_approval(BOB, scope=VENUE, trigger="open", source="PRE_OPEN",
                                dest="FULL_OPEN", visit=2, policy_fingerprint=FINGERPRINT, at=0.0)
HALT: Final = TransitionRecord(1, VENUE, "NORMAL", "HALTED", "halt", "ops:alice", "r", 0.0, False)
CTX: Final = TransitionContext(VENUE, "NORMAL", "HALTED", "halt", Actor("ops:alice"), "r", 0.0,
                               0.0, False, 1)
OPS: Final = Actor("ops:alice", {"operator"})
SUPERVISOR: Final = Actor("ops:bob", {"supervisor"})
DIRECTORY_TOML: Final = '[[principals]]\nid = "ops:alice"\nname = "Alice"\nroles = ["operator"]\n'
FUZZ_EXAMPLES: Final = 6
"""Hypothesis examples per (entry point, argument), after the catalogue sweep."""


class Env:
    """What one call may need besides its arguments: a fresh directory, made on demand."""

    def __init__(self, root: pathlib.Path) -> None:
        self._root = root

    def dir(self) -> pathlib.Path:
        return pathlib.Path(tempfile.mkdtemp(dir=self._root))

    def file(self, name: str, data: bytes, mode: int = 0o600) -> pathlib.Path:
        path = self.dir() / name
        path.write_bytes(data)
        path.chmod(mode)
        return path

    def journal(self) -> pathlib.Path:
        """A journal with one halt in it (and its anchor)."""
        path = self.dir() / "journal.jsonl"
        controller = er.recover(path, POLICY, create=True, durability="none")
        controller.halt(actor="ops:alice", reason="seed")
        journal = controller.journal
        if isinstance(journal, FileJournal):
            journal.close()
        return path


Valid = Callable[[Env], dict[str, Any]]


@attrs.frozen
class Entry:
    """One public door: `call` (given the target first when there is one) and valid arguments.

    `target` builds the object a method is called on (fresh for every call). The arguments
    fuzzed are the signature's named parameters and the keys of `valid` (for ``**kwargs``).
    """

    call: Callable[..., object]
    valid: Valid = lambda _env: {}
    target: Callable[[Env], object] | None = None

    def params(self) -> list[str]:
        """The arguments fuzzed: the signature's named parameters and the valid arguments."""
        try:
            signature = inspect.signature(self.call)
        except (TypeError, ValueError):
            names: list[str] = []
        else:
            kinds = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
            names = [p.name for p in signature.parameters.values() if p.kind not in kinds]
            if self.target is not None and names:
                names = names[1:]  # self
        extra = [name for name in self.valid(Env(pathlib.Path(tempfile.gettempdir())))
                 if name not in names] if _cheap_valid(self) else []
        return [*names, *extra]


def _cheap_valid(entry: Entry) -> bool:
    return getattr(entry.valid, "cheap", True)


def needs_files(valid: Valid) -> Valid:
    """Mark a builder that writes files: its extra keys are not read for the parameter list."""
    valid.cheap = False  # type: ignore[attr-defined]
    return valid


# -- targets: built validly, and what "still works" means for each ------------------------------


def controller(_env: Env | None = None) -> Controller:
    return Controller(POLICY, clock=ManualClock(), journal=MemoryJournal())


def auction_runner(_env: Env | None = None) -> er.AuctionRunner:
    """A runner on a controller whose venue is in the reopening policy's AUCTION phase."""
    policy, clock = REOPENING, ManualClock()
    guards = er.policy_guards(policy, health=HealthChecks({
        "book_uncrossed": True, "market_data_fresh": True, "cloud_zone_healthy": True}),
        approvals=Approvals(policy, clock=clock))
    target = Controller(policy, guards=guards, clock=clock, journal=MemoryJournal(),
                        phases={VENUE: "AUCTION"})
    return er.AuctionRunner(target, kit.AuctionBook(), reference=100, seed=1,
                            actor="auction:timer")


def _auction_intact(runner: er.AuctionRunner) -> None:
    assert isinstance(runner.poll(), er.AuctionStatus)
    runner.controller.halt(actor="ops:alice", reason="still works")


def deadlines(_env: Env | None = None) -> er.Deadlines:
    """A scheduler with one announced window (w: 10 to 20 s) on a fresh controller."""
    scheduler = er.Deadlines(Controller(POLICY, clock=ManualClock(0.0), journal=MemoryJournal()),
                             actor="auto:deadlines")
    scheduler.announce(er.MaintenanceWindow("w", 10.0, 20.0), actor="ops:alice")
    return scheduler


def halted_controller(env: Env | None = None) -> Controller:
    c = controller(env)
    c.halt(actor="ops:alice", reason="seed")
    return c


def runner(_env: Env | None = None) -> PlanRunner:
    clock = ManualClock()
    health = HealthChecks({"cloud_zone_healthy": True, "book_uncrossed": True,
                           "market_data_fresh": True})
    return PlanRunner.create(PLAN, health=health, clock=clock)


def follower(_env: Env | None = None) -> Follower:
    f = Follower(POLICY, clock=ManualClock())
    f.adopt(CoordinatorState.of({}), 0.0)
    return f


def coordinated(_env: Env | None = None) -> CoordinatedController:
    return CoordinatedController(POLICY, LocalCoordinator(), clock=ManualClock())


def approvals(_env: Env | None = None) -> Approvals:
    return Approvals(RESTART, clock=ManualClock())


def _recover_walk(fire: Callable[..., object]) -> None:
    for trigger in ("pre_open", "open", "normalize"):
        fire(trigger, actor="ops:alice", reason="recover")


def _controller_intact(c: Controller) -> None:
    c.halt(actor="ops:alice", reason="intact")
    assert c.phase() == "HALTED"
    assert not c.gate.check(LIMIT).accepted
    if c.policy is not POLICY:  # a guarded policy: its runner's check walks the restart
        return
    _recover_walk(c.fire)
    assert c.phase() == "NORMAL"
    assert c.gate.check(LIMIT).accepted


def _coordinated_intact(c: CoordinatedController) -> None:
    c.halt(actor="ops:alice", reason="intact")
    assert c.state().records[VENUE].dest == "HALTED"
    _recover_walk(c.fire)
    assert c.state().records[VENUE].dest == "NORMAL"


def _gate_intact(g: Gate) -> None:
    assert g.check(LIMIT) is g.check_fields(Action.NEW_ORDER, BTC, OrderType.LIMIT)
    g.phase()


def fence(_env: Env | None = None) -> er.Fence:
    """A fence on a halted controller's gate, the halt acknowledged: wait() never blocks."""
    f = er.Fence(halted_controller().gate)
    f.acknowledge(1)
    return f


def _fence_intact(f: er.Fence) -> None:
    assert f.clear(f.stamp())
    f.acknowledge(f.stamp())
    assert f.wait(f.acknowledged, timeout=0.0)


def _follower_intact(f: Follower) -> None:
    version = f.version
    record = attrs.evolve(HALT, version=version + 1, source=f.gate.phase())
    if f.gate.phase() != "HALTED":
        f.apply(record)
    assert f.gate.phase() == "HALTED"
    assert not f.gate.check(LIMIT).accepted
    f.check_staleness()


def _runner_intact(r: PlanRunner) -> None:
    r.abort(OPS, "intact")
    assert r.status().step == 0
    assert r.advance(OPS).dest == "PRE_OPEN"
    r.controller.clock.advance(600)  # type: ignore[attr-defined]  # a ManualClock
    r.approve(SUPERVISOR)
    assert r.advance(OPS).dest == "FULL_OPEN"


def _approvals_intact(a: Approvals) -> None:
    before = len(a.records)
    a.approve(SUPERVISOR, "open")
    assert len(a.records) == before + 1
    a.clear()


def _health_intact(h: HealthChecks) -> None:
    h.register("probe", True)
    assert h.evaluate("probe") == (True, "probe=True")


def _clock_intact(c: ManualClock) -> None:
    start = c()
    c.advance(1)
    assert c() == start + 1


def _journal_intact(j: MemoryJournal) -> None:
    j.append(attrs.evolve(HALT, version=len(j.records) + 1))


INTACT: Final[dict[type, Callable[[Any], None]]] = {
    Controller: _controller_intact,
    CoordinatedController: _coordinated_intact,
    Gate: _gate_intact,
    Follower: _follower_intact,
    er.Fence: _fence_intact,
    PlanRunner: _runner_intact,
    Approvals: _approvals_intact,
    HealthChecks: _health_intact,
    ManualClock: _clock_intact,
    MemoryJournal: _journal_intact,
    er.AuctionRunner: _auction_intact,
}
"""What "still works" means for each kind of object a method is fuzzed on."""


def snapshot(target: object) -> object:
    """The state a refused call must leave unchanged."""
    if isinstance(target, Controller):
        return dict(target.gate.phases), target.version, tuple(
            getattr(target.journal, "records", ()))
    if isinstance(target, CoordinatedController):
        return dict(target.state().phases), target.state().version
    if isinstance(target, Gate):
        return dict(target.phases), target.version
    if isinstance(target, Follower):
        return dict(target.gate.phases), target.version, target.stale, target.quarantined
    if isinstance(target, er.Fence):
        return target.acknowledged, target.gate.version
    if isinstance(target, PlanRunner):
        return snapshot(target.controller), target.approvals and target.approvals.records
    if isinstance(target, Approvals):
        return target.records
    if isinstance(target, HealthChecks):
        return target.names
    if isinstance(target, ManualClock):
        return target.now
    if isinstance(target, MemoryJournal):
        return target.records
    return None


# -- the registry -----------------------------------------------------------------------------


def _watch_and_stop(target: Follower, interval: object) -> None:
    """`Follower.watch`, its thread stopped again (a thread that died is seen by `attempt`)."""
    before = set(threading.enumerate())
    stop = target.watch(interval)  # type: ignore[arg-type]
    started = set(threading.enumerate()) - before
    stop()
    for thread in started:  # stopped or dead: either way its exception, if any, is seen now
        thread.join(timeout=5)


def _m(name: str) -> Callable[..., object]:
    """Call method `name` on the target (for methods a class builds at run time)."""
    def call(target: object, **kwargs: Any) -> object:
        return getattr(target, name)(**kwargs)
    call.__name__ = name
    return call


def _phase_spec() -> PhaseSpec:
    return POLICY.phase("NORMAL")


def _policy_args(_env: Env) -> dict[str, Any]:
    return {"name": "fuzzed", "phases": POLICY.phases, "transitions": POLICY.transitions,
            "initial": "NORMAL", "normal": "NORMAL", "fail_safe": "HALTED",
            "halt_trigger": "halt", "description": "", "guards": (), "permissions": ()}


def _record_args(_env: Env) -> dict[str, Any]:
    return {"version": 1, "scope": VENUE, "source": "NORMAL", "dest": "HALTED",
            "trigger": "halt", "actor": "ops:alice", "reason": "r", "timestamp": 0.0,
            "relaxing": False}


def _fire_args(_env: Env) -> dict[str, Any]:
    return {"trigger": "degrade", "actor": "ops:alice", "reason": "r", "scope": VENUE}


def _halt_args(_env: Env) -> dict[str, Any]:
    return {"actor": "ops:alice", "reason": "r", "scope": VENUE}


def _verify_args(_env: Env) -> dict[str, Any]:
    return {"directory": DIRECTORY, "approvals": [APPROVAL], "scope": VENUE, "trigger": "open",
            "source": "PRE_OPEN", "dest": "FULL_OPEN", "visit": 2,
            "policy_fingerprint": FINGERPRINT, "needed": 1, "roles": frozenset({"supervisor"}),
            "firer": "ops:alice"}


def _approval_fields(_env: Env) -> dict[str, Any]:
    return {"principal": "ops:bob", "scope": VENUE, "trigger": "open", "source": "PRE_OPEN",
            "dest": "FULL_OPEN", "visit": 2, "at": 0.0, "policy": FINGERPRINT,
            "signature": APPROVAL.signature}


def _sign_args(_env: Env) -> dict[str, Any]:
    return {"signer": BOB, "scope": VENUE, "trigger": "open", "source": "PRE_OPEN",
            "dest": "FULL_OPEN", "visit": 2, "policy_fingerprint": FINGERPRINT, "at": 0.0}


@needs_files
def _file_journal_args(env: Env) -> dict[str, Any]:
    return {"path": env.dir() / "journal.jsonl", "durability": "none"}


@needs_files
def _recover_args(env: Env) -> dict[str, Any]:
    return {"path": env.journal(), "policy": POLICY, "durability": "none"}


@needs_files
def _verify_journal_args(env: Env) -> dict[str, Any]:
    return {"path": env.journal(), "policy": POLICY}


@needs_files
def _compact_args(env: Env) -> dict[str, Any]:
    return {"path": env.journal(), "policy": POLICY, "now": 10.0}


@needs_files
def _load_policy_args(env: Env) -> dict[str, Any]:
    return {"path": env.file("policy.toml", er.dump_policy(POLICY).encode())}


@needs_files
def _directory_load_args(env: Env) -> dict[str, Any]:
    return {"path": env.file("directory.toml", DIRECTORY_TOML.encode())}


@needs_files
def _signer_load_args(env: Env) -> dict[str, Any]:
    return {"principal_id": "ops:alice", "path": env.file("alice.pem", _ALICE_PEM)}


KEY_SECRET: Final = b"k" * 40
KEY_VARIABLE: Final = "EXR_FUZZ_JOURNAL_KEY"
os.environ[KEY_VARIABLE] = KEY_SECRET.decode()  # what JournalKey.from_env reads (tests only)


@needs_files
def _key_file_args(env: Env) -> dict[str, Any]:
    return {"path": env.file("journal.key", KEY_SECRET)}


@needs_files
def _new_key_args(env: Env) -> dict[str, Any]:
    return {"path": env.dir() / "journal.key"}


def _journal_target(env: Env) -> FileJournal:
    return FileJournal(env.dir() / "journal.jsonl", durability="none")


def _status(_env: Env) -> dict[str, Any]:
    return {"plan": "p", "scope": VENUE, "phase": "HALTED", "step": 0, "steps": 4,
            "next_trigger": "pre_open", "next_phase": "PRE_OPEN", "criteria": (), "at": 0.0,
            "restarts": 0}


_FOLLOWER_KNOWN = "_coordination/follower.py is not this change's"
_CONTROLLER_KNOWN = "_control/controller.py is not this change's"
_COORD_KNOWN = "_coordination/ is not this change's"
_JOURNAL_KNOWN = "_journal/ is not this change's"
_RECOVER_KNOWN = "_control/recover.py and _journal/ are not this change's"
_TOML_KNOWN = "_core/toml.py is not this change's"
_ERRORS_KNOWN = "_core/errors.py is not this change's"
_DECIDE_KNOWN = "_decide/records.py is not this change's"

ENTRIES: Final[dict[str, Entry]] = {
    # -- model ---------------------------------------------------------------------------------
    "Request": Entry(Request, lambda _e: {"action": Action.NEW_ORDER, "instrument": BTC,
                                           "order_type": OrderType.LIMIT}),
    "Request.new_order": Entry(Request.new_order, lambda _e: {"instrument": BTC,
                                                               "order_type": OrderType.LIMIT}),
    "Request.amend": Entry(Request.amend, lambda _e: {"instrument": BTC}),
    "Request.cancel": Entry(Request.cancel, lambda _e: {"instrument": BTC}),
    "Request.mass_cancel": Entry(Request.mass_cancel),
    "Request.cancel_withdrawal": Entry(Request.cancel_withdrawal),
    "Request.margin": Entry(Request.margin, lambda _e: {"add": True}),
    "RequestKind": Entry(RequestKind, lambda _e: {
        "action": Action.NEW_ORDER, "order_type": OrderType.LIMIT, "time_in_force": None,
        "post_only": False, "reduce_only": False, "origin": er.Origin.CLIENT}),
    "RequestKind.describe": Entry(RequestKind.describe, target=lambda _e: KIND),
    "Decision": Entry(er.Decision, lambda _e: {"accepted": True, "reason": er.Reason.ACCEPTED,
                                                "phase": "NORMAL", "scope": VENUE,
                                                "message": "ACCEPTED"}),
    "Actor": Entry(Actor, lambda _e: {"name": "ops:alice", "roles": {"operator"}}),
    # -- policy --------------------------------------------------------------------------------
    "Acceptance": Entry(Acceptance),
    "Acceptance.everything": Entry(Acceptance.everything),
    "Acceptance.nothing": Entry(Acceptance.nothing),
    "Acceptance.evaluate": Entry(Acceptance.evaluate, lambda _e: {"kind": KIND},
                                 target=lambda _e: Acceptance.everything()),
    "PhaseSpec": Entry(PhaseSpec, lambda _e: {"name": "NORMAL", "accepts": Acceptance(),
                                               "matching": True}),
    "TransitionSpec": Entry(TransitionSpec, lambda _e: {"trigger": "halt", "source": "NORMAL",
                                                         "dest": "HALTED"}),
    "Problem": Entry(er.Problem, lambda _e: {"code": er.ProblemCode.INVALID_NAME,
                                              "location": "name", "message": "m"}),
    "GuardSpec": Entry(GuardSpec, lambda _e: {"name": "stay", "kind": "dwell", "seconds": 1.0}),
    "GuardSpec.describe": Entry(GuardSpec.describe,
                                target=lambda _e: GuardSpec("stay", "dwell", seconds=60)),
    "Permission": Entry(Permission, lambda _e: {"trigger": "open", "roles": {"operator"}}),
    "Policy": Entry(Policy, _policy_args),
    "Policy.phase": Entry(Policy.phase, lambda _e: {"name": "NORMAL"}, target=lambda _e: POLICY),
    "Policy.transition": Entry(Policy.transition, lambda _e: {"source": "NORMAL",
                                                               "trigger": "halt"},
                               target=lambda _e: POLICY),
    "Policy.guard": Entry(Policy.guard, lambda _e: {"name": "book_uncrossed"},
                          target=lambda _e: RESTART),
    "Policy.permission": Entry(Policy.permission, lambda _e: {"trigger": "open"},
                               target=lambda _e: RESTART),
    "Policy.transitions_from": Entry(Policy.transitions_from, lambda _e: {"source": "NORMAL"},
                                     target=lambda _e: POLICY),
    "Policy.evaluate": Entry(Policy.evaluate, lambda _e: {"phase": "NORMAL", "request": LIMIT},
                             target=lambda _e: POLICY),
    "Policy.accepted_keys": Entry(Policy.accepted_keys, lambda _e: {"phase": "NORMAL"},
                                  target=lambda _e: POLICY),
    "Policy.verdicts": Entry(Policy.verdicts, lambda _e: {"phase": "NORMAL"},
                             target=lambda _e: POLICY),
    "Policy.is_relaxing": Entry(Policy.is_relaxing, lambda _e: {"source": "HALTED",
                                                                 "dest": "PRE_OPEN"},
                                target=lambda _e: POLICY),
    "Policy.strictness": Entry(Policy.strictness, lambda _e: {"phase": "NORMAL"},
                               target=lambda _e: POLICY),
    "Policy.with_changes": Entry(Policy.with_changes, lambda _e: {"name": "changed",
                                                                   "initial": "HALTED"},
                                 target=lambda _e: POLICY),
    "Policy.disposition": Entry(Policy.disposition, lambda _e: {"phase": "HALTED"},
                                target=lambda _e: POLICY),
    "Policy.planned_step": Entry(Policy.planned_step, lambda _e: {"phase": "HALTED"},
                                 target=lambda _e: POLICY),
    "Policy.deferred_until": Entry(Policy.deferred_until, lambda _e: {
        "phase": "FUNDS_DEFERRED", "action": er.Action.WITHDRAWAL}, target=lambda _e: FUNDS),
    "Policy.deferrals": Entry(Policy.deferrals, lambda _e: {
        "source": "FUNDS_DEFERRED", "dest": "HALTED"}, target=lambda _e: FUNDS),
    "Deferrals": Entry(er.Deferrals, lambda _e: {
        "released": frozenset({er.Action.DEPOSIT}), "refused": (), "waiting": frozenset()}),
    "deferred_funds_policy": Entry(er.deferred_funds_policy),
    "reopening_policy": Entry(er.reopening_policy),
    "LiquidationClock": Entry(er.LiquidationClock, lambda _e: {"controller": controller()}),
    "LiquidationClock.check": Entry(er.LiquidationClock.check, lambda _e: {"instrument": BTC},
                                    target=lambda _e: er.LiquidationClock(controller())),
    "LiquidationClock.schedule": Entry(er.LiquidationClock.schedule,
                                       lambda _e: {"instrument": BTC},
                                       target=lambda _e: er.LiquidationClock(controller())),
    "LiquidationClock.close": Entry(er.LiquidationClock.close,
                                    target=lambda _e: er.LiquidationClock(controller())),
    "ReleaseSchedule": Entry(er.ReleaseSchedule, lambda _e: {
        "instrument": BTC, "state": er.LiquidationState.HELD, "phase": "HALTED", "scope": ""}),
    "record_marks": Entry(er.record_marks, lambda _e: {
        "controller": halted_controller(), "marks": {BTC: "16800.5"}, "actor": "ops:alice",
        "scope": VENUE}),
    "halt_marks": Entry(er.halt_marks, lambda _e: {"source": halted_controller(),
                                                   "scope": VENUE}),
    "frozen_intervals": Entry(er.frozen_intervals, lambda _e: {
        "records": [HALT], "policy": POLICY, "start": 0.0, "end": 10.0, "scope": VENUE,
        "phases": {VENUE: "NORMAL"}}),
    "AuctionSpec": Entry(er.AuctionSpec, lambda _e: {"uncross": "uncross",
                                                     "override": "override_open"}),
    "AuctionSpec.end_after": Entry(er.AuctionSpec.end_after, lambda _e: {
        "seed": 7, "scope": VENUE, "visit": 3, "extension": 1},
        target=lambda _e: er.AuctionSpec("uncross", "override_open")),
    "AuctionSpec.in_collar": Entry(er.AuctionSpec.in_collar, lambda _e: {
        "price": 101.0, "reference": 100},
        target=lambda _e: er.AuctionSpec("uncross", "override_open")),
    "MaxStay": Entry(er.MaxStay, lambda _e: {"seconds": 60.0, "then": er.StayAction.HALT}),
    "LiquidationRelease": Entry(er.LiquidationRelease, lambda _e: {"delay": 900.0,
                                                                   "per_minute": 10}),
    "LiquidationRelease.resume_at": Entry(er.LiquidationRelease.resume_at, lambda _e: {
        "entered": 1000.0, "paused": 60.0}, target=lambda _e: er.LiquidationRelease()),
    # -- dispositions --------------------------------------------------------------------------
    "OrderClass": Entry(er.OrderClass, lambda _e: {
        "order_types": {OrderType.STOP_MARKET}, "time_in_force": set(er.TimeInForce),
        "origins": {er.Origin.LIQUIDATION}, "post_only": None, "reduce_only": False}),
    "OrderClass.matches": Entry(er.OrderClass.matches, lambda _e: {"kind": KIND},
                                target=lambda _e: HALTED_RULES[1].orders),
    "OrderClass.describe": Entry(er.OrderClass.describe,
                                 target=lambda _e: HALTED_RULES[1].orders),
    "RestingRule": Entry(er.RestingRule, lambda _e: {
        "action": er.RestingAction.SUSPEND, "orders": er.OrderClass(), "until": "NORMAL"}),
    "RestingRule.describe": Entry(er.RestingRule.describe, target=lambda _e: HALTED_RULES[1]),
    "Disposition": Entry(er.Disposition, lambda _e: {"phase": "HALTED", "rules": HALTED_RULES}),
    "Disposition.rule": Entry(er.Disposition.rule, lambda _e: {"request": LIMIT},
                              target=lambda _e: POLICY.disposition("HALTED")),
    "Disposition.describe": Entry(er.Disposition.describe,
                                  target=lambda _e: POLICY.disposition("HALTED")),
    "default_policy": Entry(er.default_policy),
    "dump_policy": Entry(er.dump_policy, lambda _e: {"policy": POLICY}),
    "loads_policy": Entry(er.loads_policy, lambda _e: {"text": er.dump_policy(POLICY)}),
    "load_policy": Entry(er.load_policy, _load_policy_args),
    # -- gate ----------------------------------------------------------------------------------
    "Gate": Entry(Gate, lambda _e: {"policy": POLICY, "phases": {VENUE: "HALTED"},
                                    "version": 0}),
    "Gate.check": Entry(Gate.check, lambda _e: {"request": LIMIT}, target=lambda _e: Gate(POLICY)),
    "Gate.check_fields": Entry(Gate.check_fields, lambda _e: {"action": Action.NEW_ORDER,
                                                               "instrument": BTC,
                                                               "order_type": OrderType.LIMIT},
                               target=lambda _e: Gate(POLICY)),
    "Gate.check_priced": Entry(Gate.check_priced, lambda _e: {
        "request": POST_ONLY_BID, "side": er.Side.BUY, "price": 99, "best_bid": 98.5,
        "best_ask": Decimal(100)}, target=lambda _e: Gate(POLICY, {VENUE: "PRE_OPEN"})),
    "Gate.phase": Entry(Gate.phase, lambda _e: {"scope": BTC}, target=lambda _e: Gate(POLICY)),
    "Gate.matching": Entry(Gate.matching, lambda _e: {"instrument": BTC},
                           target=lambda _e: Gate(POLICY)),
    "Gate.stop_triggers": Entry(Gate.stop_triggers, lambda _e: {"instrument": BTC},
                                target=lambda _e: Gate(POLICY)),
    "Gate.liquidations": Entry(Gate.liquidations, lambda _e: {"instrument": BTC},
                               target=lambda _e: Gate(POLICY)),
    "Gate.capabilities": Entry(Gate.capabilities, lambda _e: {"instrument": BTC},
                               target=lambda _e: Gate(POLICY)),
    "Fence": Entry(er.Fence, lambda _e: {"gate": Gate(POLICY)}),
    "Fence.stamp": Entry(er.Fence.stamp, target=fence),
    "Fence.clear": Entry(er.Fence.clear, lambda _e: {"stamp": 0}, target=fence),
    "Fence.acknowledge": Entry(er.Fence.acknowledge, lambda _e: {"version": 1}, target=fence),
    "Fence.wait": Entry(er.Fence.wait, lambda _e: {"version": 1, "timeout": 0.0}, target=fence),
    # -- trust ---------------------------------------------------------------------------------
    "canonical_id": Entry(er.canonical_id, lambda _e: {"text": "ops:alice", "field": "id"}),
    "skeleton": Entry(er.skeleton, lambda _e: {"text": "ops:alice", "field": "id"}),
    "same_principal": Entry(er.same_principal, lambda _e: {"a": "ops:alice", "b": "ops:bob"}),
    "Principal": Entry(Principal, lambda _e: {"id": "ops:alice", "display_name": "Alice",
                                               "roles": {"operator"}, "public_key": _ALICE_PUB}),
    "StaticDirectory": Entry(StaticDirectory, lambda _e: {"principals": PRINCIPALS}),
    "StaticDirectory.principal": Entry(StaticDirectory.principal,
                                       lambda _e: {"principal_id": "ops:alice"},
                                       target=lambda _e: DIRECTORY),
    "StaticDirectory.principals": Entry(StaticDirectory.principals, target=lambda _e: DIRECTORY),
    "FileDirectory": Entry(FileDirectory, lambda _e: {"principals": PRINCIPALS,
                                                      "source": "<memory>"}),
    "FileDirectory.loads": Entry(FileDirectory.loads, lambda _e: {"text": DIRECTORY_TOML,
                                                                   "source": "<string>"}),
    "FileDirectory.load": Entry(FileDirectory.load, _directory_load_args),
    "DirectoryProblem": Entry(er.DirectoryProblem, lambda _e: {"where": "principals[0]",
                                                                "message": "m"}),
    "KeyFileSigner.from_bytes": Entry(KeyFileSigner.from_bytes,
                                      lambda _e: {"principal_id": "ops:alice",
                                                  "data": _ALICE_PEM}),
    "KeyFileSigner.load": Entry(KeyFileSigner.load, _signer_load_args),
    "KeyFileSigner.sign": Entry(KeyFileSigner.sign, lambda _e: {"message": b"m"},
                                target=lambda _e: ALICE),
    "KeyFileSigner": Entry(KeyFileSigner, lambda _e: {"principal_id": "ops:alice",
                                                      "key": ALICE._key}),
    "generate_keypair": Entry(er.generate_keypair),
    "SignedApproval": Entry(SignedApproval, _approval_fields),
    "SignedApproval.fields": Entry(SignedApproval.fields, target=lambda _e: APPROVAL),
    "SignedApproval.message": Entry(SignedApproval.message, target=lambda _e: APPROVAL),
    "SignedApproval.to_dict": Entry(SignedApproval.to_dict, target=lambda _e: APPROVAL),
    "SignedApproval.from_dict": Entry(SignedApproval.from_dict,
                                      lambda _e: {"data": APPROVAL.to_dict()}),
    "sign_approval": Entry(er.sign_approval, _sign_args),
    "verify_approvals": Entry(er.verify_approvals, _verify_args),
    "policy_fingerprint": Entry(er.policy_fingerprint, lambda _e: {"policy": POLICY}),
    "Rejection": Entry(er.Rejection, lambda _e: {"index": 0, "principal": "ops:bob",
                                                  "code": er.TrustCode.BAD_SIGNATURE}),
    "VerifyResult": Entry(er.VerifyResult, lambda _e: {"ok": True, "approvers": ("ops:bob",),
                                                        "needed": 1, "rejected": ()}),
    # -- decide (records) ----------------------------------------------------------------------
    "TransitionRecord": Entry(TransitionRecord, _record_args),
    "TransitionContext": Entry(TransitionContext, lambda _e: {
        "scope": VENUE, "source": "NORMAL", "dest": "HALTED", "trigger": "halt",
        "actor": Actor("ops:alice"), "reason": "r", "now": 0.0, "entered_at": 0.0,
        "relaxing": False, "version": 1}),
    "TransitionContext.record": Entry(TransitionContext.record, target=lambda _e: CTX),
    # -- control -------------------------------------------------------------------------------
    "Controller": Entry(Controller, lambda _e: {"policy": POLICY, "clock": ManualClock()}),
    "Controller.guard": Entry(Controller.guard, lambda _e: {"name": "book_uncrossed"},
                              target=lambda _e: runner().controller),
    "Controller.phase": Entry(Controller.phase, lambda _e: {"scope": BTC}, target=controller),
    "Controller.triggers": Entry(Controller.triggers, lambda _e: {"scope": BTC},
                                 target=controller),
    "Controller.visit": Entry(Controller.visit, lambda _e: {"scope": BTC}, target=controller),
    "Controller.entered_at": Entry(Controller.entered_at, lambda _e: {"scope": BTC},
                                   target=controller),
    "Controller.fire": Entry(Controller.fire, _fire_args, target=controller),
    "Controller.halt": Entry(Controller.halt, _halt_args, target=controller),
    "Controller.<trigger>": Entry(_m("pre_open"), _halt_args, target=halted_controller),
    "Controller.apply": Entry(Controller.apply, lambda _e: {"record": HALT}, target=controller),
    "Controller.retry_journal": Entry(Controller.retry_journal, target=controller),
    "Gate.funding": Entry(Gate.funding, lambda _e: {"instrument": BTC},
                          target=lambda _e: Gate(POLICY)),
    "Controller.note": Entry(Controller.note, lambda _e: {
        "topic": "marks", "scope": BTC, "data": {"BTC-USDT": "16800.5"}, "actor": "ops:alice"},
        target=controller),
    "Controller.last_note": Entry(Controller.last_note, lambda _e: {"topic": "marks",
                                                                     "scope": BTC},
                                  target=controller),
    "Controller.notes": Entry(Controller.notes, lambda _e: {"topic": "marks"},
                              target=controller),
    "Controller.hint_retry": Entry(Controller.hint_retry, lambda _e: {"at": 1234.5},
                                   target=controller),
    "Controller.add_listener": Entry(Controller.add_listener,
                                     lambda _e: {"listener": lambda _change: None},
                                     target=controller),
    "PhaseChanges": Entry(er.PhaseChanges, lambda _e: {"loop": _LOOP}),
    "HealthChecks": Entry(HealthChecks, lambda _e: {"checks": {"book_uncrossed": True}}),
    "HealthChecks.register": Entry(HealthChecks.register, lambda _e: {"name": "probe",
                                                                       "check": True},
                                   target=lambda _e: HealthChecks()),
    "HealthChecks.set": Entry(HealthChecks.set, lambda _e: {"name": "probe", "healthy": True},
                              target=lambda _e: HealthChecks()),
    "HealthChecks.evaluate": Entry(HealthChecks.evaluate, lambda _e: {"name": "probe"},
                                   target=lambda _e: HealthChecks({"probe": True})),
    "Approval": Entry(er.Approval, lambda _e: {"actor": "ops:bob", "roles": frozenset(),
                                                "trigger": "open", "scope": VENUE, "at": 0.0,
                                                "reason": "r"}),
    "Approvals": Entry(Approvals, lambda _e: {"policy": RESTART, "clock": ManualClock()}),
    "Approvals.approver_roles": Entry(Approvals.approver_roles, lambda _e: {"trigger": "open"},
                                      target=approvals),
    "Approvals.approve": Entry(Approvals.approve, lambda _e: {"actor": SUPERVISOR,
                                                               "trigger": "open"},
                               target=approvals),
    "Approvals.clear": Entry(Approvals.clear, lambda _e: {"scope": VENUE}, target=approvals),
    "Approvals.current": Entry(Approvals.current, lambda _e: {
        "scope": VENUE, "trigger": "open", "since": 0.0, "roles": frozenset({"supervisor"})},
        target=approvals),
    "Criterion": Entry(er.Criterion, lambda _e: {"name": "n", "kind": "dwell", "satisfied": True,
                                                  "code": None, "requirement": "r",
                                                  "detail": "d"}),
    "RoleAuthorizer": Entry(RoleAuthorizer, lambda _e: {"policy": RESTART}),
    "RoleAuthorizer.permitted": Entry(RoleAuthorizer.permitted, lambda _e: {"actor": OPS,
                                                                             "trigger": "open"},
                                      target=lambda _e: RoleAuthorizer(RESTART)),
    "RoleAuthorizer.check": Entry(RoleAuthorizer.check, lambda _e: {"ctx": CTX},
                                  target=lambda _e: RoleAuthorizer(RESTART)),
    "policy_guards": Entry(er.policy_guards, lambda _e: {
        "policy": RESTART, "health": HealthChecks(), "approvals": approvals()}),
    # -- journal -------------------------------------------------------------------------------
    "MemoryJournal": Entry(MemoryJournal),
    "MemoryJournal.append": Entry(MemoryJournal.append, lambda _e: {"record": HALT},
                                  target=lambda _e: MemoryJournal()),
    "FileJournal": Entry(FileJournal, _file_journal_args),
    "FileJournal.append": Entry(FileJournal.append, lambda _e: {"record": HALT},
                                target=_journal_target),
    "FileJournal.snapshot": Entry(FileJournal.snapshot, lambda _e: {
        "phases": {VENUE: "HALTED"}, "version": 1, "actor": "ops:alice", "reason": "r",
        "now": 0.0}, target=_journal_target),
    "FileJournal.close": Entry(FileJournal.close, target=_journal_target),
    "FileJournal.note": Entry(FileJournal.note, lambda _e: {"note": NOTE},
                              target=_journal_target),
    "MemoryJournal.note": Entry(MemoryJournal.note, lambda _e: {"note": NOTE},
                                target=lambda _e: MemoryJournal()),
    "JournalNote": Entry(er.JournalNote, lambda _e: attrs.asdict(NOTE)),
    "JournalProblem": Entry(er.JournalProblem, lambda _e: {
        "code": er.IntegrityCode.TORN_TAIL, "line": 1, "detail": "d"}),
    "RecoveryReport": Entry(er.RecoveryReport, lambda _e: {
        "path": pathlib.Path("j"), "trusted": True, "phases": {}, "version": 0, "records": 0}),
    "verify_journal": Entry(er.verify_journal, _verify_journal_args),
    "compact_journal": Entry(er.compact_journal, _compact_args),
    "recover": Entry(er.recover, _recover_args),
    "JournalKey": Entry(er.JournalKey, lambda _e: {"secret": KEY_SECRET, "source": "bytes"}),
    "JournalKey.from_file": Entry(er.JournalKey.from_file, _key_file_args),
    "JournalKey.from_env": Entry(er.JournalKey.from_env, lambda _e: {"name": KEY_VARIABLE}),
    "JournalKey.generate": Entry(er.JournalKey.generate, _new_key_args),
    "JournalKey.mac": Entry(er.JournalKey.mac, lambda _e: {"body": b"line"},
                            target=lambda _e: er.JournalKey(KEY_SECRET)),
    "JournalKey.verifies": Entry(er.JournalKey.verifies, lambda _e: {
        "body": b"line", "mac": er.JournalKey(KEY_SECRET).mac(b"line")},
        target=lambda _e: er.JournalKey(KEY_SECRET)),
    # -- coordination --------------------------------------------------------------------------
    "CoordinatorState": Entry(CoordinatorState, lambda _e: {"records": {VENUE: HALT},
                                                            "version": 1, "revision": 1}),
    "CoordinatorState.of": Entry(CoordinatorState.of, lambda _e: {"records": {VENUE: HALT},
                                                                  "revision": 0}),
    "CoordinatorState.version_of": Entry(CoordinatorState.version_of,
                                         lambda _e: {"scope": VENUE},
                                         target=lambda _e: CoordinatorState.of({VENUE: HALT})),
    "LocalCoordinator": Entry(LocalCoordinator),
    "LocalCoordinator.read": Entry(LocalCoordinator.read, lambda _e: {"scopes": [VENUE]},
                                   target=lambda _e: LocalCoordinator()),
    "LocalCoordinator.propose": Entry(LocalCoordinator.propose, lambda _e: {
        "record": HALT, "expected": 0}, target=lambda _e: LocalCoordinator()),
    "LocalCoordinator.follow": Entry(LocalCoordinator.follow, lambda _e: {"follower": follower()},
                                     target=lambda _e: LocalCoordinator()),
    "LocalCoordinator.alive": Entry(LocalCoordinator.alive, target=lambda _e: LocalCoordinator()),
    "CoordinatedController": Entry(CoordinatedController, lambda _e: {
        "policy": POLICY, "coordinator": LocalCoordinator(), "clock": ManualClock()}),
    "CoordinatedController.state": Entry(CoordinatedController.state, target=coordinated),
    "CoordinatedController.fire": Entry(CoordinatedController.fire, _fire_args,
                                        target=coordinated),
    "CoordinatedController.halt": Entry(CoordinatedController.halt, _halt_args,
                                        target=coordinated),
    "CoordinatedController.visit": Entry(CoordinatedController.visit, lambda _e: {
        "state": CoordinatorState.of({}), "scope": VENUE}, target=coordinated),
    "Follower": Entry(Follower, lambda _e: {"policy": POLICY, "staleness": 3.0,
                                            "clock": ManualClock(), "name": "gateway"}),
    "Follower.adopt": Entry(Follower.adopt, lambda _e: {"state": CoordinatorState.of({VENUE: HALT}),
                                                        "read_at": 0.0}, target=follower),
    "Follower.apply": Entry(Follower.apply, lambda _e: {"record": HALT}, target=follower),
    "Follower.reject": Entry(Follower.reject, lambda _e: {"scope": BTC, "version": 1,
                                                          "detail": "d"}, target=follower),
    "Follower.heard": Entry(Follower.heard, target=follower),
    "Follower.add_listener": Entry(Follower.add_listener,
                                   lambda _e: {"listener": lambda _change: None},
                                   target=follower),
    "Follower.fresh": Entry(Follower.fresh, lambda _e: {"state": CoordinatorState.of({}),
                                                        "read_at": 0.0}, target=follower),
    "Follower.check_staleness": Entry(Follower.check_staleness, target=follower),
    "Follower.watch": Entry(_watch_and_stop, lambda _e: {"interval": 3600.0}, target=follower),
    # -- plan ----------------------------------------------------------------------------------
    "PlanStep": Entry(PlanStep, lambda _e: {"phase": "HALTED", "trigger": "pre_open"}),
    "RestartPlan": Entry(RestartPlan, lambda _e: {"name": "p", "policy": RESTART,
                                                  "steps": PLAN.steps}),
    "RestartPlan.index": Entry(RestartPlan.index, lambda _e: {"phase": "HALTED"},
                               target=lambda _e: PLAN),
    "RestartPlan.transition": Entry(RestartPlan.transition, lambda _e: {"index": 1},
                                    target=lambda _e: PLAN),
    "RestartPlan.exit_criteria": Entry(RestartPlan.exit_criteria, lambda _e: {"index": 1},
                                       target=lambda _e: PLAN),
    "restart_policy": Entry(er.restart_policy, lambda _e: {"min_pre_open": 1.0,
                                                           "full_open_dwell": 1.0}),
    "default_restart_plan": Entry(er.default_restart_plan, lambda _e: {"min_pre_open": 1.0,
                                                                       "full_open_dwell": 1.0}),
    "PlanRunner": Entry(PlanRunner, lambda _e: {"plan": PLAN, "controller": runner().controller,
                                                "scope": VENUE}),
    "PlanRunner.create": Entry(PlanRunner.create, lambda _e: {
        "plan": PLAN, "health": HealthChecks(), "clock": ManualClock(), "scope": VENUE,
        "version": 0}),
    "PlanRunner.status": Entry(PlanRunner.status, lambda _e: {"actor": OPS}, target=runner),
    "PlanRunner.approve": Entry(PlanRunner.approve, lambda _e: {"actor": SUPERVISOR},
                                target=lambda e: _runner_in_pre_open()),
    "PlanRunner.advance": Entry(PlanRunner.advance, lambda _e: {"actor": OPS}, target=runner),
    "PlanRunner.abort": Entry(PlanRunner.abort, lambda _e: {"actor": OPS, "reason": "r"},
                              target=runner),
    "PlanStatus": Entry(er.PlanStatus, _status),
    "PlanStatus.lines": Entry(er.PlanStatus.lines, target=lambda _e: runner().status()),
    "Wait": Entry(er.Wait, lambda _e: {"seconds": 1.0}),
    "SetHealth": Entry(er.SetHealth, lambda _e: {"name": "book_uncrossed", "healthy": True}),
    "Approve": Entry(er.Approve, lambda _e: {"actor": SUPERVISOR}),
    "Advance": Entry(er.Advance, lambda _e: {"actor": OPS}),
    "Abort": Entry(er.Abort, lambda _e: {"actor": OPS, "reason": "r"}),
    "Fire": Entry(er.Fire, lambda _e: {"trigger": "halt", "actor": OPS, "reason": "r"}),
    "simulate": Entry(er.simulate, lambda _e: {"plan": PLAN, "events": [er.Advance(OPS)],
                                               "health": {"cloud_zone_healthy": True},
                                               "scope": VENUE}),
    "TimelineEntry": Entry(er.TimelineEntry, lambda _e: {"at": 0.0, "event": "start",
                                                         "phase": "HALTED", "step": 0}),
    "Timeline": Entry(er.Timeline, lambda _e: {"entries": (), "final": runner().status(),
                                               "journal": ()}),
    # -- exceptions ----------------------------------------------------------------------------
    "InvalidRequestError": Entry(er.InvalidRequestError, lambda _e: {
        "field": "instrument", "value": None, "expected": "a str"}),
    "InvalidPolicyError": Entry(er.InvalidPolicyError, lambda _e: {"problems": ()}),
    "InvalidPlanError": Entry(er.InvalidPlanError, lambda _e: {"problems": ()}),
    "TransitionRefused": Entry(er.TransitionRefused, lambda _e: {
        "code": er.RefusalCode.UNAUTHORIZED, "scope": VENUE, "phase": "NORMAL",
        "trigger": "open"}),
    "TransitionConflict": Entry(er.TransitionConflict, lambda _e: {
        "code": er.RefusalCode.STALE_VERSION, "scope": VENUE, "phase": "NORMAL",
        "trigger": "open", "detail": "d", "state": CoordinatorState.of({}), "winner": None}),
    "IdentityError": Entry(er.IdentityError, lambda _e: {"field": "id", "value": "x",
                                                          "problem": "p"}),
    "DirectoryError": Entry(er.DirectoryError, lambda _e: {"problems": ()}),
    # -- statuses ------------------------------------------------------------------------------
    "find_path": Entry(er.find_path, lambda _e: {"policy": POLICY, "source": "HALTED",
                                                 "dest": "FULL_OPEN"}),
    "TriggerPath": Entry(er.TriggerPath, lambda _e: {"source": "HALTED", "dest": "HALTED",
                                                     "steps": ()}),
    "TriggerPath.describe": Entry(er.TriggerPath.describe,
                                  target=lambda _e: er.find_path(RESTART, "HALTED", "NORMAL")),
    "PathStep": Entry(er.PathStep, lambda _e: {"trigger": "open", "source": "PRE_OPEN",
                                               "dest": "FULL_OPEN", "guards": ()}),
    "PathStep.describe": Entry(er.PathStep.describe, target=lambda _e: er.find_path(
        RESTART, "PRE_OPEN", "FULL_OPEN").steps[0]),
    "phase_statuses": Entry(er.phase_statuses, lambda _e: {"policy": POLICY, "phase": "HALTED"}),
    "PhaseStatuses": Entry(er.PhaseStatuses, lambda _e: attrs.asdict(
        er.phase_statuses(POLICY, "HALTED"), recurse=False)),
    "map_status": Entry(er.map_status, lambda _e: {"policy": POLICY, "current": "NORMAL",
                                                   "vocabulary": "kraken", "value": "online"}),
    "StatusMapping": Entry(er.StatusMapping, lambda _e: attrs.asdict(
        er.map_status(POLICY, "HALTED", "fix_326", 17), recurse=False)),
    "StatusMapping.describe": Entry(er.StatusMapping.describe, target=lambda _e: er.map_status(
        POLICY, "NORMAL", "kraken", "reduce_only")),
    "ScopeStatus": Entry(er.ScopeStatus, lambda _e: attrs.asdict(_scope_status(), recurse=False)),
    "ScopeStatus.of_controller": Entry(er.ScopeStatus.of_controller, lambda _e: {
        "controller": controller(), "scope": BTC}),
    "ScopeStatus.of": Entry(er.ScopeStatus.of, lambda _e: {
        "policy": RESTART, "scope": VENUE, "phase": "HALTED", "since": 0.0, "version": 1,
        "record": HALT, "reason": None}),
    **{f"ScopeStatus.{name}": Entry(getattr(er.ScopeStatus, name),
                                    target=lambda _e: _scope_status())
       for name in ("to_dict", "to_okx", "to_kraken", "to_coinbase", "to_fix",
                    "to_okx_maintenance")},
    # -- auctions --------------------------------------------------------------------------------
    "AuctionRunner": Entry(er.AuctionRunner, lambda _e: {
        "controller": auction_runner().controller, "engine": kit.AuctionBook(), "reference": 100,
        "seed": 1, "actor": "auction:timer", "scope": VENUE}),
    "AuctionRunner.poll": Entry(er.AuctionRunner.poll, target=auction_runner),
    "AuctionRunner.status": Entry(er.AuctionRunner.status, target=auction_runner),
    "AuctionRunner.decide": Entry(er.AuctionRunner.decide, lambda _e: {
        "actor": OPS, "cross": True, "reason": "r", "approvals": ()}, target=auction_runner),
    "AuctionRunner.check_late": Entry(er.AuctionRunner.check_late, lambda _e: {
        "request": er.Request.amend(BTC, er.OrderType.LIMIT), "side": er.Side.BUY, "price": 101,
        "quantity": 1, "old_price": 100, "old_quantity": 1}, target=auction_runner),
    "Indicative": Entry(er.Indicative, lambda _e: {"price": 100, "volume": 1, "imbalance": 0}),
    "Indicative.as_json": Entry(er.Indicative.as_json, target=lambda _e: er.Indicative(100, 1)),
    "testing.AuctionBook": Entry(kit.AuctionBook, lambda _e: {"reference": 100}),
    "testing.AuctionBook.submit": Entry(kit.AuctionBook.submit, lambda _e: {
        "scope": "X", "side": er.Side.BUY, "price": 1, "quantity": 1},
        target=lambda _e: kit.AuctionBook()),
    "testing.AuctionBook.cancel": Entry(kit.AuctionBook.cancel, lambda _e: {
        "scope": "X", "order_id": 1}, target=lambda _e: kit.AuctionBook()),
    **{f"testing.AuctionBook.{name}": Entry(getattr(kit.AuctionBook, name),
                                            lambda _e: {"scope": "X"},
                                            target=lambda _e: kit.AuctionBook())
       for name in ("indicative", "trades", "resting")},
    "testing.AuctionBook.uncross": Entry(kit.AuctionBook.uncross, lambda _e: {
        "scope": "X", "price": 1}, target=lambda _e: kit.AuctionBook()),
    "testing.reference_uncross": Entry(kit.reference_uncross, lambda _e: {
        "bids": [(1, 1)], "asks": [(1, 1)], "reference": 1}),
    "testing.check_auction": Entry(kit.check_auction, lambda _e: {
        "engine_factory": kit.AuctionBook, "seed": 1, "scope": VENUE}),
    "testing.auction_policy": Entry(kit.auction_policy, lambda _e: {
        "when_exhausted": er.Exhausted.MANUAL}),
    "SetIndicative": Entry(er.SetIndicative, lambda _e: {"price": 101.0, "volume": 2.0}),
    "Liquidate": Entry(er.Liquidate, lambda _e: {"instrument": BTC}),
    "Announce": Entry(er.Announce, lambda _e: {"window": WINDOW, "actor": OPS}),
    "reopening_plan": Entry(er.reopening_plan),
    # -- deadlines and maintenance windows -----------------------------------------------------
    "MaintenanceWindow": Entry(er.MaintenanceWindow, lambda _e: {
        "id": "w", "begin": 1.0, "end": 2.0, "pre_open_begin": None, "scope": VENUE,
        "reason": ""}),
    "MaintenanceWindow.state": Entry(er.MaintenanceWindow.state, lambda _e: {
        "now": 1.0, "canceled": False}, target=lambda _e: WINDOW),
    "MaintenanceWindow.steps": Entry(er.MaintenanceWindow.steps, target=lambda _e: WINDOW),
    "MaintenanceWindow.to_json": Entry(er.MaintenanceWindow.to_json, target=lambda _e: WINDOW),
    "Deadlines": Entry(er.Deadlines, lambda _e: {"controller": controller(),
                                                 "actor": "auto:deadlines", "logger": None}),
    "Deadlines.announce": Entry(er.Deadlines.announce, lambda _e: {
        "window": er.MaintenanceWindow("y", 30.0, 40.0), "actor": "ops:alice"},
        target=lambda _e: deadlines()),
    "Deadlines.cancel": Entry(er.Deadlines.cancel, lambda _e: {"window_id": "w",
                                                               "actor": "ops:alice"},
                              target=lambda _e: deadlines()),
    "Deadlines.next_due": Entry(er.Deadlines.next_due, lambda _e: {"scope": VENUE},
                                target=lambda _e: deadlines()),
    "Deadlines.retry_after": Entry(er.Deadlines.retry_after, lambda _e: {"scope": VENUE},
                                   target=lambda _e: deadlines()),
    "Deadlines.poll": Entry(er.Deadlines.poll, target=lambda _e: deadlines()),
    "Deadlines.status": Entry(er.Deadlines.status, target=lambda _e: deadlines()),
    "ScheduleStatus": Entry(er.ScheduleStatus, lambda _e: {"at": 0.0, "deadlines": (),
                                                           "windows": ()}),
    "ScheduleStatus.windows_of": Entry(er.ScheduleStatus.windows_of, lambda _e: {"scope": VENUE},
                                       target=lambda _e: deadlines().status()),
    "WindowStatus": Entry(er.WindowStatus, lambda _e: attrs.asdict(
        deadlines().status().windows[0], recurse=False)),
    "WindowStatus.to_dict": Entry(er.WindowStatus.to_dict,
                                  target=lambda _e: deadlines().status().windows[0]),
    "DeadlineStatus": Entry(er.DeadlineStatus, lambda _e: {
        "scope": VENUE, "phase": "HALTED", "visit": 1, "due": 10.0,
        "then": er.StayAction.HALT, "trigger": "halt", "overdue": False, "fired": None}),
    "Firing": Entry(er.Firing, lambda _e: attrs.asdict(FIRING, recurse=False)),
    "Firing.to_json": Entry(er.Firing.to_json, target=lambda _e: FIRING),
    # -- testing -------------------------------------------------------------------------------
    "testing.ManualClock": Entry(ManualClock, lambda _e: {"start": 0.0}),
    "testing.ManualClock.advance": Entry(ManualClock.advance, lambda _e: {"seconds": 1.0},
                                         target=lambda _e: ManualClock()),
    "testing.ManualClock.now": Entry(lambda target, value: setattr(target, "now", value),
                                     lambda _e: {"value": 1.0}, target=lambda _e: ManualClock()),
    "testing.order_requests": Entry(kit.order_requests, lambda _e: {
        "action": Action.NEW_ORDER, "instruments": (BTC,), "origins": tuple(er.Origin)}),
    "testing.requests": Entry(kit.requests, lambda _e: {
        "instruments": (BTC,), "origins": tuple(er.Origin)}),
    "testing.valid_policies": Entry(kit.valid_policies),
    "testing.broken_policies": Entry(kit.broken_policies, lambda _e: {
        "codes": [er.ProblemCode.INVALID_NAME]}),
    "testing.transition_sequences": Entry(kit.transition_sequences,
                                          lambda _e: {"policy": POLICY, "start": "HALTED",
                                                      "max_size": 3}),
    "testing.order_tickets": Entry(kit.order_tickets, lambda _e: {
        "instrument": BTC, "prices": (97, 103), "quantities": (1, 5)}),
    "testing.BrokenPolicy": Entry(kit.BrokenPolicy, lambda _e: {
        "code": er.ProblemCode.INVALID_NAME, "codes": frozenset(), "mutation": "m",
        "fields": {}}),
    "testing.BrokenPolicy.build": Entry(kit.BrokenPolicy.build,
                                        target=lambda _e: kit.BrokenPolicy(
                                            er.ProblemCode.INVALID_NAME, frozenset(), "m",
                                            {"name": "x", "phases": (), "transitions": ()})),
    "testing.OrderTicket": Entry(kit.OrderTicket, lambda _e: {
        "request": LIMIT, "side": kit.Side.BUY, "price": 100, "quantity": 1}),
    "testing.Trade": Entry(kit.Trade, lambda _e: {"price": 1, "quantity": 1}),
}


def _etcd_and_close(**kwargs: Any) -> None:
    """`EtcdCoordinator(...)` (which connects to nothing until asked), closed again."""
    coordinator = etcd.EtcdCoordinator(**kwargs)
    coordinator.close()


if etcd is not None:  # the etcd extra is installed
    ENTRIES.update({
        "etcd.EtcdCoordinator": Entry(_etcd_and_close, lambda _e: {
            "endpoint": "127.0.0.1:1", "prefix": "fuzz/", "timeout": 0.5, "lease_ttl": 3,
            "refresh": 1.0, "plaintext": True, "max_record_bytes": 16384, "logger": None,
            "ca_cert": None, "client_cert": None, "client_key": None, "user": None,
            "password": None}),
        "etcd.encode": Entry(etcd.encode, lambda _e: {"record": HALT}),
        "etcd.decode": Entry(etcd.decode, lambda _e: {"scope": VENUE, "value": etcd.encode(HALT),
                                                      "revision": 1, "max_bytes": 16384}),
    })


def _scope_status() -> er.ScopeStatus:
    return er.ScopeStatus.of(RESTART, VENUE, "PRE_OPEN", 1671350400.0, 2, reason="zone back")


def _runner_in_pre_open() -> PlanRunner:
    r = runner()
    r.advance(OPS)
    return r


NOT_CALLED: Final[dict[str, str]] = {
    **dict.fromkeys(("ALL_KINDS", "INSTRUMENT", "VENUE"), "a constant"),
    **dict.fromkeys(("Authorizer", "Clock", "Guard", "HealthCheck", "SimulationEvent"),
                    "a type alias, for annotations"),
    **dict.fromkeys(("Coordinator", "Directory", "Journal", "Signer"),
                    "a Protocol: implemented by the caller, never called"),
    **dict.fromkeys(("Action", "OrderType", "Origin", "TimeInForce", "Reason", "ProblemCode",
                     "RefusalCode", "IntegrityCode", "TrustCode", "Side", "RestingAction",
                     "IncomingAction", "SystemCancel", "Exhausted", "StayAction",
                     "LiquidationState", "WindowState", "FiringOutcome", "AuctionState"),
                    "an enum: a lookup by value is the standard library's (ValueError)"),
    **dict.fromkeys(("ExchangeRecoveryError", "ConfigurationError", "ConformanceFailure",
                     "CoordinatorError", "JournalError", "SigningError"),
                    "an exception that takes one message"),
    "PhaseChange": "built by the library for listeners, never by callers",
    "AuctionStatus": "built by the runner (AuctionRunner.status), never by callers",
    "UncrossEngine": "a Protocol: implemented by the engine, never called",
    "testing.AuctionEngine": "a Protocol: implemented by the engine, never called",
    "PhaseChanges.get": "a coroutine a listener's event loop awaits; it takes no argument",
    "testing.DEFAULT_INSTRUMENTS": "a constant",
    "testing.MUTATIONS": "a constant",
    "testing.NOT_POLICY_CODES": "a constant",
    "testing.ConformanceFailure": "an exception that takes one message",
    "testing.Side": "an enum: a lookup by value is the standard library's (ValueError)",
    "testing.EngineAdapter": "a Protocol: implemented by the caller, never called",
    "testing.EngineConformance": "a state machine hypothesis drives; its rules take drawn data",
    "testing.AsyncEngineAdapter": "a Protocol: implemented by the caller, never called",
    "testing.AsyncEngineConformance": "a state machine hypothesis drives; its rules take drawn "
                                      "data",
    **dict.fromkeys((f"etcd.EtcdCoordinator.{method}" for method in (
        "read", "propose", "follow", "alive", "gateways", "close")),
        "needs a running etcd: tests/test_etcd.py"),
}
"""Public names with no fuzz entry, each with the reason it needs none."""


# -- running one call ---------------------------------------------------------------------------


@attrs.frozen
class Leak:
    """A builtin exception that came out of a public door (or damage it did)."""

    entry: str
    param: str
    label: str
    error: str
    where: str

    def __str__(self) -> str:
        return f"{self.entry}({self.param}={self.label}): {self.error} at {self.where}"


def _where(exc: BaseException) -> str:
    """The innermost frame of the library in the exception's traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if "exchange_recovery" in f.filename and "/tests/" not in f.filename]
    if not frames:
        frames = traceback.extract_tb(exc.__traceback__)[-1:]
    frame = frames[-1]
    path = frame.filename.split("exchange_recovery/")[-1]
    return f"{path}:{frame.lineno} {frame.name}"


def _shown(value: object) -> str:
    try:
        text = repr(value)
    except Exception:  # a hostile value may have no repr
        return f"<{type(value).__name__}>"
    return text if len(text) <= 60 else f"{text[:60]}...({len(text)} chars)"


def attempt(name: str, param: str, value: object, label: str, env: Env,
            draw: Callable[[st.SearchStrategy[Any]], object] | None = None) -> Leak | None:
    """Call entry `name` with `param` replaced by `value`; the leak it shows, or None."""
    entry = ENTRIES[name]
    target = entry.target(env) if entry.target is not None else None
    before = snapshot(target)
    kwargs = entry.valid(env)
    kwargs[param] = value
    raised = False
    in_threads: list[BaseException | None] = []
    hook = threading.excepthook
    threading.excepthook = lambda args: in_threads.append(args.exc_value)
    try:
        result = entry.call(target, **kwargs) if target is not None else entry.call(**kwargs)
        if draw is not None and isinstance(result, st.SearchStrategy):
            draw(result)
    except ExchangeRecoveryError:
        raised = True
    except RecursionError as exc:
        return Leak(name, param, label, "RecursionError", _where(exc))
    except Exception as exc:  # what the suite looks for
        return Leak(name, param, label, f"{type(exc).__name__}: {_shown(str(exc))}", _where(exc))
    finally:
        threading.excepthook = hook
    if in_threads:
        died = in_threads[0]
        return Leak(name, param, label, f"in a thread it started: {type(died).__name__}",
                    _where(died) if died is not None else "?")
    if target is None:
        return None
    try:
        if raised and snapshot(target) != before:
            return Leak(name, param, label, "DAMAGE: a refused call changed the state",
                        type(target).__name__)
        check = INTACT.get(type(target))
        if check is not None:
            check(target)
    except Exception as exc:  # damage
        return Leak(name, param, label, f"DAMAGE: {type(exc).__name__}: {_shown(str(exc))}",
                    _where(exc))
    return None


def sweep(name: str, param: str, env: Env, labels: Iterable[str] = CATALOGUE) -> list[Leak]:
    """Catalogue values (all by default) through one argument of one entry point."""
    leaks = []
    for label in labels:
        leak = attempt(name, param, make(label), label, env)
        if leak is not None:
            leaks.append(leak)
    return leaks


# -- leaks left in modules owned elsewhere --------------------------------------------------

UNSHOWABLE: Final = frozenset({"10**5000", "deep list", "Raising", "RaisingRepr", "SneakyInt"})
"""Values whose repr raises: a message built with ``{value!r}`` or ``repr(value)`` leaks."""

ALL: Final = frozenset(CATALOGUE)


def of(*labels: str) -> frozenset[str]:
    """These catalogue labels."""
    return frozenset(labels)


def but(*labels: str) -> frozenset[str]:
    """Every catalogue label but these."""
    return ALL - frozenset(labels)

KNOWN: Final[dict[str, tuple[frozenset[str], str]]] = {
}
"""``"entry:param"`` -> (the catalogue labels that still leak; the exceptions and where). Each
is an xfail(strict=True) case: fixing the leak fails it, and its line here is then to be
removed. Only modules owned elsewhere are listed; every other value must pass there too.
``python tests/test_fuzz.py`` prints the leaks the current code has, one line per case."""


def _known_labels(name: str, param: str) -> frozenset[str]:
    known = KNOWN.get(f"{name}:{param}")
    return frozenset() if known is None else known[0]


# -- the tests --------------------------------------------------------------------------------

CASES: Final = [(name, param) for name, entry in ENTRIES.items() for param in entry.params()]


@pytest.mark.parametrize(("name", "param"), [pytest.param(n, p, id=f"{n}:{p}") for n, p in CASES])
def test_a_hostile_argument_gets_a_library_error_and_does_no_damage(
        name: str, param: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every catalogue value, then drawn ones, in one argument: a library error or an answer."""
    monkeypatch.chdir(tmp_path)  # a text given as a path names a file here, nowhere else
    env = Env(tmp_path)
    known = _known_labels(name, param)
    leaks = sweep(name, param, env, [label for label in CATALOGUE if label not in known])
    assert not leaks, "\n".join(map(str, leaks))
    if known:  # drawn values would meet the known leak again
        return

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=(Phase.explicit, Phase.generate),
              suppress_health_check=list(HypothesisHealthCheck))
    @given(value=hostile(), data=st.data())
    def fuzz(value: object, data: st.DataObject) -> None:
        leak = attempt(name, param, value, _shown(value), env, data.draw)
        assert leak is None, str(leak)

    fuzz()


@pytest.mark.parametrize(("name", "param"), [
    pytest.param(*key.split(":"), id=key, marks=pytest.mark.xfail(strict=True, reason=why))
    for key, (_, why) in KNOWN.items()] or [pytest.param("", "", id="none-known")])
def test_a_known_leak_in_a_module_owned_elsewhere(name: str, param: str, tmp_path: pathlib.Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The leaks listed in KNOWN: each fails (xfail) until its module is fixed (none left now)."""
    if not name:
        assert not KNOWN
        return
    monkeypatch.chdir(tmp_path)
    leaks = sweep(name, param, Env(tmp_path), sorted(_known_labels(name, param)))
    assert not leaks, "\n".join(map(str, leaks))


def test_known_leaks_name_fuzzed_arguments() -> None:
    """A KNOWN line names an entry point and argument the suite fuzzes, and catalogue labels."""
    for key, (labels, _) in KNOWN.items():
        name, _, param = key.partition(":")
        assert (name, param) in CASES, key
        assert labels <= ALL, key


def test_every_public_name_has_fuzz_coverage() -> None:
    """A public name needs an entry (or a stated reason for none); so do its public methods."""
    missing = []
    modules = [("", er), ("testing.", kit), *([("etcd.", etcd)] if etcd is not None else [])]
    for prefix, module in modules:
        for public in module.__all__:
            name = prefix + public
            if name in NOT_CALLED or name in ENTRIES or public in ENTRIES:
                pass
            else:
                missing.append(name)
            obj = getattr(module, public)
            if inspect.isclass(obj) and name not in NOT_CALLED:
                missing += [f"{name}.{method}" for method, owner in _public_methods(obj)
                            if not {f"{prefix}{owner}.{method}", f"{owner}.{method}"} & set(ENTRIES)
                            and f"{name}.{method}" not in NOT_CALLED]
    assert not missing, f"public names without a fuzz entry: {missing}"


def _public_methods(cls: type) -> list[tuple[str, str]]:
    """(method, the name of the class that defines it) for each public method of `cls`."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("exchange_recovery"):
            found.update({name: klass.__name__ for name, value in vars(klass).items()
                          if not name.startswith("_") and (
                              inspect.isfunction(value)
                              or isinstance(value, classmethod | staticmethod))})
    return sorted(found.items())


def test_the_registry_names_only_public_doors() -> None:
    """An entry that names no public callable is stale."""
    for name in ENTRIES:
        if name in {"Controller.<trigger>", "testing.ManualClock.now"}:
            continue
        module, path = (kit, name.removeprefix("testing.")) if name.startswith("testing.") else (
            (etcd, name.removeprefix("etcd.")) if name.startswith("etcd.") else (er, name))
        obj: Any = module
        for part in path.split("."):
            obj = getattr(obj, part)
        assert callable(obj), name


@pytest.mark.parametrize(("side", "touch"), [("BUY", "best_ask"), ("SELL", "best_bid")])
def test_a_nan_touch_refuses_rather_than_lets_a_priced_order_through(side: str,
                                                                       touch: str) -> None:
    """A NaN touch compares false both ways: check_priced fails closed, with WOULD_CROSS."""
    gate = Gate(POLICY, {VENUE: "PRE_OPEN"})

    decision = gate.check_priced(POST_ONLY_BID, er.Side[side], 100, **{touch: math.nan})

    assert decision.reason is er.Reason.WOULD_CROSS


def test_the_catalogue_holds_every_kind_of_hostile_value() -> None:
    """Unhashables, huge and non-finite numbers, control text, raising objects, deep nesting."""
    kinds = {cause for cause, _ in CATALOGUE.values()}
    assert {"unhashable", "wrong type", "number", "text", "raising", "callable"} <= kinds
    assert math.isnan(make("nan"))  # type: ignore[arg-type]
    assert isinstance(make("Raising"), Raising)


def _print_leaks() -> None:
    """Sweep every case and print its leaks: what to compare KNOWN with after a change."""
    with tempfile.TemporaryDirectory() as root:
        os.chdir(root)
        env = Env(pathlib.Path(root))
        for name, param in CASES:
            leaks = sweep(name, param, env)
            if leaks:
                where = sorted({f"{leak.error.partition(':')[0]} at {leak.where}" for leak in leaks})
                sys.stdout.write(f"{name}:{param}  {sorted(leak.label for leak in leaks)}\n"
                                 f"    {where}\n")


if __name__ == "__main__":
    _print_leaks()
