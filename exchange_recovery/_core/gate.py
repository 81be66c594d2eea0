"""The gate: a policy compiled into lookup tables, answering `check(request)` with no lock.

Compilation (once per policy): for every phase, the distinct verdicts and a tuple mapping each
request key to one of them; for every pair (venue phase, instrument phase), an `itemgetter`
that picks, key by key, the stricter scope's decision out of the two scopes' decision pools.

Publication (once per transition): a new immutable `_Snapshot` holding the venue's table and
one combined table per instrument override, swapped in by one reference assignment. A reader
sees the old snapshot or the new one, never a mix.

Checking (once per order): two slot loads, one dict probe, one tuple index.
"""

from __future__ import annotations

import operator
import types
from collections.abc import Callable, Mapping
from typing import Final

from .codes import Reason
from .errors import ConfigurationError, InvalidRequestError
from .model import (
    INSTRUMENT_REQUIRED,
    VENUE,
    Action,
    Decision,
    OrderType,
    Origin,
    Request,
    TimeInForce,
    kind_key,
)
from .model import default_time_in_force as _default_tif
from .phases import Verdict
from .policy import Policy

_Table = tuple[Decision, ...]


class _Compiled:
    """The scope-independent part of a policy's tables."""

    __slots__ = ("combine", "outcomes", "venue_pick")

    def __init__(self, policy: Policy) -> None:
        self.outcomes: dict[str, tuple[Verdict, ...]] = {}
        index: dict[str, tuple[int, ...]] = {}
        for phase in policy.phase_names:
            distinct: dict[Verdict, int] = {}
            index[phase] = tuple(
                distinct.setdefault(v, len(distinct)) for v in policy.verdicts(phase)
            )
            self.outcomes[phase] = tuple(distinct)
        self.venue_pick: dict[str, Callable[[_Table], _Table]] = {
            phase: operator.itemgetter(*index[phase]) for phase in policy.phase_names
        }
        self.combine: dict[tuple[str, str], Callable[[_Table], _Table]] = {}
        for v in policy.phase_names:
            offset = len(self.outcomes[v])
            for q in policy.phase_names:
                v_wins_ties = policy.strictness(v) >= policy.strictness(q)
                pattern = []
                for vi, qi in zip(index[v], index[q], strict=True):
                    venue_rejects = self.outcomes[v][vi][0] is not Reason.ACCEPTED
                    inst_rejects = self.outcomes[q][qi][0] is not Reason.ACCEPTED
                    venue_decides = venue_rejects and (not inst_rejects or v_wins_ties)
                    pattern.append(vi if venue_decides else offset + qi)
                self.combine[(v, q)] = operator.itemgetter(*pattern)


