"""The controller and its gate against the slow reference model, under random transitions.

A hypothesis `RuleBasedStateMachine` fires random triggers (legal and not, on the venue and on
instruments), flips the guards and breaks the journal now and then, and after every step checks
safety properties 1, 2, 3, 5 and 7 of DESIGN.md (and 6, for the journal) against `reference`:

1. only transitions in the graph happen; a refused one changes nothing;
2. the gate's decision on every request kind equals the reference's (stricter scope decides);
3. from a halt, no scope reaches a matching phase without passing a non-matching entry phase;
5. versions strictly increase, and replaying the journal into a fresh controller reproduces
   the phases and the version;
7. a non-matching phase never accepts market, IOC, FOK or stop requests.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest
import reference as ref
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exchange_recovery import (
    ALL_KINDS,
    VENUE,
    Action,
    Controller,
    Policy,
    RefusalCode,
    Request,
    RequestKind,
    TransitionContext,
    TransitionRecord,
    TransitionRefused,
    TransitionSpec,
    default_policy,
)
from exchange_recovery.testing import ManualClock

BTC, ETH, SOL = "BTC-USDT-SWAP", "ETH-USDT-SWAP", "SOL-USDT-SWAP"
SCOPES = (VENUE, BTC, ETH)
"""Scopes transitions are fired on; SOL never gets a phase of its own and follows the venue."""

UNKNOWN_TRIGGER = "reopen_now"
TRIGGERS = (*sorted(ref.TRIGGERS), UNKNOWN_TRIGGER)

GUARD_MODES = st.sampled_from(("pass", "pass", "pass", "pass", "reject", "raise"))
"""What the ``ready`` guard on relaxing transitions does: allow, say no, or raise."""
JOURNAL_FAILS = st.sampled_from((False, False, False, False, False, True))
"""Whether the journal's next write fails."""

ENTRY_PHASES = frozenset(p for p in ref.PHASES if p not in ref.MATCHING and ref.takes_order_entry(p))
"""Non-matching phases that take order entry again (pre-open): the way back from a halt."""

_NO_INSTRUMENT = frozenset({Action.MASS_CANCEL, Action.ADD_MARGIN, Action.REMOVE_MARGIN,
                            Action.DEPOSIT, Action.WITHDRAWAL})


def guarded_default_policy() -> Policy:
    """The default policy with a guard, ``ready``, on every relaxing transition."""
    base = default_policy()
    return base.with_changes(transitions=[
        TransitionSpec(t.trigger, t.source, t.dest,
                       guards=("ready",) if ref.relaxing(t.source, t.dest) else ())
        for t in base.transitions
    ])


POLICY = guarded_default_policy()


def requests_for(kind: RequestKind) -> list[Request]:
    """Requests of `kind` on every instrument of interest (and venue-wide where allowed)."""
    instruments: list[str | None] = [BTC, ETH, SOL]
    if kind.action in _NO_INSTRUMENT:
        instruments.append(None)
    return [Request(kind.action, inst, kind.order_type, kind.time_in_force, kind.post_only,
                    kind.reduce_only, kind.origin) for inst in instruments]


ALL_REQUESTS = tuple(r for kind in ALL_KINDS for r in requests_for(kind))
IMMEDIATE = {inst: tuple(r for r in ALL_REQUESTS
                         if r.instrument == inst and ref.needs_immediate_execution(r.kind))
             for inst in (BTC, ETH, SOL)}
"""Per instrument, the requests that would execute at once: market, IOC, FOK, stops."""


@functools.cache
def expected(instrument: str | None, venue: str, own: str | None) -> tuple[tuple[Any, ...], ...]:
    """The reference's answers for `ALL_REQUESTS` on one instrument given the scopes' phases.

    Memoized per (instrument, venue phase, instrument phase): the model is slow, not wrong.
    """
    phases = {VENUE: venue} if own is None or instrument is None else {VENUE: venue, instrument: own}
    return tuple(ref.expected_decision(r.kind, instrument, phases)
                 for r in ALL_REQUESTS if r.instrument == instrument)


