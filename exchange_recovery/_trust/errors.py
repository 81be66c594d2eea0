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

_SHOWN = 80
"""At most this many characters of a refused value are shown (an id may be hostile and long)."""


def bounded_repr(value: object, limit: int = _SHOWN) -> str:
    """`repr(value)` cut to about `limit` characters, so a hostile value cannot flood a message.

    Example:
        >>> bounded_repr("x" * 500).endswith("...(502 chars)")
        True
    """
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} chars)"


class IdentityError(ExchangeRecoveryError, ValueError):
    """An id (or other identity text) is refused; `field`, `value` and `problem` say why."""

    def __init__(self, field: str, value: object, problem: str) -> None:
        self.field = field
        self.value = value
        self.problem = problem
        msg = f"invalid {field}: {problem}; got {bounded_repr(value)}"
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
        at = ":".join(str(part) for part in (self.source, self.line) if part is not None)
        return f"{at + ': ' if at else ''}{self.where}: {self.message}"


class DirectoryError(ExchangeRecoveryError, ValueError):
    """A directory of principals cannot be used; `problems` lists every problem found."""

    def __init__(self, problems: Sequence[DirectoryProblem]) -> None:
        self.problems: tuple[DirectoryProblem, ...] = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        msg = f"directory has {len(self.problems)} problem(s):\n{lines}"
        super().__init__(msg)

    def __reduce__(self) -> tuple[object, ...]:
        return type(self), (self.problems,)


class SigningError(ExchangeRecoveryError, ValueError):
    """A signing key cannot be used (unreadable, wrong kind, too open), or fields cannot be signed."""
