"""The controller: triggers, refusals that change nothing, guards, the journal seam, scopes, apply."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pytest
from structlog.testing import capture_logs

from exchange_recovery import (
    ALL_KINDS,
    INSTRUMENT,
    VENUE,
    Action,
    Actor,
    ConfigurationError,
    Controller,
    Guard,
    Journal,
    MemoryJournal,
    OrderType,
    Policy,
    Reason,
    RefusalCode,
    Request,
    TransitionContext,
    TransitionRecord,
    TransitionRefused,
    TransitionSpec,
    default_policy,
)
from exchange_recovery.testing import ManualClock

BTC = "BTC-USDT-SWAP"
ETH = "ETH-USDT-SWAP"
OPS = "ops:alice"
RESTART = ("halt", "pre_open", "open", "normalize")
"""A full restart cycle from NORMAL back to NORMAL."""


class FailingJournal:
    """A journal whose every write fails, as a full disk would."""

    def __init__(self) -> None:
        self.attempts: list[TransitionRecord] = []

    def append(self, record: TransitionRecord) -> None:
        self.attempts.append(record)
        msg = "disk full"
        raise OSError(msg)


def guarded_policy(guards: Mapping[tuple[str, str], tuple[str, ...]]) -> Policy:
    """The default policy with guards on some (source, trigger) edges."""
    base = default_policy()
    return base.with_changes(transitions=[
        TransitionSpec(t.trigger, t.source, t.dest, guards=guards.get((t.source, t.trigger), ()))
        for t in base.transitions
    ])


def make(phase: str = "NORMAL", **kwargs: Any) -> Controller:
    """A controller on the default policy (unless given one) with the venue in `phase`."""
    policy = kwargs.pop("policy", None) or default_policy()
    return Controller(policy, phases={VENUE: phase}, **kwargs)


SAMPLES = tuple(
    Request(k.action, None if k.action in (Action.MASS_CANCEL, Action.ADD_MARGIN, Action.REMOVE_MARGIN,
                                           Action.DEPOSIT, Action.WITHDRAWAL) else inst,
            k.order_type, k.time_in_force, k.post_only, k.reduce_only, k.origin)
    for k in ALL_KINDS for inst in (BTC, ETH)
)
"""One request of every kind on two instruments (venue-wide where the action allows it)."""


def state_of(controller: Controller, journal: MemoryJournal | None = None) -> dict[str, Any]:
    """Everything a refused transition must leave alone."""
    scopes = (VENUE, BTC, ETH)
    return {
        "phases": dict(controller.gate.phases),
        "scope_phases": [controller.phase(s) for s in scopes],
        "version": controller.version,
        "gate_version": controller.gate.version,
        "entered_at": [controller.entered_at(s) for s in scopes],
        "triggers": [controller.triggers(s) for s in scopes],
        "decisions": [controller.gate.check(r) for r in SAMPLES],
        "journal": None if journal is None else journal.records,
        "unjournaled": list(controller.unjournaled),
    }


def walk(controller: Controller, *triggers: str, scope: str = VENUE) -> list[TransitionRecord]:
    return [controller.fire(t, actor=OPS, reason=f"step {t}", scope=scope) for t in triggers]


# -- triggers ----------------------------------------------------------------------------------


def test_triggers_are_methods_that_move_the_venue() -> None:
    """Each policy trigger is a method taking actor and reason, returning the transition's record."""
    clock = ManualClock(50.0)
    controller = Controller(default_policy(), clock=clock)
    clock.now = 60.0

    record = controller.degrade(actor=OPS, reason="zone latency")

    assert record == TransitionRecord(
        version=1, scope=VENUE, source="NORMAL", dest="DEGRADED", trigger="degrade", actor=OPS,
        reason="zone latency", timestamp=60.0, relaxing=False,
    )
    assert controller.phase() == "DEGRADED"
    assert controller.gate.phase() == "DEGRADED"
    assert controller.gate.check(Request.new_order(BTC, OrderType.MARKET)).reason \
        is Reason.ORDER_TYPE_NOT_ALLOWED


def test_fire_by_name_does_what_the_method_does() -> None:
    """``fire("open", ...)`` and ``open(...)`` produce identical records and phases."""
    by_method, by_name = make(clock=ManualClock(1_000.0)), make(clock=ManualClock(1_000.0))

    methods = [by_method.halt(actor=OPS, reason="r"), by_method.pre_open(actor=OPS, reason="r"),
               by_method.open(actor=OPS, reason="r"), by_method.normalize(actor=OPS, reason="r")]
    names = [by_name.fire(t, actor=OPS, reason="r") for t in RESTART]

    assert methods == names
    assert by_method.gate.phases == by_name.gate.phases == {VENUE: "NORMAL"}


def test_an_actor_object_is_recorded_by_name() -> None:
    """An `Actor` with roles may fire triggers; the record keeps its name."""
    record = make().halt(actor=Actor("ops:bob", roles={"ops"}), reason="drill")
    assert record is not None
    assert record.actor == "ops:bob"


