"""The controller: decides with the pure core, carries out with a `transitions` machine.

A trigger runs, under one plain lock:

1. the decision (`_decide.decide`): the trigger exists and leads somewhere from the scope's
   phase, the authorizer and every guard agree — or `TransitionRefused`, nothing changed;
2. the `transitions` lifecycle of that transition, on one machine built from the policy's graph
   (``auto_transitions=False``: the policy's triggers are its only doors):

   - *before*: for a relaxing transition, the write-ahead journal record (a failed write
     aborts the transition: JOURNAL_FAILED, nothing changed);
   - the state change: the machine's one model (a cursor placed on the scope being moved)
     stores the new phase, and its ``state`` setter publishes the gate tables with one
     reference swap, so the gate can never drift from the machine;
   - *after*: for a tightening transition, the journal record (a failed write is kept in
     `unjournaled` and reported, never undone), then the ``phase_changed`` audit event.

What `transitions` does for us: it runs every transition's lifecycle in its fixed order
(before, exit, state change, enter, after) and checks the transition is in the graph it was
built from. What we no longer ask of it: conditions (the decision is made before, in one pure
place), one model per scope (``add_model`` scans a list: quadratic for many instruments), and
carrying refusals out through side channels. Gate readers take no lock and never wait.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from transitions import EventData, Machine

from .._core.codes import RefusalCode
from .._core.errors import ConfigurationError, JournalError, TransitionRefused
from .._core.gate import Gate
from .._core.model import VENUE, Actor
from .._core.policy import Policy, planned_dwell
from .._core.text import shown
from .._decide.decide import actor_of, clean_reason, decide, misfit, require_text
from .._decide.records import (
    Authorizer,
    Clock,
    Guard,
    JournalNote,
    TransitionContext,
    TransitionRecord,
    note_payload,
)
from .._journal.protocol import Journal
from .._trust.approvals import SignedApproval
from .._trust.directory import Directory
from .._trust.signing import Signer
from .audit import audit_logger
from .listeners import Listener, Listeners, PhaseChange
from .trust import Trust, approvals_of

if TYPE_CHECKING:
    from .._journal.replay import RecoveryReport


class _JournalFailed(Exception):
    """Raised by the *before* callback to abort a transition whose write-ahead failed."""


class _Cursor:
    """The machine's one model: placed on the scope being moved, carrying its transition.

    Its ``state`` setter is where `transitions` stores a new phase, and so where the gate is
    published: the machine and the gate cannot disagree.
    """

    def __init__(self, owner: Controller) -> None:
        self._owner = owner
        self._phase = owner.policy.initial
        self.ctx: TransitionContext | None = None

    def place(self, ctx: TransitionContext) -> None:
        """Stand on `ctx.scope` in `ctx.source`, ready to carry out `ctx`."""
        self.ctx = ctx
        self._phase = ctx.source

    @property
    def state(self) -> str:
        return self._phase

    @state.setter
    def state(self, phase: str) -> None:
        ctx = self.ctx
        if ctx is None and phase == self._phase:
            return  # transitions placing its model on the initial state
        if ctx is None or phase != ctx.dest:
            msg = "phases change only through Controller.fire/halt/apply"
            raise ConfigurationError(msg)
        self._owner._publish(ctx)
        self._phase = phase


class TriggerMethods:
    """Each of the policy's triggers as a method: ``controller.pre_open(actor=..., reason=...)``.

    At run time any trigger of the policy works (it is `fire` with the trigger's name). For the
    type checker only the default policy's triggers exist, typed, so a misspelt trigger fails
    type checking; another policy's triggers go through `fire("name", ...)`.
    """

    if TYPE_CHECKING:
        def fire(self, trigger: str, *, actor: Actor | str, reason: str,
                 scope: str = VENUE) -> TransitionRecord: ...

        def degrade(self, *, actor: Actor | str, reason: str,
                    scope: str = VENUE) -> TransitionRecord: ...

        def recover(self, *, actor: Actor | str, reason: str,
                    scope: str = VENUE) -> TransitionRecord: ...

        def pre_open(self, *, actor: Actor | str, reason: str,
                     scope: str = VENUE) -> TransitionRecord: ...

        def open(self, *, actor: Actor | str, reason: str,
                 scope: str = VENUE) -> TransitionRecord: ...

        def normalize(self, *, actor: Actor | str, reason: str,
                      scope: str = VENUE) -> TransitionRecord: ...
    else:
        def __getattr__(self, name: str) -> Callable[..., TransitionRecord]:
            policy = self.__dict__.get("_policy")
            if policy is not None and not name.startswith("_") and name in policy.triggers:
                return functools.partial(self.fire, name)
            msg = f"{type(self).__name__!r} object has no attribute {shown(name)}"
            raise AttributeError(msg)


class Controller(TriggerMethods):
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
        directory: Directory | None = None,
        signer: Signer | None = None,
        instruments: Collection[str] | None = None,
        max_instruments: int = 100_000,
        visits: Mapping[str, int] | None = None,
        notes: Sequence[JournalNote] | None = None,
    ) -> None:
        _check_options(policy, instruments, max_instruments, version, journal)
        self._registry = frozenset(instruments) if instruments is not None else None
        self._max_instruments = max_instruments
        self._trust = Trust.of(policy, directory, signer)
        check_seams(authorizer, clock)
        self._policy = policy
        self._guards = check_guards(policy, self._trust.guards({} if guards is None else guards))
        self._journal = journal
        self._authorizer = authorizer
        self._clock = clock
        self._log = audit_logger(logger)
        self._version = version
        self._gate = Gate(policy, phases, version)
        self._lock = threading.Lock()
        self.unjournaled: list[TransitionRecord] = []
        """Tightening transitions whose journal write failed (they took effect regardless);
        retried, oldest first, before every later journal write and by `retry_journal`."""
        self.recovery: RecoveryReport | None = None
        """What `recover` found in the journal this controller was rebuilt from (else None)."""
        # The gate holds every scope's own phase (one small int per instrument); this keeps no
        # copy. Entry times are kept only where they differ from the controller's start.
        self._visits: dict[str, int] = _visits_of(visits)
        self._notes = _notes_by_key(notes)
        self._retry_hint: float | None = None
        """Per scope, the version at which it entered its phase (only with a directory):
        what approvals sign. `recover` passes the replayed ones."""
        try:
            self._born = float(clock())
        except Exception as exc:
            msg = f"clock must return seconds as a number, it raised or returned a non-number: {shown(exc)}"
            raise ConfigurationError(shown(msg, 200)) from None
        if entered_at is not None and not isinstance(entered_at, Mapping):
            msg = f"entered_at must map scopes to clock seconds, got {shown(entered_at)}"
            raise ConfigurationError(msg)
        if visits is not None and not isinstance(visits, Mapping):
            msg = f"visits must map scopes to versions, got {shown(visits)}"
            raise ConfigurationError(msg)
        self._entered: dict[str, float] = {VENUE: self._born}
        for scope, since in (entered_at or {}).items():  # when phases decided elsewhere began
            if scope == VENUE or self._gate._own_phase(scope) is not None:
                self._entered[scope] = since
        self._listeners = Listeners(self._log, f"controller:{policy.name}")
        self._venue_record: TransitionRecord | None = None
        self._cursor_record: TransitionRecord | None = None
        self._cursor = _Cursor(self)
        self._machine = Machine(
            model=self._cursor, states=list(policy.phase_names), initial=policy.initial,
            auto_transitions=False, send_event=True, ignore_invalid_triggers=False,
            before_state_change=[self._write_ahead], after_state_change=[self._after],
        )
        for spec in policy.transitions:
            self._machine.add_transition(spec.trigger, spec.source, spec.dest)

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
        except Exception:  # unknown, unhashable, or a name whose hash raises
            msg = f"no guard {shown(name)}; registered: {sorted(self._guards)}"
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

    def visit(self, scope: str = VENUE) -> int:
        """The version at which `scope` entered its current phase: what approvals sign."""
        _scope_name(scope)
        with self._lock:
            return self._visits.get(scope, 0)

    @property
    def venue_record(self) -> TransitionRecord | None:
        """The record of the venue's latest transition here (None before any): what its status
        document gives as the reason. (Instruments' records are not kept: memory per
        instrument stays a few bytes.)"""
        return self._venue_record

    def entered_at(self, scope: str = VENUE) -> float:
        """When `scope` entered its current phase (clock seconds)."""
        _scope_name(scope)
        since = self._entered.get(scope)
        if since is not None:
            return since
        return self._born if self._gate._own_phase(scope) is not None else self._entered[VENUE]

    # -- transitions ---------------------------------------------------------------------------

    def fire(self, trigger: str, *, actor: Actor | str, reason: str,
             scope: str = VENUE, approvals: Sequence[SignedApproval] = ()) -> TransitionRecord:
        """Fire `trigger` on `scope`; return the record of the transition that happened.

        With an identity `directory`, the actor's roles come from it (never from the `Actor`
        given), a relaxing record is signed by the `signer` (who must be the actor) and carries
        `approvals`: the signed approvals its approval guards need, for the current `visit`.

        Raises:
            TransitionRefused: the transition is not in the graph, a guard said no or raised,
                the actor is not authorized, a signature or approval is missing, or the
                write-ahead record failed. Nothing changed.
        """
        require_text("trigger", trigger, scope=scope, trigger=trigger)
        who = actor_of(actor, scope=scope, trigger=trigger)
        reason = clean_reason(require_text("reason", reason, scope=scope, trigger=trigger))
        require_text("scope", scope, scope=scope, trigger=trigger)
        signed = approvals_of(approvals, scope=scope, trigger=trigger)
        try:
            with self._lock:
                return self._fire(trigger, who, reason, scope, signed)
        finally:
            self._listeners.deliver()

    def halt(self, *, actor: Actor | str, reason: str,
             scope: str = VENUE) -> TransitionRecord | None:
        """Move `scope` to the fail-safe phase; None if it is there already.

        Once this returns, no `check` started afterwards accepts anything the fail-safe phase
        refuses, on any thread.
        """
        trigger = self._policy.halt_trigger
        who = actor_of(actor, scope=scope, trigger=trigger)
        reason = clean_reason(require_text("reason", reason, scope=scope, trigger=trigger))
        require_text("scope", scope, scope=scope, trigger=trigger)
        try:
            with self._lock:
                if self._own_phase(scope) == self._policy.fail_safe:
                    return None
                return self._fire(trigger, who, reason, scope, ())
        finally:
            self._listeners.deliver()

    def apply(self, record: TransitionRecord) -> None:
        """Apply a transition decided elsewhere (a replayed journal, a remote coordinator).

        It goes through the same graph check, journal and publication path as `fire` (a relaxing
        record is written before it takes effect, a tightening one after), but not through
        guards or authorization: those ran where the transition was decided.

        Raises:
            TransitionRefused: STALE_VERSION, PHASE_MISMATCH or TRANSITION_NOT_ALLOWED.
        """
        if not isinstance(record, TransitionRecord):
            msg = f"apply() needs a TransitionRecord, got {shown(record)}"
            raise ConfigurationError(msg)
        try:
            self._apply(record)
        finally:
            self._listeners.deliver()

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with a `PhaseChange` after every transition; return its remover.

        Listeners run after the gate published the change, in version order, one at a time,
        outside the controller's lock (a listener may call the controller); the call that
        made the change returns after its listeners ran. A listener that raises is reported
        (critical ``listener_failed``) and never undoes the transition.

        Example:
            >>> from exchange_recovery import default_policy, Request, OrderType
            >>> c = Controller(default_policy())
            >>> seen = []
            >>> remove = c.add_listener(seen.append)
            >>> c.halt(actor="ops:alice", reason="zone down").dest
            'HALTED'
            >>> change = seen[0]
            >>> change.source, change.dest, change.cancel_code.fix_restatement_reason
            ('NORMAL', 'HALTED', 6)
            >>> change.disposition.rule(Request.new_order("BTC-USDT", OrderType.STOP_LIMIT)).describe()
            'SUSPEND STOP_LIMIT/STOP_MARKET orders until NORMAL'

        Raises:
            ConfigurationError: `listener` is not callable.
        """
        return self._listeners.add(listener)

    def _apply(self, record: TransitionRecord) -> None:
        with self._lock:
            current = self._own_phase(record.scope)
            try:
                if record.version <= self._version:
                    raise TransitionRefused(  # noqa: TRY301 - logged below like every refusal
                        RefusalCode.STALE_VERSION, scope=record.scope, phase=current,
                        trigger=record.trigger,
                        context={"version": record.version, "current": self._version})
                bad = misfit(self._policy, current, record.source, record.trigger, record.dest,
                             record.relaxing)
                if bad is not None:
                    raise bad.refusal(record.scope, current, record.trigger)
            except TransitionRefused as refusal:
                self._log_refusal(refusal, record.actor, record.reason)
                raise
            distrust = self._trust.check(record, self._visits.get(record.scope, 0))
            if distrust is not None:
                self._hold_fail_safe(record, distrust)
                raise distrust
            # Clocks run on this process's clock: never earlier than it first saw the record.
            ctx = TransitionContext(record.scope, current, record.dest, record.trigger,
                                    Actor(record.actor), record.reason, self._clock(),
                                    self.entered_at(record.scope), record.relaxing, record.version)
            self._carry_out(ctx, record, event="phase_applied")

    def note(self, topic: str, scope: str, data: Mapping[str, Any], *,
             actor: Actor | str) -> JournalNote:
        """Journal `data` under `topic` for `scope`: durable data that is not a phase change (an
        auction's schedule, a deadline, a maintenance window, mark prices at a halt).

        The note is written at the current version, after any pending tightening record, and
        is kept as the latest note for (`topic`, `scope`): `last_note` reads it back, here and
        in a controller that `recover()` builds from the same journal.

        Example:
            >>> from exchange_recovery import default_policy, MemoryJournal
            >>> c = Controller(default_policy(), journal=MemoryJournal())
            >>> _ = c.note("marks", "venue", {"BTC-USDT": "16800.5"}, actor="ops:alice")
            >>> c.last_note("marks").data
            {'BTC-USDT': '16800.5'}

        Raises:
            ConfigurationError: `topic` is no lower-case identifier (at most 64 characters),
                `scope` no scope name, `actor` no actor, `data` no JSON object (see
                `JournalNote`), or the controller has no journal that stores notes.
            JournalError: a pending tightening record or the note could not be written; the
                note is not kept.
            OSError: the journal's write failed; the note is not kept.
        """
        if not (type(topic) is str and topic.isidentifier() and topic.islower()
                and len(topic) <= 64):
            msg = f"topic must be a lower-case identifier of at most 64 characters, got {shown(topic)}"
            raise ConfigurationError(msg)
        _scope_name(scope)
        who = actor_of(actor, scope=scope, trigger=topic)
        payload = note_payload(data)
        write = getattr(self._journal, "note", None)
        if write is None or not callable(write):
            msg = (f"notes need a journal that stores them (FileJournal, MemoryJournal); this "
                   f"controller has {shown(self._journal)}")
            raise ConfigurationError(msg)
        with self._lock:
            if self.unjournaled:
                try:
                    self._flush_unjournaled()
                except Exception as exc:
                    msg = f"a pending tightening record could not be written: {shown(exc)}"
                    raise JournalError(msg) from exc
            note = JournalNote(topic, scope, payload, who.name, float(self._clock()),
                               self._version)
            write(note)
            self._notes[(topic, scope)] = note
        self._log.info("note_journaled", topic=topic, scope=scope, actor=who.name,
                       version=note.version)
        return note

    def hint_retry(self, at: float | None) -> None:
        """Tell the gate that the venue's next relaxing step will not come before clock time
        `at` (a maintenance window's end, a deadline that advances): its venue-level
        rejections then carry ``retry_after`` = the later of `at` and the planned step's
        dwell. None withdraws the hint. A venue transition withdraws it too (the scheduler
        that knows gives it again for the new phase).

        Raises:
            ConfigurationError: `at` is not None nor a finite number of clock seconds.
        """
        if at is not None and (isinstance(at, bool) or not isinstance(at, int | float)
                               or not -1e12 <= at <= 1e12 or at != at):  # noqa: PLR0124 - NaN
            msg = f"at must be None or clock seconds (a finite number), got {shown(at)}"
            raise ConfigurationError(msg)
        with self._lock:
            self._retry_hint = None if at is None else float(at)
            self._gate._hint_venue(self._retry_after(self._gate.phase(), self.entered_at()))

    def _retry_after(self, phase: str, entered: float) -> float | None:
        """The venue's retry_after in `phase`: the later of its dwell and the hint."""
        dwell = _earliest_next(self._policy, phase, entered)
        hint = self._retry_hint
        if hint is None:
            return dwell
        return hint if dwell is None else max(dwell, hint)

    def last_note(self, topic: str, scope: str = VENUE) -> JournalNote | None:
        """The latest note journaled under `topic` for `scope` (None: none).

        Raises:
            ConfigurationError: `topic` or `scope` is not a str.
        """
        if type(topic) is not str:
            msg = f"topic must be a str, got {shown(topic)}"
            raise ConfigurationError(msg)
        _scope_name(scope)
        with self._lock:
            return self._notes.get((topic, scope))

    def notes(self, topic: str) -> Mapping[str, JournalNote]:
        """The latest note under `topic` for every scope that has one (a copy).

        Raises:
            ConfigurationError: `topic` is not a str.
        """
        if type(topic) is not str:
            msg = f"topic must be a str, got {shown(topic)}"
            raise ConfigurationError(msg)
        with self._lock:
            return {scope: n for (t, scope), n in self._notes.items() if t == topic}

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
                    self._journal_failed(self.unjournaled[0], exc)
            return len(self.unjournaled)

    def __repr__(self) -> str:
        phases = dict(self._gate.phases)
        return f"<Controller policy={self._policy.name!r} version={self._version} phases={phases}>"

    # -- internals (called with the lock held) ---------------------------------------------------

    def _own_phase(self, scope: str) -> str:
        # An instrument without a phase of its own adds no restriction to the venue's: it is in
        # the normal phase (not the initial one, which may be the fail-safe phase).
        phase = self._gate._own_phase(scope)
        return self._policy.normal if phase is None else phase

    def _fire(self, trigger: str, actor: Actor, reason: str, scope: str,
              approvals: tuple[SignedApproval, ...]) -> TransitionRecord:
        actor = self._trust.identify(actor)
        try:
            if scope != VENUE and self._gate._own_phase(scope) is None:
                self._admit(scope, trigger)
            ctx = decide(
                self._policy, scope=scope, phase=self._own_phase(scope), trigger=trigger,
                actor=actor, reason=reason, now=self._clock(), entered_at=self.entered_at(scope),
                version=self._version, guards=self._guards, authorizer=self._authorizer,
            )
            record = self._trust.seal(ctx.record(), self._visits.get(scope, 0), approvals)
        except TransitionRefused as refusal:
            self._log_refusal(refusal, actor.name, reason)
            raise
        self._carry_out(ctx, record, event="phase_changed")
        return record

    def _admit(self, scope: str, trigger: str) -> None:
        """An instrument about to get a phase of its own: in the registry, under the cap."""
        if self._registry is not None and scope not in self._registry:
            raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=scope, phase="?",
                                    trigger=trigger,
                                    context={"field": "scope", "expected": "a listed instrument"})
        if len(self._gate._own) >= self._max_instruments:
            raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=scope, phase="?",
                                    trigger=trigger,
                                    context={"field": "scope", "max_instruments":
                                             self._max_instruments})

    def _hold_fail_safe(self, record: TransitionRecord, refusal: TransitionRefused) -> None:
        """A record that failed verification: alarm, and hold its scope in the fail-safe phase."""
        self._log.critical("record_refused", code=refusal.code.value, scope=record.scope,
                           version=record.version, trigger=record.trigger, actor=record.actor,
                           detail=refusal.detail, to_phase=self._policy.fail_safe)
        if self._own_phase(record.scope) != self._policy.fail_safe:
            self._fire(self._policy.halt_trigger, Actor("exchange_recovery:verify"),
                       f"refused record version {record.version}: {refusal.code.value}",
                       record.scope, ())

    def _carry_out(self, ctx: TransitionContext, record: TransitionRecord, *, event: str) -> None:
        """Run `ctx`'s lifecycle on the machine: write-ahead, publish, journal, audit."""
        cursor = self._cursor
        cursor.place(ctx)
        self._cursor_record = record
        try:
            cursor.trigger(ctx.trigger, ctx=ctx, record=record,  # type: ignore[attr-defined]
                           audit_event=event)
        except _JournalFailed as exc:
            refusal = TransitionRefused(RefusalCode.JOURNAL_FAILED, scope=ctx.scope,
                                        phase=ctx.source, trigger=ctx.trigger,
                                        context={"write_ahead_failed": repr(exc.__cause__)})
            self._log_refusal(refusal, ctx.actor.name, ctx.reason)
            raise refusal from exc.__cause__
        finally:
            cursor.ctx = None

    def _publish(self, ctx: TransitionContext) -> None:
        """The state change itself (called by the cursor's state setter)."""
        scope, dest = ctx.scope, ctx.dest
        if scope == VENUE:
            self._venue_record = self._cursor_record
        if scope == VENUE:
            self._retry_hint = None  # given for the phase left
        retry = self._retry_after(dest, ctx.now) if scope == VENUE else None
        self._gate._publish_scope(scope, dest, ctx.version, retry)
        self._version = ctx.version
        if scope != VENUE and dest == self._policy.normal:
            self._entered.pop(scope, None)  # back to adding no restriction: follows the venue
            self._visits.pop(scope, None)
        else:
            self._entered[scope] = ctx.now
            self._visits[scope] = ctx.version  # approvals, auctions and deadlines name the visit

    def _write_ahead(self, event: EventData) -> None:
        ctx: TransitionContext = event.kwargs["ctx"]
        if not ctx.relaxing or self._journal is None:
            return
        try:
            self._flush_unjournaled()  # a relaxing record must never overtake a lost halt
            self._journal.append(event.kwargs["record"])
        except Exception as exc:
            raise _JournalFailed from exc

    def _flush_unjournaled(self) -> None:
        """Append pending tightening records in version order; raise on the first failure."""
        assert self._journal is not None  # noqa: S101 - callers check
        while self.unjournaled:
            self._journal.append(self.unjournaled[0])
            del self.unjournaled[0]

    def _after(self, event: EventData) -> None:
        ctx: TransitionContext = event.kwargs["ctx"]
        record: TransitionRecord = event.kwargs["record"]
        if not ctx.relaxing and self._journal is not None:
            try:
                self._flush_unjournaled()
                self._journal.append(record)
            except Exception as exc:
                self.unjournaled.append(record)
                self._journal_failed(record, exc)
        self._log.info(event.kwargs["audit_event"],
                       scope=ctx.scope, from_phase=ctx.source, to_phase=ctx.dest,
                       trigger=ctx.trigger, actor=ctx.actor.name, reason=ctx.reason,
                       version=ctx.version, relaxing=ctx.relaxing)
        policy = self._policy
        self._listeners.enqueue(PhaseChange(
            ctx.scope, ctx.source, ctx.dest, ctx.version, policy.disposition(ctx.dest),
            "fired" if event.kwargs["audit_event"] == "phase_changed" else "applied", record,
            policy.deferrals(ctx.source, ctx.dest)))

    def _journal_failed(self, record: TransitionRecord, exc: Exception) -> None:
        self._log.critical("journal_write_failed", scope=record.scope, version=record.version,
                           to_phase=record.dest, trigger=record.trigger,
                           pending=len(self.unjournaled), error=repr(exc))

    def _log_refusal(self, refusal: TransitionRefused, actor: str, reason: str) -> None:
        self._log.warning("transition_refused", code=refusal.code.value, scope=refusal.scope,
                          phase=refusal.phase, trigger=refusal.trigger, actor=actor,
                          detail=refusal.detail, reason=reason)


