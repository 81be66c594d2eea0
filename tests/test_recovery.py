"""Recovery from a journal file: replay, tamper detection, fail-safe restart, compaction."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys
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
    IntegrityCode,
    JournalError,
    OrderType,
    Reason,
    RecoveryReport,
    Request,
    compact_journal,
    default_policy,
    recover,
    verify_journal,
)
from exchange_recovery._cli.demo import run as demo_run
from exchange_recovery._journal.format import encode, snapshot_fields

POLICY = default_policy()
BTC = "BTC-USDT-SWAP"
EXAMPLE = pathlib.Path(__file__).parent.parent / "examples" / "okx_2022_restart.py"
STORY = (("degrade", VENUE), ("halt", VENUE), ("pre_open", VENUE), ("open", VENUE),
         ("halt", BTC), ("normalize", VENUE))  # ends: venue NORMAL, BTC HALTED, version 6


def _recover(path: pathlib.Path, **options: Any) -> Controller:
    return recover(path, POLICY, durability="none", **options)


def _write_story(path: pathlib.Path, story: tuple[tuple[str, str], ...] = STORY) -> None:
    controller = _recover(path, create=True)
    for trigger, scope in story:
        controller.fire(trigger, actor="ops:lead", reason=f"story {trigger}", scope=scope)


def _fire_unanchored(path: pathlib.Path, trigger: str, scope: str = VENUE) -> None:
    """Recover `path` and fire one transition, then put its anchor back: as if the process
    died after the record's fsync and before the anchor's rename."""
    anchor = path.with_name(f"{path.name}.anchor")
    before = anchor.read_bytes()
    _recover(path).fire(trigger, actor="ops:lead", reason=f"story {trigger}", scope=scope)
    anchor.write_bytes(before)


def _records(path: pathlib.Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_bytes().splitlines()]


def _resign(path: pathlib.Path, records: list[dict[str, Any]]) -> None:
    """Write `records` back with a freshly computed, internally valid hash chain."""
    prev, out = "0" * 64, b""
    for record in records:
        fields = {k: v for k, v in record.items() if k not in ("hash", "prev", "format")}
        line, prev = encode(fields, prev)
        out += line
    path.write_bytes(out)


def _report(controller: Controller) -> RecoveryReport:
    assert controller.recovery is not None
    return controller.recovery


def test_no_journal_starts_in_the_initial_phase_and_creates_one(tmp_path: pathlib.Path) -> None:
    """Without a journal file: the policy's initial phase, version 0, a new empty journal."""
    path = tmp_path / "journal.jsonl"
    controller = _recover(path, create=True)
    assert (dict(controller.gate.phases), controller.version) == ({VENUE: "NORMAL"}, 0)
    assert _report(controller).trusted
    assert path.exists()


def test_recovery_restores_every_scope_and_the_version(tmp_path: pathlib.Path) -> None:
    """Every scope comes back in its journaled phase; the next transition continues the chain."""
    path = tmp_path / "journal.jsonl"
    _write_story(path)

    controller = _recover(path)

    assert dict(controller.gate.phases) == {VENUE: "NORMAL", BTC: "HALTED"}
    assert controller.version == 6
    limit = OrderType.LIMIT  # the gate serves the recovered phases
    assert controller.gate.check(Request.new_order(BTC, limit)).reason is Reason.INSTRUMENT_HALTED
    assert controller.gate.check(Request.new_order("ETH-USDT-SWAP", limit)).accepted
    assert _report(controller).records == 6
    controller.pre_open(actor="ops:lead", reason="reopen BTC", scope=BTC)
    assert verify_journal(path, POLICY).version == 7
    assert verify_journal(path, POLICY).trusted


def test_scope_names_that_need_json_escapes_replay_too(tmp_path: pathlib.Path) -> None:
    """A scope with quotes, backslashes or non-ASCII letters takes the JSON path and replays."""
    path = tmp_path / "journal.jsonl"
    odd = 'ÉTH "perp" \\ 1'
    _recover(path, create=True).halt(actor="ops:ünïcode", reason='said "halt"', scope=odd)

    controller = _recover(path)

    assert _report(controller).problems == ()
    assert dict(controller.gate.phases) == {VENUE: "NORMAL", odd: "HALTED"}


def test_recover_decides_journal_phases_and_version_itself(tmp_path: pathlib.Path) -> None:
    """Passing journal=, phases= or version= to recover() is a configuration error."""
    with pytest.raises(ConfigurationError, match="version"):
        _recover(tmp_path / "j.jsonl", version=3)