def test_unknown_attribute_is_an_attribute_error_not_a_trigger() -> None:
    """Only the policy's triggers become methods."""
    controller = make()
    with pytest.raises(AttributeError, match="reopen_now"):
        controller.reopen_now  # noqa: B018 - the attribute access is the test
    with pytest.raises(AttributeError):
        controller._private_trigger  # noqa: B018


def test_triggers_lists_what_leads_somewhere_from_the_current_phase() -> None:
    """`triggers()` answers from the scope's current phase."""
    controller = make("FULL_OPEN")
    assert set(controller.triggers()) == {"halt", "normalize", "degrade"}
    controller.halt(actor=OPS, reason="r")
    assert controller.triggers() == ("pre_open",)


@pytest.mark.parametrize("actor", ["", "   ", None, 42, b"ops"])
def test_bad_actor_is_refused_as_invalid_argument(actor: object) -> None:
    """A missing or mistyped actor refuses the transition and changes nothing."""
    controller, journal = _journaled()
    before = state_of(controller, journal)
    for fire in (lambda: controller.halt(actor=actor, reason="r"),  # type: ignore[arg-type]
                 lambda: controller.degrade(actor=actor, reason="r"),
                 lambda: controller.fire("degrade", actor=actor, reason="r")):  # type: ignore[arg-type]
        with pytest.raises(TransitionRefused) as refused:
            fire()
        assert refused.value.code is RefusalCode.INVALID_ARGUMENT
        assert "actor" in refused.value.detail
    assert state_of(controller, journal) == before


@pytest.mark.parametrize("reason", ["", "  \n", None, 3])
def test_bad_reason_is_refused_as_invalid_argument(reason: object) -> None:
    """Every transition needs a non-empty reason; without one nothing changes."""
    controller, journal = _journaled()
    before = state_of(controller, journal)
    for fire in (lambda: controller.halt(actor=OPS, reason=reason),  # type: ignore[arg-type]
                 lambda: controller.degrade(actor=OPS, reason=reason),
                 lambda: controller.fire("degrade", actor=OPS, reason=reason)):  # type: ignore[arg-type]
        with pytest.raises(TransitionRefused) as refused:
            fire()
        assert refused.value.code is RefusalCode.INVALID_ARGUMENT
        assert "reason" in refused.value.detail
    assert state_of(controller, journal) == before


@pytest.mark.parametrize(("trigger", "scope"), [(None, VENUE), ("", VENUE), ("halt", ""),
                                                ("halt", None), ("halt", 7)])
def test_bad_trigger_or_scope_is_refused_as_invalid_argument(trigger: object, scope: object) -> None:
    """`fire` refuses a missing trigger or scope name before anything else."""
    controller, journal = _journaled()
    before = state_of(controller, journal)
    with pytest.raises(TransitionRefused) as refused:
        controller.fire(trigger, actor=OPS, reason="r", scope=scope)  # type: ignore[arg-type]
    assert refused.value.code is RefusalCode.INVALID_ARGUMENT
    assert state_of(controller, journal) == before


def test_actor_and_reason_are_required_keywords() -> None:
    """Leaving out the actor or the reason is a programming error (TypeError), not a default."""
    controller = make()
    with pytest.raises(TypeError):
        controller.halt(reason="r")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        controller.degrade(actor=OPS)
    with pytest.raises(TypeError):
        controller.fire("degrade", OPS, "r")  # type: ignore[misc]
    assert controller.version == 0


# -- versions ----------------------------------------------------------------------------------


def test_versions_increase_by_one_with_every_transition_on_any_scope() -> None:
    """Venue and instrument transitions share one strictly increasing version."""
    controller = make()
    records = walk(controller, *RESTART) + walk(controller, "halt", "pre_open", scope=BTC)
    records += walk(controller, "degrade")

    assert [r.version for r in records] == list(range(1, 8))
    assert controller.version == controller.gate.version == 7


def test_versions_continue_from_the_version_the_controller_starts_at() -> None:
    """A controller restored at version N numbers its next transition N + 1."""
    controller = make("HALTED", version=41)
    assert controller.version == controller.gate.version == 41
    assert controller.pre_open(actor=OPS, reason="r").version == 42


@pytest.mark.parametrize("version", [-1, 1.5, "3", None])
def test_a_bad_starting_version_is_a_configuration_error(version: object) -> None:
    """The starting version must be an int >= 0."""
    with pytest.raises(ConfigurationError, match="version"):
        Controller(default_policy(), version=version)  # type: ignore[arg-type]


def test_controller_needs_every_guard_its_policy_names() -> None:
    """A policy naming a guard the controller was not given is refused at construction."""
    policy = guarded_policy({("HALTED", "pre_open"): ("book_rebuilt",)})
    with pytest.raises(ConfigurationError, match="book_rebuilt"):
        Controller(policy)
    with pytest.raises(ConfigurationError, match="not callable"):
        Controller(policy, guards={"book_rebuilt": True})  # type: ignore[dict-item]


