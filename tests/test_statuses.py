"""Statuses in and out: paths through a policy, venue statuses, inbound mapping, documents.

Golden documents live in tests/golden/statuses/; ``REGEN_GOLDEN=1`` rewrites them (review
the diff: each value must still be the one the venue documents).
"""

from __future__ import annotations

import json
import os
import pathlib
import re
from typing import Any, Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange_recovery import (
    VENUE,
    ConfigurationError,
    Controller,
    GuardSpec,
    Policy,
    ScopeStatus,
    TransitionRecord,
    default_policy,
    default_restart_plan,
    find_path,
    map_status,
    phase_statuses,
)
from exchange_recovery._status.inbound import VOCABULARIES
from exchange_recovery.testing import valid_policies

ROOT: Final = pathlib.Path(__file__).parent.parent
GOLDEN: Final = pathlib.Path(__file__).parent / "golden" / "statuses"
POLICY: Final = default_policy()
SINCE: Final = 1671350400.0  # 2022-12-18T08:00:00Z
BTC: Final = "BTC-USDT-SWAP"

# Field names each venue documents, copied from its documentation.
OKX_SYSTEM_FIELDS: Final = frozenset({  # https://www.okx.com/docs-v5/en/#status-get-status
    "title", "state", "begin", "end", "preOpenBegin", "href", "serviceType", "system",
    "scheDesc", "maintType", "env"})
OKX_INSTRUMENT_FIELDS: Final = frozenset({  # https://www.okx.com/docs-v5/en/#public-data-rest-api-get-instruments
    "instType", "instId", "uly", "instFamily", "baseCcy", "quoteCcy", "settleCcy", "ctVal",
    "ctMult", "ctValCcy", "optType", "stk", "listTime", "expTime", "lever", "tickSz", "lotSz",
    "minSz", "ctType", "state", "ruleType", "maxLmtSz", "maxMktSz", "maxLmtAmt", "maxMktAmt"})
KRAKEN_SYSTEM_FIELDS: Final = frozenset({  # https://docs.kraken.com/api/docs/rest-api/get-system-status/
    "status", "timestamp", "upcoming_maintenance", "emergency"})
KRAKEN_PAIR_FIELDS: Final = frozenset({  # https://docs.kraken.com/api-reference/market-data/get-tradable-asset-pairs
    "altname", "wsname", "aclass_base", "base", "aclass_quote", "quote", "pair_decimals",
    "lot_decimals", "lot_multiplier", "leverage_buy", "leverage_sell", "fees", "fees_maker",
    "fee_volume_currency", "margin_call", "margin_stop", "ordermin", "costmin", "tick_size",
    "status"})
COINBASE_PRODUCT_FIELDS: Final = frozenset({
    # https://docs.cdp.coinbase.com/api-reference/exchange-api/rest-api/products/get-all-known-trading-pairs
    "id", "base_currency", "quote_currency", "quote_increment", "base_increment",
    "display_name", "min_market_funds", "margin_enabled", "post_only", "limit_only",
    "cancel_only", "status", "status_message", "trading_disabled", "fx_stablecoin",
    "max_slippage_percentage", "auction_mode", "high_bid_limit_percentage"})
FIX_SECURITY_STATUS_TAGS: Final = {  # SecurityStatus (35=f), FIX 4.4
    # https://library.tradingtechnologies.com/tt-fix/gateway/Msg_SecurityStatus_f.html
    "35": "MsgType", "324": "SecurityStatusReqID", "55": "Symbol", "336": "TradingSessionID",
    "325": "UnsolicitedIndicator", "326": "SecurityTradingStatus", "327": "HaltReasonChar",
    "60": "TransactTime", "58": "Text"}
FIX_SESSION_STATUS_TAGS: Final = {  # TradingSessionStatus (35=h), FIX 4.4
    # https://docs.kraken.com/exchange/api-reference/unified-fix/tss
    "35": "MsgType", "335": "TradSesReqID", "336": "TradingSessionID", "340": "TradSesStatus",
    "341": "TradSesStartTime", "342": "TradSesOpenTime", "58": "Text"}


