"""Built-in guards (dwell, health, approval) and role authorization on the controller."""

from __future__ import annotations

from collections.abc import Callable

import attrs
import pytest
from structlog.testing import capture_logs

from exchange_recovery import (
    VENUE,
    Actor,
    Approvals,
    ConfigurationError,
    Controller,
    HealthChecks,
    MemoryJournal,
    RefusalCode,
    RoleAuthorizer,
    TransitionContext,
    TransitionRefused,
    default_policy,
    policy_guards,
    restart_policy,
)
from exchange_recovery.testing import ManualClock

ALICE = Actor("ops:alice", {"operator"})
BOB = Actor("ops:bob", {"supervisor"})
CAROL = Actor("ops:carol", {"supervisor"})
BREAKER = Actor("breaker:latency", {"automation"})
HEALTHY = ("book_uncrossed", "market_data_fresh", "cloud_zone_healthy")
MIN_STAY = 600.0


@attrs.define
class Rig:
    """A controller on `restart_policy()` with its health checks, approvals and clock."""

    controller: Controller
    health: HealthChecks
    approvals: Approvals
    clock: ManualClock
    journal: MemoryJournal

    def refused(self, trigger: str, actor: Actor | str) -> TransitionRefused:
        """Fire `trigger`, expect a refusal that changed nothing, and return it."""
        before = (self.controller.phase(), self.controller.version, self.journal.records)
        with pytest.raises(TransitionRefused) as caught:
            self.controller.fire(trigger, actor=actor, reason="test")
        assert (self.controller.phase(), self.controller.version, self.journal.records) == before
        return caught.value


def rig(phase: str = "PRE_OPEN", healthy: bool = True) -> Rig:
    clock = ManualClock(1_000.0)
    policy = restart_policy(min_pre_open=MIN_STAY, full_open_dwell=1800)
    health = HealthChecks(dict.fromkeys(HEALTHY, healthy))
    approvals = Approvals(policy, clock=clock)
    journal = MemoryJournal()
    controller = Controller(
        policy, guards=policy_guards(policy, health=health, approvals=approvals),
        authorizer=RoleAuthorizer(policy, approvals=approvals), clock=clock, journal=journal,
        phases={VENUE: phase},
    )
    return Rig(controller, health, approvals, clock, journal)


def ready_to_open() -> Rig:
    """In PRE_OPEN for the minimum stay, everything healthy, approved by a supervisor."""
    r = rig()
    r.clock.advance(MIN_STAY)
    r.approvals.approve(BOB, "open")
    return r


# -- dwell ---------------------------------------------------------------------------------------


def test_dwell_guard_refuses_before_the_minimum_stay_and_says_how_long_remains() -> None:
    """One second short of the minimum is DWELL_NOT_MET, with the time still to wait."""
    r = ready_to_open()
    r.clock.now -= 1

    refusal = r.refused("open", ALICE)

    assert refusal.code is RefusalCode.DWELL_NOT_MET
    assert "guard=pre_open_min_stay" in refusal.detail
    assert "remaining=1 s" in refusal.detail


def test_dwell_guard_lets_the_transition_through_once_the_stay_is_over() -> None:
    """Exactly the minimum stay is enough."""
    r = ready_to_open()

    assert r.controller.fire("open", actor=ALICE, reason="books rebuilt").dest == "FULL_OPEN"


def test_dwell_counts_from_the_latest_entry_into_the_phase() -> None:
    """A halt and a new pre-open restart the minimum stay."""
    r = ready_to_open()
    r.controller.halt(actor=BREAKER, reason="zone flapped")
    r.controller.fire("pre_open", actor=ALICE, reason="zone back")
    r.approvals.approve(BOB, "open")

    assert r.refused("open", ALICE).code is RefusalCode.DWELL_NOT_MET


# -- health --------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [False, None, "yes", 1])
def test_health_guard_refuses_unless_the_check_answers_true(answer: object) -> None:
    """Only True is healthy: falsy and truthy non-bools both fail closed."""
    r = ready_to_open()
    r.health.register("book_uncrossed", lambda: answer)  # type: ignore[arg-type,return-value]

    refusal = r.refused("open", ALICE)

    assert refusal.code is RefusalCode.HEALTH_CHECK_FAILED
    assert f"book_uncrossed={answer!r}" in refusal.detail


def test_health_guard_refuses_when_the_check_raises_or_was_never_registered() -> None:
    """A check that raises or is missing counts as unhealthy, with the reason."""
    r = ready_to_open()

    def broken() -> bool:
        msg = "feed handler gone"
        raise RuntimeError(msg)

    r.health.register("market_data_fresh", broken)

    refusal = r.refused("open", ALICE)

    assert refusal.code is RefusalCode.HEALTH_CHECK_FAILED
    assert "feed handler gone" in refusal.detail
    assert HealthChecks().evaluate("book_uncrossed") == (False, "book_uncrossed=unregistered")


