"""Every exception the library raises crosses a process boundary intact (pickle round trip)."""

from __future__ import annotations

import inspect
import pickle

import pytest

import exchange_recovery
from exchange_recovery import (
    VENUE,
    ConfigurationError,
    ConformanceFailure,
    CoordinatorError,
    CoordinatorState,
    DirectoryError,
    DirectoryProblem,
    ExchangeRecoveryError,
    IdentityError,
    InvalidPlanError,
    InvalidPolicyError,
    InvalidRequestError,
    JournalError,
    Problem,
    ProblemCode,
    RefusalCode,
    SigningError,
    TransitionConflict,
    TransitionRecord,
    TransitionRefused,
)

RECORD = TransitionRecord(3, VENUE, "NORMAL", "HALTED", "halt", "ops:alice", "zone down", 1.5, False)
PROBLEMS = (Problem(ProblemCode.UNKNOWN_PHASE, "transitions[0].dest", "no phase 'X'", "p.toml", 7),)

SAMPLES: dict[type[BaseException], BaseException] = {
    ExchangeRecoveryError: ExchangeRecoveryError("base"),
    InvalidRequestError: InvalidRequestError("instrument", " BTC", "a name without outer spaces"),
    InvalidPolicyError: InvalidPolicyError(PROBLEMS),
    InvalidPlanError: InvalidPlanError(PROBLEMS),
    ConfigurationError: ConfigurationError("clock must be callable, got 5"),
    TransitionRefused: TransitionRefused(RefusalCode.DWELL_NOT_MET, scope=VENUE, phase="PRE_OPEN",
                                         trigger="open", context={"remaining": 300.0,
                                                                  "needed_roles": ["supervisor"]}),
    TransitionConflict: TransitionConflict(
        RefusalCode.VERSION_CONFLICT, scope=VENUE, phase="HALTED", trigger="open",
        detail="decided on version=2, stored version=3",
        state=CoordinatorState.of({VENUE: RECORD}, 4), winner=RECORD),
    JournalError: JournalError("journal j.jsonl: record version 1 is not above 2"),
    IdentityError: IdentityError("actor", "ops:al\u200bice", "a format character at index 6"),
    DirectoryError: DirectoryError([DirectoryProblem("principals[0].id", "not canonical",
                                                     "people.toml", 3)]),
    SigningError: SigningError("key file k.pem is readable by others"),
    ConformanceFailure: ConformanceFailure("the engine matched while HALTED"),
    CoordinatorError: CoordinatorError("etcd did not answer within 2 s"),
}


def _exception_classes() -> set[type[BaseException]]:
    return {obj for name in exchange_recovery.__all__
            if inspect.isclass(obj := getattr(exchange_recovery, name))
            and issubclass(obj, BaseException)}


def test_every_exported_exception_class_has_a_sample_here() -> None:
    """A new exception class without a pickling sample fails this test."""
    assert _exception_classes() <= set(SAMPLES)


@pytest.mark.parametrize("cls", sorted(SAMPLES, key=lambda c: c.__name__))
def test_an_exception_round_trips_through_pickle_with_its_fields_and_message(
        cls: type[BaseException]) -> None:
    """Same class, same message, same fields after pickle.loads(pickle.dumps(exc))."""
    original = SAMPLES[cls]
    copy = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own bytes
    assert type(copy) is cls
    assert str(copy) == str(original)
    fields = {k: v for k, v in vars(original).items() if k not in ("state",)}
    assert {k: v for k, v in vars(copy).items() if k in fields} == fields
    if isinstance(original, TransitionConflict):
        assert isinstance(copy, TransitionConflict)
        assert dict(copy.state.records) == dict(original.state.records)
        assert copy.state.version == original.state.version
