"""Signed records and approvals at every door: fire, apply, a follower, a coordinated operator."""

from __future__ import annotations

import pathlib
import tempfile

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from exchange_recovery import (
    VENUE,
    Actor,
    Approvals,
    Controller,
    CoordinatedController,
    Follower,
    Guard,
    HealthChecks,
    IntegrityCode,
    KeyFileSigner,
    LocalCoordinator,
    Principal,
    RefusalCode,
    RoleAuthorizer,
    SignedApproval,
    StaticDirectory,
    TransitionRecord,
    TransitionRefused,
    generate_keypair,
    policy_fingerprint,
    policy_guards,
    recover,
    restart_policy,
    sign_approval,
)
from exchange_recovery.testing import ManualClock

POLICY = restart_policy(min_pre_open=60, full_open_dwell=120)
FINGERPRINT = policy_fingerprint(POLICY)
KEYS = {name: generate_keypair() for name in ("alice", "bob", "carol", "mallory")}
DIRECTORY = StaticDirectory([
    Principal("ops:alice", "Alice", {"operator"}, KEYS["alice"][1]),
    Principal("ops:bob", "Bob", {"supervisor"}, KEYS["bob"][1]),
    Principal("ops:carol", "Carol", {"supervisor"}, KEYS["carol"][1]),
])
HEALTHY = {"cloud_zone_healthy": True, "market_data_fresh": True, "book_uncrossed": True}


def signer(name: str) -> KeyFileSigner:
    return KeyFileSigner.from_bytes(f"ops:{name}", KEYS[name][0])


def console(name: str = "alice", *, phase: str = "HALTED",
            clock: ManualClock | None = None) -> Controller:
    """An operator console: the restart policy, the directory, `name`'s key."""
    return Controller(POLICY, phases={VENUE: phase}, clock=clock or ManualClock(1_000.0),
                      directory=DIRECTORY, signer=signer(name), authorizer=RoleAuthorizer(POLICY),
                      guards=_guards())


def _guards() -> dict[str, Guard]:
    """The policy's guards; with a directory its approval guard is met by signed approvals."""
    return policy_guards(POLICY, health=HealthChecks(HEALTHY),
                         approvals=Approvals(POLICY, clock=ManualClock()))


def approval(name: str, c: Controller, trigger: str, source: str, dest: str) -> SignedApproval:
    return sign_approval(signer(name), scope=VENUE, trigger=trigger, source=source, dest=dest,
                         visit=c.visit(), policy_fingerprint=FINGERPRINT, at=c.clock())


def to_full_open(c: Controller, clock: ManualClock) -> None:
    c.pre_open(actor="ops:alice", reason="zone back")
    clock.advance(60)
    c.fire("open", actor="ops:alice", reason="book rebuilt",
           approvals=[approval("bob", c, "open", "PRE_OPEN", "FULL_OPEN")])


def test_a_self_asserted_role_grants_nothing() -> None:
    """Mallory claiming to be a supervisor and operator cannot relax anything."""
    c = console()
    with pytest.raises(TransitionRefused) as refused:
        c.pre_open(actor=Actor("mallory", {"operator", "supervisor"}), reason="trust me")
    assert refused.value.code is RefusalCode.UNAUTHORIZED
    assert c.phase() == "HALTED"


def test_open_needs_a_signed_approval_from_another_person() -> None:
    """No approval, or only the firer's own: APPROVAL_MISSING; Bob's approval: open."""
    clock = ManualClock(1_000.0)
    c = console(clock=clock)
    c.pre_open(actor="ops:alice", reason="zone back")
    clock.advance(60)
    for approvals in ([], [approval("alice", c, "open", "PRE_OPEN", "FULL_OPEN")]):
        with pytest.raises(TransitionRefused) as refused:
            c.fire("open", actor="ops:alice", reason="r", approvals=approvals)
        assert refused.value.code is RefusalCode.APPROVAL_MISSING
    record = c.fire("open", actor="ops:alice", reason="r",
                    approvals=[approval("bob", c, "open", "PRE_OPEN", "FULL_OPEN")])
    assert c.phase() == "FULL_OPEN"
    assert record.signature
    assert record.policy == FINGERPRINT
    assert [a.principal for a in record.approvals] == ["ops:bob"]


