"""Policy files: every problem reported at once with its location; dump then load is identity."""

from __future__ import annotations

import importlib.resources
import pathlib
from collections.abc import Callable
from typing import TypeVar

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from regen import regen_docs

from exchange_recovery import (
    Acceptance,
    Action,
    AuctionSpec,
    Exhausted,
    IncomingAction,
    InvalidPolicyError,
    LiquidationRelease,
    MaxStay,
    OrderClass,
    OrderType,
    Origin,
    PhaseSpec,
    Policy,
    ProblemCode,
    RestingAction,
    RestingRule,
    StayAction,
    TimeInForce,
    default_policy,
    dump_policy,
    load_policy,
    loads_policy,
    reopening_policy,
    restart_policy,
)

venue_modes_policy = regen_docs.venue_modes_policy

ROOT = pathlib.Path(__file__).parent.parent
F = TypeVar("F", bound=Callable[..., object])
FILE_CODES = {ProblemCode.FILE_UNREADABLE, ProblemCode.SYNTAX_ERROR, ProblemCode.UNKNOWN_KEY,
              ProblemCode.MISSING_KEY, ProblemCode.UNKNOWN_MEMBER}
COVERED: set[ProblemCode] = set()


def covers(*codes: ProblemCode) -> Callable[[F], F]:
    """Mark a test as one that proves `codes` are reported (checked at import, not run order)."""
    COVERED.update(codes)
    return lambda test: test


def problems_of(text: str) -> InvalidPolicyError:
    with pytest.raises(InvalidPolicyError) as caught:
        loads_policy(text, source="p.toml")
    return caught.value


DEFAULT_TEXT = dump_policy(default_policy())


# -- shipped files -------------------------------------------------------------------------------


def test_packaged_default_policy_file_equals_default_policy() -> None:
    """The TOML inside the package loads to exactly default_policy()."""
    resource = importlib.resources.files("exchange_recovery") / "policies" / "default.toml"
    assert loads_policy(resource.read_text(encoding="utf-8")) == default_policy()


def test_example_policy_files_load_to_the_policies_built_in_python() -> None:
    """examples/*.toml equal the default policy and the Coinbase/Kraken-style one."""
    assert load_policy(ROOT / "examples" / "default_policy.toml") == default_policy()
    assert load_policy(ROOT / "examples" / "venue_modes_policy.toml") == venue_modes_policy()
    assert load_policy(ROOT / "examples" / "restart_policy.toml") == restart_policy()


def test_packaged_restart_policy_file_keeps_its_guards_and_permissions() -> None:
    """Guards and roles are policy data too: the packaged restart policy carries them."""
    resource = importlib.resources.files("exchange_recovery") / "policies" / "restart.toml"
    loaded = loads_policy(resource.read_text(encoding="utf-8"))
    assert loaded == restart_policy()
    assert loaded.guard("supervisor_approval") is not None
    assert loaded.permission("open") is not None


def test_bad_guard_and_permission_tables_are_reported_with_their_keys() -> None:
    """A mistyped duration, an unknown kind, an unknown key and a typo'd trigger, all at once."""
    text = dump_policy(restart_policy()).replace("seconds = 600.0", 'seconds = "600"').replace(
        'kind = "health"', 'kind = "healthy"', 1)
    text += '\n[[permissions]]\ntrigger = "opne"\nroles = ["x"]\nflavour = 1\n'

    with pytest.raises(InvalidPolicyError) as caught:
        loads_policy(text, source="restart.toml")

    found = {(p.code, p.location) for p in caught.value.problems}
    index = len(restart_policy().permissions)
    assert found == {
        (ProblemCode.INVALID_VALUE, "guards.pre_open_min_stay.seconds"),
        (ProblemCode.INVALID_GUARD, "guards.book_uncrossed.kind"),
        (ProblemCode.UNKNOWN_KEY, f"permissions[{index}].flavour"),
        (ProblemCode.PERMISSION_FOR_UNKNOWN_TRIGGER, f"permissions[{index}].trigger"),
    }
    assert all(p.source == "restart.toml" and p.line for p in caught.value.problems)


# -- round trip ----------------------------------------------------------------------------------

names = st.text(st.characters(exclude_categories=("Cs",)), max_size=20)


def _subset(draw: st.DrawFn, members: list[object]) -> frozenset[object]:
    return frozenset(draw(st.lists(st.sampled_from(members), unique=True)))


_STOPS = OrderClass(order_types={OrderType.STOP_MARKET, OrderType.STOP_LIMIT})


