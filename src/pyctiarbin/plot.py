"""Plots of one logged test: voltage and current against time, capacity and coulombic efficiency
per cycle, and dQ/dV (incremental capacity), in one PNG or SVG file.

::

    from pyctiarbin.data import LabData
    from pyctiarbin.plot import plot_test

    with LabData("sqlite:///lab.db") as lab:
        plot_test(lab, lab.tests()[-1].test_id, "test.png")

Needs matplotlib (``pip install 'pycti-arbin[plot]'``). No pyplot and no global state: each
call draws on a figure of its own, so it is safe in servers and threads.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .data import LabData, Table
from .logger.export import parse_step_and_cycle

__all__ = ["FORMATS", "dqdv", "plot_test"]

#: The file formats :func:`plot_test` writes, by suffix.
FORMATS = (".png", ".svg")

#: Readings used for the time plot and dQ/dV at most (a longer test is sampled evenly in time).
MAX_POINTS = 50_000

#: Voltage bin of dQ/dV, in volts.
DQDV_BIN_V = 0.01


@dataclass(frozen=True)
class DqDvCurve:
    """dQ/dV of one half cycle: ``voltage_v`` (bin centres) and ``dqdv_ah_per_v``."""

    cycle: int
    charge: bool
    voltage_v: list[float]
    dqdv_ah_per_v: list[float]


def dqdv(
    voltages: Sequence[float | None],
    currents: Sequence[float | None],
    charge_ah: Sequence[float | None],
    discharge_ah: Sequence[float | None],
    steps: Sequence[str],
    *,
    bin_v: float = DQDV_BIN_V,
) -> list[DqDvCurve]:
    """Incremental capacity of each charge and each discharge of each cycle.

    The readings of a half cycle (same cycle, current of one sign) are grouped in voltage bins
    of ``bin_v``; dQ/dV is the change of the mean capacity between neighbouring bins over the
    change of their mean voltage. Half cycles with fewer than three bins are left out.

    Raises:
        ValueError: for sequences of unequal length or ``bin_v`` <= 0.
    """
    if not len(voltages) == len(currents) == len(charge_ah) == len(discharge_ah) == len(steps):
        raise ValueError("dqdv: the sequences must have equal length")
    if not bin_v > 0:
        raise ValueError(f"dqdv: bin_v must be > 0, not {bin_v}")
    groups: dict[tuple[int, bool], dict[int, list[float]]] = {}
    for v, i, qc, qd, text in zip(voltages, currents, charge_ah, discharge_ah, steps, strict=True):
        cycle, _ = parse_step_and_cycle(text)
        if cycle is None or v is None or i is None or i == 0:
            continue
        charging = i > 0
        q = qc if charging else qd
        if q is None:
            continue
        bins = groups.setdefault((cycle, charging), {})
        sums = bins.setdefault(math.floor(v / bin_v), [0.0, 0.0, 0.0])
        sums[0] += v
        sums[1] += q
        sums[2] += 1
    curves = []
    for (cycle, charging), bins in sorted(groups.items()):
        if len(bins) < 3:
            continue
        means = [(s[0] / s[2], s[1] / s[2]) for _, s in sorted(bins.items())]
        xs, ys = [], []
        for (v0, q0), (v1, q1) in itertools.pairwise(means):
            if v1 != v0:
                xs.append((v0 + v1) / 2)
                ys.append(abs((q1 - q0) / (v1 - v0)))
        curves.append(DqDvCurve(cycle, charging, xs, ys))
    return curves


def _matplotlib() -> Any:
    try:
        from matplotlib.figure import Figure
    except ImportError as exc:
        raise ImportError(
            "plots need matplotlib: pip install 'pycti-arbin[plot]' (or pip install matplotlib)"
        ) from exc
    return Figure


def _nan(values: Sequence[float | None]) -> list[float]:
    return [math.nan if v is None else v for v in values]


def plot_test(
    lab: LabData,
    test_id: int,
    out: str | os.PathLike[str],
    *,
    max_points: int = MAX_POINTS,
) -> Path:
    """Draw one test to ``out`` (``.png`` or ``.svg``): voltage and current against time,
    capacity and coulombic efficiency per cycle, dQ/dV. Returns the path written.

    Raises:
        ValueError: for another file suffix, or a test without readings.
        LookupError: if the test does not exist.
        ImportError: if matplotlib is not installed.
        OSError: if the file cannot be written.
    """
    path = Path(out)
    if path.suffix.lower() not in FORMATS:
        raise ValueError(f"{path.name}: the plot file must end in .png or .svg")
    figure_class = _matplotlib()
    test = lab.test(test_id)
    series: Table = lab.series(
        test_id=test_id,
        columns=[
            "unix_time_s",
            "test_time_s",
            "voltage_v",
            "current_a",
            "charge_capacity_ah",
            "discharge_capacity_ah",
            "step_and_cycle_format",
        ],
        max_points=max_points,
    )
    if len(series) == 0:
        raise ValueError(f"test {test_id} has no stored readings")
    cycles = lab.cycles(test_id)

    figure = figure_class(figsize=(11, 8), layout="constrained")
    (ax_v, ax_q), (ax_ce, ax_d) = figure.subplots(2, 2)
    started = datetime.fromtimestamp(test.start_s, tz=timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    figure.suptitle(
        f"{test.cycler} channel {test.channel}: {test.test_name or '(no name)'} "
        f"({test.schedule}), started {started}"
    )

    # The cycler's test time: what the lab reads on MITS (host time would include pauses).
    hours = [math.nan if t is None else t / 3600 for t in series["test_time_s"]]
    ax_v.plot(hours, _nan(series["voltage_v"]), color="tab:blue", linewidth=1)
    ax_v.set_xlabel("test time (h)")
    ax_v.set_ylabel("voltage (V)", color="tab:blue")
    ax_i = ax_v.twinx()
    ax_i.plot(hours, _nan(series["current_a"]), color="tab:red", linewidth=1)
    ax_i.set_ylabel("current (A)", color="tab:red")
    ax_v.set_title("voltage and current")

    numbers = cycles["cycle"]
    ax_q.plot(numbers, _nan(cycles["charge_capacity_ah"]), "o-", label="charge")
    ax_q.plot(numbers, _nan(cycles["discharge_capacity_ah"]), "s-", label="discharge")
    ax_q.set_xlabel("cycle")
    ax_q.set_ylabel("capacity (Ah)")
    ax_q.set_title("capacity per cycle")
    ax_q.legend()

    ax_ce.plot(numbers, [100 * v for v in _nan(cycles["coulombic_efficiency"])], "o-")
    ax_ce.set_xlabel("cycle")
    ax_ce.set_ylabel("coulombic efficiency (%)")
    ax_ce.set_title("coulombic efficiency")
    for ax in (ax_q, ax_ce):
        ax.xaxis.get_major_locator().set_params(integer=True)

    curves = dqdv(
        series["voltage_v"],
        series["current_a"],
        series["charge_capacity_ah"],
        series["discharge_capacity_ah"],
        series["step_and_cycle_format"],
    )
    for curve in curves:
        sign = 1 if curve.charge else -1
        ax_d.plot(
            curve.voltage_v,
            [sign * y for y in curve.dqdv_ah_per_v],
            linewidth=1,
            label=f"cycle {curve.cycle} {'charge' if curve.charge else 'discharge'}",
        )
    ax_d.set_xlabel("voltage (V)")
    ax_d.set_ylabel("dQ/dV (Ah/V, discharge negative)")
    ax_d.set_title("incremental capacity")
    if curves and len(curves) <= 12:
        ax_d.legend(fontsize="small")
    figure.savefig(path)
    return path
