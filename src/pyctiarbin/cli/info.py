"""``pycti info``: what the cycler said at login, and where it was reached."""

from __future__ import annotations

import enum
import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table

from .common import CyclerOptions, cycler_command, out_console, read_every_channel

__all__ = ["register"]


class InfoFormat(str, enum.Enum):
    """Output formats of ``pycti info``."""

    TABLE = "table"
    JSON = "json"


#: (JSON key, label) in output order. The JSON keys are stable (docs/cli.md).
_FIELDS: tuple[tuple[str, str], ...] = (
    ("cycler", "Cycler"),
    ("host", "Host"),
    ("port", "Control port"),
    ("file_port", "File port"),
    ("username", "User"),
    ("credentials_source", "Credentials from"),
    ("serial_number", "Serial number"),
    ("nickname", "Nickname"),
    ("num_channels", "Channels"),
    ("version", "CTI version"),
    ("allow_control", "Control allowed"),
    ("user_type", "User type"),
    ("note", "Note"),
    ("location", "Location"),
    ("emergency_contact", "Emergency contact"),
    ("other_comments", "Other comments"),
    ("email", "E-mail"),
    ("call", "Phone"),
)


def info(
    options: CyclerOptions,
    fmt: Annotated[
        InfoFormat,
        typer.Option(
            "--format",
            "-f",
            help="table: for people; json: one object with stable keys (see docs/cli.md).",
            case_sensitive=False,
        ),
    ] = InfoFormat.TABLE,
) -> None:
    """Log in and show the cycler's login feedback (serial number, nickname, channel count,
    CTI version, whether control is allowed, contact details) and the connection used."""
    address = options.address()
    credentials = options.credentials()
    with options.connect() as client:
        login = client.login_info
        # The file port answers a login too: a read of the channels tells a control port.
        read_every_channel(client, address)
    data: dict[str, Any] = {
        "cycler": address.label,
        "host": address.host,
        "port": address.port,
        "file_port": address.file_port,
        "username": credentials.username,
        "credentials_source": credentials.source,
        "serial_number": login.serial_number,
        "nickname": login.nickname,
        "num_channels": login.num_channels,
        "version": login.version,
        "allow_control": bool(login.allow_control),
        "user_type": login.user_type,
        "note": login.note,
        "location": login.location,
        "emergency_contact": login.emergency_contact,
        "other_comments": login.other_comments,
        "email": login.email,
        "call": login.call,
    }
    if fmt is InfoFormat.JSON:
        sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")
        return
    rows: list[tuple[str, str]] = []
    for key, label in _FIELDS:
        value = data[key]
        if value is None or value == "":
            continue
        rows.append((label, "yes" if value is True else "no" if value is False else str(value)))
    console = out_console()
    if console.is_terminal:
        table = Table(show_header=False, box=None)
        table.add_column(style="bold")
        table.add_column()
        for row in rows:
            table.add_row(*row)
        console.print(table)
    else:
        width = max(len(label) for label, _ in rows) + 1
        sys.stdout.write("".join(f"{label + ':':<{width}} {text}\n" for label, text in rows))


def register(app: typer.Typer) -> None:
    """Add ``pycti info`` to ``app``."""
    app.command("info")(cycler_command(info))
