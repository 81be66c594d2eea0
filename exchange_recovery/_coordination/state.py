"""The coordinator's state as read: each scope's latest record and the version (pure data)."""

from __future__ import annotations

import types
from collections.abc import Mapping
from typing import Any

import attrs

from .._decide.records import TransitionRecord


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(value))


@attrs.frozen(eq=False)
class CoordinatorState:
    """A consistent read of the coordinator: each stored scope's latest record, and the version.

    `phases` holds only scopes that have a record (the venue without one is in the policy's
    initial phase, an instrument without one follows the venue). `version` is the highest
    record version (0 before any transition); `revision` is the store's own position when it
    was read (>= `version`; for etcd, the header revision), where following can resume.
    """

    records: Mapping[str, TransitionRecord] = attrs.field(converter=_frozen_map)
    version: int
    revision: int

    @property
    def phases(self) -> Mapping[str, str]:
        """Each stored scope's phase (its record's destination)."""
        return types.MappingProxyType({s: r.dest for s, r in self.records.items()})

    def __reduce__(self) -> tuple[object, ...]:
        return CoordinatorState, (dict(self.records), self.version, self.revision)

    def version_of(self, scope: str) -> int:
        """The version of `scope`'s latest record (0: never moved): what a proposal compares."""
        record = self.records.get(scope)
        return 0 if record is None else record.version

    @classmethod
    def of(cls, records: Mapping[str, TransitionRecord], revision: int = 0) -> CoordinatorState:
        """Build a state from per-scope records (version = the highest record version)."""
        version = max((r.version for r in records.values()), default=0)
        return cls(records, version, max(revision, version))
