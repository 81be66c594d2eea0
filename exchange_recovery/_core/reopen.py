"""How a phase reopens, as data: an auction call, a maximum stay, a liquidation release clock.

A `PhaseSpec` may carry any of them (issue "Reopen like the best venues"):

- `AuctionSpec`: the phase is a call auction. It accepts what its `Acceptance` says (plain limit
  orders included, unlike a post-only pre-open) and never matches continuously. The call lasts
  at least `min_call` seconds, then ends at a seeded random moment within `random_end` seconds
  (LSE: within 30 s; Xetra: a random end after a minimum call). At the end the engine's
  indicative price is held against a collar around the reference price; outside it, the call is
  extended by `extension` seconds, at most `max_extensions` times; then `when_exhausted` says
  whether people decide (a two-person override) or the phase opens without a cross. After the
  cutoff (`cutoff` seconds before the current end), cancels and less aggressive amends are
  refused (Nasdaq's halt cross: late in the call, only more aggressive changes).
- `MaxStay`: how long a scope may stay in the phase before the library alerts, halts, or
  advances (when the advancing transition's guards pass).
- `LiquidationRelease`: liquidations resume `delay` seconds after the phase is entered (None:
  after as long as the pause before it lasted), then at most `per_minute` per minute per
  instrument.

All of it is checked when the policy is built (`reopen_problems`), like the rest of a policy.
"""

from __future__ import annotations

import enum
import hashlib
import math
import random
from collections.abc import Callable
from decimal import Decimal
from typing import Final

import attrs

from .codes import ProblemCode
from .errors import ConfigurationError
from .specs import seconds, seconds_problem, usable_name
from .text import shown

MAX_EXTENSIONS: Final = 100
"""The most extensions an auction may declare."""
MAX_RATE: Final = 1_000_000
"""The highest liquidation release rate (per minute per instrument) a policy may declare."""


class Exhausted(enum.Enum):
    """What an auction does when its last extension ends outside the collar."""

    MANUAL = "MANUAL"
    """Keep calling until people decide: the `AuctionSpec.override` transition, which the policy
    guards with a two-person approval (Xetra: market supervision ends the call)."""
    OPEN_WITHOUT_CROSS = "OPEN_WITHOUT_CROSS"
    """Fire `AuctionSpec.override` at once: continuous trading starts with no auction trade."""


class StayAction(enum.Enum):
    """What happens when a scope has stayed in a phase for its `MaxStay`."""

    ALERT = "ALERT"
    """A critical audit event and a listener notice; the phase does not change."""
    HALT = "HALT"
    """The policy's halt trigger is fired (tightening: no guard can hold it back)."""
    ADVANCE = "ADVANCE"
    """`MaxStay.trigger` is fired when its guards pass; while they do not, it is retried and
    the deadline is reported overdue."""


@attrs.frozen
class AuctionSpec:
    """A call auction in a phase (see the module docstring for the timeline).

    Example:
        >>> spec = AuctionSpec("uncross", "open_without_cross", min_call=120, random_end=30,
        ...                    collar=0.05, extension=300, max_extensions=2)
        >>> spec.end_after(seed=7, scope="venue", visit=4) == spec.end_after(7, "venue", 4)
        True
        >>> 120 <= spec.end_after(7, "venue", 4) <= 150
        True
        >>> spec.in_collar(104.9, reference=100), spec.in_collar(105.1, reference=100)
        (True, False)
    """

    uncross: str
    """The trigger that ends the call with the uncrossing trade (to a matching phase)."""
    override: str
    """The trigger that ends the call without the collar holding: people's decision, guarded by
    a two-person approval (MANUAL), or fired by the library (OPEN_WITHOUT_CROSS)."""
    min_call: float = 120.0
    random_end: float = 30.0
    collar: float = 0.05
    """The largest allowed distance of the indicative price from the reference, as a fraction
    of the reference (0.05: within 5 %)."""
    extension: float = 300.0
    max_extensions: int = 1
    when_exhausted: Exhausted = Exhausted.MANUAL
    cutoff: float = 0.0
    """Seconds before the current scheduled end after which cancels and less aggressive amends
    are refused (0: no cutoff)."""

    def end_after(self, seed: int, scope: str, visit: int, extension: int = 0) -> float:
        """Seconds from the start of the call (or of extension number `extension`) to its
        end: the minimum call (or the extension), plus a draw within the random-end window.

        The draw is a function of (`seed`, `scope`, `visit`, `extension`) only: the same seed
        gives the same end on every run and after a restart, and nothing else does.
        """
        for field, value in (("seed", seed), ("visit", visit), ("extension", extension)):
            if type(value) is not int or not 0 <= value < 2**63:
                msg = f"{field} must be an int from 0, got {shown(value)}"
                raise ConfigurationError(msg)
        if not usable_name(scope):
            msg = f"scope must be a str, got {shown(scope)}"
            raise ConfigurationError(msg)
        base = self.min_call if extension == 0 else self.extension
        if not self.random_end:
            return float(base)
        text = f"{seed}|{scope}|{visit}|{extension}".encode("utf-8", "backslashreplace")
        draw = random.Random(hashlib.sha256(text).digest()).random()  # noqa: S311 - a schedule
        return base + draw * self.random_end

    def in_collar(self, price: float, reference: float) -> bool:
        """Whether `price` is within the collar around `reference` (both positive, finite).

        Raises:
            ConfigurationError: `price` or `reference` is no positive finite number.
        """
        for field, value in (("price", price), ("reference", reference)):
            if not (_number(value) or (isinstance(value, Decimal) and value.is_finite())) \
                    or not value > 0:
                msg = f"{field} must be a positive finite number, got {shown(value)}"
                raise ConfigurationError(msg)
        return bool(abs(price - reference) <= self.collar * reference)


