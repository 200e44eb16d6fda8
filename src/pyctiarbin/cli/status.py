"""``pycti status``: every channel of a cycler in one request, as a table, JSON or CSV."""

from __future__ import annotations

import enum
import sys
import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Annotated

import typer

from ..protocol import AuxOptions
from ..status_formats import (
    channel_record,
    csv_text,
    json_text,
    plain_table,
    status_document,
    status_rich_table,
    status_table_rows,
)
from .common import (
    ChannelsOption,
    CliError,
    CyclerOptions,
    cycler_command,
    out_console,
    parse_channels,
    read_every_channel,
)

if TYPE_CHECKING:
    from rich.console import Console

    from ..client import ChannelStatus, CyclerClient
    from ..config import CyclerAddress

__all__ = ["OutputFormat", "register"]


class OutputFormat(str, enum.Enum):
    """Output formats of ``pycti status``."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def _read(client: CyclerClient, channels: list[int], address: CyclerAddress) -> list[ChannelStatus]:
    if not channels:
        return read_every_channel(client, address)
    return client.read_channels(channels, aux=int(AuxOptions.AUX))


class _Writer:
    """Writes successive reads in one format (the CSV header only once)."""

    def __init__(self, fmt: OutputFormat, cycler: str, console: Console, watching: bool) -> None:
        self.fmt = fmt
        self.cycler = cycler
        self.console = console
        self.watching = watching
        self.reads = 0

    def title(self, read_at: datetime) -> str:
        local = read_at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        return f"{self.cycler}  {local}"

    def write(self, statuses: list[ChannelStatus], read_at: datetime) -> None:
        if self.fmt is OutputFormat.TABLE and self.console.is_terminal:
            self.console.print(status_rich_table(statuses, title=self.title(read_at)))
        elif self.fmt is OutputFormat.TABLE:
            headers, rows, _ = status_table_rows(statuses)
            if self.reads:
                sys.stdout.write("\n")
            sys.stdout.write(f"{self.title(read_at)}\n{plain_table(headers, rows)}\n")
        else:
            records = [channel_record(status) for status in statuses]
            if self.fmt is OutputFormat.JSON:
                document = status_document(self.cycler, read_at, records)
                sys.stdout.write(json_text(document, compact=self.watching) + "\n")
            else:
                sys.stdout.write(csv_text(self.cycler, read_at, records, header=self.reads == 0))
        sys.stdout.flush()
        self.reads += 1


def _watch_live(
    client: CyclerClient,
    channels: list[int],
    address: CyclerAddress,
    writer: _Writer,
    interval_s: float,
    count: int | None,
) -> None:
    from rich.live import Live

    with Live(console=writer.console, auto_refresh=False, transient=False) as live:
        done = 0
        while True:
            statuses = _read(client, channels, address)
            read_at = datetime.now(timezone.utc)
            live.update(
                status_rich_table(statuses, title=f"{writer.title(read_at)}  (Ctrl-C to stop)"),
                refresh=True,
            )
            done += 1
            if count is not None and done >= count:
                return
            time.sleep(interval_s)


def status(
    options: CyclerOptions,
    channel: ChannelsOption = None,
    fmt: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            "-f",
            help=(
                "table: for people (plain text when not a terminal); json: one document "
                "{cycler, read_at, channels: [...]}; csv: one row per channel. json and csv "
                "columns are stable (see docs/cli.md)."
            ),
            case_sensitive=False,
        ),
    ] = OutputFormat.TABLE,
    watch: Annotated[
        float | None,
        typer.Option(
            "--watch",
            "-w",
            help=(
                "Read again every SECONDS until Ctrl-C: the table refreshes in place on a "
                "terminal; json prints one line per read, csv appends rows."
            ),
            min=0.05,
            metavar="SECONDS",
        ),
    ] = None,
    count: Annotated[
        int | None,
        typer.Option(
            "--count",
            "-n",
            help="With --watch: stop after this many reads.",
            min=1,
        ),
    ] = None,
) -> None:
    """Show every channel of a cycler (read in one request): status, schedule, test, step,
    times, voltage, current, capacities and aux temperatures."""
    if count is not None and watch is None:
        raise CliError("--count needs --watch")
    channels = parse_channels(channel)
    console = out_console()
    with options.connect() as client:
        address = options.address()
        cycler = address.label
        writer = _Writer(fmt, cycler, console, watching=watch is not None)
        try:
            if watch is not None and fmt is OutputFormat.TABLE and console.is_terminal:
                _watch_live(client, channels, address, writer, watch, count)
                return
            while True:
                statuses = _read(client, channels, address)
                writer.write(statuses, datetime.now(timezone.utc))
                if watch is None or (count is not None and writer.reads >= count):
                    return
                time.sleep(watch)
        except KeyboardInterrupt:
            # Ctrl-C is how --watch ends: not an error.
            return


def register(app: typer.Typer) -> None:
    """Add ``pycti status`` to ``app``."""
    app.command("status")(cycler_command(status))
