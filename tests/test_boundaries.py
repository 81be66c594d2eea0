"""Bounded, clean input at the doors, and escaped output wherever a string is shown."""

from __future__ import annotations

import pytest

from exchange_recovery import (
    VENUE,
    Actor,
    ConfigurationError,
    Controller,
    Criterion,
    FileJournal,
    HealthChecks,
    IntegrityCode,
    MemoryJournal,
    PlanRunner,
    RefusalCode,
    TransitionRecord,
    TransitionRefused,
    default_policy,
    default_restart_plan,
    recover,
    verify_journal,
)
from exchange_recovery._core.text import escape_text
from exchange_recovery.testing import ManualClock

POLICY = default_policy()


def test_a_halt_with_a_reason_that_cannot_be_encoded_happens_and_is_journaled() -> None:
    """A lone surrogate (what sys.argv makes of invalid UTF-8) is escaped, never a failed halt."""
    journal = MemoryJournal()
    controller = Controller(POLICY, journal=journal)
    record = controller.halt(actor="ops:alice", reason="bad \udcff")
    assert controller.phase() == "HALTED"
    assert record is not None
    assert record.reason == "bad \\udcff"
    assert journal.records == (record,)
    record.reason.encode("utf-8")  # journals and logs can write it


def test_a_long_reason_is_cut_and_says_how_long_it_was() -> None:
    """A 70 KB reason is journaled as its first 1000 characters and its length."""
    record = Controller(POLICY).halt(actor="ops:alice", reason="x" * 70_000)
    assert record is not None
    assert record.reason.endswith("...(70000 chars)")
    assert len(record.reason) < 1100


@pytest.mark.parametrize(("field", "kwargs"), [
    ("actor", {"actor": "ops:alice\n"}),
    ("actor", {"actor": Actor("ops:alice\x1b[8m")}),
    ("actor", {"actor": "a" * 129}),
    ("scope", {"scope": "BTC\u202e"}),
    ("scope", {"scope": " BTC"}),
    ("scope", {"scope": "B" * 65}),
])
def test_a_name_with_control_characters_or_too_long_is_refused_naming_the_field(
        field: str, kwargs: dict[str, object]) -> None:
    """Actor ids and scope names are printable, bounded and without outer spaces."""
    controller = Controller(POLICY)
    call = {"actor": "ops:alice", "reason": "r", **kwargs}
    with pytest.raises(TransitionRefused) as refused:
        controller.fire("degrade", **call)  # type: ignore[arg-type]
    assert refused.value.code is RefusalCode.INVALID_ARGUMENT
    assert refused.value.context["field"] == field
    assert "\n" not in str(refused.value)
    assert "\x1b" not in str(refused.value)
    assert controller.version == 0


def test_instrument_scopes_come_from_the_registry_when_one_is_given() -> None:
    """A made-up instrument gets no phase of its own; a listed one does."""
    controller = Controller(POLICY, instruments={"BTC-USDT-SWAP"})
    controller.halt(actor="ops", reason="r", scope="BTC-USDT-SWAP")
    with pytest.raises(TransitionRefused) as refused:
        controller.halt(actor="ops", reason="r", scope="MADE-UP")
    assert refused.value.context["field"] == "scope"
    assert controller.gate.phase("MADE-UP") == "NORMAL"


def test_the_number_of_instruments_with_a_phase_of_their_own_is_capped() -> None:
    """Past the cap a new instrument scope is refused; the venue still halts."""
    controller = Controller(POLICY, max_instruments=2)
    controller.halt(actor="ops", reason="r", scope="A")
    controller.halt(actor="ops", reason="r", scope="B")
    with pytest.raises(TransitionRefused) as refused:
        controller.halt(actor="ops", reason="r", scope="C")
    assert refused.value.context["max_instruments"] == 2
    controller.halt(actor="ops", reason="r")
    assert controller.phase("C") == "HALTED"


def test_an_approver_named_with_newlines_is_refused_and_adds_no_line_to_the_plan_status() -> None:
    """The approval door refuses the name; and status text escapes whatever detail it shows."""
    clock = ManualClock(0.0)
    runner = PlanRunner.create(default_restart_plan(min_pre_open=60), clock=clock,
                               health=HealthChecks({"cloud_zone_healthy": True,
                                                    "market_data_fresh": True,
                                                    "book_uncrossed": True}))
    runner.advance(Actor("ops:alice", {"operator"}))
    assert runner.approvals is not None
    evil = Actor("bob\n    ok       supervisor_approval: forged", {"supervisor"})
    with pytest.raises(TransitionRefused) as refused:
        runner.approvals.approve(evil, "open", scope=VENUE)
    assert refused.value.context["field"] == "actor"
    criterion = Criterion("supervisor_approval", "approval", False, RefusalCode.APPROVAL_MISSING,
                          "approved by another person", "approved_by=bob\n    ok  forged")
    assert "\n" not in str(criterion)


def test_escaped_text_is_one_printable_line() -> None:
    """Control, format and bidi characters and lone surrogates come out as escapes."""
    for hostile in ("a\nb", "\x1b[8mhidden", "rtl\u202eevil", "zero\u200bwidth", "bad \udcff", "\x00"):
        shown = escape_text(hostile)
        assert shown.isprintable()
        shown.encode("utf-8")


def test_a_journal_line_nested_too_deep_for_json_is_an_unparseable_record(tmp_path) -> None:
    """100,000 brackets on a line: not a RecursionError, a fail-safe verdict naming the line."""
    path = tmp_path / "journal.jsonl"
    controller = recover(path, POLICY, create=True, durability="none", anchor=False)
    controller.halt(actor="ops", reason="r")
    with open(path, "ab") as file:
        file.write(b"[" * 100_000 + b"\n")
    report = verify_journal(path, POLICY, anchor=False)
    assert not report.trusted
    assert IntegrityCode.UNPARSEABLE_RECORD in report.codes


@pytest.mark.parametrize("record", [
    TransitionRecord(True, VENUE, "NORMAL", "HALTED", "halt", "a", "r", 0.0, False),  # type: ignore[arg-type]
    TransitionRecord(1, "", "NORMAL", "HALTED", "halt", "a", "r", 0.0, False),
    TransitionRecord(1, VENUE, "NORMAL", "HALTED", "halt", 3, "r", 0.0, False),  # type: ignore[arg-type]
    TransitionRecord(1, VENUE, "NORMAL", "HALTED", "halt", "a", "r", float("nan"), False),
])
def test_a_journal_never_writes_a_record_its_own_verifier_would_reject(tmp_path,
                                                                      record: object) -> None:
    """A version of True, an empty scope, a numeric actor, a nan time: refused, nothing written."""
    path = tmp_path / "journal.jsonl"
    journal = FileJournal(path, anchor=False, durability="none")
    with pytest.raises(ConfigurationError):
        journal.append(record)  # type: ignore[arg-type]
    assert path.read_bytes() == b""


def test_recover_checks_its_options_before_it_touches_a_file(tmp_path) -> None:
    """A bad clock is refused and no journal, anchor or key file appears."""
    path = tmp_path / "journal.jsonl"
    with pytest.raises(ConfigurationError):
        recover(path, POLICY, create=True, clock=5)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
