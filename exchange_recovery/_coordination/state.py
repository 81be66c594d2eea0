"""The coordinator's state as read: each scope's latest record and the version (pure data)."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import attrs

from .._core.errors import ConfigurationError
from .._core.text import shown
from .._decide.records import TransitionRecord


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy of a scope -> record mapping, each key a str and each value a record."""
    if not isinstance(value, Mapping):
        msg = f"records must be a mapping of scope to TransitionRecord, got {shown(value)}"
        raise ConfigurationError(msg)
    try:
        records = dict(value)
    except Exception:  # a mapping whose iteration raises
        msg = f"records must be a mapping of scope to TransitionRecord, got {shown(value)}"
        raise ConfigurationError(msg) from None
    bad = [scope for scope, record in records.items()
           if type(scope) is not str or not isinstance(record, TransitionRecord)]
    if bad:
        msg = (f"records must map scope names (strs) to TransitionRecords; not so for "
               f"{shown(bad)}")
        raise ConfigurationError(msg)
    return types.MappingProxyType(records)


def _count(_instance: object, attribute: attrs.Attribute[int], value: object) -> None:
    if type(value) is not int or value < 0:
        msg = f"{attribute.name} must be an int >= 0, got {shown(value)}"
        raise ConfigurationError(msg)


@attrs.frozen(eq=False)
class CoordinatorState:
    """A consistent read of the coordinator: each stored scope's latest record, and the version.

    `phases` holds only scopes that have a record (the venue without one is in the policy's
    initial phase, an instrument without one follows the venue). `version` is the highest
    record version (0 before any transition); `revision` is the store's own position when it
    was read (>= `version`; for etcd, the header revision), where following can resume.

    Raises:
        ConfigurationError: `records` is not a mapping of str to `TransitionRecord`, or a
            version or revision is not an int >= 0.
    """

    records: Mapping[str, TransitionRecord] = attrs.field(converter=_frozen_map)
    version: int = attrs.field(validator=_count)
    revision: int = attrs.field(validator=_count)

    @property
    def phases(self) -> Mapping[str, str]:
        """Each stored scope's phase (its record's destination)."""
        return types.MappingProxyType({s: r.dest for s, r in self.records.items()})

    def __reduce__(self) -> tuple[object, ...]:
        return CoordinatorState, (dict(self.records), self.version, self.revision)

    def version_of(self, scope: str) -> int:
        """The version of `scope`'s latest record (0: never moved): what a proposal compares.

        Raises:
            ConfigurationError: `scope` is not a str.
        """
        if type(scope) is not str:
            msg = f"scope must be a str, got {shown(scope)}"
            raise ConfigurationError(msg)
        record = self.records.get(scope)
        return 0 if record is None else record.version

    @classmethod
    def of(cls, records: Mapping[str, TransitionRecord], revision: int = 0) -> CoordinatorState:
        """Build a state from per-scope records (version = the highest record version).

        Raises:
            ConfigurationError: as the constructor.
        """
        checked = _frozen_map(records)
        _count(None, attrs.fields(CoordinatorState).revision, revision)
        versions = [r.version for r in checked.values()]
        if not all(type(v) is int and v >= 0 for v in versions):
            msg = f"records must carry int versions >= 0, got {shown(versions)}"
            raise ConfigurationError(msg)
        version = max(versions, default=0)
        return cls(checked, version, max(revision, version))
