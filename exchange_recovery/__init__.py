"""exchange_recovery: keep order entry safe while a venue degrades, halts and restarts.

The pieces, bottom up: request and decision types (`Request`, `Decision`), a validated `Policy`
(`default_policy()` models the December 2022 phased restart), the `Gate` that answers
``check(request)`` for every order, and the `Controller` that moves scopes between phases.

Example:
    >>> from exchange_recovery import Controller, OrderType, Request, default_policy
    >>> controller = Controller(default_policy())
    >>> check = controller.gate.check
    >>> _ = controller.halt(actor="ops:alice", reason="cloud zone down")
    >>> _ = controller.pre_open(actor="ops:alice", reason="zone back")
    >>> check(Request.new_order("BTC-USDT-SWAP", OrderType.MARKET)).reason.value
    'ORDER_TYPE_NOT_ALLOWED'
"""

import contextlib as _contextlib

from ._codes import ProblemCode as ProblemCode
from ._codes import Reason as Reason
from ._codes import RefusalCode as RefusalCode
from ._controller import Authorizer as Authorizer
from ._controller import Clock as Clock
from ._controller import Controller as Controller
from ._controller import Guard as Guard
from ._default_policy import default_policy as default_policy
from ._exceptions import ConfigurationError as ConfigurationError
from ._exceptions import ConformanceFailure as ConformanceFailure
from ._exceptions import ExchangeRecoveryError as ExchangeRecoveryError
from ._exceptions import InvalidPolicyError as InvalidPolicyError
from ._exceptions import InvalidRequestError as InvalidRequestError
from ._exceptions import TransitionRefused as TransitionRefused
from ._gate import Gate as Gate
from ._journal import Journal as Journal
from ._journal import MemoryJournal as MemoryJournal
from ._journal import TransitionContext as TransitionContext
from ._journal import TransitionRecord as TransitionRecord
from ._model import ALL_KINDS as ALL_KINDS
from ._model import VENUE as VENUE
from ._model import Action as Action
from ._model import Actor as Actor
from ._model import Decision as Decision
from ._model import OrderType as OrderType
from ._model import Origin as Origin
from ._model import Request as Request
from ._model import RequestKind as RequestKind
from ._model import TimeInForce as TimeInForce
from ._policy import Acceptance as Acceptance
from ._policy import PhaseSpec as PhaseSpec
from ._policy import Policy as Policy
from ._policy import Problem as Problem
from ._policy import TransitionSpec as TransitionSpec

__all__ = [
    "ALL_KINDS",
    "VENUE",
    "Acceptance",
    "Action",
    "Actor",
    "Authorizer",
    "Clock",
    "ConfigurationError",
    "ConformanceFailure",
    "Controller",
    "Decision",
    "ExchangeRecoveryError",
    "Gate",
    "Guard",
    "InvalidPolicyError",
    "InvalidRequestError",
    "Journal",
    "MemoryJournal",
    "OrderType",
    "Origin",
    "PhaseSpec",
    "Policy",
    "Problem",
    "ProblemCode",
    "Reason",
    "RefusalCode",
    "Request",
    "RequestKind",
    "TimeInForce",
    "TransitionContext",
    "TransitionRecord",
    "TransitionRefused",
    "TransitionSpec",
    "default_policy",
]

__version__ = "0.1.0"

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("exchange_recovery._"):
        with _contextlib.suppress(AttributeError, TypeError):  # type aliases keep their module
            _obj.__module__ = "exchange_recovery"
del _name, _obj
