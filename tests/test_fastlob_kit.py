"""The conformance kit against a real third-party engine: fastlob, wrapped by the example adapter.

`FastlobConformance` is exactly what a downstream team writes. The second half breaks the adapter
on purpose (amends skip the gate) and checks that the kit notices, with a short counterexample.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test
from test_examples import load_example

from exchange_recovery import ConformanceFailure, Controller, Gate, Request, default_policy
from exchange_recovery.testing import EngineAdapter, EngineConformance, Side

pytest.importorskip("fastlob")
example = load_example("fastlob_restart")


class FastlobConformance(EngineConformance):
    """fastlob behind the gate, one fresh book per example."""

    def make_adapter(self, gate: Gate) -> EngineAdapter:
        engine: EngineAdapter = example.FastlobEngine(gate).__enter__()
        return engine

    def close_adapter(self, adapter: EngineAdapter) -> None:
        adapter.__exit__(None, None, None)  # type: ignore[attr-defined]


TestFastlobConforms = FastlobConformance.TestCase


# -- the kit catches a broken adapter ------------------------------------------------------------


class _AmendsSkipTheGate(example.FastlobEngine):  # type: ignore[name-defined,misc]
    def amend(self, order_id: str, request: Request, quantity: int,
              price: int | None = None) -> bool:
        return bool(self._book.update(self._ids[order_id], quantity).success())


class _PostOnlyNotEmulated(example.FastlobEngine):  # type: ignore[name-defined,misc]
    def _would_take(self, side: Side, price: int | None) -> bool:
        return False


class _MarketRemainderRests(example.FastlobEngine):  # type: ignore[name-defined,misc]
    def _drop_remainder(self, order_id: str) -> None:
        pass


def _kit_failure(engine: type[Any], *, shrink: bool) -> ConformanceFailure:
    """Run the kit against a broken adapter; return what it raised.

    Shrinking is what makes the counterexample minimal; the explain phase (which annotates it)
    only costs time here.
    """

    class Broken(FastlobConformance):
        def make_adapter(self, gate: Gate) -> EngineAdapter:
            adapter: EngineAdapter = engine(gate).__enter__()
            return adapter

    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    with pytest.raises(ConformanceFailure) as caught:
        run_state_machine_as_test(Broken, settings=settings(max_examples=200, phases=phases))
    return caught.value


def _steps(failure: ConformanceFailure) -> list[str]:
    """The rules hypothesis's counterexample calls, in order (e.g. ``state.amend``)."""
    notes = "\n".join(getattr(failure, "__notes__", []))
    return [step for step in re.findall(r"\bstate\.\w+", notes) if step != "state.conforms"]


def test_kit_catches_an_adapter_whose_amends_skip_the_gate() -> None:
    """A short program: an order rests, the phase stops accepting amends, the amend goes
    through."""
    failure = _kit_failure(_AmendsSkipTheGate, shrink=True)

    assert "the engine accepted an amend" in str(failure)
    steps = _steps(failure)
    assert steps[-1] == "state.teardown", steps
    assert steps[-2] in ("state.amend", "state.probe_crossing_amend"), steps
    assert "state.transition" in steps, steps
    assert len(steps) <= 8, steps


def test_kit_catches_an_adapter_without_post_only_emulation() -> None:
    """fastlob matches any crossing order; without the emulation a post-only order takes liquidity."""
    failure = _kit_failure(_PostOnlyNotEmulated, shrink=False)

    assert "took liquidity" in str(failure) or "does not match orders" in str(failure)


def test_kit_catches_a_market_order_that_rests() -> None:
    """An adapter that turns market orders into resting limits is caught by the remainder rule."""
    failure = _kit_failure(_MarketRemainderRests, shrink=False)

    assert "rests in the book" in str(failure)


def test_the_adapter_refuses_a_post_only_order_that_would_cross() -> None:
    """Emulated post-only: at or through the touch it is refused, behind it it rests."""
    controller = Controller(default_policy())
    with example.FastlobEngine(controller.gate) as engine:
        maker = engine.submit(example._ticket(Side.SELL, 101, 2))
        crossing = engine.submit(example._ticket(Side.BUY, 101, 1, post_only=True))
        behind = engine.submit(example._ticket(Side.BUY, 100, 1, post_only=True))

        assert maker is not None
        assert crossing is None
        assert behind is not None
        assert engine.resting(behind) == 1
        assert engine.trades() == []