# -- refusals change nothing -------------------------------------------------------------------


def _journaled(phase: str = "NORMAL", **kwargs: Any) -> tuple[Controller, MemoryJournal]:
    journal = MemoryJournal()
    controller = make(phase, journal=journal, clock=ManualClock(1_000.0), **kwargs)
    # Some history, so that "nothing changed" covers an instrument scope and a non-empty journal.
    walk(controller, "halt", scope=BTC)
    return controller, journal


def _raise(exc: BaseException) -> Callable[[TransitionContext], bool]:
    def guard(ctx: TransitionContext) -> bool:
        raise exc
    return guard


REFUSALS: dict[str, tuple[str, dict[str, Any], Callable[[Controller], object], RefusalCode]] = {
    # name: (venue phase, controller kwargs, act, expected code)
    "unknown trigger": (
        "NORMAL", {}, lambda c: c.fire("reopen_now", actor=OPS, reason="r"),
        RefusalCode.UNKNOWN_TRIGGER),
    "no edge from the current phase": (
        "NORMAL", {}, lambda c: c.pre_open(actor=OPS, reason="r"),
        RefusalCode.TRANSITION_NOT_ALLOWED),
    "halt fired by name while halted": (
        "HALTED", {}, lambda c: c.fire("halt", actor=OPS, reason="r"),
        RefusalCode.TRANSITION_NOT_ALLOWED),
    "no edge on an instrument": (
        "NORMAL", {}, lambda c: c.open(actor=OPS, reason="r", scope=ETH),
        RefusalCode.TRANSITION_NOT_ALLOWED),
    "guard returns False": (
        "HALTED", {"policy": guarded_policy({("HALTED", "pre_open"): ("ready",)}),
                   "guards": {"ready": lambda ctx: False}},
        lambda c: c.pre_open(actor=OPS, reason="r"), RefusalCode.GUARD_REJECTED),
    "guard returns a truthy non-bool": (
        "HALTED", {"policy": guarded_policy({("HALTED", "pre_open"): ("ready",)}),
                   "guards": {"ready": lambda ctx: "yes"}},
        lambda c: c.pre_open(actor=OPS, reason="r"), RefusalCode.GUARD_REJECTED),
    "second guard returns False": (
        "DEGRADED", {"policy": guarded_policy({("DEGRADED", "recover"): ("a", "b")}),
                     "guards": {"a": lambda ctx: True, "b": lambda ctx: False}},
        lambda c: c.recover(actor=OPS, reason="r"), RefusalCode.GUARD_REJECTED),
    "guard raises": (
        "PRE_OPEN", {"policy": guarded_policy({("PRE_OPEN", "open"): ("ready",)}),
                     "guards": {"ready": _raise(RuntimeError("feed down"))}},
        lambda c: c.open(actor=OPS, reason="r"), RefusalCode.GUARD_FAILED),
    "authorizer raises TransitionRefused": (
        "HALTED", {"authorizer": _raise(TransitionRefused(
            RefusalCode.UNAUTHORIZED, scope=VENUE, phase="HALTED", trigger="pre_open",
            detail="needs role ops"))},
        lambda c: c.pre_open(actor=OPS, reason="r"), RefusalCode.UNAUTHORIZED),
    "authorizer raises PermissionError": (
        "HALTED", {"authorizer": _raise(PermissionError("no"))},
        lambda c: c.pre_open(actor=OPS, reason="r"), RefusalCode.UNAUTHORIZED),
    "authorizer returns False": (
        "HALTED", {"authorizer": lambda ctx: False},
        lambda c: c.pre_open(actor=OPS, reason="r"), RefusalCode.UNAUTHORIZED),
    "authorizer refuses an instrument reopen": (
        "NORMAL", {"authorizer": lambda ctx: ctx.scope == VENUE},
        lambda c: c.pre_open(actor=OPS, reason="r", scope=BTC), RefusalCode.UNAUTHORIZED),
    "write-ahead fails": (
        "HALTED", {"journal": FailingJournal()},
        lambda c: c.pre_open(actor=OPS, reason="r"), RefusalCode.JOURNAL_FAILED),
    "write-ahead fails on a relaxing degrade": (
        "FULL_OPEN", {"journal": FailingJournal()},
        lambda c: c.degrade(actor=OPS, reason="r"), RefusalCode.JOURNAL_FAILED),
}


