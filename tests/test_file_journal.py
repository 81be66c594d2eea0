"""FileJournal: the line format, the chain, and what a failing disk does to the controller."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import pathlib
from collections.abc import Iterator
from typing import IO

import attrs
import pytest
from structlog.testing import capture_logs

from exchange_recovery import (
    ConfigurationError,
    Controller,
    FileJournal,
    JournalError,
    RefusalCode,
    TransitionRecord,
    TransitionRefused,
    default_policy,
    recover,
    verify_journal,
)
from exchange_recovery._decide.records import parse_trust_fields
from exchange_recovery._journal.file import _TAIL_CHUNK
from exchange_recovery._journal.format import encode, transition_fields
from exchange_recovery._trust.approvals import SignedApproval

POLICY = default_policy()


def _lines(path: pathlib.Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _record(version: int, source: str = "NORMAL", dest: str = "HALTED",
            trigger: str = "halt") -> TransitionRecord:
    return TransitionRecord(version, "venue", source, dest, trigger, "ops:alice", "zone down",
                            1671349260.5, POLICY.is_relaxing(source, dest))


class FailingFile:
    """A real journal file that fails on demand: a write that stores half its bytes and then
    raises ENOSPC (as a full disk does), or a flush that raises EIO."""

    def __init__(self, path: pathlib.Path) -> None:
        self.file: IO[bytes] = open(path, "ab", buffering=0)  # noqa: SIM115 - closed by the journal
        self.fail_write: int | None = None
        self.fail_flush: int | None = None
        self.writes_to_fail = -1  # how many more writes fail while fail_write is set (-1: all)
        self.fail_truncate = False

    def write(self, data: bytes | memoryview) -> int:
        if self.fail_write is not None and self.writes_to_fail:
            self.writes_to_fail -= 1
            self.file.write(bytes(data[: len(data) // 2]))
            raise OSError(self.fail_write, os.strerror(self.fail_write))
        return self.file.write(data)

    def flush(self) -> None:
        if self.fail_flush is not None:
            raise OSError(self.fail_flush, os.strerror(self.fail_flush))

    def fileno(self) -> int:
        return self.file.fileno()

    def truncate(self, size: int) -> int:
        if self.fail_truncate:
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return self.file.truncate(size)

    def close(self) -> None:
        self.file.close()


@pytest.fixture
def failing(tmp_path: pathlib.Path) -> Iterator[tuple[pathlib.Path, list[FailingFile]]]:
    files: list[FailingFile] = []
    yield tmp_path / "journal.jsonl", files
    for file in files:
        file.close()


def _journal(path: pathlib.Path, files: list[FailingFile], **options: object) -> FileJournal:
    def opener(p: pathlib.Path) -> IO[bytes]:
        files.append(FailingFile(p))
        return files[-1]  # type: ignore[return-value]
    return FileJournal(path, opener=opener, **options)  # type: ignore[arg-type]


def test_each_record_is_one_json_line_with_its_own_hash_and_the_previous_one(
        tmp_path: pathlib.Path) -> None:
    """Each line holds the transition's fields, a UTC time and a SHA-256 chain."""
    path = tmp_path / "journal.jsonl"
    with FileJournal(path) as journal:
        journal.append(_record(1))
        journal.append(_record(2, "HALTED", "PRE_OPEN", "pre_open"))

    first, second = _lines(path)

    assert first["prev"] == "0" * 64
    assert second["prev"] == first["hash"]
    assert (second["version"], second["scope"], second["from"], second["to"], second["trigger"],
            second["actor"], second["reason"], second["relaxing"]) == (
        2, "venue", "HALTED", "PRE_OPEN", "pre_open", "ops:alice", "zone down", True)
    assert first["time"] == "2022-12-18T07:41:00.500000Z"
    body = {k: v for k, v in second.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert second["hash"] == hashlib.sha256(canonical.encode()).hexdigest()


def test_reopening_a_journal_continues_its_chain(tmp_path: pathlib.Path) -> None:
    """A journal opened on an existing file appends after its last record."""
    path = tmp_path / "journal.jsonl"
    with FileJournal(path, durability="none") as journal:
        journal.append(_record(1))
    with FileJournal(path, durability="none") as journal:
        assert journal.version == 1
        journal.append(_record(2, "HALTED", "PRE_OPEN", "pre_open"))
    assert verify_journal(path, POLICY).version == 2
    assert verify_journal(path, POLICY).trusted


@pytest.mark.parametrize("over", [-1, 0, 1, 2, _TAIL_CHUNK + 1])
def test_reopening_finds_the_head_however_long_the_last_line_is(
        tmp_path: pathlib.Path, over: int) -> None:
    """The last record is found when its line is shorter, as long or longer than a read chunk."""
    path = tmp_path / "journal.jsonl"
    second = attrs.evolve(_record(2, "HALTED", "PRE_OPEN", "pre_open"), reason="")
    empty = len(encode(transition_fields(second), "0" * 64)[0])  # the line with no reason
    with FileJournal(path, durability="none", max_record=3 * _TAIL_CHUNK) as journal:
        journal.append(_record(1))
        before = path.stat().st_size
        journal.append(attrs.evolve(second, reason="x" * (_TAIL_CHUNK + over - empty)))
    assert path.stat().st_size - before == _TAIL_CHUNK + over

    with FileJournal(path, durability="none") as journal:
        assert (journal.version, journal.head) == (2, verify_journal(path, POLICY).head)
        journal.append(_record(3, "PRE_OPEN", "HALTED"))

    assert verify_journal(path, POLICY).problems == ()


def test_a_last_line_in_another_key_order_is_read_as_json(tmp_path: pathlib.Path) -> None:
    """Only lines shaped as encode() writes them are read off their ends; others are parsed."""
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"version": 4, "hash": "' + b"ab" * 32 + b'", "kind": "transition"}\n')
    with FileJournal(path, durability="none", anchor=False) as journal:
        assert (journal.version, journal.head) == (4, "ab" * 32)