def _earliest_next(policy: Policy, phase: str, entered: float) -> float | None:
    """When the planned next step out of `phase` can happen at the earliest (entry time plus
    its longest dwell guard; None without one): rejections published with the phase say so."""
    dwell = planned_dwell(policy, phase)
    return None if dwell is None else entered + dwell


def _check_options(policy: object, instruments: object, max_instruments: object, version: object,
                   journal: object) -> None:
    """A controller's plain options, checked before anything is built.

    Raises:
        ConfigurationError: naming the first option that cannot work.
    """
    if not isinstance(policy, Policy):
        msg = f"Controller needs a Policy, got {shown(policy)}"
        raise ConfigurationError(msg)
    try:
        listed = instruments is None or (isinstance(instruments, Collection)
                                         and all(type(i) is str for i in instruments))
    except Exception:  # an iterable that raises
        listed = False
    if not listed:
        msg = f"instruments must be a collection of instrument names, got {shown(instruments)}"
        raise ConfigurationError(msg)
    if type(max_instruments) is not int or max_instruments < 0:
        msg = f"max_instruments must be an int >= 0, got {shown(max_instruments)}"
        raise ConfigurationError(msg)
    if type(version) is not int or version < 0:
        msg = f"version must be an int >= 0, got {shown(version)}"
        raise ConfigurationError(msg)
    try:
        appendable = journal is None or callable(getattr(journal, "append", None))
    except Exception:
        appendable = False
    if not appendable:
        msg = f"journal must have an append(record) method, got {shown(journal)}"
        raise ConfigurationError(msg)


