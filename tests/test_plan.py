"""Restart plans: status in words and data, advance only when unblocked, abort, simulate."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from exchange_recovery import (
    Abort,
    Actor,
    Advance,
    Approve,
    ConfigurationError,
    Controller,
    Fire,
    HealthChecks,
    PlanRunner,
    RefusalCode,
    SetHealth,
    TransitionRefused,
    Wait,
    default_policy,
    default_restart_plan,
    simulate,
)
from exchange_recovery._cli.demo import plan_story
from exchange_recovery.testing import ManualClock

ALICE = Actor("ops:alice", {"operator"})
BOB = Actor("ops:bob", {"supervisor"})
BREAKER = Actor("breaker:latency", {"automation"})
HEALTHY = {"book_uncrossed": True, "market_data_fresh": True, "cloud_zone_healthy": True}


def runner(health: dict[str, bool] | None = None) -> tuple[PlanRunner, ManualClock]:
    clock = ManualClock()
    plan = default_restart_plan(min_pre_open=600, full_open_dwell=1800)
    return PlanRunner.create(plan, health=HealthChecks(health or HEALTHY), clock=clock), clock


def full_open() -> tuple[PlanRunner, ManualClock]:
    """A runner taken through pre-open (minimum stay, approval) into FULL_OPEN."""
    r, clock = runner()
    r.advance(ALICE)
    clock.now = 600
    r.approve(BOB)
    r.advance(ALICE)
    return r, clock


def test_default_plan_mirrors_the_seed_restart() -> None:
    """HALTED -> PRE_OPEN -> FULL_OPEN -> NORMAL, each step's exit criteria from the policy."""
    plan = default_restart_plan(min_pre_open=300)

    assert [s.phase for s in plan.steps] == ["HALTED", "PRE_OPEN", "FULL_OPEN", "NORMAL"]
    assert plan.exit_criteria(0) == ("cloud_zone_healthy",)
    assert set(plan.exit_criteria(1)) == {"pre_open_min_stay", "book_uncrossed",
                                          "market_data_fresh", "cloud_zone_healthy",
                                          "supervisor_approval"}
    assert plan.policy.guard("pre_open_min_stay").seconds == 300  # type: ignore[union-attr]
    assert plan.exit_criteria(3) == ()


def test_status_lists_what_blocks_the_next_step_in_words_and_data() -> None:
    r, clock = runner({**HEALTHY, "book_uncrossed": False})
    r.advance(ALICE)
    clock.now = 300

    status = r.status()

    assert (status.phase, status.step, status.next_trigger, status.next_phase) == \
        ("PRE_OPEN", 1, "open", "FULL_OPEN")
    assert not status.ready
    assert {c.name: c.code for c in status.blocking} == {
        "pre_open_min_stay": RefusalCode.DWELL_NOT_MET,
        "book_uncrossed": RefusalCode.HEALTH_CHECK_FAILED,
        "supervisor_approval": RefusalCode.APPROVAL_MISSING,
    }
    assert {c.name for c in status.satisfied} == {"market_data_fresh", "cloud_zone_healthy"}
    text = str(status)
    assert "step 2/4 PRE_OPEN" in text
    assert "blocked by 3" in text
    assert "remaining=5 min" in text


def test_status_for_an_actor_says_whether_that_actor_may_take_the_step() -> None:
    r, clock = runner()
    r.advance(ALICE)
    clock.now = 600
    r.approve(BOB)

    assert r.status().ready
    assert r.status(ALICE).ready
    bob = r.status(BOB)
    assert [c.code for c in bob.blocking] == [RefusalCode.SELF_APPROVAL]
    assert [c.code for c in r.status(BREAKER).blocking] == [RefusalCode.UNAUTHORIZED]


def test_advance_refuses_while_anything_blocks_and_changes_nothing() -> None:
    r, clock = runner()
    r.advance(ALICE)
    clock.now = 599
    r.approve(BOB)

    with capture_logs() as logs, pytest.raises(TransitionRefused) as caught:
        r.advance(ALICE)

    assert caught.value.code is RefusalCode.DWELL_NOT_MET
    assert r.controller.phase() == "PRE_OPEN"
    assert r.controller.version == 1
    assert {"event": "plan_advance_refused", "actor": "ops:alice"}.items() <= logs[-1].items()


def test_advance_takes_the_step_once_everything_holds() -> None:
    r, clock = runner()
    r.advance(ALICE)
    clock.now = 600
    r.approve(BOB)

    record = r.advance(ALICE)

    assert (record.source, record.dest, record.actor) == ("PRE_OPEN", "FULL_OPEN", "ops:alice")
    assert r.status().step == 2


def test_a_halt_during_the_plan_sends_it_back_to_its_first_step() -> None:
    """Whoever halts, the plan restarts from step 1, and the pre-open stay starts over."""
    r, _ = full_open()
    r.controller.halt(actor=BREAKER, reason="zone flapped")

    status = r.status()

    assert (status.step, status.phase, status.restarts) == (0, "HALTED", 1)
    assert "sent back to step 1" in str(status)
    r.advance(ALICE)
    assert RefusalCode.DWELL_NOT_MET in {c.code for c in r.status().blocking}


