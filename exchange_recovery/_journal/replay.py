"""What a journal file and its anchor say the state is, and whether to trust it; compaction.

The records are verified as they stream through (`scan`: hash chain, MACs with a key, every
record against the policy's graph). Then the journal is held against its anchor (`anchor`):
the journal must end with the record the anchor names, or one record after it (a crash
between the record's fsync and the anchor's rename).

Outcomes:
- nothing recorded anywhere (no journal, or an empty one, and no anchor): a first start, allowed
  only with ``create=True`` — a missing journal is never taken for a new one by default
  (`JournalError`);
- every record verifies and the journal ends at its anchor: the replayed phases and version;
  a torn last line (a crash in the middle of a write, so never acknowledged) is cut off and
  reported as ``TORN_TAIL`` — if what is left of it shows it was a relaxing record (written
  ahead, so never published). A torn line that may be a tightening one (published *before* it
  is written) may hide a halt that was in effect: that journal cannot be trusted;
- one complete record after the anchor (``UNANCHORED_RECORD``): its append never returned. A
  relaxing record was never published: it is cut off. Any other one (a halt) was in effect
  before it was written: it is kept. The anchor is brought up to date;
- anything else: the state cannot be trusted — damaged or forged records, a journal below its
  anchor (``ROLLED_BACK``), deleted (``JOURNAL_MISSING``), emptied (``JOURNAL_EMPTIED``) or
  replaced (``ANCHOR_MISMATCH``), a journal whose anchor is gone (``ANCHOR_MISSING``: the anchor
  is as easy to delete as the journal), MACs without a key (``KEY_MISSING``). The file is kept
  under a new name (``<name>.untrusted-<UTC time>``), a new journal is started whose first
  record is a snapshot putting the venue and every scope seen in the fail-safe phase, with the
  problem as its reason and the last verified hash as its ``prev``, its anchor is rewritten, and
  a critical ``journal_untrusted`` event is emitted. A deleted journal leaves only the venue to
  name: the venue in the fail-safe phase holds every instrument.

Without a key the records carry only SHA-256 hashes: accidents and clumsy edits show, but
whoever can write the file can rewrite it consistently (and its anchor too). Such a journal is
still reported ``trusted`` when nothing is wrong with it, with ``keyed=False``: run with a key
wherever the journal's storage is not as trusted as the process.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pathlib
import shutil
import time
from collections.abc import Callable, Mapping

import attrs

from .._core.codes import IntegrityCode
from .._core.errors import ConfigurationError, JournalError
from .._core.model import VENUE
from .._core.policy import Policy
from .._core.text import shown
from .._decide.records import JournalNote
from .anchor import (
    START,
    Anchor,
    AnchorOption,
    AnchorProblem,
    anchor_path,
    fsync_directory,
    read_anchor,
    write_anchor,
)
from .file import Durability, FileJournal, Opener
from .format import GENESIS, MAX_RECORD
from .keys import JournalKey
from .paths import file_path
from .scan import JournalProblem as JournalProblem  # noqa: PLC0414 - the package imports it from here
from .scan import OnProgress, Parsed, RecordCheck, _Scan, parse, scan_file

_T = IntegrityCode


@attrs.frozen
class RecoveryReport:
    """What recovery found in a journal file and the state it starts (or would start) in.

    `trusted` is False when a problem other than a torn relaxing tail or an unanchored last
    record was found; `phases` and `version` are then the fail-safe start, not the replayed
    state. `keyed` says whether records were checked against a journal key (an unkeyed journal
    that verifies is trusted, but could have been rewritten by anyone able to write it);
    `anchor_path` is the anchor it was held against (None: none configured). `head` is the last
    verified hash; `anchor` is the hash the file's first record chains after (64 zeros, or the
    last hash of the archive a compaction left) — not the anchor file.
    """

    path: pathlib.Path
    trusted: bool
    phases: Mapping[str, str]
    version: int
    records: int
    problems: tuple[JournalProblem, ...] = ()
    head: str = GENESIS
    anchor: str = GENESIS
    moved_to: pathlib.Path | None = None
    keyed: bool = False
    anchor_path: pathlib.Path | None = None

    @property
    def codes(self) -> frozenset[IntegrityCode]:
        """The distinct problem codes."""
        return frozenset(p.code for p in self.problems)


@attrs.define
class Examination:
    """A journal scanned and held against its anchor: what recovery acts on."""

    path: pathlib.Path
    scan: _Scan | None
    """None: there is no journal file."""
    anchor_path: pathlib.Path | None
    found: Anchor | None = None
    """The anchor read (None: none configured, missing or unreadable)."""
    fresh: bool = False
    """Nothing is recorded anywhere: only a first start (``create=True``) may begin here."""
    fatal: JournalProblem | None = None
    problems: list[JournalProblem] = attrs.Factory(list)
    keep_to: int = 0
    """The journal's trusted length: a torn tail or an unanchored relaxing record lies beyond."""

    def report(self, policy: Policy, key: JournalKey | None,
               moved_to: pathlib.Path | None = None) -> RecoveryReport:
        """The report of this examination (the fail-safe start if it found a fatal problem)."""
        scan, keyed = self.scan, key is not None
        if self.fresh or scan is None:
            phases, version, records, head, chained = {VENUE: policy.initial}, 0, 0, GENESIS, GENESIS
        else:
            phases, version, records = scan.phases, scan.version, scan.records
            head, chained = scan.head, scan.anchor
        if self.fatal is None:
            return RecoveryReport(self.path, True, phases, version, records, tuple(self.problems),
                                  head, chained, None, keyed, self.anchor_path)
        seen = scan.seen.union(scan.phases) if scan is not None else {VENUE}
        top = max(version, scan.top_version if scan is not None else 0,
                  self.found.version if self.found is not None else 0)
        return RecoveryReport(self.path, False, dict.fromkeys(sorted(seen), policy.fail_safe),
                              top + 1, records, tuple(self.problems), head, chained, moved_to,
                              keyed, self.anchor_path)

    @property
    def after(self) -> str:
        """The hash a fail-safe restart chains after: the last verified one, or the anchor's."""
        if self.scan is not None and self.scan.records:
            return self.scan.head
        return self.found.hash if self.found is not None else GENESIS


