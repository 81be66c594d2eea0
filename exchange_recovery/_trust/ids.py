"""Canonical ids and confusable skeletons: the two-person rule compares people, not spellings.

An id names a principal (``"ops:alice"``). `canonical_id` refuses what no honest id contains
and returns one spelling per id; `skeleton` folds look-alike letters, so that two ids are the
same person exactly when their skeletons are equal (`same_principal`).

Refused (`IdentityError`, naming the field and the value):
    - anything but a non-empty ``str`` of at most `MAX_ID_LENGTH` characters (before and after
      normalization: NFKC can lengthen a text);
    - whitespace anywhere: edge whitespace (``"ops:Alice "``, a trailing newline) and inner
      whitespace alike. An id is a stable key, a person's full name goes in the directory's
      ``name``; a doubled inner space is invisible, so none is allowed;
    - control characters (``NUL``, ``ESC``, ...), format characters (Unicode category Cf: zero
      width space, zero width joiner, bidi overrides and isolates, soft hyphen, ...), surrogates,
      private-use and unassigned code points, line and paragraph separators.

Mapped (accepted, same principal):
    - NFKC, then casefold (repeated until stable, so `canonical_id` is idempotent): ``ops:alice``
      in fullwidth letters (U+FF4F ...) and ``"OPS:Alice"`` are both ``"ops:alice"``;
    - confusables, by `skeleton` only (the canonical id keeps its letters): ``"ops:\\u0430lice"``
      (a Cyrillic small a, U+0430) has the skeleton of ``"ops:alice"``.

The confusables table is a compact, deliberate subset of Unicode's UTS #39 data, chosen for
what the canonical form *looks like*: the canonical form is casefolded, it is the spelling the
library stores and shows, and a directory file must be written in it. So the table maps
lowercase letters (Cyrillic and Greek look-alikes of Latin ones, and a few Latin letters
outside ASCII). Where a Greek or Cyrillic capital and its small letter look like different
Latin letters, the small letter's look wins: a capital nu reads N but is stored as a small nu,
which reads v, so it folds to v (likewise eta: n, not H); Cyrillic capitals whose small letters
look like no Latin letter (VE, EN, KA, EM, TE) are not folded at all. Beyond single letters the
skeleton drops combining marks (``"e\\u0301"`` is ``"e"``), folds ``0`` to ``o``, ``1`` and
``|`` to ``l``, and ``m`` to ``rn``. Folding too much only ever merges: two names that fold
together cannot both be in one directory (`StaticDirectory` refuses them), and a spelling that
folds onto a principal must still carry that principal's signature. Not folded: other
multi-letter look-alikes (``vv``/``w``, ``cl``/``d``) and scripts beyond Latin, Greek and
Cyrillic.
"""

from __future__ import annotations

import unicodedata
from typing import Final

from .errors import IdentityError

MAX_ID_LENGTH: Final = 128
"""The longest id accepted, in code points."""

_REFUSED_CATEGORIES: Final = {
    "Cc": "a control character",
    "Cf": "a format character",
    "Cs": "a surrogate",
    "Co": "a private-use character",
    "Cn": "an unassigned code point",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Zs": "whitespace",
}

# What a casefolded look-alike reads as (see the module docstring for the choices). Written by
# Unicode name: a table of look-alike characters is unreadable by construction.
_READS_AS: Final[dict[str, tuple[str, ...]]] = {
    "a": ("CYRILLIC SMALL LETTER A", "GREEK SMALL LETTER ALPHA", "LATIN SMALL LETTER ALPHA"),
    "c": ("CYRILLIC SMALL LETTER ES",),
    "d": ("CYRILLIC SMALL LETTER KOMI DE",),
    "e": ("CYRILLIC SMALL LETTER IE", "GREEK SMALL LETTER EPSILON"),
    "g": ("LATIN SMALL LETTER SCRIPT G",),
    "h": ("CYRILLIC SMALL LETTER SHHA",),
    "i": ("CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", "GREEK SMALL LETTER IOTA",
          "LATIN SMALL LETTER DOTLESS I", "LATIN SMALL LETTER IOTA"),
    "j": ("CYRILLIC SMALL LETTER JE", "LATIN SMALL LETTER DOTLESS J"),
    "k": ("GREEK SMALL LETTER KAPPA",),
    "l": ("DIGIT ONE", "VERTICAL LINE", "CYRILLIC SMALL LETTER PALOCHKA", "LATIN LETTER DENTAL CLICK"),
    "n": ("GREEK SMALL LETTER ETA",),
    "o": ("DIGIT ZERO", "CYRILLIC SMALL LETTER O", "GREEK SMALL LETTER OMICRON"),
    "p": ("CYRILLIC SMALL LETTER ER", "GREEK SMALL LETTER RHO"),
    "q": ("CYRILLIC SMALL LETTER QA",),
    "rn": ("LATIN SMALL LETTER M",),
    "s": ("CYRILLIC SMALL LETTER DZE",),
    "u": ("GREEK SMALL LETTER UPSILON", "GREEK SMALL LETTER MU"),
    "v": ("GREEK SMALL LETTER NU",),
    "w": ("CYRILLIC SMALL LETTER WE", "GREEK SMALL LETTER OMEGA"),
    "x": ("CYRILLIC SMALL LETTER HA", "GREEK SMALL LETTER CHI"),
    "y": ("CYRILLIC SMALL LETTER U", "CYRILLIC SMALL LETTER STRAIGHT U", "GREEK SMALL LETTER GAMMA"),
}
_CONFUSABLES: Final = str.maketrans({unicodedata.lookup(name): latin
                                     for latin, names in _READS_AS.items() for name in names})
