"""A journal that cannot be silently forged, rolled back or removed (issue #11, item 3).

Each attack is played against a real journal file, its anchor and a `JournalKey`, and each
must end in the fail-safe phase with its own integrity code, or in a refused write.
"""

from __future__ import annotations

import hmac
import json
import os
import pathlib
import shutil
import tempfile
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from exchange_recovery import (
    VENUE,
    ConfigurationError,
    Controller,
    FileJournal,
    IntegrityCode,
    JournalError,
    RefusalCode,
    TransitionRefused,
    default_policy,
    recover,
    verify_journal,
)
from exchange_recovery._journal.anchor import Anchor, read_anchor, write_anchor
from exchange_recovery._journal.format import encode
from exchange_recovery._journal.keys import JournalKey

POLICY = default_policy()
BTC = "BTC-USDT-SWAP"
FAIL_SAFE = POLICY.fail_safe


@pytest.fixture
def key(tmp_path: pathlib.Path) -> JournalKey:
    return JournalKey.generate(tmp_path / "journal.key")


def _recover(path: pathlib.Path, key: JournalKey | None, **options: Any) -> Controller:
    return recover(path, POLICY, key=key, durability="none", **options)


def _anchor_of(path: pathlib.Path) -> pathlib.Path:
    return path.with_name(f"{path.name}.anchor")


def _halted_after_a_full_open(path: pathlib.Path, key: JournalKey | None) -> Controller:
    """A journal whose venue went NORMAL -> HALTED -> PRE_OPEN -> FULL_OPEN -> HALTED (v4)."""
    controller = _recover(path, key, create=True)
    controller.halt(actor="ops:alice", reason="zone down")
    controller.pre_open(actor="ops:alice", reason="zone back")
    controller.open(actor="ops:alice", reason="books rebuilt")
    controller.halt(actor="ops:alice", reason="zone down again")
    return controller


def _report(controller: Controller) -> Any:
    assert controller.recovery is not None
    return controller.recovery


def _assert_fail_safe(controller: Controller, code: IntegrityCode) -> None:
    report = _report(controller)
    assert not report.trusted
    assert report.problems[0].code is code, report.problems
    assert set(controller.gate.phases.values()) == {FAIL_SAFE}
    assert controller.phase() == FAIL_SAFE


def _forge(path: pathlib.Path, steps: list[tuple[str, str, str]], key: JournalKey | None) -> None:
    """Append transitions of the venue after the journal's last record, chained with freshly
    computed hashes (and MACs under `key`), and move the anchor to the last one."""
    last = json.loads(path.read_bytes().splitlines()[-1])
    prev, version = last["hash"], last["version"]
    with open(path, "ab") as out:
        for trigger, source, dest in steps:
            version += 1
            fields = {"kind": "transition", "version": version,
                      "time": "2022-12-18T10:51:00.000000Z", "scope": VENUE, "from": source,
                      "to": dest, "trigger": trigger, "actor": "ops:mallory", "reason": "forged",
                      "relaxing": POLICY.is_relaxing(source, dest)}
            line, prev = encode(fields, prev, key)
            out.write(line)
    write_anchor(_anchor_of(path), Anchor(version, prev), key, durable=False)


REOPEN = [("pre_open", "HALTED", "PRE_OPEN"), ("open", "PRE_OPEN", "FULL_OPEN"),
          ("normalize", "FULL_OPEN", "NORMAL")]


def test_records_forged_with_recomputed_hashes_restore_normal_only_without_a_key(
        tmp_path: pathlib.Path) -> None:
    """The attack as it worked before: an unkeyed journal cannot tell a consistent forgery
    (hashes and anchor recomputed) from the truth; the report says it is unkeyed."""
    path = tmp_path / "journal.jsonl"
    _halted_after_a_full_open(path, None)

    _forge(path, REOPEN, None)
    forged = _recover(path, None)

    assert (forged.phase(), _report(forged).trusted, _report(forged).keyed) == ("NORMAL", True,
                                                                                False)


