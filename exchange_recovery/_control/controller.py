"""The controller: a `transitions` machine moving each scope between the policy's phases.

One `transitions.Machine` holds the policy's graph (built with ``auto_transitions=False``, so
the only doors are the policy's triggers); every scope (the venue, and each instrument given a
phase of its own) is one model on it. A trigger runs, under one plain lock:

1. checks of our own: the trigger exists and leads somewhere from the current phase, the actor
   is authorized (refusals raise `TransitionRefused`, nothing changes);
2. transitions' *conditions*: the transition's guards, each a callable registered by name;
3. *before*: for a relaxing transition, the write-ahead journal record (a failed write refuses);
4. the state change: the scope model's ``state`` setter publishes the new gate tables with one
   reference swap, so the gate can never drift from the machine;
5. *after*: for a tightening transition, the journal record (a failed write is reported as a
   critical event, never undone), then a structlog ``phase_changed`` event.

Gate readers take no lock and never wait on any of this.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import structlog
from transitions import EventData, Machine

from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, TransitionRefused
from .._core.gate import Gate
from .._core.model import VENUE, Actor
from .._core.phases import TransitionSpec
from .._core.policy import Policy
from .._decide.records import Authorizer, Clock, Guard, TransitionContext, TransitionRecord
from .._journal.protocol import Journal

if TYPE_CHECKING:
    from .._journal.replay import RecoveryReport


class _GuardFailed(Exception):
    def __init__(self, guard: str) -> None:
        super().__init__(guard)
        self.guard = guard


class _JournalFailed(Exception):
    pass


class _ScopeModel:
    """One scope on the machine; its ``state`` setter is where phase changes are published."""

    def __init__(self, owner: Controller, scope: str, phase: str) -> None:
        self._owner = owner
        self.scope = scope
        self._phase = phase

    @property
    def state(self) -> str:
        return self._phase

    @state.setter
    def state(self, phase: str) -> None:
        if phase != self._phase:
            self._owner._on_phase_set(self.scope, phase)
        self._phase = phase


class Controller:
    """Moves the venue and its instruments between phases, and keeps the gate in step.

    Every trigger of the policy is a method (``controller.pre_open(actor=..., reason=...)``) as
    well as `fire("pre_open", ...)`; each takes the actor, a reason and the scope. `phases`,
    `version` and `entered_at` (clock seconds per scope; default: now) start it where a state
    decided elsewhere left off.

    Example:
        >>> from exchange_recovery import default_policy
        >>> c = Controller(default_policy())
        >>> c.halt(actor="ops:alice", reason="zone down").dest
        'HALTED'
        >>> c.gate.phase()
        'HALTED'
    """

    def __init__(
        self,
        policy: Policy,
        *,
        guards: Mapping[str, Guard] | None = None,
        journal: Journal | None = None,
        authorizer: Authorizer | None = None,
        clock: Clock = time.time,
        logger: Any = None,
        phases: Mapping[str, str] | None = None,
        version: int = 0,
        entered_at: Mapping[str, float] | None = None,
    ) -> None:
        if not isinstance(policy, Policy):
            msg = f"Controller needs a Policy, got {policy!r}"
            raise ConfigurationError(msg)
        self._policy = policy
        self._guards = _check_guards(policy, guards or {})
        self._journal = journal
        self._authorizer = authorizer
        self._clock = clock
        self._log = logger if logger is not None else structlog.get_logger("exchange_recovery")
        if type(version) is not int or version < 0:
            msg = f"version must be an int >= 0, got {version!r}"
            raise ConfigurationError(msg)
        self._version = version
        self._gate = Gate(policy, phases, version)
        self._lock = threading.Lock()
        self._pending: TransitionContext | None = None
        self._applying = False
        self._rejected_by = ""
        self.unjournaled: list[TransitionRecord] = []
        """Tightening transitions whose journal write failed (they took effect regardless);
        retried, oldest first, before every later journal write and by `retry_journal`."""
        self.recovery: RecoveryReport | None = None
        """What `recover` found in the journal this controller was rebuilt from (else None)."""
        now = clock()
        self._entered: dict[str, float] = dict.fromkeys(self._gate.phases, now)
        for scope, since in (entered_at or {}).items():  # when phases decided elsewhere began
            if scope in self._entered:
                self._entered[scope] = since
        self._machine = Machine(
            model=None, states=list(policy.phase_names), initial=policy.initial,
            auto_transitions=False, send_event=True, ignore_invalid_triggers=False,
        )
        for spec in policy.transitions:
            self._machine.add_transition(
                spec.trigger, spec.source, spec.dest,
                conditions=[functools.partial(self._run_guards, spec)],
                before=[self._write_ahead], after=[self._after],
            )
        self._scopes: dict[str, _ScopeModel] = {}
        for scope, phase in self._gate.phases.items():
            self._add_scope(scope, phase)

    # -- read-only views -----------------------------------------------------------------------

    @property
    def policy(self) -> Policy:
        """The policy being enforced."""
        return self._policy

    @property
    def gate(self) -> Gate:
        """The gate this controller keeps up to date; hand it (or ``gate.check``) to the engine."""
        return self._gate

    @property
    def clock(self) -> Clock:
        """The clock guards and records use."""
        return self._clock

    @property
    def authorizer(self) -> Authorizer | None:
        """The authorizer every `fire` consults, if any."""
        return self._authorizer

    def guard(self, name: str) -> Guard:
        """The guard registered as `name` (for status displays that evaluate it ahead of time)."""
        try:
            return self._guards[name]
        except KeyError:
            msg = f"no guard {name!r}; registered: {sorted(self._guards)}"
            raise ConfigurationError(msg) from None

    @property
    def version(self) -> int:
        """The version of the latest transition (0 before any)."""
        return self._version

    def phase(self, scope: str = VENUE) -> str:
        """The phase of `scope`; an instrument without its own phase follows the venue."""
        return self._gate.phase(scope)

    def triggers(self, scope: str = VENUE) -> tuple[str, ...]:
        """The triggers that lead somewhere from `scope`'s current phase."""
        current = self._own_phase(scope)
        return tuple(t.trigger for t in self._policy.transitions_from(current))

    @property
    def journal(self) -> Journal | None:
        """Where transitions are journaled (None: nowhere)."""
        return self._journal

    def entered_at(self, scope: str = VENUE) -> float:
        """When `scope` entered its current phase (clock seconds)."""
        return self._entered.get(scope, self._entered[VENUE])

    # -- transitions ---------------------------------------------------------------------------

    def fire(self, trigger: str, *, actor: Actor | str, reason: str,
             scope: str = VENUE) -> TransitionRecord:
        """Fire `trigger` on `scope`; return the record of the transition that happened.

        Raises:
            TransitionRefused: the transition is not in the graph, a guard said no or raised,
                the actor is not authorized, or the write-ahead record failed. Nothing changed.
        """
        _text("trigger", trigger, scope, str(trigger))
        who = _actor(actor, scope, trigger)
        _text("reason", reason, scope, trigger)
        _text("scope", scope, scope, trigger)
        with self._lock:
            return self._fire(trigger, who, reason, scope)

    def halt(self, *, actor: Actor | str, reason: str,
             scope: str = VENUE) -> TransitionRecord | None:
        """Move `scope` to the fail-safe phase; None if it is there already.

        Once this returns, no `check` started afterwards accepts anything the fail-safe phase
        refuses, on any thread.
        """
        who = _actor(actor, scope, self._policy.halt_trigger)
        _text("reason", reason, scope, self._policy.halt_trigger)
        _text("scope", scope, scope, self._policy.halt_trigger)
        with self._lock:
            if self._own_phase(scope) == self._policy.fail_safe:
                return None
            return self._fire(self._policy.halt_trigger, who, reason, scope)

    def apply(self, record: TransitionRecord) -> None:
        """Apply a transition decided elsewhere (a replayed journal, a remote coordinator).

        It goes through the same graph and publication path as `fire`, but not through guards,
        authorization or the journal: those ran where the transition was decided.

        Raises:
            TransitionRefused: STALE_VERSION, PHASE_MISMATCH or TRANSITION_NOT_ALLOWED.
        """
        if not isinstance(record, TransitionRecord):
            msg = f"apply() needs a TransitionRecord, got {record!r}"
            raise ConfigurationError(msg)
        with self._lock:
            current = self._own_phase(record.scope)
            if record.version <= self._version:
                self._refuse(RefusalCode.STALE_VERSION, record.scope, current, record.trigger,
                             f"version={record.version} current={self._version}", record.actor,
                             record.reason)
            if record.source != current:
                self._refuse(RefusalCode.PHASE_MISMATCH, record.scope, current, record.trigger,
                             f"source={record.source}", record.actor, record.reason)
            spec = self._policy.transition(current, record.trigger)
            if spec is None or spec.dest != record.dest:
                self._refuse(RefusalCode.TRANSITION_NOT_ALLOWED, record.scope, current,
                             record.trigger, f"dest={record.dest}", record.actor, record.reason)
            ctx = TransitionContext(record.scope, current, record.dest, record.trigger,
                                    Actor(record.actor), record.reason, record.timestamp,
                                    self.entered_at(record.scope), record.relaxing, record.version)
            self._applying = True
            try:
                self._run(ctx)
            finally:
                self._applying = False

    def retry_journal(self) -> int:
        """Write the `unjournaled` records again, oldest first; return how many remain.

        Each call that still fails emits a critical ``journal_write_failed`` event. The phase
        is never touched: a halt whose record could not be written stays a halt. Call it
        periodically (a plan step, a health check) while it returns more than 0.
        """
        with self._lock:
            if self.unjournaled:
                try:
                    self._flush_unjournaled()
                except Exception as exc:
                    first = self.unjournaled[0]
                    self._log.critical("journal_write_failed", scope=first.scope,
                                       version=first.version, to_phase=first.dest,
                                       trigger=first.trigger, pending=len(self.unjournaled),
                                       error=repr(exc))
            return len(self.unjournaled)

    def __getattr__(self, name: str) -> Callable[..., TransitionRecord]:
        policy: Policy = self.__dict__.get("_policy")  # type: ignore[assignment]
        if policy is not None and not name.startswith("_") and name in policy.triggers:
            return functools.partial(self.fire, name)
        msg = f"{type(self).__name__!r} object has no attribute {name!r}"
        raise AttributeError(msg)

    def __repr__(self) -> str:
        phases = dict(self._gate.phases)
        return f"<Controller policy={self._policy.name!r} version={self._version} phases={phases}>"

    # -- internals (called with the lock held) ---------------------------------------------------

    def _own_phase(self, scope: str) -> str:
        model = self._scopes.get(scope)
        # An instrument without a phase of its own adds no restriction to the venue's: it is in
        # the normal phase (not the initial one, which may be the fail-safe phase).
        return model.state if model is not None else self._policy.normal

    def _fire(self, trigger: str, actor: Actor, reason: str, scope: str) -> TransitionRecord:
        source = self._own_phase(scope)
        if trigger not in self._policy.triggers:
            self._refuse(RefusalCode.UNKNOWN_TRIGGER, scope, source, trigger,
                         f"known triggers: {', '.join(sorted(self._policy.triggers))}", actor.name,
                         reason)
        spec = self._policy.transition(source, trigger)
        if spec is None:
            self._refuse(RefusalCode.TRANSITION_NOT_ALLOWED, scope, source, trigger,
                         f"from {source} the policy allows: {', '.join(self.triggers(scope))}",
                         actor.name, reason)
        ctx = TransitionContext(scope, source, spec.dest, trigger, actor, reason, self._clock(),
                                self.entered_at(scope), self._policy.is_relaxing(source, spec.dest),
                                self._version + 1)
        if self._authorizer is not None:
            self._authorize(ctx)
        return self._run(ctx)

    def _authorize(self, ctx: TransitionContext) -> None:
        assert self._authorizer is not None  # noqa: S101 - checked by the caller
        try:
            verdict = self._authorizer(ctx)
        except TransitionRefused as refusal:
            self._log_refusal(refusal, ctx.actor.name, ctx.reason)
            raise
        except Exception as exc:
            self._refuse(RefusalCode.UNAUTHORIZED, ctx.scope, ctx.source, ctx.trigger,
                         f"authorizer raised {exc!r}", ctx.actor.name, ctx.reason, cause=exc)
        if verdict is not None and verdict is not True:  # a predicate saying no: fail closed
            self._refuse(RefusalCode.UNAUTHORIZED, ctx.scope, ctx.source, ctx.trigger,
                         f"authorizer returned {verdict!r}", ctx.actor.name, ctx.reason)

    def _run(self, ctx: TransitionContext) -> TransitionRecord:
        """Fire `ctx` through the machine; translate failures into refusals."""
        new_scope = ctx.scope not in self._scopes
        model = self._add_scope(ctx.scope, ctx.source) if new_scope else self._scopes[ctx.scope]
        self._pending = ctx
        try:
            done = model.trigger(ctx.trigger, ctx=ctx)  # type: ignore[attr-defined]
        except _GuardFailed as exc:
            self._undo_scope(new_scope, model)
            self._refuse(RefusalCode.GUARD_FAILED, ctx.scope, ctx.source, ctx.trigger,
                         f"guard={exc.guard} raised {exc.__cause__!r}", ctx.actor.name,
                         ctx.reason, cause=exc.__cause__)
        except TransitionRefused as refusal:  # a guard refusing with its own code
            self._undo_scope(new_scope, model)
            self._log_refusal(refusal, ctx.actor.name, ctx.reason)
            raise
        except _JournalFailed as exc:
            self._undo_scope(new_scope, model)
            self._refuse(RefusalCode.JOURNAL_FAILED, ctx.scope, ctx.source, ctx.trigger,
                         f"write-ahead failed: {exc.__cause__!r}", ctx.actor.name,
                         ctx.reason, cause=exc.__cause__)
        finally:
            self._pending = None
        if not done:
            self._undo_scope(new_scope, model)
            self._refuse(RefusalCode.GUARD_REJECTED, ctx.scope, ctx.source, ctx.trigger,
                         f"guard={self._rejected_by}", ctx.actor.name, ctx.reason)
        return ctx.record()

    def _add_scope(self, scope: str, phase: str) -> _ScopeModel:
        model = _ScopeModel(self, scope, phase)
        self._machine.add_model(model, initial=phase)
        self._scopes[scope] = model
        return model

    def _undo_scope(self, new_scope: bool, model: _ScopeModel) -> None:
        if new_scope:
            self._machine.remove_model(model)
            del self._scopes[model.scope]

    def _run_guards(self, spec: TransitionSpec, event: EventData) -> bool:
        if self._applying:
            return True
        ctx: TransitionContext = event.kwargs["ctx"]
        for name in spec.guards:
            try:
                ok = self._guards[name](ctx)
            except TransitionRefused:
                raise
            except Exception as exc:
                raise _GuardFailed(name) from exc
            if ok is not True:
                self._rejected_by = name
                return False
        return True

    def _write_ahead(self, event: EventData) -> None:
        ctx: TransitionContext = event.kwargs["ctx"]
        if self._applying or not ctx.relaxing or self._journal is None:
            return
        try:
            self._flush_unjournaled()  # a relaxing record must never overtake a lost halt
            self._journal.append(ctx.record())
        except Exception as exc:
            raise _JournalFailed from exc

    def _flush_unjournaled(self) -> None:
        """Append pending tightening records in version order; raise on the first failure."""
        assert self._journal is not None  # noqa: S101 - callers check
        while self.unjournaled:
            self._journal.append(self.unjournaled[0])
            del self.unjournaled[0]

    def _on_phase_set(self, scope: str, phase: str) -> None:
        ctx = self._pending
        if ctx is None or ctx.scope != scope or ctx.dest != phase:
            msg = "phases change only through Controller.fire/halt/apply"
            raise ConfigurationError(msg)
        self._gate._publish_scope(scope, phase, ctx.version)
        self._version = ctx.version
        self._entered[scope] = ctx.now

    def _after(self, event: EventData) -> None:
        ctx: TransitionContext = event.kwargs["ctx"]
        record = ctx.record()
        if not self._applying and not ctx.relaxing and self._journal is not None:
            try:
                self._flush_unjournaled()
                self._journal.append(record)
            except Exception as exc:
                self.unjournaled.append(record)
                self._log.critical("journal_write_failed", scope=ctx.scope, version=ctx.version,
                                   to_phase=ctx.dest, trigger=ctx.trigger,
                                   pending=len(self.unjournaled), error=repr(exc))
        self._log.info("phase_applied" if self._applying else "phase_changed",
                       scope=ctx.scope, from_phase=ctx.source, to_phase=ctx.dest,
                       trigger=ctx.trigger, actor=ctx.actor.name, reason=ctx.reason,
                       version=ctx.version, relaxing=ctx.relaxing)

    def _refuse(self, code: RefusalCode, scope: str, phase: str, trigger: str, detail: str,
                actor: str, reason: str, cause: BaseException | None = None) -> NoReturn:
        refusal = TransitionRefused(code, scope=scope, phase=phase, trigger=trigger, detail=detail)
        self._log_refusal(refusal, actor, reason)
        raise refusal from cause

    def _log_refusal(self, refusal: TransitionRefused, actor: str, reason: str) -> None:
        self._log.warning("transition_refused", code=refusal.code.value, scope=refusal.scope,
                          phase=refusal.phase, trigger=refusal.trigger, actor=actor,
                          detail=refusal.detail, reason=reason)


def _check_guards(policy: Policy, guards: Mapping[str, Guard]) -> dict[str, Guard]:
    needed = {name for t in policy.transitions for name in t.guards}
    missing = sorted(needed - set(guards))
    if missing:
        msg = f"policy {policy.name!r} needs guards {missing}; pass them as guards={{name: fn}}"
        raise ConfigurationError(msg)
    bad = sorted(name for name, fn in guards.items() if not callable(fn))
    if bad:
        msg = f"guards {bad} are not callable"
        raise ConfigurationError(msg)
    return dict(guards)


def _actor(actor: object, scope: object, trigger: str) -> Actor:
    if isinstance(actor, Actor):
        return actor
    if type(actor) is str and actor.strip():
        return Actor(actor)
    raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=str(scope), phase="?",
                            trigger=trigger, detail=f"actor must be an Actor or a non-empty "
                            f"str, got {actor!r}")


def _text(field: str, value: object, scope: object, trigger: str) -> None:
    if type(value) is not str or not value.strip():
        raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=str(scope), phase="?",
                                trigger=str(trigger), detail=f"{field} must be a non-empty str, "
                                f"got {value!r}")
