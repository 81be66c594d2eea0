"""Journal notes: durable data that is not a phase change, chained, keyed and anchored."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import pytest

from exchange_recovery import (
    VENUE,
    ConfigurationError,
    Controller,
    IntegrityCode,
    JournalKey,
    JournalNote,
    MemoryJournal,
    default_policy,
    recover,
    verify_journal,
)
from exchange_recovery._journal.format import encode
from exchange_recovery._journal.replay import compact_journal

POLICY = default_policy()
KEY = JournalKey(b"k" * 32)


def _controller(path: pathlib.Path, **options: Any) -> Controller:
    return recover(path, POLICY, durability="none", key=KEY, **options)


def _close(controller: Controller) -> None:
    controller.journal.close()  # type: ignore[union-attr]


def _story(path: pathlib.Path) -> None:
    controller = _controller(path, create=True)
    controller.halt(actor="ops:lead", reason="zone down")
    controller.note("marks", VENUE, {"BTC-USDT": "16800.5", "ETH-USDT": 1200.25}, actor="ops:lead")
    controller.fire("pre_open", actor="ops:lead", reason="zone back")
    controller.note("deadline", "BTC-USDT", {"due": 1234.5, "then": "HALT"}, actor="ops:lead")
    _close(controller)


def _note_unanchored(path: pathlib.Path) -> None:
    """The story, then one more note whose anchor never moved: the kill came after (or in
    the middle of) the line's write and before the anchor's."""
    _story(path)
    anchor = path.with_name(f"{path.name}.anchor")
    before = anchor.read_bytes()
    controller = _controller(path)
    controller.note("deadline", "BTC-USDT", {"due": 99}, actor="ops:lead")
    _close(controller)
    anchor.write_bytes(before)


def test_notes_survive_a_restart_and_do_not_advance_the_version(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "journal.jsonl"
    _story(path)

    restarted = _controller(path)

    assert restarted.recovery is not None
    assert restarted.recovery.trusted
    assert restarted.version == 2  # two transitions; the notes carry the version they follow
    marks = restarted.last_note("marks")
    assert marks is not None
    assert marks.version == 1
    assert marks.data == {"BTC-USDT": "16800.5", "ETH-USDT": 1200.25}
    assert restarted.notes("deadline")["BTC-USDT"].data == {"due": 1234.5, "then": "HALT"}
    restarted.fire("open", actor="ops:lead", reason="go")  # the chain goes on after a note
    _close(restarted)
    assert verify_journal(path, POLICY, key=KEY).problems == ()


def test_the_latest_note_per_topic_and_scope_wins(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "journal.jsonl"
    controller = _controller(path, create=True)
    for due in (1, 2, 3):
        controller.note("deadline", VENUE, {"due": due}, actor="ops:lead")
    _close(controller)
    note = _controller(path).last_note("deadline")
    assert note is not None
    assert note.data == {"due": 3}


def test_a_changed_note_makes_the_journal_untrusted(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "journal.jsonl"
    _story(path)
    path.write_bytes(path.read_bytes().replace(b'"16800.5"', b'"99999.9"'))

    restarted = _controller(path)

    assert restarted.recovery is not None
    assert not restarted.recovery.trusted
    assert restarted.phase() == POLICY.fail_safe
    assert restarted.last_note("marks") is None  # nothing from an untrusted journal is kept


def test_a_forged_note_without_the_key_is_refused(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "journal.jsonl"
    _story(path)
    lines = path.read_bytes().splitlines(keepends=True)
    body = json.loads(lines[1])
    body["note"] = {"BTC-USDT": "1"}  # a consistent hash chain, but no valid MAC
    fields = {k: v for k, v in body.items() if k not in ("hash", "mac", "prev", "format")}
    line, _ = encode(fields, body["prev"])
    path.write_bytes(lines[0] + line + b"".join(lines[2:]))

    restarted = _controller(path)

    assert restarted.recovery is not None
    assert not restarted.recovery.trusted


@pytest.mark.parametrize(("torn", "code"), [(False, IntegrityCode.UNANCHORED_RECORD),
                                             (True, IntegrityCode.TORN_TAIL)])
def test_a_note_whose_write_never_returned_is_dropped_and_the_journal_stays_trusted(
        tmp_path: pathlib.Path, torn: bool, code: IntegrityCode) -> None:
    """Killed after the note's line and before its anchor, or in the middle of the line: the
    note was never acknowledged, so it is dropped; the one before it stands, and so does the
    phase (a note changes none)."""
    path = tmp_path / "journal.jsonl"
    _note_unanchored(path)
    if torn:
        data = path.read_bytes()
        path.write_bytes(data[:data.rindex(b'"kind":"note",') + 20])

    restarted = _controller(path)

    report = restarted.recovery
    assert report is not None
    assert report.trusted
    assert report.codes == {code}
    note = restarted.last_note("deadline", "BTC-USDT")
    assert note is not None
    assert note.data == {"due": 1234.5, "then": "HALT"}
    assert restarted.phase() == "PRE_OPEN"


def test_compaction_keeps_the_latest_notes(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "journal.jsonl"
    _story(path)
    compact_journal(path, POLICY, key=KEY)

    restarted = _controller(path)

    assert restarted.recovery is not None
    assert restarted.recovery.trusted
    marks = restarted.last_note("marks")
    assert marks is not None
    assert marks.data["BTC-USDT"] == "16800.5"
    assert restarted.last_note("deadline", "BTC-USDT") is not None


def test_a_memory_journal_keeps_notes_in_order() -> None:
    journal = MemoryJournal()
    controller = Controller(POLICY, journal=journal)
    controller.note("marks", VENUE, {"a": 1}, actor="ops")
    controller.note("marks", VENUE, {"a": 2}, actor="ops")
    assert [n.data for n in journal.notes] == [{"a": 1}, {"a": 2}]


@pytest.mark.parametrize(("topic", "data", "field"), [
    ("Marks", {}, "topic"),
    ("1x", {}, "topic"),
    ("x" * 65, {}, "topic"),
    (None, {}, "topic"),
    ("marks", [1, 2], "data"),
    ("marks", {"p": float("nan")}, "data"),
    ("marks", {1: "x"}, "data"),
    ("marks", {"p": object()}, "data"),
    ("marks", {"p": "x" * 60_000}, "data"),
    ("marks", {"p": [[[[[[[[[[1]]]]]]]]]]}, "data"),
])
def test_a_bad_note_is_refused_naming_the_field_and_nothing_is_kept(
        topic: object, data: object, field: str) -> None:
    journal = MemoryJournal()
    controller = Controller(POLICY, journal=journal)
    with pytest.raises(ConfigurationError, match=field):
        controller.note(topic, VENUE, data, actor="ops")  # type: ignore[arg-type]
    assert journal.notes == ()
    assert controller.notes("marks") == {}


def test_a_note_needs_a_journal_that_stores_notes() -> None:
    with pytest.raises(ConfigurationError, match="journal"):
        Controller(POLICY).note("marks", VENUE, {}, actor="ops")


def test_a_note_is_immutable_once_written() -> None:
    controller = Controller(POLICY, journal=MemoryJournal())
    note = controller.note("marks", VENUE, {"p": [1]}, actor="ops")
    note.data["p"].append(2)
    assert note.data == {"p": [1]}
    assert isinstance(note, JournalNote)
