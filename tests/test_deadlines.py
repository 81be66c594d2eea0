"""Deadlines and maintenance windows: journaled data fired on the controller's clock."""

from __future__ import annotations

import pathlib
from typing import Any

import attrs
import pytest
from structlog.testing import capture_logs

from exchange_recovery import (
    VENUE,
    ConfigurationError,
    Controller,
    Deadlines,
    FiringOutcome,
    MaintenanceWindow,
    MaxStay,
    MemoryJournal,
    OrderType,
    Policy,
    Request,
    ScopeStatus,
    StayAction,
    WindowState,
    default_policy,
    recover,
)
from exchange_recovery._plan.deadlines import MAX_WINDOWS
from exchange_recovery.testing import ManualClock

START = 1_671_350_400.0
BOT = "auto:deadlines"
OPS = "ops:alice"
BTC = "BTC-USDT-SWAP"


def _policy(phase: str | None = None, stay: MaxStay | None = None,
            open_guards: tuple[str, ...] = ()) -> Policy:
    """The default policy with `stay` on `phase` and `open_guards` on PRE_OPEN -> FULL_OPEN."""
    base = default_policy()
    return base.with_changes(
        phases=tuple(attrs.evolve(p, max_stay=stay) if p.name == phase else p
                     for p in base.phases),
        transitions=tuple(attrs.evolve(t, guards=open_guards) if t.trigger == "open" else t
                          for t in base.transitions))


def _setup(policy: Policy, **options: Any) -> tuple[Controller, Deadlines, ManualClock]:
    clock = ManualClock(START)
    controller = Controller(policy, clock=clock, journal=MemoryJournal(), **options)
    return controller, Deadlines(controller, actor=BOT), clock


def _to_pre_open(controller: Controller, scope: str = VENUE) -> None:
    controller.halt(actor=OPS, reason="zone down", scope=scope)
    controller.pre_open(actor=OPS, reason="zone back", scope=scope)


# -- maximum stays ------------------------------------------------------------------------------


def test_alert_is_one_critical_event_and_the_phase_stays() -> None:
    """An ALERT deadline logs max_stay_exceeded once, at its time, and changes no phase."""
    controller, deadlines, clock = _setup(_policy("PRE_OPEN", MaxStay(600, StayAction.ALERT)))
    _to_pre_open(controller)
    deadlines.poll()
    clock.advance(599.5)
    with capture_logs() as early:
        assert deadlines.poll() == ()
    clock.advance(0.5)
    with capture_logs() as logs:
        fired = deadlines.poll()
        clock.advance(10)
        again = deadlines.poll()

    assert [(f.kind, f.outcome, f.at - f.due) for f in fired] == [
        ("max_stay", FiringOutcome.ALERTED, 0.0)]
    assert again == ()
    assert not [e for e in early if e["event"] == "max_stay_exceeded"]
    alerts = [e for e in logs if e["event"] == "max_stay_exceeded"]
    assert len(alerts) == 1
    assert alerts[0]["log_level"] == "critical"
    assert (alerts[0]["phase"], alerts[0]["due"]) == ("PRE_OPEN", START + 600)
    assert controller.phase() == "PRE_OPEN"
    (status,) = deadlines.status().deadlines
    assert status.fired is not None
    assert status.fired.outcome is FiringOutcome.ALERTED
    assert not status.overdue


def test_halt_fires_the_halt_trigger_at_the_deadline_and_not_before() -> None:
    """A HALT deadline halts the scope when it comes due, not a poll earlier."""
    controller, deadlines, clock = _setup(_policy("DEGRADED", MaxStay(60, StayAction.HALT)))
    controller.degrade(actor=OPS, reason="feed lag")
    clock.advance(59.9)
    assert deadlines.poll() == ()
    assert controller.phase() == "DEGRADED"
    clock.advance(0.1)

    (fired,) = deadlines.poll()

    assert (fired.outcome, fired.trigger, fired.due) == (FiringOutcome.FIRED, "halt", START + 60)
    assert controller.phase() == "HALTED"
    assert fired.version == controller.version


