"""The audit-log setup every benchmark uses: production-like, and silent.

Transitions log as a deployment would (JSON lines, ISO timestamps), so their cost includes
rendering the event; nothing is written out, so a terminal's speed is not measured. structlog's
default development renderer (colours, padding) costs several times more than this.
"""

from __future__ import annotations

import structlog


def configure_production_logging() -> None:
    """Render audit events as JSON lines and drop them."""
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.JSONRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
