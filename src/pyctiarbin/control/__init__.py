"""Closed-loop control of running tests through meta variables MV_UD1..16 (docs/control.md).

::

    from pyctiarbin.control import ControlLoop, SafeState

    def follow(inp):                      # a plain function, or an object with __call__
        return 1.0 if inp.voltage_v < 4.0 else 0.5     # amps, for MV_Current.sdx

    async with AsyncCyclerClient(host, port) as client:
        report = await ControlLoop(client, [1, 2], follow, period_s=0.5,
                                   bounds=(-3.0, 3.0), safe_state=SafeState(mv=0.0)).run()
"""

from __future__ import annotations

from . import types
from .loop import MIN_PERIOD_S, MIN_TICK_S, MV_GUARD_S, ControlLoop, run_control_loop
from .recorder import CsvRecorder
from .types import *  # noqa: F403 - the vocabulary of the loop, listed once in types.__all__

__all__ = [
    "MIN_PERIOD_S",
    "MIN_TICK_S",
    "MV_GUARD_S",
    "ControlLoop",
    "CsvRecorder",
    "run_control_loop",
    *types.__all__,
]