def test_the_deadline_counts_from_the_entry_even_when_first_polled_late() -> None:
    """A deadline is measured from when the scope entered the phase, not from the first poll."""
    controller, _, clock = _setup(_policy("DEGRADED", MaxStay(60, StayAction.HALT)))
    controller.degrade(actor=OPS, reason="feed lag")
    clock.advance(45)
    deadlines = Deadlines(controller, actor=BOT)  # built late: the visit is 45 s old
    deadlines.poll()
    assert deadlines.next_due() == START + 60
    clock.advance(15)
    assert [f.outcome for f in deadlines.poll()] == [FiringOutcome.FIRED]


def test_advance_fires_its_trigger_when_the_guards_pass() -> None:
    """An ADVANCE deadline fires MaxStay.trigger through the controller's guards."""
    controller, deadlines, clock = _setup(
        _policy("PRE_OPEN", MaxStay(300, StayAction.ADVANCE, trigger="open"), ("ready",)),
        guards={"ready": lambda _ctx: True})
    _to_pre_open(controller)
    deadlines.poll()
    clock.advance(300)
    (fired,) = deadlines.poll()
    assert (fired.outcome, fired.trigger) == (FiringOutcome.FIRED, "open")
    assert controller.phase() == "FULL_OPEN"


def test_advance_refused_by_its_guards_stays_overdue_and_retries_at_each_poll() -> None:
    """While the guards refuse, the scope stays, the deadline is overdue, and each poll retries."""
    ready = [False]
    controller, deadlines, clock = _setup(
        _policy("PRE_OPEN", MaxStay(300, StayAction.ADVANCE, trigger="open"), ("ready",)),
        guards={"ready": lambda _ctx: ready[0]})
    _to_pre_open(controller)
    deadlines.poll()
    clock.advance(300)

    first = deadlines.poll()
    clock.advance(1)
    second = deadlines.poll()

    assert [f.outcome for f in (*first, *second)] == [FiringOutcome.REFUSED, FiringOutcome.REFUSED]
    assert first[0].detail == "GUARD_REJECTED"
    assert controller.phase() == "PRE_OPEN"
    (status,) = deadlines.status().deadlines
    assert status.overdue
    assert deadlines.retry_after() == clock.now  # the next poll tries again
    ready[0] = True
    clock.advance(1)
    assert [f.outcome for f in deadlines.poll()] == [FiringOutcome.FIRED]
    assert controller.phase() == "FULL_OPEN"


def test_a_deadline_fires_once_per_visit_and_again_on_the_next_visit() -> None:
    """One firing per visit of the phase; leaving and coming back starts a new deadline."""
    controller, deadlines, clock = _setup(_policy("PRE_OPEN", MaxStay(60, StayAction.ALERT)))
    _to_pre_open(controller)
    deadlines.poll()
    clock.advance(60)
    assert len(deadlines.poll()) == 1
    clock.advance(60)
    assert deadlines.poll() == ()

    _to_pre_open(controller)  # a new visit
    deadlines.poll()
    assert deadlines.next_due() == clock.now + 60
    clock.advance(60)
    assert len(deadlines.poll()) == 1


def test_each_scope_has_its_own_deadline() -> None:
    """An instrument's visit has its own deadline, from its own entry."""
    controller, deadlines, clock = _setup(_policy("HALTED", MaxStay(100, StayAction.ALERT)))
    controller.halt(actor=OPS, reason="x", scope=BTC)
    clock.advance(50)
    controller.halt(actor=OPS, reason="y")
    deadlines.poll()
    assert (deadlines.next_due(BTC), deadlines.next_due()) == (START + 100, START + 150)
    clock.advance(50)
    assert [f.scope for f in deadlines.poll()] == [BTC]