@st.composite
def resting_rules(draw: st.DrawFn, phase: str, phases: list[str]) -> tuple[RestingRule, ...]:
    """Rules for a phase that stops matching: stops cancelled first (kept, the reopen print could
    fire them: STOP_FIRES_ON_REOPEN), then any well-formed rules for other classes."""
    rules = [RestingRule(RestingAction.CANCEL, _STOPS)]
    for _ in range(draw(st.integers(0, 3))):
        action = draw(st.sampled_from(list(RestingAction)))
        limits = action is RestingAction.POST_ONLY  # only limit GTC/GTD can become post-only
        types = [OrderType.LIMIT] if limits else [OrderType.LIMIT, OrderType.MARKET]
        tifs = [TimeInForce.GTC, TimeInForce.GTD] if limits else list(TimeInForce)
        flags = st.none() | st.booleans()
        orders = OrderClass(
            order_types=draw(st.sampled_from([frozenset(types), _subset(draw, list(types))])),
            time_in_force=draw(st.sampled_from([frozenset(tifs), _subset(draw, list(tifs))])),
            origins=draw(st.sampled_from([frozenset(Origin), _subset(draw, list(Origin))])),
            post_only=draw(flags), reduce_only=draw(flags))
        until = (draw(st.sampled_from([p for p in phases if p != phase]))
                 if action is RestingAction.SUSPEND else "")
        rules.append(RestingRule(action, orders, until))
    return tuple(rules)


seconds = st.floats(0, 1e6) | st.integers(0, 10**6)
positive = st.floats(0.001, 1e6) | st.integers(1, 10**6)


@st.composite
def reopen_data(draw: st.DrawFn, phase: PhaseSpec, fail_safe: bool) -> dict[str, object]:
    """A phase's auction (kept where it has one, its numbers varied), a maximum stay (an
    ADVANCE kept, its trigger too; else none, ALERT or — but in the fail-safe phase — HALT)
    and, where it matches, a release."""
    changes: dict[str, object] = {}
    if phase.auction is not None:
        min_call = draw(positive)
        changes["auction"] = attrs.evolve(
            phase.auction, min_call=min_call, random_end=draw(seconds),
            collar=draw(st.floats(0.0001, 0.9999)), extension=draw(positive),
            max_extensions=draw(st.integers(0, 100)),
            when_exhausted=draw(st.sampled_from(list(Exhausted))),
            cutoff=draw(st.floats(0, 0.99)) * min_call)
    if phase.max_stay is not None and phase.max_stay.then is StayAction.ADVANCE:
        changes["max_stay"] = attrs.evolve(phase.max_stay, seconds=draw(positive))
    else:
        thens = [StayAction.ALERT] if fail_safe else [StayAction.ALERT, StayAction.HALT]
        changes["max_stay"] = draw(st.none() | st.builds(MaxStay, positive, st.sampled_from(thens)))
    if phase.matching:
        changes["liquidation_release"] = draw(st.none() | st.builds(
            LiquidationRelease, st.none() | seconds, st.integers(1, 1_000_000)))
    return changes


