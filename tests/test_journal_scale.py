"""Journals of many scopes and many records: found, compacted, recovered, streamed."""

from __future__ import annotations

import json
import pathlib
import tracemalloc

from exchange_recovery import (
    VENUE,
    FileJournal,
    IntegrityCode,
    TransitionRecord,
    compact_journal,
    default_policy,
    recover,
    verify_journal,
)
from exchange_recovery._journal.anchor import Anchor, write_anchor
from exchange_recovery._journal.format import (
    GENESIS,
    encode,
    snapshot_fields,
    transition_fields,
)

POLICY = default_policy()
BTC = "BTC-USDT-SWAP"
CYCLE = (("degrade", "NORMAL", "DEGRADED"), ("halt", "DEGRADED", "HALTED"),
         ("pre_open", "HALTED", "PRE_OPEN"), ("open", "PRE_OPEN", "FULL_OPEN"),
         ("normalize", "FULL_OPEN", "NORMAL"))
"""A cycle of the default policy that comes back to NORMAL."""


def _instruments(count: int) -> dict[str, str]:
    """The venue in NORMAL and `count` instruments, each halted, pre-opening or degraded."""
    phases = ("HALTED", "PRE_OPEN", "DEGRADED")
    return {VENUE: "NORMAL", **{f"I{i:06d}-USDT-SWAP": phases[i % 3] for i in range(count)}}


def _write_snapshot(path: pathlib.Path, phases: dict[str, str]) -> None:
    """A journal that opens with a snapshot of `phases` at version 1."""
    with FileJournal(path, durability="none") as journal:
        journal.snapshot(phases, 1, actor="test:seed", reason="many instruments", now=0.0)


def _lines(records: int, scopes: tuple[str, ...]) -> list[bytes]:
    """`records` valid transition lines cycling `scopes` through CYCLE (written with `encode`)."""
    steps = dict.fromkeys(scopes, 0)
    prev, lines = GENESIS, []
    for version in range(1, records + 1):
        scope = scopes[version % len(scopes)]
        trigger, source, dest = CYCLE[steps[scope] % len(CYCLE)]
        steps[scope] += 1
        record = TransitionRecord(version, scope, source, dest, trigger, "test:writer",
                                  "scale test", float(version), POLICY.is_relaxing(source, dest))
        line, prev = encode(transition_fields(record), prev)
        lines.append(line)
    return lines


def _write_anchored(path: pathlib.Path, lines: list[bytes], tail: bytes = b"") -> None:
    """Write `lines` (then `tail`, a torn line) and an anchor naming the last of the lines."""
    path.write_bytes(b"".join(lines) + tail)
    last = json.loads(lines[-1])
    write_anchor(path.with_name(f"{path.name}.anchor"), Anchor(last["version"], last["hash"]),
                 None, durable=False)


def test_a_journal_with_100_000_scopes_compacts_and_recovers(tmp_path: pathlib.Path) -> None:
    """Compaction writes a snapshot line of megabytes; recovery and the next append find it."""
    # Arrange
    path = tmp_path / "journal.jsonl"
    phases = _instruments(100_000)
    _write_snapshot(path, phases)
    with FileJournal(path, durability="none") as journal:
        journal.append(TransitionRecord(2, "I000000-USDT-SWAP", "HALTED", "PRE_OPEN", "pre_open",
                                        "ops:lead", "reopen one", 1.0, True))
    phases["I000000-USDT-SWAP"] = "PRE_OPEN"

    # Act
    archive = compact_journal(path, POLICY)
    controller = recover(path, POLICY, durability="none")

    # Assert
    assert path.stat().st_size > 2_000_000  # one line, far longer than any fixed tail read
    report = controller.recovery
    assert report is not None
    assert (report.trusted, report.records, report.version) == (True, 1, 2)
    assert report.phases == phases
    assert report.anchor == verify_journal(archive, POLICY).head
    controller.halt(actor="ops:lead", reason="zone down")
    after = verify_journal(path, POLICY)
    assert (after.trusted, after.version, after.records) == (True, 3, 2)


def test_a_journal_whose_last_record_is_1_mib_reopens(tmp_path: pathlib.Path) -> None:
    """A 1 MiB reason (under a raised record cap) makes a 1 MiB last line: FileJournal and
    recover() continue the chain."""
    path = tmp_path / "journal.jsonl"
    recover(path, POLICY, create=True, durability="none", max_record=2 << 20).halt(
        actor="ops:lead", reason="x" * (1 << 20))

    with FileJournal(path, durability="none") as journal:
        assert (journal.version, journal.head) == (1, verify_journal(path, POLICY).head)
    controller = recover(path, POLICY, durability="none")
    controller.pre_open(actor="ops:lead", reason="zone back")

    assert controller.recovery is not None
    assert (controller.recovery.trusted, controller.recovery.version) == (True, 1)
    report = verify_journal(path, POLICY)
    assert (report.trusted, report.version, report.phases) == (True, 2, {VENUE: "PRE_OPEN"})


