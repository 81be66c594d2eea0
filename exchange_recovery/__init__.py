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

from ._control.controller import Controller as Controller
from ._control.fence import Fence as Fence
from ._control.guards import Approval as Approval
from ._control.guards import Approvals as Approvals
from ._control.guards import Criterion as Criterion
from ._control.guards import HealthCheck as HealthCheck
from ._control.guards import HealthChecks as HealthChecks
from ._control.guards import RoleAuthorizer as RoleAuthorizer
from ._control.guards import policy_guards as policy_guards
from ._control.listeners import PhaseChange as PhaseChange
from ._control.listeners import PhaseChanges as PhaseChanges
from ._control.recover import recover as recover
from ._coordination.controller import CoordinatedController as CoordinatedController
from ._coordination.coordinator import Coordinator as Coordinator
from ._coordination.coordinator import LocalCoordinator as LocalCoordinator
from ._coordination.follower import Follower as Follower
from ._coordination.state import CoordinatorState as CoordinatorState
from ._core.codes import IntegrityCode as IntegrityCode
from ._core.codes import ProblemCode as ProblemCode
from ._core.codes import Reason as Reason
from ._core.codes import RefusalCode as RefusalCode
from ._core.codes import SystemCancel as SystemCancel
from ._core.defaults import default_policy as default_policy
from ._core.defaults import deferred_funds_policy as deferred_funds_policy
from ._core.disposition import Deferrals as Deferrals
from ._core.disposition import Disposition as Disposition
from ._core.disposition import IncomingAction as IncomingAction
from ._core.disposition import OrderClass as OrderClass
from ._core.disposition import RestingAction as RestingAction
from ._core.disposition import RestingRule as RestingRule
from ._core.errors import ConfigurationError as ConfigurationError
from ._core.errors import ConformanceFailure as ConformanceFailure
from ._core.errors import CoordinatorError as CoordinatorError
from ._core.errors import ExchangeRecoveryError as ExchangeRecoveryError
from ._core.errors import InvalidPlanError as InvalidPlanError
from ._core.errors import InvalidPolicyError as InvalidPolicyError
from ._core.errors import InvalidRequestError as InvalidRequestError
from ._core.errors import JournalError as JournalError
from ._core.errors import TransitionConflict as TransitionConflict
from ._core.errors import TransitionRefused as TransitionRefused
from ._core.gate import Gate as Gate
from ._core.model import ALL_KINDS as ALL_KINDS
from ._core.model import INSTRUMENT as INSTRUMENT
from ._core.model import VENUE as VENUE
from ._core.model import Action as Action
from ._core.model import Actor as Actor
from ._core.model import Decision as Decision
from ._core.model import OrderType as OrderType
from ._core.model import Origin as Origin
from ._core.model import Request as Request
from ._core.model import RequestKind as RequestKind
from ._core.model import Side as Side
from ._core.model import TimeInForce as TimeInForce
from ._core.phases import Acceptance as Acceptance
from ._core.phases import PhaseSpec as PhaseSpec
from ._core.phases import Problem as Problem
from ._core.phases import TransitionSpec as TransitionSpec
from ._core.policy import Policy as Policy
from ._core.reopen import AuctionSpec as AuctionSpec
from ._core.reopen import Exhausted as Exhausted
from ._core.reopen import LiquidationRelease as LiquidationRelease
from ._core.reopen import MaxStay as MaxStay
from ._core.reopen import StayAction as StayAction
from ._core.specs import GuardSpec as GuardSpec
from ._core.specs import Permission as Permission
from ._core.toml import dump_policy as dump_policy
from ._core.toml import load_policy as load_policy
from ._core.toml import loads_policy as loads_policy
from ._decide.records import Authorizer as Authorizer
from ._decide.records import Clock as Clock
from ._decide.records import Guard as Guard
from ._decide.records import JournalNote as JournalNote
from ._decide.records import TransitionContext as TransitionContext
from ._decide.records import TransitionRecord as TransitionRecord
from ._journal.file import FileJournal as FileJournal
from ._journal.keys import JournalKey as JournalKey
from ._journal.protocol import Journal as Journal
from ._journal.protocol import MemoryJournal as MemoryJournal
from ._journal.replay import JournalProblem as JournalProblem
from ._journal.replay import RecoveryReport as RecoveryReport
from ._journal.replay import compact_journal as compact_journal
from ._journal.replay import verify_journal as verify_journal
from ._plan.auction import AuctionRunner as AuctionRunner
from ._plan.auction import AuctionState as AuctionState
from ._plan.auction import AuctionStatus as AuctionStatus
from ._plan.auction import Indicative as Indicative
from ._plan.auction import UncrossEngine as UncrossEngine
from ._plan.deadlines import Deadlines as Deadlines
from ._plan.deadlines import DeadlineStatus as DeadlineStatus
from ._plan.deadlines import Firing as Firing
from ._plan.deadlines import FiringOutcome as FiringOutcome
from ._plan.deadlines import MaintenanceWindow as MaintenanceWindow
from ._plan.deadlines import ScheduleStatus as ScheduleStatus
from ._plan.deadlines import WindowState as WindowState
from ._plan.deadlines import WindowStatus as WindowStatus
from ._plan.liquidation import LiquidationClock as LiquidationClock
from ._plan.liquidation import LiquidationState as LiquidationState
from ._plan.liquidation import ReleaseSchedule as ReleaseSchedule
from ._plan.liquidation import frozen_intervals as frozen_intervals
from ._plan.liquidation import halt_marks as halt_marks
from ._plan.liquidation import record_marks as record_marks
from ._plan.plan import PlanStep as PlanStep
from ._plan.plan import RestartPlan as RestartPlan
from ._plan.plan import default_restart_plan as default_restart_plan
from ._plan.plan import restart_policy as restart_policy
from ._plan.reopening import reopening_plan as reopening_plan
from ._plan.reopening import reopening_policy as reopening_policy
from ._plan.runner import PlanRunner as PlanRunner
from ._plan.runner import PlanStatus as PlanStatus
from ._plan.simulate import Abort as Abort
from ._plan.simulate import Advance as Advance
from ._plan.simulate import Announce as Announce
from ._plan.simulate import Approve as Approve
from ._plan.simulate import Fire as Fire
from ._plan.simulate import Liquidate as Liquidate
from ._plan.simulate import SetHealth as SetHealth
from ._plan.simulate import SetIndicative as SetIndicative
from ._plan.simulate import SimulationEvent as SimulationEvent
from ._plan.simulate import Timeline as Timeline
from ._plan.simulate import TimelineEntry as TimelineEntry
from ._plan.simulate import Wait as Wait
from ._plan.simulate import simulate as simulate
from ._status.document import ScopeStatus as ScopeStatus
from ._status.inbound import StatusMapping as StatusMapping
from ._status.inbound import map_status as map_status
from ._status.outbound import PhaseStatuses as PhaseStatuses
from ._status.outbound import phase_statuses as phase_statuses
from ._status.paths import PathStep as PathStep
from ._status.paths import TriggerPath as TriggerPath
from ._status.paths import find_path as find_path
from ._trust.approvals import Rejection as Rejection
from ._trust.approvals import SignedApproval as SignedApproval
from ._trust.approvals import VerifyResult as VerifyResult
from ._trust.approvals import policy_fingerprint as policy_fingerprint
from ._trust.approvals import sign_approval as sign_approval
from ._trust.approvals import verify_approvals as verify_approvals
from ._trust.codes import TrustCode as TrustCode
from ._trust.directory import Directory as Directory
from ._trust.directory import FileDirectory as FileDirectory
from ._trust.directory import Principal as Principal
from ._trust.directory import StaticDirectory as StaticDirectory
from ._trust.errors import DirectoryError as DirectoryError
from ._trust.errors import DirectoryProblem as DirectoryProblem
from ._trust.errors import IdentityError as IdentityError
from ._trust.errors import SigningError as SigningError
from ._trust.ids import canonical_id as canonical_id
from ._trust.ids import same_principal as same_principal
from ._trust.ids import skeleton as skeleton
from ._trust.signing import KeyFileSigner as KeyFileSigner
from ._trust.signing import Signer as Signer
from ._trust.signing import generate_keypair as generate_keypair