@st.composite
def policies(draw: st.DrawFn) -> Policy:
    """Valid policies: a known-good shape with its order, texts, rules and guards varied."""
    base = draw(st.sampled_from([default_policy(), venue_modes_policy(), restart_policy(),
                                 reopening_policy()]))
    phases = []
    for phase in base.phases:
        changes: dict[str, object] = {"description": draw(names), "funding": draw(st.booleans())}
        changes.update(draw(reopen_data(phase, phase.name == base.fail_safe)))
        if not phase.matching and not (phase.resting and draw(st.booleans())):
            changes["resting"] = draw(resting_rules(phase.name, list(base.phase_names)))
        if phase.matching:  # any rules are safe while matching, if new orders can be cancelled
            actions = _subset(draw, list(Action))
            if Action.NEW_ORDER in actions:
                actions |= {Action.CANCEL}
            changes["accepts"] = Acceptance(
                actions=actions, order_types=_subset(draw, list(OrderType)),
                time_in_force=_subset(draw, list(TimeInForce)),
                origins=_subset(draw, list(Origin)), post_only=draw(st.booleans()),
                reduce_only=draw(st.booleans()))
            changes["stop_triggers"] = draw(st.booleans())
            changes["liquidations"] = draw(st.booleans())
        accepts = changes.get("accepts", phase.accepts)
        if changes.get("liquidation_release") is not None:  # a release needs what it releases
            accepts = changes["accepts"] = attrs.evolve(  # type: ignore[misc]
                accepts, origins=accepts.origins | {Origin.LIQUIDATION})  # type: ignore[attr-defined]
        if accepts.post_only:  # type: ignore[attr-defined]  # converting needs post-only
            changes["incoming"] = draw(st.sampled_from(list(IncomingAction)))
        phases.append(attrs.evolve(phase, **changes))
    phases = draw(st.permutations(phases))
    # Rules drawn above may turn a relaxing transition into a tightening one, which must not be
    # guarded: guards are drawn afresh below, for the relaxing ones only.
    transitions = [attrs.evolve(t, guards=()) for t in draw(st.permutations(base.transitions))]
    draft = base.with_changes(name=draw(names.filter(str.strip)), description=draw(names),
                              phases=phases, transitions=transitions)
    guard_names = ["ok", "books_uncrossed", *(g.name for g in base.guards)]
    guarded = [attrs.evolve(t, guards=draw(st.lists(st.sampled_from(guard_names), unique=True)))
               if draft.is_relaxing(t.source, t.dest) else t for t in draft.transitions]
    # A relaxing side door out of a phase needs at least its exit to normal's guards
    # (CAPABILITY_BYPASS): give every such edge those guards too.
    exits: dict[str, set[str]] = {}
    for t in guarded:
        if t.dest == draft.normal:
            exits.setdefault(t.source, set()).update(t.guards)
    guarded = [attrs.evolve(t, guards=(*t.guards, *sorted(exits[t.source] - set(t.guards))))
               if t.source in exits and t.dest != draft.normal
               and draft.is_relaxing(t.source, t.dest) else t for t in guarded]
    # An auction that opens by itself fires its override with no person: no approval on it.
    approvals = {g.name for g in draft.guards if g.kind == "approval"}
    automatic = {(p.name, p.auction.override) for p in draft.phases if p.auction is not None
                 and p.auction.when_exhausted is Exhausted.OPEN_WITHOUT_CROSS}
    guarded = [attrs.evolve(t, guards=tuple(g for g in t.guards if g not in approvals))
               if (t.source, t.trigger) in automatic else t for t in guarded]
    stays = [attrs.evolve(g, seconds=draw(st.floats(0, 1e6) | st.integers(0, 10**6)))
             if g.kind == "dwell" else g for g in draft.guards]
    return draft.with_changes(transitions=guarded, guards=stays)


@given(policies())
def test_dump_then_load_gives_an_equal_policy(policy: Policy) -> None:
    """Writing a policy to TOML and reading it back gives an equal policy, and the same text."""
    text = dump_policy(policy)
    loaded = loads_policy(text)
    assert loaded == policy
    assert dump_policy(loaded) == text


def test_strings_with_quotes_and_control_characters_survive_the_round_trip() -> None:
    """Descriptions are escaped: quotes, backslashes, newlines, DEL and other controls."""
    policy = default_policy().with_changes(description='a "b" \\ c\nd\te\x7f\x01 é')
    assert loads_policy(dump_policy(policy)).description == policy.description


# -- problems, all at once, with locations -------------------------------------------------------


@covers(ProblemCode.SYNTAX_ERROR)
def test_syntax_error_names_the_file_line_and_column() -> None:
    """Broken TOML gives one SYNTAX_ERROR with the line and column."""
    (problem,) = problems_of('name = "x"\ninitial = NORMAL\n').problems
    assert (problem.code, problem.source, problem.line) == (ProblemCode.SYNTAX_ERROR, "p.toml", 2)
    assert str(problem).startswith("p.toml:2: SYNTAX_ERROR at line 2, column 11: not valid TOML")
    (unclosed,) = problems_of('name = "x"\nphases = [\n').problems
    assert (unclosed.location, unclosed.line) == ("end of document", 2)


@covers(ProblemCode.UNKNOWN_KEY)
def test_unknown_keys_are_errors_in_every_table() -> None:
    """An unknown key at the top, in a phase, in accepts and in a transition: four problems."""
    text = ("colour = 1\n" + DEFAULT_TEXT.replace("[phases.HALTED]\n", "[phases.HALTED]\nspeed = 2\n")
            .replace("[phases.PRE_OPEN.accepts]\n", "[phases.PRE_OPEN.accepts]\npostonly = true\n")
            .replace('trigger = "open"\n', 'trigger = "open"\nguard = "x"\n'))
    error = problems_of(text)
    locations = {p.location for p in error.problems if p.code is ProblemCode.UNKNOWN_KEY}
    assert locations == {"colour", "phases.HALTED.speed", "phases.PRE_OPEN.accepts.postonly",
                         "transitions[7].guard"}
    assert error.codes == {ProblemCode.UNKNOWN_KEY}
    line = {p.location: p.line for p in error.problems}
    assert text.splitlines()[line["phases.HALTED.speed"] - 1] == "speed = 2"
    assert text.splitlines()[line["transitions[7].guard"] - 1] == 'guard = "x"'