def _scope_name(scope: object) -> None:
    if type(scope) is not str:
        msg = f"a scope is named by a str, got {shown(scope)}"
        raise ConfigurationError(msg)


def check_seams(authorizer: object, clock: object) -> None:
    """Check the authorizer (optional) and the clock a controller is given, now, not at the
    first transition (a broken one found at 3 a.m. is a halt that fails).

    Raises:
        ConfigurationError: either is not callable.
    """
    if authorizer is not None and not callable(authorizer):
        msg = f"authorizer must be callable, got {shown(authorizer)}"
        raise ConfigurationError(msg)
    if not callable(clock):
        msg = f"clock must be callable, got {shown(clock)}"
        raise ConfigurationError(msg)


def check_guards(policy: Policy, guards: Mapping[str, Guard] | None) -> dict[str, Guard]:
    """`guards` as a dict, checked: every guard the policy's transitions name, each callable.

    Raises:
        ConfigurationError: not a mapping of names to callables, or a named guard is missing.
    """
    if guards is None:
        guards = {}
    if not isinstance(guards, Mapping):
        msg = f"guards must be a mapping of names to callables, got {shown(guards)}"
        raise ConfigurationError(msg)
    needed = {name for t in policy.transitions for name in t.guards}
    missing = sorted(needed - set(guards))
    if missing:
        msg = f"policy {shown(policy.name)} needs guards {missing}; pass them as guards={{name: fn}}"
        raise ConfigurationError(msg)
    bad = sorted(repr(name) for name, fn in guards.items() if not callable(fn))
    if bad:
        msg = f"guards {bad} are not callable"
        raise ConfigurationError(msg)
    return dict(guards)


def _notes_by_key(notes: object) -> dict[tuple[str, str], JournalNote]:
    """The latest note per (topic, scope) of `notes` (the later one wins)."""
    if notes is None:
        return {}
    msg = f"notes must be a list or tuple of JournalNotes, got {shown(notes)}"
    if not isinstance(notes, list | tuple) or not all(isinstance(n, JournalNote) for n in notes):
        raise ConfigurationError(msg)
    return {(n.topic, n.scope): n for n in notes}


def _visits_of(visits: object) -> dict[str, int]:
    """`visits` as a dict of scope to version, or a `ConfigurationError`."""
    if visits is None:
        return {}
    try:
        out = dict(visits.items()) if isinstance(visits, Mapping) else None
    except Exception:  # a mapping whose items() raises
        out = None
    if out is None or not all(type(k) is str and type(v) is int and v >= 0
                              for k, v in out.items()):
        msg = f"visits must map scope names to versions (ints from 0), got {shown(visits)}"
        raise ConfigurationError(msg)
    return out