@pytest.mark.parametrize("case", list(REFUSALS), ids=list(REFUSALS))
def test_a_refused_transition_raises_and_changes_nothing(case: str) -> None:
    """Phase, version, gate decisions, journal, entered_at and triggers are as before."""
    phase, kwargs, act, code = REFUSALS[case]
    kwargs = dict(kwargs)
    policy = kwargs.pop("policy", default_policy())
    journal = kwargs.pop("journal", None) or MemoryJournal()
    memory = journal if isinstance(journal, MemoryJournal) else None
    # Arrange: the venue in `phase`, one instrument halted, a history of three transitions.
    controller = Controller(policy, phases={VENUE: phase, BTC: "HALTED"}, version=3,
                            journal=journal, clock=ManualClock(1_000.0), **kwargs)
    if memory is not None:
        memory.append(TransitionRecord(3, BTC, "NORMAL", "HALTED", "halt", OPS, "r", 0.0, False))
    before = state_of(controller, memory)

    with capture_logs() as logs, pytest.raises(TransitionRefused) as refused:
        act(controller)

    assert refused.value.code is code
    assert state_of(controller, memory) == before
    assert [e["event"] for e in logs] == ["transition_refused"]
    assert logs[0]["code"] == code.value
    assert logs[0]["log_level"] == "warning"


def test_a_refusal_says_which_guard_said_no_and_keeps_the_cause() -> None:
    """GUARD_REJECTED names the guard; GUARD_FAILED chains the guard's exception."""
    boom = RuntimeError("feed down")
    policy = guarded_policy({("HALTED", "pre_open"): ("book_rebuilt",),
                             ("PRE_OPEN", "open"): ("prices_sane",)})
    rebuilt: list[bool] = []
    guards: dict[str, Guard] = {"book_rebuilt": lambda ctx: bool(rebuilt), "prices_sane": _raise(boom)}
    controller = make("HALTED", policy=policy, guards=guards)

    with pytest.raises(TransitionRefused, match="guard=book_rebuilt") as rejected:
        controller.pre_open(actor=OPS, reason="r")
    rebuilt.append(True)
    controller.pre_open(actor=OPS, reason="r")
    with pytest.raises(TransitionRefused, match="guard=prices_sane") as failed:
        controller.open(actor=OPS, reason="r")

    assert rejected.value.code is RefusalCode.GUARD_REJECTED
    assert rejected.value.phase == "HALTED"
    assert failed.value.code is RefusalCode.GUARD_FAILED
    assert failed.value.__cause__ is boom
    assert controller.phase() == "PRE_OPEN"


def test_an_authorizer_sees_the_actor_roles_and_lets_authorized_actors_through() -> None:
    """The authorizer gets the full context; returning None (or True) allows the transition."""
    seen: list[TransitionContext] = []

    def only_ops_may_relax(ctx: TransitionContext) -> bool | None:
        seen.append(ctx)
        return "ops" in ctx.actor.roles or not ctx.relaxing

    controller = make("HALTED", authorizer=only_ops_may_relax)

    with pytest.raises(TransitionRefused) as refused:
        controller.pre_open(actor="bot:restart", reason="r")
    record = controller.pre_open(actor=Actor("ops:alice", roles={"ops"}), reason="r")
    halted = controller.halt(actor="bot:watchdog", reason="r")

    assert refused.value.code is RefusalCode.UNAUTHORIZED
    assert record.dest == "PRE_OPEN"
    assert halted is not None
    assert [(c.actor.name, c.trigger, c.relaxing) for c in seen] == [
        ("bot:restart", "pre_open", True), ("ops:alice", "pre_open", True),
        ("bot:watchdog", "halt", False)]


# -- guards and the clock ----------------------------------------------------------------------


def test_guards_receive_the_transition_context_with_the_injected_clock() -> None:
    """A guard sees scope, phases, trigger, actor, reason, now, entered_at, dwell and version."""
    clock = ManualClock(100.0)
    seen: list[TransitionContext] = []

    def spy(ctx: TransitionContext) -> bool:
        seen.append(ctx)
        return True

    controller = Controller(guarded_policy({("HALTED", "pre_open"): ("spy",)}),
                            guards={"spy": spy}, clock=clock)
    clock.now = 110.0
    controller.halt(actor=OPS, reason="zone down")
    clock.now = 150.0

    controller.pre_open(actor=Actor(OPS, roles={"ops"}), reason="zone back")

    (ctx,) = seen
    assert (ctx.scope, ctx.source, ctx.dest, ctx.trigger) == (VENUE, "HALTED", "PRE_OPEN", "pre_open")
    assert ctx.actor == Actor(OPS, roles={"ops"})
    assert ctx.reason == "zone back"
    assert (ctx.now, ctx.entered_at, ctx.dwell) == (150.0, 110.0, 40.0)
    assert ctx.relaxing is True
    assert ctx.version == 2
    assert controller.entered_at() == 150.0


