"""docs/regen.py, loaded by path (docs/ is not a package): what regenerates the docs' copies."""

from __future__ import annotations

import importlib.util
import pathlib

_PATH = pathlib.Path(__file__).resolve().parent.parent / "docs" / "regen.py"
_spec = importlib.util.spec_from_file_location("exchange_recovery_docs_regen", _PATH)
assert _spec is not None
assert _spec.loader is not None
regen_docs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(regen_docs)
