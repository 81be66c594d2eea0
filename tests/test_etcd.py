"""Coordination on a real, locked-down etcd: 3 gateway processes follow, this process operates.

etcd runs with TLS, ``--client-cert-auth`` and RBAC (tests/etcd_support.py): gateways connect as
the read-only ``gateway`` user, operators as ``operator``. It comes from ``ETCD_ENDPOINT`` and
``ETCD_CA``/``ETCD_*_CERT``/... (set by .ci/run, which starts one) or is started here from the
``etcd`` binary; tests that SIGKILL etcd always start their own. Under ``CI=true`` a missing etcd
fails these tests; locally they skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Iterator

import attrs
import pytest
from structlog.testing import capture_logs

try:
    import aetcd  # noqa: F401 - only whether the extra is installed
except ImportError:  # pragma: no cover - depends on the environment
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("NO AETCD: the etcd extra is not installed (pip install -e '.[etcd]')",
                allow_module_level=True)

from etcd_pki import generate
from etcd_support import EtcdServer, Gateway, Site, free_port, wait_for

from exchange_recovery import (
    ConfigurationError,
    CoordinatedController,
    CoordinatorError,
    Follower,
    GuardSpec,
    TransitionConflict,
    TransitionRecord,
    default_policy,
)
from exchange_recovery.etcd import EtcdCoordinator, encode

NEXT = {"NORMAL": "degrade", "DEGRADED": "halt", "HALTED": "pre_open", "PRE_OPEN": "open",
        "FULL_OPEN": "normalize"}
STALENESS = 1.5


def _need_etcd() -> None:
    if shutil.which("etcd") is None:
        reason = "NO ETCD: install etcd-server (apt-get install etcd-server) to run the etcd tests"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; under CI=true they must run")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """The shared locked-down etcd: the one .ci/run started, else one started for this module."""
    given = Site.from_env()
    if given is not None:
        yield given
        return
    _need_etcd()
    server = EtcdServer().start()
    yield server.site
    server.stop()


def _prefix(site: Site, name: str) -> str:
    """A fresh venue prefix on `site`, granted to the operator and gateway roles."""
    prefix = f"{name}-{uuid.uuid4().hex[:8]}/"
    site.grant(prefix)
    return prefix


@pytest.fixture
def own_etcd() -> Iterator[EtcdServer]:
    """An etcd of this test's own, to SIGKILL and restart."""
    _need_etcd()
    server = EtcdServer().start()
    yield server
    server.stop()


def _gateways(site: Site, prefix: str, n: int = 3) -> list[Gateway]:
    gws = [Gateway(site, prefix, f"gw-{i}", staleness=STALENESS) for i in range(1, n + 1)]
    for gw in gws:
        wait_for(lambda gw=gw: gw.status.get("stale") is False, what=f"{gw.name} following")
    return gws


@pytest.fixture(scope="module")
def venue(site: Site) -> Iterator[tuple[EtcdCoordinator, list[Gateway], str]]:
    """An operator's coordinator and 3 following gateway processes, on a fresh prefix."""
    prefix = _prefix(site, "venue")
    etcd = site.coordinator(prefix)
    gws = _gateways(site, prefix)
    yield etcd, gws, prefix
    for gw in gws:
        gw.stop()
    etcd.close()


def _ops(etcd: EtcdCoordinator) -> CoordinatedController:
    return CoordinatedController(default_policy(), etcd)


def _step(ops: CoordinatedController, n: int = 1) -> TransitionRecord:
    """Fire `n` transitions around the restart cycle; return the last record."""
    record = None
    for _ in range(n):
        phase = ops.state().phases.get("venue", "NORMAL")
        record = ops.fire(NEXT[phase], actor="ops:test", reason="cycle")
    assert record is not None
    return record