def test_the_deadline_is_journaled_and_a_recovered_controller_keeps_it(
        tmp_path: pathlib.Path) -> None:
    """After recover(), the deadline is the journaled one, not counted again from the restart."""
    policy = _policy("PRE_OPEN", MaxStay(600, StayAction.HALT))
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(START)
    first = recover(path, policy, create=True, durability="none", clock=clock)
    _to_pre_open(first)
    Deadlines(first, actor=BOT).poll()
    note = first.last_note("deadline")
    assert note is not None
    assert note.data["due"] == START + 600

    clock.advance(500)  # the process dies; a new one starts 500 s later
    again = recover(path, policy, durability="none", clock=clock)
    deadlines = Deadlines(again, actor=BOT)
    assert deadlines.poll() == ()
    assert deadlines.next_due() == START + 600
    clock.advance(100)
    assert [f.outcome for f in deadlines.poll()] == [FiringOutcome.FIRED]
    assert again.phase() == "HALTED"


def test_a_fired_alert_is_not_repeated_after_recovery(tmp_path: pathlib.Path) -> None:
    """The firing is journaled with the deadline: a recovered process does not alert again."""
    policy = _policy("PRE_OPEN", MaxStay(60, StayAction.ALERT))
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(START)
    first = recover(path, policy, create=True, durability="none", clock=clock)
    _to_pre_open(first)
    deadlines = Deadlines(first, actor=BOT)
    deadlines.poll()
    clock.advance(60)
    assert len(deadlines.poll()) == 1

    clock.advance(10)
    again = Deadlines(recover(path, policy, durability="none", clock=clock), actor=BOT)
    with capture_logs() as logs:
        assert again.poll() == ()
    assert not [e for e in logs if e["event"] == "max_stay_exceeded"]


def test_without_a_journal_deadlines_still_fire_in_memory() -> None:
    """A controller with no journal: nothing is journaled, deadlines still fire."""
    clock = ManualClock(START)
    controller = Controller(_policy("DEGRADED", MaxStay(5, StayAction.HALT)), clock=clock)
    deadlines = Deadlines(controller, actor=BOT)
    controller.degrade(actor=OPS, reason="lag")
    deadlines.poll()
    clock.advance(5)
    assert [f.outcome for f in deadlines.poll()] == [FiringOutcome.FIRED]


# -- maintenance windows ------------------------------------------------------------------------


def _window(**changes: Any) -> MaintenanceWindow:
    fields: dict[str, Any] = {"id": "upgrade-1", "begin": START + 100, "end": START + 400,
                              "pre_open_begin": START + 300, "reason": "engine upgrade"}
    fields.update(changes)
    return MaintenanceWindow(**fields)


def _states(deadlines: Deadlines) -> list[str]:
    return [w.state.value for w in deadlines.status().windows]


def test_a_window_goes_scheduled_ongoing_pre_open_completed_and_moves_the_phase() -> None:
    """begin halts, pre_open_begin pre-opens, end takes the next planned step; OKX's states."""
    controller, deadlines, clock = _setup(default_policy())
    deadlines.announce(_window(), actor=OPS)
    seen = []
    for at in (99.5, 100, 299.9, 300, 399.9, 400):
        clock.now = START + at
        fired = deadlines.poll()
        seen.append((at, _states(deadlines)[0], controller.phase(),
                     [(f.kind, f.outcome.value) for f in fired]))

    assert seen == [
        (99.5, "scheduled", "NORMAL", []),
        (100, "ongoing", "HALTED", [("begin", "FIRED")]),
        (299.9, "ongoing", "HALTED", []),
        (300, "pre_open", "PRE_OPEN", [("pre_open", "FIRED")]),
        (399.9, "pre_open", "PRE_OPEN", []),
        (400, "completed", "FULL_OPEN", [("end", "FIRED")]),
    ]
    assert deadlines.next_due() is None


def test_a_window_without_pre_open_begin_pre_opens_at_its_end() -> None:
    """With no pre-open begin, the end's next planned step out of the halt is the pre-open."""
    controller, deadlines, clock = _setup(default_policy())
    deadlines.announce(_window(pre_open_begin=None), actor=OPS)
    clock.now = START + 100
    deadlines.poll()
    clock.now = START + 400
    assert [f.trigger for f in deadlines.poll()] == ["pre_open"]
    assert controller.phase() == "PRE_OPEN"


