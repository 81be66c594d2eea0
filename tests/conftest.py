"""Shared test configuration: hypothesis profiles, loud skips, and quiet audit events.

Profiles: ``ci`` (the default under .ci/run: derandomized, bounded, deterministic on a noisy
2-core machine), ``dev`` (hypothesis defaults) and ``explore`` (long runs, opt-in with
``HYPOTHESIS_PROFILE=explore``).

Without an optional extra (``etcd``; fastlob from the ``examples`` group) the tests that need
it skip with a reason naming what to install, and ``-ra`` lists them in the summary. Under
``CI=true`` every skip is a failure instead: CI runs everything.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

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

CI = os.environ.get("CI") == "true"


def _fail_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Under CI=true, turn a skip (not an xfail) into a failure that says what was skipped."""
    if not (CI and report.skipped and not hasattr(report, "wasxfail")):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    report.outcome = "failed"
    report.longrepr = f"skipped, but CI=true runs everything: {reason}"


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> Generator[None, pytest.CollectReport,
                                                                          pytest.CollectReport]:
    """A test module skipped as a whole (a missing extra) fails under CI=true."""
    report = yield
    _fail_skip(report)
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport,
                                                                         pytest.TestReport]:
    """A skipped test fails under CI=true."""
    report = yield
    _fail_skip(report)
    return report


@pytest.fixture(autouse=True)
def _quiet_structlog() -> Iterator[None]:
    """Keep structlog's own default logger from printing during tests.

    The library's audit events do not use it (they are stdlib records, which pytest captures
    and shows for failed tests only); loggers built from structlog's global configuration, as
    some tests and examples do, return their lines instead of printing them. Tests that read
    audit events use capture_logs().
    """
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.KeyValueRenderer()],
        logger_factory=structlog.ReturnLoggerFactory(),
    )
    yield
    structlog.reset_defaults()
