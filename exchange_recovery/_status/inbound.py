"""Statuses coming in: a venue's or protocol's status value -> a target phase and its path.

Each vocabulary value names a *kind* (`Kind`): halt, cancel-only, pre-open, auction,
limit-only, reduce-only or trading, or nothing at all (an informational value such as a new
price indication). The target is the phase of that kind the scope reaches in the fewest
transitions from where it is (a halt is always the policy's fail-safe phase); when the policy
has no such phase, the fail-safe phase, flagged as not exact. The values and their meanings
are those documented at the URLs in `exchange_recovery._status.outbound`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import attrs

from .._core.errors import ConfigurationError
from .._core.policy import Policy
from .._core.text import shown
from .outbound import Kind, Profile
from .paths import PathStep, TriggerPath, checked_policy, distances, phase_name

_FIX_326: Final[dict[int, Kind | None]] = {
    **dict.fromkeys((1, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 19, 20, 22, 23), None),
    2: Kind.HALT, 3: Kind.TRADING, 4: Kind.HALT, 17: Kind.TRADING, 18: Kind.HALT,
    21: Kind.PRE_OPEN, 24: Kind.PRE_OPEN, 25: Kind.AUCTION, 26: Kind.HALT,
}
"""FIX SecurityTradingStatus (326): 1 opening delay, 2 trading halt, 3 resume, 4 no open / no
resume, 5 price indication, ..., 17 ready to trade, 18 not available for trading, 19 not traded
on this market, 20 unknown or invalid, 21 pre-open, 22 opening rotation, 23 fast market,
24 pre-cross, 25 cross, 26 post-close."""

_FIX_340: Final[dict[int, Kind | None]] = {
    0: None, 1: Kind.HALT, 2: Kind.TRADING, 3: Kind.HALT, 4: Kind.PRE_OPEN, 5: None, 6: None,
}
"""FIX TradSesStatus (340): 0 unknown, 1 halted, 2 open, 3 closed, 4 pre-open, 5 pre-close,
6 request rejected."""

_NAUTILUS: Final[dict[str, Kind | None]] = {
    "NONE": None, "PRE_OPEN": Kind.PRE_OPEN, "PRE_CROSS": Kind.PRE_OPEN,
    "QUOTING": Kind.PRE_OPEN, "CROSS": Kind.AUCTION, "ROTATION": Kind.AUCTION,
    "NEW_PRICE_INDICATION": None, "TRADING": Kind.TRADING, "HALT": Kind.HALT,
    "PAUSE": Kind.HALT, "SUSPEND": Kind.HALT, "PRE_CLOSE": None, "CLOSE": Kind.HALT,
    "POST_CLOSE": Kind.HALT, "SHORT_SELL_RESTRICTION_CHANGE": None,
    "NOT_AVAILABLE_FOR_TRADING": Kind.HALT,
}
"""nautilus_trader ``MarketStatusAction`` member names."""

_OKX_INSTRUMENT: Final[dict[str, Kind | None]] = {
    "live": Kind.TRADING, "suspend": Kind.HALT, "rebase": Kind.HALT,
    "post_only": Kind.PRE_OPEN, "preopen": Kind.AUCTION, "test": Kind.HALT, "settling": None,
}
_OKX_SYSTEM: Final[dict[str, Kind | None]] = {
    "scheduled": None, "ongoing": Kind.HALT, "pre_open": Kind.PRE_OPEN,
    "completed": Kind.TRADING, "canceled": None,
}
_KRAKEN: Final[dict[str, Kind | None]] = {
    "online": Kind.TRADING, "maintenance": Kind.HALT, "cancel_only": Kind.CANCEL_ONLY,
    "post_only": Kind.PRE_OPEN, "limit_only": Kind.LIMIT_ONLY, "reduce_only": Kind.REDUCE_ONLY,
}
_COINBASE_STATUS: Final = ("online", "offline", "internal", "delisted")
_COINBASE_FLAGS: Final = (("trading_disabled", Kind.HALT), ("cancel_only", Kind.CANCEL_ONLY),
                          ("auction_mode", Kind.AUCTION), ("post_only", Kind.PRE_OPEN),
                          ("limit_only", Kind.LIMIT_ONLY))

VOCABULARIES: Final = ("fix_326", "fix_340", "market_status_action", "okx_instrument",
                       "okx_system", "kraken", "coinbase")
"""The vocabularies `map_status` reads."""

_TEXT_TABLES: Final[dict[str, dict[str, Kind | None]]] = {
    "market_status_action": _NAUTILUS, "okx_instrument": _OKX_INSTRUMENT,
    "okx_system": _OKX_SYSTEM, "kraken": _KRAKEN,
}
_PREFERS_POST_ONLY: Final = {Kind.PRE_OPEN: True, Kind.AUCTION: False}


@attrs.frozen
class StatusMapping:
    """An inbound status mapped onto a policy: the phase it names and the path there.

    `kind` is what the status says clients may do (None for a status that names no trading
    state, such as a price indication: then `target` and `path` are None and nothing is to be
    done). `exact` is False when the policy has no phase of that kind and the target is its
    fail-safe phase instead.
    """

    vocabulary: str
    value: str
    kind: str | None
    source: str
    target: str | None
    path: TriggerPath | None
    exact: bool = True

    @property
    def triggers(self) -> tuple[str, ...]:
        """The triggers to fire, in order (none when nothing is to be done)."""
        return () if self.path is None else self.path.triggers

    def describe(self) -> str:
        """The mapping in one line.

        Example:
            >>> from exchange_recovery import default_policy
            >>> map_status(default_policy(), "HALTED", "market_status_action", "TRADING").describe()
            'market_status_action TRADING (trading): from HALTED to FULL_OPEN: pre_open, open'
        """
        head = f"{self.vocabulary} {self.value} ({self.kind or 'no trading state'})"
        if self.path is None:
            return f"{head}: no phase change"
        tail = "" if self.exact else f" (the policy has no {self.kind} phase: its fail-safe)"
        return f"{head}: {self.path.describe()}{tail}"


def _code(vocabulary: str, value: object, table: Mapping[int, Kind | None]) -> tuple[str, Kind | None]:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = int(value) if value.bit_length() <= 16 else None
    elif isinstance(value, str) and 0 < len(value) <= 4:
        text = str.__str__(value)
        number = int(text) if text.isascii() and text.isdigit() else None
    if number is None or number not in table:
        msg = (f"{vocabulary}: unknown value {shown(value)}; expected one of "
               f"{', '.join(map(str, sorted(table)))}")
        raise ConfigurationError(msg)
    return str(number), table[number]


def _word(vocabulary: str, value: object, table: Mapping[str, Kind | None]) -> tuple[str, Kind | None]:
    text = str.__str__(value) if isinstance(value, str) and len(value) <= 64 else None
    if text is None or text not in table:
        msg = f"{vocabulary}: unknown value {shown(value)}; expected one of {', '.join(table)}"
        raise ConfigurationError(msg)
    return text, table[text]


def _coinbase(value: object) -> tuple[str, Kind | None]:
    """A Coinbase Exchange product (its ``status`` and flags) -> its kind."""
    if not isinstance(value, Mapping):
        msg = f"coinbase: expected a product mapping (status and flags), got {shown(value)}"
        raise ConfigurationError(msg)
    try:
        status = value.get("status", "online")
        flags = {name: value.get(name, False) for name, _ in _COINBASE_FLAGS}
    except Exception:  # a hostile mapping
        msg = f"coinbase: cannot read the product {shown(value)}"
        raise ConfigurationError(msg) from None
    if not (isinstance(status, str) and str.__str__(status) in _COINBASE_STATUS):
        msg = f"coinbase: unknown status {shown(status)}; expected one of {', '.join(_COINBASE_STATUS)}"
        raise ConfigurationError(msg)
    bad = [name for name, flag in flags.items() if not isinstance(flag, bool)]
    if bad:
        msg = f"coinbase: {', '.join(bad)} must be true or false, got {shown(flags[bad[0]])}"
        raise ConfigurationError(msg)
    status = str.__str__(status)
    if status != "online":
        return status, Kind.HALT
    for name, kind in _COINBASE_FLAGS:
        if flags[name]:
            return name, kind
    return status, Kind.TRADING


def _parse(vocabulary: object, value: object) -> tuple[str, str, Kind | None]:
    name = str.__str__(vocabulary) if isinstance(vocabulary, str) and len(vocabulary) <= 64 \
        else None
    if name not in VOCABULARIES:
        msg = f"unknown vocabulary {shown(vocabulary)}; expected one of {', '.join(VOCABULARIES)}"
        raise ConfigurationError(msg)
    if name == "fix_326":
        return (name, *_code(name, value, _FIX_326))
    if name == "fix_340":
        return (name, *_code(name, value, _FIX_340))
    if name == "coinbase":
        return (name, *_coinbase(value))
    return (name, *_word(name, value, _TEXT_TABLES[name]))


def _fits(kind: Kind, profile: Profile) -> bool:
    if kind is Kind.CANCEL_ONLY:
        return not profile.new_orders and profile.cancels
    if kind in (Kind.PRE_OPEN, Kind.AUCTION):
        return profile.new_orders and not profile.matching
    if kind is Kind.REDUCE_ONLY:
        return profile.new_orders and profile.matching and profile.reduce_only
    if kind is Kind.LIMIT_ONLY:
        return profile.new_orders and profile.matching and not profile.market \
            and not profile.post_only
    return profile.kind is Kind.TRADING  # TRADING; a halt is the fail-safe phase itself


def _target(policy: Policy, kind: Kind, reach: Mapping[str, tuple[PathStep, ...]]) -> str | None:
    """The phase of `kind` the scope reaches in the fewest transitions (then: the preferred
    one, the normal phase, the first defined), or None when there is none."""
    if kind is Kind.HALT:
        return policy.fail_safe
    best: tuple[int, int, int, int] | None = None
    chosen = None
    for index, spec in enumerate(policy.phases):
        steps = reach.get(spec.name)
        profile = Profile.of(spec)
        if steps is None or not _fits(kind, profile):
            continue
        prefers = _PREFERS_POST_ONLY.get(kind)
        rank = (len(steps), 0 if prefers is None or profile.post_only == prefers else 1,
                0 if spec.name == policy.normal else 1, index)
        if best is None or rank < best:
            best, chosen = rank, spec.name
    return chosen


def map_status(policy: Policy, current: str, vocabulary: str, value: object) -> StatusMapping:
    """Map a status received from a venue or protocol to a phase of `policy` and the path to it.

    `vocabulary` says what `value` is: ``fix_326`` (SecurityTradingStatus, an int or its
    digits), ``fix_340`` (TradSesStatus), ``market_status_action`` (a nautilus_trader
    ``MarketStatusAction`` member name, e.g. ``"HALT"``), ``okx_instrument`` / ``okx_system``
    (the ``state`` field), ``kraken`` (system or pair ``status``) or ``coinbase`` (a product
    mapping: ``status`` and the flags ``trading_disabled``, ``cancel_only``, ``post_only``,
    ``limit_only``, ``auction_mode``). A halt targets the fail-safe phase; any other kind the
    phase of that kind nearest to `current`. Inputs are untrusted: a bad one is a library error
    showing it escaped and bounded.

    Raises:
        ConfigurationError: `policy` is no `Policy`; `current` is no phase of it; `vocabulary`
            is none of `VOCABULARIES`; or `value` is no documented value of it.

    Example:
        >>> from exchange_recovery import default_policy
        >>> policy = default_policy()
        >>> map_status(policy, "NORMAL", "market_status_action", "PRE_OPEN").triggers
        ('halt', 'pre_open')
        >>> map_status(policy, "HALTED", "fix_326", 17).triggers
        ('pre_open', 'open')
        >>> map_status(policy, "DEGRADED", "kraken", "online").target
        'NORMAL'
    """
    policy = checked_policy(policy)
    source = phase_name(policy, current, "current")
    name, text, kind = _parse(vocabulary, value)
    if kind is None:
        return StatusMapping(name, text, None, source, None, None)
    reach = distances(policy, source)
    target = _target(policy, kind, reach)
    exact = target is not None
    if target is None:
        target = policy.fail_safe
    return StatusMapping(name, text, kind.value, source, target,
                         TriggerPath(source, target, reach[target]), exact)