def test_a_dwell_guard_holds_the_phase_until_enough_time_has_passed() -> None:
    """With a fake clock, a minimum-dwell guard refuses early and allows once time has passed."""
    clock = ManualClock()
    controller = Controller(
        guarded_policy({("PRE_OPEN", "open"): ("min_dwell",)}),
        guards={"min_dwell": lambda ctx: ctx.dwell >= 300.0},
        phases={VENUE: "PRE_OPEN"}, clock=clock,
    )
    clock.now = 299.0
    with pytest.raises(TransitionRefused) as refused:
        controller.open(actor=OPS, reason="too early")
    assert refused.value.code is RefusalCode.GUARD_REJECTED
    assert controller.entered_at() == 0.0  # a refusal does not restart the dwell

    clock.now = 300.0
    assert controller.open(actor=OPS, reason="book rebuilt").dest == "FULL_OPEN"
    assert controller.entered_at() == 300.0


def test_an_instrument_dwell_starts_when_the_instrument_enters_its_phase() -> None:
    """entered_at is per scope: an instrument's halt does not reset the venue's dwell."""
    clock = ManualClock(10.0)
    controller = Controller(default_policy(), clock=clock)
    clock.now = 20.0
    controller.halt(actor=OPS, reason="r", scope=BTC)
    assert controller.entered_at(BTC) == 20.0
    assert controller.entered_at() == 10.0
    assert controller.entered_at(ETH) == 10.0  # no phase of its own: follows the venue


# -- the journal seam --------------------------------------------------------------------------


class SpyJournal:
    """Records what the gate showed at the moment each record was written."""

    def __init__(self) -> None:
        self.controller: Controller | None = None
        self.records: list[TransitionRecord] = []
        self.seen: list[tuple[str, int, int]] = []

    def append(self, record: TransitionRecord) -> None:
        assert self.controller is not None
        gate = self.controller.gate
        self.seen.append((gate.phase(record.scope), gate.version, self.controller.version))
        self.records.append(record)


def test_journals_satisfy_the_journal_protocol() -> None:
    """MemoryJournal and a one-method class are both journals."""
    assert isinstance(MemoryJournal(), Journal)
    assert isinstance(SpyJournal(), Journal)


def test_a_relaxing_transition_is_written_before_it_is_published() -> None:
    """Write-ahead: while the record is written, the gate still shows the old phase and version."""
    journal = SpyJournal()
    controller = make("HALTED", journal=journal)
    journal.controller = controller

    record = controller.pre_open(actor=OPS, reason="zone back")

    assert record.relaxing is True
    assert journal.records == [record]
    assert journal.seen == [("HALTED", 0, 0)]
    assert controller.gate.phase() == "PRE_OPEN"


def test_a_tightening_transition_is_published_before_it_is_written() -> None:
    """A halt takes effect first; storage can only ever delay the record, never the halt."""
    journal = SpyJournal()
    controller = make("FULL_OPEN", journal=journal)
    journal.controller = controller

    record = controller.halt(actor=OPS, reason="zone down")

    assert record is not None
    assert record.relaxing is False
    assert journal.records == [record]
    assert journal.seen == [("HALTED", 1, 1)]


def test_a_failed_write_ahead_refuses_the_relaxing_transition() -> None:
    """JOURNAL_FAILED: the phase stays, the cause is chained, nothing lands in unjournaled."""
    journal = FailingJournal()
    controller = make("HALTED", journal=journal)

    with pytest.raises(TransitionRefused) as refused:
        controller.pre_open(actor=OPS, reason="zone back")

    assert refused.value.code is RefusalCode.JOURNAL_FAILED
    assert isinstance(refused.value.__cause__, OSError)
    assert len(journal.attempts) == 1
    assert controller.phase() == "HALTED"
    assert controller.version == 0
    assert controller.unjournaled == []


@pytest.mark.parametrize(("phase", "trigger", "dest"), [
    ("NORMAL", "halt", "HALTED"), ("FULL_OPEN", "halt", "HALTED"),
    ("NORMAL", "degrade", "DEGRADED"),
])
def test_a_failed_journal_write_never_blocks_a_tightening_transition(
    phase: str, trigger: str, dest: str
) -> None:
    """The transition takes effect, is kept in `unjournaled`, and a critical event is emitted."""
    controller = make(phase, journal=FailingJournal())

    with capture_logs() as logs:
        record = controller.fire(trigger, actor=OPS, reason="zone down")

    assert controller.phase() == dest
    assert controller.version == 1
    assert controller.unjournaled == [record]
    critical = [e for e in logs if e["event"] == "journal_write_failed"]
    assert len(critical) == 1
    assert critical[0]["log_level"] == "critical"
    assert (critical[0]["scope"], critical[0]["version"], critical[0]["to_phase"],
            critical[0]["trigger"]) == (VENUE, 1, dest, trigger)
    assert "disk full" in critical[0]["error"]
    assert "phase_changed" in [e["event"] for e in logs]


def test_a_halt_with_a_failing_journal_still_rejects_new_orders() -> None:
    """The point of never blocking a halt: once halt() returns, new orders are refused."""
    controller = make(journal=FailingJournal())
    controller.halt(actor=OPS, reason="zone down")
    decision = controller.gate.check(Request.new_order(BTC, OrderType.LIMIT))
    assert not decision.accepted
    assert decision.reason is Reason.PHASE_HALTED


