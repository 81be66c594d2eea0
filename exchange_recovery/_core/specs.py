"""Guard declarations and permissions: the policy's say on *when* and *by whom*, as plain data.

Everything here is strings, numbers and frozensets (no callables), so a policy file can hold it:

- `GuardSpec` declares a built-in guard that transitions name in ``TransitionSpec.guards``.
  A transition may also name a guard the policy does not declare: that is a *custom* guard, a
  callable handed to the `Controller` at run time, as before.
- `Permission` says which roles may fire a trigger. It is enforced once a `RoleAuthorizer` built
  from the policy is installed on the controller (a `PlanRunner` built with `PlanRunner.create`
  installs one).

The checks at the bottom run when a `Policy` is built, with the rest of `_validation`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Final

import attrs

from .codes import ProblemCode
from .errors import ConfigurationError
from .model import _roles
from .text import shown

GUARD_KINDS: Final = frozenset({"dwell", "health", "approval"})
"""The built-in guard kinds a `GuardSpec` may declare."""

MAX_SECONDS: Final = 10.0**12
"""The longest duration a guard, a plan or a clock step takes (about 31,700 years): any finite
float beyond it is a mistake, and ints beyond it would not even convert to a float."""


def usable_name(value: object) -> bool:
    """Whether `value` is a str that can be a key: its hash and equality work (a str subclass
    overriding them to raise is not usable as a name, and is reported, never used)."""
    if not isinstance(value, str):
        return False
    try:
        hash(value)
        return bool(value == value)  # noqa: PLR0124 - a subclass's __eq__ may raise
    except Exception:  # see above
        return False


def finite_number(value: object) -> bool:
    """Whether `value` is an int, a finite float or a finite Decimal (never a bool): a price
    or a quantity an engine may send."""
    kind = type(value)
    if kind is int:
        return True
    if kind is float:
        return math.isfinite(value)  # type: ignore[arg-type]
    if kind is Decimal:
        return bool(value.is_finite())  # type: ignore[attr-defined]
    return False


def positive_number(value: object) -> bool:
    """Whether `value` is a `finite_number` above 0."""
    return finite_number(value) and value > 0  # type: ignore[operator]


def seconds_problem(value: object, *, allow_negative: bool = False) -> str | None:
    """Why `value` is not a number of seconds (a real, not a bool, finite, in range), or None."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return "expected a number of seconds (an int or a float)"
    if isinstance(value, float) and not math.isfinite(value):
        return "expected a finite number"
    if not -MAX_SECONDS <= value <= MAX_SECONDS:  # an int of any size compares exactly
        return f"expected at most {MAX_SECONDS:g} seconds"
    if value < 0 and not allow_negative:
        return "expected a number >= 0"
    return None


def seconds(field: str, value: object, *, allow_negative: bool = False) -> float:
    """`value` as float seconds, or a `ConfigurationError` naming `field`, the value received
    and what was expected."""
    problem = seconds_problem(value, allow_negative=allow_negative)
    if problem is not None:
        msg = f"{field}: {problem}, got {shown(value)}"
        raise ConfigurationError(msg)
    return float(value)  # type: ignore[arg-type]  # checked above


def _role_set(value: Iterable[str]) -> frozenset[str]:
    return _roles(value, "roles")


@attrs.frozen
class GuardSpec:
    """A built-in guard, declared by name in `Policy.guards`.

    Fields (one line each in a policy file):

    - ``name``: what ``TransitionSpec.guards`` calls it.
    - ``kind``: ``"dwell"``, ``"health"`` or ``"approval"``.
    - ``seconds`` (dwell only): the scope must have been in the transition's source phase at
      least this long, by the controller's clock.
    - ``check`` (health only): the name of the health predicate the engine registers in
      `HealthChecks` (e.g. ``book_uncrossed``); empty means the guard's own name.
    - ``roles`` (approval only): who may approve. The transition needs an approval, given in the
      current phase visit by someone holding one of these roles *other than the actor who fires
      it* (the two-person rule).

    Example:
        >>> GuardSpec("pre_open_min_stay", "dwell", seconds=600).kind
        'dwell'
    """

    name: str
    kind: str
    seconds: float | None = None
    check: str = ""
    roles: frozenset[str] = attrs.field(default=frozenset(), converter=_role_set)

    @property
    def health_check(self) -> str:
        """The health predicate a ``health`` guard asks about."""
        return self.check or self.name

    def describe(self) -> str:
        """What the guard requires, in words."""
        if self.kind == "dwell":
            return f"at least {_duration(self.seconds or 0.0)} in the phase"
        if self.kind == "health":
            return f"health check {self.health_check} passes"
        return f"approved by another person with role {' or '.join(sorted(self.roles))}"