def test_a_damaged_journal_of_10_000_scopes_restarts_fail_safe_and_recovers_again(
        tmp_path: pathlib.Path) -> None:
    """The fail-safe restart's snapshot names every scope (a long line); the next recover()
    reads it back trusted."""
    path = tmp_path / "journal.jsonl"
    phases = _instruments(10_000)
    _write_snapshot(path, phases)
    path.write_bytes(path.read_bytes().replace(b"many instruments", b"many Instruments"))

    damaged = recover(path, POLICY, durability="none")
    again = recover(path, POLICY, durability="none")

    assert damaged.recovery is not None
    assert again.recovery is not None
    assert damaged.recovery.codes == {IntegrityCode.HASH_MISMATCH}
    assert again.recovery.trusted
    assert again.recovery.phases == dict.fromkeys(phases, "HALTED")
    assert again.version == damaged.version == 2


def test_verification_streams_the_file_instead_of_reading_it_whole(
        tmp_path: pathlib.Path) -> None:
    """Peak memory while verifying a journal of several MB stays far below its size."""
    path = tmp_path / "journal.jsonl"
    _write_anchored(path, _lines(20_000, (VENUE, BTC, "ETH-USDT-SWAP")))
    size = path.stat().st_size

    tracemalloc.start()
    try:
        report = verify_journal(path, POLICY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert (report.trusted, report.version) == (True, 20_000)
    assert size > 5_000_000
    assert peak < size // 20


def test_a_predecessor_megabytes_later_is_found_and_the_scopes_after_the_damage_halt(
        tmp_path: pathlib.Path) -> None:
    """Streaming keeps the checks that read past a bad line: a record moved to the far end is
    RECORDS_REORDERED, not CHAIN_BROKEN; scopes named only after the damage start fail-safe; a
    torn tail is still reported after it; progress counts every complete line."""
    # Arrange: line 100 moved to the end, then a scope only the later lines name, then a torn tail
    path = tmp_path / "journal.jsonl"
    lines = _lines(20_000, (VENUE, BTC))
    late = _lines(3, ("LATE-USDT-SWAP",))
    moved = [*lines[:99], *lines[100:], lines[99], *late]
    path.write_bytes(b"".join(moved) + late[0][:40])
    progress: list[tuple[int, int]] = []

    # Act
    report = verify_journal(path, POLICY, on_progress=lambda done, total: progress.append(
        (done, total)))
    controller = recover(path, POLICY, durability="none")

    # Assert
    assert [(p.code, p.line) for p in report.problems] == [
        (IntegrityCode.RECORDS_REORDERED, 100), (IntegrityCode.TORN_TAIL, len(moved) + 1)]
    assert report.phases == {VENUE: "HALTED", BTC: "HALTED", "LATE-USDT-SWAP": "HALTED"}
    assert report.version == 20_001
    assert progress[-1] == (len(moved), len(moved))
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert controller.recovery is not None
    assert controller.recovery.problems == report.problems
    assert dict(controller.gate.phases) == report.phases


def test_a_torn_relaxing_tail_after_megabytes_is_cut_at_the_last_newline(
        tmp_path: pathlib.Path) -> None:
    """Recovery truncates exactly the torn bytes of a long journal and trusts the rest."""
    path = tmp_path / "journal.jsonl"
    lines = _lines(10_003, (VENUE,))  # the last one is pre_open
    assert b'"relaxing":true,' in lines[-1]
    complete = b"".join(lines[:-1])
    _write_anchored(path, lines[:-1], lines[-1][:-20])

    controller = recover(path, POLICY, durability="none")

    assert controller.recovery is not None
    assert controller.recovery.codes == {IntegrityCode.TORN_TAIL}
    assert controller.recovery.trusted
    assert controller.version == 10_002
    assert path.read_bytes() == complete


def test_a_snapshot_that_disagrees_with_10_000_replayed_scopes_names_a_few(
        tmp_path: pathlib.Path) -> None:
    """SNAPSHOT_MISMATCH counts the scopes that differ and names five, not all 10,000."""
    path = tmp_path / "journal.jsonl"
    phases = _instruments(10_000)
    first, head = encode(snapshot_fields(phases, 1, actor="a", reason="r", now=0.0), GENESIS)
    halted = dict.fromkeys(phases, "HALTED")
    path.write_bytes(first + encode(snapshot_fields(halted, 1, actor="a", reason="r", now=0.0),
                                    head)[0])

    report = verify_journal(path, POLICY)

    (problem,) = report.problems
    assert (problem.code, problem.line) == (IntegrityCode.SNAPSHOT_MISMATCH, 2)
    assert problem.detail.startswith("snapshot differs from the replayed phases in 6667 scope(s): "
                                     "I000001-USDT-SWAP HALTED (replayed PRE_OPEN), ")
    assert problem.detail.endswith(" and 6662 more")
    assert len(problem.detail) < 400
