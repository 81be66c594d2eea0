"""Policy files: TOML in (the standard library's `tomllib`), TOML out (a small writer here).

A policy file holds exactly what a `Policy` holds::

    name = "default"
    initial = "NORMAL"            # also: normal, fail_safe, halt_trigger, description

    [phases.PRE_OPEN]             # one table per phase, in order
    matching = false              # also: stop_triggers, liquidations, funding, description
    incoming = "POST_ONLY"        # optional: convert plain limits instead of refusing them
    defers = ["WITHDRAWAL"]       # optional: actions held (DEFERRED) until a later phase
    [phases.PRE_OPEN.accepts]     # the phase's Acceptance; enum members by name
    actions = ["NEW_ORDER", "AMEND", "CANCEL", "MASS_CANCEL", "ADD_MARGIN"]
    post_only = true

    [[phases.HALTED.resting]]     # optional: what entering the phase does to resting orders
    action = "SUSPEND"            # a RestingRule: its action, its OrderClass's fields, until
    order_types = ["STOP_MARKET", "STOP_LIMIT"]
    until = "NORMAL"

    [phases.AUCTION.auction]      # optional: the phase is a call auction (an AuctionSpec)
    uncross = "uncross"           # required, as is override; the other keys have defaults
    override = "override_open"
    when_exhausted = "MANUAL"     # enum members by name, as everywhere

    [phases.PRE_OPEN.max_stay]    # optional: a MaxStay (seconds required; then, trigger)
    seconds = 1800.0

    [phases.FULL_OPEN.liquidation_release]   # optional: a LiquidationRelease
    delay = "pause"               # a number of seconds, or "pause": as long as the pause lasted

    [[transitions]]               # one per edge, in order
    trigger = "open"
    source = "PRE_OPEN"           # or a list, ["A", "B"]: one transition from each (as transitions)
    dest = "FULL_OPEN"
    guards = ["books_uncrossed"]  # names only; the callables are passed to the Controller

Reading is table-driven: each table has a schema (`_Field`s: key, attribute, reader, writer,
whether it is required), so a new table or key is one schema entry. Every problem found is
collected (unknown keys, wrong types, unknown enum names, then the policy's own validation) and
raised at once as `InvalidPolicyError`, each `Problem` carrying the file, the table/key
location (``phases.PRE_OPEN.accepts.order_types[1]``) and, when it can be found, the line.
"""

from __future__ import annotations

import difflib
import enum
import math
import os
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

import attrs

from .codes import ProblemCode
from .disposition import IncomingAction, OrderClass, RestingAction, RestingRule
from .errors import ConfigurationError, InvalidPolicyError
from .model import Action, OrderType, Origin, TimeInForce
from .phases import Acceptance, PhaseSpec, Problem, TransitionSpec
from .policy import Policy
from .reopen import AuctionSpec, Exhausted, LiquidationRelease, MaxStay, StayAction
from .specs import GuardSpec, Permission
from .text import shown


class _Bad:
    """Marks a value that could not be read (its problem is already recorded)."""


_BAD: Final = _Bad()
_ABSENT: Final = object()


class _Problems:
    """Collects problems with their document locations while a file is read."""

    def __init__(self) -> None:
        self.items: list[tuple[ProblemCode, str, str]] = []
        self.transitions: list[tuple[str, str]] = []
        """Per transition of the policy, where it is in the file: (its table, its source key)."""
        self.placeholders: list[str] = []
        """Tables read as a placeholder: validation's problems inside them are consequences."""

    def add(self, code: ProblemCode, where: str, message: str) -> None:
        self.items.append((code, where, message))


_Reader = Callable[[object, str, _Problems], object]
_Writer = Callable[[Any], object]


@attrs.frozen
class _Field:
    """One key of a table: how to read it, how to write it, and what stands in when it is bad."""

    key: str
    attr: str
    read: _Reader
    write: _Writer
    required: bool = False
    fallback: object = None  # used for a missing or bad required key, so validation can go on


