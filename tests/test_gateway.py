"""The halt race in an asyncio gateway: only a check at the sequencing point closes it."""

from __future__ import annotations

import asyncio

from test_examples import load_example

gateway = load_example("asyncio_gateway")


def test_checking_only_on_receipt_lets_queued_orders_through_after_halt() -> None:
    """Orders checked while NORMAL and still queued reach the engine after halt() returned."""
    after_halt, refused = asyncio.run(gateway.halt_with_orders_queued(gateway.CheckAt.RECEIPT))

    assert after_halt == 5
    assert refused == 0


def test_checking_at_the_sequencing_point_lets_none_through_after_halt() -> None:
    """The writer asks the gate as each order enters the engine: every queued order is refused."""
    after_halt, refused = asyncio.run(gateway.halt_with_orders_queued(gateway.CheckAt.SEQUENCING))

    assert after_halt == 0
    assert refused == 5


def test_the_gateway_checks_at_the_sequencing_point_by_default() -> None:
    assert gateway.Gateway.__init__.__kwdefaults__["check_at"] is gateway.CheckAt.SEQUENCING


def test_gateway_example_prints_both_placements() -> None:
    lines = gateway.run()
    assert "check at receipt     5 reached the engine after the halt" in "\n".join(lines)
    assert "check at sequencing  0 reached the engine after the halt" in "\n".join(lines)