def examine(path: pathlib.Path, policy: Policy, key: JournalKey | None, anchor: AnchorOption,
            on_progress: OnProgress | None = None,
            check: RecordCheck | None = None) -> Examination:
    """Scan the journal at `path` and hold it against its anchor; change nothing."""
    _check_policy(policy)
    if key is not None and not isinstance(key, JournalKey):
        msg = f"key must be a JournalKey or None, got {type(key).__name__}"
        raise ConfigurationError(msg)
    where = anchor_path(path, anchor)
    scan = scan_file(path, policy, key, on_progress, check)
    exam = Examination(path, scan, where)
    if scan is not None:
        exam.problems.extend(scan.problems)
        exam.fatal = scan.fatal
        exam.keep_to = scan.good_end
    if exam.fatal is None and where is not None:
        try:
            exam.found = read_anchor(where, key)
        except AnchorProblem as problem:
            exam.fatal = JournalProblem(problem.code, 0, problem.detail)
            exam.problems.insert(0, exam.fatal)
            return exam
        _hold(exam, where, key)
    elif scan is None:  # and no anchor configured: nothing says a journal ever existed
        exam.fresh = True
    elif where is not None:  # damaged: the anchor only keeps the fail-safe version above its own
        with contextlib.suppress(AnchorProblem):
            exam.found = read_anchor(where, key)
    return exam


def _hold(exam: Examination, where: pathlib.Path, key: JournalKey | None) -> None:
    """Hold a verified journal against its anchor (`exam.found`); record what is wrong."""
    scan, found = exam.scan, exam.found
    if scan is None or not scan.size:
        if found is None:
            exam.fresh = True
        elif scan is None:
            _fatal(exam, _T.JOURNAL_MISSING, f"no journal, but its anchor {where} names version "
                   f"{found.version}")
        elif found != START:
            _fatal(exam, _T.JOURNAL_EMPTIED, f"the journal is empty, but its anchor {where} "
                   f"names version {found.version}")
        return
    if found is None:
        _fatal(exam, _T.ANCHOR_MISSING, f"the journal holds {scan.records} records, but its "
               f"anchor {where} is missing")
    elif found != Anchor(scan.version, scan.head):
        last = parse(scan.last, scan.records, key)
        if not isinstance(last, JournalProblem) and last[1] == found.hash:
            _unanchored(exam, scan, last)
        elif scan.version < found.version:
            _fatal(exam, _T.ROLLED_BACK, f"the journal ends at version {scan.version}, its "
                   f"anchor names version {found.version}: records were cut off")
        else:
            _fatal(exam, _T.ANCHOR_MISMATCH, f"the anchor names version {found.version} "
                   f"({found.hash[:12]}…), the journal ends at version {scan.version} "
                   f"({scan.head[:12]}…) and does not follow it")


