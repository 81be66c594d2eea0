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

from ._codes import IntegrityCode as IntegrityCode
from ._codes import ProblemCode as ProblemCode
from ._codes import Reason as Reason
from ._codes import RefusalCode as RefusalCode
from ._controller import Controller as Controller
from ._coordination import CoordinatedController as CoordinatedController
from ._coordination import Coordinator as Coordinator
from ._coordination import LocalCoordinator as LocalCoordinator
from ._criteria import GuardSpec as GuardSpec
from ._criteria import Permission as Permission
from ._default_policy import default_policy as default_policy
from ._exceptions import ConfigurationError as ConfigurationError
from ._exceptions import ConformanceFailure as ConformanceFailure
from ._exceptions import CoordinatorError as CoordinatorError
from ._exceptions import ExchangeRecoveryError as ExchangeRecoveryError
from ._exceptions import InvalidPlanError as InvalidPlanError
from ._exceptions import InvalidPolicyError as InvalidPolicyError
from ._exceptions import InvalidRequestError as InvalidRequestError
from ._exceptions import JournalError as JournalError
from ._exceptions import TransitionConflict as TransitionConflict
from ._exceptions import TransitionRefused as TransitionRefused
from ._filejournal import FileJournal as FileJournal
from ._follower import Follower as Follower
from ._gate import Gate as Gate
from ._guards import Approval as Approval
from ._guards import Approvals as Approvals
from ._guards import Criterion as Criterion
from ._guards import HealthCheck as HealthCheck
from ._guards import HealthChecks as HealthChecks
from ._guards import RoleAuthorizer as RoleAuthorizer
from ._guards import policy_guards as policy_guards
from ._journal import Authorizer as Authorizer
from ._journal import Clock as Clock
from ._journal import Guard as Guard
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
from ._plan import PlanStep as PlanStep
from ._plan import RestartPlan as RestartPlan
from ._plan import default_restart_plan as default_restart_plan
from ._plan import restart_policy as restart_policy
from ._policy import Acceptance as Acceptance
from ._policy import PhaseSpec as PhaseSpec
from ._policy import Policy as Policy
from ._policy import Problem as Problem
from ._policy import TransitionSpec as TransitionSpec
from ._recovery import JournalProblem as JournalProblem
from ._recovery import RecoveryReport as RecoveryReport
from ._recovery import compact_journal as compact_journal
from ._recovery import recover as recover
from ._recovery import verify_journal as verify_journal
from ._runner import PlanRunner as PlanRunner
from ._runner import PlanStatus as PlanStatus
from ._simulate import Abort as Abort
from ._simulate import Advance as Advance
from ._simulate import Approve as Approve
from ._simulate import Fire as Fire
from ._simulate import SetHealth as SetHealth
from ._simulate import SimulationEvent as SimulationEvent
from ._simulate import Timeline as Timeline
from ._simulate import TimelineEntry as TimelineEntry
from ._simulate import Wait as Wait
from ._simulate import simulate as simulate
from ._state import CoordinatorState as CoordinatorState
from ._toml import dump_policy as dump_policy
from ._toml import load_policy as load_policy
from ._toml import loads_policy as loads_policy

__all__ = [
    "ALL_KINDS",
    "VENUE",
    "Abort",
    "Acceptance",
    "Action",
    "Actor",
    "Advance",
    "Approval",
    "Approvals",
    "Approve",
    "Authorizer",
    "Clock",
    "ConfigurationError",
    "ConformanceFailure",
    "Controller",
    "CoordinatedController",
    "Coordinator",
    "CoordinatorError",
    "CoordinatorState",
    "Criterion",
    "Decision",
    "ExchangeRecoveryError",
    "FileJournal",
    "Fire",
    "Follower",
    "Gate",
    "Guard",
    "GuardSpec",
    "HealthCheck",
    "HealthChecks",
    "IntegrityCode",
    "InvalidPlanError",
    "InvalidPolicyError",
    "InvalidRequestError",
    "Journal",
    "JournalError",
    "JournalProblem",
    "LocalCoordinator",
    "MemoryJournal",
    "OrderType",
    "Origin",
    "Permission",
    "PhaseSpec",
    "PlanRunner",
    "PlanStatus",
    "PlanStep",
    "Policy",
    "Problem",
    "ProblemCode",
    "Reason",
    "RecoveryReport",
    "RefusalCode",
    "Request",
    "RequestKind",
    "RestartPlan",
    "RoleAuthorizer",
    "SetHealth",
    "SimulationEvent",
    "TimeInForce",
    "Timeline",
    "TimelineEntry",
    "TransitionConflict",
    "TransitionContext",
    "TransitionRecord",
    "TransitionRefused",
    "TransitionSpec",
    "Wait",
    "compact_journal",
    "default_policy",
    "default_restart_plan",
    "dump_policy",
    "load_policy",
    "loads_policy",
    "policy_guards",
    "recover",
    "restart_policy",
    "simulate",
    "verify_journal",
]

__version__ = "0.1.0"

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("exchange_recovery._"):
        with _contextlib.suppress(AttributeError, TypeError):  # type aliases keep their module
            _obj.__module__ = "exchange_recovery"
del _name, _obj
