"""Random interleavings of clock, health, approvals, advance, abort and direct triggers.

A slow reference model beside the runner keeps its own clock, health values, phase visits and
approvals. Every transition the controller journals is checked against it: from a halt, no
matching phase is reached unless the pre-open step's criteria held at that moment, and no
relaxing step is taken by the only person who approved it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

import attrs
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exchange_recovery import (
    Actor,
    Approval,
    HealthChecks,
    MemoryJournal,
    PlanRunner,
    TransitionRecord,
    TransitionRefused,
    default_restart_plan,
)
from exchange_recovery.testing import ManualClock

MIN_STAY = 60.0
DWELL = 120.0
CHECKS = ("book_uncrossed", "market_data_fresh", "cloud_zone_healthy")
ACTORS = {a.name: a for a in (
    Actor("alice", {"operator"}), Actor("bob", {"supervisor"}), Actor("carol", {"supervisor"}),
    Actor("dave", {"operator", "supervisor"}), Actor("breaker", {"automation"}), Actor("eve"),
)}
PEOPLE = frozenset({"operator", "supervisor"})
TWO_PERSON = frozenset({"open", "normalize", "recover"})
MATCHING = frozenset({"NORMAL", "DEGRADED", "FULL_OPEN"})

actors = st.sampled_from(sorted(ACTORS))
supervisors_mostly = st.sampled_from(["bob", "carol", "dave", "bob", "carol", "dave", "alice"])


@attrs.define
class Given:
    """An approval as the reference model saw it."""

    actor: str
    trigger: str
    visit: int


class RestartMachine(RuleBasedStateMachine):
    """Drives a PlanRunner at random and checks every journaled transition."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.health = HealthChecks(dict.fromkeys(CHECKS, True))
        self.journal = MemoryJournal()
        plan = default_restart_plan(min_pre_open=MIN_STAY, full_open_dwell=DWELL)
        self.runner = PlanRunner.create(plan, health=self.health, clock=self.clock,
                                        journal=self.journal)
        # the reference model
        self.ref_health = dict.fromkeys(CHECKS, True)
        self.phase = "HALTED"
        self.entered = 0.0
        self.visit = 0
        self.given: list[Given] = []
        self.seen = 0

    # -- actions ---------------------------------------------------------------------------------

    @rule(seconds=st.sampled_from([0.0, 1.0, 30.0, 59.0, 60.0, 120.0]))
    def wait(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(check=st.sampled_from(CHECKS), healthy=st.sampled_from([True, True, False]))
    def flip_health(self, check: str, healthy: bool) -> None:
        self.health.set(check, healthy)
        self.ref_health[check] = healthy

    @rule(actor=supervisors_mostly)
    def approve_next_step(self, actor: str) -> None:
        self._approve(actor, lambda: self.runner.approve(ACTORS[actor]))

    @rule(actor=actors, trigger=st.sampled_from(sorted(TWO_PERSON)))
    def approve_directly(self, actor: str, trigger: str) -> None:
        assert self.runner.approvals is not None
        book = self.runner.approvals
        self._approve(actor, lambda: book.approve(ACTORS[actor], trigger))

    @rule(actor=actors)
    def advance(self, actor: str) -> None:
        self._act(lambda: self.runner.advance(ACTORS[actor]))

    @rule(actor=actors, trigger=st.sampled_from(["abort", "halt", "degrade", "pre_open", "open",
                                                 "normalize", "recover"]))
    def fire_directly_or_abort(self, actor: str, trigger: str) -> None:
        if trigger == "abort":
            self._act(lambda: self.runner.abort(ACTORS[actor], "abort"))
        else:
            self._act(lambda: self.runner.controller.fire(trigger, actor=ACTORS[actor],
                                                          reason="x"))

    # -- the reference model ---------------------------------------------------------------------

    def _approve(self, actor: str, approve: Callable[[], Approval]) -> None:
        try:
            approval = approve()
        except TransitionRefused:
            return
        assert "supervisor" in ACTORS[actor].roles, "an approval from a non-supervisor counted"
        self.given.append(Given(actor, approval.trigger, self.visit))

    def _act(self, action: Callable[[], object]) -> None:
        with contextlib.suppress(TransitionRefused):
            action()
        records = self.journal.records
        assert len(records) - self.seen <= 1
        for record in records[self.seen:]:
            self._check(record)
        self.seen = len(records)

    def _check(self, record: TransitionRecord) -> None:
        now, firer = self.clock.now, ACTORS[record.actor]
        assert record.source == self.phase
        if record.relaxing:
            assert firer.roles & PEOPLE, f"{firer} fired relaxing {record.trigger}"
        if record.dest in MATCHING and self.phase not in MATCHING:
            # from a halt, matching resumes only out of pre-open, with its criteria holding now
            assert self.phase == "PRE_OPEN"
            assert now - self.entered >= MIN_STAY
            assert all(self.ref_health.values()), self.ref_health
        if record.trigger == "pre_open":
            assert self.ref_health["cloud_zone_healthy"]
        if record.trigger == "normalize":
            assert now - self.entered >= DWELL
        if record.trigger in TWO_PERSON:
            approvers = {g.actor for g in self.given
                         if g.trigger == record.trigger and g.visit == self.visit}
            assert approvers - {record.actor}, (
                f"{record.actor} fired {record.trigger} approved only by {approvers or 'nobody'}")
        if not record.relaxing:
            self.given.clear()
        self.phase, self.entered, self.visit = record.dest, now, self.visit + 1

    @invariant()
    def runner_step_follows_the_phase(self) -> None:
        status = self.runner.status()
        assert status.phase == self.phase == self.runner.controller.phase()
        steps = [s.phase for s in self.runner.plan.steps]
        assert status.step == (steps.index(self.phase) if self.phase in steps else None)
        if status.step == 0:
            assert status.next_trigger == "pre_open"


TestRestartPlan = RestartMachine.TestCase
