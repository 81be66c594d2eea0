"""Audit events obey the application's logging configuration: stdlib records, shaped by structlog."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from exchange_recovery import Controller, MemoryJournal, TransitionRecord, TransitionRefused, default_policy


class DiskFull(MemoryJournal):
    """A journal whose writes fail, as a full disk would."""

    def append(self, record: TransitionRecord) -> None:
        msg = "disk full"
        raise OSError(msg)


class Records(logging.Handler):
    """A stdlib handler that keeps every record it receives."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def records() -> Iterator[list[logging.LogRecord]]:
    """What an application's handler on the ``exchange_recovery`` logger, at INFO, receives."""
    logger = logging.getLogger("exchange_recovery")
    handler, level = Records(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)


def _restart_with_failures() -> None:
    """A halt, a pre-open, a refused trigger and a halt whose journal write fails."""
    controller = Controller(default_policy())
    controller.halt(actor="ops:alice", reason="zone down")
    controller.pre_open(actor="ops:alice", reason="zone back")
    with pytest.raises(TransitionRefused):
        controller.fire("recover", actor="ops:alice", reason="too early")
    Controller(default_policy(), journal=DiskFull()).halt(actor="ops:bob", reason="disk")


def test_every_audit_event_arrives_as_a_log_record_with_its_fields(
        records: list[logging.LogRecord]) -> None:
    """A halt, a pre-open, a refusal and a journal failure: four records, levels and fields."""
    _restart_with_failures()

    assert [(r.name, r.levelname, r.msg["event"]) for r in records] == [
        ("exchange_recovery", "INFO", "phase_changed"),
        ("exchange_recovery", "INFO", "phase_changed"),
        ("exchange_recovery", "WARNING", "transition_refused"),
        ("exchange_recovery", "CRITICAL", "journal_write_failed"),
        ("exchange_recovery", "INFO", "phase_changed"),
    ]
    halt = records[0].msg
    assert {k: halt[k] for k in ("scope", "from_phase", "to_phase", "trigger", "actor", "reason",
                                 "version")} == {
        "scope": "venue", "from_phase": "NORMAL", "to_phase": "HALTED", "trigger": "halt",
        "actor": "ops:alice", "reason": "zone down", "version": 1}
    assert records[2].msg["trigger"] == "recover"
    assert records[2].msg["code"]
    assert records[3].msg["error"] == "OSError('disk full')"


def test_the_message_is_logfmt_text(records: list[logging.LogRecord]) -> None:
    """`getMessage()` renders the fields as ``event=... key=value``, quoting where needed."""
    Controller(default_policy()).halt(actor="ops:alice", reason="zone down")

    assert records[0].getMessage() == (
        'event=phase_changed scope=venue from_phase=NORMAL to_phase=HALTED trigger=halt '
        'actor=ops:alice reason="zone down" version=1 relaxing=false')


def test_events_below_the_loggers_level_are_dropped(records: list[logging.LogRecord]) -> None:
    """At WARNING the phase changes are not even built into records; the refusal is."""
    logging.getLogger("exchange_recovery").setLevel(logging.WARNING)

    _restart_with_failures()

    assert [r.msg["event"] for r in records] == ["transition_refused", "journal_write_failed"]


def test_structlog_processor_formatter_renders_them_as_json() -> None:
    """An application's ProcessorFormatter with a JSONRenderer gets the fields, not a string."""
    lines: list[str] = []
    handler = logging.Handler()
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(processors=[
        structlog.stdlib.ProcessorFormatter.remove_processors_meta,
        structlog.processors.JSONRenderer(sort_keys=True)]))
    handler.emit = lambda record: lines.append(handler.format(record))  # type: ignore[method-assign]
    logger = logging.getLogger("exchange_recovery")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        Controller(default_policy()).halt(actor="ops:alice", reason="zone down")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)

    assert [json.loads(line) for line in lines] == [{
        "event": "phase_changed", "scope": "venue", "from_phase": "NORMAL", "to_phase": "HALTED",
        "trigger": "halt", "actor": "ops:alice", "reason": "zone down", "version": 1,
        "relaxing": False}]


def test_a_stdlib_logger_passed_as_logger_gets_the_same_records() -> None:
    """``logger=logging.getLogger(...)`` is wrapped like the default, on that logger."""
    handler = Records()
    mine = logging.getLogger("venue.audit")
    mine.addHandler(handler)
    mine.setLevel(logging.INFO)
    try:
        Controller(default_policy(), logger=mine).halt(actor="ops:alice", reason="zone down")
    finally:
        mine.removeHandler(handler)

    assert [(r.name, r.msg["event"]) for r in handler.records] == [("venue.audit", "phase_changed")]


def test_capture_logs_still_sees_every_event(records: list[logging.LogRecord]) -> None:
    """Inside capture_logs() the events are captured (with its processors run) and not logged."""
    with capture_logs(processors=[structlog.processors.add_log_level]) as logs:
        _restart_with_failures()

    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("phase_changed", "info"), ("phase_changed", "info"), ("transition_refused", "warning"),
        ("journal_write_failed", "critical"), ("phase_changed", "info")]
    assert records == []


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=60, check=True)


_SCRIPT = """
    from exchange_recovery import Controller, MemoryJournal, default_policy

    class DiskFull(MemoryJournal):
        def append(self, record):
            raise OSError("disk full")

    controller = Controller(default_policy())
    controller.halt(actor="ops:alice", reason="zone down")
    controller.pre_open(actor="ops:alice", reason="zone back")
    Controller(default_policy(), journal=DiskFull()).halt(actor="ops:bob", reason="disk")
"""


def test_nothing_is_printed_until_the_application_configures_logging() -> None:
    """Not even the critical journal failure: stdlib's last-resort handler stays unused."""
    done = _run(_SCRIPT)

    assert (done.stdout, done.stderr) == ("", "")


def test_transitions_chatter_does_not_drown_the_audit_events() -> None:
    """With the root logger at INFO, every line is ours: transitions' INFO lines stay out."""
    done = _run("import logging; logging.basicConfig(level=logging.INFO, format='%(name)s %(message)s')"
                + _SCRIPT.replace("\n    ", "\n"))

    lines = done.stderr.splitlines()
    assert lines
    assert all(line.startswith("exchange_recovery event=") for line in lines), lines


def test_an_application_that_asks_for_transitions_lines_gets_them() -> None:
    """A level the application set on ``transitions`` before importing us is left alone."""
    done = _run("import logging; logging.basicConfig(level=logging.INFO, format='%(name)s %(message)s');"
                " logging.getLogger('transitions').setLevel(logging.INFO)"
                + _SCRIPT.replace("\n    ", "\n"))

    assert any(line.startswith("transitions.core ") for line in done.stderr.splitlines())