def test_abort_halts_withdraws_approvals_and_logs_the_actor() -> None:
    r, _ = runner()
    r.advance(ALICE)
    r.approve(BOB)

    with capture_logs() as logs:
        record = r.abort(ALICE, "book looks wrong")

    assert record is not None
    assert record.dest == "HALTED"
    assert r.approvals is not None
    assert r.approvals.records == ()
    assert {"event": "plan_aborted", "actor": "ops:alice",
            "reason": "book looks wrong"}.items() <= logs[-1].items()
    assert r.abort(ALICE, "again") is None


def test_a_phase_outside_the_plan_is_off_plan_until_halted() -> None:
    """FULL_OPEN -> DEGRADED leaves the plan; advance is refused as NOT_ON_PLAN."""
    r, clock = full_open()
    clock.advance(1800)  # leaving FULL_OPEN for DEGRADED lifts protections: dwell and approval
    assert r.approvals is not None
    r.approvals.approve(BOB, "degrade")
    r.controller.fire("degrade", actor=ALICE, reason="lag")

    assert r.status().step is None
    assert "OFF PLAN" in str(r.status())
    with pytest.raises(TransitionRefused) as caught:
        r.advance(ALICE)
    assert caught.value.code is RefusalCode.NOT_ON_PLAN


def test_a_complete_plan_has_nothing_to_advance() -> None:
    r, clock = full_open()
    clock.advance(1800)
    r.approve(BOB)
    r.advance(ALICE)

    assert r.status().complete
    with pytest.raises(TransitionRefused) as caught:
        r.advance(ALICE)
    assert caught.value.code is RefusalCode.PLAN_COMPLETE


def test_a_runner_refuses_a_controller_on_another_policy() -> None:
    with pytest.raises(ConfigurationError, match="same policy"):
        PlanRunner(default_restart_plan(), Controller(default_policy()))


def test_simulate_returns_the_timeline_of_phases_and_refusals() -> None:
    timeline = simulate(default_restart_plan(min_pre_open=600), [
        Advance(ALICE), Wait(300), Advance(ALICE), Approve(BOB), Wait(300), Advance(ALICE),
        Fire("halt", BREAKER, "zone flapped"), Abort(ALICE, "stand down"),
    ], health=HEALTHY)

    assert [phase for _, phase in timeline.phases] == ["HALTED", "PRE_OPEN", "FULL_OPEN",
                                                        "HALTED"]
    assert [(e.at, e.refusal) for e in timeline.refusals] == [(300, RefusalCode.DWELL_NOT_MET)]
    assert [r.dest for r in timeline.journal] == ["PRE_OPEN", "FULL_OPEN", "HALTED"]
    assert timeline.final.step == 0
    assert "REFUSED DWELL_NOT_MET" in str(timeline.refusals[0])


def test_simulate_health_flips_block_and_unblock_the_step() -> None:
    timeline = simulate(default_restart_plan(min_pre_open=0), [
        Advance(ALICE), Approve(BOB), SetHealth("cloud_zone_healthy", False), Advance(ALICE),
        SetHealth("cloud_zone_healthy", True), Advance(ALICE),
    ], health=HEALTHY)

    assert [e.refusal for e in timeline.refusals] == [RefusalCode.HEALTH_CHECK_FAILED]
    assert timeline.final.phase == "FULL_OPEN"


def test_simulate_refuses_a_negative_wait() -> None:
    with pytest.raises(ConfigurationError, match=r"Wait\.seconds"):
        simulate(default_restart_plan(), [Wait(-1)])


def test_demo_shows_why_the_venue_could_not_open_at_minute_5_and_could_at_12() -> None:
    text = "\n".join(plan_story())
    at_5 = text[text.index("Status at minute 5:"):text.index("Status at minute 12:")]
    at_12 = text[text.index("Status at minute 12:"):]

    assert "blocked by 3" in at_5
    for code in ("DWELL_NOT_MET", "HEALTH_CHECK_FAILED", "APPROVAL_MISSING"):
        assert code in at_5
    assert "open -> FULL_OPEN: ready" in at_12
    assert "12.0 min  FULL_OPEN  advance by ops:alice  PRE_OPEN -> FULL_OPEN" in text
    assert "REFUSED SELF_APPROVAL" in text
    assert "REFUSED APPROVER_UNAUTHORIZED" in text


def test_a_refused_step_names_each_blocker_with_its_own_code() -> None:
    """Three blockers: each listed under its own code, not all under the first one's."""
    r, _ = runner()
    r.advance(ALICE)
    with pytest.raises(TransitionRefused) as caught:
        r.advance(ALICE)
    detail = caught.value.detail
    assert "pre_open_min_stay: DWELL_NOT_MET" in detail
    assert "supervisor_approval: APPROVAL_MISSING" in detail
