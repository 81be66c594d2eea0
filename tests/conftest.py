"""Shared test configuration: hypothesis profiles, loud skips, and quiet audit events.

Profiles: ``ci`` (the default under .ci/run: derandomized, bounded, deterministic on a noisy
2-core machine), ``dev`` (hypothesis defaults) and ``explore`` (long runs, opt-in with
``HYPOTHESIS_PROFILE=explore``).

Without an optional extra (``etcd``; fastlob from the ``examples`` group) the tests that need
it skip with a reason naming what to install, and ``-ra`` lists them in the summary. Under
``CI=true`` every skip is a failure instead: CI runs everything. One narrow exception: a skip
whose reason starts with `UNAVAILABLE` followed by a package name stays a skip where
pyproject.toml's ``examples`` group declares that package is not installed (its environment
marker, e.g. ``bourse==0.4.0; python_version < "3.13"``, is false on this Python); each one is
listed in its own section at the end of the run.
"""

from __future__ import annotations

import os
import pathlib
import tomllib
from collections.abc import Generator, Iterator

import pytest
import structlog
from hypothesis import HealthCheck, settings
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

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

UNAVAILABLE = "UNAVAILABLE ON THIS PYTHON:"
"""Starts the reason of a skip for a package the project does not install on this Python."""


def not_installed_here(pyproject: pathlib.Path) -> frozenset[str]:
    """The packages of the ``examples`` group whose environment marker is false here.

    pytest depends on ``packaging``, so the markers are evaluated the way pip evaluates them.
    No pyproject.toml (or no such group) declares nothing: every skip then fails under CI.
    """
    try:
        groups = tomllib.loads(pyproject.read_text(encoding="utf-8"))["dependency-groups"]
    except (OSError, KeyError):
        return frozenset()
    requirements = [Requirement(item) for item in groups.get("examples", [])
                    if isinstance(item, str)]
    return frozenset(canonicalize_name(r.name) for r in requirements
                     if r.marker is not None and not r.marker.evaluate())


def declared_unavailable(reason: str, not_installed: frozenset[str]) -> bool:
    """Whether a skip `reason` is ``UNAVAILABLE ON THIS PYTHON: <package> ...`` for a package
    in `not_installed`."""
    text = reason.removeprefix("Skipped: ")
    if not text.startswith(UNAVAILABLE):
        return False
    words = text[len(UNAVAILABLE):].split()
    return bool(words) and canonicalize_name(words[0]) in not_installed


_NOT_INSTALLED_HERE = not_installed_here(pathlib.Path(__file__).resolve().parent.parent
                                         / "pyproject.toml")
_UNAVAILABLE_SKIPS: list[str] = []


def _fail_skip(report: pytest.CollectReport | pytest.TestReport) -> None:
    """Under CI=true, turn a skip (not an xfail) into a failure that says what was skipped.

    A skip declared unavailable on this Python stays a skip, and is remembered for the summary.
    """
    if not (report.skipped and not hasattr(report, "wasxfail")):
        return
    longrepr = report.longrepr
    reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
    if declared_unavailable(reason, _NOT_INSTALLED_HERE):
        _UNAVAILABLE_SKIPS.append(f"{report.nodeid}: {reason.removeprefix('Skipped: ')}")
        return
    if not CI:
        return
    report.outcome = "failed"
    report.longrepr = f"skipped, but CI=true runs everything: {reason}"
    if UNAVAILABLE in reason:
        report.longrepr += (" (honoured only where pyproject.toml's examples group does not install "
                            "the package named after it)")


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


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """List, loudly, every test not run because its package does not install on this Python."""
    if not _UNAVAILABLE_SKIPS:
        return
    terminalreporter.section(f"NOT RUN: {UNAVAILABLE.rstrip(':')}", sep="!", yellow=True,
                             bold=True)
    for line in _UNAVAILABLE_SKIPS:
        terminalreporter.line(line, yellow=True, bold=True)


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