def _cycle(etcd: EtcdCoordinator, n: int) -> TransitionRecord:
    """Store `n` transitions around the cycle straight through `propose` (no per-step read)."""
    policy = default_policy()
    state = etcd.read()
    phase = state.phases.get("venue", "NORMAL")
    version = state.version_of("venue")
    record = None
    for _ in range(n):
        spec = policy.transition(phase, NEXT[phase])
        assert spec is not None
        proposal = TransitionRecord(0, "venue", phase, spec.dest, spec.trigger, "ops:bulk", "cycle",
                                    time.time(), policy.is_relaxing(phase, spec.dest))
        record = etcd.propose(proposal, version)
        phase, version = record.dest, record.version
    assert record is not None
    return record


def _all_at(gws: list[Gateway], phase: str, version: int) -> bool:
    return all(gw.at(phase, version) for gw in gws)


def _none_refused(gws: list[Gateway]) -> bool:
    return all(gw.status.get("refused") == 0 for gw in gws)


def test_halt_reaches_every_gateway_and_each_gate_rejects_new_orders(venue) -> None:
    """After halt(), every gateway process publishes HALTED at the halt's version and rejects."""
    etcd, gws, _ = venue
    ops = _ops(etcd)
    while ops.state().phases.get("venue", "NORMAL") != "NORMAL":
        _step(ops)
    wait_for(lambda: all(gw.status.get("accepts") for gw in gws), what="gateways accepting")

    record = ops.halt(actor="ops:alice", reason="zone down")

    assert record is not None
    wait_for(lambda: _all_at(gws, "HALTED", record.version), what="every gateway halted")
    assert not any(gw.status["accepts"] for gw in gws)
    assert _none_refused(gws)