def _fatal(exam: Examination, code: IntegrityCode, detail: str) -> None:
    exam.fatal = JournalProblem(code, 0, detail)
    exam.problems.insert(0, exam.fatal)


def _unanchored(exam: Examination, scan: _Scan, last: Parsed) -> None:
    """The last record follows the anchor: its append never returned. Cut it off if it is
    relaxing (written ahead, never published); keep anything else (in effect already)."""
    _, prev, version, scope, source, _, _, relaxing, extra = last
    line = scan.records
    if isinstance(extra, JournalNote):  # its note() call never returned: it never happened
        key, replaced = scan.prior_note
        if replaced is None:
            scan.notes.pop(key, None)
        else:
            scan.notes[key] = replaced
        scan.head = prev
        scan.records -= 1
        exam.keep_to = scan.good_end - len(scan.last) - 1
        detail = f"a {extra.topic!r} note was written but never anchored nor acknowledged: dropped"
    elif relaxing:
        scan.phases[scope] = source
        visited, visit = scan.prior_visit
        if visit is None:
            scan.visits.pop(visited, None)
        else:
            scan.visits[visited] = visit
        scan.version = scan.top_version = scan.prior_version
        scan.head = prev
        scan.records -= 1
        exam.keep_to = scan.good_end - len(scan.last) - 1
        detail = (f"version {version} (relaxing) was written but never anchored nor "
                  "acknowledged: dropped")
    else:
        detail = (f"version {version} was written but never anchored; kept (it was in effect "
                  "before it was written)")
    exam.problems.append(JournalProblem(_T.UNANCHORED_RECORD, line, detail))


def _check_policy(policy: object) -> None:
    if not isinstance(policy, Policy):
        msg = f"recovery needs a Policy, got {shown(policy)}"
        raise ConfigurationError(msg)


def no_journal(path: pathlib.Path) -> JournalError:
    """The refusal to take a missing (or empty, unanchored) journal for a new one."""
    return JournalError(f"no journal at {path} (and no anchor naming one): pass create=True "
                        "for a first start")


def verify_journal(path: str | os.PathLike[str], policy: Policy, *,
                   key: JournalKey | None = None, anchor: AnchorOption = True,
                   create: bool = False, on_progress: OnProgress | None = None) -> RecoveryReport:
    """Check a journal file and say what `recover` would start in, without changing anything.

    `key`, `anchor` and `create` mean what they mean for `recover`. `on_progress(lines_done,
    lines_total)` is called every few thousand lines (long journals).

    Raises:
        JournalError: nothing is recorded at `path` (no journal and no anchor) and `create`
            is False.

    Example:
        >>> import tempfile, pathlib
        >>> from exchange_recovery import default_policy
        >>> none = pathlib.Path(tempfile.mkdtemp()) / "none.jsonl"
        >>> verify_journal(none, default_policy(), create=True).phases
        {'venue': 'NORMAL'}
    """
    path = file_path(path)
    if on_progress is not None and not callable(on_progress):
        msg = f"on_progress must be callable, got {shown(on_progress)}"
        raise ConfigurationError(msg)
    exam = examine(path, policy, key, anchor, on_progress)
    if exam.fresh and not create:
        raise no_journal(path)
    return exam.report(policy, key)


