"""Packaging by the book: metadata, extras that name themselves, a suite that runs without them."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import textwrap
from importlib.metadata import metadata

import pytest

import exchange_recovery

ROOT = pathlib.Path(__file__).parent.parent


def _python(code: str, *, env: dict[str, str] | None = None,
            cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=120, check=False, env=env, cwd=cwd)


def test_the_installed_metadata_has_one_version_a_license_and_three_pythons() -> None:
    """Version from ``__version__``, an SPDX license with its file, 3.11-3.13, the project's urls."""
    meta = metadata("exchange-recovery")

    assert meta["Version"] == exchange_recovery.__version__
    assert meta["License-Expression"] == "MIT"
    assert meta.get_all("License-File") == ["LICENSE"]
    classifiers = meta.get_all("Classifier") or []
    for version in ("3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {version}" in classifiers
    assert any(c.startswith("Development Status ::") for c in classifiers)
    assert any(c.startswith("Topic ::") for c in classifiers)
    assert sorted(meta.get_all("Provides-Extra") or []) == ["etcd", "testing"]
    urls = meta.get_all("Project-URL") or []
    assert any(u.startswith("Repository, https://github.com/exchange-recovery/") for u in urls)


@pytest.mark.parametrize(("blocked", "statement", "extra"), [
    ("aetcd", "import exchange_recovery.etcd", "etcd"),
    ("grpc", "from exchange_recovery.etcd import EtcdCoordinator", "etcd"),
    ("hypothesis", "from exchange_recovery.testing import requests", "testing"),
    ("hypothesis", "import exchange_recovery.testing as kit; kit.EngineConformance", "testing"),
])
def test_a_missing_extra_is_named_in_the_import_error(blocked: str, statement: str,
                                                      extra: str) -> None:
    """One line that says which extra to install, as a ModuleNotFoundError naming the module."""
    done = _python(f"""
        import sys
        sys.modules[{blocked!r}] = None  # as if not installed
        try:
            {statement}
        except ModuleNotFoundError as exc:
            print(exc.name, exc, sep="\\n")
    """)

    name, message = done.stdout.splitlines()
    assert name == blocked
    assert f"the '{extra}' extra" in message
    assert f"pip install 'exchange-recovery[{extra}]'" in message


def test_the_core_and_the_manual_clock_import_without_any_extra() -> None:
    done = _python("""
        import sys
        for name in ("hypothesis", "aetcd", "grpc"):
            sys.modules[name] = None
        import exchange_recovery
        from exchange_recovery.testing import ManualClock
        print(ManualClock()())
    """)

    assert done.returncode == 0, done.stderr


_COLLECT_WITHOUT_EXTRAS = """
    import sys
    for name in ("aetcd", "grpc", "fastlob"):
        sys.modules[name] = None
    import pytest
    sys.exit(pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", "-rs",
                          "tests/test_etcd.py", "tests/test_fastlob_kit.py",
                          "tests/test_gate.py"]))
"""


def test_the_suite_collects_without_the_optional_extras_and_says_what_it_skips() -> None:
    """No etcd extra, no fastlob: the rest is collected, and each skip names what is missing."""
    env = {k: v for k, v in os.environ.items() if k != "CI"}

    done = _python(_COLLECT_WITHOUT_EXTRAS, env=env, cwd=ROOT)

    assert done.returncode == 0, done.stdout + done.stderr
    assert "tests/test_gate.py::" in done.stdout
    assert "SKIPPED" in done.stdout
    assert "etcd extra is not installed" in done.stdout
    assert "fastlob" in done.stdout


def test_under_ci_a_missing_extra_fails_the_run() -> None:
    """CI=true runs everything: the same collection without the extras fails."""
    done = _python(_COLLECT_WITHOUT_EXTRAS, env={**os.environ, "CI": "true"}, cwd=ROOT)

    assert done.returncode != 0
    assert "CI=true runs everything" in done.stdout or "aetcd" in done.stdout
