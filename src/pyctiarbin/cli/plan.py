"""``pycti plan run PLAN``: assign and start every channel of a test plan (TOML or CSV), on
many cyclers at once, and print a table of outcomes. A thin layer over
:mod:`pyctiarbin.plan`; the format is in docs/plans.md."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from ..config import CyclerAddress, LabConfig, resolve_cycler
from ..config import resolve_lab_credentials as _resolve_credentials
from ..status_formats import plain_table
from .common import (
    MULTI_CYCLER_PANEL,
    CliError,
    ConfigOption,
    EnvFileOption,
    UserOption,
    group_app,
    optional_lab_config,
    out_console,
    seconds_option,
    usage_errors,
)

if TYPE_CHECKING:
    from ..plan import Plan, PlanReport

__all__ = ["register"]

_PANEL = MULTI_CYCLER_PANEL
_STYLES = {
    "started": "green",
    "dry run": "cyan",
    "refused": "red",
    "invalid": "red",
    "unreachable": "yellow",
    "unknown": "yellow",
}
_HEADERS = ("cycler", "ch", "schedule", "test name", "barcode", "mv_ud", "outcome", "detail")


def _load(
    path: Path, config_path: Path | None, cyclers: list[str] | None
) -> tuple[Plan, LabConfig | None]:
    from ..plan import PlanError, load_plan

    config = optional_lab_config(config_path)
    named: dict[str, CyclerAddress] = {}
    for text in cyclers or ():
        if "=" not in text:
            raise CliError(f"--cycler {text!r}: expected NAME=HOST:PORT")
        address = resolve_cycler(text, config)
        named[address.name or text] = address
    with usage_errors(PlanError):
        return load_plan(path, lab_config=config, cyclers=named), config


def _rows(report: PlanReport) -> list[list[str]]:
    rows = []
    for result in report.results:
        entry = result.entry
        detail = result.detail
        if result.step and result.outcome.value != "started":
            detail = f"{result.step}: {detail}"
        if result.code is not None:
            detail += f" (code 0x{result.code:02X})"
        rows.append(
            [
                entry.cycler,
                str(entry.channel),
                entry.schedule,
                entry.test_name,
                entry.barcode,
                entry.mv_summary,
                result.outcome.value,
                detail,
            ]
        )
    return rows


def _print(report: PlanReport, output_format: str) -> None:
    if output_format == "json":
        results = [
            {
                "cycler": result.entry.cycler,
                "channel": result.entry.channel,
                "schedule": result.entry.schedule,
                "test_name": result.entry.test_name,
                "barcode": result.entry.barcode,
                "mv_ud": list(result.entry.mv_ud) if result.entry.mv_ud is not None else None,
                "outcome": result.outcome.value,
                "step": result.step,
                "code": result.code,
                "detail": result.detail,
            }
            for result in report.results
        ]
        document = {"summary": report.summary(), "exit_code": report.exit_code, "results": results}
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
        return
    console = out_console()
    rows = _rows(report)
    if console.is_terminal:
        table = Table(title=report.summary())
        for header in _HEADERS:
            table.add_column(header, justify="right" if header == "ch" else "left")
        for row in rows:
            cells = [Text(cell) for cell in row]
            cells[6].stylize(_STYLES.get(row[6], ""))
            table.add_row(*cells)
        console.print(table)
    else:
        sys.stdout.write(plain_table(_HEADERS, rows) + "\n" + report.summary() + "\n")
    sys.stdout.flush()


def run(
    plan_file: Annotated[
        Path,
        typer.Argument(
            help="The plan: a .toml or a .csv file (see docs/plans.md).", metavar="PLAN"
        ),
    ],
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Show what would be assigned and started; send nothing."),
    ] = False,
    output_format: Annotated[
        str,
        typer.Option("--format", help="Outcome table: table or json.", metavar="table|json"),
    ] = "table",
    cycler: Annotated[
        list[str] | None,
        typer.Option(
            "--cycler",
            help="Define a cycler name the plan uses: NAME=HOST:PORT (repeat it).",
            metavar="NAME=HOST:PORT",
            rich_help_panel=_PANEL,
        ),
    ] = None,
    config_path: ConfigOption = None,
    env_file: EnvFileOption = None,
    user: UserOption = None,
    timeout: Annotated[
        float,
        seconds_option(
            "--timeout", "Seconds to wait for each cycler to answer.", minimum=0.1, panel=_PANEL
        ),
    ] = 10.0,
) -> None:
    """Assign and start every channel of PLAN; print one line per channel.

    Every cycler is handled at once; a channel the cycler refuses (running, schedule not
    found, ...) is reported and the others go on. Exit code: 0 all started, 1 some channel
    refused or invalid, 2 the plan is invalid, 3 a cycler could not be reached (or an
    outcome is unknown).
    """
    from ..plan import dry_run as plan_dry_run
    from ..plan import run_plan

    if output_format not in ("table", "json"):
        raise CliError(f"--format {output_format!r}: expected table or json")
    plan, config = _load(plan_file, config_path, cycler)
    if dry_run:
        report = plan_dry_run(plan)
    else:
        credentials = _resolve_credentials(config, username=user, env_file=env_file)
        report = asyncio.run(run_plan(plan, credentials=credentials, timeout_s=timeout))
    _print(report, output_format)
    if report.exit_code:
        raise typer.Exit(report.exit_code)


def register(app: typer.Typer) -> None:
    """Add ``pycti plan run`` to ``app``."""
    group = group_app("plan", "Test plans: start many channels on many cyclers from one file.")
    group.command("run")(run)
    app.add_typer(group, name="plan")