class FlakyJournal:
    """A memory journal that can be told to fail its next write, and checks the write-ahead rule."""

    def __init__(self) -> None:
        self.records: list[TransitionRecord] = []
        self.fail_next = False
        self.controller: Controller | None = None
        self.violations: list[str] = []  # the controller would swallow an assertion raised here

    def append(self, record: TransitionRecord) -> None:
        assert self.controller is not None
        gate = self.controller.gate
        seen = (gate.phases.get(record.scope, ref.NORMAL), gate.version)
        retried = record in self.controller.unjournaled  # a tightening record left behind
        if record.relaxing and seen != (record.source, record.version - 1):
            self.violations.append(f"relaxing {record} written after publication: {seen}")
        if not record.relaxing and not retried and seen != (record.dest, record.version):
            self.violations.append(f"tightening {record} written before publication: {seen}")
        if self.fail_next:
            self.fail_next = False
            msg = "disk full"
            raise OSError(msg)
        self.records.append(record)


class ControllerMachine(RuleBasedStateMachine):
    """Random transitions and checks; the model state is what the reference says must hold."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = ManualClock()
        self.journal = FlakyJournal()
        self.guard_mode = "pass"
        self.guard_calls: list[TransitionContext] = []
        self.controller = Controller(POLICY, guards={"ready": self._guard}, journal=self.journal,
                                     clock=self.clock)
        self.journal.controller = self.controller
        # The model.
        self.own: dict[str, str] = {VENUE: ref.INITIAL}
        self.entered: dict[str, float] = {VENUE: 0.0}
        self.version = 0
        self.history: list[TransitionRecord] = []
        self.unjournaled: list[TransitionRecord] = []
        self.since_halt: dict[str, str] = {}  # scope -> "halted" | "entry" once it has been halted

    def _guard(self, ctx: TransitionContext) -> bool:
        self.guard_calls.append(ctx)
        if self.guard_mode == "raise":
            msg = "exit criteria unavailable"
            raise RuntimeError(msg)
        return self.guard_mode == "pass"

    # -- the model ---------------------------------------------------------------------------

    def own_phase(self, scope: str) -> str:
        return self.own.get(scope, ref.NORMAL)

    def observable(self) -> dict[str, Any]:
        """Everything a refused transition must leave as it was."""
        c = self.controller
        return {
            "phases": dict(c.gate.phases),
            "version": (c.version, c.gate.version),
            "entered": [c.entered_at(s) for s in (*SCOPES, SOL)],
            "journal": list(self.journal.records),
            "unjournaled": list(c.unjournaled),
        }

    def expected_refusal(self, trigger: str, scope: str) -> RefusalCode | None:
        if trigger not in ref.TRIGGERS:
            return RefusalCode.UNKNOWN_TRIGGER
        source = self.own_phase(scope)
        dest = ref.GRAPH.get((source, trigger))
        if dest is None:
            return RefusalCode.TRANSITION_NOT_ALLOWED
        if ref.relaxing(source, dest):
            if self.guard_mode == "reject":
                return RefusalCode.GUARD_REJECTED
            if self.guard_mode == "raise":
                return RefusalCode.GUARD_FAILED
            if self.journal.fail_next:
                return RefusalCode.JOURNAL_FAILED
        return None

    def succeeded(self, record: TransitionRecord, trigger: str, scope: str,
                  journal_broken: bool) -> None:
        source = self.own_phase(scope)
        dest = ref.GRAPH[(source, trigger)]
        assert (record.scope, record.source, record.dest, record.trigger) == (
            scope, source, dest, trigger)
        assert record.version == self.version + 1  # property 5: strictly increasing
        assert record.relaxing is ref.relaxing(source, dest)
        assert record.timestamp == self.clock.now
        self.version = record.version
        if scope != VENUE and dest == ref.NORMAL and ref.adds_no_restriction(dest):
            self.own.pop(scope, None)  # released: it follows the venue again, and costs nothing
            self.entered.pop(scope, None)
        else:
            self.own[scope] = dest
            self.entered[scope] = self.clock.now
        self.history.append(record)
        if journal_broken and not record.relaxing:
            self.unjournaled.append(record)
        else:  # every write first retries the tightening records an earlier failure left behind
            self.unjournaled.clear()
        # Property 3: from a halt, the way back to matching passes a non-matching entry phase.
        if dest == ref.FAIL_SAFE:
            self.since_halt[scope] = "halted"
        elif dest in ENTRY_PHASES and scope in self.since_halt:
            self.since_halt[scope] = "entry"
        elif dest in ref.MATCHING:
            assert self.since_halt.get(scope) != "halted", (
                f"{scope} went from {ref.FAIL_SAFE} to matching phase {dest} without pre-open")
            self.since_halt.pop(scope, None)

    # -- rules -------------------------------------------------------------------------------

    def attempt(self, trigger: str, scope: str, by_name: bool, guards: str,
                journal_fails: bool) -> None:
        """Fire `trigger` on `scope` and check the outcome against the model."""
        self.guard_mode = guards
        self.journal.fail_next = journal_fails
        refusal = self.expected_refusal(trigger, scope)
        before = self.observable()
        self.guard_calls.clear()
        entered_before = self.controller.entered_at(scope)
        kwargs = {"actor": "ops:fuzz", "reason": f"fuzz {trigger}", "scope": scope}
        outcome: TransitionRecord | TransitionRefused
        try:
            if by_name or trigger in (UNKNOWN_TRIGGER, "halt"):  # halt() is idempotent: own rule
                outcome = self.controller.fire(trigger, **kwargs)
            else:
                outcome = getattr(self.controller, trigger)(**kwargs)
        except TransitionRefused as refused:
            outcome = refused
        if isinstance(outcome, TransitionRefused):
            assert outcome.code is refusal, (outcome, refusal)
            assert self.observable() == before  # property 1: a refusal changes nothing
        else:
            assert refusal is None, f"expected {refusal}, got {outcome}"
            self.succeeded(outcome, trigger, scope, journal_fails)
        for ctx in self.guard_calls:  # guards see the injected clock and the scope's dwell
            assert (ctx.scope, ctx.trigger, ctx.now) == (scope, trigger, self.clock.now)
            assert ctx.entered_at == entered_before

    @rule(trigger=st.sampled_from(TRIGGERS), scope=st.sampled_from(SCOPES), by_name=st.booleans(),
          guards=GUARD_MODES, journal_fails=JOURNAL_FAILS)
    def fire_any(self, trigger: str, scope: str, by_name: bool, guards: str,
                 journal_fails: bool) -> None:
        self.attempt(trigger, scope, by_name, guards, journal_fails)

    @rule(scope=st.sampled_from(SCOPES), pick=st.integers(min_value=0, max_value=5),
          by_name=st.booleans(), guards=GUARD_MODES, journal_fails=JOURNAL_FAILS)
    def fire_legal(self, scope: str, pick: int, by_name: bool, guards: str,
                   journal_fails: bool) -> None:
        """Legal moves other than halts (those have their own rule): runs get deep into the graph."""
        legal = sorted(t for (source, t) in ref.GRAPH
                       if source == self.own_phase(scope) and t != "halt")
        self.attempt(legal[pick % len(legal)], scope, by_name, guards, journal_fails)

    @rule(scope=st.sampled_from(SCOPES), journal_fails=JOURNAL_FAILS)
    def halt(self, scope: str, journal_fails: bool) -> None:
        self.journal.fail_next = journal_fails
        before = self.observable()
        record = self.controller.halt(actor="ops:fuzz", reason="fuzz halt", scope=scope)
        if self.own_phase(scope) == ref.FAIL_SAFE:
            assert record is None
            assert self.observable() == before
        else:
            assert record is not None  # property 6: a halt is never refused
            self.succeeded(record, "halt", scope, journal_fails)

    @rule(seconds=st.integers(min_value=1, max_value=3_600))
    def tick(self, seconds: int) -> None:
        self.clock.advance(seconds)

    # -- invariants --------------------------------------------------------------------------

    @invariant()
    def phases_and_version_match_the_model(self) -> None:
        c = self.controller
        assert dict(c.gate.phases) == self.own
        assert c.version == c.gate.version == self.version
        assert c.unjournaled == self.unjournaled
        assert self.journal.violations == []
        for scope in (*SCOPES, SOL):
            assert c.phase(scope) == self.own.get(scope, self.own[VENUE])
            assert c.entered_at(scope) == self.entered.get(scope, self.entered[VENUE])
            assert set(c.triggers(scope)) == {t for (s, t) in ref.GRAPH if s == self.own_phase(scope)}

    @invariant()
    def every_decision_matches_the_reference(self) -> None:
        check, check_fields = self.controller.gate.check, self.controller.gate.check_fields
        venue = self.own[VENUE]
        for instrument in (BTC, ETH, SOL, None):
            own = self.own.get(instrument) if instrument is not None else None
            requests = [r for r in ALL_REQUESTS if r.instrument == instrument]
            answers = expected(instrument, venue, own)
            for request, (accepted, reason, phase, scope) in zip(requests, answers, strict=True):
                decision = check(request)
                assert decision.accepted is accepted, (request, decision)
                assert decision.reason is reason, (request, decision)
                if not accepted:
                    assert (decision.phase, decision.scope) == (phase, scope), (request, decision)
            for request in requests[::7]:  # the field-wise check answers the same, for a sample
                assert check_fields(
                    request.action, instrument, request.order_type, request.time_in_force,
                    post_only=request.post_only, reduce_only=request.reduce_only,
                    origin=request.origin) is check(request)

    @invariant()
    def non_matching_phases_accept_nothing_that_executes_at_once(self) -> None:
        gate = self.controller.gate
        for instrument in (BTC, ETH, SOL):
            matching = gate.matching(instrument)
            effective = {self.own[VENUE], self.own.get(instrument, ref.NORMAL)}
            assert matching is all(p in ref.MATCHING for p in effective)
            assert gate.capabilities(instrument) == frozenset.intersection(
                *(ref.capabilities(p) for p in effective))
            if matching:
                continue
            for request in IMMEDIATE[instrument]:
                assert not gate.check(request).accepted, (instrument, request)

    def teardown(self) -> None:
        # Property 5: the journal (plus the tightening records it could not take) replays to
        # the same phases and version, through the apply() path.
        journaled = [r for r in self.history if r not in self.unjournaled]
        assert self.journal.records == journaled
        replica = Controller(POLICY, guards={"ready": lambda ctx: False})
        for record in sorted([*self.journal.records, *self.controller.unjournaled],
                             key=lambda r: r.version):
            replica.apply(record)
        assert dict(replica.gate.phases) == dict(self.controller.gate.phases)
        assert replica.version == replica.gate.version == self.controller.version
        assert [replica.gate.check(r) for r in ALL_REQUESTS] == [
            self.controller.gate.check(r) for r in ALL_REQUESTS]


TestControllerMatchesReference = ControllerMachine.TestCase


# -- the reference model itself ----------------------------------------------------------------


def test_reference_graph_is_the_policy_graph() -> None:
    """The hand-typed transition list and the default policy's agree, edge for edge."""
    policy = default_policy()
    assert {(t.source, t.trigger): t.dest for t in policy.transitions} == ref.GRAPH
    assert policy.initial == ref.INITIAL
    assert policy.fail_safe == ref.FAIL_SAFE


