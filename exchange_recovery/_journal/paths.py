"""File paths as the journal's doors take them: checked before anything touches the disk."""

from __future__ import annotations

import os
import pathlib
from typing import Final

from .._core.errors import ConfigurationError
from .._core.text import shown

_MAX_PATH: Final = 4096
"""The longest path a journal door takes (characters): PATH_MAX on Linux."""


def file_path(value: object, field: str = "path") -> pathlib.Path:
    """`value` as a file path a journal door can use, or a `ConfigurationError` naming `field`.

    A path is a non-empty str or `os.PathLike` of at most 4096 characters, encodable by the
    file system, with no NUL.
    """
    try:
        text = os.fspath(value) if isinstance(value, str | os.PathLike) else None
        ok = isinstance(text, str) and 0 < len(text) <= _MAX_PATH and "\x00" not in text
        if ok:
            os.fsencode(text)  # type: ignore[arg-type]  # a str, checked above
    except Exception:  # a hostile PathLike, or a name the file system cannot encode
        ok = False
    if not ok:
        msg = f"{field} must be a file path (a non-empty str without NUL), got {shown(value)}"
        raise ConfigurationError(msg)
    return pathlib.Path(text)  # type: ignore[arg-type]  # a str, checked above