def test_a_torn_relaxing_record_is_dropped_and_reported_but_the_rest_is_trusted(
        tmp_path: pathlib.Path) -> None:
    """A crash mid-write of a write-ahead (relaxing) record leaves part of a line: it is cut
    off, TORN_TAIL is reported, the state is the last complete record's (the torn one was
    never published nor acknowledged)."""
    path = tmp_path / "journal.jsonl"
    _write_story(path, STORY[:-1])
    _fire_unanchored(path, "normalize")  # relaxing; the crash tears it below
    data = path.read_bytes()
    cut = data.rindex(b'"relaxing":true,') + len(b'"relaxing":true,') + 5
    path.write_bytes(data[:cut])  # the last line up to just past its relaxing flag, no newline

    with capture_logs() as logs:
        controller = _recover(path)

    report = _report(controller)
    assert report.codes == {IntegrityCode.TORN_TAIL}
    assert report.trusted
    assert (dict(controller.gate.phases), controller.version) == ({VENUE: "FULL_OPEN",
                                                                   BTC: "HALTED"}, 5)
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == ["journal_torn_tail_dropped"]
    assert path.read_bytes().endswith(b"\n")
    assert verify_journal(path, POLICY).problems == ()


@pytest.mark.parametrize("keep", ["halt", "unknown"])
def test_a_torn_record_that_may_be_a_halt_ends_in_the_fail_safe_phase(
        tmp_path: pathlib.Path, keep: str) -> None:
    """A tightening record is published before it is written: a torn one may be a halt that
    was in effect. Dropping it could reopen the venue, so the journal is not trusted."""
    path = tmp_path / "journal.jsonl"
    _write_story(path)
    _fire_unanchored(path, "degrade")  # tightening, version 7; the crash tears it below
    data = path.read_bytes()
    start = data.rstrip(b"\n").rindex(b"\n") + 1
    cut = data.index(b'"relaxing":false', start) + 5 if keep == "halt" else start + 40
    path.write_bytes(data[:cut])

    with capture_logs() as logs:
        controller = _recover(path)

    report = _report(controller)
    assert IntegrityCode.TORN_TAIL in report.codes
    assert not report.trusted
    assert controller.phase() == "HALTED"
    assert controller.phase(BTC) == "HALTED"
    assert "journal_untrusted" in [e["event"] for e in logs if e["log_level"] == "critical"]


