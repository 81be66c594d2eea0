"""The halt race: where an asyncio gateway must ask the gate.

A gateway receives requests from many connections, queues them, and one writer task sequences
them into the engine. ``halt()`` guarantees that no *check* started after it returned accepts a
new order, but a request checked on receipt and still waiting in the queue was checked *before*
the halt: if the writer trusts that old answer, it reaches the engine after the venue halted.

The fix is to check at the sequencing point, where the request enters the engine (checking on
receipt as well is fine, as an early refusal, but it can never be the only check).

Run: ``python examples/asyncio_gateway.py`` (prints what reached the engine after the halt, with
the check in each place).
"""

from __future__ import annotations

import asyncio
import enum
import sys
from collections.abc import Callable

import structlog

from exchange_recovery import Controller, Decision, Gate, OrderType, Request, default_policy

SWAP = "BTC-USDT-SWAP"


class CheckAt(enum.Enum):
    """Where the gateway asks the gate."""

    RECEIPT = "receipt"
    """Only when a request arrives (unsafe: the answer goes stale while it waits in the queue)."""
    SEQUENCING = "sequencing"
    """When the single writer hands the request to the engine (safe)."""


class Gateway:
    """Requests in, one writer out: `receive` queues, `run_writer` sequences into the engine.

    Example:
        >>> controller = Controller(default_policy())
        >>> engine: list[Request] = []
        >>> gateway = Gateway(controller.gate, engine.append)
        >>> async def day():
        ...     writer = asyncio.create_task(gateway.run_writer())
        ...     await gateway.receive(Request.new_order(SWAP, OrderType.LIMIT))
        ...     await gateway.drain()
        ...     writer.cancel()
        >>> asyncio.run(day())
        >>> len(engine)
        1
    """

    def __init__(self, gate: Gate, engine: Callable[[Request], object], *,
                 check_at: CheckAt = CheckAt.SEQUENCING) -> None:
        self._check = gate.check
        self._engine = engine
        self._check_at = check_at
        self._queue: asyncio.Queue[Request] = asyncio.Queue()
        self.refused: list[Decision] = []

    async def receive(self, request: Request) -> bool:
        """Take a request from a connection; False if it was refused at once."""
        if self._check_at is CheckAt.RECEIPT:
            decision = self._check(request)
            if not decision.accepted:
                self.refused.append(decision)
                return False
        await self._queue.put(request)
        return True

    async def run_writer(self) -> None:
        """The single writer: take requests in order and enter them into the engine."""
        while True:
            request = await self._queue.get()
            try:
                self._sequence(request)
            finally:
                self._queue.task_done()

    def _sequence(self, request: Request) -> None:
        if self._check_at is CheckAt.SEQUENCING:
            decision = self._check(request)  # the answer that counts: checked as it enters
            if not decision.accepted:
                self.refused.append(decision)
                return
        self._engine(request)

    async def drain(self) -> None:
        """Wait until every queued request has been sequenced."""
        await self._queue.join()


async def halt_with_orders_queued(check_at: CheckAt, queued: int = 5) -> tuple[int, int]:
    """Queue `queued` new orders, halt, then let the writer run.

    Returns (orders the engine received after halt() returned, orders refused). Deterministic:
    the writer task cannot run until this coroutine awaits, which it does only after the halt.
    """
    quiet = structlog.wrap_logger(structlog.ReturnLogger())
    controller = Controller(default_policy(), logger=quiet)
    engine: list[Request] = []
    gateway = Gateway(controller.gate, engine.append, check_at=check_at)
    writer = asyncio.create_task(gateway.run_writer())
    for _ in range(queued):
        if not await gateway.receive(Request.new_order(SWAP, OrderType.LIMIT)):
            msg = "NORMAL accepts limit orders"
            raise RuntimeError(msg)
    controller.halt(actor="ops:oncall", reason="matching hosts lost")
    halted_at = len(engine)  # the writer has not run yet: nothing reached the engine before
    await gateway.drain()
    writer.cancel()
    return len(engine) - halted_at, len(gateway.refused)


def run() -> list[str]:
    """Both placements of the check; return the printed lines."""
    out = ["5 new orders queued, then halt(), then the writer runs:"]
    for check_at in CheckAt:
        after, refused = asyncio.run(halt_with_orders_queued(check_at))
        out.append(f"  check at {check_at.value:<10}  {after} reached the engine after the halt, "
                   f"{refused} refused")
    return out


def main() -> int:
    """Print the comparison."""
    sys.stdout.write("\n".join(run()) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