def test_a_last_line_that_is_not_a_record_must_go_through_recover(tmp_path: pathlib.Path) -> None:
    """A complete last line that does not parse: FileJournal refuses to chain after it."""
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"hash":"' + b"ab" * 32 + b'","version":}\n')
    with pytest.raises(JournalError, match="does not parse"):
        FileJournal(path)


def test_a_record_that_does_not_raise_the_version_is_refused(tmp_path: pathlib.Path) -> None:
    """Versions in a file strictly increase: an old or repeated version raises JournalError."""
    with FileJournal(tmp_path / "journal.jsonl", durability="none") as journal:
        journal.append(_record(3))
        with pytest.raises(JournalError, match="not above"):
            journal.append(_record(3))
        with pytest.raises(JournalError, match="not above"):
            journal.append(_record(2))


def test_unknown_durability_is_a_configuration_error(tmp_path: pathlib.Path) -> None:
    """Durability is "fsync" or "none"; anything else names the field."""
    with pytest.raises(ConfigurationError, match="durability"):
        FileJournal(tmp_path / "j", durability="sometimes")  # type: ignore[arg-type]


def test_a_file_ending_mid_record_must_go_through_recover(tmp_path: pathlib.Path) -> None:
    """FileJournal refuses to append after a torn tail; recover() trims it first."""
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b'{"hash":"ab')
    with pytest.raises(JournalError, match="recover"):
        FileJournal(path)


@pytest.mark.parametrize(("anchor", "per_append"), [(True, 3), (False, 1)])
def test_durable_appends_fsync_every_record_and_its_anchor(
        tmp_path: pathlib.Path, anchor: bool, per_append: int) -> None:
    """With durability "fsync" each append syncs the file, then the anchor file and its
    directory (after the rename); with "none" nothing is synced."""
    synced: list[int] = []
    with FileJournal(tmp_path / "a.jsonl", anchor=anchor, fsync=synced.append) as journal:
        synced.clear()  # creating the file and the first anchor synced too
        journal.append(_record(1))
        journal.append(_record(2, "HALTED", "PRE_OPEN", "pre_open"))
    assert len(synced) == 2 * per_append
    with FileJournal(tmp_path / "b.jsonl", anchor=anchor, durability="none",
                     fsync=synced.append) as journal:
        journal.append(_record(1))
    assert len(synced) == 2 * per_append


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_a_failed_write_leaves_the_file_and_the_chain_as_they_were(
        failing: tuple[pathlib.Path, list[FailingFile]], code: int) -> None:
    """Half a record reached the disk before the error: it is cut off, the next append chains."""
    path, files = failing
    journal = _journal(path, files, durability="none")
    journal.append(_record(1))
    size = path.stat().st_size
    files[0].fail_write = code

    with pytest.raises(OSError, match=os.strerror(code)):
        journal.append(_record(2, "HALTED", "PRE_OPEN", "pre_open"))

    assert path.stat().st_size == size
    files[0].fail_write = None
    journal.append(_record(2, "HALTED", "PRE_OPEN", "pre_open"))
    report = verify_journal(path, POLICY)
    assert (report.trusted, report.version, report.problems) == (True, 2, ())