@covers(ProblemCode.UNKNOWN_MEMBER)
def test_unknown_enum_name_is_located_at_its_list_index_with_a_suggestion() -> None:
    """order_types[0] = "MARKETT" names the index and suggests MARKET."""
    text = DEFAULT_TEXT.replace('order_types = ["LIMIT"]\ntime_in_force = ["GTC", "GTD"]',
                                'order_types = ["LIMIT", "Markett"]\ntime_in_force = ["GTC", "GTD"]')
    error = problems_of(text)
    (problem,) = error.problems
    assert problem.code is ProblemCode.UNKNOWN_MEMBER
    assert problem.location == "phases.PRE_OPEN.accepts.order_types[1]"
    assert "did you mean 'MARKET'?" in problem.message


@covers(ProblemCode.MISSING_KEY, ProblemCode.INVALID_VALUE)
def test_missing_required_keys_and_wrong_types_are_reported_together() -> None:
    """No name, a phase without matching, a transition without dest, a non-bool flag."""
    text = (DEFAULT_TEXT.replace('name = "default"\n', "")
            .replace("[phases.DEGRADED]\ndescription", "[phases.DEGRADED]\nx_description")
            .replace('dest = "PRE_OPEN"\n', "")
            .replace("post_only = true", 'post_only = "yes"')
            .replace("[phases.DEGRADED]\nx_description", "[phases.DEGRADED]\ndescription")
            .replace('[phases.NORMAL]\ndescription = "Business as usual: everything is accepted."\n'
                     "matching = true\n", "[phases.NORMAL]\n"))
    error = problems_of(text)
    found = {(p.code, p.location) for p in error.problems}
    assert (ProblemCode.MISSING_KEY, "name") in found
    assert (ProblemCode.MISSING_KEY, "phases.NORMAL.matching") in found
    assert (ProblemCode.MISSING_KEY, "transitions[6].dest") in found
    assert (ProblemCode.INVALID_VALUE, "phases.PRE_OPEN.accepts.post_only") in found
    # consequences at the same keys are not repeated by the policy's own checks
    assert [p.location for p in error.problems].count("name") == 1
    assert [p.location for p in error.problems].count("transitions[6].dest") == 1


def test_policy_validation_problems_point_at_file_locations() -> None:
    """An unknown phase and a dead end are reported where they are written, with lines."""
    text = DEFAULT_TEXT.replace('dest = "FULL_OPEN"', 'dest = "FULL_OPN"')
    error = problems_of(text)
    found = {(p.code, p.location) for p in error.problems}
    assert (ProblemCode.UNKNOWN_PHASE, "transitions[7].dest") in found
    assert (ProblemCode.UNREACHABLE_PHASE, "phases.FULL_OPEN") in found
    by_location = {p.location: p for p in error.problems}
    lines = text.splitlines()
    assert lines[by_location["transitions[7].dest"].line - 1] == 'dest = "FULL_OPN"'  # type: ignore[operator]
    assert lines[by_location["phases.FULL_OPEN"].line - 1] == "[phases.FULL_OPEN]"  # type: ignore[operator]


def test_invalid_phase_name_is_located_by_its_table_key() -> None:
    """A lower-case phase name is reported at phases.<name>, not at an index."""
    text = DEFAULT_TEXT.replace("[phases.DEGRADED]", "[phases.degraded]").replace(
        "[phases.DEGRADED.accepts]", "[phases.degraded.accepts]")
    error = problems_of(text)
    assert (ProblemCode.INVALID_NAME, "phases.degraded.name") in {
        (p.code, p.location) for p in error.problems}


@covers(ProblemCode.FILE_UNREADABLE)
def test_unreadable_file_is_a_problem_naming_the_file(tmp_path: pathlib.Path) -> None:
    """A missing file and a non-UTF-8 file raise InvalidPolicyError with FILE_UNREADABLE."""
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b'name = "\xff"\n')
    for path in (tmp_path / "missing.toml", binary):
        with pytest.raises(InvalidPolicyError) as caught:
            load_policy(path)
        assert caught.value.codes == {ProblemCode.FILE_UNREADABLE}
        assert caught.value.problems[0].source == str(path)


def test_every_file_problem_code_has_a_test_here() -> None:
    """A new file-level ProblemCode without a test in this module fails this one."""
    assert COVERED >= FILE_CODES