def test_records_forged_with_recomputed_hashes_are_detected_with_the_key(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """Forged records chained with valid SHA-256s but no MAC (or another key's MAC) are
    MAC_MISMATCH at the first forged line; the venue stays halted."""
    for forger in (None, JournalKey(os.urandom(32).hex().encode())):
        path = tmp_path / f"journal-{forger is None}.jsonl"
        _halted_after_a_full_open(path, key)

        _forge(path, REOPEN, forger)
        with capture_logs() as logs:
            controller = _recover(path, key)

        _assert_fail_safe(controller, IntegrityCode.MAC_MISMATCH)
        assert _report(controller).problems[0].line == 5
        assert _report(controller).keyed
        assert [e["code"] for e in logs if e["log_level"] == "critical"] == ["MAC_MISMATCH"]


def test_a_keyed_journal_verified_without_its_key_or_with_another_does_not_verify(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """Without a key a keyed journal is KEY_MISSING; with another key it is MAC_MISMATCH."""
    path = tmp_path / "journal.jsonl"
    _halted_after_a_full_open(path, key).journal.close()  # type: ignore[union-attr]
    other = JournalKey(b"another key of at least thirty-two bytes")

    assert verify_journal(path, POLICY).codes == {IntegrityCode.KEY_MISSING}
    assert verify_journal(path, POLICY, key=other).codes == {IntegrityCode.MAC_MISMATCH}
    assert verify_journal(path, POLICY, key=key).trusted


def test_a_journal_cut_at_a_record_boundary_is_rolled_back_and_restarts_fail_safe(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """Cutting the last line (the second halt) leaves a valid chain ending in FULL_OPEN: the
    anchor still names the halt, so it is ROLLED_BACK and every scope restarts HALTED."""
    path = tmp_path / "journal.jsonl"
    _halted_after_a_full_open(path, key).journal.close()  # type: ignore[union-attr]
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:-1]))

    controller = _recover(path, key)

    _assert_fail_safe(controller, IntegrityCode.ROLLED_BACK)
    assert controller.version == 5  # above every version the anchor has seen
    assert _report(controller).moved_to is not None
    assert _recover(path, key).recovery.trusted  # type: ignore[union-attr]


