"""Dry runs: a schedule on a simulated cell, offline, as fast as the CPU allows.

What ``pycti schedule run`` does, as a library call::

    result = dry_run(read_schedule("my.sdu"), load_cell_parameters("lfp"), cycles=2)
    for step in result.steps: ...          # every step executed, with why it ended
    for point in result.points: ...        # the data points the schedule's log limits select

No clocks, no threads: the engine is advanced in simulated time until the test ends (finished,
unsafe, stopped) or a bound is reached (``cycles``: the cycle index passes it; ``until_s``:
the test time reaches it). Steps and points of a cycle beyond ``cycles`` are left out.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from typing import Any

from .cell import Cell, CellParameters
from .engine import DataPoint, RunSettings, ScheduleRun, StepRecord
from .schedule import Schedule

__all__ = ["DEFAULT_UNTIL_S", "DryRunResult", "dry_run", "plot_points", "points_csv"]

#: Without a bound, a dry run stops after this much simulated time (1000 h).
DEFAULT_UNTIL_S = 1000 * 3600.0
_CHUNK_S = 60.0


@dataclass(frozen=True, slots=True)
class DryRunResult:
    """What a dry run did: ``steps`` executed, ``points`` logged, and how it ended:
    ``status`` (``finished``, ``unsafe``, ``stopped``, or ``cycles``/``time`` for a bound
    reached), ``reason`` (the exit condition, or the bound), ``test_time_s`` and
    ``cycle_index`` at the end."""

    steps: tuple[StepRecord, ...]
    points: tuple[DataPoint, ...]
    status: str
    reason: str
    test_time_s: float
    cycle_index: int

    def document(self) -> dict[str, Any]:
        """The JSON document of ``pycti schedule run --json``."""
        return {
            "steps": [
                {
                    "step_index": step.step_number,
                    "label": step.label,
                    "step_type": step.step_type,
                    "cycle_index": step.cycle_index,
                    "end_reason": step.end_reason,
                    "duration_s": step.duration_s,
                    "charge_capacity_ah": step.charge_capacity_ah,
                    "discharge_capacity_ah": step.discharge_capacity_ah,
                }
                for step in self.steps
            ],
            "end": {
                "status": self.status,
                "reason": self.reason,
                "test_time_s": self.test_time_s,
                "cycle_index": self.cycle_index,
            },
        }


def dry_run(
    schedule: Schedule,
    cell: CellParameters | None = None,
    *,
    cycles: int | None = None,
    until_s: float | None = None,
    settings: RunSettings | None = None,
) -> DryRunResult:
    """Run ``schedule`` from step 1 on a fresh ``cell`` (default: the nmc preset).

    Raises:
        ValueError: if ``cycles`` is below 1 or ``until_s`` is not a positive finite number.
    """
    if cycles is not None and cycles < 1:
        raise ValueError(f"cycles must be >= 1, got {cycles!r}")
    limit_s = DEFAULT_UNTIL_S if until_s is None else until_s
    if not (math.isfinite(limit_s) and limit_s > 0.0):
        raise ValueError(f"until_s must be a positive finite number, got {until_s!r}")
    steps: list[StepRecord] = []
    points: list[DataPoint] = []
    run = ScheduleRun(
        schedule,
        Cell(cell),
        settings if settings is not None else RunSettings(),
        on_point=points.append,
        on_step=steps.append,
    )
    run.start()
    bound = ""
    while run.status.is_running:
        if cycles is not None and run.cycle_index > cycles:
            bound = "cycles"
            break
        left_s = limit_s - run.test_time_s
        if left_s <= 0.0:
            bound = "time"
            break
        run.advance(min(_CHUNK_S, left_s))
    if bound == "cycles" or (cycles is not None and run.cycle_index > cycles):
        steps = [step for step in steps if step.cycle_index <= cycles]  # type: ignore[operator]
        points = [point for point in points if point.cycle_index <= cycles]  # type: ignore[operator]
        status, reason = "cycles", f"{cycles} cycles done"
    elif bound == "time":
        status, reason = "time", f"test time reached {limit_s / 3600.0:g} h"
    else:
        status, reason = run.status.value, run.exit_condition
    return DryRunResult(
        steps=tuple(steps),
        points=tuple(points),
        status=status,
        reason=reason,
        test_time_s=run.test_time_s,
        cycle_index=run.cycle_index,
    )


def points_csv(points: tuple[DataPoint, ...] | list[DataPoint]) -> str:
    """The data points as CSV text, one header line then one line per point."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(DataPoint._fields)
    for point in points:
        writer.writerow([f"{value:.9g}" if isinstance(value, float) else value for value in point])
    return buffer.getvalue()


def plot_points(
    points: tuple[DataPoint, ...] | list[DataPoint], path: str, *, title: str = ""
) -> None:
    """Draw voltage, current and capacity against test time (hours) into an image file.

    Needs matplotlib (the ``plot`` extra: ``pip install 'pycti-arbin[plot]'``).

    Raises:
        ImportError: if matplotlib is not installed (the message says how to install it).
        ValueError: if there are no points to draw.
        OSError: if the image cannot be written.
    """
    if not points:
        raise ValueError("no data points to plot (does the schedule have log limits?)")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib: pip install 'pycti-arbin[plot]'") from exc
    hours = [point.test_time_s / 3600.0 for point in points]
    figure, (volts, amps, capacity) = plt.subplots(3, 1, sharex=True, figsize=(9, 7))
    volts.plot(hours, [p.voltage_v for p in points], color="tab:blue", linewidth=0.9)
    volts.set_ylabel("voltage (V)")
    amps.plot(hours, [p.current_a for p in points], color="tab:red", linewidth=0.9)
    amps.set_ylabel("current (A)")
    capacity.plot(hours, [p.charge_capacity_ah for p in points], label="charge", linewidth=0.9)
    capacity.plot(
        hours, [p.discharge_capacity_ah for p in points], label="discharge", linewidth=0.9
    )
    capacity.set_ylabel("capacity (Ah)")
    capacity.set_xlabel("test time (h)")
    capacity.legend(loc="upper right")
    for axes in (volts, amps, capacity):
        axes.grid(True, alpha=0.3)
    if title:
        volts.set_title(title)
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=100)
    finally:
        plt.close(figure)