def _toml_type(value: object) -> str:
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a float",
             list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _scalar(accept: Callable[[object], bool], expected: str) -> _Reader:
    """A reader of one scalar value: itself when `accept` says so, else a problem."""

    def read(value: object, where: str, problems: _Problems) -> object:
        if accept(value):
            return value
        problems.add(ProblemCode.INVALID_VALUE, where,
                     f"expected {expected}, got {_toml_type(value)} ({value!r})")
        return _BAD

    return read


_read_str = _scalar(lambda value: isinstance(value, str), "a string")
_read_bool = _scalar(lambda value: isinstance(value, bool), "true or false")
# bool is an int subclass, and never a duration, a fraction or a count
_read_seconds = _scalar(lambda value: type(value) in (int, float), "a number of seconds")
_read_number = _scalar(lambda value: type(value) in (int, float), "a number")
_read_int = _scalar(lambda value: type(value) is int, "an integer")


def _read_list(value: object, where: str, problems: _Problems) -> list[object] | None:
    if isinstance(value, list):
        return value
    problems.add(ProblemCode.INVALID_VALUE, where, f"expected an array, got {_toml_type(value)} "
                 f"({value!r})")
    return None


def _read_str_list(value: object, where: str, problems: _Problems) -> object:
    items = _read_list(value, where, problems)
    if items is None:
        return _BAD
    good = [v for i, v in enumerate(items) if _read_str(v, f"{where}[{i}]", problems) is not _BAD]
    return tuple(good)


