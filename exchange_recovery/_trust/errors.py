"""The trust layer's exceptions, under the library's `ExchangeRecoveryError`.

```
ExchangeRecoveryError
├── IdentityError   (also ValueError)  an id is refused: it names the field and the value
├── DirectoryError  (also ValueError)  a directory of principals has problems (all are listed)
└── SigningError    (also ValueError)  a key cannot be used, or fields cannot be signed
```
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from .._core.errors import ExchangeRecoveryError
from .._core.text import shown

_SHOWN = 80
"""At most this many characters of a refused value are shown (an id may be hostile and long)."""


def bounded_repr(value: object, limit: int = _SHOWN) -> str:
    """`repr(value)` cut to about `limit` characters, so a hostile value cannot flood a message.

    Escaped to one line, and never raising: a value whose repr raises is shown by its type
    (see `exchange_recovery._core.model.shown`).

    Example:
        >>> bounded_repr("x" * 500).endswith("...(502 chars)")
        True
    """
    return shown(value, limit)


def _text(value: object) -> str:
    """A str argument of an error as itself, anything else bounded (never raises)."""
    return value if type(value) is str else bounded_repr(value)


class IdentityError(ExchangeRecoveryError, ValueError):
    """An id (or other identity text) is refused; `field`, `value` and `problem` say why."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        msg = f"invalid {_text(field)}: {_text(problem)}; got {bounded_repr(value)}"
        super().__init__(msg)

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.field, self.value, self.problem)


@attrs.frozen
class DirectoryProblem:
    """One problem of a directory: where (file, line, key), and what is wrong."""

    where: str
    message: str
    source: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        at = ":".join(_text(part) if not isinstance(part, int) else str(part)
                      for part in (self.source, self.line) if part is not None)
        return f"{at + ': ' if at else ''}{_text(self.where)}: {_text(self.message)}"


class DirectoryError(ExchangeRecoveryError, ValueError):
    """A directory of principals cannot be used; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[DirectoryProblem]) -> None:
        try:
            listed = tuple(problems)
        except Exception:  # an exception must be built whatever it is given
            listed = (DirectoryProblem("problems", f"not a list of problems: {bounded_repr(problems)}"),)
        self.problems: tuple[DirectoryProblem, ...] = listed
        lines = "\n".join(f"  - {p if isinstance(p, DirectoryProblem) else bounded_repr(p)}"
                          for p in self.problems)
        msg = f"directory has {len(self.problems)} problem(s):\n{lines}"
        super().__init__(msg)

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.problems,)


class SigningError(ExchangeRecoveryError, ValueError):
    """A signing key cannot be used (unreadable, wrong kind, too open), or fields cannot be signed."""
