"""Text that reaches a terminal, a journal or a log: one line, printable, bounded."""

from __future__ import annotations

import reprlib
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


_REPR: Final = reprlib.Repr()
_REPR.maxlevel, _REPR.maxstring, _REPR.maxother, _REPR.maxlong = 3, 100, 100, 100
_REPR.maxlist = _REPR.maxtuple = _REPR.maxset = _REPR.maxfrozenset = _REPR.maxdict = 6


def shown(value: object, limit: int = 80) -> str:
    """`value` as an error message shows it: its repr, bounded, escaped, on one line. Never raises.

    A value whose repr raises (a hostile ``__repr__``, an int of more digits than ``str()``
    converts) is shown by its type; containers are cut after a few items and levels; control,
    format and bidi characters a custom repr lets through are escaped (`escape_text`); a long
    text is cut, saying how long it was.

    Example:
        >>> shown("x" * 100, limit=10)
        "'xxxxxxxxx...(102 chars)"
        >>> shown(10**5000), shown([[[[[1]]]]])
        ('<int of 16610 bits>', '[[[[...]]]]')
    """
    try:
        if isinstance(value, str):
            text = str.__repr__(value)  # not a subclass's own __repr__
        elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 256:
            text = f"<{type(value).__name__} of {value.bit_length()} bits>"
        else:
            text = _REPR.repr(value)
    except Exception:  # a value that cannot be shown is shown by its type
        text = f"<unrepresentable {type(value).__name__}>"
    if not text.isprintable():  # a repr of a str is printable already: a custom repr may not be
        text = "".join(ch if ch.isprintable() else escape_text(ch) for ch in text)
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"
