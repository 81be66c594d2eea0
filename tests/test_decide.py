"""One pure decision core: every door that changes a phase asks it, and refusals carry data."""

from __future__ import annotations

from unittest import mock

import pytest

from exchange_recovery import (
    VENUE,
    Actor,
    Approvals,
    ConfigurationError,
    Controller,
    CoordinatedController,
    Follower,
    Guard,
    HealthChecks,
    LocalCoordinator,
    MemoryJournal,
    Policy,
    RefusalCode,
    RoleAuthorizer,
    TransitionRecord,
    TransitionRefused,
    default_policy,
    policy_guards,
    restart_policy,
)
from exchange_recovery._decide.decide import decide, misfit
from exchange_recovery.testing import ManualClock

POLICY = default_policy()
OFF_GRAPH = TransitionRecord(1, VENUE, "NORMAL", "FULL_OPEN", "open", "mallory", "skip", 0.0, True)


def test_the_core_refuses_an_unknown_trigger_and_lists_the_known_ones_as_data() -> None:
    """UNKNOWN_TRIGGER carries the policy's triggers in its context, not only in its text."""
    with pytest.raises(TransitionRefused) as refused:
        decide(POLICY, scope=VENUE, phase="NORMAL", trigger="reopen", actor=Actor("ops"),
               reason="r", now=0.0, entered_at=0.0, version=0)
    assert refused.value.code is RefusalCode.UNKNOWN_TRIGGER
    assert refused.value.context["known"] == sorted(POLICY.triggers)
    assert "known=" in refused.value.detail


def test_a_guard_that_says_no_is_named_in_the_refusal_context() -> None:
    """GUARD_REJECTED names the guard as data."""
    policy = POLICY.with_changes(transitions=[
        t if (t.source, t.trigger) != ("HALTED", "pre_open") else
        type(t)(t.trigger, t.source, t.dest, ("book_rebuilt",)) for t in POLICY.transitions])
    with pytest.raises(TransitionRefused) as refused:
        decide(policy, scope=VENUE, phase="HALTED", trigger="pre_open", actor=Actor("ops"),
               reason="r", now=0.0, entered_at=0.0, version=3,
               guards={"book_rebuilt": lambda ctx: False})
    assert refused.value.code is RefusalCode.GUARD_REJECTED
    assert refused.value.context == {"guard": "book_rebuilt"}


def test_a_dwell_refusal_carries_the_remaining_seconds_as_data() -> None:
    """DWELL_NOT_MET: in_phase, needed and remaining are numbers in the context."""
    policy = restart_policy(min_pre_open=600)
    clock = ManualClock(1000.0)
    controller = Controller(policy, clock=clock, phases={VENUE: "PRE_OPEN"},
                            guards=_guards(policy, clock))
    clock.advance(200)
    with pytest.raises(TransitionRefused) as refused:
        controller.fire("open", actor="ops", reason="too early")
    context = refused.value.context
    assert refused.value.code is RefusalCode.DWELL_NOT_MET
    assert (context["guard"], context["in_phase"], context["needed"], context["remaining"]) == (
        "pre_open_min_stay", 200.0, 600.0, 400.0)


def test_an_unauthorized_refusal_names_the_roles_it_needed() -> None:
    """UNAUTHORIZED: the actor's roles and the needed roles are lists in the context."""
    policy = restart_policy()
    controller = Controller(policy, phases={VENUE: "HALTED"}, authorizer=RoleAuthorizer(policy),
                            guards=_guards(policy, ManualClock()))
    with pytest.raises(TransitionRefused) as refused:
        controller.fire("pre_open", actor=Actor("eve", {"viewer"}), reason="r")
    assert refused.value.code is RefusalCode.UNAUTHORIZED
    assert refused.value.context["roles"] == ["viewer"]
    assert refused.value.context["needed_roles"] == sorted(policy.permission("pre_open").roles)


