"""The complete examples in docs/testing-kit.md and docs/testing-asyncio.md run, pass, and catch
a broken engine."""

from __future__ import annotations

import pathlib
import re
from typing import Any

import pytest
from hypothesis import Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from exchange_recovery import ConformanceFailure, Request

DOCS = pathlib.Path(__file__).parent.parent / "docs"


def _example(page: str) -> dict[str, Any]:
    """The namespace left by the page's first python block: its complete example."""
    path = DOCS / page
    blocks = re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), flags=re.S)
    namespace: dict[str, Any] = {"__name__": "docs_example"}
    exec(compile(blocks[0], str(path), "exec"), namespace)  # noqa: S102 - our own documentation
    return namespace


def _fails_once_cancels_skip_the_gate(conformance: type, make: Any) -> None:
    """The kit catches the engine built by ``make(gate)`` once its cancels skip the gate."""

    class Broken(conformance):  # type: ignore[misc, valid-type]
        def make_adapter(self, gate: Any) -> Any:
            return make(gate)

    with pytest.raises(ConformanceFailure, match="cancel"):
        run_state_machine_as_test(Broken, settings=settings(
            max_examples=200, phases=[Phase.explicit, Phase.reuse, Phase.generate]))


def test_the_documented_toy_engine_passes_the_kit() -> None:
    run_state_machine_as_test(_example("testing-kit.md")["ToyEngineConformance"])


def test_the_documented_toy_engine_fails_the_kit_once_cancels_skip_the_gate() -> None:
    example = _example("testing-kit.md")

    class CancelsSkipTheGate(example["ToyEngine"]):  # type: ignore[misc]
        def cancel(self, order_id: str, request: Request) -> bool:
            return self.orders.pop(order_id, None) is not None

    _fails_once_cancels_skip_the_gate(example["ToyEngineConformance"], CancelsSkipTheGate)


def test_the_documented_asyncio_engine_passes_the_kit() -> None:
    run_state_machine_as_test(_example("testing-asyncio.md")["AsyncBookConformance"])


def test_the_documented_asyncio_engine_fails_the_kit_once_cancels_skip_the_gate() -> None:
    example = _example("testing-asyncio.md")

    class CancelsSkipTheGate(example["AsyncBook"]):  # type: ignore[misc]
        def _cancel(self, order_id: str, request: Request) -> bool:
            return self.orders.pop(order_id, None) is not None

    class Broken(example["AsyncBookConformance"]):  # type: ignore[misc]
        async def make_adapter(self, gate: Any) -> Any:
            return CancelsSkipTheGate(gate)

    with pytest.raises(ConformanceFailure, match="cancel"):
        run_state_machine_as_test(Broken, settings=settings(
            max_examples=200, phases=[Phase.explicit, Phase.reuse, Phase.generate]))