def test_every_transition_is_journaled_once_in_version_order() -> None:
    """Relaxing and tightening records alike end up in the journal, oldest first."""
    journal = MemoryJournal()
    controller = make(journal=journal)
    records = walk(controller, "degrade", "recover", *RESTART)
    records += walk(controller, "halt", "pre_open", scope=BTC)
    assert list(journal.records) == records
    assert [r.relaxing for r in records] == [False, True, False, True, True, True, False, True]


# -- halt --------------------------------------------------------------------------------------


@pytest.mark.parametrize("phase", ["NORMAL", "DEGRADED", "PRE_OPEN", "FULL_OPEN"])
def test_halt_moves_any_phase_to_halted(phase: str) -> None:
    """halt() works from every phase that is not already halted."""
    controller = make(phase)
    record = controller.halt(actor=OPS, reason="r")
    assert record is not None
    assert (record.source, record.dest, record.trigger) == (phase, "HALTED", "halt")
    assert controller.phase() == "HALTED"


def test_halt_when_already_halted_returns_none_and_changes_nothing() -> None:
    """halt() is idempotent: no new version, no journal record, no event."""
    controller, journal = _journaled()
    controller.halt(actor=OPS, reason="first")
    before = state_of(controller, journal)

    with capture_logs() as logs:
        again = controller.halt(actor=OPS, reason="second")
        again_on_btc = controller.halt(actor=OPS, reason="second", scope=BTC)

    assert again is None
    assert again_on_btc is None
    assert state_of(controller, journal) == before
    assert logs == []


def test_halt_still_checks_its_arguments_when_already_halted() -> None:
    """Idempotent does not mean anonymous: a bad actor is refused even then."""
    controller = make("HALTED")
    with pytest.raises(TransitionRefused) as refused:
        controller.halt(actor="", reason="r")
    assert refused.value.code is RefusalCode.INVALID_ARGUMENT


# -- scopes ------------------------------------------------------------------------------------


def test_halting_one_instrument_leaves_the_venue_and_other_instruments_trading() -> None:
    """An instrument halt rejects that instrument's orders only, reporting INSTRUMENT_HALTED."""
    controller = make()
    record = controller.halt(actor=OPS, reason="bad index price", scope=BTC)

    assert record is not None
    assert (record.scope, record.source, record.dest) == (BTC, "NORMAL", "HALTED")
    assert controller.phase() == "NORMAL"
    assert controller.phase(BTC) == "HALTED"
    assert controller.phase(ETH) == "NORMAL"
    assert dict(controller.gate.phases) == {VENUE: "NORMAL", BTC: "HALTED"}
    btc = controller.gate.check(Request.new_order(BTC, OrderType.LIMIT))
    assert (btc.accepted, btc.reason, btc.phase, btc.scope) == (
        False, Reason.INSTRUMENT_HALTED, "HALTED", INSTRUMENT)
    assert controller.gate.check(Request.new_order(ETH, OrderType.MARKET)).accepted
    assert controller.gate.check(Request.margin(add=False)).accepted


def test_an_instrument_restarts_through_pre_open_on_its_own() -> None:
    """An instrument walks halt -> pre_open -> open -> normalize while the venue stays NORMAL."""
    controller = make()
    walk(controller, "halt", "pre_open", scope=BTC)
    pre_open = controller.gate.check(Request.new_order(BTC, OrderType.LIMIT))
    post_only = controller.gate.check(Request.new_order(BTC, OrderType.LIMIT, post_only=True))
    walk(controller, "open", "normalize", scope=BTC)

    assert (pre_open.reason, pre_open.scope) == (Reason.POST_ONLY_REQUIRED, INSTRUMENT)
    assert post_only.accepted
    assert controller.gate.check(Request.new_order(BTC, OrderType.MARKET)).accepted
    assert controller.phase() == "NORMAL"
    assert controller.version == 4


def test_the_stricter_scope_decides() -> None:
    """Venue halted beats instrument degraded, and instrument halted beats venue degraded."""
    controller = make()
    controller.degrade(actor=OPS, reason="r", scope=BTC)
    controller.halt(actor=OPS, reason="r")
    venue_halted = controller.gate.check(Request.new_order(BTC, OrderType.LIMIT))
    walk(controller, "pre_open", "open", "degrade")
    walk(controller, "halt", scope=ETH)
    inst_halted = controller.gate.check(Request.new_order(ETH, OrderType.LIMIT))

    assert (venue_halted.reason, venue_halted.scope) == (Reason.PHASE_HALTED, VENUE)
    assert (inst_halted.reason, inst_halted.scope) == (Reason.INSTRUMENT_HALTED, INSTRUMENT)


