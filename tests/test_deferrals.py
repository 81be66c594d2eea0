"""The other venue of December 2022 (issue #16): funds movements deferred, released, refused,
and cancelled by their owners — the library against a plain reference model."""

from __future__ import annotations

from typing import Final

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from exchange_recovery import (
    VENUE,
    Action,
    Controller,
    OrderType,
    Origin,
    PhaseChange,
    Reason,
    Request,
    default_policy,
    deferred_funds_policy,
)

# -- the reference: the deferred-funds policy's funds rules, typed out by hand -------------------

PROCESSES: Final = frozenset({"NORMAL", "FULL_OPEN"})
"""Phases that process deposits and withdrawals at once."""
DEFERS: Final = frozenset({"FUNDS_DEFERRED"})
"""Phases that hold them until NORMAL."""
GRAPH: Final = {
    ("NORMAL", "degrade"): "DEGRADED", ("DEGRADED", "recover"): "NORMAL",
    ("NORMAL", "halt"): "HALTED", ("DEGRADED", "halt"): "HALTED",
    ("PRE_OPEN", "halt"): "HALTED", ("FULL_OPEN", "halt"): "HALTED",
    ("HALTED", "pre_open"): "PRE_OPEN", ("PRE_OPEN", "open"): "FULL_OPEN",
    ("FULL_OPEN", "normalize"): "NORMAL", ("FULL_OPEN", "degrade"): "DEGRADED",
    ("NORMAL", "defer_funds"): "FUNDS_DEFERRED", ("FUNDS_DEFERRED", "release_funds"): "NORMAL",
    ("FUNDS_DEFERRED", "halt"): "HALTED",
}


def expected_reason(phase: str) -> Reason:
    """What the phase answers a client's deposit or withdrawal."""
    if phase in PROCESSES:
        return Reason.ACCEPTED
    if phase in DEFERS:
        return Reason.DEFERRED
    return Reason.PHASE_HALTED if phase == "HALTED" else Reason.ACTION_NOT_ALLOWED


OWNERS: Final = ("alice", "bob", "carol")
FUNDS: Final = (Action.DEPOSIT, Action.WITHDRAWAL)


class DeferredFunds(RuleBasedStateMachine):
    """A wallet service behind the gate, acting on listeners, against the reference model."""

    def __init__(self) -> None:
        super().__init__()
        self.controller = Controller(deferred_funds_policy())
        self.gate = self.controller.gate
        self.held: list[tuple[str, Action]] = []       # what the wallet service holds
        self.processed: list[tuple[str, Action]] = []
        self.refused: list[tuple[str, Action]] = []
        self.model_phase = "NORMAL"
        self.model_held: list[tuple[str, Action]] = []
        self.model_processed: list[tuple[str, Action]] = []
        self.model_refused: list[tuple[str, Action]] = []
        self.controller.add_listener(self.wallet)

    def wallet(self, change: PhaseChange) -> None:
        """The wallet service's listener: process what is released, refuse what is refused."""
        refused = {action for action, _ in change.deferrals.refused}
        for item in list(self.held):
            if item[1] in change.deferrals.released:
                assert self.gate.check(Request(item[1])).accepted  # released: processed now
                self.held.remove(item)
                self.processed.append(item)
            elif item[1] in refused:
                self.held.remove(item)
                self.refused.append(item)

    @rule(owner=st.sampled_from(OWNERS), action=st.sampled_from(FUNDS))
    def request(self, owner: str, action: Action) -> None:
        decision = self.gate.check(Request(action))
        reason = expected_reason(self.model_phase)
        assert decision.reason is reason, (self.model_phase, decision)
        assert not decision.accepted or reason is Reason.ACCEPTED  # deferred is not accepted
        if decision.deferred:
            assert decision.until == "NORMAL"
            self.held.append((owner, action))
            self.model_held.append((owner, action))
        elif decision.accepted:
            self.processed.append((owner, action))
            self.model_processed.append((owner, action))

    @rule(owner=st.sampled_from(OWNERS))
    def cancel_withdrawal(self, owner: str) -> None:
        """An owner cancels their pending withdrawals: accepted in every phase."""
        decision = self.gate.check(Request.cancel_withdrawal())
        assert decision.accepted, decision
        self.held = [i for i in self.held if i != (owner, Action.WITHDRAWAL)]
        self.model_held = [i for i in self.model_held if i != (owner, Action.WITHDRAWAL)]

    @rule(data=st.data())
    def transition(self, data: st.DataObject) -> None:
        triggers = sorted(t for (source, t) in GRAPH if source == self.model_phase)
        trigger = data.draw(st.sampled_from(triggers), label="trigger")
        self.controller.fire(trigger, actor="ops:alice", reason="walk")
        dest = GRAPH[(self.model_phase, trigger)]
        if self.model_phase in DEFERS and dest not in DEFERS:
            (self.model_processed if dest in PROCESSES else self.model_refused).extend(
                self.model_held)
            self.model_held = []
        self.model_phase = dest

    @invariant()
    def matches_the_reference(self) -> None:
        assert self.gate.phase() == self.model_phase
        assert self.held == self.model_held
        assert self.processed == self.model_processed
        assert self.refused == self.model_refused
        if self.model_phase not in DEFERS:
            assert not self.held  # nothing is held outside a deferring phase


TestDeferredFunds = DeferredFunds.TestCase


# -- examples -------------------------------------------------------------------------------------


def test_a_halt_turns_deferral_into_refusal_with_its_reason() -> None:
    controller = Controller(deferred_funds_policy())
    changes: list[PhaseChange] = []
    controller.add_listener(changes.append)
    controller.fire("defer_funds", actor="ops:alice", reason="wallet nodes down")
    controller.halt(actor="ops:alice", reason="zone down")

    assert changes[0].deferrals.released == frozenset()
    assert changes[1].deferrals.refused == ((Action.DEPOSIT, Reason.PHASE_HALTED),
                                             (Action.WITHDRAWAL, Reason.PHASE_HALTED))


def test_trading_goes_on_while_funds_movements_wait() -> None:
    controller = Controller(deferred_funds_policy())
    controller.fire("defer_funds", actor="ops:alice", reason="wallet nodes down")
    gate = controller.gate
    assert gate.capabilities() == {"matching", "stop_triggers", "liquidations"}
    assert gate.check(Request.new_order("BTC-USDT", OrderType.MARKET)).accepted
    withdrawal = gate.check(Request(Action.WITHDRAWAL))
    assert (withdrawal.reason, withdrawal.until, withdrawal.accepted) == (
        Reason.DEFERRED, "NORMAL", False)
    assert withdrawal.scope == VENUE


@pytest.mark.parametrize("phase", ["NORMAL", "DEGRADED", "HALTED", "PRE_OPEN", "FULL_OPEN"])
def test_the_default_policy_accepts_a_withdrawal_cancel_in_every_phase(phase: str) -> None:
    """Cancelling one's own pending withdrawal only lowers risk: never refused to a client."""
    gate = Controller(default_policy(), phases={VENUE: phase}).gate
    assert gate.check(Request.cancel_withdrawal()).accepted
    assert not gate.check(Request.cancel_withdrawal(origin=Origin.LIQUIDATION)).accepted or (
        phase in ("NORMAL", "DEGRADED"))