def test_every_door_refuses_a_record_off_the_graph_for_the_same_reason() -> None:
    """Controller.apply, a Follower and the core agree: NORMAL -open-> FULL_OPEN does not fit."""
    assert misfit(POLICY, "NORMAL", "NORMAL", "open", "FULL_OPEN", True) is not None
    controller = Controller(POLICY)
    with pytest.raises(TransitionRefused) as refused:
        controller.apply(OFF_GRAPH)
    assert refused.value.code is RefusalCode.TRANSITION_NOT_ALLOWED
    assert controller.phase() == "NORMAL"
    follower = Follower(POLICY)
    follower.adopt(LocalCoordinator().read(), follower.clock())
    follower.apply(OFF_GRAPH)
    assert follower.quarantined == {VENUE}
    assert follower.gate.phase() == POLICY.fail_safe


def test_a_record_whose_relaxing_flag_lies_does_not_fit() -> None:
    """A halt record claiming to be relaxing is refused by the graph check."""
    bad = misfit(POLICY, "NORMAL", "NORMAL", "halt", "HALTED", True)
    assert bad is not None
    assert bad.code is RefusalCode.TRANSITION_NOT_ALLOWED
    assert bad.context == {"relaxing": True, "policy_relaxing": False}


def test_the_machine_has_one_model_however_many_scopes() -> None:
    """Scopes are not registered on the transitions machine one by one (that scan is quadratic)."""
    controller = Controller(POLICY, phases={f"I{i}": "HALTED" for i in range(500)})
    for i in range(20):
        controller.degrade(actor="ops", reason="r", scope=f"NEW{i}")
    assert len(controller._machine.models) == 1


def test_transitions_runs_each_transition_with_before_and_after_in_order() -> None:
    """A relaxing record is journaled before the gate publishes, a tightening one after."""
    seen: list[tuple[str, str]] = []

    class Spy(MemoryJournal):
        def append(self, record: TransitionRecord) -> None:
            seen.append((record.trigger, controller.gate.phase()))
            super().append(record)

    controller = Controller(POLICY, journal=Spy())
    controller.degrade(actor="ops", reason="r")
    controller.recover(actor="ops", reason="r")
    assert seen == [("degrade", "DEGRADED"), ("recover", "DEGRADED")]


def test_an_instrument_back_in_the_normal_phase_is_released() -> None:
    """It leaves the gate's and the controller's scopes, and follows the venue again."""
    controller = Controller(POLICY)
    controller.halt(actor="ops", reason="r", scope="BTC")
    controller.pre_open(actor="ops", reason="r", scope="BTC")
    controller.open(actor="ops", reason="r", scope="BTC")
    controller.normalize(actor="ops", reason="r", scope="BTC")
    assert "BTC" not in controller.gate.phases
    assert controller.gate._own_phase("BTC") is None
    assert "BTC" not in controller._entered
    controller.halt(actor="ops", reason="r")
    assert controller.phase("BTC") == "HALTED"


def test_a_coordinated_decision_builds_no_controller() -> None:
    """CoordinatedController decides with the core on the stored state, nothing more."""
    ops = CoordinatedController(POLICY, LocalCoordinator())
    with mock.patch.object(Controller, "__init__", side_effect=AssertionError("built one")):
        ops.halt(actor="ops", reason="r")
        ops.pre_open(actor="ops", reason="r")
    assert ops.state().phases[VENUE] == "PRE_OPEN"


def _guards(policy: Policy, clock: ManualClock) -> dict[str, Guard]:
    health = HealthChecks({"cloud_zone_healthy": True, "market_data_fresh": True,
                           "book_uncrossed": True})
    return policy_guards(policy, health=health, approvals=Approvals(policy, clock=clock))


@pytest.mark.parametrize("authorizer", [lambda ctx: False, lambda ctx: 1 / 0, 1])
def test_no_authorizer_can_refuse_a_halt(authorizer: object) -> None:
    """Tightening always succeeds: an authorizer saying no, raising, or broken is overruled."""
    if not callable(authorizer):
        with pytest.raises(ConfigurationError):
            Controller(POLICY, authorizer=authorizer)  # type: ignore[arg-type]
        return
    controller = Controller(POLICY, authorizer=authorizer)  # type: ignore[arg-type]
    controller.halt(actor="ops", reason="r")
    assert controller.phase() == "HALTED"
    with pytest.raises(TransitionRefused) as refused:
        controller.pre_open(actor="ops", reason="r")
    assert refused.value.code is RefusalCode.UNAUTHORIZED