def test_a_canceled_window_fires_nothing_and_shows_canceled() -> None:
    """A canceled window never halts; its state is CANCELED."""
    controller, deadlines, clock = _setup(default_policy())
    deadlines.announce(_window(), actor=OPS)
    status = deadlines.cancel("upgrade-1", actor=OPS)
    assert status.state is WindowState.CANCELED
    for at in (100, 300, 400):
        clock.now = START + at
        assert deadlines.poll() == ()
    assert controller.phase() == "NORMAL"
    assert _states(deadlines) == ["canceled"]
    assert deadlines.cancel("upgrade-1", actor=OPS).state is WindowState.CANCELED


def test_a_relaxing_step_whose_guards_refuse_is_reported_and_not_taken() -> None:
    """The end's open is refused by its guard: the window reports it, the scope stays."""
    controller, deadlines, clock = _setup(_policy(open_guards=("ready",)),
                                          guards={"ready": lambda _ctx: False})
    deadlines.announce(_window(), actor=OPS)
    for at in (100, 300):
        clock.now = START + at
        deadlines.poll()
    clock.now = START + 400
    (end,) = deadlines.poll()
    assert (end.kind, end.outcome, end.detail) == ("end", FiringOutcome.REFUSED, "GUARD_REJECTED")
    assert controller.phase() == "PRE_OPEN"
    assert _states(deadlines) == ["completed"]


def test_a_step_from_a_phase_it_does_not_start_from_is_skipped() -> None:
    """An operator moved the scope on: the window's pre-open does not drag it back."""
    controller, deadlines, clock = _setup(default_policy())
    deadlines.announce(_window(), actor=OPS)
    clock.now = START + 100
    deadlines.poll()
    controller.pre_open(actor=OPS, reason="early")
    controller.open(actor=OPS, reason="early")
    clock.now = START + 300
    (step,) = deadlines.poll()
    assert (step.kind, step.outcome) == ("pre_open", FiringOutcome.SKIPPED)
    assert controller.phase() == "FULL_OPEN"


def test_an_instrument_window_halts_only_that_instrument() -> None:
    """A window's scope is where it acts: an instrument's window leaves the venue alone."""
    controller, deadlines, clock = _setup(default_policy())
    deadlines.announce(_window(scope=BTC), actor=OPS)
    clock.now = START + 100
    deadlines.poll()
    assert (controller.phase(BTC), controller.phase()) == ("HALTED", "NORMAL")


def test_a_window_that_ended_before_its_first_poll_is_missed_not_fired() -> None:
    """A window whose end passed before anyone polled does nothing (no late halt)."""
    controller, deadlines, clock = _setup(default_policy())
    deadlines.announce(_window(), actor=OPS)
    clock.now = START + 500
    assert {f.outcome for f in deadlines.poll()} == {FiringOutcome.MISSED}
    assert controller.phase() == "NORMAL"


def test_windows_are_journaled_and_come_back_after_recovery(tmp_path: pathlib.Path) -> None:
    """A recovered controller's Deadlines has the windows, and what already fired for them."""
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(START)
    first = recover(path, default_policy(), create=True, durability="none", clock=clock)
    deadlines = Deadlines(first, actor=BOT)
    deadlines.announce(_window(), actor=OPS)
    deadlines.announce(_window(id="later", begin=START + 1000, end=START + 2000,
                               pre_open_begin=None), actor=OPS)
    clock.now = START + 100
    deadlines.poll()

    again = recover(path, default_policy(), durability="none", clock=clock)
    restored = Deadlines(again, actor=BOT)
    assert [(w.window.id, w.state.value, [f.kind for f in w.fired])
            for w in restored.status().windows] == [
        ("upgrade-1", "ongoing", ["begin"]), ("later", "scheduled", [])]
    assert restored.poll() == ()  # begin is not fired again
    clock.now = START + 300
    assert [f.kind for f in restored.poll()] == ["pre_open"]


