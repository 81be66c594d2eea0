"""The auction runtime: a call's timing, extensions, cutoff and single uncross, on the clock.

A phase with an `AuctionSpec` is a call auction. The engine computes (`UncrossEngine`: the
indicative price it publishes, and the one uncrossing trade); an `AuctionRunner` owns the rest,
on the controller's injectable clock: when the call ends (a seeded random end after a minimum
call), whether the indicative price is inside the collar, extending the call, handing the end to
people (a two-person `override`) or opening without a cross, and refusing cancels and less
aggressive amends after the cutoff.

Every step is journaled as a note (``controller.note("auction", scope, ...)``): a runner built
on a controller that `recover()` rebuilt resumes the same call, with the same end and extension
count (nothing is drawn again). Ends are anchored to the previous end, never to the moment a
poll happened to run, so the schedule is a function of the seed, the scope and the visit only.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Protocol, runtime_checkable

import attrs

from .._control.audit import audit_logger
from .._control.controller import Controller
from .._control.listeners import PhaseChange
from .._core.codes import Reason, RefusalCode
from .._core.errors import ConfigurationError, TransitionRefused
from .._core.model import INSTRUMENT, VENUE, Action, Actor, Decision, Request, Side, invalid
from .._core.reopen import AuctionSpec, Exhausted
from .._core.specs import finite_number, positive_number
from .._core.text import shown
from .._decide.decide import actor_of, require_text
from .._decide.records import TransitionRecord
from .._trust.approvals import SignedApproval
from .runner import _check_scope

Price = int | float | Decimal
"""A price or a quantity as engines keep them: an int, a float or a Decimal."""

TOPIC: Final = "auction"
"""The journal-note topic an `AuctionRunner` writes under."""

_CANCELS: Final = frozenset({Action.CANCEL, Action.MASS_CANCEL})
_AMEND: Final = Action.AMEND
_BUY: Final = Side.BUY


_number: Final = finite_number
_positive: Final = positive_number


def _price(field: str) -> Any:
    def check(_instance: object, _attribute: object, value: object) -> None:
        if not _positive(value):
            msg = (f"Indicative.{field} must be a positive finite number (int, float, "
                   f"Decimal), got {shown(value)}")
            raise ConfigurationError(msg)
    return check


def _signed(_instance: object, _attribute: object, value: object) -> None:
    if not _number(value):
        msg = f"Indicative.imbalance must be a finite number (int, float, Decimal), got {shown(value)}"
        raise ConfigurationError(msg)


def _json(value: Price) -> int | float | str:
    """A price as a note stores it: ints and floats as themselves, a Decimal as its text."""
    return str(value) if type(value) is Decimal else value  # type: ignore[return-value]


def _unjson(value: object) -> Price | None:
    """A price read back from a note (None: not one)."""
    if type(value) is str:
        try:
            parsed = Decimal(value)
        except Exception:  # not a number
            return None
        return parsed if parsed.is_finite() else None
    return value if _number(value) else None  # type: ignore[return-value]


@attrs.frozen
class Indicative:
    """What an engine publishes during the call: the price it would uncross at now.

    `volume` is what would trade at `price`; `imbalance` the quantity left unmatched there,
    signed: positive when buyers are left over, negative when sellers are (Nasdaq's indicative
    price and imbalance; Coinbase's ``open_price`` and ``open_size``).

    Example:
        >>> quote = Indicative(price=101, volume=5, imbalance=-2)
        >>> quote.imbalance_side
        <Side.SELL: 'SELL'>

    Raises:
        ConfigurationError: a price or volume that is no positive finite number, an imbalance
            that is no finite number.
    """

    price: Price = attrs.field(validator=_price("price"))
    volume: Price = attrs.field(validator=_price("volume"))
    imbalance: Price = attrs.field(default=0, validator=_signed)

    @property
    def imbalance_side(self) -> Side | None:
        """The side left over at the price (None: none is)."""
        if self.imbalance > 0:
            return Side.BUY
        return Side.SELL if self.imbalance < 0 else None

    def as_json(self) -> dict[str, int | float | str]:
        """The quote as a journal note stores it (a Decimal as its text)."""
        return {"price": _json(self.price), "volume": _json(self.volume),
                "imbalance": _json(self.imbalance)}


@runtime_checkable
class UncrossEngine(Protocol):
    """What an `AuctionRunner` needs from the engine: it computes, the library decides.

    Both are called from the thread that calls `AuctionRunner.poll` or `decide`, with the
    runner's lock held (never the controller's).

    Example:
        >>> from exchange_recovery.testing import AuctionBook
        >>> isinstance(AuctionBook(reference=100), UncrossEngine)
        True
    """

    def indicative(self, scope: str) -> Indicative | None:
        """The price and volume the call would uncross at now (None: nothing would trade)."""

    def uncross(self, scope: str, price: Price) -> None:
        """Execute the single auction trade at `price`: every order that crosses it trades there.

        Called at most once per call, after the transition out of the auction phase."""


class AuctionState(enum.Enum):
    """Where an `AuctionRunner`'s call stands.

    Example:
        >>> AuctionState("AWAITING_DECISION") is AuctionState.AWAITING_DECISION
        True
    """

    IDLE = "IDLE"
    """No call: the scope is not in an auction phase and none has run here."""
    CALLING = "CALLING"
    """The call is on: orders are collected, nothing trades, the end is scheduled."""
    AWAITING_DECISION = "AWAITING_DECISION"
    """Every extension ended outside the collar: people decide (`AuctionRunner.decide`)."""
    UNCROSSED = "UNCROSSED"
    """The call ended in its one uncross (inside the collar, or by an override)."""
    OPENED_WITHOUT_CROSS = "OPENED_WITHOUT_CROSS"
    """The call ended by the override trigger, with no auction trade."""
    INTERRUPTED = "INTERRUPTED"
    """The scope left the auction phase another way (a halt) during the call."""


_OPEN: Final = frozenset({AuctionState.CALLING, AuctionState.AWAITING_DECISION})


@attrs.frozen
class AuctionStatus:
    """A call at one moment (`AuctionRunner.status`): its schedule, collar and outcome.

    `ends_at` is the scheduled end (None while awaiting a decision or with no call),
    `cutoff_at` the moment from which cancels and less aggressive amends are refused (None:
    no cutoff now). `can_open` says whether the indicative price is inside the collar now.
    `open_price` and `open_size` are the uncross's, once it happened; `override` says that
    people ended the call (`AuctionRunner.decide`), `decided_by` who.

    Example:
        >>> status = AuctionStatus("venue", AuctionState.IDLE, "HALTED", 0, 0.0, None, None, None,
        ...                        0, 2, 100, 95.0, 105.0, None, False)
        >>> status.state.name, status.collar_high
        ('IDLE', 105.0)
    """

    scope: str
    state: AuctionState
    phase: str | None
    visit: int
    at: float
    started_at: float | None
    ends_at: float | None
    cutoff_at: float | None
    extensions: int
    max_extensions: int
    reference: Price
    collar_low: float
    collar_high: float
    indicative: Indicative | None
    can_open: bool
    open_price: Price | None = None
    open_size: Price | None = None
    override: bool = False
    decided_by: str | None = None


@attrs.frozen
class _Call:
    """One call as the runner keeps (and journals) it."""

    phase: str
    visit: int
    seed: int
    reference: Price
    started_at: float
    extensions: int
    ends_at: float | None
    state: AuctionState
    indicative: Indicative | None = None
    price: Price | None = None
    size: Price | None = None
    override: bool = False
    decided_by: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"phase": self.phase, "visit": self.visit, "seed": self.seed,
                "reference": _json(self.reference), "started_at": self.started_at,
                "extensions": self.extensions, "ends_at": self.ends_at,
                "state": self.state.value,
                "indicative": None if self.indicative is None else self.indicative.as_json(),
                "price": None if self.price is None else _json(self.price),
                "size": None if self.size is None else _json(self.size),
                "override": self.override, "decided_by": self.decided_by}


def _call_of(data: Mapping[str, Any]) -> _Call | None:
    """The call a note holds, or None if the note is not one this module wrote."""
    try:
        reference = _unjson(data["reference"])
        state = AuctionState(data["state"])
        ends = data["ends_at"]
        fields = (data["phase"], data["visit"], data["seed"], data["started_at"],
                  data["extensions"])
        quote = data.get("indicative")
        indicative = None if quote is None else Indicative(
            _unjson(quote["price"]), _unjson(quote["volume"]),  # type: ignore[arg-type]
            _unjson(quote["imbalance"]))  # type: ignore[arg-type]
    except Exception:  # a missing key, a wrong type: not an auction note
        return None
    phase, visit, seed, started, extensions = fields
    if not (reference is not None and _positive(reference) and type(phase) is str
            and type(visit) is int and type(seed) is int and type(extensions) is int
            and _number(started) and (ends is None or _number(ends))):
        return None
    price, size = data.get("price"), data.get("size")
    decided_by = data.get("decided_by")
    return _Call(phase, visit, seed, reference, float(started), extensions,
                 None if ends is None else float(ends), state, indicative,
                 None if price is None else _unjson(price), None if size is None else _unjson(size),
                 data.get("override") is True, decided_by if type(decided_by) is str else None)


@attrs.frozen
class _Late:
    """What `check_late` reads without a lock: one call's cutoff, published whole."""

    phase: str
    cutoff_at: float
    refusal: Decision