__all__ = [
    "ALL_KINDS",
    "INSTRUMENT",
    "VENUE",
    "Abort",
    "Acceptance",
    "Action",
    "Actor",
    "Advance",
    "Announce",
    "Approval",
    "Approvals",
    "Approve",
    "AuctionRunner",
    "AuctionSpec",
    "AuctionState",
    "AuctionStatus",
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
    "DeadlineStatus",
    "Deadlines",
    "Decision",
    "Deferrals",
    "Directory",
    "DirectoryError",
    "DirectoryProblem",
    "Disposition",
    "ExchangeRecoveryError",
    "Exhausted",
    "Fence",
    "FileDirectory",
    "FileJournal",
    "Fire",
    "Firing",
    "FiringOutcome",
    "Follower",
    "Gate",
    "Guard",
    "GuardSpec",
    "HealthCheck",
    "HealthChecks",
    "IdentityError",
    "IncomingAction",
    "Indicative",
    "IntegrityCode",
    "InvalidPlanError",
    "InvalidPolicyError",
    "InvalidRequestError",
    "Journal",
    "JournalError",
    "JournalKey",
    "JournalNote",
    "JournalProblem",
    "KeyFileSigner",
    "Liquidate",
    "LiquidationClock",
    "LiquidationRelease",
    "LiquidationState",
    "LocalCoordinator",
    "MaintenanceWindow",
    "MaxStay",
    "MemoryJournal",
    "OrderClass",
    "OrderType",
    "Origin",
    "PathStep",
    "Permission",
    "PhaseChange",
    "PhaseChanges",
    "PhaseSpec",
    "PhaseStatuses",
    "PlanRunner",
    "PlanStatus",
    "PlanStep",
    "Policy",
    "Principal",
    "Problem",
    "ProblemCode",
    "Reason",
    "RecoveryReport",
    "RefusalCode",
    "Rejection",
    "ReleaseSchedule",
    "Request",
    "RequestKind",
    "RestartPlan",
    "RestingAction",
    "RestingRule",
    "RoleAuthorizer",
    "ScheduleStatus",
    "ScopeStatus",
    "SetHealth",
    "SetIndicative",
    "Side",
    "SignedApproval",
    "Signer",
    "SigningError",
    "SimulationEvent",
    "StaticDirectory",
    "StatusMapping",
    "StayAction",
    "SystemCancel",
    "TimeInForce",
    "Timeline",
    "TimelineEntry",
    "TransitionConflict",
    "TransitionContext",
    "TransitionRecord",
    "TransitionRefused",
    "TransitionSpec",
    "TriggerPath",
    "TrustCode",
    "UncrossEngine",
    "VerifyResult",
    "Wait",
    "WindowState",
    "WindowStatus",
    "canonical_id",
    "compact_journal",
    "default_policy",
    "default_restart_plan",
    "deferred_funds_policy",
    "dump_policy",
    "find_path",
    "frozen_intervals",
    "generate_keypair",
    "halt_marks",
    "load_policy",
    "loads_policy",
    "map_status",
    "phase_statuses",
    "policy_fingerprint",
    "policy_guards",
    "record_marks",
    "recover",
    "reopening_plan",
    "reopening_policy",
    "restart_policy",
    "same_principal",
    "sign_approval",
    "simulate",
    "skeleton",
    "verify_approvals",
    "verify_journal",
]

__version__ = "0.1.0"

for _name in __all__:
    _obj = globals()[_name]
    if getattr(_obj, "__module__", "").startswith("exchange_recovery._"):
        with _contextlib.suppress(AttributeError, TypeError):  # type aliases keep their module
            _obj.__module__ = "exchange_recovery"
del _name, _obj
