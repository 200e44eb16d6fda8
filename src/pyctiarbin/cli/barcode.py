"""``pycti barcode get|set``: the barcodes of channels (servers with the Barcode capability:
MitsX_4..8, MitsX_SPTT, TY_Pro8_2/4)."""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer

from .common import (
    AllOption,
    ChannelsOption,
    CliError,
    CyclerOptions,
    channel_target,
    cycler_command,
    group_app,
)

__all__ = ["register"]


def barcode_get(
    options: CyclerOptions,
    channel: ChannelsOption = None,
    every: AllOption = False,
    as_json: Annotated[
        bool, typer.Option("--json", help='One JSON object: {"1": "BARCODE", ...}.')
    ] = False,
) -> None:
    """Show the barcodes of channels, one line per channel: ``channel N: BARCODE``."""
    target = channel_target(channel, every)
    with options.connect() as client:
        barcodes = client.get_barcodes("all" if target is None else target)
    if as_json:
        sys.stdout.write(json.dumps({str(k): v for k, v in sorted(barcodes.items())}) + "\n")
        return
    for number, code in sorted(barcodes.items()):
        sys.stdout.write(f"channel {number}: {code or '(none)'}\n")


def barcode_set(
    options: CyclerOptions,
    assignments: Annotated[
        list[str],
        typer.Argument(
            help="CHANNEL=BARCODE items, e.g. 1=CELL-0001 2=CELL-0002 (an empty barcode "
            "clears it; at most 72 characters).",
            metavar="CHANNEL=BARCODE...",
        ),
    ],
) -> None:
    """Set the barcodes of channels that are not running, in one request."""
    barcodes: dict[int, str] = {}
    for item in assignments:
        channel_text, equals, code = item.partition("=")
        if not equals or not channel_text.strip().isdigit():
            raise CliError(f"barcode set: {item!r} is not CHANNEL=BARCODE")
        barcodes[int(channel_text)] = code
    with options.connect() as client:
        client.set_barcodes(barcodes)
    for number, code in sorted(barcodes.items()):
        sys.stdout.write(f"channel {number}: barcode set to {code or '(none)'}\n")


def register(app: typer.Typer) -> None:
    """Add the ``barcode`` group to ``app``."""
    barcode_app = group_app("barcode", "Barcodes of channels (MitsX_4 and newer servers).")
    barcode_app.command("get")(cycler_command(barcode_get))
    barcode_app.command("set")(cycler_command(barcode_set))
    app.add_typer(barcode_app, name="barcode")