def compact_journal(path: str | os.PathLike[str], policy: Policy, *,
                    key: JournalKey | None = None, anchor: AnchorOption = True,
                    archive: str | os.PathLike[str] | None = None,
                    now: float | None = None) -> pathlib.Path:
    """Rotate a verified journal: keep it as `archive`, restart `path` with one snapshot.

    The snapshot holds every scope's phase and the last version, and its ``prev`` is the last
    hash of the archive, so the chain runs on across the two files. The swap is atomic (the
    archive is a hard link, then the new file replaces `path`): a crash leaves either journal.
    The archive gets an anchor of its own (``<archive>.anchor``) and the journal's anchor then
    names the snapshot. Run it while no process is appending to `path` (e.g. before `recover`).
    Returns the archive.

    Raises:
        JournalError: the journal does not verify completely with `key` against its anchor
            (run `recover` first), there is none, or the archive already exists.
    """
    if now is not None and (isinstance(now, bool) or not isinstance(now, int | float)
                            or not 0 <= now < 1e11):
        msg = f"now must be a clock reading in epoch seconds, got {shown(now)}"
        raise ConfigurationError(msg)
    path = file_path(path)
    exam = examine(path, policy, key, anchor)
    scan = exam.scan
    if scan is None or exam.fresh:
        msg = f"no journal at {path}"
        raise JournalError(msg)
    if exam.problems:
        msg = f"journal {path} does not verify ({exam.problems[0]}); run recover() first"
        raise JournalError(msg)
    target = file_path(archive, "archive") if archive is not None else path.with_name(
        f"{path.name}.upto-{scan.version}")
    if target.exists():
        msg = f"archive {target} already exists"
        raise JournalError(msg)
    swap(exam, target, scan.phases, scan.version, key=key, actor="exchange_recovery:compact",
         reason=f"compacted: {scan.records} records archived as {target.name}",
         now=time.time() if now is None else now, durability="fsync", opener=None,
         fsync=os.fsync, notes=tuple(scan.notes.values())).close()
    return target


def truncate(path: pathlib.Path, size: int, *, durable: bool) -> None:
    """Cut the journal at `path` to its trusted length."""
    with open(path, "r+b") as f:
        f.truncate(size)
        if durable:
            os.fsync(f.fileno())


def untrusted_name(path: pathlib.Path) -> pathlib.Path:
    """Where an untrusted journal is kept aside."""
    stamp = dt.datetime.now(tz=dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    return path.with_name(f"{path.name}.untrusted-{stamp}")


def restart(exam: Examination, report: RecoveryReport, now: float, *,
            key: JournalKey | None, durability: Durability, max_record: int = MAX_RECORD,
            opener: Opener | None, fsync: Callable[[int], None]) -> FileJournal:
    """Keep the untrusted journal aside (if there is one) and start a new one in the fail-safe
    phases of `report`."""
    problem = report.problems[0]
    kept = (f"untrusted journal kept as {report.moved_to.name}" if report.moved_to is not None
            else "no journal to keep")
    return swap(exam, report.moved_to, report.phases, report.version, key=key,
                actor="exchange_recovery:recover", reason=f"fail-safe restart: {problem}; {kept}",
                now=now, durability=durability, max_record=max_record, opener=opener,
                fsync=fsync)


def swap(exam: Examination, keep_as: pathlib.Path | None, phases: Mapping[str, str],
         version: int, *, key: JournalKey | None, actor: str, reason: str, now: float,
         durability: Durability, max_record: int = MAX_RECORD, opener: Opener | None,
         fsync: Callable[[int], None], notes: tuple[JournalNote, ...] = ()) -> FileJournal:
    """Keep the journal as `keep_as` (unless None), then atomically replace it with a journal
    opening with a snapshot chained after the last trusted hash (then `notes`, the latest
    note per topic and scope, so compaction loses no schedule), anchor that, and return the
    new journal, open for appending."""
    path = exam.path
    if keep_as is not None:
        try:
            os.link(path, keep_as)
        except OSError:  # a filesystem without hard links: a copy keeps the same bytes
            shutil.copy2(path, keep_as)
        if exam.fatal is None and exam.anchor_path is not None and exam.scan is not None:
            write_anchor(keep_as.with_name(f"{keep_as.name}.anchor"),  # an archive verifies alone
                         Anchor(exam.scan.version, exam.scan.head), key, durable=True)
    fresh = path.with_name(f"{path.name}.new")
    fresh.unlink(missing_ok=True)
    with FileJournal(fresh, key=key, anchor=False, durability="fsync") as journal:
        journal.snapshot(phases, version, actor=actor, reason=reason, now=now, after=exam.after)
        for note in notes:  # carried at the snapshot's version, with their own time and data
            journal.note(attrs.evolve(note, version=version))
        head = journal.head
    os.replace(fresh, path)
    fsync_directory(path)
    where = exam.anchor_path
    if where is not None:
        write_anchor(where, Anchor(version, head), key, durable=True)
    return FileJournal(path, key=key, anchor=False if where is None else where,
                       durability=durability, max_record=max_record, opener=opener, fsync=fsync)