def test_next_due_and_retry_after_come_from_windows_and_advancing_deadlines() -> None:
    """next_due: any next change; retry_after: the next relaxing one (venue's count for all)."""
    _controller, deadlines, clock = _setup(
        _policy("HALTED", MaxStay(1000, StayAction.ADVANCE, trigger="pre_open")))
    assert (deadlines.next_due(), deadlines.retry_after()) == (None, None)
    deadlines.announce(_window(), actor=OPS)
    assert deadlines.next_due() == START + 100
    assert deadlines.retry_after() == START + 300
    assert deadlines.retry_after(BTC) == START + 300  # an instrument follows the venue
    assert deadlines.next_due(BTC) is None
    clock.now = START + 100
    deadlines.poll()  # halted: the ADVANCE deadline at +1100 comes after the window's steps
    assert deadlines.next_due() == START + 300
    clock.now = START + 400
    deadlines.poll()
    assert deadlines.retry_after() is None


def test_the_status_document_shows_the_scopes_windows_with_their_state() -> None:
    """ScopeStatus lists a scope's windows (OKX states and times), and only with windows."""
    controller, deadlines, clock = _setup(default_policy())
    plain = ScopeStatus.of_controller(controller, deadlines=deadlines).to_dict()
    assert "maintenance" not in plain
    deadlines.announce(_window(), actor=OPS)
    clock.now = START + 300
    deadlines.poll()

    doc = ScopeStatus.of_controller(controller, deadlines=deadlines)

    assert doc.to_dict()["maintenance"] == [{
        "id": "upgrade-1", "state": "pre_open", "begin": START + 100, "end": START + 400,
        "pre_open_begin": START + 300, "reason": "engine upgrade"}]
    (okx,) = doc.to_okx_maintenance()
    assert (okx["state"], okx["begin"], okx["preOpenBegin"], okx["end"]) == (
        "pre_open", str(round((START + 100) * 1000)), str(round((START + 300) * 1000)),
        str(round((START + 400) * 1000)))
    assert ScopeStatus.of_controller(controller, BTC, deadlines=deadlines).maintenance == ()
    with pytest.raises(ConfigurationError, match="deadlines"):
        ScopeStatus.of_controller(controller, deadlines="x")  # type: ignore[arg-type]


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("changes", "field"), [
    ({"id": ""}, "id"), ({"id": "a\nb"}, "id"), ({"id": 7}, "id"), ({"id": "x" * 65}, "id"),
    ({"begin": float("nan")}, "begin"), ({"begin": True}, "begin"), ({"begin": -1}, "begin"),
    ({"end": float("inf")}, "end"), ({"end": "soon"}, "end"), ({"end": START + 50}, "end"),
    ({"pre_open_begin": START + 100}, "pre_open_begin"),
    ({"pre_open_begin": START + 400}, "pre_open_begin"),
    ({"pre_open_begin": START + 500}, "pre_open_begin"),
    ({"scope": ""}, "scope"), ({"scope": None}, "scope"),
    ({"reason": None}, "reason"), ({"reason": "r" * 201}, "reason"),
])
def test_a_bad_window_is_a_configuration_error_naming_the_field(
        changes: dict[str, Any], field: str) -> None:
    """Each bad field of a window is refused when it is built, by name."""
    with pytest.raises(ConfigurationError, match=f"^{field}"):
        _window(**changes)


