"""Stable, machine-readable codes, grouped by the layer that emits them.

Values are part of the public contract: clients and dashboards parse them. Add members, never
rename or reuse one; a retired code stays listed with "(retired)" in its description.
"""

from __future__ import annotations

import enum


class _Code(enum.StrEnum):
    """A code whose value is its name, with a one-line description."""

    @property
    def description(self) -> str:
        """One line saying what the code means."""
        return _DESCRIPTIONS[self]


class Reason(_Code):
    """Why the gate accepted or rejected a request (`Decision.reason`)."""

    ACCEPTED = "ACCEPTED"
    PHASE_HALTED = "PHASE_HALTED"
    INSTRUMENT_HALTED = "INSTRUMENT_HALTED"
    ACTION_NOT_ALLOWED = "ACTION_NOT_ALLOWED"
    ORIGIN_NOT_ALLOWED = "ORIGIN_NOT_ALLOWED"
    ORDER_TYPE_NOT_ALLOWED = "ORDER_TYPE_NOT_ALLOWED"
    TIME_IN_FORCE_NOT_ALLOWED = "TIME_IN_FORCE_NOT_ALLOWED"
    POST_ONLY_REQUIRED = "POST_ONLY_REQUIRED"
    REDUCE_ONLY_REQUIRED = "REDUCE_ONLY_REQUIRED"
    # engines act on transitions (issue #13)
    ACCEPTED_AS_POST_ONLY = "ACCEPTED_AS_POST_ONLY"
    WOULD_CROSS = "WOULD_CROSS"
    INVALID_REQUEST = "INVALID_REQUEST"
    # the other venue of December 2022 (issue #16)
    DEFERRED = "DEFERRED"
    # reopen like the best venues (issue #14)
    AUCTION_CUTOFF = "AUCTION_CUTOFF"
    LIQUIDATION_NOT_RELEASED = "LIQUIDATION_NOT_RELEASED"
    LIQUIDATION_RATE_LIMITED = "LIQUIDATION_RATE_LIMITED"

    @property
    def accepts(self) -> bool:
        """Whether a decision with this reason lets the request in (possibly converted)."""
        return self in _ACCEPTING


class ProblemCode(_Code):
    """What is wrong with a policy definition (`Problem.code`)."""

    INVALID_NAME = "INVALID_NAME"
    INVALID_VALUE = "INVALID_VALUE"
    DUPLICATE_PHASE = "DUPLICATE_PHASE"
    UNKNOWN_PHASE = "UNKNOWN_PHASE"
    DUPLICATE_TRIGGER = "DUPLICATE_TRIGGER"
    UNREACHABLE_PHASE = "UNREACHABLE_PHASE"
    NORMAL_UNREACHABLE = "NORMAL_UNREACHABLE"
    NO_PATH_TO_HALT = "NO_PATH_TO_HALT"
    MISSING_HALT_TRIGGER = "MISSING_HALT_TRIGGER"
    HALT_SKIPS_PRE_OPEN = "HALT_SKIPS_PRE_OPEN"
    IMMEDIATE_EXECUTION_WITHOUT_MATCHING = "IMMEDIATE_EXECUTION_WITHOUT_MATCHING"
    CANCEL_NOT_ACCEPTED = "CANCEL_NOT_ACCEPTED"
    CAPABILITY_WITHOUT_MATCHING = "CAPABILITY_WITHOUT_MATCHING"
    UNSAFE_FAIL_SAFE = "UNSAFE_FAIL_SAFE"
    GUARDED_TIGHTENING = "GUARDED_TIGHTENING"
    # policy files (issue #5)
    FILE_UNREADABLE = "FILE_UNREADABLE"
    SYNTAX_ERROR = "SYNTAX_ERROR"
    UNKNOWN_KEY = "UNKNOWN_KEY"
    MISSING_KEY = "MISSING_KEY"
    UNKNOWN_MEMBER = "UNKNOWN_MEMBER"
    DUPLICATE_GUARD = "DUPLICATE_GUARD"
    INVALID_GUARD = "INVALID_GUARD"
    NEGATIVE_DURATION = "NEGATIVE_DURATION"
    PERMISSION_FOR_UNKNOWN_TRIGGER = "PERMISSION_FOR_UNKNOWN_TRIGGER"
    DUPLICATE_PERMISSION = "DUPLICATE_PERMISSION"
    PLAN_ENDPOINTS = "PLAN_ENDPOINTS"
    PLAN_STEP_MISMATCH = "PLAN_STEP_MISMATCH"
    # trust at every boundary (issue #11)
    CAPABILITY_BYPASS = "CAPABILITY_BYPASS"
    # engines act on transitions (issue #13)
    INVALID_DISPOSITION = "INVALID_DISPOSITION"
    STOP_FIRES_ON_REOPEN = "STOP_FIRES_ON_REOPEN"
    # the other venue of December 2022 (issue #16)
    INVALID_DEFERRAL = "INVALID_DEFERRAL"
    DEFERRED_NOT_CANCELLABLE = "DEFERRED_NOT_CANCELLABLE"
    # reopen like the best venues (issue #14)
    INVALID_AUCTION = "INVALID_AUCTION"
    INVALID_DEADLINE = "INVALID_DEADLINE"
    INVALID_LIQUIDATION_RELEASE = "INVALID_LIQUIDATION_RELEASE"