def test_health_guard_reads_the_engine_predicate_at_the_moment_of_the_transition() -> None:
    """A registered callable is asked each time: a flip to healthy opens the door."""
    r = ready_to_open()
    book = {"crossed": True}
    r.health.register("book_uncrossed", lambda: not book["crossed"])
    assert r.refused("open", ALICE).code is RefusalCode.HEALTH_CHECK_FAILED

    book["crossed"] = False

    assert r.controller.fire("open", actor=ALICE, reason="uncrossed").dest == "FULL_OPEN"


@pytest.mark.parametrize(("name", "check"), [("not a name", True), ("ok", 42)])
def test_health_checks_refuse_bad_names_and_non_callables(name: str, check: object) -> None:
    """Registering garbage is a configuration error naming what was given."""
    with pytest.raises(ConfigurationError, match="health check"):
        HealthChecks().register(name, check)  # type: ignore[arg-type]


def test_policy_guards_need_the_health_checks_and_approvals_the_policy_declares() -> None:
    """A policy with health or approval guards cannot be wired without their sources."""
    policy = restart_policy()
    with pytest.raises(ConfigurationError, match="health"):
        policy_guards(policy, approvals=Approvals(policy))
    with pytest.raises(ConfigurationError, match="approvals"):
        policy_guards(policy, health=HealthChecks())
    assert policy_guards(default_policy()) == {}


# -- approval: the two-person rule ---------------------------------------------------------------


def test_a_two_person_transition_without_approval_is_refused_as_approval_missing() -> None:
    r = rig()
    r.clock.advance(MIN_STAY)

    refusal = r.refused("open", ALICE)

    assert refusal.code is RefusalCode.APPROVAL_MISSING


def test_an_approver_may_not_fire_what_only_they_approved() -> None:
    """Bob approves and fires: SELF_APPROVAL, nothing changes, logged with the actor."""
    r = rig()
    r.clock.advance(MIN_STAY)
    r.approvals.approve(BOB, "open")

    with capture_logs() as logs:
        refusal = r.refused("open", BOB)

    assert refusal.code is RefusalCode.SELF_APPROVAL
    assert {"event": "transition_refused", "code": "SELF_APPROVAL", "actor": "ops:bob"}.items() <= \
        logs[-1].items()


def test_a_second_approver_lets_an_approver_fire() -> None:
    """Bob may fire once Carol has approved too."""
    r = rig()
    r.clock.advance(MIN_STAY)
    r.approvals.approve(BOB, "open")
    r.approvals.approve(CAROL, "open")

    assert r.controller.fire("open", actor=BOB, reason="carol approved").dest == "FULL_OPEN"


def test_an_approval_given_before_the_phase_was_entered_does_not_count() -> None:
    """Approving `open` while still halted approves nothing: the book was not yet visible."""
    r = rig(phase="HALTED")
    r.approvals.approve(BOB, "open")
    r.clock.advance(1)
    r.controller.fire("pre_open", actor=ALICE, reason="zone back")
    r.clock.advance(MIN_STAY)

    assert r.refused("open", ALICE).code is RefusalCode.APPROVAL_MISSING


def test_a_halt_withdraws_approvals_even_within_the_same_instant() -> None:
    """Approve, halt and pre-open again at one clock reading: the approval is gone."""
    r = rig()
    r.approvals.approve(BOB, "open")
    r.controller.halt(actor=BREAKER, reason="flap")
    r.controller.fire("pre_open", actor=ALICE, reason="back")
    r.clock.advance(MIN_STAY)

    assert r.approvals.records == ()
    assert r.refused("open", ALICE).code is RefusalCode.APPROVAL_MISSING


def test_an_approval_counts_only_for_its_own_trigger_and_scope() -> None:
    """Approving `normalize`, or `open` on an instrument, does not approve the venue's `open`."""
    r = rig()
    r.clock.advance(MIN_STAY)
    r.approvals.approve(BOB, "normalize")
    r.approvals.approve(BOB, "open", scope="BTC-USDT-SWAP")

    assert r.refused("open", ALICE).code is RefusalCode.APPROVAL_MISSING


def test_an_actor_without_an_approving_role_cannot_approve() -> None:
    """An operator's approval is refused as APPROVER_UNAUTHORIZED, logged, and not recorded."""
    r = rig()

    with capture_logs() as logs, pytest.raises(TransitionRefused) as caught:
        r.approvals.approve(ALICE, "open")

    assert caught.value.code is RefusalCode.APPROVER_UNAUTHORIZED
    assert r.approvals.records == ()
    assert logs[-1]["event"] == "approval_refused"
    assert logs[-1]["actor"] == "ops:alice"


@pytest.mark.parametrize(("trigger", "code"), [("halt", RefusalCode.INVALID_ARGUMENT),
                                               ("reopen", RefusalCode.UNKNOWN_TRIGGER)])
def test_approving_a_trigger_that_needs_no_approval_is_refused(trigger: str,
                                                               code: RefusalCode) -> None:
    with pytest.raises(TransitionRefused) as caught:
        rig().approvals.approve(BOB, trigger)

    assert caught.value.code is code


def test_an_approval_is_logged_with_the_approver() -> None:
    with capture_logs() as logs:
        rig().approvals.approve(BOB, "open", reason="book looks sane")

    assert {"event": "approval_recorded", "actor": "ops:bob", "trigger": "open",
            "reason": "book looks sane"}.items() <= logs[-1].items()