def test_one_person_in_two_spellings_is_one_approver() -> None:
    """Alice's console, Alice's approval spelt with a Cyrillic a: still the firer's own."""
    clock = ManualClock(1_000.0)
    c = console(clock=clock)
    c.pre_open(actor="ops:alice", reason="zone back")
    clock.advance(60)
    mine = approval("alice", c, "open", "PRE_OPEN", "FULL_OPEN")
    with pytest.raises(TransitionRefused) as refused:
        c.fire("open", actor="ops:\u0430lice", reason="r", approvals=[mine])
    assert refused.value.code is RefusalCode.APPROVAL_MISSING


def test_an_approval_given_in_an_earlier_visit_does_not_count() -> None:
    """Bob approved the open of the last pre-open; a halt and a new pre-open void it."""
    clock = ManualClock(1_000.0)
    c = console(clock=clock)
    c.pre_open(actor="ops:alice", reason="zone back")
    old = approval("bob", c, "open", "PRE_OPEN", "FULL_OPEN")
    c.halt(actor="ops:alice", reason="again")
    c.pre_open(actor="ops:alice", reason="zone back again")
    clock.advance(60)
    with pytest.raises(TransitionRefused) as refused:
        c.fire("open", actor="ops:alice", reason="r", approvals=[old])
    assert refused.value.code is RefusalCode.APPROVAL_MISSING


def test_two_consoles_agree_on_the_two_person_rule_through_the_record() -> None:
    """Alice's console fires with Bob's approval; a second console adopts the record as is."""
    clock = ManualClock(1_000.0)
    alice = console(clock=clock)
    other = Controller(POLICY, phases={VENUE: "HALTED"}, directory=DIRECTORY,
                       clock=ManualClock(5.0), guards=_guards())
    records = [alice.pre_open(actor="ops:alice", reason="zone back")]
    clock.advance(60)
    records.append(alice.fire("open", actor="ops:alice", reason="r",
                              approvals=[approval("bob", alice, "open", "PRE_OPEN", "FULL_OPEN")]))
    for record in records:
        other.apply(record)
    assert other.phase() == "FULL_OPEN"


def test_apply_refuses_an_unsigned_relaxing_record_and_holds_the_scope_fail_safe() -> None:
    """A forged open record: refused, a critical event names it, the venue stays halted."""
    c = Controller(POLICY, phases={VENUE: "PRE_OPEN"}, directory=DIRECTORY, guards=_guards())
    forged = TransitionRecord(7, VENUE, "PRE_OPEN", "FULL_OPEN", "open", "ops:alice", "r", 0.0,
                              True, FINGERPRINT)
    with capture_logs() as logs, pytest.raises(TransitionRefused) as refused:
        c.apply(forged)
    assert refused.value.code is RefusalCode.SIGNATURE_INVALID
    assert c.phase() == "HALTED"
    assert [e for e in logs if e["event"] == "record_refused" and e["version"] == 7]


def test_a_follower_refuses_an_unsigned_relaxing_record_and_quarantines_its_scope() -> None:
    """A raw write of a well-formed but unsigned record opens no gateway."""
    store = LocalCoordinator()
    follower = Follower(POLICY, directory=DIRECTORY)
    store.follow(follower)
    store.propose(TransitionRecord(0, VENUE, "NORMAL", "HALTED", "halt", "anyone", "r", 0.0,
                                   False), 0)
    store.propose(TransitionRecord(0, VENUE, "HALTED", "PRE_OPEN", "pre_open", "ops:alice", "r",
                                   0.0, True, FINGERPRINT), 1)
    assert follower.gate.phase() == "HALTED"
    assert follower.quarantined == {VENUE}


def test_a_coordinated_operator_needs_a_signature_and_an_approval_too() -> None:
    """Through a coordinator: signed, approved records are followed; the rest are refused."""
    clock = ManualClock(1_000.0)
    store = LocalCoordinator()
    follower = Follower(POLICY, directory=DIRECTORY)
    store.follow(follower)
    ops = CoordinatedController(POLICY, store, directory=DIRECTORY, signer=signer("alice"),
                                clock=clock, guards=_guards())
    ops.halt(actor="ops:alice", reason="down")
    ops.pre_open(actor="ops:alice", reason="back")
    clock.advance(60)
    with pytest.raises(TransitionRefused) as refused:
        ops.fire("open", actor="ops:alice", reason="alone")
    assert refused.value.code is RefusalCode.APPROVAL_MISSING
    state = ops.state()
    bob = sign_approval(signer("bob"), scope=VENUE, trigger="open", source="PRE_OPEN",
                        dest="FULL_OPEN", visit=ops.visit(state), policy_fingerprint=FINGERPRINT,
                        at=clock())
    ops.fire("open", actor="ops:alice", reason="with Bob", approvals=[bob])
    assert follower.gate.phase() == "FULL_OPEN"
    assert follower.quarantined == frozenset()