@attrs.frozen
class MaxStay:
    """The longest a scope may stay in a phase, and what happens then.

    Example:
        >>> MaxStay(3600, StayAction.HALT).then
        <StayAction.HALT: 'HALT'>
    """

    seconds: float
    then: StayAction = StayAction.ALERT
    trigger: str = ""
    """For ADVANCE: the trigger to fire (it must leave the phase)."""


@attrs.frozen
class LiquidationRelease:
    """When liquidations resume after a restart, and how fast.

    Example:
        >>> release = LiquidationRelease(delay=900, per_minute=10)
        >>> release.resume_at(entered=1000.0, paused=7200.0)
        1900.0
        >>> LiquidationRelease(delay=None, per_minute=10).resume_at(1000.0, paused=7200.0)
        8200.0
    """

    delay: float | None = 900.0
    """Seconds after the phase is entered (None: as long as the pause before it lasted)."""
    per_minute: int = 10
    """At most this many liquidations per minute per instrument once released."""

    def resume_at(self, entered: float, paused: float) -> float:
        """When liquidations resume: `entered` plus the delay (or plus `paused`).

        Raises:
            ConfigurationError: `entered` or `paused` is no finite number (`paused` >= 0).
        """
        if not _number(entered):
            msg = f"entered must be a finite number of clock seconds, got {shown(entered)}"
            raise ConfigurationError(msg)
        pause = seconds("paused", paused)
        return float(entered) + (pause if self.delay is None else self.delay)