def _member(enum_cls: type[enum.Enum], item: object, at: str, problems: _Problems) -> object:
    """The member of `enum_cls` named `item`, else a problem (with a suggestion) and `_BAD`."""
    if _read_str(item, at, problems) is _BAD:
        return _BAD
    assert isinstance(item, str)  # noqa: S101 - for mypy: _read_str checked it
    if item in enum_cls.__members__:
        return enum_cls[item]
    names = list(enum_cls.__members__)
    close = difflib.get_close_matches(item.upper().replace("-", "_"), names, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    problems.add(ProblemCode.UNKNOWN_MEMBER, at, f"{item!r} is not a valid {enum_cls.__name__} name; "
                 f"expected one of {', '.join(names)}{hint}")
    return _BAD


def _enum_set(enum_cls: type[enum.IntEnum]) -> _Reader:
    def read(value: object, where: str, problems: _Problems) -> object:
        items = _read_list(value, where, problems)
        if items is None:
            return _BAD
        members = (_member(enum_cls, item, f"{where}[{i}]", problems) for i, item in enumerate(items))
        return frozenset(m for m in members if m is not _BAD)

    return read


def _enum_name(enum_cls: type[enum.Enum]) -> _Reader:
    """A reader of one member of `enum_cls`, by name."""

    def read(value: object, where: str, problems: _Problems) -> object:
        return _member(enum_cls, value, where, problems)

    return read


def _write_enum_set(value: frozenset[enum.IntEnum]) -> list[str]:
    return [member.name for member in sorted(value)]


def _write_class_set(enum_cls: type[enum.IntEnum]) -> _Writer:
    """A writer of an `OrderClass` set: omitted when it holds every member (the default)."""

    def write(value: frozenset[enum.IntEnum]) -> list[str] | None:
        return None if value == frozenset(enum_cls) else _write_enum_set(value)

    return write


def _same(value: object) -> object:
    return value


def _write_names(value: tuple[str, ...]) -> list[str] | None:
    return list(value) or None  # None: no key at all (a transition without guards)


def _read_table(
    value: object, where: str, fields: Sequence[_Field], problems: _Problems
) -> dict[str, object] | None:
    """Read one table by its schema: keyword arguments for the constructor, or None if unusable."""
    if not isinstance(value, dict):
        problems.add(ProblemCode.INVALID_VALUE, where or "(document)",
                     f"expected a table, got {_toml_type(value)} ({value!r})")
        return None
    known = {f.key for f in fields}
    for key in value:
        if key not in known:
            problems.add(ProblemCode.UNKNOWN_KEY, _join(where, key),
                         f"unknown key {key!r}; this table takes {', '.join(sorted(known))}")
    kwargs: dict[str, object] = {}
    for field in fields:
        raw = value.get(field.key, _ABSENT)
        at = _join(where, field.key)
        if raw is _ABSENT:
            if field.required:
                problems.add(ProblemCode.MISSING_KEY, at, f"required key {field.key!r} is missing")
                kwargs[field.attr] = field.fallback
            continue
        read = field.read(raw, at, problems)
        if read is not _BAD:
            kwargs[field.attr] = read
        elif field.required:
            kwargs[field.attr] = field.fallback
    return kwargs


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _named_tables(cls: Callable[..., object], fields: Sequence[_Field], label: str) -> _Reader:
    """A reader of ``[TABLE.NAME]`` tables: one `cls(NAME, **fields)` each, in file order."""

    def read(value: object, where: str, problems: _Problems) -> object:
        if not isinstance(value, dict):
            problems.add(ProblemCode.INVALID_VALUE, where, f"expected a table of {label} tables "
                         f"([{where}.NAME]), got {_toml_type(value)} ({value!r})")
            return _BAD
        items = []
        for name, table in value.items():
            kwargs = _read_table(table, _join(where, name), fields, problems)
            if kwargs is not None:
                items.append(cls(name, **kwargs))
        return tuple(items)

    return read


def _table_array(cls: Callable[..., object], fields: Sequence[_Field],
                 placeholder: Callable[[], object]) -> _Reader:
    """A reader of ``[[TABLE]]`` arrays: one `cls(**fields)` each. A table that cannot be read
    keeps its place as `placeholder()` (whose problems validation reports and loading
    suppresses) so that later indexes still match the file."""

    def read(value: object, where: str, problems: _Problems) -> object:
        items = _read_list(value, where, problems)
        if items is None:
            return _BAD
        return tuple(cls(**kwargs) if (kwargs := _read_table(table, f"{where}[{index}]", fields,
                                                               problems)) is not None
                     else placeholder() for index, table in enumerate(items))

    return read


ACCEPTS_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("actions", "actions", _enum_set(Action), _write_enum_set),
    _Field("order_types", "order_types", _enum_set(OrderType), _write_enum_set),
    _Field("time_in_force", "time_in_force", _enum_set(TimeInForce), _write_enum_set),
    _Field("origins", "origins", _enum_set(Origin), _write_enum_set),
    _Field("post_only", "post_only", _read_bool, _same),
    _Field("reduce_only", "reduce_only", _read_bool, _same),
)
"""``[phases.NAME.accepts]``: an `Acceptance`; an omitted key takes the constructor's default."""


def _read_accepts(value: object, where: str, problems: _Problems) -> object:
    kwargs = _read_table(value, where, ACCEPTS_FIELDS, problems)
    return _BAD if kwargs is None else Acceptance(**kwargs)  # type: ignore[arg-type]


def _write_accepts(value: Acceptance) -> dict[str, object]:
    return _write_table(value, ACCEPTS_FIELDS)


RULE_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("action", "action", _enum_name(RestingAction), lambda action: action.name,
           required=True),
    _Field("order_types", "order_types", _enum_set(OrderType), _write_class_set(OrderType)),
    _Field("time_in_force", "time_in_force", _enum_set(TimeInForce),
           _write_class_set(TimeInForce)),
    _Field("origins", "origins", _enum_set(Origin), _write_class_set(Origin)),
    _Field("post_only", "post_only", _read_bool, _same),
    _Field("reduce_only", "reduce_only", _read_bool, _same),
    _Field("until", "until", _read_str, lambda until: until or None),
)
"""``[[phases.NAME.resting]]``: a `RestingRule`, its `OrderClass`'s fields inline. An omitted
class field takes `OrderClass`'s default (every member; either flag), an omitted ``until`` "";
the writer omits them too."""