def _duration(seconds: float) -> str:
    minutes, rest = divmod(seconds, 60)
    if not minutes:
        return f"{rest:g} s"
    return f"{minutes:g} min" if not rest else f"{minutes:g} min {rest:g} s"


@attrs.frozen
class Permission:
    """Which roles may fire `trigger` (on any scope).

    Example:
        >>> sorted(Permission("open", {"operator", "supervisor"}).roles)
        ['operator', 'supervisor']
    """

    trigger: str
    roles: frozenset[str] = attrs.field(converter=_role_set)


_Add = Callable[[ProblemCode, str, str], None]


def check_criteria(
    guards: Sequence[object], permissions: Sequence[object], triggers: frozenset[str], add: _Add
) -> None:
    """Report every problem in a policy's guard declarations and permissions."""
    seen: set[str] = set()
    for index, spec in enumerate(guards):
        where = f"guards[{index}]"
        if not isinstance(spec, GuardSpec):
            add(ProblemCode.INVALID_VALUE, where, f"expected a GuardSpec, got {shown(spec)}")
            continue
        if not (usable_name(spec.name) and spec.name.isidentifier()):
            add(ProblemCode.INVALID_NAME, f"{where}.name",
                f"guard name {shown(spec.name)} must be an identifier")
            continue
        if spec.name in seen:
            add(ProblemCode.DUPLICATE_GUARD, f"guards.{spec.name}",
                f"guard {spec.name} is declared more than once")
            continue
        seen.add(spec.name)
        _check_guard(spec, f"guards.{spec.name}", add)
    permitted: set[str] = set()
    for index, perm in enumerate(permissions):
        where = f"permissions[{index}]"
        if not isinstance(perm, Permission):
            add(ProblemCode.INVALID_VALUE, where, f"expected a Permission, got {shown(perm)}")
            continue
        if not (usable_name(perm.trigger) and perm.trigger in triggers):
            add(ProblemCode.PERMISSION_FOR_UNKNOWN_TRIGGER, f"{where}.trigger",
                f"trigger {shown(perm.trigger)} is not a trigger of this policy; expected one of "
                f"{sorted(triggers)}")
        elif perm.trigger in permitted:
            add(ProblemCode.DUPLICATE_PERMISSION, f"{where}.trigger",
                f"trigger {perm.trigger} has more than one permission")
        else:
            permitted.add(perm.trigger)
        _check_roles(perm.roles, f"{where}.roles", add)


def _check_guard(spec: GuardSpec, where: str, add: _Add) -> None:
    if not (usable_name(spec.kind) and spec.kind in GUARD_KINDS):
        add(ProblemCode.INVALID_GUARD, f"{where}.kind",
            f"kind {shown(spec.kind)} is not one of {sorted(GUARD_KINDS)}")
        return
    if not usable_name(spec.check):
        add(ProblemCode.INVALID_GUARD, f"{where}.check",
            f"check must be a str (a health predicate's name, or empty), got {shown(spec.check)}")
        return
    extra = [field for field, set_ in (("seconds", spec.seconds is not None),
                                        ("check", spec.check != ""), ("roles", bool(spec.roles)))
             if set_ and field != _PARAMETER[spec.kind]]
    if extra:
        add(ProblemCode.INVALID_GUARD, where,
            f"a {spec.kind} guard takes no {', '.join(extra)}")
    if spec.kind == "dwell":
        given = spec.seconds
        if not isinstance(given, int | float) or isinstance(given, bool):
            add(ProblemCode.INVALID_GUARD, f"{where}.seconds",
                f"a dwell guard needs seconds (a number), got {shown(given)}")
        elif seconds_problem(given) is not None:
            add(ProblemCode.NEGATIVE_DURATION, f"{where}.seconds",
                f"seconds must be finite, >= 0 and at most {MAX_SECONDS:g}, got {shown(given)}")
    elif spec.kind == "health":
        if not (spec.check == "" or spec.check.isidentifier()):
            add(ProblemCode.INVALID_GUARD, f"{where}.check",
                f"check must be the identifier of a health predicate, got {shown(spec.check)}")
    else:
        _check_roles(spec.roles, f"{where}.roles", add)


_PARAMETER: Final[Mapping[str, str]] = {"dwell": "seconds", "health": "check", "approval": "roles"}


def _check_roles(roles: frozenset[str], where: str, add: _Add) -> None:
    if not roles or not all(usable_name(r) and r.strip() for r in roles):
        add(ProblemCode.INVALID_VALUE, where,
            f"roles must be a non-empty set of non-empty strs, got {shown(sorted(map(shown, roles)))}")