def _documents(phase: str) -> dict[str, Any]:
    venue = ScopeStatus.of(POLICY, VENUE, phase, SINCE, 7, reason="cloud zone down")
    instrument = ScopeStatus.of(POLICY, BTC, phase, SINCE, 7, reason="cloud zone down")
    return {scope.scope: {"okx": scope.to_okx(), "kraken": scope.to_kraken(),
                          "coinbase": scope.to_coinbase(), "fix": scope.to_fix(),
                          "document": scope.to_dict()} for scope in (venue, instrument)}


# -- golden documents -----------------------------------------------------------------------


@pytest.mark.parametrize("phase", POLICY.phase_names)
def test_each_venue_rendering_of_a_default_phase_matches_its_golden_document(phase: str) -> None:
    """Every rendering of every default phase, for the venue and an instrument, is as checked in."""
    path = GOLDEN / f"{phase}.json"
    rendered = _documents(phase)
    if os.environ.get("REGEN_GOLDEN") == "1":
        GOLDEN.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(rendered, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    assert rendered == json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("phase", POLICY.phase_names)
def test_every_key_of_a_rendering_is_a_field_the_venue_documents(phase: str) -> None:
    """No rendering invents a field name: each key is in the venue's documented list."""
    docs = _documents(phase)
    assert set(docs[VENUE]["okx"]) <= OKX_SYSTEM_FIELDS
    assert set(docs[BTC]["okx"]) <= OKX_INSTRUMENT_FIELDS
    assert set(docs[VENUE]["kraken"]) <= KRAKEN_SYSTEM_FIELDS
    assert set(docs[BTC]["kraken"]) <= KRAKEN_PAIR_FIELDS
    for scope in (VENUE, BTC):
        assert set(docs[scope]["coinbase"]) <= COINBASE_PRODUCT_FIELDS
    assert set(docs[VENUE]["fix"]) <= set(FIX_SESSION_STATUS_TAGS)
    assert set(docs[BTC]["fix"]) <= set(FIX_SECURITY_STATUS_TAGS)


def test_a_halt_maps_to_fix_326_trading_halt_and_340_halted() -> None:
    """HALTED is SecurityTradingStatus 2 and TradSesStatus 1."""
    doc = ScopeStatus.of(POLICY, BTC, "HALTED", SINCE, 1)
    assert doc.to_fix()["326"] == "2"
    assert ScopeStatus.of(POLICY, VENUE, "HALTED", SINCE, 1).to_fix()["340"] == "1"


def test_pre_open_is_okx_pre_open_from_its_start() -> None:
    """The venue's pre-open is OKX system state pre_open with preOpenBegin at its start (ms)."""
    okx = ScopeStatus.of(POLICY, VENUE, "PRE_OPEN", SINCE, 3).to_okx()
    assert (okx["state"], okx["preOpenBegin"], okx["begin"]) == (
        "pre_open", "1671350400000", "1671350400000")


def test_statuses_follow_the_data_not_the_name() -> None:
    """A phase renamed keeps its statuses; a phase that accepts nothing is a halt whatever its name."""
    renamed = POLICY.with_changes(
        phases=[p if p.name != "PRE_OPEN" else type(p)("AUCTION_CALL", p.accepts, p.matching)
                for p in POLICY.phases],
        transitions=[type(t)(t.trigger, *(("AUCTION_CALL" if n == "PRE_OPEN" else n)
                                          for n in (t.source, t.dest)), t.guards)
                     for t in POLICY.transitions])
    assert phase_statuses(renamed, "AUCTION_CALL").market_status_action == "PRE_OPEN"


def test_a_dwell_guard_gives_the_expected_end_and_a_record_gives_the_reason() -> None:
    """In the restart policy's pre-open the next step waits 10 minutes; the record says why."""
    policy = default_restart_plan().policy
    record = TransitionRecord(4, VENUE, "HALTED", "PRE_OPEN", "pre_open", "ops:alice",
                              "zone restored", SINCE, True)
    doc = ScopeStatus.of(policy, VENUE, "PRE_OPEN", SINCE, 4, record=record)
    assert (doc.next_phase, doc.next_trigger) == ("FULL_OPEN", "open")
    assert doc.expected_end == SINCE + 600
    assert doc.to_okx()["end"] == str(round((SINCE + 600) * 1000))
    assert (doc.reason, doc.actor, doc.trigger) == ("zone restored", "ops:alice", "pre_open")


def test_a_record_of_another_scope_is_refused() -> None:
    """A record must be the one that moved this scope into this phase."""
    record = TransitionRecord(1, "ETH", "NORMAL", "HALTED", "halt", "a", "r", SINCE, False)
    with pytest.raises(ConfigurationError, match="not 'venue' to 'HALTED'"):
        ScopeStatus.of(POLICY, VENUE, "HALTED", SINCE, 1, record=record)


def test_hostile_text_in_a_reason_stays_on_one_line() -> None:
    """A reason with control characters is escaped in every rendering."""
    doc = ScopeStatus.of(POLICY, VENUE, "HALTED", SINCE, 1, reason="x\n\x01\x1b[2J")
    assert all(ch.isprintable() for ch in doc.to_fix()["58"] + doc.to_okx()["title"])


# -- the docs table -------------------------------------------------------------------------


def status_table(policy: Policy) -> str:
    """The table docs/statuses.md shows: each phase in each vocabulary."""
    rows = [("| phase | kind | FIX 326 | FIX 340 | MarketStatusAction | OKX instrument `state` "
             "| OKX system `state` | Kraken system `status` | Kraken pair `status` | "
             "Coinbase flags |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for name in policy.phase_names:
        s = phase_statuses(policy, name)
        flags = ", ".join(f"`{f}`" for f in sorted(s.coinbase)) or "none"
        rows.append(f"| `{name}` | {s.kind} | {s.fix_security_trading_status} | "
                    f"{s.fix_trading_session_status} | `{s.market_status_action}` | "
                    f"`{s.okx_instrument_state}` | `{s.okx_system_state}` | "
                    f"`{s.kraken_system_status}` | `{s.kraken_pair_status}` | {flags} |")
    return "\n".join(rows) + "\n"


def test_the_docs_table_shows_what_the_code_publishes() -> None:
    """docs/statuses.md's table equals the default policy's statuses."""
    text = (ROOT / "docs" / "statuses.md").read_text(encoding="utf-8")
    match = re.search(r"<!-- BEGIN STATUS TABLE -->\n(.*?)<!-- END STATUS TABLE -->", text,
                      re.DOTALL)
    assert match is not None
    assert match.group(1) == status_table(POLICY)


# -- the path finder ------------------------------------------------------------------------


def test_halted_to_full_open_is_pre_open_then_open() -> None:
    """The path from the halt to full open goes through the pre-open."""
    assert find_path(POLICY, "HALTED", "FULL_OPEN").describe() == (
        "from HALTED to FULL_OPEN: pre_open, open")


def test_a_path_lists_each_steps_guards() -> None:
    """Declared guards come as their GuardSpec, so the caller sees what they require."""
    policy = default_restart_plan().policy
    step = find_path(policy, "PRE_OPEN", "FULL_OPEN").steps[0]
    assert any(isinstance(g, GuardSpec) and g.kind == "dwell" for g in step.guards)


def test_no_path_and_unknown_phases_are_library_errors_naming_the_phases() -> None:
    """Unknown phases list the known ones; an unreachable phase names both ends."""
    with pytest.raises(ConfigurationError, match="NORMAL, DEGRADED"):
        find_path(POLICY, "NOPE\n", "NORMAL")
    with pytest.raises(ConfigurationError, match="policy must be a Policy"):
        find_path("policy", "HALTED", "NORMAL")  # type: ignore[arg-type]


def test_equal_paths_are_broken_by_definition_order() -> None:
    """Of two shortest paths, the one defined first is chosen, every time."""
    first = find_path(POLICY, "FULL_OPEN", "NORMAL")
    assert first.triggers == ("normalize",)
    assert find_path(POLICY, "DEGRADED", "FULL_OPEN").triggers == ("halt", "pre_open", "open")


# -- inbound ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("vocabulary", "value", "source", "triggers"), [
    ("market_status_action", "PRE_OPEN", "NORMAL", ("halt", "pre_open")),
    ("market_status_action", "TRADING", "HALTED", ("pre_open", "open")),
    ("market_status_action", "HALT", "FULL_OPEN", ("halt",)),
    ("fix_326", 2, "DEGRADED", ("halt",)),
    ("fix_326", "21", "HALTED", ("pre_open",)),
    ("fix_340", 2, "PRE_OPEN", ("open",)),
    ("okx_system", "completed", "DEGRADED", ("recover",)),
    ("okx_instrument", "suspend", "NORMAL", ("halt",)),
    ("kraken", "limit_only", "NORMAL", ("degrade",)),
    ("kraken", "post_only", "HALTED", ("pre_open",)),
    ("coinbase", {"status": "online", "post_only": True}, "HALTED", ("pre_open",)),
    ("coinbase", {"status": "delisted"}, "NORMAL", ("halt",)),
])
def test_an_inbound_status_maps_to_the_nearest_phase_of_its_kind(
        vocabulary: str, value: object, source: str, triggers: tuple[str, ...]) -> None:
    """Each vocabulary's value gives the path to the nearest phase that does what it says."""
    assert map_status(POLICY, source, vocabulary, value).triggers == triggers


def test_a_status_the_policy_cannot_honour_falls_back_to_the_fail_safe() -> None:
    """The default policy has no reduce-only phase: a reduce_only status halts, and says so."""
    mapping = map_status(POLICY, "NORMAL", "kraken", "reduce_only")
    assert (mapping.target, mapping.exact) == ("HALTED", False)


def test_an_informational_status_changes_nothing() -> None:
    """A price indication names no trading state: no target, no path."""
    mapping = map_status(POLICY, "NORMAL", "fix_326", 5)
    assert (mapping.kind, mapping.target, mapping.triggers) == (None, None, ())


@pytest.mark.parametrize(("vocabulary", "value"), [
    ("fix_326", 11), ("fix_326", True), ("fix_326", "2\n"), ("fix_326", 10**400),
    ("fix_340", -1), ("market_status_action", "halt"), ("market_status_action", "X" * 10_000),
    ("okx_system", None), ("kraken", ["online"]), ("coinbase", "online"),
    ("coinbase", {"status": "online", "post_only": "yes"}), ("nope", "HALT"), (["fix"], 2),
])
def test_a_hostile_inbound_value_is_a_library_error_with_its_text_bounded(
        vocabulary: object, value: object) -> None:
    """Unknown vocabularies and values raise ConfigurationError with a short one-line message."""
    with pytest.raises(ConfigurationError) as caught:
        map_status(POLICY, "NORMAL", vocabulary, value)  # type: ignore[arg-type]
    message = str(caught.value)
    assert len(message) < 600
    assert message.isprintable()


@given(policy=valid_policies(), data=st.data())
def test_every_inbound_target_comes_with_a_chain_of_real_transitions(
        policy: Policy, data: st.DataObject) -> None:
    """For any valid policy, a mapped status's path is real transitions chaining source to target."""
    source = data.draw(st.sampled_from(policy.phase_names))
    vocabulary = data.draw(st.sampled_from([v for v in VOCABULARIES if v != "coinbase"]))
    tables = {"fix_326": [2, 3, 17, 21, 25], "fix_340": [1, 2, 4],
              "market_status_action": ["HALT", "PRE_OPEN", "CROSS", "TRADING"],
              "okx_instrument": ["live", "suspend", "post_only", "preopen"],
              "okx_system": ["ongoing", "pre_open", "completed"],
              "kraken": ["online", "maintenance", "cancel_only", "post_only", "limit_only",
                         "reduce_only"]}
    mapping = map_status(policy, source, vocabulary, data.draw(st.sampled_from(tables[vocabulary])))
    assert mapping.path is not None
    assert mapping.target is not None
    here = source
    for step in mapping.path.steps:
        spec = policy.transition(here, step.trigger)
        assert spec is not None
        assert (spec.source, spec.dest) == (step.source, step.dest)
        here = spec.dest
    assert here == mapping.target
    if mapping.kind == "halt":
        assert mapping.target == policy.fail_safe


def test_a_controllers_scopes_have_status_documents_with_the_venues_reason() -> None:
    controller = Controller(default_policy(), clock=lambda: 1_671_350_400.0)
    controller.halt(actor="ops:alice", reason="zone down")
    controller.pre_open(actor="ops:alice", reason="zone back")
    controller.halt(actor="ops:bob", reason="bad feed", scope="ETH-USDT")

    venue = ScopeStatus.of_controller(controller)
    instrument = ScopeStatus.of_controller(controller, "ETH-USDT")

    assert (venue.phase, venue.reason, venue.actor, venue.next_phase) == (
        "PRE_OPEN", "zone back", "ops:alice", "FULL_OPEN")
    assert (instrument.phase, instrument.reason, instrument.next_phase) == (
        "HALTED", "", "PRE_OPEN")
    with pytest.raises(ConfigurationError):
        ScopeStatus.of_controller("controller")  # type: ignore[arg-type]


def test_a_call_auction_shows_its_indicative_open_then_its_uncross_in_the_documents() -> None:
    """Coinbase's product book carries the auction: the indicative open price and size during
    the call and whether it can open; after the uncross, the open itself."""
    from exchange_recovery import (  # noqa: PLC0415 - only this test needs them
        Approvals,
        AuctionRunner,
        HealthChecks,
        MemoryJournal,
        policy_guards,
        reopening_policy,
    )
    from exchange_recovery.testing import AuctionBook, ManualClock, Side  # noqa: PLC0415

    policy, clock = reopening_policy(), ManualClock()
    guards = policy_guards(policy, health=HealthChecks(), approvals=Approvals(policy))
    controller = Controller(policy, guards=guards, clock=clock, journal=MemoryJournal(),
                            phases={VENUE: "AUCTION"})
    book = AuctionBook(reference=100)
    book.submit(VENUE, Side.BUY, 102, 3)
    book.submit(VENUE, Side.SELL, 101, 2)
    runner = AuctionRunner(controller, book, reference=100, seed=7, actor="auction:timer")
    call = runner.poll()

    during = ScopeStatus.of_controller(controller, VENUE, auction=runner)

    coinbase = during.to_coinbase()
    assert coinbase["auction_mode"] is True
    assert coinbase["auction"] == {"open_price": str(call.indicative.price),  # type: ignore[union-attr]
                                   "open_size": "2", "auction_state": "calling",
                                   "can_open": "yes"}
    assert during.to_dict()["auction"]["state"] == "CALLING"
    assert call.ends_at is not None
    clock.now = call.ends_at
    runner.poll()

    after = ScopeStatus.of_controller(controller, VENUE, auction=runner).to_coinbase()

    assert after["auction_mode"] is False  # FULL_OPEN: continuous trading
    assert after["auction"]["auction_state"] == "uncrossed"  # type: ignore[index]
    assert ScopeStatus.of_controller(controller).to_dict().get("auction") is None
    with pytest.raises(ConfigurationError, match="auction"):
        ScopeStatus.of_controller(controller, "BTC-USDT", auction=runner)