class SystemCancel(_Code):
    """Why the venue itself cancelled a resting order (a phase's disposition, or a fence).

    `fix_restatement_reason` is the value of FIX ExecRestatementReason (378) to send with the
    unsolicited cancel (ExecType 150 = 4).
    """

    TRADING_HALT = "TRADING_HALT"
    SYSTEM_FAILURE = "SYSTEM_FAILURE"
    WOULD_CROSS = "WOULD_CROSS"
    FENCED = "FENCED"

    @property
    def fix_restatement_reason(self) -> int:
        """FIX ExecRestatementReason (378): 6 cancel on trading halt, 7 cancel on system
        failure, 8 market (exchange) option."""
        return _FIX_378[self]


class RefusalCode(_Code):
    """Why the controller refused a transition (`TransitionRefused.code`)."""

    UNKNOWN_TRIGGER = "UNKNOWN_TRIGGER"
    TRANSITION_NOT_ALLOWED = "TRANSITION_NOT_ALLOWED"
    GUARD_REJECTED = "GUARD_REJECTED"
    GUARD_FAILED = "GUARD_FAILED"
    UNAUTHORIZED = "UNAUTHORIZED"
    JOURNAL_FAILED = "JOURNAL_FAILED"
    STALE_VERSION = "STALE_VERSION"
    PHASE_MISMATCH = "PHASE_MISMATCH"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    DWELL_NOT_MET = "DWELL_NOT_MET"
    HEALTH_CHECK_FAILED = "HEALTH_CHECK_FAILED"
    APPROVAL_MISSING = "APPROVAL_MISSING"
    SELF_APPROVAL = "SELF_APPROVAL"
    APPROVER_UNAUTHORIZED = "APPROVER_UNAUTHORIZED"
    NOT_ON_PLAN = "NOT_ON_PLAN"
    PLAN_COMPLETE = "PLAN_COMPLETE"
    # coordination (issue #7)
    VERSION_CONFLICT = "VERSION_CONFLICT"
    UPDATE_NOT_ALLOWED = "UPDATE_NOT_ALLOWED"
    # trust at every boundary (issue #11)
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    POLICY_MISMATCH = "POLICY_MISMATCH"


class IntegrityCode(_Code):
    """Why recovery did not trust (or trimmed) a journal (`JournalProblem.code`)."""

    TORN_TAIL = "TORN_TAIL"
    UNPARSEABLE_RECORD = "UNPARSEABLE_RECORD"
    HASH_MISMATCH = "HASH_MISMATCH"
    CHAIN_BROKEN = "CHAIN_BROKEN"
    RECORDS_REORDERED = "RECORDS_REORDERED"
    VERSION_REGRESSION = "VERSION_REGRESSION"
    SOURCE_MISMATCH = "SOURCE_MISMATCH"
    ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"
    SNAPSHOT_MISMATCH = "SNAPSHOT_MISMATCH"
    # trust at every boundary (issue #11): a keyed chain, an anchor, guarded writes
    MAC_MISMATCH = "MAC_MISMATCH"
    KEY_MISSING = "KEY_MISSING"
    ROLLED_BACK = "ROLLED_BACK"
    JOURNAL_MISSING = "JOURNAL_MISSING"
    JOURNAL_EMPTIED = "JOURNAL_EMPTIED"
    ANCHOR_MISMATCH = "ANCHOR_MISMATCH"
    ANCHOR_MISSING = "ANCHOR_MISSING"
    UNANCHORED_RECORD = "UNANCHORED_RECORD"
    JOURNAL_UNLINKED = "JOURNAL_UNLINKED"
    JOURNAL_REPLACED = "JOURNAL_REPLACED"
    JOURNAL_RESIZED = "JOURNAL_RESIZED"
    JOURNAL_BROKEN = "JOURNAL_BROKEN"
    RECORD_TOO_LARGE = "RECORD_TOO_LARGE"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"