def test_an_instrument_halt_outlasts_the_venue_restart() -> None:
    """Halting an instrument while the venue is halted still keeps it halted after the reopen."""
    controller = make("HALTED")
    assert controller.phase(BTC) == "HALTED"  # following the venue

    record = controller.halt(actor=OPS, reason="bad index price", scope=BTC)
    walk(controller, "pre_open", "open", "normalize")

    assert record is not None
    assert controller.phase() == "NORMAL"
    assert controller.phase(BTC) == "HALTED"
    assert not controller.gate.check(Request.new_order(BTC, OrderType.LIMIT)).accepted


def test_an_instrument_halt_is_not_lost_when_the_policy_starts_halted() -> None:
    """With a fail-safe initial phase, an instrument halt is still recorded (not 'already halted')."""
    controller = Controller(default_policy().with_changes(initial="HALTED"))
    assert controller.phase() == "HALTED"

    record = controller.halt(actor=OPS, reason="bad index price", scope=BTC)
    walk(controller, "pre_open", "open", "normalize")

    assert record is not None
    assert controller.phase(BTC) == "HALTED"
    assert not controller.gate.check(Request.new_order(BTC, OrderType.LIMIT)).accepted
    assert controller.gate.check(Request.new_order(ETH, OrderType.LIMIT)).accepted


# -- apply -------------------------------------------------------------------------------------


def _leader_history() -> tuple[Controller, list[TransitionRecord]]:
    clock = ManualClock()
    leader = make(journal=MemoryJournal(), clock=clock)
    records = []
    for trigger, scope in (("degrade", VENUE), ("halt", VENUE), ("halt", BTC),
                           ("pre_open", VENUE), ("open", VENUE)):
        clock.advance(10.0)
        records += walk(leader, trigger, scope=scope)
    return leader, records


def test_apply_replays_records_decided_elsewhere() -> None:
    """Applying a leader's records reproduces its phases, version and gate decisions."""
    leader, records = _leader_history()
    follower = make(clock=ManualClock(5_000.0))

    with capture_logs() as logs:
        for record in records:
            follower.apply(record)

    assert follower.gate.phases == leader.gate.phases
    assert follower.version == follower.gate.version == leader.version == 5
    assert [follower.gate.check(r) for r in SAMPLES] == [leader.gate.check(r) for r in SAMPLES]
    assert [e["event"] for e in logs] == ["phase_applied"] * 5
    # dwell clocks run on the receiver's clock, never from a timestamp inside a record
    assert follower.entered_at() == 5_000.0 != records[-1].timestamp


def test_apply_skips_guards_and_authorization_but_journals_the_record() -> None:
    """Guards and authorization ran where the transition was decided; the journal records it
    here too, so a restart comes back in the applied phase (issue #11)."""
    _, records = _leader_history()
    journal = MemoryJournal()
    follower = Controller(
        guarded_policy({("HALTED", "pre_open"): ("never",), ("PRE_OPEN", "open"): ("never",)}),
        guards={"never": lambda ctx: False}, authorizer=lambda ctx: False, journal=journal,
    )
    for record in records:
        follower.apply(record)
    assert follower.phase() == "FULL_OPEN"
    assert journal.records == tuple(records)


APPLIED_REFUSALS: dict[str, tuple[dict[str, Any], RefusalCode]] = {
    # name: (changes to the next good record, "open" PRE_OPEN -> FULL_OPEN at version 5; code)
    "the current version again": ({"version": 4}, RefusalCode.STALE_VERSION),
    "an older version": ({"version": 1}, RefusalCode.STALE_VERSION),
    "another source phase": ({"source": "HALTED", "dest": "PRE_OPEN", "trigger": "pre_open"},
                             RefusalCode.PHASE_MISMATCH),
    "another instrument phase": ({"scope": BTC, "source": "NORMAL", "dest": "HALTED",
                                  "trigger": "halt"}, RefusalCode.PHASE_MISMATCH),
    "a dest off the graph": ({"dest": "NORMAL"}, RefusalCode.TRANSITION_NOT_ALLOWED),
    "a trigger off the graph": ({"trigger": "recover"}, RefusalCode.TRANSITION_NOT_ALLOWED),
    "an unknown trigger": ({"trigger": "reopen_now"}, RefusalCode.TRANSITION_NOT_ALLOWED),
}


@pytest.mark.parametrize("case", list(APPLIED_REFUSALS), ids=list(APPLIED_REFUSALS))
def test_apply_refuses_a_record_that_does_not_fit_and_changes_nothing(case: str) -> None:
    """STALE_VERSION, PHASE_MISMATCH and TRANSITION_NOT_ALLOWED leave the follower as it was."""
    changes, code = APPLIED_REFUSALS[case]
    _, records = _leader_history()
    journal = MemoryJournal()
    follower = make(journal=journal)
    for record in records[:-1]:  # up to pre_open: version 4, venue PRE_OPEN, BTC HALTED
        follower.apply(record)
    before = state_of(follower, journal)

    with capture_logs() as logs, pytest.raises(TransitionRefused) as refused:
        follower.apply(attrs.evolve(records[-1], **changes))

    assert refused.value.code is code
    assert state_of(follower, journal) == before
    assert [(e["event"], e["code"]) for e in logs] == [("transition_refused", code.value)]
    follower.apply(records[-1])  # and the right record still fits
    assert follower.phase() == "FULL_OPEN"


