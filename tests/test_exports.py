"""The public surface: what is exported, documented and typed."""

from __future__ import annotations

import inspect
import pathlib
from types import ModuleType

import pytest

import exchange_recovery

PACKAGE = pathlib.Path(exchange_recovery.__file__).parent


def _assert_exported_once_and_documented(module: ModuleType, homes: set[str]) -> None:
    names = module.__all__
    assert len(set(names)) == len(names)
    for name in names:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, f"{name} has no docstring"
            assert obj.__module__ in homes, name


def test_every_public_name_is_exported_once_and_documented() -> None:
    _assert_exported_once_and_documented(exchange_recovery, {"exchange_recovery"})


def test_package_ships_its_type_information() -> None:
    assert (PACKAGE / "py.typed").is_file()


def test_testing_kit_exports_are_documented_and_public() -> None:
    """exchange_recovery.testing: unique `__all__`, docstrings, public module paths."""
    import exchange_recovery.testing as kit  # noqa: PLC0415 - needs hypothesis, kept local

    _assert_exported_once_and_documented(kit, {"exchange_recovery", "exchange_recovery.testing"})


def test_etcd_exports_are_documented_and_public() -> None:
    """exchange_recovery.etcd: unique `__all__`, docstrings, public module paths."""
    pytest.importorskip("aetcd", reason="needs the 'etcd' extra: pip install -e '.[etcd]'")
    from exchange_recovery import etcd  # noqa: PLC0415 - needs aetcd, kept local

    _assert_exported_once_and_documented(etcd, {"exchange_recovery.etcd"})
