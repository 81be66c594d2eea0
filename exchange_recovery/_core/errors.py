"""The library's exceptions: misuse is an exception, a refusal of an order is a `Decision`.

```
ExchangeRecoveryError
├── InvalidRequestError      (also ValueError)    a request field is missing, mistyped or inconsistent
├── InvalidPolicyError       (also ValueError)    a policy definition has problems (all are listed)
├── InvalidPlanError         (also ValueError)    a restart plan does not fit its policy (all listed)
├── ConfigurationError       (also ValueError)    a controller, gate or actor got unusable arguments
├── TransitionRefused        (also RuntimeError)  a phase transition was refused; nothing changed
│   └── TransitionConflict                        another proposal won the compare-and-swap
├── JournalError             (also ValueError)    a journal file cannot be used as asked
├── ConformanceFailure       (also AssertionError) an engine broke a phase rule under the testing kit
└── CoordinatorError         (also ConnectionError) the coordinator (etcd) did not answer in time
```
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from .text import escape_text, shown

if TYPE_CHECKING:
    from .._coordination.state import CoordinatorState
    from .._decide.records import TransitionRecord
    from .codes import ProblemCode, RefusalCode
    from .phases import Problem


class ExchangeRecoveryError(Exception):
    """Base class of every exception this library raises on purpose.

    Every one pickles with its fields and message, so it can cross a process pool or a queue.
    """


def _restore(cls: type[Exception], args: tuple[object, ...],
             kwargs: dict[str, object]) -> Exception:
    """Rebuild an exception from its constructor's arguments (pickling)."""
    return cls(*args, **kwargs)


class InvalidRequestError(ExchangeRecoveryError, ValueError):
    """A request field is missing, of the wrong type, or inconsistent with another field."""

    def __init__(self, field: str, value: object, expected: str) -> None:
        self.field = field
        self.value = value
        self.expected = expected
        msg = (f"invalid request field {shown(field)}: got {shown(value)}, "
               f"expected {_text(expected, 200)}")
        super().__init__(msg)

    def __reduce__(self) -> tuple[object, ...]:
        return _restore, (type(self), (self.field, self.value, self.expected), {})


class _ProblemsError(ExchangeRecoveryError, ValueError):
    """A definition failed validation; `problems` lists every problem found."""

    _what = "definition"

    def __init__(self, problems: Sequence[Problem]) -> None:
        try:
            self.problems: tuple[Problem, ...] = tuple(problems)
        except Exception:  # not a sequence: shown as the one problem it is
            self.problems = (problems,)  # type: ignore[assignment]
        lines = "\n".join(f"  - {_problem_text(p)}" for p in self.problems)
        msg = f"{self._what} has {len(self.problems)} problem(s):\n{lines}"
        super().__init__(msg)

    def __reduce__(self) -> tuple[object, ...]:
        return _restore, (type(self), (self.problems,), {})

    @property
    def codes(self) -> frozenset[ProblemCode]:
        """The distinct problem codes, for tests and scripts."""
        return frozenset(p.code for p in self.problems)


class InvalidPolicyError(_ProblemsError):
    """A policy definition failed validation; `problems` lists every problem found."""

    _what = "policy"


class InvalidPlanError(_ProblemsError):
    """A restart plan does not fit its policy; `problems` lists every problem found."""

    _what = "restart plan"


class ConfigurationError(ExchangeRecoveryError, ValueError):
    """A controller, gate or actor was given arguments of the wrong type or that cannot work."""


class TransitionRefused(ExchangeRecoveryError, RuntimeError):
    """A phase transition was refused; the phase, version and journal are unchanged.

    `context` holds what decided it as data (``guard``, ``needed_roles``, ``remaining``, ...);
    `detail` and the message are rendered from it (``key=value`` pairs, in order).
    """

    def __init__(
        self, code: RefusalCode, *, scope: str, phase: str, trigger: str, detail: str = "",
        context: Mapping[str, object] | None = None,
    ) -> None:
        self.code = code
        self.scope = scope
        self.phase = phase
        self.trigger = trigger
        self.context: Mapping[str, object] = types.MappingProxyType(_fields(context))
        if isinstance(detail, str):
            self.detail = detail or render_context(self.context)
        else:  # not text: shown, bounded (a caller's mistake must not hide the refusal)
            self.detail = shown(detail)
        try:
            label = code.value if isinstance(code.value, str) else shown(code)
        except Exception:
            label = shown(code)
        msg = (f"{label}: scope={_text(scope)} phase={_text(phase)} trigger={_text(trigger)} "
               f"{_text(self.detail, 2000)}").rstrip()
        super().__init__(msg)

    def _fields(self) -> dict[str, object]:
        return {"scope": self.scope, "phase": self.phase, "trigger": self.trigger,
                "detail": self.detail, "context": dict(self.context)}

    def __reduce__(self) -> tuple[object, ...]:
        return _restore, (type(self), (self.code,), self._fields())


def render_context(context: Mapping[str, object]) -> str:
    """``key=value`` pairs; collections as comma-separated items (``[]`` when empty)."""
    return " ".join(f"{key}={_render(value)}" for key, value in context.items())


def _fields(context: object) -> dict[str, object]:
    """A refusal's context as a plain dict; anything else is kept as its bounded repr."""
    if context is None:
        return {}
    try:
        if isinstance(context, Mapping):
            return {str(key): value for key, value in context.items()}
    except Exception:  # noqa: S110 - a hostile mapping: shown below
        pass
    return {"context": shown(context)}


def _text(value: object, limit: int = 80) -> str:
    """A str field as itself (bounded, escaped), anything else as `shown` shows it."""
    return escape_text(value, limit) if isinstance(value, str) else shown(value, limit)


def _problem_text(problem: object) -> str:
    try:
        return escape_text(str(problem), 400)
    except Exception:
        return shown(problem)


def _render(value: object) -> str:
    try:
        if isinstance(value, list | tuple | set | frozenset):
            items = sorted(map(str, value)) if isinstance(value, set | frozenset) else map(str, value)
            return ",".join(items) or "[]"
        if isinstance(value, float):
            return f"{value:g}"
        return value if isinstance(value, str) else str(value)
    except Exception:  # a hostile value: shown by its bounded repr
        return shown(value)


class JournalError(ExchangeRecoveryError, ValueError):
    """A journal file cannot be used as asked: it does not verify, or a record is out of order."""


class ConformanceFailure(ExchangeRecoveryError, AssertionError):
    """An engine under the conformance kit (`exchange_recovery.testing`) broke a phase rule."""


class TransitionConflict(TransitionRefused):
    """A proposal lost the compare-and-swap: another transition of its scope was stored first.

    `state` is the coordinator's state after the winner (re-read), `winner` the record that won
    (None if the scope's key was deleted). Nothing of the losing proposal was stored anywhere.
    """

    def __init__(self, code: RefusalCode, *, scope: str, phase: str, trigger: str, detail: str,
                 state: CoordinatorState, winner: TransitionRecord | None) -> None:
        super().__init__(code, scope=scope, phase=phase, trigger=trigger, detail=detail)
        self.state = state
        self.winner = winner

    def _fields(self) -> dict[str, object]:
        fields = super()._fields()
        del fields["context"]
        return {**fields, "state": self.state, "winner": self.winner}


class CoordinatorError(ExchangeRecoveryError, ConnectionError):
    """The coordinator could not be reached or did not answer within its deadline.

    For a proposal this means its outcome is unknown: read the state again before retrying.
    """