# -- source lists --------------------------------------------------------------------------------

_HALTS = """
[[transitions]]
trigger = "halt"
source = {sources}
dest = "{dest}"
"""


def _with_halts(sources: str, dest: str = "HALTED") -> str:
    """The default policy file with its four halt transitions written as one table."""
    kept = [t for t in DEFAULT_TEXT.split("\n[[transitions]]\n")
            if not t.startswith('trigger = "halt"\n')]
    return "\n[[transitions]]\n".join(kept).rstrip("\n") + "\n" + _HALTS.format(
        sources=sources, dest=dest)


ALL_HALTS = '["NORMAL", "DEGRADED", "PRE_OPEN", "FULL_OPEN"]'


def test_a_source_list_is_one_transition_per_source() -> None:
    """``source = [...]`` (as transitions accepts) expands to the same edges, in list order."""
    policy = loads_policy(_with_halts(ALL_HALTS))

    assert set(policy.transitions) == set(default_policy().transitions)
    assert [t.source for t in policy.transitions if t.trigger == "halt"] == [
        "NORMAL", "DEGRADED", "PRE_OPEN", "FULL_OPEN"]
    assert loads_policy(dump_policy(policy)) == policy  # written back one edge per table


def test_a_problem_in_a_source_list_names_the_entry() -> None:
    """A misspelt source: a problem at its index, on the table's line, then the phase it leaves
    without a halt; the other sources count (none of their phases is reported)."""
    text = _with_halts('["NORMAL", "DEGRADED", "PRE_OPN", "FULL_OPEN"]')

    problems = problems_of(text).problems

    assert [(p.code, p.location) for p in problems] == [
        (ProblemCode.UNKNOWN_PHASE, "transitions[6].source[2]"),
        (ProblemCode.MISSING_HALT_TRIGGER, "phases.PRE_OPEN")]
    assert problems[0].line == text.splitlines().index(
        'source = ["NORMAL", "DEGRADED", "PRE_OPN", "FULL_OPEN"]') + 1


def test_a_bad_dest_shared_by_a_source_list_is_reported_once() -> None:
    problems = problems_of(_with_halts(ALL_HALTS, dest="HALTD")).problems

    assert [p.location for p in problems if p.code is ProblemCode.UNKNOWN_PHASE] == [
        "transitions[6].dest"]


@pytest.mark.parametrize(("sources", "location"), [
    ("[]", "transitions[6].source"),
    ('["NORMAL", 3, "PRE_OPEN", "FULL_OPEN", "DEGRADED"]', "transitions[6].source[1]"),
])
def test_an_empty_or_mistyped_source_list_is_an_invalid_value(sources: str, location: str) -> None:
    problems = problems_of(_with_halts(sources)).problems

    assert (ProblemCode.INVALID_VALUE, location) == (problems[0].code, problems[0].location)


# -- resting-order rules and incoming conversion -------------------------------------------------

_HALTED_RULES = ('[[phases.HALTED.resting]]\naction = "CANCEL"\norigins = ["LIQUIDATION"]\n\n'
                 '[[phases.HALTED.resting]]\naction = "SUSPEND"\n'
                 'order_types = ["STOP_MARKET", "STOP_LIMIT"]\nuntil = "NORMAL"\n')


def _line(text: str, problem: object) -> str:
    return text.splitlines()[problem.line - 1]  # type: ignore[attr-defined]


def test_resting_rules_are_written_inline_and_defaults_are_omitted() -> None:
    """HALTED's rules are ``[[phases.HALTED.resting]]`` tables with only the class fields that
    narrow the class; no phase writes ``incoming`` or an empty ``resting``."""
    assert _HALTED_RULES in DEFAULT_TEXT
    assert DEFAULT_TEXT.count("[[phases.") == 2
    assert "incoming" not in DEFAULT_TEXT
    assert "resting" not in dump_policy(venue_modes_policy())


def test_incoming_post_only_and_every_class_field_survive_the_round_trip() -> None:
    """A converting PRE_OPEN and a rule using every class field load back equal."""
    rule = RestingRule(RestingAction.POST_ONLY, OrderClass(
        order_types={OrderType.LIMIT}, time_in_force={TimeInForce.GTC}, origins={Origin.CLIENT},
        post_only=False, reduce_only=True))
    base = default_policy()
    policy = base.with_changes(phases=[
        attrs.evolve(p, incoming=IncomingAction.POST_ONLY, resting=(rule,))
        if p.name == "PRE_OPEN" else p for p in base.phases])

    text = dump_policy(policy)

    assert 'incoming = "POST_ONLY"' in text
    assert ('[[phases.PRE_OPEN.resting]]\naction = "POST_ONLY"\norder_types = ["LIMIT"]\n'
            'time_in_force = ["GTC"]\norigins = ["CLIENT"]\npost_only = false\n'
            'reduce_only = true\n') in text
    assert loads_policy(text) == policy


