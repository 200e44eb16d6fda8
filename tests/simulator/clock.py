"""A wall clock that moves only when a test moves it, for ``Cycler.set_clock``.

A test that injects it sees the same simulated time, throttles and timeouts of the cycler
whatever the load of the machine: it asserts on what happened, not on how long it took.
"""

from __future__ import annotations


class ManualClock:
    """Wall-clock seconds that pass only when the test says so."""

    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s

    def advance(self, seconds: float) -> None:
        self.now_s += seconds