def test_announce_refuses_a_taken_id_an_overlap_an_ended_window_and_a_full_scope() -> None:
    """announce checks the window against the schedule; nothing changes when it refuses."""
    _, deadlines, clock = _setup(default_policy())
    deadlines.announce(_window(), actor=OPS)
    with pytest.raises(ConfigurationError, match="taken"):
        deadlines.announce(_window(begin=START + 5000, end=START + 6000, pre_open_begin=None),
                           actor=OPS)
    with pytest.raises(ConfigurationError, match="overlaps"):
        deadlines.announce(_window(id="other"), actor=OPS)
    with pytest.raises(ConfigurationError, match="ended"):
        deadlines.announce(_window(id="old", begin=START - 100, end=START, pre_open_begin=None),
                           actor=OPS)
    for i in range(1, MAX_WINDOWS):
        deadlines.announce(_window(id=f"w{i}", begin=START + 1000 * i, end=START + 1000 * i + 1,
                                   pre_open_begin=None), actor=OPS)
    with pytest.raises(ConfigurationError, match="still to run"):
        deadlines.announce(_window(id="one-too-many", begin=START + 90_000,
                                   end=START + 90_001, pre_open_begin=None), actor=OPS)
    assert len(deadlines.status().windows) == MAX_WINDOWS
    for bad in ("window", None):
        with pytest.raises(ConfigurationError, match="window"):
            deadlines.announce(bad, actor=OPS)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="actor"):
        deadlines.announce(_window(id="z", begin=START + 95_000, end=START + 95_001,
                                   pre_open_begin=None), actor="")
    clock.now = START + 1e6  # finished windows make room for new ones
    deadlines.poll()
    deadlines.announce(_window(id="fresh", begin=START + 2e6, end=START + 2e6 + 1,
                               pre_open_begin=None), actor=OPS)


def test_cancel_refuses_an_unknown_or_completed_window() -> None:
    """Only a known window that has not completed can be canceled."""
    _, deadlines, clock = _setup(default_policy())
    with pytest.raises(ConfigurationError, match="no window"):
        deadlines.cancel("nope", actor=OPS)
    with pytest.raises(ConfigurationError, match="window_id"):
        deadlines.cancel(["x"], actor=OPS)  # type: ignore[arg-type]
    deadlines.announce(_window(), actor=OPS)
    clock.now = START + 400
    deadlines.poll()
    with pytest.raises(ConfigurationError, match="completed"):
        deadlines.cancel("upgrade-1", actor=OPS)


def test_deadlines_needs_a_controller_and_an_actor() -> None:
    """A bad controller, actor or scope is a ConfigurationError naming it."""
    controller = Controller(default_policy())
    with pytest.raises(ConfigurationError, match="Controller"):
        Deadlines("controller", actor=BOT)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="actor"):
        Deadlines(controller, actor=" bot")
    with pytest.raises(ConfigurationError, match="scope"):
        Deadlines(controller, actor=BOT).next_due(None)  # type: ignore[arg-type]


def test_a_listener_may_read_the_schedule_while_a_poll_fires() -> None:
    """A listener called by a transition that poll fired can read status (no lock is held)."""
    controller, deadlines, clock = _setup(_policy("DEGRADED", MaxStay(5, StayAction.HALT)))
    seen: list[Any] = []
    controller.add_listener(lambda change: seen.append(
        (change.dest, deadlines.status().deadlines, deadlines.poll())))
    controller.degrade(actor=OPS, reason="lag")
    deadlines.poll()
    clock.advance(5)
    deadlines.poll()
    assert [(dest, polled) for dest, _, polled in seen] == [("DEGRADED", ()), ("HALTED", ())]


def test_refusals_carry_the_maintenance_windows_end_as_retry_after() -> None:
    """While a window holds the venue halted, the gate's refusals say when it ends."""
    clock = ManualClock(1000.0)
    controller = Controller(default_policy(), clock=clock, journal=MemoryJournal())
    scheduler = Deadlines(controller, actor="auto:deadlines")
    scheduler.announce(MaintenanceWindow("w1", begin=1010.0, end=1600.0, pre_open_begin=1500.0),
                       actor="ops:alice")
    clock.advance(10)
    scheduler.poll()
    order = Request.new_order("BTC-USDT", OrderType.LIMIT)

    refused = controller.gate.check(order)

    assert controller.phase() == "HALTED"
    assert not refused.accepted
    assert refused.retry_after == 1500.0  # the pre-open begin: the next relaxing step
    clock.advance(490)
    scheduler.poll()
    assert controller.phase() == "PRE_OPEN"
    assert controller.gate.check(order).retry_after == 1600.0