_CLASS_KEYS: Final = frozenset(f.name for f in attrs.fields(OrderClass))


def _read_resting(value: object, where: str, problems: _Problems) -> object:
    """``[[phases.NAME.resting]]``: the rules in file order. A rule with any problem keeps its
    place as a placeholder (validation's problems inside it are not repeated), so that later
    indexes still match the file."""
    if not isinstance(value, list):
        problems.add(ProblemCode.INVALID_VALUE, where, f"expected an array of tables "
                     f"([[{where}]]), got {_toml_type(value)} ({value!r})")
        return _BAD
    rules: list[object] = []
    for index, table in enumerate(value):
        at = f"{where}[{index}]"
        before = len(problems.items)
        kwargs = _read_table(table, at, RULE_FIELDS, problems)
        if kwargs is None or len(problems.items) > before:
            problems.placeholders.append(at)
            rules.append(None)  # no RestingRule: validation's INVALID_VALUE here is suppressed
            continue
        orders = OrderClass(**{k: v for k, v in kwargs.items() if k in _CLASS_KEYS})  # type: ignore[arg-type]
        rules.append(RestingRule(kwargs["action"], orders, kwargs.get("until", "")))  # type: ignore[arg-type]
    return tuple(rules)


def _write_rule(rule: RestingRule) -> dict[str, object]:
    written = {f.key: f.write(getattr(rule.orders if f.attr in _CLASS_KEYS else rule, f.attr))
               for f in RULE_FIELDS}
    return {key: value for key, value in written.items() if value is not None}


def _write_resting(value: tuple[RestingRule, ...]) -> list[dict[str, object]] | None:
    return [_write_rule(rule) for rule in value] or None


def _sub_table(cls: Callable[..., object], fields: Sequence[_Field]) -> _Reader:
    """A reader of one ``[phases.NAME.KEY]`` table: `cls(**fields)`. A bad key takes the
    constructor's default and a missing required one its fallback (their problems are already
    recorded), so that validation goes on; what validation then finds at that key is not
    repeated."""

    def read(value: object, where: str, problems: _Problems) -> object:
        kwargs = _read_table(value, where, fields, problems)
        return _BAD if kwargs is None else cls(**kwargs)

    return read


def _write_sub_table(fields: Sequence[_Field]) -> _Writer:
    def write(value: object) -> dict[str, object] | None:
        return None if value is None else _write_table(value, fields)

    return write


AUCTION_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("uncross", "uncross", _read_str, _same, required=True, fallback=""),
    _Field("override", "override", _read_str, _same, required=True, fallback=""),
    _Field("min_call", "min_call", _read_seconds, _same),
    _Field("random_end", "random_end", _read_seconds, _same),
    _Field("collar", "collar", _read_number, _same),
    _Field("extension", "extension", _read_seconds, _same),
    _Field("max_extensions", "max_extensions", _read_int, _same),
    _Field("when_exhausted", "when_exhausted", _enum_name(Exhausted), lambda when: when.name),
    _Field("cutoff", "cutoff", _read_seconds, _same),
)
"""``[phases.NAME.auction]``: an `AuctionSpec`. ``uncross`` and ``override`` are required; an
omitted key takes the constructor's default; the writer writes every key."""

MAX_STAY_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("seconds", "seconds", _read_seconds, _same, required=True, fallback=0.0),
    _Field("then", "then", _enum_name(StayAction), lambda then: then.name),
    _Field("trigger", "trigger", _read_str, lambda trigger: trigger or None),
)
"""``[phases.NAME.max_stay]``: a `MaxStay`. ``then`` defaults to ``"ALERT"``; ``trigger``
(ADVANCE only) is omitted when empty."""

PAUSE: Final = "pause"
"""The spelling of `LiquidationRelease.delay` None in a file: as long as the pause lasted."""


