"""The complete example in docs/testing-kit.md runs, passes, and catches a broken engine."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from exchange_recovery import ConformanceFailure, Request

DOC = pathlib.Path(__file__).parent.parent / "docs" / "testing-kit.md"


def _example() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    assert len(blocks) == 1, "the page has one complete example"
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(DOC), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


def test_the_documented_toy_engine_passes_the_kit() -> None:
    run_state_machine_as_test(_example()["ToyEngineConformance"])


def test_the_documented_toy_engine_fails_the_kit_once_cancels_skip_the_gate() -> None:
    example = _example()

    class CancelsSkipTheGate(example["ToyEngine"]):  # type: ignore[misc]
        def cancel(self, order_id: str, request: Request) -> bool:
            return self.orders.pop(order_id, None) is not None

    class Broken(example["ToyEngineConformance"]):  # type: ignore[misc]
        def make_adapter(self, gate: Any) -> Any:
            return CancelsSkipTheGate(gate)

    with pytest.raises(ConformanceFailure, match="cancel"):
        run_state_machine_as_test(Broken, settings=settings(
            max_examples=200, phases=[Phase.explicit, Phase.reuse, Phase.generate]))
