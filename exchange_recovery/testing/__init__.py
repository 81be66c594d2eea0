"""exchange_recovery.testing: a manual clock, hypothesis strategies and a conformance kit.

`ManualClock` needs nothing beyond the core install. Everything else here is built on
hypothesis: install the ``testing`` extra (``pip install 'exchange-recovery[testing]'``).
Those names load on first use, so ``from exchange_recovery.testing import ManualClock``
works without hypothesis and ``import exchange_recovery`` never imports it.

- `ManualClock`: a clock that moves only when told, for any ``clock=`` argument.
- Strategies: `requests`, `order_requests`, `valid_policies`, `broken_policies` (one mutation
  each, labelled with the `ProblemCode` it must trigger) and `transition_sequences`.
- The kit: subclass `EngineConformance` with a `make_adapter(gate)` returning an
  `EngineAdapter` for your engine (`AsyncEngineConformance` and `AsyncEngineAdapter` for an
  asyncio engine), and expose ``TestMyEngine = MyConformance.TestCase``.
  See ``docs/testing-kit.md`` for a complete example.
- The auction kit (no hypothesis needed): `reference_uncross` (the standard equilibrium),
  `AuctionBook` (a reference call-auction engine), `check_auction` (drives an `AuctionEngine`
  through a seeded call and checks that nothing trades before the one uncross, inside the
  collar or by a journaled override) and `auction_policy`.
"""

import contextlib as _contextlib
import importlib as _importlib
from typing import TYPE_CHECKING

from .._core.clock import ManualClock as ManualClock
from .._core.errors import ConformanceFailure as ConformanceFailure
from ._auction import AuctionBook as AuctionBook
from ._auction import AuctionEngine as AuctionEngine
from ._auction import auction_policy as auction_policy
from ._auction import check_auction as check_auction
from ._auction import reference_uncross as reference_uncross

if TYPE_CHECKING:  # loaded by __getattr__ at run time: they need hypothesis
    from .._core.model import Side as Side
    from ._conformance import AsyncEngineAdapter as AsyncEngineAdapter
    from ._conformance import AsyncEngineConformance as AsyncEngineConformance
    from ._conformance import EngineAdapter as EngineAdapter
    from ._conformance import EngineConformance as EngineConformance
    from ._conformance import OrderTicket as OrderTicket
    from ._conformance import Trade as Trade
    from ._conformance import order_tickets as order_tickets
    from ._strategies import DEFAULT_INSTRUMENTS as DEFAULT_INSTRUMENTS
    from ._strategies import MUTATIONS as MUTATIONS
    from ._strategies import NOT_POLICY_CODES as NOT_POLICY_CODES
    from ._strategies import BrokenPolicy as BrokenPolicy
    from ._strategies import broken_policies as broken_policies
    from ._strategies import order_requests as order_requests
    from ._strategies import requests as requests
    from ._strategies import transition_sequences as transition_sequences
    from ._strategies import valid_policies as valid_policies

__all__ = [
    "DEFAULT_INSTRUMENTS",
    "MUTATIONS",
    "NOT_POLICY_CODES",
    "AsyncEngineAdapter",
    "AsyncEngineConformance",
    "AuctionBook",
    "AuctionEngine",
    "BrokenPolicy",
    "ConformanceFailure",
    "EngineAdapter",
    "EngineConformance",
    "ManualClock",
    "OrderTicket",
    "Side",
    "Trade",
    "auction_policy",
    "broken_policies",
    "check_auction",
    "order_requests",
    "order_tickets",
    "reference_uncross",
    "requests",
    "transition_sequences",
    "valid_policies",
]

_NEEDS_HYPOTHESIS = ("._strategies", "._conformance")
"""The modules behind every name of `__all__` not imported above (each imports hypothesis)."""


def _publish(obj: object) -> None:
    """Show `obj` at its public path (constants keep their module)."""
    if getattr(obj, "__module__", "").startswith(("exchange_recovery.testing._",
                                                  "exchange_recovery._")):
        with _contextlib.suppress(AttributeError, TypeError):
            obj.__module__ = "exchange_recovery.testing"


def _load(name: str) -> object:
    """The module `__getattr__`: import the hypothesis-based half on first use of one of its names."""
    if name not in __all__:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg)
    try:
        modules = [_importlib.import_module(module, __name__) for module in _NEEDS_HYPOTHESIS]
    except ImportError as exc:
        if (exc.name or "").partition(".")[0] != "hypothesis":
            raise
        msg = (f"exchange_recovery.testing.{name} needs the 'testing' extra (hypothesis is not "
               "installed): pip install 'exchange-recovery[testing]'")
        raise ModuleNotFoundError(msg, name=exc.name) from exc
    namespace = globals()
    for module in modules:
        for public in __all__:
            if public not in namespace and hasattr(module, public):
                namespace[public] = getattr(module, public)
                _publish(namespace[public])
    return namespace[name]


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if not TYPE_CHECKING:  # hidden from type checkers, so that a misspelt import stays an error
    __getattr__ = _load

for _eager in (ManualClock, AuctionBook, AuctionEngine, auction_policy, check_auction,
               reference_uncross):
    _publish(_eager)
del _eager