DOORS = st.sampled_from(["apply", "follower", "recover"])
TAMPER = st.sampled_from(["unsigned", "other_signer", "no_approval", "self_approval",
                          "other_policy", "other_visit"])


@given(door=DOORS, tamper=TAMPER)
def test_no_unsigned_or_under_approved_record_reaches_a_relaxed_phase(door: str,
                                                                       tamper: str) -> None:
    """Whatever is wrong with a relaxing record, no door adopts it: the scope ends fail-safe."""
    clock = ManualClock(1_000.0)
    alice = console(phase="NORMAL", clock=clock)
    good = [alice.halt(actor="ops:alice", reason="down"),
            alice.pre_open(actor="ops:alice", reason="zone back")]
    clock.advance(60)
    bob = approval("bob", alice, "open", "PRE_OPEN", "FULL_OPEN")
    opened = alice.fire("open", actor="ops:alice", reason="r", approvals=[bob])
    bad = {
        "unsigned": attrs.evolve(opened, signature=b""),
        "other_signer": attrs.evolve(opened, signature=signer("mallory").sign(b"x")),
        "no_approval": attrs.evolve(opened, approvals=()),
        "self_approval": attrs.evolve(opened, approvals=(approval("alice", alice, "open",
                                                                 "PRE_OPEN", "FULL_OPEN"),)),
        "other_policy": attrs.evolve(opened, policy="0" * 64),
        "other_visit": attrs.evolve(opened, visit=opened.visit + 1),
    }[tamper]
    if door == "apply":
        receiver = Controller(POLICY, directory=DIRECTORY, guards=_guards())
        for record in good:
            receiver.apply(record)
        with pytest.raises(TransitionRefused):
            receiver.apply(bad)
        phase = receiver.phase()
    elif door == "follower":
        follower = Follower(POLICY, directory=DIRECTORY)
        follower.adopt(LocalCoordinator().read(), follower.clock())
        for record in (*good, bad):
            follower.apply(record)
        phase = follower.gate.phase()
    else:
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / "journal.jsonl"
            writer = recover(path, POLICY, create=True, durability="none", guards=_guards())
            for record in good:  # no directory here: taken as they come
                writer.apply(record)
            assert writer.journal is not None
            writer.journal.append(bad)  # written behind the controller's back
            phase = recover(path, POLICY, durability="none", directory=DIRECTORY,
                            guards=_guards()).phase()
    assert phase == POLICY.fail_safe


def test_recovery_with_a_directory_restores_signed_records_and_their_visits(tmp_path) -> None:
    """A signed, approved journal recovers trusted, and approvals for the replayed visit count."""
    path = tmp_path / "journal.jsonl"
    clock = ManualClock(1_000.0)
    options = {"directory": DIRECTORY, "signer": signer("alice"), "clock": clock,
               "authorizer": RoleAuthorizer(POLICY), "guards": _guards()}
    c = recover(path, POLICY, create=True, durability="none", **options)
    c.halt(actor="ops:alice", reason="down")
    c.pre_open(actor="ops:alice", reason="back")

    again = recover(path, POLICY, durability="none", **options)
    assert again.recovery is not None
    assert again.recovery.trusted
    assert again.phase() == "PRE_OPEN"
    clock.advance(60)
    again.fire("open", actor="ops:alice", reason="r",
               approvals=[approval("bob", again, "open", "PRE_OPEN", "FULL_OPEN")])
    assert again.phase() == "FULL_OPEN"


def test_recovery_with_a_directory_refuses_an_unsigned_relaxing_record(tmp_path) -> None:
    """A journal whose pre-open nobody signed (hashes recomputed) restarts fail-safe."""
    path = tmp_path / "journal.jsonl"
    c = recover(path, POLICY, create=True, durability="none", guards=_guards())  # no directory
    c.halt(actor="ops:alice", reason="down")
    c.pre_open(actor="ops:alice", reason="forged: nobody signed this")

    again = recover(path, POLICY, durability="none", directory=DIRECTORY, guards=_guards())
    assert again.recovery is not None
    assert not again.recovery.trusted
    assert IntegrityCode.SIGNATURE_INVALID in again.recovery.codes
    assert again.phase() == POLICY.fail_safe
