"""The gate: a policy compiled into lookup tables, answering `check(request)` with no lock.

Compilation (once per policy, kept on the frozen `Policy`): the preallocated decisions of every
phase, once as the venue's (scope `VENUE`) and once as an instrument's own (scope `INSTRUMENT`);
then, for every venue phase, a tuple of tables indexed by *instrument phase index*: index 0 is
the venue's own table (for instruments that follow the venue), index i the combined table of
the venue phase and phase i, which takes, key by key, the stricter scope's decision. Tables and
decisions are shared by every instrument and every gate of the policy.

State (published by one writer, the controller or a follower, under its lock; readers take no
lock): the venue phase's tuple of tables, swapped by one reference assignment on a venue
transition (O(1): the tuples are precompiled); and a dict mapping each instrument with a phase
of its own to its phase index, changed in place, one key, on an instrument transition (O(1)):
readers see the old or the new value of that key, never a mix. An instrument moved back to the
phase that adds no restriction (`_Compiled.release`) is dropped from the dict: it follows the
venue again and costs nothing.

Checking (once per order): two slot loads, one dict probe, two tuple indexes, no branch.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Final, NoReturn

import attrs

from .codes import Reason
from .errors import ConfigurationError, InvalidRequestError
from .model import (
    ALL_KINDS,
    FIELD_TREE,
    INSTRUMENT,
    RESERVED_NAMES,
    STRIP,
    VENUE,
    Action,
    Decision,
    OrderType,
    Origin,
    Request,
    Side,
    TimeInForce,
    invalid,
)
from .phases import Verdict
from .policy import Policy, gate_tables, tightens
from .specs import positive_number
from .text import shown

_Table = tuple[Decision, ...]

FOLLOWS_VENUE: Final = 0
"""The instrument phase index of an instrument without a phase of its own."""

_CLIENT: Final = Origin.CLIENT  # a module constant: an enum attribute load is slow on 3.11
_BUY: Final = Side.BUY
_SELL: Final = Side.SELL
_HINTS_KEPT: Final = 64

_RESTS: Final = tuple(k.action in (Action.NEW_ORDER, Action.AMEND) and k.order_type is OrderType.LIMIT
                      and k.time_in_force in (TimeInForce.GTC, TimeInForce.GTD) for k in ALL_KINDS)
"""By request key: whether the request puts a limit order in the book (new or amended, GTC or
GTD): what `check_priced` looks at. Stops rest outside the book until they trigger."""


class _Compiled:
    """Everything about a policy's decisions that does not depend on the current phases.

    Attributes:
        names: phase name by instrument phase index (index 0, following the venue, is "").
        index: instrument phase index by phase name (1..n).
        tables: per venue phase, its tables indexed by instrument phase index.
        capabilities: per venue phase, the engine capabilities indexed likewise.
        release: the index of the phase an instrument is released in (dropped from the
            overrides), or -1 if none is. It is the policy's normal phase when that adds no
            restriction to any venue phase (`_adds_nothing`): the normal phase, because the
            controller and followers take an instrument without a phase of its own to be in it.
        venues: per venue phase, what publishing it swaps in (`_VenuePart`).
    """

    __slots__ = ("capabilities", "crossing", "hinted", "index", "names", "release", "tables",
                 "venues")

    def __init__(self, policy: Policy) -> None:
        names = policy.phase_names
        self.names: tuple[str, ...] = ("", *names)
        self.index: dict[str, int] = {name: i for i, name in enumerate(names, 1)}
        outcomes: dict[str, tuple[Verdict, ...]] = {}
        picks: dict[str, tuple[int, ...]] = {}
        for phase in names:
            distinct: dict[Verdict, int] = {}
            picks[phase] = tuple(distinct.setdefault(v, len(distinct)) for v in policy.verdicts(phase))
            outcomes[phase] = tuple(distinct)
        pools = {(scope, phase): tuple(_decision(reason, detail, phase, scope,
                                                 _next_phase(policy, phase))
                                       for reason, detail in outcomes[phase])
                 for scope in (VENUE, INSTRUMENT) for phase in names}
        own = {v: tuple(pools[(VENUE, v)][i] for i in picks[v]) for v in names}
        caps = {phase: policy.phase(phase).capabilities for phase in names}
        specs = {phase: policy.phase(phase) for phase in names}
        self.tables: dict[str, tuple[_Table, ...]] = {}
        self.capabilities: dict[str, tuple[frozenset[str], ...]] = {}
        for v in names:
            combined = []
            for q in names:
                v_wins_ties = policy.strictness(v) >= policy.strictness(q)
                venue_pool, inst_pool = pools[(VENUE, v)], pools[(INSTRUMENT, q)]
                table = []
                for vi, qi in zip(picks[v], picks[q], strict=True):
                    venue_rejects = not venue_pool[vi].accepted
                    venue_decides = venue_rejects and (inst_pool[qi].accepted or v_wins_ties)
                    table.append(venue_pool[vi] if venue_decides else inst_pool[qi])
                combined.append(tuple(table))
            self.tables[v] = (own[v], *combined)
            self.capabilities[v] = (caps[v], *(caps[v] & caps[q] for q in names))
        self.release = self.index[policy.normal] if self._adds_nothing(policy.normal) else -1
        crossing = {(scope, phase): _decision(Reason.WOULD_CROSS, "", phase, scope,
                                              _next_phase(policy, phase))
                    for scope in (VENUE, INSTRUMENT) for phase in names}
        # A call auction collects crossing interest on purpose (its uncross resolves it): only
        # a phase that stops matching and is no auction refuses a crossing order.
        refuses = {phase: not specs[phase].matching and specs[phase].auction is None
                   for phase in names}
        self.crossing: dict[str, tuple[tuple[Decision | None, ...], ...]] = {}
        for v in names:
            by_index: list[Decision | None] = [crossing[(VENUE, v)] if refuses[v] else None]
            for q in names:
                if refuses[v]:  # the level that refuses names the phase, the venue first
                    by_index.append(crossing[(VENUE, v)])
                else:
                    by_index.append(crossing[(INSTRUMENT, q)] if refuses[q] else None)
            # per instrument index, per key: WOULD_CROSS where a price is looked at at all
            # (matching off, the request rests a limit, the table accepts it), else None
            self.crossing[v] = tuple(
                tuple(cross if cross is not None and _RESTS[key] and decision.accepted else None
                      for key, decision in enumerate(table))
                for cross, table in zip(by_index, self.tables[v], strict=True))
        self.venues = {v: _VenuePart(v, self.tables[v], self.capabilities[v], self.crossing[v])
                       for v in names}
        self.hinted: dict[tuple[str, float], _VenuePart] = {}

    def venue_part(self, phase: str, retry_after: float | None) -> _VenuePart:
        """What publishing `phase` for the venue swaps in; with `retry_after`, its venue-level
        rejections carry it (built once per (phase, time), the last few kept)."""
        plain = self.venues[phase]
        if retry_after is None:
            return plain
        part = self.hinted.get((phase, retry_after))
        if part is None:
            hints: dict[int, Decision] = {}

            def hint(d: Decision) -> Decision:
                if d.accepted or d.scope != VENUE:
                    return d
                got = hints.get(id(d))
                if got is None:
                    got = hints[id(d)] = attrs.evolve(d, retry_after=retry_after)
                return got

            tables = tuple(tuple(hint(d) for d in table) for table in plain.tables)
            crossing = tuple(tuple(None if d is None else hint(d) for d in by_key)
                             for by_key in plain.crossing)
            part = _VenuePart(phase, tables, plain.capabilities, crossing)
            if len(self.hinted) >= _HINTS_KEPT:
                self.hinted.clear()
            self.hinted[(phase, retry_after)] = part
        return part

    def _adds_nothing(self, phase: str) -> bool:
        """Whether an instrument in `phase` is decided exactly as one that follows the venue.

        True when, under every venue phase, the combined table accepts what the venue's accepts
        and refuses the rest with the venue's very decision, and `phase` allows every engine
        capability any phase allows.
        """
        i = self.index[phase]
        for tables in self.tables.values():
            for alone, combined in zip(tables[FOLLOWS_VENUE], tables[i], strict=True):
                if alone.accepted is not combined.accepted or (not alone.accepted
                                                               and alone is not combined):
                    return False
        # caps(v) & caps(phase) == caps(v) for every v: phase allows all that any phase allows
        return all(caps[i] == caps[FOLLOWS_VENUE] for caps in self.capabilities.values())


class _VenuePart:
    """What a venue phase puts in force, by instrument phase index: its tables, capabilities,
    and, by request key, the WOULD_CROSS decision where a price must be compared (else None)."""

    __slots__ = ("capabilities", "crossing", "phase", "tables")

    def __init__(self, phase: str, tables: tuple[_Table, ...],
                 capabilities: tuple[frozenset[str], ...],
                 crossing: tuple[tuple[Decision | None, ...], ...]) -> None:
        self.phase = phase
        self.tables = tables
        self.capabilities = capabilities
        self.crossing = crossing


class Gate:
    """Answers "may this request be accepted now?" for every order, in O(1), with no lock.

    Build one from a policy and (optionally) the current phases; a `Controller` keeps it up to
    date. Engines should keep the bound method in a local: ``check = gate.check``.

    Example:
        >>> from exchange_recovery import default_policy, Request, OrderType
        >>> gate = Gate(default_policy(), {"venue": "PRE_OPEN"})
        >>> gate.check(Request.new_order("BTC-USDT", OrderType.MARKET)).reason.name
        'ORDER_TYPE_NOT_ALLOWED'
    """

    __slots__ = ("__weakref__", "_compiled", "_own", "_policy", "_tables", "_tightened", "_venue",
                 "_version")

    def __init__(self, policy: Policy, phases: Mapping[str, str] | None = None,
                 version: int = 0) -> None:
        if not isinstance(policy, Policy):
            msg = f"Gate needs a Policy, got {shown(policy)}"
            raise ConfigurationError(msg)
        if phases is not None and not isinstance(phases, Mapping):
            msg = f"phases must be a mapping of scope to phase name, got {shown(phases)}"
            raise ConfigurationError(msg)
        if type(version) is not int or version < 0:
            msg = f"version must be an int >= 0, got {shown(version)}"
            raise ConfigurationError(msg)
        self._policy = policy
        self._compiled = gate_tables(policy, _Compiled)
        venue, own = self._state({} if phases is None else phases)
        self._venue = venue
        self._tables = venue.tables
        self._own = own
        self._version = version
        self._tightened = version

    # -- the hot path ------------------------------------------------------------------------

    def check(self, request: Request) -> Decision:
        """Return the decision for `request` in the current phases (preallocated, never None).

        Raises:
            InvalidRequestError: `request` is not a `Request` (no instrument and key, or ones
                that index nothing). An object that has both is not checked for its type:
                that would cost every order.
        """
        # Branch-free: an instrument without a phase of its own (or None) finds index 0,
        # FOLLOWS_VENUE (a literal here: a constant is faster than a global). A try costs
        # nothing until it catches (3.11): only a non-Request pays for the error.
        try:
            return self._tables[self._own.get(request.instrument, 0)][request.key]  # type: ignore[arg-type]
        except Exception:  # not a Request: no attribute, unhashable, a bad key
            _not_a_request(request)

    def check_fields(
        self,
        action: Action,
        instrument: str | None = None,
        order_type: OrderType | None = None,
        time_in_force: TimeInForce | None = None,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        origin: Origin = _CLIENT,
    ) -> Decision:
        """Like `check`, for engines with their own order type: fields in, decision out.

        Gives exactly `check(Request(...))`'s answer for the same fields, without building the
        request and without allocating. A time in force left out is defaulted as `Request` does.

        Raises:
            InvalidRequestError: the fields do not form a valid request (names the field), in
                exactly the cases `Request` raises it.
        """
        key: int  # (an annotation only: no code)
        try:
            key, a, ot, tif, po, ro, o, optional, _ = FIELD_TREE[action][order_type][
                time_in_force][post_only][reduce_only][origin]
            # FIELD_TREE matches by ==: only the very members (not 0, 1.0, another IntEnum) count;
            # STRIP passes a plain str without outer whitespace, raises TypeError for a non-str.
            if (a is action and ot is order_type and tif is time_in_force and po is post_only
                    and ro is reduce_only and o is origin
                    and ((instrument is None and optional)
                         or (STRIP(instrument) is instrument  # type: ignore[arg-type]  # None: TypeError
                             and instrument not in RESERVED_NAMES))):
                return self._tables[self._own.get(instrument, 0)][key]  # type: ignore[arg-type]
        except Exception:  # noqa: S110 - not a valid combination, an unhashable field,
            pass  # not a str, a field whose hash raises: `Request` names the field
        return self._check_request(action, instrument, order_type, time_in_force, post_only,
                                   reduce_only, origin)

    def _check_request(self, action: Action, instrument: str | None, order_type: OrderType | None,
                       time_in_force: TimeInForce | None, post_only: bool, reduce_only: bool,
                       origin: Origin) -> Decision:
        """`check_fields` off its fast path: `Request` validates (and names a bad field).

        Fields of the right types that do not go together (what a client can send: post-only
        IOC, a market GTC, an empty instrument) get an INVALID_REQUEST decision naming the
        field; a field of the wrong type is the caller's bug and raises.
        """
        try:
            request = Request(action, instrument, order_type, time_in_force, post_only,
                              reduce_only, origin)
        except InvalidRequestError as exc:
            if not _well_typed(action, instrument, order_type, time_in_force, post_only,
                               reduce_only, origin):
                raise
            return _invalid_decision(self._venue.phase, exc.field, exc.expected)
        return self.check(request)

    def check_priced(self, request: Request, side: Side, price: object,
                     best_bid: object = None, best_ask: object = None) -> Decision:
        """Like `check`, and while matching is off, refuse a limit order that would cross.

        A new order or amend that would rest a LIMIT GTC/GTD order at or through the opposite
        touch (a buy at or above `best_ask`, a sell at or below `best_bid`) is refused with
        `Reason.WOULD_CROSS` when the instrument's phases do not match: resting, it would leave
        the book crossed when matching resumes. The touch is the engine's own book, read at
        the sequencing point (None: that side is empty); a float NaN touch counts as crossed
        (refused, never let through). While matching is on, the price is not looked at
        (crossing is the engine's matching); nor in a call auction's phase (one with an
        `AuctionSpec`), which collects crossing interest for its single uncross to resolve.

        A `price` that is no positive finite number (int, float or Decimal) is refused with
        `Reason.INVALID_REQUEST` naming ``price``, when it is looked at.

        Example:
            >>> from exchange_recovery import default_policy, Request, OrderType, Side
            >>> gate = Gate(default_policy(), {"venue": "PRE_OPEN"})
            >>> bid = Request.new_order("BTC-USDT", OrderType.LIMIT, post_only=True)
            >>> gate.check_priced(bid, Side.BUY, 101, best_bid=99, best_ask=100).reason.name
            'WOULD_CROSS'
            >>> gate.check_priced(bid, Side.BUY, 99, best_bid=99, best_ask=100).reason.name
            'ACCEPTED'

        Raises:
            InvalidRequestError: `request` is not a `Request`, or `side` not a `Side`.
            ConfigurationError: the touch cannot be compared with the price (the engine's bug).
        """
        venue = self._venue  # one read: its tables and crossing decisions agree
        try:
            i = self._own.get(request.instrument, 0)  # type: ignore[arg-type]
            key = request.key
            cross = venue.crossing[i][key]
            if cross is None:  # matching on, nothing that rests, or refused anyway
                return venue.tables[i][key]
        except Exception:  # not a Request
            _not_a_request(request)
        if (type(price) is not int and not _positive(price)) or price <= 0:  # type: ignore[operator]
            return _invalid_decision(cross.phase, "price", "a positive finite number")
        try:
            # "not below the ask", not "at or above it": a NaN touch refuses (fails closed)
            if side is _BUY:
                if best_ask is not None and not price < best_ask:  # type: ignore[operator]
                    return cross
            elif side is _SELL:
                if best_bid is not None and not price > best_bid:  # type: ignore[operator]
                    return cross
            else:
                raise invalid("side", side, "Side.BUY or Side.SELL")  # noqa: TRY301
        except InvalidRequestError:
            raise
        except Exception:  # a touch that does not compare with a number
            msg = (f"best_bid/best_ask must be numbers or None, got {shown(best_bid)} and "
                   f"{shown(best_ask)}")
            raise ConfigurationError(msg) from None
        return venue.tables[i][key]

    # -- read-only views -----------------------------------------------------------------------

    @property
    def policy(self) -> Policy:
        """The policy this gate was compiled from."""
        return self._policy

    @property
    def version(self) -> int:
        """The version of the published phases (strictly increases with every transition)."""
        return self._version

    @property
    def tightened(self) -> int:
        """The version of the latest publication that may have refused something more.

        It is stored *before* the tables change (and `version` after them): an engine that
        read ``version`` as ``v`` before checking a batch, and reads ``tightened <= v`` after
        writing it, knows no check of that batch missed a tightening (see `Fence`).
        """
        return self._tightened

    @property
    def phases(self) -> Mapping[str, str]:
        """Every scope's current phase: ``"venue"`` and each instrument with its own phase.

        A read-only copy, built on each call (O(instruments with a phase of their own)); use
        `phase` for one scope. An instrument released back to following the venue is not listed.
        """
        names = self._compiled.names
        phases = {VENUE: self._venue.phase}
        own = self._own.copy()  # one C call: atomic with respect to the writer
        phases.update({scope: names[i] for scope, i in own.items()})
        return types.MappingProxyType(phases)

    def phase(self, scope: str = VENUE) -> str:
        """The phase of a scope; an instrument without its own phase follows the venue.

        Raises:
            ConfigurationError: `scope` cannot be looked up (unhashable).
        """
        try:
            i = self._own.get(scope, FOLLOWS_VENUE)
        except Exception:  # unhashable, or a hash that raises
            _not_a_scope("scope", scope)
        return self._compiled.names[i] if i else self._venue.phase

    def matching(self, instrument: str | None = None) -> bool:
        """Whether the engine may match orders (on `instrument`, or venue-wide)."""
        return "matching" in self.capabilities(instrument)

    def stop_triggers(self, instrument: str | None = None) -> bool:
        """Whether the engine may trigger stop orders."""
        return "stop_triggers" in self.capabilities(instrument)

    def liquidations(self, instrument: str | None = None) -> bool:
        """Whether the engine may run liquidations."""
        return "liquidations" in self.capabilities(instrument)

    def funding(self, instrument: str | None = None) -> bool:
        """Whether funding and interest accrue now: both the venue's phase and the instrument's
        own phase (if it has one) say so (`PhaseSpec.funding`; False: frozen, as while users
        cannot act). Not on the per-order path: a few lookups, no lock.

        Example:
            >>> from exchange_recovery import reopening_policy
            >>> gate = Gate(reopening_policy(), {"venue": "NORMAL", "BTC-USDT": "HALTED"})
            >>> gate.funding(), gate.funding("BTC-USDT"), gate.funding("ETH-USDT")
            (True, False, True)

        Raises:
            ConfigurationError: `instrument` cannot be looked up (unhashable).
        """
        try:
            i = self._own.get(instrument, FOLLOWS_VENUE)  # type: ignore[arg-type]
        except Exception:  # unhashable, or a hash that raises
            _not_a_scope("instrument", instrument)
        policy = self._policy
        own = policy.phase(self._compiled.names[i]).funding if i else True
        return own and policy.phase(self._venue.phase).funding

    def capabilities(self, instrument: str | None = None) -> frozenset[str]:
        """What the engine itself may do now: both the venue's and the instrument's phase allow.

        Raises:
            ConfigurationError: `instrument` cannot be looked up (unhashable).
        """
        try:
            return self._venue.capabilities[self._own.get(instrument, FOLLOWS_VENUE)]  # type: ignore[arg-type]
        except Exception:  # unhashable, or a hash that raises
            _not_a_scope("instrument", instrument)

    def __repr__(self) -> str:
        phases = dict(self.phases)
        return f"<Gate policy={self._policy.name!r} version={self.version} phases={phases}>"

    # -- publication (controller, recovery and coordination only; one writer at a time) ---------

    def _publish(self, phases: Mapping[str, str], version: int) -> None:
        """Publish the whole state (O(scopes)): a new overrides dict and the venue's tables.

        The two are swapped by two assignments, in the order that keeps a check running
        meanwhile on the safe side: the instruments' new phases first when the venue relaxes
        (such a check sees the venue's old phase with them), the venue's first when it only
        tightens (it sees the venue's new phase with the instruments' old ones).
        """
        venue, own = self._state(phases)
        self._tightened = version  # a whole new state: taken as tightening (the safe side)
        if self._policy.is_relaxing(self._venue.phase, venue.phase):
            self._own = own
            self._tables = venue.tables
        else:
            self._tables = venue.tables
            self._own = own
        self._venue = venue
        self._version = version

    def _publish_scope(self, scope: str, phase: str, version: int,
                       retry_after: float | None = None) -> None:
        """Publish one scope's new phase in O(1): one reference for the venue, one key else.

        Once this returns, every check that starts sees the new phase. `retry_after` (the
        venue only) is put on the venue-level rejections of the phase.
        """
        compiled = self._compiled
        index = _index(compiled, self._policy, phase)
        before = self._own_phase(scope) if type(scope) is str else None
        if tightens(self._policy, before or self._policy.normal, phase):
            self._tightened = version  # before the tables: see `tightened`
        if scope == VENUE:
            venue = compiled.venue_part(phase, retry_after)
            self._tables = venue.tables
            self._venue = venue
        else:
            _check_scope(scope)
            if index == compiled.release:
                self._own.pop(scope, None)  # follows the venue again: costs nothing
            else:
                self._own[scope] = index
        self._version = version

    def _hint_venue(self, retry_after: float | None) -> None:
        """Put `retry_after` on the venue's current rejections (same phase, same tables of
        verdicts; only the hint changes): one reference swap, as a publication is."""
        venue = self._compiled.venue_part(self._venue.phase, retry_after)
        self._tables = venue.tables
        self._venue = venue

    def _publish_scopes(self, phases: Mapping[str, str], version: int) -> None:
        """Publish several scopes' new phases, one by one, as `_publish_scope` does."""
        for scope, phase in phases.items():
            self._publish_scope(scope, phase, version)

    def _own_phase(self, scope: str) -> str | None:
        """The phase `scope` has of its own (the venue's for `VENUE`); None if it follows the
        venue (for the controller and followers, which keep no copy of the phases).

        Raises:
            ConfigurationError: `scope` cannot be looked up (unhashable, or comparing raises).
        """
        try:
            if scope == VENUE:
                return self._venue.phase
            i = self._own.get(scope, FOLLOWS_VENUE)
        except Exception:  # unhashable, or a hash or == that raises
            _not_a_scope("scope", scope)
        return self._compiled.names[i] if i else None

    def _table(self, instrument: str | None) -> _Table:
        """The table `check` uses for `instrument` now (for tests and tools)."""
        return self._tables[self._own.get(instrument, FOLLOWS_VENUE)]  # type: ignore[arg-type]

    def _state(self, phases: Mapping[str, str]) -> tuple[_VenuePart, dict[str, int]]:
        """Validate a scope -> phase mapping (the venue defaults to the initial phase).

        Checked in bulk (C-level set and dict operations), so that building a gate for many
        instruments costs little more than copying their names.
        """
        compiled, policy = self._compiled, self._policy
        index = compiled.index
        try:
            known = index.keys() >= set(phases.values())
        except Exception:  # an unhashable phase, a hash that raises: named below
            known = False
        if not known:
            for phase in phases.values():
                _index(compiled, policy, phase)
        if not all(type(scope) is str and scope for scope in phases):
            for scope in phases:
                _check_scope(scope)
        venue = phases.get(VENUE, policy.initial)
        release = compiled.names[compiled.release] if compiled.release > 0 else None
        own = {scope: index[phase] for scope, phase in phases.items()
               if phase != release and scope != VENUE}
        return compiled.venues[venue], own


_TYPES: Final = ((Action, False), (OrderType, True), (TimeInForce, True), (bool, False),
                  (bool, False), (Origin, False))

_INVALID: dict[tuple[str, str, str], Decision] = {}
"""INVALID_REQUEST decisions by (phase, field, expected): built once each, then shared."""


_positive: Final = positive_number


def _well_typed(action: object, instrument: object, order_type: object, time_in_force: object,
                post_only: object, reduce_only: object, origin: object) -> bool:
    """Whether every field has its type (an instrument: a str or None), so that what is wrong
    is how they go together: something a client can send."""
    values = (action, order_type, time_in_force, post_only, reduce_only, origin)
    return (instrument is None or type(instrument) is str) and all(
        type(value) is cls or (optional and value is None)
        for value, (cls, optional) in zip(values, _TYPES, strict=True))


def _invalid_decision(phase: str, field: str, expected: str) -> Decision:
    key = (phase, field, expected)
    decision = _INVALID.get(key)
    if decision is None:
        message = (f"{Reason.INVALID_REQUEST.value}: phase={phase} scope={VENUE} field={field} "
                   f"expected {expected}")
        decision = Decision(False, Reason.INVALID_REQUEST, phase, VENUE, message)
        if len(_INVALID) < 10_000:  # the combinations are finite; never grow without bound
            _INVALID[key] = decision
    return decision


def _index(compiled: _Compiled, policy: Policy, phase: str) -> int:
    try:
        return compiled.index[phase]
    except Exception:  # unknown, unhashable, a hash that raises
        policy.phase(phase)  # raises ConfigurationError naming the known phases
        raise  # pragma: no cover - policy.phase knows no phase the index lacks


def _check_scope(scope: object) -> None:
    if type(scope) is not str or not scope:
        msg = f"scope names must be non-empty strs, got {shown(scope)}"
        raise ConfigurationError(msg)


def _not_a_scope(field: str, value: object) -> NoReturn:
    expected = "a str" if field == "scope" else "a str or None"
    msg = f"{field} must be {expected} (a scope name), got {shown(value)}"
    raise ConfigurationError(msg)


def _not_a_request(value: object) -> NoReturn:
    """`check` was given something else than a `Request` (the error path of the hot path)."""
    raise invalid("request", value, "a Request (build one with Request(...) or use "
                                    "check_fields)") from None


_HALTED_FOR_SCOPE: Final = {VENUE: Reason.PHASE_HALTED, INSTRUMENT: Reason.INSTRUMENT_HALTED}


def _decision(reason: Reason, detail: str, phase: str, scope: str,
              next_phase: str | None = None) -> Decision:
    if reason is Reason.PHASE_HALTED:
        reason = _HALTED_FOR_SCOPE[scope]
    message = f"{reason.value}: phase={phase} scope={scope}" + (f" {detail}" if detail else "")
    accepted = reason.accepts
    until = (detail.partition(" until=")[2] or None) if reason is Reason.DEFERRED else None
    return Decision(accepted, reason, phase, scope, message,
                    next_phase=None if accepted else next_phase, until=until)


def _next_phase(policy: Policy, phase: str) -> str | None:
    step = policy.planned_step(phase)
    return None if step is None else step.dest