def _read_delay(value: object, where: str, problems: _Problems) -> object:
    if value == PAUSE:
        return None
    if type(value) in (int, float):
        return value
    problems.add(ProblemCode.INVALID_VALUE, where, f"expected a number of seconds or {PAUSE!r}, "
                 f"got {_toml_type(value)} ({value!r})")
    return _BAD


RELEASE_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("delay", "delay", _read_delay, lambda delay: PAUSE if delay is None else delay),
    _Field("per_minute", "per_minute", _read_int, _same),
)
"""``[phases.NAME.liquidation_release]``: a `LiquidationRelease`. ``delay`` is seconds after
the phase is entered, or ``"pause"`` (None: as long as the pause before it lasted); an omitted
key takes the constructor's default; the writer writes both."""

PHASE_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("description", "description", _read_str, _same),
    _Field("matching", "matching", _read_bool, _same, required=True, fallback=False),
    _Field("stop_triggers", "stop_triggers", _read_bool, _same),
    _Field("liquidations", "liquidations", _read_bool, _same),
    _Field("funding", "funding", _read_bool, lambda funding: None if funding else False),
    _Field("incoming", "incoming", _enum_name(IncomingAction),
           lambda incoming: None if incoming is IncomingAction.REFUSE else incoming.name),
    _Field("accepts", "accepts", _read_accepts, _write_accepts, required=True,
           fallback=Acceptance.nothing()),
    _Field("resting", "resting", _read_resting, _write_resting),
    _Field("defers", "defers", _enum_set(Action),
           lambda defers: _write_enum_set(defers) if defers else None),
    _Field("auction", "auction", _sub_table(AuctionSpec, AUCTION_FIELDS),
           _write_sub_table(AUCTION_FIELDS)),
    _Field("max_stay", "max_stay", _sub_table(MaxStay, MAX_STAY_FIELDS),
           _write_sub_table(MAX_STAY_FIELDS)),
    _Field("liquidation_release", "liquidation_release",
           _sub_table(LiquidationRelease, RELEASE_FIELDS), _write_sub_table(RELEASE_FIELDS)),
)
"""``[phases.NAME]``: a `PhaseSpec`; its name is the table's key. ``incoming`` (default
``"REFUSE"``), ``resting`` (default none: every resting order is kept), ``defers`` (default
none), ``funding`` (default true), ``auction``, ``max_stay`` and ``liquidation_release``
(default none) are omitted when they hold their defaults, so a file that predates a key is
still what `dump_policy` writes."""


def _read_sources(value: object, where: str, problems: _Problems) -> object:
    """A phase name, or a non-empty list of them (a tuple: one transition from each)."""
    if not isinstance(value, list):
        return _read_str(value, where, problems)
    if not value:
        problems.add(ProblemCode.INVALID_VALUE, where,
                     "expected a phase name or a non-empty array of them, got an empty array")
        return _BAD
    names = [v for i, v in enumerate(value) if _read_str(v, f"{where}[{i}]", problems) is not _BAD]
    return tuple(names) or _BAD  # the good ones still count: no knock-on problems from the rest


TRANSITION_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("trigger", "trigger", _read_str, _same, required=True),
    _Field("source", "source", _read_sources, _same, required=True),
    _Field("dest", "dest", _read_str, _same, required=True),
    _Field("guards", "guards", _read_str_list, _write_names),
)
"""``[[transitions]]``: a `TransitionSpec`, or one per source when ``source`` is an array (as
``transitions`` accepts a list of sources); guards are names, the callables come at run time."""

_read_phases = _named_tables(PhaseSpec, PHASE_FIELDS, "phase")