class AuctionRunner:
    """Runs one scope's call auctions on a controller: timing, collar, extensions, cutoff.

    Call `poll()` from the venue's timer (at `status().ends_at` at the latest): it does what is
    due at the clock's now. When the scope is in a phase with an `AuctionSpec`, the call starts
    at the moment it entered (`Controller.entered_at`) and ends after
    ``spec.end_after(seed, scope, visit, n)`` seconds, anchored to the previous end for
    extension ``n``. At the end the engine's indicative price is held against the collar around
    `reference`: inside, the runner fires the spec's ``uncross`` trigger as `actor` and then
    calls ``engine.uncross(scope, price)``, once; outside (or nothing would trade: no
    indicative), it extends the call, up to ``max_extensions`` times, then either awaits
    people's `decide` (MANUAL) or fires ``override`` at once with no trade
    (OPEN_WITHOUT_CROSS). A halt during the call ends it (INTERRUPTED); the next visit is a
    new call. A refused trigger (a guard, a role) changes nothing and is retried at the next
    poll.

    Every step is journaled as a note under topic ``"auction"`` (when the controller's journal
    stores notes), so that a runner built after `recover()` resumes the same call: same start,
    end and extension count, never drawn again. Without such a journal the call lives in
    memory only.

    Example:
        >>> from exchange_recovery import (Approvals, Controller, HealthChecks, MemoryJournal,
        ...                                policy_guards, reopening_policy)
        >>> from exchange_recovery.testing import AuctionBook, ManualClock
        >>> policy, clock = reopening_policy(), ManualClock()
        >>> guards = policy_guards(policy, health=HealthChecks(), approvals=Approvals(policy))
        >>> c = Controller(policy, guards=guards, clock=clock, journal=MemoryJournal(),
        ...                phases={"venue": "AUCTION"})
        >>> book = AuctionBook(reference=100)
        >>> _ = book.submit("venue", Side.BUY, 101, 3), book.submit("venue", Side.SELL, 99, 2)
        >>> runner = AuctionRunner(c, book, reference=100, seed=7, actor="auction:timer")
        >>> call = runner.poll()
        >>> call.state.name, 120 <= call.ends_at <= 150, call.indicative.price, call.can_open
        ('CALLING', True, 100, True)
        >>> clock.now = call.ends_at
        >>> done = runner.poll()
        >>> done.state.name, done.open_price, done.open_size, c.phase(), book.trades("venue")
        ('UNCROSSED', 100, 2, 'FULL_OPEN', ((100, 2),))

    Raises:
        ConfigurationError: an argument is unusable (named, with the value received), or the
            controller's policy has no auction phase.
    """

    def __init__(self, controller: Controller, engine: UncrossEngine, *, reference: Price,
                 seed: int, actor: Actor | str, scope: str = VENUE, logger: Any = None) -> None:
        if not isinstance(controller, Controller):
            msg = f"AuctionRunner needs a Controller, got {shown(controller)}"
            raise ConfigurationError(msg)
        try:
            usable = callable(engine.indicative) and callable(engine.uncross)
        except Exception:  # no such attribute, or one whose lookup raises
            usable = False
        if not usable:
            msg = (f"engine must have indicative(scope) and uncross(scope, price) methods, got "
                   f"{shown(engine)}")
            raise ConfigurationError(msg)
        if not _positive(reference):
            msg = f"reference must be a positive finite price (int, float, Decimal), got {shown(reference)}"
            raise ConfigurationError(msg)
        if type(seed) is not int or not 0 <= seed < 2**63:
            msg = f"seed must be an int from 0 to 2**63 - 1, got {shown(seed)}"
            raise ConfigurationError(msg)
        if not (isinstance(actor, Actor) or type(actor) is str):
            msg = f"actor must be an Actor or a str, got {shown(actor)}"
            raise ConfigurationError(msg)
        _check_scope(scope)
        try:
            self._actor = actor_of(actor, scope=scope, trigger="auction")
        except TransitionRefused as refusal:
            msg = f"actor must be a non-empty printable name: {refusal.detail}"
            raise ConfigurationError(msg) from None
        policy = controller.policy
        self._specs: dict[str, AuctionSpec] = {
            spec.name: spec.auction for spec in policy.phases if spec.auction is not None}
        if not self._specs:
            msg = f"policy {shown(policy.name)} has no auction phase (no PhaseSpec.auction)"
            raise ConfigurationError(msg)
        self._controller = controller
        self._engine = engine
        self._reference = reference
        self._seed = seed
        self._scope = scope
        self._level = VENUE if scope == VENUE else INSTRUMENT
        self._log = audit_logger(logger)
        self._lock = threading.Lock()
        self._durable = callable(getattr(controller.journal, "note", None))
        self._unwritten = False
        self._late: _Late | None = None
        note = controller.last_note(TOPIC, scope) if self._durable else None
        self._call: _Call | None = None if note is None else _call_of(note.data)
        controller.add_listener(self._changed)

    # -- read-only views -----------------------------------------------------------------------

    @property
    def controller(self) -> Controller:
        """The controller whose scope this runner's calls run on."""
        return self._controller

    @property
    def scope(self) -> str:
        """The scope whose calls this runner runs."""
        return self._scope

    def status(self) -> AuctionStatus:
        """The call now: schedule, collar, the engine's indicative price, the outcome.

        Raises:
            ConfigurationError: the engine's `indicative` returned something else than an
                `Indicative` or None.
        """
        with self._lock:
            return self._status(self._now())

    # -- the timer -----------------------------------------------------------------------------

    def poll(self) -> AuctionStatus:
        """Do what is due at the clock's now (start, extend, uncross, hand over); return the status.

        Raises:
            ConfigurationError: the engine's `indicative` returned something else than an
                `Indicative` or None (nothing changed).
            Exception: whatever the engine's `indicative` or `uncross` raises (after the
                runner's own state is consistent: an uncross is never attempted twice).
        """
        with self._lock:
            now = self._now()
            self._step(now)
            return self._status(now)

    def decide(self, actor: Actor | str, *, cross: bool, reason: str,
               approvals: Sequence[SignedApproval] = ()) -> TransitionRecord:
        """People end a call whose extensions ran out (MANUAL): fire the override trigger.

        `cross=True` uncrosses at the engine's indicative price now, outside the collar if it
        is; `cross=False` opens with no auction trade. The override transition is guarded by
        the policy (reopening: a supervisor's approval, given by someone other than `actor`);
        its record and the note (``override=True``, the price) journal the decision.

        Raises:
            TransitionRefused: INVALID_ARGUMENT for an unusable actor, reason or `cross`;
                TRANSITION_NOT_ALLOWED when the call is not awaiting a decision; GUARD_REJECTED
                for a cross with nothing to trade; whatever the controller refuses (a missing
                or self-given approval, a role). Nothing changed.
        """
        label = self._scope
        if type(cross) is not bool:
            raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=label, phase="?",
                                    trigger="decide", context={"field": "cross",
                                                               "got": shown(cross),
                                                               "expected": "a bool"})
        if not (isinstance(actor, Actor) or type(actor) is str):
            raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=label, phase="?",
                                    trigger="decide", context={"field": "actor",
                                                               "got": shown(actor),
                                                               "expected": "an Actor or a str"})
        if type(reason) is not str:
            raise TransitionRefused(RefusalCode.INVALID_ARGUMENT, scope=label, phase="?",
                                    trigger="decide", context={"field": "reason",
                                                               "got": shown(reason),
                                                               "expected": "a str"})
        require_text("reason", reason, scope=label, trigger="decide")
        who = actor_of(actor, scope=label, trigger="decide")
        with self._lock:
            now = self._now()
            self._step(now)
            call = self._call
            if call is None or call.state is not AuctionState.AWAITING_DECISION:
                state = AuctionState.IDLE if call is None else call.state
                raise TransitionRefused(
                    RefusalCode.TRANSITION_NOT_ALLOWED, scope=label,
                    phase=self._controller.phase(label), trigger="decide",
                    context={"state": state.value, "expected": "AWAITING_DECISION"})
            spec = self._specs[call.phase]
            quote = self._indicative() if cross else None
            if cross and quote is None:
                raise TransitionRefused(RefusalCode.GUARD_REJECTED, scope=label,
                                        phase=call.phase, trigger=spec.override,
                                        context={"cross": True, "indicative": None,
                                                 "detail": "nothing would trade"})
            said = (f"{reason} (auction override: cross at {quote.price})" if quote is not None
                    else f"{reason} (auction override: open without a cross)")
            record = self._controller.fire(spec.override, actor=who, reason=said,
                                           scope=label, approvals=approvals)
            if quote is not None:
                self._finish(call, AuctionState.UNCROSSED, quote, override=True,
                             decided_by=who.name)
                self._log.warning("auction_uncrossed", scope=label, phase=call.phase,
                                  price=str(quote.price), size=str(quote.volume),
                                  override=True, actor=who.name)
                self._engine.uncross(label, quote.price)
            else:
                self._finish(call, AuctionState.OPENED_WITHOUT_CROSS, None, override=True,
                             decided_by=who.name)
                self._log.warning("auction_opened_without_cross", scope=label, phase=call.phase,
                                  actor=who.name, override=True)
            return record

    # -- the order path after the cutoff --------------------------------------------------------

    def check_late(self, request: Request, side: Side | None = None, price: Price | None = None,
                   *, quantity: Price | None = None, old_price: Price | None = None,
                   old_quantity: Price | None = None) -> Decision:
        """The gate's decision for `request`, and after the call's cutoff, the cutoff's refusal.

        From ``ends_at - spec.cutoff`` until the call ends, a cancel or mass cancel touching
        the scope, and an amend that is less aggressive (a buy lowered in price or quantity, a
        sell raised in price or lowered in quantity), get a rejection with
        `Reason.AUCTION_CUTOFF` whose ``retry_after`` is the scheduled end (clock time, as
        every `Decision.retry_after`). Everything else gets ``controller.gate.check(request)``.
        An amend needs `side`, `price`, `quantity`, `old_price` and `old_quantity`. Reads no
        lock: the call's cutoff is published whole by `poll`.

        Example:
            >>> from exchange_recovery import (Approvals, Controller, HealthChecks, OrderType,
            ...                                policy_guards, reopening_policy)
            >>> from exchange_recovery.testing import AuctionBook, ManualClock
            >>> policy, clock = reopening_policy(), ManualClock()
            >>> guards = policy_guards(policy, health=HealthChecks(), approvals=Approvals(policy))
            >>> c = Controller(policy, guards=guards, clock=clock, phases={"venue": "AUCTION"})
            >>> runner = AuctionRunner(c, AuctionBook(), reference=100, seed=7, actor="timer")
            >>> clock.now = runner.poll().cutoff_at
            >>> late = runner.check_late(Request.cancel("BTC-USDT"))
            >>> late.reason.name, late.retry_after == runner.status().ends_at
            ('AUCTION_CUTOFF', True)
            >>> raised = Request.amend("BTC-USDT", OrderType.LIMIT)
            >>> runner.check_late(raised, Side.BUY, 101, quantity=2, old_price=100,
            ...                   old_quantity=2).reason.name
            'ACCEPTED'

        Raises:
            InvalidRequestError: `request` is not a `Request`; for an amend, `side` is not a
                `Side` or a price or quantity is no positive finite number (names the field).
        """
        decision = self._controller.gate.check(request)
        action = request.action
        if action is _AMEND:
            lowers = _less_aggressive(side, price, quantity, old_price, old_quantity)
        elif action in _CANCELS:
            lowers = True
        else:
            return decision
        late = self._late
        if (not lowers or late is None or not decision.accepted
                or not self._touches(request.instrument)
                or self._controller.gate.phase(self._scope) != late.phase):
            return decision
        if self._controller.clock() >= late.cutoff_at:
            return late.refusal
        return decision

    # -- internals -----------------------------------------------------------------------------

    def _touches(self, instrument: str | None) -> bool:
        return self._scope == VENUE or instrument is None or instrument == self._scope

    def _changed(self, change: PhaseChange) -> None:
        """A listener: a transition of the scope withdraws the call's cutoff at once (the next
        poll publishes the new call's). One assignment, no lock: `poll` may be firing."""
        if change.scope == self._scope:
            self._late = None

    def _now(self) -> float:
        return float(self._controller.clock())

    def _step(self, now: float) -> None:
        """Bring the call up to `now` (lock held)."""
        if self._unwritten and self._call is not None:
            self._write(self._call)
        controller, scope = self._controller, self._scope
        phase = controller.phase(scope)
        spec = self._specs.get(phase)
        call = self._call
        if spec is None:
            if call is not None and call.state in _OPEN:
                self._log.warning("auction_interrupted", scope=scope, phase=call.phase,
                                  now_in=phase, visit=call.visit)
                self._finish(call, AuctionState.INTERRUPTED, None)
            return
        visit = controller.visit(scope)
        if call is None or call.phase != phase or call.state not in _OPEN or (
                visit and call.visit != visit):
            started = controller.entered_at(scope)
            call = _Call(phase, visit, self._seed, self._reference, started, 0,
                         started + spec.end_after(self._seed, scope, visit, 0),
                         AuctionState.CALLING)
            self._set(call)
            self._log.info("auction_started", scope=scope, phase=phase, visit=visit,
                           started_at=started, ends_at=call.ends_at)
        for _ in range(spec.max_extensions + 1):  # a late poll catches up, boundedly
            if call.state is not AuctionState.CALLING or call.ends_at is None or now < call.ends_at:
                return
            call = self._end(call, spec)

    def _end(self, call: _Call, spec: AuctionSpec) -> _Call:
        """The scheduled end of `call` has come: uncross, extend, hand over or open."""
        scope = self._scope
        quote = self._indicative()
        reference = float(call.reference)
        if quote is not None and spec.in_collar(float(quote.price), reference):
            low, high = _collar(spec, call.reference)
            reason = (f"auction uncross at {quote.price}: inside the collar [{low:g}, {high:g}] "
                      f"around the reference {call.reference}")
            if not self._fire(spec.uncross, reason, call):
                return call
            done = self._finish(call, AuctionState.UNCROSSED, quote)
            self._log.info("auction_uncrossed", scope=scope, phase=call.phase,
                           price=str(quote.price), size=str(quote.volume), override=False,
                           actor=self._actor.name)
            self._engine.uncross(scope, quote.price)
            return done
        if call.extensions < spec.max_extensions:
            n = call.extensions + 1
            assert call.ends_at is not None  # noqa: S101 - CALLING has an end
            longer = attrs.evolve(call, extensions=n, indicative=quote,
                                  ends_at=call.ends_at + spec.end_after(call.seed, scope,
                                                                        call.visit, n))
            self._set(longer)
            self._log.warning("auction_extended", scope=scope, phase=call.phase, extension=n,
                              ends_at=longer.ends_at,
                              indicative=None if quote is None else str(quote.price),
                              reference=str(call.reference))
            return longer
        if spec.when_exhausted is Exhausted.MANUAL:
            waiting = attrs.evolve(call, state=AuctionState.AWAITING_DECISION, ends_at=None,
                                   indicative=quote)
            self._set(waiting)
            self._log.critical("auction_awaiting_decision", scope=scope, phase=call.phase,
                               extensions=call.extensions, trigger=spec.override,
                               indicative=None if quote is None else str(quote.price),
                               reference=str(call.reference))
            return waiting
        why = "nothing would trade" if quote is None else f"indicative {quote.price} outside the collar"
        if not self._fire(spec.override, f"auction opens without a cross: {why} after "
                                         f"{call.extensions} extension(s)", call):
            return call
        done = self._finish(call, AuctionState.OPENED_WITHOUT_CROSS, None)
        self._log.warning("auction_opened_without_cross", scope=scope, phase=call.phase,
                          actor=self._actor.name, override=False)
        return done

    def _fire(self, trigger: str, reason: str, call: _Call) -> bool:
        """Fire `trigger` as the runner's actor; False (logged) when refused."""
        try:
            self._controller.fire(trigger, actor=self._actor, reason=reason, scope=self._scope)
        except TransitionRefused as refusal:
            self._log.warning("auction_trigger_refused", scope=self._scope, phase=call.phase,
                              trigger=trigger, code=refusal.code.value, detail=refusal.detail)
            return False
        return True

    def _finish(self, call: _Call, state: AuctionState, quote: Indicative | None, *,
                override: bool = False, decided_by: str | None = None) -> _Call:
        done = attrs.evolve(call, state=state, ends_at=None, override=override,
                            decided_by=decided_by,
                            indicative=quote if quote is not None else call.indicative,
                            price=None if quote is None else quote.price,
                            size=None if quote is None else quote.volume)
        self._set(done)
        return done

    def _set(self, call: _Call) -> None:
        """Keep `call`, publish its cutoff, journal it (a failed write is retried next poll)."""
        self._call = call
        spec = self._specs[call.phase]
        if call.state is AuctionState.CALLING and call.ends_at is not None and spec.cutoff:
            dest = self._controller.policy.transition(call.phase, spec.uncross)
            message = (f"{Reason.AUCTION_CUTOFF.value}: phase={call.phase} scope={self._level} "
                       f"ends_at={call.ends_at}")
            self._late = _Late(call.phase, call.ends_at - spec.cutoff, Decision(
                False, Reason.AUCTION_CUTOFF, call.phase, self._level, message,
                next_phase=None if dest is None else dest.dest, retry_after=call.ends_at))
        else:
            self._late = None
        self._write(call)

    def _write(self, call: _Call) -> None:
        if not self._durable:
            return
        try:
            self._controller.note(TOPIC, self._scope, call.as_json(), actor=self._actor)
        except Exception as exc:  # the schedule is recomputed from the seed: retried, not fatal
            self._unwritten = True
            self._log.critical("auction_note_failed", scope=self._scope, phase=call.phase,
                               state=call.state.value, error=shown(exc))
        else:
            self._unwritten = False

    def _indicative(self) -> Indicative | None:
        quote = self._engine.indicative(self._scope)
        if quote is not None and not isinstance(quote, Indicative):
            msg = f"engine.indicative() must return an Indicative or None, got {shown(quote)}"
            raise ConfigurationError(msg)
        return quote

    def _status(self, now: float) -> AuctionStatus:
        call = self._call
        phase = self._controller.phase(self._scope)
        reference = self._reference if call is None else call.reference
        spec = self._specs.get(call.phase if call is not None else phase) or next(
            iter(self._specs.values()))
        low, high = _collar(spec, reference)
        if call is None:
            return AuctionStatus(self._scope, AuctionState.IDLE, phase, 0, now, None, None, None,
                                 0, spec.max_extensions, reference, low, high, None, False)
        quote = self._indicative() if call.state in _OPEN else call.indicative
        late = self._late
        return AuctionStatus(
            self._scope, call.state, call.phase, call.visit, now, call.started_at, call.ends_at,
            None if late is None else late.cutoff_at, call.extensions, spec.max_extensions,
            reference, low, high, quote,
            quote is not None and spec.in_collar(float(quote.price), float(reference)),
            call.price, call.size, call.override, call.decided_by)


def _collar(spec: AuctionSpec, reference: Price) -> tuple[float, float]:
    ref = float(reference)
    return ref - spec.collar * ref, ref + spec.collar * ref


def _less_aggressive(side: object, price: object, quantity: object, old_price: object,
                     old_quantity: object) -> bool:
    """Whether an amend gives up priority or size: a buy lowered in price, a sell raised, or
    either lowered in quantity.

    Raises:
        InvalidRequestError: naming the first argument that is not usable.
    """
    if not isinstance(side, Side):
        raise invalid("side", side, "Side.BUY or Side.SELL for an amend")
    for field, value in (("price", price), ("quantity", quantity), ("old_price", old_price),
                         ("old_quantity", old_quantity)):
        if not _positive(value):
            raise invalid(field, value, "a positive finite number (int, float, Decimal) for an amend")
    worse = price < old_price if side is _BUY else price > old_price  # type: ignore[operator]
    return bool(worse or quantity < old_quantity)  # type: ignore[operator]