def test_a_failed_fsync_is_a_failed_write(tmp_path: pathlib.Path) -> None:
    """EIO from fsync: the append raises and the record is not left in the file."""
    path = tmp_path / "journal.jsonl"
    broken = False

    def fsync(fd: int) -> None:
        if broken:
            raise OSError(errno.EIO, os.strerror(errno.EIO))

    with FileJournal(path, fsync=fsync) as journal:
        broken = True
        with pytest.raises(OSError, match="Input/output"):
            journal.append(_record(1))
    assert path.read_bytes() == b""


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_relaxing_is_refused_when_its_record_cannot_be_written(
        failing: tuple[pathlib.Path, list[FailingFile]], code: int) -> None:
    """Write-ahead: a failed write refuses pre_open; phase, version, gate and file unchanged."""
    path, files = failing
    controller = Controller(POLICY, journal=_journal(path, files))
    controller.halt(actor="ops:alice", reason="zone down")
    before = (dict(controller.gate.phases), controller.version, path.read_bytes())
    files[0].fail_flush = code

    with pytest.raises(TransitionRefused) as refused:
        controller.pre_open(actor="ops:alice", reason="zone back")

    assert refused.value.code is RefusalCode.JOURNAL_FAILED
    assert (dict(controller.gate.phases), controller.version, path.read_bytes()) == before
    assert recover(path, POLICY, durability="none").phase() == "HALTED"


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_halting_takes_effect_when_its_record_cannot_be_written(
        failing: tuple[pathlib.Path, list[FailingFile]], code: int) -> None:
    """A halt is published even though its write failed; a critical event reports it."""
    path, files = failing
    controller = Controller(POLICY, journal=_journal(path, files))
    files[0].fail_write = code

    with capture_logs() as logs:
        record = controller.halt(actor="ops:alice", reason="zone down")

    assert record is not None
    assert controller.phase() == controller.gate.phase() == "HALTED"
    assert controller.unjournaled == [record]
    critical = [e for e in logs if e["log_level"] == "critical"]
    assert [e["event"] for e in critical] == ["journal_write_failed"]
    assert critical[0]["version"] == 1
    assert path.read_bytes() == b""


def test_a_lost_halt_is_retried_and_blocks_relaxing_until_it_is_written(
        failing: tuple[pathlib.Path, list[FailingFile]]) -> None:
    """While the halt's record is unwritten, retries report it and pre_open is refused;
    once the disk is back the halt is written first, then the pre_open, in version order."""
    path, files = failing
    controller = Controller(POLICY, journal=_journal(path, files))
    files[0].fail_write = errno.ENOSPC
    controller.halt(actor="ops:alice", reason="zone down")

    with capture_logs() as logs:
        assert controller.retry_journal() == 1
        with pytest.raises(TransitionRefused) as refused:
            controller.pre_open(actor="ops:alice", reason="zone back")
    assert refused.value.code is RefusalCode.JOURNAL_FAILED
    assert [e["event"] for e in logs if e["log_level"] == "critical"] == ["journal_write_failed"]
    assert controller.phase() == "HALTED"

    files[0].fail_write = None
    assert controller.retry_journal() == 0
    controller.pre_open(actor="ops:alice", reason="zone back")

    assert [(r["version"], r["to"]) for r in _lines(path)] == [(1, "HALTED"), (2, "PRE_OPEN")]
    assert recover(path, POLICY, durability="none").phase() == "PRE_OPEN"


def test_relaxing_writes_a_lost_halt_first_and_is_refused_if_that_still_fails(
        failing: tuple[pathlib.Path, list[FailingFile]]) -> None:
    """A relaxing record never reaches the journal ahead of an earlier, unwritten halt: when
    only the halt's retry fails the relaxing transition is still refused; with the disk back,
    the halt is written first, without any explicit retry."""
    path, files = failing
    controller = Controller(POLICY, journal=_journal(path, files))
    files[0].fail_write = errno.ENOSPC
    controller.halt(actor="ops:alice", reason="zone down")
    files[0].writes_to_fail = 1  # the halt's retry fails; a pre_open record would go through

    with pytest.raises(TransitionRefused) as refused:
        controller.pre_open(actor="ops:alice", reason="zone back")

    assert refused.value.code is RefusalCode.JOURNAL_FAILED
    assert path.read_bytes() == b""
    controller.pre_open(actor="ops:alice", reason="zone back")
    assert [(r["version"], r["to"]) for r in _lines(path)] == [(1, "HALTED"), (2, "PRE_OPEN")]


def test_a_later_halt_writes_the_earlier_lost_one_first(
        failing: tuple[pathlib.Path, list[FailingFile]]) -> None:
    """An instrument halt after a lost venue halt journals both, oldest first."""
    path, files = failing
    controller = Controller(POLICY, journal=_journal(path, files))
    files[0].fail_write = errno.EIO
    controller.halt(actor="ops:alice", reason="zone down")
    files[0].fail_write = None

    controller.halt(actor="ops:alice", reason="bad prints", scope="ETH-USDT-SWAP")

    assert controller.unjournaled == []
    assert [(r["version"], r["scope"]) for r in _lines(path)] == [(1, "venue"),
                                                                  (2, "ETH-USDT-SWAP")]