def _number(value: object) -> bool:
    """A finite int or float of a sane size (an int beyond 1e15 is no price and no time)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -(10**15) <= value <= 10**15
    return isinstance(value, float) and math.isfinite(value)


def _leaves(trigger: object, triggers_out: frozenset[str]) -> bool:
    """Whether `trigger` is one of `triggers_out` (any value: an unhashable one is not)."""
    return isinstance(trigger, str) and trigger in triggers_out


_Add = Callable[[ProblemCode, str, str], None]


def reopen_problems(where: str, auction: object, max_stay: object, release: object,
                    matching: object, triggers_out: frozenset[str],
                    ) -> list[tuple[ProblemCode, str, str]]:
    """Every problem in one phase's reopen data, as (code, location, message).

    `where` locates the phase (``phases.AUCTION``); `triggers_out` holds the triggers that leave
    it. An auction phase must not match and must be left by its `uncross` and `override`
    triggers; a maximum stay that advances must name a trigger that leaves the phase (and only
    one that advances names a trigger); a release needs a phase that matches; numbers must be
    finite and in range.
    """
    out: list[tuple[ProblemCode, str, str]] = []

    def add(code: ProblemCode, field: str, message: str) -> None:
        out.append((code, f"{where}.{field}", message))

    if auction is not None:
        if not isinstance(auction, AuctionSpec):
            add(ProblemCode.INVALID_AUCTION, "auction",
                f"expected an AuctionSpec, got {shown(auction)}")
        else:
            _auction_problems(auction, matching, triggers_out, add)
    if max_stay is not None:
        if not isinstance(max_stay, MaxStay):
            add(ProblemCode.INVALID_DEADLINE, "max_stay", f"expected a MaxStay, got {shown(max_stay)}")
        else:
            _stay_problems(max_stay, triggers_out, add)
    if release is not None:
        if not isinstance(release, LiquidationRelease):
            add(ProblemCode.INVALID_LIQUIDATION_RELEASE, "liquidation_release",
                f"expected a LiquidationRelease, got {shown(release)}")
        else:
            _release_problems(release, matching, add)
    return out


def _stay_problems(stay: MaxStay, triggers_out: frozenset[str], add: _Add) -> None:
    def bad(field: str, message: str) -> None:
        add(ProblemCode.INVALID_DEADLINE, f"max_stay.{field}", message)

    problem = seconds_problem(stay.seconds)
    if problem is not None or not stay.seconds:
        bad("seconds", f"{problem or 'a maximum stay must be > 0 seconds'}, got {shown(stay.seconds)}")
    if not isinstance(stay.then, StayAction):
        bad("then", f"expected a StayAction, got {shown(stay.then)}")
    elif stay.then is StayAction.ADVANCE and not _leaves(stay.trigger, triggers_out):
        bad("trigger", f"ADVANCE needs a trigger that leaves the phase, one of "
                       f"{sorted(triggers_out)}, got {shown(stay.trigger)}")
    elif stay.then is not StayAction.ADVANCE and stay.trigger != "":
        bad("trigger", f"only ADVANCE fires a trigger; {stay.then.name} takes none, got "
                       f"{shown(stay.trigger)}")


def _release_problems(release: LiquidationRelease, matching: object, add: _Add) -> None:
    def bad(field: str, message: str) -> None:
        add(ProblemCode.INVALID_LIQUIDATION_RELEASE, f"liquidation_release{field}", message)

    problem = None if release.delay is None else seconds_problem(release.delay)
    if problem is not None:
        bad(".delay", f"{problem} (or None: the pause's length), got {shown(release.delay)}")
    if type(release.per_minute) is not int or not 1 <= release.per_minute <= MAX_RATE:
        bad(".per_minute", f"expected an int from 1 to {MAX_RATE}, got {shown(release.per_minute)}")
    if matching is not True:
        bad("", "liquidations are released only in a phase that matches")


def _auction_problems(spec: AuctionSpec, matching: object, triggers_out: frozenset[str],
                      add: _Add) -> None:
    def bad(field: str, message: str) -> None:
        add(ProblemCode.INVALID_AUCTION, f"auction.{field}", message)

    if matching is not False:  # at the phase's own key: the auction is fine, the phase is not
        add(ProblemCode.INVALID_AUCTION, "matching",
            "an auction phase must not match continuously (matching = false)")
    for field in ("uncross", "override"):
        trigger = getattr(spec, field)
        if not _leaves(trigger, triggers_out):
            bad(field, f"must be a trigger that leaves the phase, one of {sorted(triggers_out)}, "
                       f"got {shown(trigger)}")
    if spec.uncross == spec.override:
        bad("override", "must differ from uncross: an override is recorded as one")
    for field in ("min_call", "random_end", "extension", "cutoff"):
        value = getattr(spec, field)
        problem = seconds_problem(value)
        if problem is not None:
            bad(field, f"{problem}, got {shown(value)}")
    if seconds_problem(spec.min_call) is None and not spec.min_call:
        bad("min_call", "a call must last > 0 seconds, got 0")
    if not (_number(spec.collar) and 0 < spec.collar < 1):
        bad("collar", f"expected a fraction of the reference price, > 0 and < 1, got "
                      f"{shown(spec.collar)}")
    if type(spec.max_extensions) is not int or not 0 <= spec.max_extensions <= MAX_EXTENSIONS:
        bad("max_extensions", f"expected an int from 0 to {MAX_EXTENSIONS}, got "
                              f"{shown(spec.max_extensions)}")
    elif spec.max_extensions and seconds_problem(spec.extension) is None and not spec.extension:
        bad("extension", "an extension must last > 0 seconds, got 0")
    if not isinstance(spec.when_exhausted, Exhausted):
        bad("when_exhausted", f"expected an Exhausted member, got {shown(spec.when_exhausted)}")
    if (seconds_problem(spec.cutoff) is None and seconds_problem(spec.min_call) is None
            and spec.cutoff >= spec.min_call > 0):
        bad("cutoff", f"the cutoff must leave part of the minimum call open to cancels, got "
                      f"{shown(spec.cutoff)} >= min_call {shown(spec.min_call)}")
