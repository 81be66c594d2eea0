"""Shared test configuration: hypothesis profiles and a clean structlog per test.

Profiles: ``ci`` (the default under .ci/run: derandomized, bounded, deterministic on a noisy
2-core machine), ``dev`` (hypothesis defaults) and ``explore`` (long runs, opt-in with
``HYPOTHESIS_PROFILE=explore``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=60, stateful_step_count=40, deadline=None, derandomize=True,
    print_blob=True, suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.register_profile(
    "explore", max_examples=5_000, stateful_step_count=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


@pytest.fixture(autouse=True)
def _quiet_structlog() -> Iterator[None]:
    """Keep audit events out of test output; tests that read them use capture_logs()."""
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    yield
    structlog.reset_defaults()