def test_racing_operators_exactly_one_wins_and_loser_sees_winner(venue, site) -> None:
    """Two proposals from the same version: one is stored, the other raises with the winner."""
    _, gws, prefix = venue
    ops_a = _ops(site.coordinator(prefix))
    ops_b = _ops(site.coordinator(prefix))
    while ops_a.state().phases.get("venue", "NORMAL") != "NORMAL":
        _step(ops_a)
    decided_on = ops_a.state()
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def race(name: str, ops: CoordinatedController, trigger: str) -> None:
        barrier.wait()
        try:
            results[name] = ops.fire(trigger, actor=f"ops:{name}", reason="race", on=decided_on)
        except TransitionConflict as exc:
            results[name] = exc

    threads = [threading.Thread(target=race, args=("a", ops_a, "degrade")),
               threading.Thread(target=race, args=("b", ops_b, "halt"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    won = [r for r in results.values() if isinstance(r, TransitionRecord)]
    lost = [r for r in results.values() if isinstance(r, TransitionConflict)]
    assert len(won) == 1
    assert len(lost) == 1
    winner = won[0]
    assert lost[0].winner == winner
    assert lost[0].state.phases["venue"] == winner.dest
    assert ops_a.state().records["venue"] == winner
    wait_for(lambda: _all_at(gws, winner.dest, winner.version), what="gateways at the winner")
    assert _none_refused(gws)
    for ops in (ops_a, ops_b):
        ops.coordinator.close()  # type: ignore[attr-defined]


def test_paused_gateway_catches_up_after_sigcont(venue) -> None:
    """A gateway stopped with SIGSTOP while transitions happen resumes at the latest version."""
    etcd, gws, _ = venue
    ops = _ops(etcd)
    paused = gws[0]
    paused.signal(signal.SIGSTOP)
    try:
        last = _step(ops, 12)
        wait_for(lambda: _all_at(gws[1:], last.dest, last.version), what="running gateways")
    finally:
        paused.signal(signal.SIGCONT)
    wait_for(lambda: paused.at(last.dest, last.version), what="paused gateway caught up")
    assert _none_refused(gws)


def test_gateway_rereads_when_the_history_it_missed_was_compacted(own_etcd, tmp_path) -> None:
    """A gateway whose watch must resume below the compacted revision re-reads the state."""
    own_etcd.site.grant("compact/")
    etcd = own_etcd.site.coordinator("compact/", timeout=1.0)
    gw = Gateway(own_etcd.site, "compact/", "gw-c", staleness=STALENESS, log=tmp_path / "gw.log")
    try:
        wait_for(lambda: gw.status.get("stale") is False, what="following")
        gw.signal(signal.SIGSTOP)
        # Restart etcd *before* the writes: the paused gateway's stream dies with the old server,
        # so no event of the writes below can sit in its socket buffer waiting to be read (a
        # SIGSTOPped process still receives). It must watch again, from below the compaction.
        own_etcd.kill()
        own_etcd.start()
        last = _cycle(etcd, 7)
        own_etcd.site.etcdctl("compact", str(last.version), "--physical")  # needs root
        gw.signal(signal.SIGCONT)

        wait_for(lambda: gw.at(last.dest, last.version), what="gateway re-read")
        wait_for(lambda: "follower_history_compacted" in (tmp_path / "gw.log").read_text(),
                 what="the compaction path taken")
        assert gw.status["refused"] == 0
    finally:
        gw.stop()
        etcd.close()


def test_gateway_started_after_1000_transitions_has_the_right_phase_and_version(
        venue, site) -> None:
    """1,000 transitions later, the followers agree and a new gateway starts where they are."""
    etcd, gws, prefix = venue
    last = _cycle(etcd, 1000)
    wait_for(lambda: _all_at(gws, last.dest, last.version), what="followers after 1000")
    assert _none_refused(gws)
    late = Gateway(site, prefix, "gw-late", staleness=STALENESS)
    try:
        wait_for(lambda: late.at(last.dest, last.version), what="late gateway")
    finally:
        late.stop()


def test_live_gateways_are_listed_and_a_dead_one_leaves_with_its_lease(venue, site) -> None:
    """Each gateway holds a key under gateways/; a SIGKILLed one is gone once its lease expires."""
    etcd, gws, prefix = venue
    extra = Gateway(site, prefix, "gw-doomed", staleness=STALENESS)
    wait_for(lambda: "gw-doomed" in etcd.gateways(), what="extra gateway listed")
    assert {gw.name for gw in gws} <= set(etcd.gateways())

    extra.signal(signal.SIGKILL)
    extra.stop()

    wait_for(lambda: "gw-doomed" not in etcd.gateways(), what="dead gateway's lease expired")
    assert {gw.name for gw in gws} <= set(etcd.gateways())


def test_a_bad_writer_cannot_open_the_venue(venue, site) -> None:
    """A record the policy forbids (HALTED straight to NORMAL) makes followers hold fail-safe."""
    etcd, gws, prefix = venue
    ops = _ops(etcd)
    ops.halt(actor="ops:alice", reason="before the bad write")
    state = ops.state()
    wait_for(lambda: _all_at(gws, "HALTED", state.version), what="gateways halted")
    bad = TransitionRecord(0, "venue", "HALTED", "NORMAL", "normalize", "rogue", "skip pre-open",
                           time.time(), relaxing=True)

    site.etcdctl("put", f"{prefix}scopes/venue", encode(bad).decode(), party="operator")

    wait_for(lambda: all(gw.status.get("refused") == 1 for gw in gws), what="update refused")
    assert all(gw.status["phase"] == "HALTED" and not gw.status["accepts"] for gw in gws)
    # The operator halts explicitly (from the store's NORMAL): followers leave quarantine.
    halt = ops.halt(actor="ops:alice", reason="contain the rogue write")
    assert halt is not None
    wait_for(lambda: _all_at(gws, "HALTED", halt.version), what="quarantine lifted")
    pre = ops.pre_open(actor="ops:alice", reason="back on the plan")
    wait_for(lambda: _all_at(gws, "PRE_OPEN", pre.version), what="gateways follow again")


def test_sigkill_of_etcd_fails_every_gateway_safe_then_resumes_without_missing(own_etcd) -> None:
    """etcd killed: all gateways fail safe within the bound; restarted: all follow every step."""
    prefix = "killed/"
    own_etcd.site.grant(prefix)
    etcd = own_etcd.site.coordinator(prefix, timeout=1.0)
    ops = _ops(etcd)
    gws = _gateways(own_etcd.site, prefix)
    try:
        wait_for(lambda: all(gw.status.get("accepts") for gw in gws), what="accepting")

        killed_at = time.monotonic()
        own_etcd.kill()

        wait_for(lambda: all(gw.status["stale"] for gw in gws), what="every gateway stale")
        assert not any(gw.status["accepts"] for gw in gws)
        for gw in gws:  # the bound, with slack for a loaded 2-core machine
            stale_at = next(s["t"] for s in gw.history() if s["stale"] and s["t"] >= killed_at)
            assert stale_at - killed_at <= STALENESS + 2.0, gw.name
        with pytest.raises(CoordinatorError):
            ops.halt(actor="ops:alice", reason="etcd down")

        own_etcd.start()
        last = _step(ops, 6)  # a full cycle and one more: a missed step would be refused

        wait_for(lambda: _all_at(gws, last.dest, last.version), what="gateways resumed")
        assert _none_refused(gws)
        assert all(gw.status["accepts"] == (last.dest != "HALTED") for gw in gws)
    finally:
        for gw in gws:
            gw.stop()
        etcd.close()


def test_an_unreachable_etcd_is_a_coordinator_error_and_bad_endpoints_are_refused() -> None:
    """No etcd on the port: read/propose raise CoordinatorError, alive() is False."""
    with EtcdCoordinator(f"127.0.0.1:{free_port()}", timeout=0.5, plaintext=True) as etcd:
        with pytest.raises(CoordinatorError, match="did not answer"):
            etcd.read()
        assert not etcd.alive()
    for bad in ("localhost", "a:b", ":2379", 2379):
        with pytest.raises(ConfigurationError, match="endpoint"):
            EtcdCoordinator(bad)  # type: ignore[arg-type]


def test_a_follower_given_several_members_moves_past_a_dead_one(site) -> None:
    """With a dead member listed first, following resumes on the next member and goes fresh."""
    prefix = _prefix(site, "multi")
    with site.coordinator(prefix, "gateway", endpoint=f"127.0.0.1:{free_port()},{site.endpoint}",
                          timeout=0.5, refresh=0.2) as etcd:
        follower = Follower(default_policy(), staleness=STALENESS)
        etcd.follow(follower)
        wait_for(lambda: not follower.stale, what="fresh through the live member")
        assert follower.gate.phase() == "NORMAL"


# -- locked down: TLS, client certificates, RBAC (issue #11) ----------------------------------


def test_tls_is_required_unless_plaintext_is_asked_for_and_bad_files_fail_at_once(tmp_path) -> None:
    """No ca_cert without plaintext=True, mixed options, unusable PEM files: ConfigurationError."""
    pki = generate(tmp_path)
    ca, crt, key = str(pki / "ca.crt"), str(pki / "operator.crt"), str(pki / "operator.key")
    cases = [
        ({}, "needs ca_cert= .* or plaintext=True"),
        ({"plaintext": True, "ca_cert": ca}, "plaintext=True sends no certificate"),
        ({"plaintext": True, "user": "operator", "password": "pw"}, "drop user"),
        ({"ca_cert": ca, "client_cert": crt}, "client_cert and client_key go together"),
        ({"ca_cert": ca, "user": "operator"}, "user and password go together"),
        ({"ca_cert": ca, "user": "operator", "password": 7}, "password must be"),
        ({"ca_cert": str(tmp_path / "missing.crt")}, "cannot read ca_cert"),
        ({"ca_cert": key}, "holds no PEM certificate"),
        ({"ca_cert": ca, "client_cert": crt, "client_key": str(pki / "gateway.key")},
         "does not match client_cert"),
        ({"ca_cert": ca, "max_record_bytes": 10}, "max_record_bytes must be"),
    ]
    for options, message in cases:
        with pytest.raises(ConfigurationError, match=message):
            EtcdCoordinator(**options)


def test_plaintext_foreign_certificate_less_and_wrong_password_connections_are_refused(
        site, tmp_path) -> None:
    """Only a certificate of the venue's CA with the user's password gets an answer."""
    foreign = generate(tmp_path)  # another CA, its own "operator" certificate
    operator = site.creds("operator")
    attempts = {
        "plaintext": {"plaintext": True},
        "no client certificate": {"ca_cert": site.ca, "user": "operator",
                                  "password": operator.password},
        "certificate of another CA": {**operator.options(),
                                      "client_cert": str(foreign / "operator.crt"),
                                      "client_key": str(foreign / "operator.key")},
        "server not signed by the trusted CA": {**operator.options(),
                                                "ca_cert": str(foreign / "ca.crt")},
        "wrong password": {**operator.options(), "password": "not-the-password"},
    }
    for what, options in attempts.items():
        with EtcdCoordinator(site.endpoint, timeout=0.5, **options) as etcd:
            with pytest.raises(CoordinatorError):
                etcd.read()
            assert not etcd.alive(), what
    with EtcdCoordinator(site.endpoint, timeout=0.5, **attempts["wrong password"]) as etcd, \
            pytest.raises(CoordinatorError, match=r"refused the request .*authentication failed"):
        etcd.read()
    with site.coordinator("exchange_recovery/") as etcd:
        assert etcd.alive()


def test_gateway_credentials_cannot_write_and_nothing_is_stored(site) -> None:
    """A propose with the read-only gateway user fails with CoordinatorError; etcd is unchanged."""
    prefix = _prefix(site, "readonly")
    halt = TransitionRecord(0, "venue", "NORMAL", "HALTED", "halt", "gw:rogue", "try",
                            time.time(), relaxing=False)
    with site.coordinator(prefix, "gateway") as gateway:
        with pytest.raises(CoordinatorError, match=r"user 'gateway'.*permission denied"):
            gateway.propose(halt, 0)
        assert gateway.read().records == {}
    with pytest.raises(RuntimeError, match="permission denied"):
        site.etcdctl("put", f"{prefix}scopes/venue", encode(halt).decode(), party="gateway")
    with site.coordinator(prefix) as ops:
        assert ops.read().records == {}


def test_a_record_over_the_size_cap_is_refused_and_nothing_is_stored(site) -> None:
    """propose() of a record over max_record_bytes raises ConfigurationError before any write."""
    prefix = _prefix(site, "cap")
    big = TransitionRecord(0, "venue", "NORMAL", "HALTED", "halt", "ops:alice", "x" * 20_000,
                           time.time(), relaxing=False)
    with site.coordinator(prefix) as etcd:
        with pytest.raises(ConfigurationError, match="over max_record_bytes=16384"):
            etcd.propose(big, 0)
        assert etcd.read().records == {}


def test_an_idle_operator_whose_token_expired_still_halts() -> None:
    """etcd drops a password token after --auth-token-ttl idle seconds; the next call
    authenticates again on a new client instead of failing the halt."""
    _need_etcd()
    server = EtcdServer("--auth-token-ttl", "1").start()
    try:
        server.site.grant("idle/")
        with server.site.coordinator("idle/") as etcd:
            etcd.read()  # authenticated: this client holds a token now
            time.sleep(2.2)  # etcd checks token TTLs once a second

            assert _ops(etcd).halt(actor="ops:alice", reason="after a quiet night") is not None
    finally:
        server.stop()


def test_junk_under_scopes_is_quarantined_and_a_later_halt_reaches_every_gateway(site) -> None:
    """Junk, oversized and nameless values: gateways hold those scopes, operators still read
    and halt (each halt reads only its scope), gateways follow the halt."""
    prefix = _prefix(site, "junk")
    etcd = site.coordinator(prefix)
    ops = _ops(etcd)
    gws = _gateways(site, prefix)
    try:
        # Act: raw writes that bypass the library
        site.etcdctl("put", f"{prefix}scopes/venue", "not a record", party="operator")
        bogus = TransitionRecord(0, "SOL-USDT", "NORMAL", "BOGUS", "halt", "rogue", "no such phase",
                                 time.time(), relaxing=False)
        site.put_many([(f"{prefix}scopes/ETH-USDT".encode(), b"x" * 20_000),
                       (f"{prefix}scopes/SOL-USDT".encode(), encode(bogus)),
                       (f"{prefix}scopes/".encode(), b"{}")], party="operator")

        wait_for(lambda: all(gw.status.get("refused") == 3 for gw in gws), what="junk refused")
        assert all(gw.status["phase"] == "HALTED" and not gw.status["accepts"] for gw in gws)
        with capture_logs() as logs:
            state = etcd.read()
        assert set(state.records) == {"SOL-USDT"}  # a record: whether its phase exists is policy
        alarms = [e for e in logs if e["log_level"] == "critical"]
        assert {e.get("scope") for e in alarms} == {"venue", "ETH-USDT", None}
        assert [e["event"] for e in alarms].count("etcd_key_quarantined") == 1
        halt = ops.halt(actor="ops:alice", reason="contain the junk")
        assert halt is not None
        wait_for(lambda: _all_at(gws, "HALTED", halt.version), what="every gateway halted")
        assert etcd.read(scopes=["venue"]).records == {"venue": halt}
        eth = ops.halt(actor="ops:alice", reason="contain the junk", scope="ETH-USDT")
        assert eth is not None
        late = Gateway(site, prefix, "gw-late", staleness=STALENESS)
        try:
            wait_for(lambda: late.at("HALTED", eth.version), what="a late gateway adopts")
            assert late.status["refused"] == 1  # SOL-USDT, in a phase its policy does not know
        finally:
            late.stop()
        pre = ops.pre_open(actor="ops:alice", reason="back on the plan")
        wait_for(lambda: _all_at(gws, "PRE_OPEN", pre.version), what="gateways follow again")
        assert all(gw.status["refused"] == 3 for gw in gws)
    finally:
        for gw in gws:
            gw.stop()
        etcd.close()


def test_4000_records_with_1kb_reasons_are_read_in_pages(site) -> None:
    """Over 4 MiB of records: reads page through them, a new follower adopts, a halt lands."""
    prefix = _prefix(site, "big")
    records = [TransitionRecord(0, f"INST-{i:04}", "NORMAL", "HALTED", "halt", "ops:bulk",
                                "r" * 1024, time.time(), relaxing=False) for i in range(4000)]
    items = [(f"{prefix}scopes/{r.scope}".encode(), encode(r)) for r in records]
    assert sum(len(value) for _, value in items) > 4 * 1024 * 1024
    site.put_many(items)
    with site.coordinator(prefix) as etcd, \
            site.coordinator(prefix, "gateway", refresh=0.2) as feed:
        assert len(etcd.read().records) == 4000
        follower = Follower(default_policy(), staleness=STALENESS)
        feed.follow(follower)
        wait_for(lambda: not follower.stale, what="the follower adopted every scope")
        assert follower.phases["INST-3999"] == "HALTED"

        halt = _ops(etcd).halt(actor="ops:alice", reason="a big venue")

        assert halt is not None
        wait_for(lambda: follower.version == halt.version, what="the halt followed")
        assert follower.gate.phase() == "HALTED"
        assert follower.refused == 0


def test_a_gateway_behind_by_more_history_than_grpc_receives_rereads(own_etcd, tmp_path) -> None:
    """A watch reply over 4 MiB (four 1.2 MB junk values to catch up on): the gateway re-reads
    the state in pages instead, quarantines the junk and follows the halt."""
    site = own_etcd.site
    site.grant("huge/")
    etcd = site.coordinator("huge/", timeout=1.0)
    gw = Gateway(site, "huge/", "gw-h", staleness=STALENESS, log=tmp_path / "gw.log")
    try:
        wait_for(lambda: gw.status.get("stale") is False, what="following")
        gw.signal(signal.SIGSTOP)
        own_etcd.kill()  # as in the compaction test: the paused gateway must watch again
        own_etcd.start()
        site.put_many([(f"huge/scopes/BIG-{i}".encode(), b"x" * 1_200_000) for i in range(4)])
        halt = _ops(etcd).halt(actor="ops:alice", reason="after the junk")
        assert halt is not None
        gw.signal(signal.SIGCONT)

        wait_for(lambda: gw.at("HALTED", halt.version), what="gateway re-read")
        assert gw.status["refused"] == 4
        log = (tmp_path / "gw.log").read_text()
        assert "follower_history_too_large" in log
    finally:
        gw.stop()
        etcd.close()


def test_signed_operators_open_through_etcd_and_a_raw_unsigned_put_opens_no_gateway(site) -> None:
    """Gateways checking signatures follow a signed, approved restart; a well-formed but
    unsigned relaxing record put straight into etcd is refused and held fail-safe."""
    from exchange_recovery import (  # noqa: PLC0415 - the trust names, local to this test
        KeyFileSigner,
        Principal,
        StaticDirectory,
        generate_keypair,
        policy_fingerprint,
        sign_approval,
    )

    policy = default_policy().with_changes(
        guards=(GuardSpec("supervisor_approval", "approval", roles={"supervisor"}),),
        transitions=[attrs.evolve(t, guards=("supervisor_approval",)) if t.trigger == "open" else t
                     for t in default_policy().transitions])
    (alice_key, alice_pub), (bob_key, bob_pub) = generate_keypair(), generate_keypair()
    directory = StaticDirectory([Principal("ops:alice", "Alice", {"operator"}, alice_pub),
                                 Principal("ops:bob", "Bob", {"supervisor"}, bob_pub)])
    prefix = _prefix(site, "signed")
    etcd = site.coordinator(prefix)
    watchers = [site.coordinator(prefix, party="gateway") for _ in range(2)]
    followers = [Follower(policy, directory=directory, staleness=STALENESS) for _ in watchers]
    stops = [w.follow(f, name=f"signed-gw-{i}") for i, (w, f) in enumerate(zip(watchers, followers,
                                                                             strict=True))]
    try:
        ops = CoordinatedController(policy, etcd, directory=directory,
                                    signer=KeyFileSigner.from_bytes("ops:alice", alice_key),
                                    guards={"supervisor_approval": lambda ctx: True})
        ops.halt(actor="ops:alice", reason="zone down")
        pre = ops.pre_open(actor="ops:alice", reason="zone back")
        bob = sign_approval(KeyFileSigner.from_bytes("ops:bob", bob_key), scope="venue",
                            trigger="open", source="PRE_OPEN", dest="FULL_OPEN",
                            visit=pre.version, policy_fingerprint=policy_fingerprint(policy),
                            at=time.time())
        opened = ops.fire("open", actor="ops:alice", reason="with Bob", approvals=[bob])
        wait_for(lambda: all(f.gate.phase() == "FULL_OPEN" and f.version == opened.version
                             for f in followers), what="gateways follow the signed open")

        halt = ops.halt(actor="ops:alice", reason="again")
        assert halt is not None
        wait_for(lambda: all(f.gate.phase() == "HALTED" for f in followers), what="halted")
        forged = TransitionRecord(0, "venue", "HALTED", "PRE_OPEN", "pre_open", "ops:alice",
                                  "unsigned", time.time(), True, policy_fingerprint(policy),
                                  halt.version)
        site.etcdctl("put", f"{prefix}scopes/venue", encode(forged).decode(), party="operator")

        wait_for(lambda: all(f.refused == 1 for f in followers), what="forged record refused")
        assert all(f.gate.phase() == "HALTED" and f.quarantined == {"venue"} for f in followers)
    finally:
        for stop in stops:
            stop()
        for w in (*watchers, etcd):
            w.close()
