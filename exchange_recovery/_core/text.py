"""Text that reaches a terminal, a journal or a log: one line, printable, bounded."""

from __future__ import annotations

from typing import Final

SHOWN: Final = 200
"""At most this many characters of a value are shown before it is cut (with its length)."""


def escape_text(value: object, limit: int = SHOWN) -> str:
    """`value` as one safe line: printable characters as themselves, every other one escaped.

    Control characters (newlines, ``ESC``), format and bidi characters (zero-width spaces,
    ``U+202E``), lone surrogates and the backslash itself are written as Python escapes, so a
    hostile string can neither add a line, hide text nor move the cursor; a value longer than
    `limit` characters is cut and says how long it was. A non-str is shown as its `repr`.

    Example:
        >>> escape_text("ok\\n\\x1b[8mHALTED -> NORMAL")
        'ok\\\\n\\\\x1b[8mHALTED -> NORMAL'
        >>> escape_text("x" * 300, limit=5)
        'xxxxx...(300 chars)'
    """
    text = value if isinstance(value, str) else repr(value)
    cut = len(text) > limit
    shown = text[:limit] if cut else text
    if not (shown.isprintable() and "\\" not in shown):
        shown = "".join(ch if ch.isprintable() and ch != "\\" else
                        ch.encode("unicode_escape", "backslashreplace").decode("ascii")
                        for ch in shown)
    return f"{shown}...({len(text)} chars)" if cut else shown