def _read_transitions(value: object, where: str, problems: _Problems) -> object:
    """``[[transitions]]``: one `TransitionSpec` per table and source, noting where each came
    from. A table that cannot be read keeps its place as an empty spec (whose problems
    validation reports and loading suppresses) so that later locations still match the file."""
    items = _read_list(value, where, problems)
    if items is None:
        return _BAD
    specs: list[TransitionSpec] = []
    spec: Any = TransitionSpec  # its fields are checked by validation, as the file's values are
    for index, table in enumerate(items):
        at = f"{where}[{index}]"
        kwargs = _read_table(table, at, TRANSITION_FIELDS, problems)
        if kwargs is None:
            specs.append(spec(None, None, None))
            problems.transitions.append((at, f"{at}.source"))
            continue
        sources = kwargs.get("source")
        for n, source in enumerate(sources if isinstance(sources, tuple) else (sources,)):
            specs.append(spec(**{**kwargs, "source": source}))
            problems.transitions.append(
                (at, f"{at}.source[{n}]" if isinstance(sources, tuple) else f"{at}.source"))
    return tuple(specs)


def _write_phases(value: tuple[PhaseSpec, ...]) -> dict[str, object]:
    return {phase.name: _write_table(phase, PHASE_FIELDS) for phase in value}


def _write_transitions(value: tuple[TransitionSpec, ...]) -> list[dict[str, object]]:
    return [_write_table(t, TRANSITION_FIELDS) for t in value]


def _write_roles(value: frozenset[str]) -> list[str] | None:
    return sorted(value) or None


GUARD_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("kind", "kind", _read_str, _same, required=True, fallback=""),
    _Field("seconds", "seconds", _read_seconds, _same),
    _Field("check", "check", _read_str, lambda check: check or None),
    _Field("roles", "roles", _read_str_list, _write_roles),
)
"""``[guards.NAME]``: a `GuardSpec` (dwell ``seconds``, health ``check``, approval ``roles``)."""

PERMISSION_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("trigger", "trigger", _read_str, _same, required=True),
    _Field("roles", "roles", _read_str_list, _write_roles, required=True, fallback=()),
)
"""``[[permissions]]``: a `Permission`: which roles may fire a trigger."""

_read_guards = _named_tables(GuardSpec, GUARD_FIELDS, "guard")
_read_permissions = _table_array(Permission, PERMISSION_FIELDS,
                                 lambda: Permission(None, ()))  # type: ignore[arg-type]


def _write_guards(value: tuple[GuardSpec, ...]) -> dict[str, object] | None:
    return {g.name: _write_table(g, GUARD_FIELDS) for g in value} or None


def _write_permissions(value: tuple[Permission, ...]) -> list[dict[str, object]] | None:
    return [_write_table(p, PERMISSION_FIELDS) for p in value] or None


POLICY_FIELDS: Final[tuple[_Field, ...]] = (
    _Field("name", "name", _read_str, _same, required=True, fallback=""),
    _Field("description", "description", _read_str, _same),
    _Field("initial", "initial", _read_str, _same),
    _Field("normal", "normal", _read_str, _same),
    _Field("fail_safe", "fail_safe", _read_str, _same),
    _Field("halt_trigger", "halt_trigger", _read_str, _same),
    _Field("phases", "phases", _read_phases, _write_phases, required=True),
    _Field("transitions", "transitions", _read_transitions, _write_transitions, required=True),
    _Field("guards", "guards", _read_guards, _write_guards),
    _Field("permissions", "permissions", _read_permissions, _write_permissions),
)
"""The document's top level: a `Policy`. A new table is a new entry here."""


def _write_table(obj: object, fields: Sequence[_Field]) -> dict[str, object]:
    written = {f.key: f.write(getattr(obj, f.attr)) for f in fields}
    return {key: value for key, value in written.items() if value is not None}


# -- loading ---------------------------------------------------------------------------------------

_AT_LINE: Final = re.compile(r"\s*\(at line (\d+), column (\d+)\)\s*$")
_PHASE_INDEX: Final = re.compile(r"^phases\[(\d+)\]")
_TRANSITION_INDEX: Final = re.compile(r"^transitions\[(\d+)\](?P<source>\.source$)?")
_RULE_ORDERS: Final = re.compile(r"(\.resting\[\d+\])\.orders(?=\.|$)")