_ACCEPTING = frozenset({Reason.ACCEPTED, Reason.ACCEPTED_AS_POST_ONLY})

_FIX_378: dict[SystemCancel, int] = {
    SystemCancel.TRADING_HALT: 6,
    SystemCancel.SYSTEM_FAILURE: 7,
    SystemCancel.WOULD_CROSS: 8,
    SystemCancel.FENCED: 6,
}

_DESCRIPTIONS: dict[_Code, str] = {
    Reason.ACCEPTED: "The request is allowed in the current phase.",
    Reason.PHASE_HALTED: "The venue is in a phase that accepts no order entry of this kind.",
    Reason.INSTRUMENT_HALTED: "The instrument is in a phase that accepts no order entry of this kind.",
    Reason.ACTION_NOT_ALLOWED: "The phase does not accept this action (e.g. deposits while degraded).",
    Reason.ORIGIN_NOT_ALLOWED: "The phase does not accept requests from this origin.",
    Reason.ORDER_TYPE_NOT_ALLOWED: "The phase does not accept this order type.",
    Reason.TIME_IN_FORCE_NOT_ALLOWED: "The phase does not accept this time in force.",
    Reason.POST_ONLY_REQUIRED: "The phase accepts only post-only orders.",
    Reason.REDUCE_ONLY_REQUIRED: "The phase accepts only reduce-only orders.",
    Reason.ACCEPTED_AS_POST_ONLY: (
        "Accepted, but only as a post-only order: the engine must enter it post-only (the "
        "phase converts incoming limit orders instead of refusing them)."
    ),
    Reason.WOULD_CROSS: (
        "Matching is off and the order's price is at or through the opposite touch: resting, it "
        "would cross the book."
    ),
    Reason.INVALID_REQUEST: (
        "The request's fields do not go together (e.g. post-only IOC, a market GTC); the message "
        "names the field."
    ),
    Reason.DEFERRED: (
        "Valid, but not processed in this phase: held until the phase in Decision.until (or "
        "cancelled by its owner); accepted is False."
    ),
    Reason.AUCTION_CUTOFF: (
        "Late in an auction call (after its cutoff) cancels and less aggressive amends are "
        "refused; Decision.retry_after is the call's scheduled end."
    ),
    Reason.LIQUIDATION_NOT_RELEASED: (
        "Liquidations have not resumed yet after the restart; Decision.retry_after is when they "
        "will (if known)."
    ),
    Reason.LIQUIDATION_RATE_LIMITED: (
        "Liquidations have resumed, but this instrument used its quota for the minute; "
        "Decision.retry_after is when a slot frees."
    ),
    ProblemCode.INVALID_AUCTION: (
        "An auction phase cannot work as written: it matches, its uncross or override trigger "
        "does not leave it for a matching phase, it opens by itself (OPEN_WITHOUT_CROSS) "
        "through an override that needs a person's approval, or a time, the collar or the "
        "extensions are out of range."
    ),
    ProblemCode.INVALID_DEADLINE: (
        "A maximum stay cannot work as written: no positive time, ADVANCE without a trigger "
        "that leaves the phase, or HALT in the fail-safe phase."
    ),
    ProblemCode.INVALID_LIQUIDATION_RELEASE: (
        "A liquidation release cannot work as written: a bad delay or rate, a phase that does "
        "not match, or one that refuses the liquidation engine's orders."
    ),
    ProblemCode.INVALID_DEFERRAL: (
        "A phase defers an action it also accepts, an action that cannot wait (order entry, a "
        "cancel of a withdrawal), or one no phase on its way back to normal processes."
    ),
    ProblemCode.DEFERRED_NOT_CANCELLABLE: (
        "A phase defers withdrawals but does not accept their owners' cancels "
        "(CANCEL_WITHDRAWAL)."
    ),
    ProblemCode.INVALID_DISPOSITION: (
        "A resting-order rule or an incoming-order conversion cannot work as written (e.g. a "
        "suspension without the phase that ends it)."
    ),
    ProblemCode.STOP_FIRES_ON_REOPEN: (
        "Stop orders may rest through a phase that does not match, and a transition from it opens "
        "matching with stop triggers on: the reopen print would fire them."
    ),
    SystemCancel.TRADING_HALT: "Cancelled by the venue: the phase entered cancels this order class.",
    SystemCancel.SYSTEM_FAILURE: (
        "Cancelled by the venue: the library itself failed the scope safe (staleness, a refused "
        "record, a fail-safe restart)."
    ),
    SystemCancel.WOULD_CROSS: (
        "Cancelled by the venue: reinstated while matching is off, it would have crossed the book."
    ),
    SystemCancel.FENCED: (
        "Cancelled by the venue: accepted in a batch that a halt overtook (see Fence); the phase "
        "now refuses it."
    ),
    ProblemCode.INVALID_NAME: "A phase or trigger name is not a valid identifier or is reserved.",
    ProblemCode.INVALID_VALUE: "A policy field holds a value of the wrong type.",
    ProblemCode.DUPLICATE_PHASE: "Two phases share a name.",
    ProblemCode.UNKNOWN_PHASE: "A transition or setting names a phase the policy does not define.",
    ProblemCode.DUPLICATE_TRIGGER: "One trigger is defined twice from the same source phase.",
    ProblemCode.UNREACHABLE_PHASE: "No path leads from the initial phase to this phase.",
    ProblemCode.NORMAL_UNREACHABLE: "No path leads from this phase back to the normal phase.",
    ProblemCode.NO_PATH_TO_HALT: "No path leads from this phase to the fail-safe (halt) phase.",
    ProblemCode.MISSING_HALT_TRIGGER: "This phase has no halt trigger straight to the fail-safe phase.",
    ProblemCode.HALT_SKIPS_PRE_OPEN: (
        "A path from the fail-safe phase reaches a matching phase without a pre-open phase."
    ),
    ProblemCode.IMMEDIATE_EXECUTION_WITHOUT_MATCHING: (
        "A non-matching phase accepts a request that needs immediate execution."
    ),
    ProblemCode.CANCEL_NOT_ACCEPTED: "A phase accepts new orders from an origin but not its cancels.",
    ProblemCode.CAPABILITY_WITHOUT_MATCHING: (
        "A non-matching phase lets stops trigger or liquidations run."
    ),
    ProblemCode.UNSAFE_FAIL_SAFE: "The fail-safe phase matches orders or accepts new orders.",
    ProblemCode.GUARDED_TIGHTENING: "A tightening transition has guards; tightening must never block.",
    ProblemCode.FILE_UNREADABLE: "The policy file cannot be read (missing, unreadable or not UTF-8).",
    ProblemCode.SYNTAX_ERROR: "The policy file is not valid TOML.",
    ProblemCode.UNKNOWN_KEY: "A policy file sets a key its table does not have (never ignored).",
    ProblemCode.MISSING_KEY: "A policy file omits a key its table requires.",
    ProblemCode.UNKNOWN_MEMBER: (
        "A policy file names an action, order type, time in force or origin that does not exist."
    ),
    ProblemCode.DUPLICATE_GUARD: "Two guard declarations share a name.",
    ProblemCode.INVALID_GUARD: (
        "A guard declaration has an unknown kind, or parameters that do not fit its kind."
    ),
    ProblemCode.NEGATIVE_DURATION: "A dwell guard's duration is negative or not finite.",
    ProblemCode.PERMISSION_FOR_UNKNOWN_TRIGGER: "A permission names a trigger the policy lacks.",
    ProblemCode.DUPLICATE_PERMISSION: "One trigger has more than one permission.",
    ProblemCode.PLAN_ENDPOINTS: (
        "A restart plan does not start in the fail-safe phase or does not end in the normal one."
    ),
    ProblemCode.PLAN_STEP_MISMATCH: (
        "A plan step's trigger does not lead from its phase to the next step's phase."
    ),
    ProblemCode.CAPABILITY_BYPASS: (
        "A relaxing edge turns back on a capability (stops, liquidations) its source phase turned "
        "off, with fewer guards than that phase's planned exit to the normal phase."
    ),
    RefusalCode.UNKNOWN_TRIGGER: "The policy defines no such trigger.",
    RefusalCode.TRANSITION_NOT_ALLOWED: "The trigger does not lead anywhere from the current phase.",
    RefusalCode.GUARD_REJECTED: "A guard of the transition returned false.",
    RefusalCode.GUARD_FAILED: "A guard of the transition raised; the transition fails closed.",
    RefusalCode.UNAUTHORIZED: "The actor may not fire this trigger.",
    RefusalCode.JOURNAL_FAILED: "The write-ahead record of a relaxing transition could not be written.",
    RefusalCode.STALE_VERSION: "An applied record's version is not newer than the current version.",
    RefusalCode.PHASE_MISMATCH: "An applied record starts from a phase other than the current one.",
    RefusalCode.INVALID_ARGUMENT: "An argument (actor, reason, scope, trigger) is missing or mistyped.",
    RefusalCode.DWELL_NOT_MET: "The scope has not been in its phase for the minimum time yet.",
    RefusalCode.HEALTH_CHECK_FAILED: "A health check the transition needs fails, raised or is unknown.",
    RefusalCode.APPROVAL_MISSING: "The transition needs an approval that has not been given.",
    RefusalCode.SELF_APPROVAL: (
        "The only approval was given by the actor firing the trigger; two people are needed."
    ),
    RefusalCode.APPROVER_UNAUTHORIZED: "The actor holds no role that may approve this trigger.",
    RefusalCode.NOT_ON_PLAN: "The scope is in a phase that is not a step of the restart plan.",
    RefusalCode.PLAN_COMPLETE: "The restart plan has reached its last step; nothing to advance.",
    RefusalCode.VERSION_CONFLICT: (
        "Another transition of the scope was stored since the state this one was decided on."
    ),
    RefusalCode.UPDATE_NOT_ALLOWED: (
        "A follower got an update its policy does not allow from its phase; it fails safe."
    ),
    RefusalCode.SIGNATURE_INVALID: (
        "A relaxing record is unsigned, its signature does not verify against the identity "
        "directory, or it was signed for another visit of the phase."
    ),
    RefusalCode.POLICY_MISMATCH: "A record was decided under another policy (its fingerprint differs).",
    IntegrityCode.SIGNATURE_INVALID: (
        "A relaxing record's signatures or approvals do not verify against the identity directory."
    ),
    IntegrityCode.TORN_TAIL: (
        "The last line is incomplete (a crash mid-write); it is dropped, the rest is trusted."
    ),
    IntegrityCode.UNPARSEABLE_RECORD: "A line is not a record: bad JSON, a missing field or a wrong type.",
    IntegrityCode.HASH_MISMATCH: "A record's content does not match its own hash: it was altered.",
    IntegrityCode.CHAIN_BROKEN: (
        "A record's previous-hash is not the hash of the record before it: one was removed or added."
    ),
    IntegrityCode.RECORDS_REORDERED: "A record's predecessor appears after it: records were reordered.",
    IntegrityCode.VERSION_REGRESSION: "A record's version is not above the version before it.",
    IntegrityCode.SOURCE_MISMATCH: "A transition starts from a phase other than its scope's replayed one.",
    IntegrityCode.ILLEGAL_TRANSITION: (
        "The policy has no such transition, or the record's relaxing flag disagrees with the policy."
    ),
    IntegrityCode.SNAPSHOT_MISMATCH: (
        "A snapshot's phases disagree with the replayed ones, or name a phase the policy lacks."
    ),
    IntegrityCode.MAC_MISMATCH: (
        "A record's or the anchor's MAC does not verify with the journal key, or is missing: "
        "forged, or written with another key or none."
    ),
    IntegrityCode.KEY_MISSING: (
        "The journal or its anchor carries MACs but no journal key was given to check them."
    ),
    IntegrityCode.ROLLED_BACK: (
        "The journal ends below its anchor's version: its last records were cut off."
    ),
    IntegrityCode.JOURNAL_MISSING: "The anchor exists but the journal file does not: it was deleted.",
    IntegrityCode.JOURNAL_EMPTIED: "The journal file is empty but its anchor names records: it was emptied.",
    IntegrityCode.ANCHOR_MISMATCH: (
        "The anchor does not parse, or the journal does not end with the record it names: the "
        "journal (or the anchor) was replaced."
    ),
    IntegrityCode.ANCHOR_MISSING: (
        "The journal holds records but the anchor configured for it is missing: it was deleted."
    ),
    IntegrityCode.UNANCHORED_RECORD: (
        "The last record was written but never anchored (a crash mid-append); a relaxing one was "
        "never acknowledged and is dropped, the rest is trusted."
    ),
    IntegrityCode.JOURNAL_UNLINKED: (
        "Write refused: the open journal file was deleted or moved away while running."
    ),
    IntegrityCode.JOURNAL_REPLACED: (
        "Write refused: the journal path names another file than the one open (replaced while "
        "running)."
    ),
    IntegrityCode.JOURNAL_RESIZED: (
        "Write refused: the journal file's size is not what this process wrote (truncated or "
        "written by someone else)."
    ),
    IntegrityCode.JOURNAL_BROKEN: (
        "Write refused: a failed write could not be undone, so the journal stopped appending; "
        "restart through recover()."
    ),
    IntegrityCode.RECORD_TOO_LARGE: (
        "Write refused: the record is longer than the journal's record size cap."
    ),
}
