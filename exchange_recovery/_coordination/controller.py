"""The operator's side of coordination: decide a transition, store it with a compare-and-swap."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from .._control.audit import audit_logger
from .._control.controller import TriggerMethods, check_guards, check_seams
from .._control.trust import Trust, approvals_of
from .._core.errors import ConfigurationError, TransitionConflict, TransitionRefused
from .._core.model import VENUE, Actor
from .._core.policy import Policy
from .._core.text import shown
from .._decide.decide import actor_of, clean_reason, decide, require_text
from .._decide.records import Authorizer, Clock, Guard, TransitionRecord
from .._trust.approvals import SignedApproval
from .._trust.directory import Directory
from .._trust.signing import Signer
from .coordinator import Coordinator
from .state import CoordinatorState


class CoordinatedController(TriggerMethods):
    """The operator's side: decide a transition like a `Controller`, store it in a coordinator.

    Each call reads the coordinator, decides on that state with the policy's graph, the guards
    and the authorizer (a refusal raises `TransitionRefused`, nothing is stored), then proposes
    the record with a compare-and-swap against the scope's version it was decided on.

    Example:
        >>> from exchange_recovery import LocalCoordinator, default_policy
        >>> ops = CoordinatedController(default_policy(), LocalCoordinator())
        >>> ops.halt(actor="ops:alice", reason="zone down").dest
        'HALTED'
        >>> ops.state().phases["venue"]
        'HALTED'
    """

    def __init__(
        self,
        policy: Policy,
        coordinator: Coordinator,
        *,
        guards: Mapping[str, Guard] | None = None,
        authorizer: Authorizer | None = None,
        clock: Clock = time.time,
        logger: Any = None,
        halt_attempts: int = 5,
        directory: Directory | None = None,
        signer: Signer | None = None,
    ) -> None:
        if not isinstance(policy, Policy):
            msg = f"CoordinatedController needs a Policy, got {shown(policy)}"
            raise ConfigurationError(msg)
        try:
            conforms = isinstance(coordinator, Coordinator)
        except Exception:  # a hostile object: a protocol check reads its attributes
            conforms = False
        if not conforms:
            msg = ("coordinator must implement Coordinator (read/propose/follow/alive), "
                   f"got {shown(coordinator)}")
            raise ConfigurationError(msg)
        if type(halt_attempts) is not int or halt_attempts < 1:
            msg = f"halt_attempts must be an int >= 1, got {shown(halt_attempts)}"
            raise ConfigurationError(msg)
        self._policy = policy
        self._coordinator = coordinator
        check_seams(authorizer, clock)
        self._trust = Trust.of(policy, directory, signer)
        # fail now on missing guards, not at 3 a.m.
        self._guards = check_guards(policy, self._trust.guards({} if guards is None else guards))
        self._first_seen: dict[str, tuple[int, float]] = {}  # scope: (its version, seen at)
        self._authorizer = authorizer
        self._clock = clock
        self._log = audit_logger(logger)
        self._halt_attempts = halt_attempts

    @property
    def policy(self) -> Policy:
        """The policy transitions are decided with."""
        return self._policy

    @property
    def coordinator(self) -> Coordinator:
        """Where decided transitions are stored."""
        return self._coordinator

    def state(self) -> CoordinatorState:
        """A fresh read of the coordinator."""
        return self._coordinator.read()

    def fire(self, trigger: str, *, actor: Actor | str, reason: str, scope: str = VENUE,
             on: CoordinatorState | None = None,
             approvals: Sequence[SignedApproval] = ()) -> TransitionRecord:
        """Decide `trigger` on the current state (or `on`) and store it; return the stored record.

        Raises:
            TransitionRefused: refused by the graph, a guard or the authorizer; nothing stored.
            TransitionConflict: another transition of `scope` was stored first; it carries the
                winning state. Nothing of this one was stored.
            CoordinatorError: the coordinator did not answer; the outcome is unknown.
        """
        require_text("trigger", trigger, scope=scope, trigger=trigger)
        who = actor_of(actor, scope=scope, trigger=trigger)
        reason = clean_reason(require_text("reason", reason, scope=scope, trigger=trigger))
        require_text("scope", scope, scope=scope, trigger=trigger)
        signed = approvals_of(approvals, scope=scope, trigger=trigger)
        if on is not None and not isinstance(on, CoordinatorState):
            msg = f"on must be a CoordinatorState, got {shown(on)}"
            raise ConfigurationError(msg)
        state = self._coordinator.read(scopes=(scope,)) if on is None else on
        return self._store(self._decide(state, trigger, who, reason, scope, signed), state)

    def halt(self, *, actor: Actor | str, reason: str, scope: str = VENUE) -> TransitionRecord | None:
        """Move `scope` to the fail-safe phase; None if the coordinator has it there already.

        A halt is never lost to a race: on a conflict it reads again and retries (up to
        ``halt_attempts`` times) unless the winner already halted the scope.
        """
        trigger = self._policy.halt_trigger
        who = actor_of(actor, scope=scope, trigger=trigger)
        reason = clean_reason(require_text("reason", reason, scope=scope, trigger=trigger))
        require_text("scope", scope, scope=scope, trigger=trigger)
        for attempt in range(1, self._halt_attempts + 1):
            state = self._coordinator.read(scopes=(scope,))  # a halt needs its own scope only
            if self._phase_in(state, scope) == self._policy.fail_safe:
                return None
            record = self._decide(state, trigger, who, reason, scope, ())
            try:
                return self._store(record, state)
            except TransitionConflict:
                if attempt == self._halt_attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _phase_in(self, state: CoordinatorState, scope: str) -> str:
        """`scope`'s own phase in `state` (a decision reads only its scope's record)."""
        record = state.records.get(scope)
        if record is not None:
            return record.dest
        return self._policy.initial if scope == VENUE else self._policy.normal

    def visit(self, state: CoordinatorState, scope: str = VENUE) -> int:
        """The version at which `scope` entered its phase in `state`: what approvals sign."""
        if not isinstance(state, CoordinatorState) or type(scope) is not str:
            msg = f"visit() needs a CoordinatorState and a scope name, got {shown(state)}, {shown(scope)}"
            raise ConfigurationError(msg)
        return state.version_of(scope)

    def _entered_at(self, scope: str, stored: TransitionRecord | None, now: float) -> float:
        """When `scope` entered its stored phase, for dwell guards: the stored time, but never
        earlier than when this process first saw that record (a backdated record gains
        nothing)."""
        if stored is None:
            return now
        version, seen = self._first_seen.get(scope, (-1, now))
        if version != stored.version:
            seen = now
            self._first_seen[scope] = (stored.version, now)
        return max(stored.timestamp, seen)

    def _decide(self, state: CoordinatorState, trigger: str, actor: Actor, reason: str,
                scope: str, approvals: tuple[SignedApproval, ...]) -> TransitionRecord:
        stored = state.records.get(scope)
        now = self._clock()
        actor = self._trust.identify(actor)
        try:
            ctx = decide(
                self._policy, scope=scope, phase=self._phase_in(state, scope), trigger=trigger,
                actor=actor, reason=reason, now=now,
                entered_at=self._entered_at(scope, stored, now),
                version=state.version, guards=self._guards, authorizer=self._authorizer,
            )
            record = self._trust.seal(ctx.record(), state.version_of(scope), approvals)
        except TransitionRefused as refusal:
            self._log.warning("transition_refused", code=refusal.code.value, scope=refusal.scope,
                              phase=refusal.phase, trigger=refusal.trigger, actor=actor.name,
                              detail=refusal.detail, reason=reason)
            raise
        return record

    def _store(self, record: TransitionRecord, state: CoordinatorState) -> TransitionRecord:
        expected = state.version_of(record.scope)
        try:
            stored = self._coordinator.propose(record, expected)
        except TransitionConflict as lost:
            self._log.warning("transition_refused", code=lost.code.value, scope=lost.scope,
                              phase=lost.phase, trigger=lost.trigger, actor=record.actor,
                              detail=lost.detail, reason=record.reason)
            raise
        self._first_seen[stored.scope] = (stored.version, record.timestamp)  # decided here
        self._log.info("phase_changed", scope=stored.scope, from_phase=stored.source,
                       to_phase=stored.dest, trigger=stored.trigger, actor=stored.actor,
                       reason=stored.reason, version=stored.version, relaxing=stored.relaxing)
        return stored