def test_a_deleted_journal_restarts_fail_safe_even_with_create(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """A journal deleted while its anchor remains is JOURNAL_MISSING: create=True does not
    turn it into a first start."""
    path = tmp_path / "journal.jsonl"
    _halted_after_a_full_open(path, key).journal.close()  # type: ignore[union-attr]
    path.unlink()

    controller = _recover(path, key, create=True)

    _assert_fail_safe(controller, IntegrityCode.JOURNAL_MISSING)
    assert dict(controller.gate.phases) == {VENUE: FAIL_SAFE}
    assert controller.version == 5
    assert _report(controller).moved_to is None


def test_an_emptied_journal_restarts_fail_safe(tmp_path: pathlib.Path, key: JournalKey) -> None:
    """An empty journal whose anchor names records is JOURNAL_EMPTIED; the empty file is kept."""
    path = tmp_path / "journal.jsonl"
    _halted_after_a_full_open(path, key).journal.close()  # type: ignore[union-attr]
    path.write_bytes(b"")

    controller = _recover(path, key)

    _assert_fail_safe(controller, IntegrityCode.JOURNAL_EMPTIED)
    assert _report(controller).moved_to is not None


def test_a_journal_replaced_by_another_restarts_fail_safe(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """Another valid journal under the same key (its records differ) does not end with the
    anchored record: ANCHOR_MISMATCH."""
    path, other = tmp_path / "journal.jsonl", tmp_path / "other.jsonl"
    _halted_after_a_full_open(path, key).journal.close()  # type: ignore[union-attr]
    replacement = _recover(other, key, create=True)
    for trigger in ("degrade", "halt", "pre_open", "open", "normalize"):
        replacement.fire(trigger, actor="ops:mallory", reason="other history")
    shutil.copyfile(other, path)

    controller = _recover(path, key)

    _assert_fail_safe(controller, IntegrityCode.ANCHOR_MISMATCH)


def test_a_deleted_anchor_restarts_fail_safe(tmp_path: pathlib.Path, key: JournalKey) -> None:
    """Deleting the anchor to hide a rollback is ANCHOR_MISSING, not a fresh trust."""
    path = tmp_path / "journal.jsonl"
    _halted_after_a_full_open(path, key).journal.close()  # type: ignore[union-attr]
    _anchor_of(path).unlink()

    controller = _recover(path, key)

    _assert_fail_safe(controller, IntegrityCode.ANCHOR_MISSING)
    journal = controller.journal
    assert isinstance(journal, FileJournal)
    assert read_anchor(_anchor_of(path), key) == Anchor(controller.version, journal.head)


def test_a_missing_journal_is_an_error_unless_create_is_passed(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """No journal and no anchor: recover() raises JournalError naming the path; create=True
    starts in the initial phase and writes the anchor of an empty journal."""
    path = tmp_path / "journal.jsonl"

    with pytest.raises(JournalError, match=f"{path}.*create=True"):
        _recover(path, key)
    with pytest.raises(JournalError, match="create=True"):
        verify_journal(path, POLICY, key=key)
    assert not path.exists()
    controller = _recover(path, key, create=True)

    assert (controller.phase(), _report(controller).trusted) == (POLICY.initial, True)
    assert read_anchor(_anchor_of(path), key) == Anchor(0, "0" * 64)
    assert _recover(path, key).recovery.trusted  # type: ignore[union-attr]


def test_an_empty_journal_without_an_anchor_is_no_journal(tmp_path: pathlib.Path) -> None:
    """An empty file and no anchor hold no evidence of a first start: create=True is needed."""
    path = tmp_path / "journal.jsonl"
    path.write_bytes(b"")
    with pytest.raises(JournalError, match="create=True"):
        _recover(path, None)


def _written(tmp_path: pathlib.Path, key: JournalKey) -> tuple[pathlib.Path, Controller, bytes]:
    """A running controller that halted and pre-opened, and the journal's bytes after the halt."""
    path = tmp_path / "journal.jsonl"
    controller = _recover(path, key, create=True)
    controller.halt(actor="ops:alice", reason="zone down")
    after_halt = path.read_bytes()
    controller.pre_open(actor="ops:alice", reason="zone back")
    return path, controller, after_halt


def _refused_then_unjournaled(controller: Controller, code: IntegrityCode) -> None:
    """The next relaxing transition is refused (its write fails with `code`); a halt still
    happens and waits, unjournaled."""
    with pytest.raises(TransitionRefused) as refused:
        controller.open(actor="ops:alice", reason="books rebuilt")
    assert refused.value.code is RefusalCode.JOURNAL_FAILED
    assert code.value in str(refused.value)
    assert controller.phase() == "PRE_OPEN"
    controller.halt(actor="ops:alice", reason="journal gone")
    assert controller.phase() == FAIL_SAFE
    assert [r.trigger for r in controller.unjournaled] == ["halt"]


def test_a_journal_replaced_while_running_refuses_the_next_write(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """Another file renamed over the journal (here: its copy from before the pre-open) is
    JOURNAL_REPLACED before anything is written; the restart sees the rollback."""
    path, controller, after_halt = _written(tmp_path, key)
    copy = tmp_path / "copy.jsonl"
    copy.write_bytes(after_halt)
    os.replace(copy, path)

    _refused_then_unjournaled(controller, IntegrityCode.JOURNAL_REPLACED)

    assert path.read_bytes() == after_halt
    _assert_fail_safe(_recover(path, key), IntegrityCode.ROLLED_BACK)


def test_a_journal_unlinked_while_running_refuses_the_next_write(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """A deleted journal is JOURNAL_UNLINKED at the next write (not written into the void);
    the restart sees it missing."""
    path, controller, _ = _written(tmp_path, key)
    path.unlink()

    _refused_then_unjournaled(controller, IntegrityCode.JOURNAL_UNLINKED)

    assert not path.exists()
    _assert_fail_safe(_recover(path, key), IntegrityCode.JOURNAL_MISSING)


def test_a_journal_truncated_while_running_refuses_the_next_write(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """A journal cut behind the process's back is JOURNAL_RESIZED; the restart sees the
    rollback."""
    path, controller, after_halt = _written(tmp_path, key)
    os.truncate(path, len(after_halt))

    _refused_then_unjournaled(controller, IntegrityCode.JOURNAL_RESIZED)

    _assert_fail_safe(_recover(path, key), IntegrityCode.ROLLED_BACK)


def test_a_file_journal_refuses_to_append_where_its_anchor_disowns_the_file(
        tmp_path: pathlib.Path, key: JournalKey) -> None:
    """Opening FileJournal directly on a rolled-back journal raises instead of re-anchoring
    it; so does opening a keyed journal without its key."""
    path = tmp_path / "journal.jsonl"
    _halted_after_a_full_open(path, key).journal.close()  # type: ignore[union-attr]
    whole = path.read_bytes()
    path.write_bytes(b"".join(whole.splitlines(keepends=True)[:-1]))

    with pytest.raises(JournalError, match="ROLLED_BACK"):
        FileJournal(path, key=key)
    path.write_bytes(whole)
    with pytest.raises(JournalError, match="KEY_MISSING"):
        FileJournal(path)
    assert FileJournal(path, key=key).version == 4


@pytest.mark.parametrize(("relaxing", "kept"), [(True, False), (False, True)])
def test_a_record_written_but_never_anchored_is_dropped_only_if_relaxing(
        tmp_path: pathlib.Path, key: JournalKey, relaxing: bool, kept: bool) -> None:
    """A crash between the record's fsync and the anchor's rename: a relaxing record (never
    published) is cut off, a halt (in effect) is kept; both trusted, anchor brought up."""
    path = tmp_path / "journal.jsonl"
    controller = _recover(path, key, create=True)
    controller.halt(actor="ops:alice", reason="zone down")
    if not relaxing:
        controller.pre_open(actor="ops:alice", reason="zone back")
    anchored = _anchor_of(path).read_bytes()
    controller.fire("pre_open" if relaxing else "halt", actor="ops:alice", reason="in flight")
    _anchor_of(path).write_bytes(anchored)

    recovered = _recover(path, key)

    report = _report(recovered)
    assert report.trusted
    assert report.codes == {IntegrityCode.UNANCHORED_RECORD}
    assert recovered.phase() == "HALTED"
    assert recovered.version == (3 if kept else 1)
    assert read_anchor(_anchor_of(path), key) == Anchor(recovered.version, report.head)
    assert _recover(path, key).recovery.codes == frozenset()  # type: ignore[union-attr]


def test_a_journal_key_file_open_to_others_or_short_is_refused(tmp_path: pathlib.Path) -> None:
    """Key files must be owner-only (0600) and hold at least 32 bytes; never overwritten."""
    loose = tmp_path / "loose.key"
    loose.write_bytes(os.urandom(16).hex().encode())
    loose.chmod(0o640)
    with pytest.raises(ConfigurationError, match="group or others"):
        JournalKey.from_file(loose)
    loose.chmod(0o600)
    loose.write_bytes(b"short")
    with pytest.raises(ConfigurationError, match="at least 32"):
        JournalKey.from_file(loose)
    generated = JournalKey.generate(tmp_path / "new.key")
    assert (tmp_path / "new.key").stat().st_mode & 0o777 == 0o600
    assert JournalKey.from_file(tmp_path / "new.key") == generated
    with pytest.raises(ConfigurationError, match="already exists"):
        JournalKey.generate(tmp_path / "new.key")
    assert "fingerprint" in repr(generated)
    assert generated.secret.decode() not in repr(generated)


def test_a_journal_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """from_env reads the variable's bytes; unset or short is a configuration error."""
    monkeypatch.setenv("JOURNAL_KEY", "k" * 40)
    assert JournalKey.from_env("JOURNAL_KEY") == JournalKey(b"k" * 40)
    with pytest.raises(ConfigurationError, match="not set"):
        JournalKey.from_env("NO_SUCH_JOURNAL_KEY")
    monkeypatch.setenv("JOURNAL_KEY", "short")
    with pytest.raises(ConfigurationError, match="at least 32"):
        JournalKey.from_env("JOURNAL_KEY")


@given(secret=st.binary(min_size=32, max_size=200).filter(lambda b: len(b.rstrip()) >= 32),
       body=st.binary(max_size=500))
def test_the_journal_mac_is_hmac_sha256(secret: bytes, body: bytes) -> None:
    """The precomputed-pad MAC equals the standard library's HMAC-SHA256, long keys included."""
    assert JournalKey(secret).mac(body) == hmac.digest(secret, body, "sha256").hex()


# -- the property: tampering never yields a looser state ----------------------------------------

SCOPES = (VENUE, BTC)
TAMPERING = ("none", "cut", "flip", "drop_anchor", "swap")


def _run(path: pathlib.Path, key: JournalKey, steps: list[tuple[str, int]],
         actor: str) -> Controller:
    controller = _recover(path, key, create=True)
    for scope, pick in steps:
        legal = controller.triggers(scope) if scope in controller.gate.phases else (
            tuple(t.trigger for t in POLICY.transitions_from(POLICY.normal)))
        controller.fire(legal[pick % len(legal)], actor=actor, reason="step", scope=scope)
    controller.journal.close()  # type: ignore[union-attr]
    return controller


@given(steps=st.lists(st.tuples(st.sampled_from(SCOPES), st.integers(0, 5)), max_size=12),
       other=st.lists(st.tuples(st.sampled_from(SCOPES), st.integers(0, 5)), max_size=6),
       tampering=st.sampled_from(TAMPERING), where=st.integers(0, 1 << 30),
       lines=st.integers(1, 5))
def test_tampering_with_a_keyed_journal_never_yields_a_looser_state(
        steps: list[tuple[str, int]], other: list[tuple[str, int]], tampering: str, where: int,
        lines: int) -> None:
    """Property 9: after legal transitions and one tampering (cut lines, flip a byte, drop the
    anchor, swap in another journal), recover with the key gives exactly the last anchored
    state, or starts fail-safe, or refuses to start — never anything looser."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "journal.jsonl"
        key = JournalKey(b"a journal key of at least thirty-two bytes")
        live = _run(path, key, steps, "ops:prop")
        data = path.read_bytes()
        if tampering == "cut" and data:
            kept = data.splitlines(keepends=True)
            path.write_bytes(b"".join(kept[:max(0, len(kept) - lines)]))
        elif tampering == "flip" and data:
            at = where % len(data)
            path.write_bytes(data[:at] + bytes([data[at] ^ (1 << where % 7)]) + data[at + 1:])
        elif tampering == "drop_anchor":
            _anchor_of(path).unlink()
        elif tampering == "swap":
            _run(pathlib.Path(tmp) / "other.jsonl", key, other, "ops:other")
            shutil.copyfile(pathlib.Path(tmp) / "other.jsonl", path)

        try:
            recovered = _recover(path, key)
        except JournalError:  # nothing recorded and no anchor: no start at all without create
            assert tampering == "drop_anchor"
            assert not data
            return

        report = _report(recovered)
        phases, before = dict(recovered.gate.phases), dict(live.gate.phases)
        exact = (phases, recovered.version) == (before, live.version)
        fail_safe = (not report.trusted and recovered.phase() == FAIL_SAFE
                     and set(phases.values()) == {FAIL_SAFE})
        kept = exact or _one_tighter(report, phases, before, live.version)
        assert (report.trusted and kept) or fail_safe, (tampering, report.problems)
        assert report.trusted or tampering != "none"
        recovered.journal.close()  # type: ignore[union-attr]


def _one_tighter(report: Any, phases: dict[str, str], before: dict[str, str],
                 version: int) -> bool:
    """Whether recovery kept one tightening record after the last anchored state: what a crash
    between a halt's write and its anchor leaves. (A journal swapped in under the same key
    whose first record follows the anchor of an empty journal looks exactly like that; it is
    kept only if it tightens.)"""
    changed = {s for s in phases.keys() | before.keys()
               if phases.get(s, POLICY.normal) != before.get(s, POLICY.normal)}
    return (report.codes == {IntegrityCode.UNANCHORED_RECORD} and report.version == version + 1
            and len(changed) <= 1
            and not any(POLICY.is_relaxing(before.get(s, POLICY.normal), phases[s])
                        for s in changed))


def test_a_journal_opened_by_a_relative_path_survives_a_change_of_directory(
        tmp_path: pathlib.Path, key: JournalKey, monkeypatch: pytest.MonkeyPatch) -> None:
    """The path check and the anchor use what the path named at open, not the current
    directory: a chdir is not a replaced journal."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    monkeypatch.chdir(tmp_path / "a")
    controller = recover("journal.jsonl", POLICY, key=key, create=True, durability="none")
    monkeypatch.chdir(tmp_path / "b")

    controller.halt(actor="ops:alice", reason="zone down")

    assert controller.unjournaled == []
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == []
    report = verify_journal(tmp_path / "a" / "journal.jsonl", POLICY, key=key)
    assert (report.trusted, report.version) == (True, 1)
