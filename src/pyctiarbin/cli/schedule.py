"""``pycti schedule check|run FILE``: validate a MITS schedule file and dry-run it on a simulated
cell, offline, before it reaches a real one. A thin layer over
:mod:`pyctiarbin.simulator.schedule` and :mod:`pyctiarbin.simulator.dryrun`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..status_formats import format_duration, plain_table
from .common import CliError, ExitCode, group_app, out_console

if TYPE_CHECKING:
    from ..simulator.schedule import Schedule

__all__ = ["register"]

_FILE = Annotated[
    Path,
    typer.Argument(help="A MITS schedule file (.sdu, .sdx).", dir_okay=False),
]


def _read(path: Path) -> Schedule:
    from ..simulator.schedule import ScheduleParseError, read_schedule

    try:
        return read_schedule(path)
    except ScheduleParseError as exc:
        for problem in exc.problems:
            typer.echo(f"{path}: {problem}", err=True)
        count = len(exc.problems)
        raise CliError(
            f"{path}: {count} problem{'s' if count > 1 else ''}:"
            " not a schedule the simulator can run",
            ExitCode.REFUSED,
        ) from None
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", ExitCode.USAGE) from None


def check(path: _FILE) -> None:
    """Check a schedule file: its format, step types, variables, goto targets, steps that never
    end and steps never reached. Each problem names its section and key."""
    from ..simulator.schedule import check_schedule

    schedule = _read(path)
    problems = check_schedule(schedule)
    for problem in problems:
        typer.echo(f"{path}: {problem}", err=True)
    if problems:
        count = len(problems)
        raise CliError(f"{path}: {count} problem{'s' if count > 1 else ''}", ExitCode.REFUSED)
    limits = sum(len(step.limits) for step in schedule.steps)
    typer.echo(
        f"{path}: OK: {len(schedule.steps)} steps, {limits} limits,"
        f" {len(schedule.formulas)} formulas, {len(schedule.safety)} safety scopes"
    )


def run(
    path: _FILE,
    cell: Annotated[
        str, typer.Option("--cell", help="Cell: a preset (nmc, lfp) or a TOML file.")
    ] = "nmc",
    cycles: Annotated[
        int | None, typer.Option("--cycles", min=1, help="Stop after this many cycles.")
    ] = None,
    until_hours: Annotated[
        float | None,
        typer.Option("--until-hours", help="Stop at this test time (default 1000 h)."),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Write the data points the log limits select (CSV).", dir_okay=False
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            "--plot",
            help="Draw V, I and capacity against time (PNG; needs matplotlib).",
            dir_okay=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Simulate a schedule offline at full speed and print the steps it executed (label, type,
    cycle, why it ended, duration, charge and discharge capacity)."""
    from ..simulator.cell import load_cell_parameters
    from ..simulator.dryrun import dry_run, plot_points, points_csv

    if until_hours is not None and not until_hours > 0:
        raise CliError(f"--until-hours must be positive, got {until_hours!r}")
    try:
        parameters = load_cell_parameters(cell)
    except (ValueError, OSError) as exc:
        raise CliError(f"--cell: {exc}") from None
    schedule = _read(path)
    result = dry_run(
        schedule,
        parameters,
        cycles=cycles,
        until_s=None if until_hours is None else until_hours * 3600.0,
    )
    if out is not None:
        out.write_text(points_csv(result.points), encoding="utf-8")
    if plot is not None:
        try:
            plot_points(result.points, str(plot), title=f"{path.name} on {cell}")
        except ImportError as exc:
            raise CliError(str(exc), ExitCode.USAGE) from None
        except ValueError as exc:
            raise CliError(f"--plot: {exc}") from None
    if as_json:
        typer.echo(json.dumps(result.document(), indent=2))
        return
    rows = [
        (
            str(step.step_number),
            step.label,
            step.step_type,
            str(step.cycle_index),
            step.end_reason,
            format_duration(round(step.duration_s)),
            f"{step.charge_capacity_ah:.4f}",
            f"{step.discharge_capacity_ah:.4f}",
        )
        for step in result.steps
    ]
    headers = (
        "step",
        "label",
        "type",
        "cycle",
        "end reason",
        "duration",
        "charge Ah",
        "discharge Ah",
    )
    console = out_console()
    console.print(plain_table(headers, rows), markup=False)
    console.print(
        f"end: {result.status}: {result.reason} (test time {format_duration(result.test_time_s)},"
        f" cycle {result.cycle_index}, {len(result.points)} data points)",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add ``pycti schedule check|run`` to ``app``."""
    group = group_app(
        "schedule", "MITS schedule files: check them, dry-run them on a simulated cell."
    )
    group.command("check")(check)
    group.command("run")(run)
    app.add_typer(group, name="schedule")
