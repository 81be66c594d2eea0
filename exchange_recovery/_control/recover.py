"""Restarting a controller from its journal file: in its phase, or fail-safe."""

from __future__ import annotations

import os
import pathlib
import time
from collections.abc import Callable
from typing import Any

from .._core.errors import ConfigurationError
from .._core.model import VENUE
from .._core.policy import Policy
from .._decide.records import Clock
from .._journal.file import Durability, FileJournal, Opener
from .._journal.replay import (
    RecoveryReport,
    _check_policy,
    _report,
    _restart,
    _scan_file,
    _truncate,
    _untrusted_name,
)
from .audit import audit_logger
from .controller import Controller


def recover(path: str | os.PathLike[str], policy: Policy, *, durability: Durability = "fsync",
            opener: Opener | None = None, fsync: Callable[[int], None] = os.fsync,
            **controller_options: Any) -> Controller:
    """A controller restored from the journal at `path`, journaling to it from then on.

    Every scope comes back in its journaled phase and the version continues; when the journal
    does not verify, every scope starts in the policy's fail-safe phase instead (see the module
    notes). `controller.recovery` is the `RecoveryReport`.

    Args:
        path: the journal file (created if missing: the policy's initial phase).
        policy: the policy the journal was written under.
        durability, opener, fsync: passed to `FileJournal`.
        **controller_options: passed to `Controller` (guards, authorizer, clock, logger); not
            journal, phases or version, which recovery decides.

    Raises:
        ConfigurationError: bad arguments.
        OSError: the journal could not be read, moved aside or written.

    Example:
        >>> import tempfile, pathlib
        >>> from exchange_recovery import default_policy
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "journal.jsonl"
        >>> _ = recover(path, default_policy(), durability="none").halt(actor="ops", reason="x")
        >>> again = recover(path, default_policy(), durability="none")
        >>> again.phase(), again.version, again.recovery.trusted
        ('HALTED', 1, True)
    """
    path = pathlib.Path(path)
    _check_policy(policy)
    taken = sorted({"journal", "phases", "version"} & set(controller_options))
    if taken:
        msg = f"recover() decides {taken} itself; do not pass them"
        raise ConfigurationError(msg)
    log = audit_logger(controller_options.get("logger"))
    clock: Clock = controller_options.get("clock", time.time)
    scan = _scan_file(path, policy)
    if scan is None:
        report = RecoveryReport(path, True, {VENUE: policy.initial}, 0, 0)
        journal = FileJournal(path, durability=durability, opener=opener, fsync=fsync)
    elif scan.fatal is None:
        if scan.good_end < scan.size:
            _truncate(path, scan.good_end, durable=durability == "fsync")
            log.warning("journal_torn_tail_dropped", path=str(path),
                        problem=str(scan.problems[0]))
        report = _report(path, scan, policy)
        journal = FileJournal(path, durability=durability, opener=opener, fsync=fsync)
    else:
        moved = _untrusted_name(path)
        report = _report(path, scan, policy, moved)
        journal = _restart(path, moved, report, clock(), durability, opener, fsync)
        log.critical("journal_untrusted", path=str(path), code=scan.fatal.code.value,
                     line=scan.fatal.line, detail=scan.fatal.detail, moved_to=str(moved),
                     phases=dict(report.phases), version=report.version)
    controller = Controller(policy, journal=journal, phases=report.phases,
                            version=report.version, **controller_options)
    controller.recovery = report
    return controller
