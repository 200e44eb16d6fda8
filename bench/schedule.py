"""Dry-run speed: CPU time to simulate one cycle of a real MITS schedule, and the ratio to the
cycle's real duration.

The schedule is the reference file of the Stanford/TRI fast-charging study
(``examples/schedules/20170630-3_6C_9per_5C.sdu``) on the ``lfp`` cell. Its first cycle holds
the formation steps (about 21 h); later cycles are the fast charge, rest, IR pulse and 4C
discharge loop (about 48 min). The engine is run in chunks of 60 simulated seconds with its
step and point callbacks on (as ``pycti schedule run`` does); CPU time is
``time.process_time()`` around one cycle. Median of ``--rounds`` runs.

    python bench/schedule.py [--rounds 5] [--cycle 2]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from pyctiarbin.simulator.cell import Cell, load_cell_parameters
from pyctiarbin.simulator.engine import DataPoint, RunSettings, ScheduleRun, StepRecord
from pyctiarbin.simulator.schedule import read_schedule

REFERENCE = (
    Path(__file__).resolve().parent.parent / "examples" / "schedules" / "20170630-3_6C_9per_5C.sdu"
)


def one_round(cycle: int) -> tuple[float, float, float, int, int]:
    """(CPU s of cycle 1, its simulated s, CPU s of ``cycle``, its simulated s, points)."""
    schedule = read_schedule(REFERENCE)
    points: list[DataPoint] = []
    steps: list[StepRecord] = []
    run = ScheduleRun(
        schedule,
        Cell(load_cell_parameters("lfp")),
        RunSettings(),
        on_point=points.append,
        on_step=steps.append,
    )
    marks: dict[int, tuple[float, float]] = {}
    run.start()
    while run.status.is_running and run.cycle_index <= cycle:
        if run.cycle_index not in marks:
            marks[run.cycle_index] = (time.process_time(), run.test_time_s)
        run.advance(60.0)
    end = (time.process_time(), run.test_time_s)
    marks.setdefault(cycle + 1, end)
    first_cpu = marks[2][0] - marks[1][0]
    first_sim = marks[2][1] - marks[1][1]
    cpu = marks[cycle + 1][0] - marks[cycle][0]
    sim = marks[cycle + 1][1] - marks[cycle][1]
    in_cycle = sum(1 for point in points if point.cycle_index == cycle)
    return first_cpu, first_sim, cpu, sim, in_cycle


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cycle", type=int, default=2, help="the cycle measured (>= 2)")
    args = parser.parse_args()
    results = [one_round(args.cycle) for _ in range(args.rounds)]
    first_cpu = statistics.median(r[0] for r in results)
    first_sim = statistics.median(r[1] for r in results)
    cpu = statistics.median(r[2] for r in results)
    sim = statistics.median(r[3] for r in results)
    print(f"schedule {REFERENCE.name} on lfp, median of {args.rounds} rounds")
    print(
        f"cycle 1 (formation): {first_sim / 3600:.2f} h simulated in {first_cpu:.3f} s CPU"
        f" ({first_sim / first_cpu:,.0f}x real time)"
    )
    print(
        f"cycle {args.cycle}: {sim / 3600:.2f} h simulated in {cpu:.3f} s CPU"
        f" ({sim / cpu:,.0f}x real time, {results[0][4]} data points)"
    )
    print("cycle CPU < 1 s:", "yes" if max(cpu, first_cpu) < 1.0 else "NO")


if __name__ == "__main__":
    main()