@pytest.mark.parametrize("phase", ref.PHASES)
def test_reference_and_gate_agree_on_every_request_kind_in_every_phase(phase: str) -> None:
    """Venue scope: accepted, reason, deciding phase and scope for each of the request kinds."""
    controller = Controller(default_policy(), phases={VENUE: phase})
    for request in ALL_REQUESTS:
        if request.instrument is not None:
            continue
        accepted, reason, *_ = ref.expected_decision(request.kind, None, {VENUE: phase})
        decision = controller.gate.check(request)
        assert (decision.accepted, decision.reason) == (accepted, reason), request


@pytest.mark.parametrize("venue", ref.PHASES)
@pytest.mark.parametrize("own", ref.PHASES)
def test_reference_and_gate_agree_with_an_instrument_override(venue: str, own: str) -> None:
    """Every (venue phase, instrument phase) pair: the stricter scope decides, with its reason."""
    controller = Controller(default_policy(), phases={VENUE: venue, BTC: own})
    for kind in ALL_KINDS:
        request = requests_for(kind)[0]  # on BTC
        accepted, reason, phase, scope = ref.expected_decision(kind, BTC, {VENUE: venue, BTC: own})
        decision = controller.gate.check(request)
        assert (decision.accepted, decision.reason) == (accepted, reason), request
        if not accepted:
            assert (decision.phase, decision.scope) == (phase, scope), request


def test_no_path_from_halted_reaches_matching_without_pre_open() -> None:
    """Property 3 on the reference graph itself: remove the entry phases and matching is cut off."""
    seen, todo = {ref.FAIL_SAFE}, [ref.FAIL_SAFE]
    while todo:
        here = todo.pop()
        for (source, _), dest in ref.GRAPH.items():
            if source == here and dest not in ENTRY_PHASES and dest not in seen:
                seen.add(dest)
                todo.append(dest)
    assert {ref.PRE_OPEN} == ENTRY_PHASES
    assert not seen & ref.MATCHING
