"""Restarting a controller from its journal file: in its phase, or fail-safe."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from .._core.codes import IntegrityCode
from .._core.errors import ConfigurationError
from .._core.policy import Policy
from .._decide.decide import Misfit
from .._decide.records import Clock, TransitionRecord
from .._journal.anchor import Anchor, AnchorOption, write_anchor
from .._journal.file import Durability, FileJournal, Opener
from .._journal.format import MAX_RECORD
from .._journal.keys import JournalKey
from .._journal.paths import file_path
from .._journal.replay import _check_policy, examine, no_journal, restart, truncate, untrusted_name
from .._journal.scan import JournalProblem, RecordCheck
from .audit import audit_logger
from .controller import Controller
from .trust import Trust


def recover(path: str | os.PathLike[str], policy: Policy, *, key: JournalKey | None = None,
            anchor: AnchorOption = True, create: bool = False, durability: Durability = "fsync",
            max_record: int = MAX_RECORD, opener: Opener | None = None,
            fsync: Callable[[int], None] = os.fsync, **controller_options: Any) -> Controller:
    """A controller restored from the journal at `path`, journaling to it from then on.

    Every scope comes back in its journaled phase and the version continues; when the journal
    does not verify (damaged, forged, rolled back below its anchor, deleted, emptied, replaced,
    or its anchor deleted), every scope starts in the policy's fail-safe phase instead (see
    `verify_journal`). `controller.recovery` is the `RecoveryReport`.

    Args:
        path: the journal file.
        policy: the policy the journal was written under.
        key: the `JournalKey` the journal is (to be) keyed with; without one the records carry
            only SHA-256 hashes and the report says ``keyed=False``.
        anchor: where the journal's anchor lives: ``True`` (default) ``<path>.anchor``, a path,
            or ``False`` for none (then deletion and rollback cannot be seen).
        create: a first start: allow starting from nothing (no journal, or an empty one, and no
            anchor) in the policy's initial phase. Never needed again afterwards; a missing
            journal whose anchor exists is ``JOURNAL_MISSING`` (fail-safe) either way.
        durability: passed to `FileJournal`.
        max_record: passed to `FileJournal`.
        opener: passed to `FileJournal`.
        fsync: passed to `FileJournal`.
        **controller_options: passed to `Controller` (guards, authorizer, clock, logger,
            directory, signer, ...); not journal, phases, version or visits, which recovery
            decides. With a ``directory``, every relaxing record replayed must carry valid
            signatures and approvals (`SIGNATURE_INVALID` otherwise: a fail-safe start).

    Raises:
        ConfigurationError: bad arguments.
        JournalError: nothing is recorded at `path` and `create` is False.
        OSError: the journal could not be read, moved aside or written.

    Example:
        >>> import tempfile, pathlib
        >>> from exchange_recovery import default_policy
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "journal.jsonl"
        >>> first = recover(path, default_policy(), create=True, durability="none")
        >>> _ = first.halt(actor="ops", reason="x")
        >>> again = recover(path, default_policy(), durability="none")
        >>> again.phase(), again.version, again.recovery.trusted, again.recovery.keyed
        ('HALTED', 1, True, False)
    """
    path = file_path(path)
    taken = sorted({"journal", "phases", "version", "visits", "notes"} & set(controller_options))
    if taken:
        msg = f"recover() decides {taken} itself; do not pass them"
        raise ConfigurationError(msg)
    log = audit_logger(controller_options.get("logger"))
    clock: Clock = controller_options.get("clock", time.time)
    # Every option is checked before any file is created, truncated or moved aside: a
    # controller built with them (and nothing else) refuses what the real one would.
    _check_policy(policy)
    Controller(policy, **controller_options)
    trust = Trust.of(policy, controller_options.get("directory"), None)
    exam = examine(path, policy, key, anchor, check=_checker(trust))
    if exam.fresh and not create:
        raise no_journal(path)
    where = False if exam.anchor_path is None else exam.anchor_path
    options: dict[str, Any] = {"key": key, "durability": durability, "max_record": max_record,
                               "opener": opener, "fsync": fsync}
    if exam.fatal is None:
        report = exam.report(policy, key)
        for problem in exam.problems:  # a torn tail, an unanchored last record
            log.warning(_EVENTS[problem.code], path=str(path), problem=str(problem))
        if exam.scan is not None and exam.keep_to < exam.scan.size:
            truncate(path, exam.keep_to, durable=durability == "fsync")
        if exam.anchor_path is not None and exam.scan is not None and exam.scan.size and (
                exam.found != Anchor(report.version, report.head)):
            write_anchor(exam.anchor_path, Anchor(report.version, report.head), key,
                         durable=durability == "fsync", fsync=fsync)  # an append that never returned
        journal = FileJournal(path, anchor=where, **options)
    else:
        moved = untrusted_name(path) if exam.scan is not None else None
        report = exam.report(policy, key, moved)
        journal = restart(exam, report, clock(), **options)
        fatal: JournalProblem = exam.fatal
        log.critical("journal_untrusted", path=str(path), code=fatal.code.value,
                     line=fatal.line, detail=fatal.detail,
                     moved_to=None if moved is None else str(moved),
                     phases=dict(report.phases), version=report.version)
    # Approvals name the visit: the version at which each scope entered its phase, as replayed
    # (a fail-safe restart enters every scope at its snapshot's version).
    visits = (exam.scan.visits if exam.fatal is None and exam.scan is not None
              else dict.fromkeys(report.phases, report.version))
    # The latest note per topic and scope, as replayed (a fail-safe restart keeps none: what
    # they scheduled is re-decided from the fail-safe phase).
    notes = (tuple(exam.scan.notes.values()) if exam.fatal is None and exam.scan is not None
             else ())
    controller = Controller(policy, journal=journal, phases=report.phases,
                            version=report.version, visits=visits, notes=notes,
                            **controller_options)
    controller.recovery = report
    return controller


def _checker(trust: Trust) -> RecordCheck | None:
    """The replay's record check: `Trust.check` as a misfit, or None without a directory."""
    if not trust.enabled:
        return None

    def check(record: TransitionRecord, visit: int) -> Misfit | None:
        refusal = trust.check(record, visit)
        return None if refusal is None else Misfit(refusal.code, refusal.context)

    return check


_EVENTS = {IntegrityCode.TORN_TAIL: "journal_torn_tail_dropped",
           IntegrityCode.UNANCHORED_RECORD: "journal_unanchored_record"}
"""The warning for each problem a trusted journal may have."""