def _in_file(location: str, names: Sequence[str], transitions: Sequence[tuple[str, str]]) -> str:
    """A validation problem's location (``phases[2]``, ``transitions[7].source``) in the file's
    terms: the phase's table, the ``[[transitions]]`` table (and source) it came from, and a
    resting rule's class fields, which the file writes inline (``resting[0].orders.origins`` is
    ``resting[0].origins``)."""
    location = _PHASE_INDEX.sub(lambda m: f"phases.{names[int(m.group(1))]}", location)
    location = _RULE_ORDERS.sub(r"\1", location)

    def table(match: re.Match[str]) -> str:
        index = int(match.group(1))
        if index >= len(transitions):
            return match.group(0)
        return transitions[index][1 if match.group("source") else 0]

    return _TRANSITION_INDEX.sub(table, location)


def loads_policy(text: str, source: str = "<string>") -> Policy:
    """Build a `Policy` from the text of a policy file.

    Args:
        text: the TOML text.
        source: the file name to put in every problem (``"<string>"`` by default).

    Returns:
        The validated policy.

    Raises:
        InvalidPolicyError: listing every problem, each with `source`, its table/key location,
            its line when known, and a stable `ProblemCode`.

    Example:
        >>> from exchange_recovery import default_policy, dump_policy, loads_policy
        >>> policy = loads_policy(dump_policy(default_policy()))
        >>> policy == default_policy()
        True
    """
    if not isinstance(text, str) or not isinstance(source, str):
        msg = f"loads_policy needs the file's text as a str, got {shown(text)}"
        raise ConfigurationError(msg)
    try:
        document = tomllib.loads(text)
    except RecursionError:  # nesting deeper than any policy: refused, not a crash
        raise InvalidPolicyError([Problem(ProblemCode.SYNTAX_ERROR, "(file)",
                                          "tables or arrays nested too deeply", source)]) from None
    except tomllib.TOMLDecodeError as error:
        message = str(error)
        match = _AT_LINE.search(message)
        if match:
            line: int | None = int(match.group(1))
            where = f"line {match.group(1)}, column {match.group(2)}"
        else:  # "(at end of document)": an unclosed array, table or string
            line = max(1, len(text.splitlines()))
            where = "end of document"
        detail = _AT_LINE.sub("", message).replace(" (at end of document)", "")
        raise InvalidPolicyError(
            [Problem(ProblemCode.SYNTAX_ERROR, where, f"not valid TOML: {detail}", source, line)]
        ) from None
    problems = _Problems()
    kwargs = _read_table(document, "", POLICY_FIELDS, problems)
    assert kwargs is not None  # noqa: S101 - tomllib always returns a table
    policy: Policy | None = None
    found: list[tuple[ProblemCode, str, str]] = list(problems.items)
    if kwargs.get("phases") is not None and kwargs.get("transitions") is not None:
        try:
            policy = Policy(**kwargs)  # type: ignore[arg-type]
        except InvalidPolicyError as invalid:
            names = [p.name for p in kwargs["phases"]]  # type: ignore[attr-defined]
            for problem in invalid.problems:
                where = _in_file(problem.location, names, problems.transitions)
                item = (problem.code, where, problem.message)  # once per table, not per source
                bad = [*(at for _, at, _ in problems.items), *problems.placeholders]
                if item not in found and not any(_within(where, at) for at in bad):
                    found.append(item)
    if found or policy is None:
        lines = _Lines(text)
        raise InvalidPolicyError(
            [Problem(code, where, message, source, lines.find(where))
             for code, where, message in found]
        )
    return policy