# -- roles ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", [BREAKER, "ops:alice", Actor("ops:dave", {"viewer"})])
def test_a_relaxing_trigger_needs_a_permitted_role(actor: Actor | str) -> None:
    """Automation, a bare name and an unlisted role may not reopen: UNAUTHORIZED, logged."""
    r = ready_to_open()

    with capture_logs() as logs:
        refusal = r.refused("open", actor)

    assert refusal.code is RefusalCode.UNAUTHORIZED
    name = actor if isinstance(actor, str) else actor.name
    assert {"event": "transition_refused", "code": "UNAUTHORIZED", "actor": name}.items() <= \
        logs[-1].items()


def test_automation_may_halt_a_normal_venue() -> None:
    """A circuit breaker halts a normal venue without anyone's approval, as a listed actor."""
    r = rig(phase="NORMAL")

    with capture_logs() as logs:
        r.controller.fire("halt", actor=BREAKER, reason="latency spike")

    assert r.controller.phase() == "HALTED"
    assert not [e for e in logs if e["event"] == "tightening_by_unlisted_actor"]


def test_automation_degrades_a_normal_venue_but_cannot_relax_a_full_open_one() -> None:
    """degrade out of NORMAL tightens (never refused, logged as unlisted); out of FULL_OPEN it
    turns stops and liquidations back on, which automation may not do."""
    r = rig(phase="NORMAL")
    with capture_logs() as logs:
        r.controller.fire("degrade", actor=BREAKER, reason="latency spike")
    assert r.controller.phase() == "DEGRADED"
    assert [e for e in logs if e["event"] == "tightening_by_unlisted_actor"]

    r = rig(phase="FULL_OPEN")
    with pytest.raises(TransitionRefused) as refused:
        r.controller.fire("degrade", actor=BREAKER, reason="latency spike")
    assert refused.value.code is RefusalCode.UNAUTHORIZED
    assert r.controller.phase() == "FULL_OPEN"


def test_a_halt_by_an_unlisted_actor_still_happens_and_is_logged() -> None:
    """Tightening is never refused for want of a role (DESIGN property 6); it is audited."""
    r = rig(phase="FULL_OPEN")

    with capture_logs() as logs:
        record = r.controller.halt(actor="intern:eve", reason="pressed the button")

    assert record is not None
    assert r.controller.phase() == "HALTED"
    assert {"event": "tightening_by_unlisted_actor", "actor": "intern:eve",
            "trigger": "halt"}.items() <= logs[0].items()


def test_a_trigger_without_a_permission_cannot_be_fired_by_anyone() -> None:
    """A relaxing trigger the policy gives no roles is refused, whatever the actor holds."""
    policy = restart_policy()
    policy = policy.with_changes(permissions=[p for p in policy.permissions if p.trigger != "open"])
    authorizer = RoleAuthorizer(policy)
    ctx = TransitionContext(VENUE, "PRE_OPEN", "FULL_OPEN", "open",
                            Actor("root", {"operator", "supervisor"}), "r", 0.0, 0.0, True, 1)

    refusal = authorizer.check(ctx)

    assert refusal is not None
    assert refusal.code is RefusalCode.UNAUTHORIZED
    assert "needs one of []" in refusal.detail


def test_a_role_authorizer_needs_a_policy_with_permissions() -> None:
    with pytest.raises(ConfigurationError, match="permissions"):
        RoleAuthorizer(default_policy())


def test_the_default_policy_still_runs_without_roles_guards_or_authorizer() -> None:
    """Adding guard and permission fields changed nothing for plain string actors."""
    controller = Controller(default_policy())
    for trigger in ("halt", "pre_open", "open", "normalize"):
        controller.fire(trigger, actor="ops:alice", reason="restart")
    assert controller.phase() == "NORMAL"


# -- custom guards keep working beside the built-in ones -----------------------------------------


def test_a_custom_guard_may_refuse_with_its_own_code() -> None:
    """A guard raising TransitionRefused keeps its code; nothing changes; the refusal is logged."""
    policy = default_policy()
    policy = policy.with_changes(transitions=[
        attrs.evolve(t, guards=("risk_ok",)) if t.trigger == "open" else t
        for t in policy.transitions])

    def risk_ok(ctx: TransitionContext) -> bool:
        raise TransitionRefused(RefusalCode.HEALTH_CHECK_FAILED, scope=ctx.scope,
                                phase=ctx.source, trigger=ctx.trigger, detail="risk engine down")

    guards: dict[str, Callable[[TransitionContext], bool]] = {"risk_ok": risk_ok}
    controller = Controller(policy, guards=guards, phases={VENUE: "PRE_OPEN"})

    with capture_logs() as logs, pytest.raises(TransitionRefused) as caught:
        controller.fire("open", actor="ops:alice", reason="go")

    assert caught.value.code is RefusalCode.HEALTH_CHECK_FAILED
    assert controller.phase() == "PRE_OPEN"
    assert controller.version == 0
    assert logs[-1]["event"] == "transition_refused"
