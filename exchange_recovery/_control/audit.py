"""Where audit events go: one default for every component that emits them."""

from __future__ import annotations

from typing import Any

import structlog

from .._core.errors import ConfigurationError

_LEVELS = ("info", "warning", "critical")


def audit_logger(logger: Any = None, *, owner: str = "logger") -> Any:
    """`logger` if given (checked now, not at the first event), else structlog's
    ``exchange_recovery`` logger.

    Raises:
        ConfigurationError: `logger` lacks a callable ``info``, ``warning`` or ``critical``.
    """
    if logger is None:
        return structlog.get_logger("exchange_recovery")
    missing = [level for level in _LEVELS if not callable(getattr(logger, level, None))]
    if missing:
        msg = f"{owner} must have callable {', '.join(_LEVELS)} methods; {logger!r} lacks {missing}"
        raise ConfigurationError(msg)
    return logger
