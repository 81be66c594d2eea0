"""Where audit events go: one default for every component that emits them.

By default an audit event is a `logging.LogRecord` on the standard library's
``exchange_recovery`` logger, so the application's logging configuration decides where it goes
and at which level. Until it configures logging nothing is printed: the logger carries a
`logging.NullHandler`, as the logging HOWTO asks of libraries. structlog shapes each event
through a processor chain of its own that never reads structlog's global configuration (the
library never calls ``structlog.configure``):

- ``record.getMessage()`` is the event in logfmt, ``event=phase_changed scope=venue ...``;
- ``record.msg`` is the event's fields themselves (a `dict`), and the record carries what
  `structlog.stdlib.ProcessorFormatter` needs to render them, as JSON for instance.

One exception: inside `structlog.testing.capture_logs()` the events are captured, as they are
for any structlog logger, and not passed to `logging`.

`transitions` logs four INFO lines per transition on its ``transitions.core`` logger; this module
raises that logger to WARNING unless the application has set a level on it (or on
``transitions``) first.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from structlog.testing import LogCapture
from structlog.typing import EventDict, WrappedLogger

from .._core.errors import ConfigurationError
from .._core.text import shown

LOGGER_NAME = "exchange_recovery"
"""The standard library logger every default audit event goes to."""

_LEVELS = ("info", "warning", "critical")

logging.getLogger(LOGGER_NAME).addHandler(logging.NullHandler())


def _quiet_transitions() -> None:
    """Raise ``transitions.core`` to WARNING unless the application chose its level already."""
    core = logging.getLogger("transitions.core")
    if core.level == logging.NOTSET and logging.getLogger("transitions").level == logging.NOTSET:
        core.setLevel(logging.WARNING)


_quiet_transitions()

_LOGFMT = structlog.processors.LogfmtRenderer(key_order=["event"], bool_as_flag=False)


class AuditEvent(dict[str, Any]):
    """The fields of one audit event, as ``record.msg``; `str()` renders them in logfmt."""

    __slots__ = ()

    def __str__(self) -> str:
        return _LOGFMT(None, "", dict(self))


def _captured(logger: WrappedLogger, method_name: str, event_dict: EventDict) -> EventDict:
    """Hand the event to an active `structlog.testing.capture_logs()`, and stop there.

    capture_logs() works by swapping structlog's configured processors for a `LogCapture`; a
    logger with a chain of its own would never see it, so this looks for one.
    """
    configured = structlog.get_config()["processors"]
    if not any(isinstance(processor, LogCapture) for processor in configured):
        return event_dict
    for processor in configured:  # capture_logs(processors=...) runs those first
        event_dict = processor(logger, method_name, event_dict)
    raise structlog.DropEvent


def _to_record(logger: WrappedLogger, method_name: str,
               event_dict: EventDict) -> tuple[tuple[AuditEvent], dict[str, Any]]:
    """The arguments of the stdlib call: the event as the message, and what ProcessorFormatter reads."""
    return (AuditEvent(event_dict),), {"extra": {"_logger": logger, "_name": method_name}}


def stdlib_audit_logger(logger: logging.Logger) -> Any:
    """A structlog logger that turns each audit event into a `logging.LogRecord` on `logger`.

    Its processor chain is its own: events below the logger's effective level are dropped
    before anything is rendered; the others reach `logger` with the fields as ``record.msg``.
    """
    return structlog.stdlib.BoundLogger(
        logger, [_captured, structlog.stdlib.filter_by_level, _to_record], context={})


_DEFAULT = stdlib_audit_logger(logging.getLogger(LOGGER_NAME))


def audit_logger(logger: Any = None, *, owner: str = "logger") -> Any:
    """`logger` if given (checked now, not at the first event), else the default.

    The default sends every event to the standard library's ``exchange_recovery`` logger (see
    the module's docstring). A `logging.Logger` given as `logger` is wrapped the same way; any
    other object needs structlog-style methods: ``info(event, **fields)``, ``warning`` and
    ``critical``.

    Raises:
        ConfigurationError: `logger` lacks a callable ``info``, ``warning`` or ``critical``.
    """
    if logger is None:
        return _DEFAULT
    if isinstance(logger, logging.Logger):
        return stdlib_audit_logger(logger)
    try:
        missing = [level for level in _LEVELS if not callable(getattr(logger, level, None))]
    except Exception:  # a hostile __getattr__
        missing = list(_LEVELS)
    if missing:
        msg = f"{owner} must have callable {', '.join(_LEVELS)} methods; {shown(logger)} lacks {missing}"
        raise ConfigurationError(msg)
    return logger