def test_apply_needs_a_transition_record() -> None:
    """Anything but a TransitionRecord is a configuration error."""
    with pytest.raises(ConfigurationError, match="TransitionRecord"):
        make().apply({"version": 1})  # type: ignore[arg-type]


# -- audit events ------------------------------------------------------------------------------


def test_a_transition_emits_phase_changed_with_the_audit_fields() -> None:
    """phase_changed carries scope, from/to phase, trigger, actor, reason and version."""
    controller = make()
    with capture_logs() as logs:
        controller.halt(actor=OPS, reason="cloud zone down", scope=BTC)
        controller.degrade(actor=Actor("bot:latency"), reason="p99 > 50ms")

    assert [e["event"] for e in logs] == ["phase_changed", "phase_changed"]
    first, second = logs
    assert {k: first[k] for k in ("scope", "from_phase", "to_phase", "trigger", "actor", "reason",
                                  "version", "log_level")} == {
        "scope": BTC, "from_phase": "NORMAL", "to_phase": "HALTED", "trigger": "halt",
        "actor": OPS, "reason": "cloud zone down", "version": 1, "log_level": "info"}
    assert (second["scope"], second["to_phase"], second["actor"], second["reason"],
            second["version"]) == (VENUE, "DEGRADED", "bot:latency", "p99 > 50ms", 2)


def test_a_refused_transition_is_not_announced_as_a_phase_change() -> None:
    """Only transition_refused is emitted for a refusal."""
    controller = make()
    with capture_logs() as logs, pytest.raises(TransitionRefused):
        controller.open(actor=OPS, reason="r")
    assert [e["event"] for e in logs] == ["transition_refused"]


REFUSAL_EVENTS: dict[str, tuple[str, dict[str, Any], str, RefusalCode]] = {
    # name: (venue phase, controller kwargs, trigger, code)
    "unknown trigger": ("NORMAL", {}, "reopen_now", RefusalCode.UNKNOWN_TRIGGER),
    "no edge": ("NORMAL", {}, "open", RefusalCode.TRANSITION_NOT_ALLOWED),
    "guard false": ("HALTED", {"policy": guarded_policy({("HALTED", "pre_open"): ("g",)}),
                               "guards": {"g": lambda ctx: False}},
                    "pre_open", RefusalCode.GUARD_REJECTED),
    "guard raised": ("HALTED", {"policy": guarded_policy({("HALTED", "pre_open"): ("g",)}),
                                "guards": {"g": _raise(ValueError("x"))}},
                     "pre_open", RefusalCode.GUARD_FAILED),
    "authorizer raised": ("HALTED", {"authorizer": _raise(PermissionError("no"))},
                          "pre_open", RefusalCode.UNAUTHORIZED),
    "authorizer refused": ("HALTED", {"authorizer": _raise(TransitionRefused(
        RefusalCode.UNAUTHORIZED, scope=VENUE, phase="HALTED", trigger="pre_open", detail="no"))},
        "pre_open", RefusalCode.UNAUTHORIZED),
    "journal failed": ("HALTED", {"journal": FailingJournal()}, "pre_open",
                       RefusalCode.JOURNAL_FAILED),
}


@pytest.mark.parametrize("case", list(REFUSAL_EVENTS), ids=list(REFUSAL_EVENTS))
def test_a_refusal_event_carries_code_actor_and_the_callers_reason(case: str) -> None:
    """transition_refused says why it was refused and who asked, with the reason they gave."""
    phase, kwargs, trigger, code = REFUSAL_EVENTS[case]
    controller = make(phase, **kwargs)

    with capture_logs() as logs, pytest.raises(TransitionRefused):
        controller.fire(trigger, actor="ops:carol", reason="book rebuilt, reopening")

    (event,) = logs
    assert event["event"] == "transition_refused"
    assert event["log_level"] == "warning"
    assert (event["code"], event["actor"], event["reason"], event["scope"], event["phase"],
            event["trigger"]) == (code.value, "ops:carol", "book rebuilt, reopening", VENUE, phase,
                                  trigger)
    assert event["detail"]


def test_an_applied_refusal_event_carries_the_records_actor_and_reason() -> None:
    """A stale record is reported with the actor and reason it carries."""
    controller = make()
    record = controller.halt(actor=OPS, reason="zone down")
    assert record is not None
    with capture_logs() as logs, pytest.raises(TransitionRefused):
        controller.apply(record)
    (event,) = logs
    assert (event["code"], event["actor"], event["reason"]) == (
        "STALE_VERSION", OPS, "zone down")