def _flip_byte(records: list[dict[str, Any]], raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    at = lines[2].index(b"story") + 1  # a letter in the third record's reason: still valid JSON
    lines[2] = lines[2][:at] + bytes([lines[2][at] ^ 0x20]) + lines[2][at + 1:]
    return b"\n".join(lines)


def _delete(records: list[dict[str, Any]], raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    del lines[2]
    return b"\n".join(lines)


def _reorder(records: list[dict[str, Any]], raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    lines[2], lines[3] = lines[3], lines[2]
    return b"\n".join(lines)


def _garbage(records: list[dict[str, Any]], raw: bytes) -> bytes:
    lines = raw.split(b"\n")
    lines[2] = b'{"hash": oops'
    return b"\n".join(lines)


def _resigned(edit: Any) -> Any:
    def tamper(records: list[dict[str, Any]], raw: bytes) -> None:
        edit(records)
    return tamper


TAMPERING = {
    "flipped byte mid-file": (_flip_byte, IntegrityCode.HASH_MISMATCH),
    "deleted record": (_delete, IntegrityCode.CHAIN_BROKEN),
    "reordered pair": (_reorder, IntegrityCode.RECORDS_REORDERED),
    "edited phase, hashes recomputed": (
        _resigned(lambda r: r[2].update(to="FULL_OPEN")), IntegrityCode.ILLEGAL_TRANSITION),
    "edited source, hashes recomputed": (
        _resigned(lambda r: r[3].update({"from": "HALTED"})), IntegrityCode.SOURCE_MISMATCH),
    "version rolled back, hashes recomputed": (
        _resigned(lambda r: r[3].update(version=2)), IntegrityCode.VERSION_REGRESSION),
    "relaxing flag edited, hashes recomputed": (
        _resigned(lambda r: r[2].update(relaxing=False)), IntegrityCode.ILLEGAL_TRANSITION),
    "unparseable line mid-file": (_garbage, IntegrityCode.UNPARSEABLE_RECORD),
}


@pytest.mark.parametrize("case", sorted(TAMPERING))
def test_a_tampered_journal_is_detected_and_every_scope_starts_fail_safe(
        tmp_path: pathlib.Path, case: str) -> None:
    """Each kind of damage has its own code; the venue and every scope seen start HALTED, the
    bad file is kept aside, the new journal says why, and a critical event is emitted."""
    tamper, code = TAMPERING[case]
    path = tmp_path / "journal.jsonl"
    _write_story(path)
    records = _records(path)
    changed = tamper(records, path.read_bytes())
    if changed is None:
        _resign(path, records)
    else:
        path.write_bytes(changed)
    damaged = path.read_bytes()

    with capture_logs() as logs:
        controller = _recover(path)

    report = _report(controller)
    assert not report.trusted
    assert report.problems[0].code is code, report.problems
    assert report.problems[0].line in (3, 4)
    assert dict(controller.gate.phases) == {VENUE: "HALTED", BTC: "HALTED"}
    assert controller.version > 6
    critical = [e for e in logs if e["log_level"] == "critical"]
    assert [(e["event"], e["code"]) for e in critical] == [("journal_untrusted", code.value)]
    assert report.moved_to is not None
    assert report.moved_to.read_bytes() == damaged
    (first,) = _records(path)
    assert first["kind"] == "snapshot"
    assert first["phases"] == {VENUE: "HALTED", BTC: "HALTED"}
    assert code.value in first["reason"]
    assert report.moved_to.name in first["reason"]
    again = _recover(path)  # the fail-safe restart is itself a valid journal
    assert _report(again).trusted
    assert (dict(again.gate.phases), again.version) == (dict(controller.gate.phases),
                                                        controller.version)


@pytest.mark.parametrize(("edit", "code", "words"), [
    ({"from": "NORMAL"}, IntegrityCode.SOURCE_MISMATCH,
     "version 2 moves venue from NORMAL, but it is in HALTED"),
    ({"to": "FULL_OPEN"}, IntegrityCode.ILLEGAL_TRANSITION,
     ("version 2: the policy has no 'pre_open' from HALTED to FULL_OPEN (from HALTED it has "
      "['pre_open'])")),
    ({"relaxing": False}, IntegrityCode.ILLEGAL_TRANSITION,
     "version 2 says relaxing=False, the policy says relaxing=True"),
])
def test_a_record_that_does_not_fit_the_graph_is_reported_in_words(
        tmp_path: pathlib.Path, edit: dict[str, Any], code: IntegrityCode, words: str) -> None:
    """The graph check (misfit) decides; its code maps to an integrity code, its context to
    a sentence naming the phases involved."""
    path = tmp_path / "journal.jsonl"
    halt = {"kind": "transition", "version": 1, "time": "2022-12-18T10:51:00.000000Z",
            "scope": VENUE, "from": "NORMAL", "to": "HALTED", "trigger": "halt",
            "actor": "ops:lead", "reason": "down", "relaxing": False}
    first, head = encode(halt, "0" * 64)
    pre_open = {**halt, "version": 2, "from": "HALTED", "to": "PRE_OPEN", "trigger": "pre_open",
                "relaxing": True}
    path.write_bytes(first + encode({**pre_open, **edit}, head)[0])

    report = verify_journal(path, POLICY)

    assert [(p.code, p.line, p.detail) for p in report.problems] == [(code, 2, words)]


@pytest.mark.parametrize(("phases", "words"), [
    ({BTC: "HALTED"}, "snapshot has no 'venue' scope"),
    ({VENUE: "NORMAL", BTC: "CLOSED"}, "snapshot names phases the policy lacks: CLOSED"),
])
def test_a_snapshot_the_policy_cannot_start_from_is_untrusted(
        tmp_path: pathlib.Path, phases: dict[str, str], words: str) -> None:
    """A snapshot without the venue, or naming a phase the policy lacks, is SNAPSHOT_MISMATCH."""
    path = tmp_path / "journal.jsonl"
    path.write_bytes(encode(snapshot_fields(phases, 1, actor="a", reason="r", now=0.0),
                            "0" * 64)[0])

    report = verify_journal(path, POLICY)

    assert [(p.code, p.line, p.detail) for p in report.problems] == [
        (IntegrityCode.SNAPSHOT_MISMATCH, 1, words)]
    assert report.phases == {VENUE: "HALTED", BTC: "HALTED"}


def test_scopes_known_only_before_the_damage_also_start_fail_safe(
        tmp_path: pathlib.Path) -> None:
    """Damage in the last record: BTC, last seen before it, is halted too (and so is the venue)."""
    path = tmp_path / "journal.jsonl"
    _write_story(path)
    path.write_bytes(path.read_bytes().replace(b"story normalize", b"story Normalize"))

    controller = _recover(path)

    assert _report(controller).problems[0].code is IntegrityCode.HASH_MISMATCH
    assert _report(controller).problems[0].line == 6
    assert dict(controller.gate.phases) == {VENUE: "HALTED", BTC: "HALTED"}


def test_verify_journal_reports_without_touching_the_file(tmp_path: pathlib.Path) -> None:
    """verify_journal says what recover would do, and changes nothing."""
    path = tmp_path / "journal.jsonl"
    _write_story(path)
    lines = path.read_bytes().split(b"\n")
    del lines[1]
    path.write_bytes(b"\n".join(lines))
    damaged = path.read_bytes()

    report = verify_journal(path, POLICY)

    assert report.codes == {IntegrityCode.CHAIN_BROKEN}
    assert report.phases == {VENUE: "HALTED", BTC: "HALTED"}
    assert path.read_bytes() == damaged
    assert sorted(tmp_path.iterdir()) == [path, path.with_name("journal.jsonl.anchor")]


def test_compaction_keeps_the_state_and_the_chain(tmp_path: pathlib.Path) -> None:
    """After compaction the journal is one snapshot chained to the archive's last record."""
    path = tmp_path / "journal.jsonl"
    _write_story(path)
    before = verify_journal(path, POLICY)

    archive = compact_journal(path, POLICY)

    after = verify_journal(path, POLICY)
    assert archive.exists()
    assert verify_journal(archive, POLICY).head == before.head == after.anchor
    assert (after.trusted, after.records, after.version, after.phases) == (
        True, 1, 6, before.phases)
    controller = _recover(path)
    controller.pre_open(actor="ops:lead", reason="reopen BTC", scope=BTC)
    assert verify_journal(path, POLICY).version == 7
    with pytest.raises(JournalError, match="already exists"):
        compact_journal(path, POLICY, archive=archive)


def test_an_untrusted_journal_cannot_be_compacted(tmp_path: pathlib.Path) -> None:
    """Compaction refuses a journal that does not verify: recover() must look at it first."""
    path = tmp_path / "journal.jsonl"
    _write_story(path)
    path.write_bytes(path.read_bytes() + b"garbage\n")
    with pytest.raises(JournalError, match="UNPARSEABLE_RECORD"):
        compact_journal(path, POLICY)


SCOPES = (VENUE, BTC, "ETH-USDT-SWAP")


@given(steps=st.lists(st.tuples(st.sampled_from(SCOPES), st.integers(0, 5)), max_size=25),
       compact_at=st.none() | st.integers(0, 25))
def test_any_valid_sequence_replays_to_the_same_phases_and_version(
        steps: list[tuple[str, int]], compact_at: int | None) -> None:
    """Property 5: whatever legal transitions happened (and wherever the journal was compacted),
    recovery gives the same phases and version."""
    with tempfile.TemporaryDirectory() as tmp:
        path = pathlib.Path(tmp) / "journal.jsonl"
        controller = _recover(path, create=True)
        for i, (scope, pick) in enumerate(steps):
            if i == compact_at:
                controller.journal.close()  # type: ignore[union-attr]
                compact_journal(path, POLICY)
                controller = _recover(path)
            legal = controller.triggers(scope) if scope in controller.gate.phases else (
                tuple(t.trigger for t in POLICY.transitions_from(POLICY.normal)))
            controller.fire(legal[pick % len(legal)], actor="ops:prop", reason="step",
                            scope=scope)
        controller.journal.close()  # type: ignore[union-attr]

        replayed = _recover(path)

        assert _report(replayed).problems == ()
        assert dict(replayed.gate.phases) == dict(controller.gate.phases)
        assert replayed.version == controller.version
        replayed.journal.close()  # type: ignore[union-attr]


def test_demo_run_twice_on_one_journal_resumes_where_the_first_stopped(
        tmp_path: pathlib.Path) -> None:
    """The example stopped after the halt resumes in HALTED at version 2 and finishes the
    restart; a third run starts from NORMAL at version 5 and carries the versions on."""
    path = tmp_path / "demo.jsonl"

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, str(EXAMPLE), "--journal", str(path), *args],
                              capture_output=True, text=True, check=True, timeout=60)
        return done.stdout

    first = run("--steps", "2")
    second = run()

    assert "final phase HALTED, version 2" in first
    assert "PRE_OPEN" not in first
    assert second.startswith(f"resumed from journal {path}: phase HALTED, version 2")
    assert "v3  HALTED -> PRE_OPEN" in second
    assert "REFUSED open by ops:impatient" in second
    assert "degrade by" not in second
    assert "final phase NORMAL, version 5" in second
    third = "\n".join(demo_run(journal=path))
    assert third.startswith(f"resumed from journal {path}: phase NORMAL, version 5")
    assert "v6  NORMAL -> DEGRADED" in third
    assert "final phase NORMAL, version 10" in third


def test_journal_benchmark_runs_in_quick_mode() -> None:
    """The benchmark prints its figures (never asserted: they depend on the machine)."""
    bench = EXAMPLE.parent.parent / "benchmarks" / "journal_bench.py"
    done = subprocess.run([sys.executable, str(bench), "--quick"], capture_output=True,
                          text=True, timeout=120, check=True)
    assert "recover:" in done.stdout
    assert "durability=fsync" in done.stdout
    for figure in ("ratio recover/baseline", "ratio peak memory recover", "ratio recover 1,000/100",
                   "ratio recover minus Controller()"):
        assert figure in done.stdout
