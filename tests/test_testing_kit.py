"""The public testing kit: its strategies mean what they say, and it stays out of the core import."""

from __future__ import annotations

import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange_recovery import (
    Controller,
    InvalidPolicyError,
    Policy,
    ProblemCode,
    Request,
    default_policy,
)
from exchange_recovery.testing import (
    MUTATIONS,
    NOT_POLICY_CODES,
    BrokenPolicy,
    broken_policies,
    requests,
    transition_sequences,
    valid_policies,
)


def _ready(_ctx: object) -> bool:
    return True


@given(policy=valid_policies())
def test_valid_policies_build_and_run_the_restart_path(policy: Policy) -> None:
    """Every drawn policy validates, and its fail-safe phase leads back to matching via pre-open."""
    controller = Controller(policy, guards={"ready": _ready})
    controller.halt(actor="ops:test", reason="drill")
    assert controller.phase() == policy.fail_safe
    assert not controller.gate.matching()
    for trigger in ("pre_open", "open"):
        controller.fire(trigger, actor="ops:test", reason="drill")
    assert controller.gate.matching()


@given(broken=broken_policies())
def test_each_broken_policy_is_reported_with_exactly_its_codes(broken: BrokenPolicy) -> None:
    """The validator names the mutation's code, and nothing else, for every mutation."""
    with pytest.raises(InvalidPolicyError) as caught:
        broken.build()

    assert broken.code in broken.codes
    assert caught.value.codes == broken.codes, (broken, caught.value)


@pytest.mark.parametrize("code", sorted(set(ProblemCode) - NOT_POLICY_CODES))
def test_every_problem_code_has_a_mutation_that_triggers_exactly_it(code: ProblemCode) -> None:
    """A new problem code without a mutation fails here; each code's mutation is tried a few times."""
    assert code in MUTATIONS, f"add a mutation for {code.value} to broken_policies()"
    seen: list[frozenset[ProblemCode]] = []

    @settings(max_examples=5)
    @given(broken_policies([code]))
    def check(broken: BrokenPolicy) -> None:
        with pytest.raises(InvalidPolicyError) as caught:
            broken.build()
        seen.append(caught.value.codes)

    check()
    assert seen
    assert all(codes == MUTATIONS[code][0] | {code} for codes in seen), seen


def test_broken_policies_refuses_a_code_it_has_no_mutation_for() -> None:
    with pytest.raises(ValueError, match="no mutation"):
        broken_policies(["NOT_A_CODE"])  # type: ignore[list-item]


@given(policy=st.sampled_from([default_policy()]) | valid_policies(), data=st.data())
def test_transition_sequences_are_legal_walks(policy: Policy, data: st.DataObject) -> None:
    """Firing a drawn walk in order succeeds step by step, landing where each step says."""
    walk = data.draw(transition_sequences(policy))
    controller = Controller(policy, guards={"ready": _ready})
    for step in walk:
        assert controller.phase() == step.source
        record = controller.fire(step.trigger, actor="ops:test", reason="walk")
        assert record.dest == step.dest
    assert controller.version == len(walk)


@given(request=requests(instruments=["ETH-USD"]))
def test_requests_stay_on_the_given_instruments(request: Request) -> None:
    assert request.instrument in {None, "ETH-USD"}


def test_importing_the_library_does_not_import_hypothesis() -> None:
    """The core needs no test dependency; only the kit's hypothesis-based names bring it."""
    code = ("import sys, exchange_recovery; "
            "assert 'hypothesis' not in sys.modules, 'hypothesis imported'; "
            "from exchange_recovery.testing import ManualClock; "
            "assert 'hypothesis' not in sys.modules, 'hypothesis imported by ManualClock'; "
            "from exchange_recovery.testing import requests; assert 'hypothesis' in sys.modules")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr


def test_every_problem_code_is_either_mutated_or_declared_not_a_policy_code() -> None:
    """A new code must get a mutation, or be listed as a file/plan code, deliberately."""
    assert set(MUTATIONS) | NOT_POLICY_CODES == set(ProblemCode)
    assert not set(MUTATIONS) & NOT_POLICY_CODES
