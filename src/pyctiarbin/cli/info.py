"""``pycti info``: what the cycler said at login, and where it was reached."""

from __future__ import annotations

import enum
import json
import logging
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table

from ..errors import CtiTimeout, UnsupportedCommand
from .common import CyclerOptions, cycler_command, out_console, read_every_channel

__all__ = ["register"]

log = logging.getLogger(__name__)


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
    ("server_version", "Server version"),
    ("software_version", "Software version"),
    ("machine_type", "Machine type"),
    ("allow_control", "Control allowed"),
    ("user_type", "User type"),
    ("note", "Note"),
    ("location", "Location"),
    ("emergency_contact", "Emergency contact"),
    ("other_comments", "Other comments"),
    ("email", "E-mail"),
    ("call", "Phone"),
)


# Asked with a command of its own, which an older server may not know.
_QUERIED = frozenset({"software_version", "machine_type"})

T = TypeVar("T")


def _if_supported(query: Callable[[], T]) -> T | None:
    """``query()``, or None when the server answers that it does not know the command, or
    (as a server that ignores unknown commands does) does not answer it at all."""
    try:
        return query()
    except (UnsupportedCommand, CtiTimeout) as exc:
        log.debug("not shown: %s", exc)
        return None


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
    server version, whether control is allowed, contact details), the server's software
    version and machine type, and the connection used. A query the server does not support
    shows as "not supported" (null in JSON)."""
    address = options.address()
    credentials = options.credentials()
    with options.connect() as client:
        login = client.login_info
        # The file port answers a login too: a read of the channels tells a control port.
        read_every_channel(client, address)
        software = _if_supported(client.server_software_version)
        machine = _if_supported(client.machine_type)
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
        "server_version": login.server_version.name,
        "software_version": software,
        "machine_type": machine.name if machine is not None else None,
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
        if value is None and key in _QUERIED:
            value = "not supported"
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