def _within(location: str, ancestor: str) -> bool:
    """Whether `location` is `ancestor` or inside it (a problem there is a consequence)."""
    return location == ancestor or location.startswith((f"{ancestor}.", f"{ancestor}["))


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Read and validate a policy file (TOML; see `loads_policy`).

    Raises:
        InvalidPolicyError: the file cannot be read (`ProblemCode.FILE_UNREADABLE`) or has
            problems; every problem names the file, the table/key and the line when known.
    """
    try:
        source = os.fspath(path)
        usable = isinstance(source, str) and source and "\x00" not in source
    except Exception:  # not a path at all
        usable = False
    if not usable:
        msg = f"load_policy needs a file path, got {shown(path)}"
        raise ConfigurationError(msg)
    try:
        with open(source, "rb") as handle:
            text = handle.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InvalidPolicyError(
            [Problem(ProblemCode.FILE_UNREADABLE, "(file)", f"cannot read the file: {reason}",
                     source)]
        ) from None
    return loads_policy(text, source)


class _Lines:
    """Best-effort map from a table/key location to the line that defines it."""

    _HEADER: Final = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
    _ASSIGN: Final = re.compile(r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')"
                                r"(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*=")

    def __init__(self, text: str) -> None:
        self.where: dict[str, int] = {}
        counts: dict[str, int] = {}
        table = ""
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                path = ".".join(_split_key(header.group(2)))
                if header.group(1) == "[[":
                    index = counts.get(path, 0)
                    counts[path] = index + 1
                    path = f"{path}[{index}]"
                table = path
                self.where.setdefault(table, number)
                continue
            assign = self._ASSIGN.match(line)
            if assign:
                key = ".".join(_split_key(assign.group(1)))
                self.where.setdefault(_join(table, key), number)

    def find(self, location: str) -> int | None:
        """The line of `location`, else of its nearest enclosing key or table, else None."""
        path = location
        while path:
            if path in self.where:
                return self.where[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return None


def _split_key(dotted: str) -> list[str]:
    return [part.strip().strip("\"'") for part in re.findall(r"\"[^\"]*\"|'[^']*'|[^.]+", dotted)]


# -- writing ---------------------------------------------------------------------------------------

_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def dump_policy(policy: Policy) -> str:
    """Write `policy` as a policy file; `loads_policy` of the result equals `policy`.

    Example:
        >>> from exchange_recovery import default_policy, dump_policy
        >>> text = dump_policy(default_policy())
        >>> text.splitlines()[2]
        'name = "default"'
    """
    if not isinstance(policy, Policy):
        msg = f"dump_policy needs a Policy, got {shown(policy)}"
        raise ConfigurationError(msg)
    document = _write_table(policy, POLICY_FIELDS)
    lines = [
        "# An exchange_recovery policy. Check it with: exchange-recovery check FILE",
        "",
    ]
    _emit((), document, lines, array=False)
    return "\n".join(lines).rstrip("\n") + "\n"


def _emit(path: tuple[str, ...], table: Mapping[str, object], lines: list[str], *,
          array: bool) -> None:
    scalars = {k: v for k, v in table.items() if not _is_table(v) and not _is_table_array(v)}
    header = ".".join(_key(p) for p in path)
    if array:
        lines += ["", f"[[{header}]]"] if lines and lines[-1] else [f"[[{header}]]"]
    elif path and (scalars or not table):
        lines += ["", f"[{header}]"] if lines and lines[-1] else [f"[{header}]"]
    lines.extend(f"{_key(k)} = {_value(v)}" for k, v in scalars.items())
    for key, value in table.items():
        if _is_table(value):
            _emit((*path, key), value, lines, array=False)  # type: ignore[arg-type]
    for key, value in table.items():
        if _is_table_array(value):
            for item in value:  # type: ignore[attr-defined]
                _emit((*path, key), item, lines, array=True)


def _is_table(value: object) -> bool:
    return isinstance(value, dict)


def _is_table_array(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _quote(key)


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):  # repr round-trips exactly; TOML spells the specials inf/nan
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    msg = f"cannot write {shown(value)} to TOML"  # pragma: no cover - schema writers return the above
    raise TypeError(msg)  # pragma: no cover


def _quote(text: str) -> str:
    out = []
    for char in text:
        escaped = _ESCAPES.get(char)
        if escaped is None and ((ord(char) < 0x20 and char != "\t") or ord(char) == 0x7F):
            escaped = f"\\u{ord(char):04X}"
        out.append(escaped or char)
    return '"' + "".join(out) + '"'