@covers(ProblemCode.UNKNOWN_KEY, ProblemCode.UNKNOWN_MEMBER, ProblemCode.MISSING_KEY)
def test_problems_in_a_resting_rule_are_located_at_its_index_and_key() -> None:
    """A misspelt action and origin, an unknown key and a rule without action: each at its
    ``resting[i]`` key and line, with no knock-on INVALID_VALUE for the unusable rules."""
    text = DEFAULT_TEXT.replace(
        'action = "CANCEL"\norigins = ["LIQUIDATION"]',
        'action = "CANSEL"\norigins = ["LIQUIDATON"]\ncolour = 1').replace(
        'action = "SUSPEND"\n', "")

    problems = problems_of(text).problems

    assert [(p.code, p.location) for p in problems] == [
        (ProblemCode.UNKNOWN_KEY, "phases.HALTED.resting[0].colour"),
        (ProblemCode.UNKNOWN_MEMBER, "phases.HALTED.resting[0].action"),
        (ProblemCode.UNKNOWN_MEMBER, "phases.HALTED.resting[0].origins[0]"),
        (ProblemCode.MISSING_KEY, "phases.HALTED.resting[1].action"),
    ]
    assert "did you mean 'CANCEL'?" in problems[1].message
    assert "did you mean 'LIQUIDATION'?" in problems[2].message
    assert [_line(text, p) for p in problems] == [
        "colour = 1", 'action = "CANSEL"', 'origins = ["LIQUIDATON"]',
        "[[phases.HALTED.resting]]"]


@covers(ProblemCode.INVALID_VALUE)
def test_mistyped_resting_and_incoming_values_are_invalid_values() -> None:
    """``resting`` as a string or a single table, a flag as a string, a lower-case incoming."""
    text = (DEFAULT_TEXT.replace("[phases.NORMAL]\n",
                                 '[phases.NORMAL]\nresting = "none"\nincoming = "refuse"\n')
            .replace('origins = ["LIQUIDATION"]', 'origins = ["LIQUIDATION"]\npost_only = "yes"')
            .replace("[phases.PRE_OPEN.accepts]",
                     '[phases.PRE_OPEN.resting]\naction = "KEEP"\n\n[phases.PRE_OPEN.accepts]'))

    found = {(p.code, p.location): p for p in problems_of(text).problems}

    assert set(found) == {
        (ProblemCode.INVALID_VALUE, "phases.NORMAL.resting"),
        (ProblemCode.UNKNOWN_MEMBER, "phases.NORMAL.incoming"),
        (ProblemCode.INVALID_VALUE, "phases.HALTED.resting[0].post_only"),
        (ProblemCode.INVALID_VALUE, "phases.PRE_OPEN.resting"),
    }
    assert "[[phases.NORMAL.resting]]" in found[ProblemCode.INVALID_VALUE,
                                                 "phases.NORMAL.resting"].message
    assert _line(text, found[ProblemCode.INVALID_VALUE, "phases.PRE_OPEN.resting"]) == (
        "[phases.PRE_OPEN.resting]")


def test_disposition_problems_point_at_the_rule_in_the_file() -> None:
    """Validation's INVALID_DISPOSITION and UNKNOWN_PHASE name ``resting[i]`` keys as written
    (the class fields inline, no ``.orders``), and a bad rule leaves later indexes right."""
    text = (DEFAULT_TEXT.replace('action = "CANCEL"', 'action = "POST_ONLY"')
            .replace('until = "NORMAL"', 'until = "NORMALL"')
            .replace("[phases.HALTED]\n", '[phases.HALTED]\nincoming = "POST_ONLY"\n'))

    problems = problems_of(text).problems

    assert [(p.code, p.location) for p in problems] == [
        (ProblemCode.INVALID_DISPOSITION, "phases.HALTED.incoming"),
        (ProblemCode.INVALID_DISPOSITION, "phases.HALTED.resting[0]"),
        (ProblemCode.UNKNOWN_PHASE, "phases.HALTED.resting[1].until"),
    ]
    assert [_line(text, p) for p in problems] == [
        'incoming = "POST_ONLY"', "[[phases.HALTED.resting]]", 'until = "NORMALL"']