class _Snapshot:
    """The published state: immutable once built."""

    __slots__ = ("overrides", "phase_dict", "phases", "venue", "version")

    def __init__(
        self, venue: _Table, overrides: dict[str, _Table], phases: dict[str, str], version: int
    ) -> None:
        self.venue = venue
        self.overrides = overrides
        self.phase_dict = phases  # never mutated; copied (fast path) by the next publication
        self.phases = types.MappingProxyType(phases)
        self.version = version


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

    __slots__ = ("__weakref__", "_compiled", "_decisions", "_policy", "_snap", "_venue_tables")

    def __init__(self, policy: Policy, phases: Mapping[str, str] | None = None,
                 version: int = 0) -> None:
        if not isinstance(policy, Policy):
            msg = f"Gate needs a Policy, got {policy!r}"
            raise ConfigurationError(msg)
        self._policy = policy
        self._compiled = _Compiled(policy)
        self._decisions: dict[tuple[str, str], _Table] = {}
        self._venue_tables: dict[str, _Table] = {
            phase: self._compiled.venue_pick[phase](self._pool(VENUE, phase))
            for phase in policy.phase_names
        }
        self._snap = self._build(_complete(policy, phases), version)

    # -- the hot path ------------------------------------------------------------------------

    def check(self, request: Request) -> Decision:
        """Return the decision for `request` in the current phases (preallocated, never None)."""
        snap = self._snap
        # Branch-free: faster with overrides than testing for them (and None finds no override).
        return snap.overrides.get(request.instrument, snap.venue)[request.key]  # type: ignore[arg-type]

    def check_fields(
        self,
        action: Action,
        instrument: str | None = None,
        order_type: OrderType | None = None,
        time_in_force: TimeInForce | None = None,
        *,
        post_only: bool = False,
        reduce_only: bool = False,
        origin: Origin = Origin.CLIENT,
    ) -> Decision:
        """Like `check`, for engines with their own order type: fields in, decision out.

        Raises:
            InvalidRequestError: the fields do not form a valid request (names the field).
        """
        try:
            if time_in_force is None:
                time_in_force = _default_tif(action, order_type)
            key = kind_key(action, order_type, time_in_force, post_only, reduce_only, origin)
        except TypeError:  # an unhashable field: let Request name it below
            key = -1
        # Rare path (venue-wide requests, bad input), so a str instrument costs one type test.
        if (key < 0 or type(instrument) is not str) and (
            key < 0 or instrument is not None or action in INSTRUMENT_REQUIRED
        ):
            Request(action, instrument, order_type, time_in_force, post_only, reduce_only, origin)
            raise InvalidRequestError("action", action, "a valid combination of request fields")
        snap = self._snap
        return snap.overrides.get(instrument, snap.venue)[key]  # type: ignore[arg-type]

    # -- read-only views -----------------------------------------------------------------------

    @property
    def policy(self) -> Policy:
        """The policy this gate was compiled from."""
        return self._policy

    @property
    def version(self) -> int:
        """The version of the published phases (strictly increases with every transition)."""
        return self._snap.version

    @property
    def phases(self) -> Mapping[str, str]:
        """Every scope's current phase: ``"venue"`` and each instrument with its own phase."""
        return self._snap.phases

    def phase(self, scope: str = VENUE) -> str:
        """The phase of a scope; an instrument without its own phase follows the venue."""
        phases = self._snap.phases
        return phases.get(scope, phases[VENUE])

    def matching(self, instrument: str | None = None) -> bool:
        """Whether the engine may match orders (on `instrument`, or venue-wide)."""
        return "matching" in self.capabilities(instrument)

    def stop_triggers(self, instrument: str | None = None) -> bool:
        """Whether the engine may trigger stop orders."""
        return "stop_triggers" in self.capabilities(instrument)

    def liquidations(self, instrument: str | None = None) -> bool:
        """Whether the engine may run liquidations."""
        return "liquidations" in self.capabilities(instrument)

    def capabilities(self, instrument: str | None = None) -> frozenset[str]:
        """What the engine itself may do now: both the venue's and the instrument's phase allow."""
        phases = self._snap.phases
        caps = self._policy.phase(phases[VENUE]).capabilities
        if instrument is not None and instrument in phases:
            caps &= self._policy.phase(phases[instrument]).capabilities
        return caps

    def __repr__(self) -> str:
        phases = dict(self.phases)
        return f"<Gate policy={self._policy.name!r} version={self.version} phases={phases}>"

    # -- publication (controller, recovery and coordination only) ------------------------------

    def _publish(self, phases: Mapping[str, str], version: int) -> None:
        """Compile tables for `phases` and make them visible with one reference swap."""
        self._snap = self._build(_complete(self._policy, phases), version)

    def _publish_scope(self, scope: str, phase: str, version: int) -> None:
        """Publish one scope's new phase; cheaper than `_publish` for an instrument."""
        old = self._snap
        phases = old.phase_dict.copy()  # copying the proxy would take the slow generic path
        phases[scope] = phase
        if scope == VENUE:
            self._snap = self._build(phases, version)
            return
        overrides = dict(old.overrides)
        overrides[scope] = self._combined(phases[VENUE], scope, phase)
        self._snap = _Snapshot(old.venue, overrides, phases, version)

    def _build(self, phases: dict[str, str], version: int) -> _Snapshot:
        venue_phase = phases[VENUE]
        overrides = {
            scope: self._combined(venue_phase, scope, phase)
            for scope, phase in phases.items() if scope != VENUE
        }
        return _Snapshot(self._venue_tables[venue_phase], overrides, phases, version)

    def _combined(self, venue_phase: str, instrument: str, phase: str) -> _Table:
        pool = self._pool(VENUE, venue_phase) + self._pool(instrument, phase)
        return self._compiled.combine[(venue_phase, phase)](pool)

    def _pool(self, scope: str, phase: str) -> _Table:
        """The distinct decisions of `phase` for `scope`, built once and reused."""
        cached = self._decisions.get((scope, phase))
        if cached is None:
            cached = tuple(
                _decision(reason, detail, phase, scope)
                for reason, detail in self._compiled.outcomes[phase]
            )
            self._decisions[(scope, phase)] = cached
        return cached


_HALTED_FOR_SCOPE: Final = {True: Reason.PHASE_HALTED, False: Reason.INSTRUMENT_HALTED}


def _decision(reason: Reason, detail: str, phase: str, scope: str) -> Decision:
    if reason is Reason.PHASE_HALTED:
        reason = _HALTED_FOR_SCOPE[scope == VENUE]
    message = f"{reason.value}: phase={phase} scope={scope}" + (f" {detail}" if detail else "")
    return Decision(reason is Reason.ACCEPTED, reason, phase, scope, message)


def _complete(policy: Policy, phases: Mapping[str, str] | None) -> dict[str, str]:
    """Validate a scope -> phase mapping and fill in the venue's initial phase."""
    result = {VENUE: policy.initial}
    for scope, phase in (phases or {}).items():
        if type(scope) is not str or not scope:
            msg = f"scope names must be non-empty strs, got {scope!r}"
            raise ConfigurationError(msg)
        policy.phase(phase)
        result[scope] = phase
    return result