def test_a_rollback_that_fails_latches_the_journal_broken(
        failing: tuple[pathlib.Path, list[FailingFile]]) -> None:
    """Half a pre-open reached the disk and cutting it off failed too: the journal latches
    broken; with the disk back, later records are still refused (never appended after the
    fragment), a halt waits unjournaled, and the restart fails safe."""
    path, files = failing
    controller = Controller(POLICY, journal=_journal(path, files, anchor=False))
    controller.halt(actor="ops:alice", reason="zone down")
    files[0].fail_write, files[0].fail_truncate = errno.EIO, True

    with pytest.raises(TransitionRefused) as refused:
        controller.pre_open(actor="ops:alice", reason="zone back")

    assert "JOURNAL_BROKEN" in str(refused.value)
    fragment = path.read_bytes()
    files[0].fail_write, files[0].fail_truncate = None, False
    journal = controller.journal
    assert isinstance(journal, FileJournal)
    assert journal.broken is not None
    with pytest.raises(JournalError, match="JOURNAL_BROKEN"):
        journal.append(_record(2, "HALTED", "PRE_OPEN", "pre_open"))
    controller.halt(actor="ops:bob", reason="bad prints", scope="ETH-USDT-SWAP")
    assert [r.scope for r in controller.unjournaled] == ["ETH-USDT-SWAP"]
    assert path.read_bytes() == fragment
    assert not fragment.endswith(b"\n")
    restarted = recover(path, POLICY, anchor=False, durability="none")
    assert restarted.phase() == "HALTED"


def test_a_record_over_the_cap_is_refused_before_anything_is_written(
        tmp_path: pathlib.Path) -> None:
    """A transition line over max_record is RECORD_TOO_LARGE and leaves the file as it was;
    snapshots (every scope's phase) are not capped."""
    path = tmp_path / "journal.jsonl"
    with FileJournal(path, durability="none", max_record=1024) as journal:
        journal.append(_record(1))
        before = path.read_bytes()
        with pytest.raises(JournalError, match="RECORD_TOO_LARGE"):
            journal.append(attrs.evolve(_record(2, "HALTED", "PRE_OPEN", "pre_open"),
                                        reason="x" * 1024))
        assert path.read_bytes() == before
        journal.snapshot({"venue": "HALTED"}, 1, actor="ops:alice", reason="x" * 2048, now=0.0)
    assert verify_journal(path, POLICY).problems == ()
    assert path.stat().st_size > 2048


def test_a_halt_whose_reason_cannot_be_encoded_is_journaled_and_recovers(
        tmp_path: pathlib.Path) -> None:
    """A lone surrogate (what sys.argv makes of invalid UTF-8) is written as its JSON escape,
    which reads back as the same text: the halt is journaled and recovery restores it, whether
    the record comes straight to the journal or through the controller."""
    path, through = tmp_path / "journal.jsonl", tmp_path / "controller.jsonl"
    with FileJournal(path, durability="none") as journal:
        journal.append(attrs.evolve(_record(1), reason="bad \udcff"))
    controller = recover(through, POLICY, create=True, durability="none")
    controller.halt(actor="ops:alice", reason="bad \udcff")

    assert b'"reason":"bad \\udcff"' in path.read_bytes()
    assert json.loads(path.read_bytes())["reason"] == "bad \udcff"
    assert controller.unjournaled == []
    for written in (path, through):
        restarted = recover(written, POLICY, durability="none")
        assert (restarted.phase(), restarted.version) == ("HALTED", 1)
        assert restarted.recovery is not None
        assert restarted.recovery.trusted


def test_a_sealed_record_keeps_its_signatures_and_exact_time_in_the_journal(
        tmp_path: pathlib.Path) -> None:
    """A signed record's policy fingerprint, visit, approvals and signature, and its float
    timestamp (which its signature covers), read back exactly from its line; it verifies."""
    path = tmp_path / "journal.jsonl"
    approval = SignedApproval("ops:bob", "venue", "pre_open", "HALTED", "PRE_OPEN", 1,
                              1671349260.123456789, "f" * 64, b"\x01" * 64)
    sealed = attrs.evolve(_record(2, "HALTED", "PRE_OPEN", "pre_open"), policy="f" * 64, visit=1,
                          approvals=(approval,), signature=b"\x02" * 64,
                          timestamp=1671349260.987654321)
    with FileJournal(path, durability="none") as journal:
        journal.append(_record(1))
        journal.append(sealed)
    with FileJournal(path, durability="none") as journal:
        assert journal.version == 2

    line = _lines(path)[1]
    assert parse_trust_fields(line) == {"policy": sealed.policy, "visit": 1,
                                        "approvals": (approval,), "signature": sealed.signature}
    assert line["timestamp"] == sealed.timestamp
    assert verify_journal(path, POLICY).problems == ()