def test_a_reopen_that_would_fire_kept_stops_is_reported_at_its_transition() -> None:
    """Without HALTED's suspension, stops rest into a FULL_OPEN with stop triggers on."""
    text = DEFAULT_TEXT.replace(_HALTED_RULES.split("\n\n")[1], "").replace(
        "matching = true\nstop_triggers = false\nliquidations = false\n\n"
        "[phases.FULL_OPEN.accepts]",
        "matching = true\nstop_triggers = true\nliquidations = false\n\n"
        "[phases.FULL_OPEN.accepts]")

    (problem,) = problems_of(text).problems

    assert (problem.code, problem.location) == (ProblemCode.STOP_FIRES_ON_REOPEN, "transitions[7]")
    assert _line(text, problem) == "[[transitions]]"


# -- reopening: auctions, maximum stays, liquidation releases, funding (issue #14) ---------------

REOPENING_TEXT = dump_policy(reopening_policy())


def test_packaged_reopening_policy_file_equals_reopening_policy() -> None:
    """``@reopening`` is reopening_policy(): its auction, stay, release and funding included."""
    resource = importlib.resources.files("exchange_recovery") / "policies" / "reopening.toml"
    loaded = loads_policy(resource.read_text(encoding="utf-8"))

    assert loaded == reopening_policy()
    assert loaded.phase("AUCTION").auction == reopening_policy().phase("AUCTION").auction
    assert dump_policy(loaded) == REOPENING_TEXT


def test_reopen_tables_are_written_only_where_a_phase_has_them() -> None:
    """Nested tables per phase, enums by name; no key at all where a phase has the default."""
    assert ('[phases.AUCTION.auction]\nuncross = "uncross"\noverride = "override_open"\n'
            "min_call = 120.0\nrandom_end = 30.0\ncollar = 0.05\nextension = 300.0\n"
            'max_extensions = 2\nwhen_exhausted = "MANUAL"\ncutoff = 30.0\n') in REOPENING_TEXT
    assert ('[phases.PRE_OPEN.max_stay]\nseconds = 1800.0\nthen = "ADVANCE"\ntrigger = "call"\n'
            in REOPENING_TEXT)
    assert ("[phases.FULL_OPEN.liquidation_release]\ndelay = 900.0\nper_minute = 10\n"
            in REOPENING_TEXT)
    assert REOPENING_TEXT.count("funding = false") == 3
    for key in ("funding", "auction", "max_stay", "liquidation_release"):
        assert key not in DEFAULT_TEXT


def test_a_release_after_the_pause_is_spelt_pause() -> None:
    """``delay = "pause"`` is LiquidationRelease(delay=None), both ways."""
    release = LiquidationRelease(delay=None, per_minute=3)
    policy = _with_phase("FULL_OPEN", liquidation_release=release)

    text = dump_policy(policy)

    assert '[phases.FULL_OPEN.liquidation_release]\ndelay = "pause"\nper_minute = 3\n' in text
    assert loads_policy(text).phase("FULL_OPEN").liquidation_release == release


def test_omitted_reopen_keys_take_the_constructors_defaults() -> None:
    """Only ``uncross``, ``override`` and ``seconds`` are required; the rest default."""
    text = (REOPENING_TEXT
            .replace("min_call = 120.0\nrandom_end = 30.0\ncollar = 0.05\nextension = 300.0\n"
                     'max_extensions = 2\nwhen_exhausted = "MANUAL"\ncutoff = 30.0\n', "")
            .replace('then = "ADVANCE"\ntrigger = "call"\n', "")
            .replace("delay = 900.0\nper_minute = 10\n", ""))

    policy = loads_policy(text)

    assert policy.phase("AUCTION").auction == AuctionSpec("uncross", "override_open")
    assert policy.phase("PRE_OPEN").max_stay == MaxStay(1800.0)
    assert policy.phase("FULL_OPEN").liquidation_release == LiquidationRelease()


def _with_phase(name: str, base: Policy | None = None, **changes: object) -> Policy:
    base = base or reopening_policy()
    return base.with_changes(phases=[attrs.evolve(p, **changes) if p.name == name else p
                                     for p in base.phases])


@covers(ProblemCode.UNKNOWN_KEY, ProblemCode.MISSING_KEY, ProblemCode.INVALID_VALUE,
        ProblemCode.UNKNOWN_MEMBER)
