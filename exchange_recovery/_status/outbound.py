"""What each venue and protocol would call a phase, derived from the phase's data.

A phase is first classified by what it lets a client do and whether the book matches (its
*kind*, `classify`), never by its name, so any policy's phases get statuses. Each vocabulary's
value for a kind is the one whose documented meaning fits; where a vocabulary has no exact
value, the one that promises *less* than the phase allows (never more).

Where the values come from (each looked up, none guessed):

- FIX SecurityTradingStatus (326) and TradSesStatus (340): the FIX Latest code sets, e.g.
  https://library.tradingtechnologies.com/tt-fix/gateway/Msg_SecurityStatus_f.html and
  https://app.unpkg.com/fixparser@9.0.3/files/types/fieldtypes/TradSesStatus.d.ts
- nautilus_trader ``MarketStatusAction``:
  https://nautilustrader.io/docs/core-latest/nautilus_model/enums/enum.MarketStatusAction.html
- OKX instrument ``state``: https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments;
  OKX system status ``state``: https://www.okx.com/docs-v5/en/#status-get-status
- Kraken system status: https://docs.kraken.com/api/docs/rest-api/get-system-status/ and
  https://docs.kraken.com/exchange/api-reference/spot-websocket-v1/systemstatus; pair status:
  https://docs.kraken.com/api-reference/market-data/get-tradable-asset-pairs and FIX
  AssetPairStatus (5032) https://docs.kraken.com/api/docs/fix-api/sl-fix (``maintenance``)
- Coinbase Exchange product flags:
  https://docs.cdp.coinbase.com/api-reference/exchange-api/rest-api/products/get-all-known-trading-pairs
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

from .._core.model import Action, OrderType, Origin
from .._core.phases import PhaseSpec
from .._core.policy import Policy
from .paths import checked_policy, phase_name


class Kind(enum.Enum):
    """What a phase lets clients do, in the terms venues publish."""

    HALT = "halt"
    """No new orders and no cancels."""
    CANCEL_ONLY = "cancel_only"
    """Cancels, no new orders."""
    PRE_OPEN = "pre_open"
    """New post-only orders rest; the book does not match."""
    AUCTION = "auction"
    """New orders (not only post-only) rest; the book does not match (a call auction)."""
    POST_ONLY = "post_only"
    """The book matches, but new orders must be post-only."""
    REDUCE_ONLY = "reduce_only"
    """The book matches, but new orders must be reduce-only."""
    LIMIT_ONLY = "limit_only"
    """The book matches, but no market orders."""
    TRADING = "trading"
    """The book matches and market orders are accepted."""


@attrs.frozen
class Profile:
    """The facts about a phase that statuses depend on (client order entry and matching)."""

    matching: bool
    new_orders: bool
    cancels: bool
    post_only: bool
    reduce_only: bool
    market: bool

    @classmethod
    def of(cls, spec: PhaseSpec) -> Profile:
        """The profile of one phase, read from its acceptance rules and capabilities."""
        accepts = spec.accepts
        client = Origin.CLIENT in accepts.origins
        new = client and Action.NEW_ORDER in accepts.actions and bool(accepts.order_types) \
            and bool(accepts.time_in_force)
        return cls(matching=spec.matching, new_orders=new,
                   cancels=client and Action.CANCEL in accepts.actions,
                   post_only=accepts.post_only, reduce_only=accepts.reduce_only,
                   market=OrderType.MARKET in accepts.order_types)

    @property
    def kind(self) -> Kind:
        """The kind this profile is."""
        if not self.new_orders:
            return Kind.CANCEL_ONLY if self.cancels else Kind.HALT
        if not self.matching:
            return Kind.PRE_OPEN if self.post_only else Kind.AUCTION
        if self.post_only:
            return Kind.POST_ONLY
        if self.reduce_only:
            return Kind.REDUCE_ONLY
        return Kind.TRADING if self.market else Kind.LIMIT_ONLY


# kind -> (FIX 326, FIX 340, MarketStatusAction, OKX instrument state, OKX system state,
#          Kraken system status, Kraken pair status)
_TABLE: Final[dict[Kind, tuple[int, int, str, str, str, str, str]]] = {
    Kind.HALT: (2, 1, "HALT", "suspend", "ongoing", "maintenance", "maintenance"),
    Kind.CANCEL_ONLY: (2, 1, "HALT", "suspend", "ongoing", "cancel_only", "cancel_only"),
    Kind.PRE_OPEN: (21, 4, "PRE_OPEN", "post_only", "pre_open", "post_only", "post_only"),
    Kind.AUCTION: (21, 4, "CROSS", "preopen", "pre_open", "post_only", "post_only"),
    Kind.POST_ONLY: (17, 2, "TRADING", "post_only", "completed", "post_only", "post_only"),
    Kind.REDUCE_ONLY: (17, 2, "TRADING", "live", "completed", "post_only", "reduce_only"),
    Kind.LIMIT_ONLY: (17, 2, "TRADING", "live", "completed", "post_only", "limit_only"),
    Kind.TRADING: (17, 2, "TRADING", "live", "completed", "online", "online"),
}

COINBASE_FLAGS: Final = ("trading_disabled", "cancel_only", "post_only", "limit_only",
                         "auction_mode")
"""The Coinbase Exchange product flags a phase sets (``status`` stays ``online``)."""


def coinbase_flags(profile: Profile) -> frozenset[str]:
    """The Coinbase product flags that are true for a phase of this profile."""
    flags = {
        "trading_disabled": not profile.new_orders and not profile.cancels,
        "cancel_only": not profile.new_orders and profile.cancels,
        "post_only": profile.new_orders and profile.post_only,
        "auction_mode": profile.new_orders and not profile.matching and not profile.post_only,
        "limit_only": profile.new_orders and profile.matching and not profile.market
        and not profile.post_only,
    }
    return frozenset(name for name, on in flags.items() if on)


@attrs.frozen
class PhaseStatuses:
    """What each venue and protocol would publish for one phase (see `phase_statuses`).

    `kind` is what the phase lets clients do (``halt``, ``cancel_only``, ``pre_open``,
    ``auction``, ``post_only``, ``reduce_only``, ``limit_only``, ``trading``); the other fields
    are that kind in each vocabulary. `coinbase` holds the product flags that are true.
    """

    phase: str
    kind: str
    fix_security_trading_status: int
    fix_trading_session_status: int
    market_status_action: str
    okx_instrument_state: str
    okx_system_state: str
    kraken_system_status: str
    kraken_pair_status: str
    coinbase: frozenset[str]


def phase_statuses(policy: Policy, phase: str) -> PhaseStatuses:
    """The statuses venues and protocols would publish for `phase` of `policy`.

    Derived from the phase's data (what clients may send, whether the book matches), never
    from its name, so they work for any policy. Where a vocabulary has no exact value, the one
    that promises less than the phase allows.

    Raises:
        ConfigurationError: `policy` is no `Policy`, or `phase` is no phase of it.

    Example:
        >>> from exchange_recovery import default_policy
        >>> s = phase_statuses(default_policy(), "PRE_OPEN")
        >>> s.fix_security_trading_status, s.market_status_action, s.okx_system_state
        (21, 'PRE_OPEN', 'pre_open')
        >>> sorted(phase_statuses(default_policy(), "HALTED").coinbase)
        ['trading_disabled']
    """
    policy = checked_policy(policy)
    name = phase_name(policy, phase, "phase")
    profile = Profile.of(policy.phase(name))
    kind = profile.kind
    fix326, fix340, action, okx_inst, okx_sys, kraken_sys, kraken_pair = _TABLE[kind]
    return PhaseStatuses(name, kind.value, fix326, fix340, action, okx_inst, okx_sys,
                         kraken_sys, kraken_pair, coinbase_flags(profile))
