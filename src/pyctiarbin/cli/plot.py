"""``pycti plot``: one logged test drawn to a PNG or SVG file (a thin layer over
:func:`pyctiarbin.plot.plot_test`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import LOGGER_DB_HELP, CliError, ExitCode, database_option

__all__ = ["register"]


def plot(
    db: Annotated[str, database_option(LOGGER_DB_HELP)],
    out: Annotated[
        Path, typer.Option("--out", help="The file to write: .png or .svg.", metavar="FILE")
    ],
    test: Annotated[
        int | None, typer.Option("--test", help="The test id (see the tests table).", metavar="ID")
    ] = None,
    cycler: Annotated[
        str | None,
        typer.Option("--cycler", help="With -c: the latest test of this channel.", metavar="NAME"),
    ] = None,
    channel: Annotated[
        int | None,
        typer.Option("--channel", "-c", help="The channel (1-based), with --cycler.", min=1),
    ] = None,
) -> None:
    """Plot one test: voltage and current against time, capacity and coulombic efficiency per
    cycle, dQ/dV. Give --test ID, or --cycler NAME -c N for the latest test of a channel."""
    if (test is None) == (cycler is None and channel is None):
        raise CliError("give either --test ID or --cycler NAME -c N")
    if out.suffix.lower() not in (".png", ".svg"):
        raise CliError(f"--out {out}: the file must end in .png or .svg")
    from ..data import LabData
    from ..plot import plot_test

    try:
        lab = LabData(db)
    except (ValueError, FileNotFoundError) as exc:
        raise CliError(str(exc)) from None
    with lab:
        if test is None:
            if cycler is None or channel is None:
                raise CliError("--cycler and -c go together")
            tests = lab.tests(cycler=cycler, channel=channel)
            if not tests:
                raise CliError(
                    f"no test stored for {cycler} channel {channel} in {db}", ExitCode.REFUSED
                )
            test = tests[-1].test_id
        try:
            written = plot_test(lab, test, out)
        except LookupError as exc:
            raise CliError(str(exc).strip("'\""), ExitCode.REFUSED) from None
        except ValueError as exc:
            raise CliError(str(exc), ExitCode.REFUSED) from None
    typer.echo(f"wrote {written}")


def register(app: typer.Typer) -> None:
    """Add ``pycti plot`` to ``app``."""
    app.command("plot")(plot)
