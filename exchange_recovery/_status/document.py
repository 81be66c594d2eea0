"""A machine-readable status document per scope, and its renderings for each venue.

Each rendering uses only field names the venue documents (see the URLs in
`exchange_recovery._status.outbound`): the venue scope as a venue-wide status (OKX system
status event, Kraken system status, FIX TradingSessionStatus ``h``), an instrument as that
instrument's status (OKX instrument, Kraken asset pair, FIX SecurityStatus ``f``); Coinbase
has product flags only.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import Any, Final

import attrs

from .._control.controller import Controller
from .._core.errors import ConfigurationError
from .._core.model import VENUE
from .._core.policy import Policy, planned_dwell
from .._core.specs import seconds_problem, usable_name
from .._core.text import escape_text, shown
from .._decide.records import TransitionRecord
from .._plan.auction import AuctionRunner, AuctionStatus
from .._plan.deadlines import Deadlines, WindowStatus
from .outbound import COINBASE_FLAGS, PhaseStatuses, phase_statuses
from .paths import checked_policy, phase_name

LATEST: Final = 253402300799.0
"""The latest `since` a document takes: 9999-12-31T23:59:59Z (what a calendar date can show)."""

_SCOPE_CHARS: Final = 200


def _ms(seconds: float | None) -> str:
    return "" if seconds is None else str(round(seconds * 1000))


def _utc(seconds: float) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC)


def _checked_scope(scope: object) -> str:
    if not (usable_name(scope) and isinstance(scope, str) and 0 < len(scope) <= _SCOPE_CHARS
            and scope.isprintable() and scope == scope.strip()):
        msg = f"scope must be a printable name of 1 to {_SCOPE_CHARS} characters, got {shown(scope)}"
        raise ConfigurationError(msg)
    return str.__str__(scope)


def _checked_since(since: object) -> float:
    problem = seconds_problem(since)
    if problem is None and float(since) > LATEST:  # type: ignore[arg-type]  # a real: checked
        problem = f"expected at most {LATEST:g} (9999-12-31)"
    if problem is not None:
        msg = f"since: {problem}, got {shown(since)}"
        raise ConfigurationError(msg)
    return float(since)  # type: ignore[arg-type]  # checked above


def _checked_windows(windows: object, scope: str) -> tuple[WindowStatus, ...]:
    listed: list[WindowStatus] | None = None
    if isinstance(windows, Iterable) and not isinstance(windows, str | bytes):
        try:
            items = list(windows)
        except Exception:  # noqa: S110 - its iterator raises: reported below
            pass
        else:
            if all(isinstance(w, WindowStatus) for w in items):
                listed = items
    if listed is None:
        msg = f"maintenance must be WindowStatus values (Deadlines.status()), got {shown(windows)}"
        raise ConfigurationError(msg)
    other = [w.window.id for w in listed if w.window.scope != scope]
    if other:
        msg = f"maintenance windows {shown(other)} are not of {shown(scope)}"
        raise ConfigurationError(msg)
    return tuple(sorted(listed, key=lambda w: (w.window.begin, w.window.id)))


def _checked_record(record: object, scope: str, phase: str) -> TransitionRecord | None:
    if record is None:
        return None
    if not isinstance(record, TransitionRecord):
        msg = f"record must be a TransitionRecord or None, got {shown(record)}"
        raise ConfigurationError(msg)
    fields = (record.scope, record.dest, record.reason, record.actor, record.trigger)
    if not all(type(value) is str for value in fields):
        msg = f"record has a field that is no str: {shown(record)}"
        raise ConfigurationError(msg)
    if record.scope != scope or record.dest != phase:
        msg = (f"record moved {shown(record.scope)} to {shown(record.dest)}, not {shown(scope)} "
               f"to {shown(phase)}")
        raise ConfigurationError(msg)
    return record


@attrs.frozen
class ScopeStatus:
    """What a scope is doing, as a document: its phase since when, why, and what comes next.

    `next_phase`/`next_trigger` are the first step of the policy's shortest path back to its
    normal phase (None in the normal phase); `expected_end` is the earliest the scope may take
    that step when a dwell guard holds it (`since` plus the guard's seconds), else None.
    `statuses` is the phase in each venue's vocabulary. `maintenance` holds the scope's
    announced maintenance windows with their state (see `Deadlines`), earliest first. Build one
    with `ScopeStatus.of`.
    """

    scope: str
    phase: str
    since: float
    version: int
    reason: str
    actor: str
    trigger: str
    next_phase: str | None
    next_trigger: str | None
    expected_end: float | None
    statuses: PhaseStatuses
    maintenance: tuple[WindowStatus, ...] = ()
    auction: AuctionStatus | None = None

    @classmethod
    def of_controller(cls, controller: Controller, scope: str = VENUE,
                      deadlines: Deadlines | None = None,
                      auction: AuctionRunner | None = None) -> ScopeStatus:
        """The status document of `scope` as `controller` has it now: its phase, since when
        (`Controller.entered_at`), the controller's version, and for the venue the reason of
        its latest transition; with `deadlines`, the scope's maintenance windows; with
        `auction` (the scope's `AuctionRunner`), its call: the indicative open price and size
        and whether it can open (Coinbase's product book auction fields).

        Example:
            >>> from exchange_recovery import Controller, default_policy
            >>> c = Controller(default_policy(), clock=lambda: 1671350400.0)
            >>> _ = c.halt(actor="ops:alice", reason="zone down")
            >>> doc = ScopeStatus.of_controller(c)
            >>> doc.phase, doc.reason, doc.next_phase
            ('HALTED', 'zone down', 'PRE_OPEN')

        Raises:
            ConfigurationError: `controller` is not a `Controller`, `scope` no scope name,
                `deadlines` neither None nor the `Deadlines` of `controller`, or `auction`
                neither None nor an `AuctionRunner` of `controller` for `scope`.
        """
        if not isinstance(controller, Controller):
            msg = f"of_controller needs a Controller, got {shown(controller)}"
            raise ConfigurationError(msg)
        if deadlines is not None and not (isinstance(deadlines, Deadlines)
                                          and deadlines.controller is controller):
            msg = f"deadlines must be None or the Deadlines of this controller, got {shown(deadlines)}"
            raise ConfigurationError(msg)
        scope = _checked_scope(scope)
        if auction is not None and not (isinstance(auction, AuctionRunner)
                                        and auction.controller is controller
                                        and auction.scope == scope):
            msg = (f"auction must be None or the AuctionRunner of this controller for "
                   f"{shown(scope)}, got {shown(auction)}")
            raise ConfigurationError(msg)
        windows = () if deadlines is None else deadlines.status().windows_of(scope)
        record = controller.venue_record if scope == VENUE else None
        phase = controller.phase(scope)
        if record is not None and record.dest != phase:
            record = None
        return cls.of(controller.policy, scope, phase, controller.entered_at(scope),
                      controller.version, record, maintenance=windows,
                      auction=None if auction is None else auction.status())

    @classmethod
    def of(cls, policy: Policy, scope: str, phase: str, since: float, version: int,
           record: TransitionRecord | None = None, reason: str | None = None,
           maintenance: Iterable[WindowStatus] = (),
           auction: AuctionStatus | None = None) -> ScopeStatus:
        """The status document of `scope`, in `phase` of `policy` since `since` (clock seconds).

        `record` (the transition that entered `phase`, e.g. a controller's last record of the
        scope) gives the reason, actor and trigger; `reason` overrides its reason;
        `maintenance` lists the scope's maintenance windows (`Deadlines.status`); `auction` is
        the scope's call (`AuctionRunner.status`). Text is kept
        on one line, escaped and bounded.

        Raises:
            ConfigurationError: an argument has the wrong type or value (an unknown phase, a
                `since` that is no finite number of seconds >= 0, a record of another scope or
                phase).

        Example:
            >>> from exchange_recovery import default_policy
            >>> doc = ScopeStatus.of(default_policy(), "venue", "PRE_OPEN", 1671350400.0, 3,
            ...                      reason="zone restored")
            >>> doc.next_trigger, doc.to_okx()["state"], doc.to_fix()["340"]
            ('open', 'pre_open', '4')
        """
        policy = checked_policy(policy)
        scope = _checked_scope(scope)
        phase = phase_name(policy, phase, "phase")
        since = _checked_since(since)
        if not isinstance(version, int) or isinstance(version, bool) or not \
                0 <= version < 2**63:
            msg = f"version must be an int from 0 to 2**63-1, got {shown(version)}"
            raise ConfigurationError(msg)
        checked = _checked_record(record, scope, phase)
        if reason is None:
            reason = checked.reason if checked is not None else ""
        elif not isinstance(reason, str):
            msg = f"reason must be a str or None, got {shown(reason)}"
            raise ConfigurationError(msg)
        windows = _checked_windows(maintenance, scope)
        if auction is not None and not (isinstance(auction, AuctionStatus)
                                        and auction.scope == scope):
            msg = f"auction must be None or an AuctionStatus of {shown(scope)}, got {shown(auction)}"
            raise ConfigurationError(msg)
        next_phase = next_trigger = expected_end = None
        step = policy.planned_step(phase)  # the step rejections name (Decision.next_phase)
        if step is not None:
            next_phase, next_trigger = step.dest, step.trigger
            dwell = planned_dwell(policy, phase)
            expected_end = None if dwell is None else since + dwell
        return cls(scope, phase, since, int(version), escape_text(reason),
                   escape_text(checked.actor) if checked else "",
                   escape_text(checked.trigger) if checked else "", next_phase, next_trigger,
                   expected_end, phase_statuses(policy, phase), windows, auction)

    @property
    def venue_wide(self) -> bool:
        """Whether this is the venue's scope (else an instrument's)."""
        return self.scope == VENUE

    @property
    def _text(self) -> str:
        return self.reason or f"{self.phase} since {_utc(self.since).isoformat()}"

    def to_dict(self) -> dict[str, Any]:
        """This document as plain JSON values."""
        statuses = attrs.asdict(self.statuses)
        statuses["coinbase"] = sorted(self.statuses.coinbase)
        return {"scope": self.scope, "phase": self.phase, "since": self.since,
                "version": self.version, "reason": self.reason, "actor": self.actor,
                "trigger": self.trigger, "next_phase": self.next_phase,
                "next_trigger": self.next_trigger, "expected_end": self.expected_end,
                "statuses": statuses, **self._maintenance_dict(), **self._auction_dict()}

    def _auction_dict(self) -> dict[str, Any]:
        # Only with a call: documents without one keep their published shape.
        a = self.auction
        if a is None:
            return {}
        quote = a.indicative
        return {"auction": {
            "state": a.state.value, "phase": a.phase, "started_at": a.started_at,
            "ends_at": a.ends_at, "cutoff_at": a.cutoff_at, "extensions": a.extensions,
            "max_extensions": a.max_extensions, "reference": str(a.reference),
            "collar": [a.collar_low, a.collar_high],
            "indicative_price": None if quote is None else str(quote.price),
            "indicative_volume": None if quote is None else str(quote.volume),
            "can_open": a.can_open,
            "open_price": None if a.open_price is None else str(a.open_price),
            "open_size": None if a.open_size is None else str(a.open_size),
            "override": a.override}}

    def _maintenance_dict(self) -> dict[str, Any]:
        # Only when there is any: documents without windows keep their published shape.
        if not self.maintenance:
            return {}
        return {"maintenance": [
            {"id": w.window.id, "state": w.state.value, "begin": w.window.begin,
             "end": w.window.end, "pre_open_begin": w.window.pre_open_begin,
             "reason": escape_text(w.window.reason)} for w in self.maintenance]}

    def to_okx_maintenance(self) -> list[dict[str, str]]:
        """OKX's system status events (``GET /api/v5/system/status``), one per maintenance
        window of this scope: ``state`` scheduled / ongoing / pre_open / completed / canceled,
        ``begin``, ``end`` and ``preOpenBegin`` in Unix ms.

        Example:
            >>> from exchange_recovery import default_policy, MaintenanceWindow, WindowStatus
            >>> from exchange_recovery import WindowState
            >>> w = WindowStatus(MaintenanceWindow("w1", 1000, 2000, 1800, reason="upgrade"),
            ...                  WindowState.SCHEDULED, ())
            >>> doc = ScopeStatus.of(default_policy(), "venue", "NORMAL", 0.0, 0, maintenance=[w])
            >>> event = doc.to_okx_maintenance()[0]
            >>> event["state"], event["begin"], event["preOpenBegin"], event["end"]
            ('scheduled', '1000000', '1800000', '2000000')
        """
        return [{"title": escape_text(w.window.reason) or f"maintenance {escape_text(w.window.id)}",
                 "state": w.state.value, "begin": _ms(w.window.begin), "end": _ms(w.window.end),
                 "preOpenBegin": _ms(w.window.pre_open_begin), "href": "",
                 "serviceType": "5", "system": "unified",
                 "scheDesc": escape_text(w.window.id)} for w in self.maintenance]

    def to_okx(self) -> dict[str, str]:
        """OKX's fields: a system status event for the venue (``GET /api/v5/system/status``),
        an instrument's ``instId`` and ``state`` for an instrument (times in Unix ms)."""
        if not self.venue_wide:
            return {"instId": self.scope, "state": self.statuses.okx_instrument_state}
        pre_open = self.statuses.okx_system_state == "pre_open"
        return {"title": self._text, "state": self.statuses.okx_system_state,
                "begin": _ms(self.since), "end": _ms(self.expected_end),
                "preOpenBegin": _ms(self.since) if pre_open else "", "href": "",
                "serviceType": "5", "system": "unified", "scheDesc": ""}

    def to_kraken(self) -> dict[str, str]:
        """Kraken's fields: the system status (``status``, ``timestamp``) for the venue, an
        asset pair's ``altname`` and ``status`` for an instrument."""
        if not self.venue_wide:
            return {"altname": self.scope, "status": self.statuses.kraken_pair_status}
        return {"status": self.statuses.kraken_system_status,
                "timestamp": _utc(self.since).strftime("%Y-%m-%dT%H:%M:%SZ")}

    def to_coinbase(self) -> dict[str, object]:
        """Coinbase Exchange product fields: ``id``, ``status``, ``status_message`` and the
        trading flags; with an auction call, the product book's ``auction`` info
        (``open_price`` and ``open_size``: the indicative open during the call, the uncross
        after it; ``auction_state``; ``can_open`` "yes" or "no")."""
        flags: dict[str, object] = {name: name in self.statuses.coinbase
                                    for name in COINBASE_FLAGS}
        out = {"id": self.scope, "status": "online", "status_message": self.reason, **flags}
        a = self.auction
        if a is not None:  # the product book's auction info: the (indicative) open, as text
            quote = a.indicative
            price = a.open_price if a.open_price is not None else (quote and quote.price)
            size = a.open_size if a.open_size is not None else (quote and quote.volume)
            out["auction"] = {"open_price": "" if price is None else str(price),
                              "open_size": "" if size is None else str(size),
                              "auction_state": a.state.value.lower(),
                              "can_open": "yes" if a.can_open else "no"}
        return out

    def to_fix(self) -> dict[str, str]:
        """FIX fields by tag: TradingSessionStatus (35=h: 336, 340, 341, 58) for the venue,
        SecurityStatus (35=f: 55, 326, 60, 58) for an instrument; times as UTCTimestamp."""
        when = _utc(self.since).strftime("%Y%m%d-%H:%M:%S.") + f"{_utc(self.since).microsecond // 1000:03d}"
        if self.venue_wide:
            return {"35": "h", "336": self.scope,
                    "340": str(self.statuses.fix_trading_session_status), "341": when,
                    "58": self._text}
        return {"35": "f", "55": self.scope,
                "326": str(self.statuses.fix_security_trading_status), "60": when,
                "58": self._text}
