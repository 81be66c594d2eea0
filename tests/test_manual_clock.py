"""ManualClock: the clock users pass to controllers, runners and followers in their tests."""

from __future__ import annotations

import math
import subprocess
import sys
import threading

import pytest

from exchange_recovery import Clock, ConfigurationError, Controller, default_policy
from exchange_recovery.testing import ManualClock


def test_a_manual_clock_shows_its_start_until_moved() -> None:
    """Calling the clock returns `start` (0.0 by default) as a float, however often it is read."""
    assert ManualClock()() == 0.0
    clock = ManualClock(start=1_000)
    assert [clock(), clock(), clock.now] == [1_000.0] * 3
    assert isinstance(clock(), float)


def test_a_manual_clock_advances_by_the_seconds_given() -> None:
    """`advance` adds to the time; zero is allowed and changes nothing."""
    clock = ManualClock(start=100.0)
    clock.advance(300)
    clock.advance(0.5)
    clock.advance(0)
    assert clock() == 400.5


@pytest.mark.parametrize("seconds", [-1, -0.001, math.nan, math.inf, -math.inf])
def test_a_manual_clock_refuses_to_go_backwards_or_off_the_scale(seconds: float) -> None:
    """A negative, nan or infinite `advance` is a ConfigurationError naming the argument and value."""
    clock = ManualClock(start=5.0)
    with pytest.raises(ConfigurationError, match=rf"seconds must .*got {seconds!r}"):
        clock.advance(seconds)
    assert clock() == 5.0


@pytest.mark.parametrize("value", [True, "10", None, math.nan, math.inf])
def test_a_manual_clock_refuses_a_start_that_is_not_a_finite_number(value: object) -> None:
    """`start` must be a finite number of seconds; a bool is not one."""
    with pytest.raises(ConfigurationError, match=rf"start must .*got {value!r}"):
        ManualClock(value)  # type: ignore[arg-type]


def test_assigning_now_sets_any_finite_time_even_an_earlier_one() -> None:
    """`now` can be set directly, backwards too (a wall clock stepped back), but never to nan."""
    clock = ManualClock(start=50.0)
    clock.now = 10
    assert clock() == 10.0
    with pytest.raises(ConfigurationError, match="now must be finite, got nan"):
        clock.now = math.nan
    assert clock() == 10.0


def test_a_manual_clock_is_a_clock_the_library_accepts() -> None:
    """It satisfies `exchange_recovery.Clock`, and a controller stamps records with its time."""
    manual = ManualClock(start=1_700_000_000.0)
    clock: Clock = manual  # mypy checks that it fits the type
    controller = Controller(default_policy(), clock=clock)
    manual.advance(60)
    record = controller.halt(actor="ops:alice", reason="drill")
    assert record is not None
    assert record.timestamp == 1_700_000_060.0


def test_a_manual_clock_loses_no_step_when_threads_advance_it_together() -> None:
    """Concurrent `advance` calls add up exactly."""
    clock = ManualClock()

    def steps() -> None:
        for _ in range(10_000):
            clock.advance(1)

    threads = [threading.Thread(target=steps) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert clock() == 40_000.0


def test_a_manual_clock_shows_its_time_and_public_path() -> None:
    """Its repr shows the time; tracebacks show `exchange_recovery.testing.ManualClock`."""
    assert repr(ManualClock(start=2)) == "ManualClock(now=2.0)"
    assert ManualClock.__module__ == "exchange_recovery.testing"


def test_the_manual_clock_imports_without_hypothesis_and_the_kit_says_what_to_install() -> None:
    """With hypothesis missing, ManualClock still imports; a kit name raises ImportError naming the extra."""
    code = "\n".join([
        "import sys",
        "sys.modules['hypothesis'] = None  # as if it were not installed",
        "from exchange_recovery.testing import ManualClock",
        "clock = ManualClock()",
        "clock.advance(300)",
        "assert clock() == 300.0",
        "import exchange_recovery.testing as kit",
        "try:",
        "    kit.EngineConformance",
        "except ImportError as exc:",
        "    print(exc)",
        "else:",
        "    raise SystemExit('EngineConformance loaded without hypothesis')",
    ])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "pip install 'exchange-recovery[testing]'" in done.stdout


def test_a_misspelt_kit_name_is_an_attribute_error() -> None:
    """Lazy loading answers only for the names in `__all__`."""
    import exchange_recovery.testing as kit  # noqa: PLC0415 - the module object itself is tested

    with pytest.raises(AttributeError, match="has no attribute 'EngineConformence'"):
        kit.EngineConformence  # type: ignore[attr-defined]  # noqa: B018