def test_problems_in_reopen_tables_are_located_at_their_keys_and_lines() -> None:
    """A missing uncross (no knock-on INVALID_AUCTION), a fractional count, a misspelt enum,
    an unknown key, a delay that is neither seconds nor "pause", a non-bool funding."""
    text = (REOPENING_TEXT.replace('uncross = "uncross"\noverride', "override")
            .replace("max_extensions = 2", "max_extensions = 2.5")
            .replace('when_exhausted = "MANUAL"', 'when_exhausted = "manul"')
            .replace('then = "ADVANCE"', 'then = "ADVANCE"\nafter = 3')
            .replace("delay = 900.0", 'delay = "later"')
            .replace("per_minute = 10", "per_minute = true")
            .replace("[phases.AUCTION]\n", '[phases.AUCTION]\nfunding = "no"\n', 1)
            .replace("funding = false\n\n[phases.AUCTION.accepts]", "\n[phases.AUCTION.accepts]"))

    problems = problems_of(text).problems

    assert [(p.code, p.location) for p in problems] == [
        (ProblemCode.UNKNOWN_KEY, "phases.PRE_OPEN.max_stay.after"),
        (ProblemCode.INVALID_VALUE, "phases.FULL_OPEN.liquidation_release.delay"),
        (ProblemCode.INVALID_VALUE, "phases.FULL_OPEN.liquidation_release.per_minute"),
        (ProblemCode.INVALID_VALUE, "phases.AUCTION.funding"),
        (ProblemCode.MISSING_KEY, "phases.AUCTION.auction.uncross"),
        (ProblemCode.INVALID_VALUE, "phases.AUCTION.auction.max_extensions"),
        (ProblemCode.UNKNOWN_MEMBER, "phases.AUCTION.auction.when_exhausted"),
    ]
    assert "did you mean 'MANUAL'?" in problems[-1].message
    assert "'pause'" in problems[1].message
    assert [_line(text, p) for p in problems] == [
        "after = 3", 'delay = "later"', "per_minute = true", 'funding = "no"',
        "[phases.AUCTION.auction]", "max_extensions = 2.5", 'when_exhausted = "manul"']


@pytest.mark.parametrize(("key", "table"), [
    ("auction", '"yes"'), ("max_stay", "1800"), ("liquidation_release", "[900, 10]")])
def test_a_reopen_key_that_is_no_table_is_an_invalid_value(key: str, table: str) -> None:
    text = DEFAULT_TEXT.replace("[phases.PRE_OPEN]\n", f"[phases.PRE_OPEN]\n{key} = {table}\n")

    (problem,) = problems_of(text).problems

    assert (problem.code, problem.location) == (ProblemCode.INVALID_VALUE,
                                                f"phases.PRE_OPEN.{key}")
    assert _line(text, problem) == f"{key} = {table}"


def test_reopen_data_that_cannot_work_is_reported_at_its_key_and_line() -> None:
    """The policy's own checks, at the file's keys: NaN and negative numbers, an auction that
    matches, an ADVANCE whose trigger does not leave, a release where nothing matches."""
    text = (REOPENING_TEXT.replace("min_call = 120.0", "min_call = nan")
            .replace("collar = 0.05", "collar = -0.05")
            .replace('"ADVANCE"\ntrigger = "call"', '"ADVANCE"\ntrigger = "open"')
            .replace("matching = false\nstop_triggers = false\nliquidations = false\n"
                     "funding = false\n\n[phases.AUCTION.accepts]",
                     "matching = true\nstop_triggers = false\nliquidations = false\n"
                     "funding = false\n\n[phases.AUCTION.accepts]")
            + '\n[phases.HALTED.liquidation_release]\ndelay = "pause"\nper_minute = 1\n')

    problems = problems_of(text).problems

    assert {(p.code, p.location): _line(text, p) for p in problems} == {
        (ProblemCode.INVALID_LIQUIDATION_RELEASE, "phases.HALTED.liquidation_release"):
            "[phases.HALTED.liquidation_release]",
        (ProblemCode.INVALID_DEADLINE, "phases.PRE_OPEN.max_stay.trigger"): 'trigger = "open"',
        (ProblemCode.INVALID_AUCTION, "phases.AUCTION.matching"): "matching = true",
        (ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction.min_call"): "min_call = nan",
        (ProblemCode.INVALID_AUCTION, "phases.AUCTION.auction.collar"): "collar = -0.05",
    }


def test_a_bad_auction_key_is_reported_once() -> None:
    """``min_call = "2m"`` is an INVALID_VALUE; the default stands in, so no INVALID_AUCTION."""
    (problem,) = problems_of(REOPENING_TEXT.replace("min_call = 120.0",
                                                    'min_call = "2m"')).problems

    assert (problem.code, problem.location) == (ProblemCode.INVALID_VALUE,
                                                "phases.AUCTION.auction.min_call")
