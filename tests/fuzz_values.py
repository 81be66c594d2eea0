"""Hostile values for the fuzz suite: what a careless or malicious caller passes to a public door.

Two views of one catalogue:

- `CATALOGUE`: named factories (a fresh object per call: a door may keep or mutate what it is
  given), swept in full by the fuzz suite so that every known kind of bad value reaches every
  argument, deterministically;
- `hostile()`: a hypothesis strategy drawing from the catalogue and from generated values (text
  with control characters and lone surrogates, huge and non-finite numbers, nested containers),
  for what the catalogue does not think of.

Each value carries a *cause* (`CAUSE`): the kind of mistake it stands for, which the suite's
figures are counted by (unhashable, non-iterable, wrong type, number, callable, text, raising).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterator
from typing import Final

from hypothesis import strategies as st


class Raising:
    """An object every one of whose protocol methods raises: equality, hashing, printing, truth,
    iteration, length, numbers. A door that touches it before checking its type leaks."""

    def _boom(self, *_args: object, **_kwargs: object) -> object:
        msg = "hostile object touched"
        raise RuntimeError(msg)

    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _boom  # type: ignore[assignment]
    __hash__ = _boom  # type: ignore[assignment]
    __str__ = __repr__ = __format__ = _boom  # type: ignore[assignment]
    __bool__ = __len__ = __iter__ = __contains__ = __getitem__ = _boom
    __index__ = __int__ = __float__ = __fspath__ = __call__ = _boom
    __getattr__ = _boom  # (only for attributes it does not have)


class RaisingRepr:
    """A well-behaved object except that it cannot be shown: ``repr`` and ``str`` raise."""

    def __repr__(self) -> str:
        msg = "no repr"
        raise RuntimeError(msg)

    __str__ = __repr__


class RaisingHash:
    """Equality works, hashing raises (an unhashable that is not a builtin container)."""

    def __hash__(self) -> int:
        msg = "no hash"
        raise TypeError(msg)

    def __repr__(self) -> str:
        return "<RaisingHash>"


class RaisingBool:
    """Truth raises: ``if value:`` on it leaks."""

    def __bool__(self) -> bool:
        msg = "no truth value"
        raise RuntimeError(msg)

    def __repr__(self) -> str:
        return "<RaisingBool>"


class SneakyStr(str):
    """A str subclass whose hashing and equality raise: passes ``isinstance(x, str)``."""

    def __hash__(self) -> int:
        msg = "no hash"
        raise RuntimeError(msg)

    def __eq__(self, other: object) -> bool:
        msg = "no equality"
        raise RuntimeError(msg)

    __ne__ = __eq__


class SneakyInt(int):
    """An int subclass whose string forms raise (passes ``isinstance(x, int)``)."""

    def __repr__(self) -> str:
        msg = "no repr"
        raise RuntimeError(msg)

    __str__ = __repr__


@functools.cache
def _deep(depth: int = 100_000) -> list[object]:
    """A list nested `depth` deep: ``repr``, ``==``, ``json.dumps`` of it recurse past the limit.

    Built once and shared (building it is most of a sweep's time otherwise): no door mutates
    what it refuses.
    """
    value: list[object] = []
    for _ in range(depth):
        value = [value]
    return value


def _cycle() -> list[object]:
    loop: list[object] = []
    loop.append(loop)
    return loop


def _gen() -> Iterator[int]:
    yield from ()


def _not_callable_with_call() -> object:
    return Raising()


CATALOGUE: Final[dict[str, tuple[str, Callable[[], object]]]] = {
    # wrong types
    "None": ("wrong type", lambda: None),
    "object()": ("wrong type", object),
    "bytes": ("wrong type", lambda: b"BTC-USDT-SWAP"),
    "bytes NUL": ("wrong type", lambda: b"\x00\xff"),
    "type": ("wrong type", lambda: int),
    "exception": ("wrong type", lambda: ValueError("x")),
    "empty generator": ("wrong type", _gen),
    # bools where ints are expected, numbers where strs are
    "True": ("number", lambda: True),
    "False": ("number", lambda: False),
    "0": ("number", lambda: 0),
    "-1": ("number", lambda: -1),
    "5": ("number", lambda: 5),
    "1.5": ("number", lambda: 1.5),
    "-0.0": ("number", lambda: -0.0),
    "nan": ("number", lambda: math.nan),
    "inf": ("number", lambda: math.inf),
    "-inf": ("number", lambda: -math.inf),
    "1e308": ("number", lambda: 1e308),
    "10**400": ("number", lambda: 10**400),
    "-10**400": ("number", lambda: -(10**400)),
    "10**5000": ("number", lambda: 10**5000),  # str() and repr() of it raise ValueError
    "2**63": ("number", lambda: 2**63),
    "complex": ("number", lambda: 1j),
    # unhashables
    "[]": ("unhashable", list),
    "[1]": ("unhashable", lambda: [1]),
    "{}": ("unhashable", dict),
    "{'a': 1}": ("unhashable", lambda: {"a": 1}),
    "set()": ("unhashable", set),
    "RaisingHash": ("unhashable", RaisingHash),
    # iterables of the wrong things, nested
    "(None,)": ("wrong type", lambda: (None,)),
    "[[]]": ("unhashable", lambda: [[]]),
    "deep list": ("unhashable", _deep),
    "cyclic list": ("unhashable", _cycle),
    # text
    "''": ("text", lambda: ""),
    "' '": ("text", lambda: " "),
    "NUL": ("text", lambda: "\x00"),
    "BTC\\x00": ("text", lambda: "BTC\x00"),
    "newline": ("text", lambda: "ops\nHALTED -> NORMAL"),
    "ESC": ("text", lambda: "\x1b[31mred"),
    "bidi": ("text", lambda: "\u202eevil"),
    "lone surrogate": ("text", lambda: "bad\udcff"),
    "long str": ("text", lambda: "x" * 100_000),
    "venue": ("text", lambda: "venue"),
    "deep TOML": ("text", lambda: "a = " + "[" * 50_000 + "]" * 50_000),
    "SneakyStr": ("raising", lambda: SneakyStr("NORMAL")),
    # objects that raise when touched
    "Raising": ("raising", Raising),
    "RaisingRepr": ("raising", RaisingRepr),
    "RaisingBool": ("raising", RaisingBool),
    "SneakyInt": ("raising", lambda: SneakyInt(3)),
    # callables that are not what they should be
    "lambda raising": ("callable", lambda: lambda *_a, **_k: 1 / 0),
    "lambda -> nan": ("callable", lambda: lambda *_a, **_k: math.nan),
    "print": ("callable", lambda: print),
}
"""Label -> (cause, factory). Sweeping it puts every kind of bad value through every argument."""

CAUSES: Final = ("unhashable", "non-iterable", "wrong type", "number", "path", "callable", "text",
                 "raising")
"""The causes a leak is counted by in the suite's figures (non-iterable and path are assigned
from where a value leaked: a number given for a collection, a str given for a path)."""


def make(label: str) -> object:
    """A fresh instance of the catalogue's value `label`."""
    return CATALOGUE[label][1]()


_TEXT: Final = st.text(
    st.characters(codec=None, categories=("Cc", "Cf", "Cs", "Zl", "Zp", "Zs", "Lu", "Ll", "Nd")),
    max_size=40,
)
_NUMBERS: Final = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([10**400, -(10**400), 2**64, True, False]),
)
_NESTED: Final = st.recursive(
    st.none() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner,
                                                                 max_size=3),
    max_leaves=8,
)


def hostile() -> st.SearchStrategy[object]:
    """Any hostile value: the catalogue, or generated text, numbers and nested containers."""
    return st.one_of(
        st.sampled_from(sorted(CATALOGUE)).map(make),
        _TEXT,
        _NUMBERS,
        _NESTED,
    )