_MARKS: Final = frozenset({"Mn", "Me"})
_STABLE_AFTER: Final = 4
"""NFKC + casefold settles in one or two rounds; a text still moving after this many is refused."""


def _check(text: object, field: str, *, allow_space: bool = False) -> str:
    """`text` itself if it is a str an id may be spelled with, else `IdentityError`."""
    if type(text) is not str:
        raise IdentityError(field, text, f"expected a str, got {type(text).__name__}")
    if not text:
        raise IdentityError(field, text, "empty")
    if len(text) > MAX_ID_LENGTH:
        raise IdentityError(field, text, f"longer than {MAX_ID_LENGTH} characters ({len(text)})")
    if text != text.strip():
        raise IdentityError(field, text, "leading or trailing whitespace")
    for index, char in enumerate(text):
        if allow_space and char == " ":
            continue
        what = _REFUSED_CATEGORIES.get(unicodedata.category(char))
        if what is None and char.isspace():  # e.g. U+001C..U+001F are spaces to str.split
            what = "whitespace"
        if what is not None:
            name = unicodedata.name(char, "")
            named = f"U+{ord(char):04X}{' ' + name if name else ''}"
            raise IdentityError(field, text, f"{what} ({named}) at index {index}")
    return text


def canonical_id(text: str, *, field: str = "id") -> str:
    """The canonical spelling of an id: checked, then NFKC and casefold (see the module doc).

    Args:
        text: the id as written.
        field: what the text is, for the error message (``"approver"``, ``"principals[2].id"``).

    Returns:
        The canonical id; ``canonical_id(canonical_id(x)) == canonical_id(x)``.

    Raises:
        IdentityError: `text` is not a str, is empty or too long, or contains whitespace,
            control, format, surrogate, private-use or unassigned characters (before or after
            normalization).

    Example:
        >>> canonical_id("OPS:Alice")
        'ops:alice'
        >>> fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "ops:alice")
        >>> fullwidth != "ops:alice", canonical_id(fullwidth)
        (True, 'ops:alice')
        >>> try:
        ...     canonical_id("ops:al\\u200bice")
        ... except IdentityError as error:
        ...     print(error.problem)
        a format character (U+200B ZERO WIDTH SPACE) at index 6
    """
    current = _check(text, field)
    for _ in range(_STABLE_AFTER):
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", current).casefold())
        if folded == current:
            break
        current = folded
    else:
        raise IdentityError(field, text, "does not normalize to a stable form")
    try:
        return _check(current, field)
    except IdentityError as error:  # shown with the text as given, not as normalized
        raise IdentityError(field, text, f"after normalization: {error.problem}") from None


def skeleton(text: str, *, field: str = "id") -> str:
    """The confusable skeleton of an id: equal skeletons, same principal.

    The canonical id, without combining marks, with look-alike letters folded to the Latin
    ones they read as (the table and its choices are in the module docstring). A comparison
    key only: never shown, never stored as an id.

    Raises:
        IdentityError: as `canonical_id`.

    Example:
        >>> skeleton("ops:\\u0430lice") == skeleton("ops:alice")  # a Cyrillic a
        True
        >>> skeleton("ops:ALICE"), skeleton("ops:bob0")
        ('ops:alice', 'ops:bobo')
    """
    decomposed = unicodedata.normalize("NFD", canonical_id(text, field=field))
    bare = "".join(c for c in decomposed if unicodedata.category(c) not in _MARKS)
    return bare.translate(_CONFUSABLES)


def same_principal(a: str, b: str) -> bool:
    """Whether two ids name the same principal: their skeletons are equal.

    Raises:
        IdentityError: either id is refused (as by `canonical_id`).

    Example:
        >>> same_principal("ops:Alice", "ops:\\u0430lice"), same_principal("ops:alice", "ops:bob")
        (True, False)
    """
    return skeleton(a) == skeleton(b)


def check_label(text: object, *, field: str, inner_spaces: bool = False) -> str:
    """`text` unchanged if it is a clean label (a role, a display name), else `IdentityError`.

    The checks of `canonical_id` without normalization: labels are compared as written. With
    `inner_spaces`, single spaces (U+0020) between words are allowed (a display name).

    Example:
        >>> check_label("Alice Example", field="name", inner_spaces=True)
        'Alice Example'
    """
    if inner_spaces and isinstance(text, str) and "  " in text:
        raise IdentityError(field, text, "two spaces in a row")
    return _check(text, field, allow_space=inner_spaces)
