"""exchange_recovery.testing: hypothesis strategies and a conformance kit for engines.

Install with the ``testing`` extra (``pip install 'exchange-recovery[testing]'``): it needs
hypothesis, which ``import exchange_recovery`` itself never imports.

- Strategies: `requests`, `order_requests`, `valid_policies`, `broken_policies` (one mutation
  each, labelled with the `ProblemCode` it must trigger) and `transition_sequences`.
- The kit: subclass `EngineConformance` with a `make_adapter(gate)` returning an
  `EngineAdapter` for your engine, and expose ``TestMyEngine = MyConformance.TestCase``.
  See ``docs/testing-kit.md`` for a complete example.
"""

import contextlib as _contextlib

from .._core.errors import ConformanceFailure as ConformanceFailure
from ._conformance import EngineAdapter as EngineAdapter
from ._conformance import EngineConformance as EngineConformance
from ._conformance import OrderTicket as OrderTicket
from ._conformance import Side as Side
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
    "BrokenPolicy",
    "ConformanceFailure",
    "EngineAdapter",
    "EngineConformance",
    "OrderTicket",
    "Side",
    "Trade",
    "broken_policies",
    "order_requests",
    "order_tickets",
    "requests",
    "transition_sequences",
    "valid_policies",
]

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("exchange_recovery.testing._"):
        with _contextlib.suppress(AttributeError, TypeError):  # constants keep their module
            _obj.__module__ = "exchange_recovery.testing"
del _name, _obj
