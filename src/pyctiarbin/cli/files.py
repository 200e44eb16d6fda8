"""``pycti files ls|get|put|mkdir|rm``: the cycler's files over the CTI file port (9032).

Remote paths are relative to the MITS folders CTI exposes and may use ``/`` or ``\\``;
schedules live in ``Work``. Transfers show a progress bar on a terminal (stderr).
"""

from __future__ import annotations

import contextlib
import enum
import json
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text

from ..status_formats import plain_table
from .common import CliError, CyclerOptions, cycler_command, err_console, group_app, out_console

__all__ = ["register"]

_SEPARATORS = re.compile(r"[\\/]+")
DEFAULT_FOLDER = "Work"


class ListFormat(str, enum.Enum):
    """Output formats of ``pycti files ls``."""

    TABLE = "table"
    JSON = "json"


def _remote_name(remote: str) -> str:
    parts = [part for part in _SEPARATORS.split(remote) if part]
    if not parts:
        raise CliError(f"remote path {remote!r} names no file")
    return parts[-1]


@contextlib.contextmanager
def _progress(
    description: str, total_bytes: int | None
) -> Iterator[Callable[[int, int, int], None]]:
    """A progress callback for the client's file transfers: a Rich bar on a terminal."""
    console = err_console()
    if not console.is_terminal:
        yield lambda done, count, size: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(description, total=total_bytes)

        def update(chunks_done: int, chunk_count: int, bytes_done: int) -> None:
            if total_bytes is None and chunks_done:
                # Downloads announce chunks, not bytes: estimate from the chunks so far.
                progress.update(task, total=bytes_done * chunk_count // chunks_done)
            progress.update(task, completed=bytes_done)

        yield update


def _done(message: str) -> None:
    # Outcome lines go to stdout, except when stdout carries the file itself.
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def ls(
    options: CyclerOptions,
    path: Annotated[
        str,
        typer.Argument(help="Remote folder to list (default: Work, where schedules live)."),
    ] = DEFAULT_FOLDER,
    fmt: Annotated[
        ListFormat,
        typer.Option(
            "--format",
            "-f",
            help="table: for people; json: a list of {name, type, size_bytes, modified}.",
            case_sensitive=False,
        ),
    ] = ListFormat.TABLE,
) -> None:
    """List a folder on the cycler."""
    with contextlib.closing(options.client()) as client:
        entries = client.files.browse(path)
    entries.sort(key=lambda entry: (not entry.is_dir, entry.name.lower()))
    if fmt is ListFormat.JSON:
        records = [
            {
                "name": entry.name,
                "type": "dir" if entry.is_dir else "file",
                "size_bytes": None if entry.is_dir else entry.size,
                "modified": entry.modified,
            }
            for entry in entries
        ]
        _done(json.dumps(records, ensure_ascii=False, indent=2))
        return
    headers = ("Type", "Name", "Size", "Modified")
    rows = [
        ("dir" if e.is_dir else "file", e.name, "" if e.is_dir else str(e.size), e.modified)
        for e in entries
    ]
    console = out_console()
    if console.is_terminal:
        table = Table(title=path, title_justify="left", header_style="bold")
        for header in headers:
            table.add_column(header, justify="right" if header == "Size" else "left")
        for row in rows:
            table.add_row(*(Text(cell) for cell in row))
        console.print(table)
    elif rows:
        _done(plain_table(headers, rows))


def get(
    options: CyclerOptions,
    remote: Annotated[str, typer.Argument(help="Remote file, e.g. Work/CCCV_Charge.sdx.")],
    local: Annotated[
        str | None,
        typer.Argument(
            help="Local file or folder to write (default: the remote file's name, here); "
            "'-' writes the bytes to stdout.",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite the local file if it exists.")
    ] = False,
) -> None:
    """Download a file from the cycler (each chunk checked by MD5)."""
    to_stdout = local == "-"
    target = Path(local) if local is not None and not to_stdout else Path(_remote_name(remote))
    if not to_stdout:
        if local is not None and local.endswith(("/", "\\")) and not target.is_dir():
            raise CliError(f"local folder {local} does not exist")
        if target.is_dir():
            target = target / _remote_name(remote)
        if target.exists() and not force:
            raise CliError(f"{target} exists; add --force to overwrite it")
    with (
        contextlib.closing(options.client()) as client,
        _progress(f"get {remote}", None) as progress,
    ):
        data = client.files.download(remote, progress=progress)
    if to_stdout:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    target.write_bytes(data)
    _done(f"downloaded {remote} to {target} ({len(data)} bytes)")


def put(
    options: CyclerOptions,
    local: Annotated[
        Path,
        typer.Argument(help="Local file to upload.", exists=True, dir_okay=False, readable=True),
    ],
    remote: Annotated[
        str | None,
        typer.Argument(
            help="Remote path (default: Work/<local file name>); a path ending in / or \\ is "
            "a folder the file goes into.",
        ),
    ] = None,
) -> None:
    """Upload a file to the cycler (e.g. a schedule into Work)."""
    if remote is None:
        remote = f"{DEFAULT_FOLDER}/{local.name}"
    elif remote.endswith(("/", "\\")):
        remote = remote + local.name
    data = local.read_bytes()
    with (
        contextlib.closing(options.client()) as client,
        _progress(f"put {local.name}", len(data)) as progress,
    ):
        client.files.upload(remote, data, progress=progress)
    _done(f"uploaded {local} to {remote} ({len(data)} bytes)")


def mkdir(
    options: CyclerOptions,
    remote: Annotated[str, typer.Argument(help="Remote folder to create, e.g. Work/Project1.")],
) -> None:
    """Create a folder on the cycler."""
    with contextlib.closing(options.client()) as client:
        client.files.make_dir(remote)
    _done(f"created {remote}")


def rm(
    options: CyclerOptions,
    remote: Annotated[
        str,
        typer.Argument(
            help="Remote file (.sdx, .sdu, .can, .smb or .txt only) or folder to delete."
        ),
    ],
) -> None:
    """Delete a file or a folder on the cycler."""
    with contextlib.closing(options.client()) as client:
        client.files.delete(remote)
    _done(f"deleted {remote}")


def register(app: typer.Typer) -> None:
    """Add the ``files`` group to ``app``."""
    files_app = group_app("files", "Files on the cycler, over the CTI file port (default 9032).")
    files_app.command("ls")(cycler_command(ls))
    files_app.command("get")(cycler_command(get))
    files_app.command("put")(cycler_command(put))
    files_app.command("mkdir")(cycler_command(mkdir))
    files_app.command("rm")(cycler_command(rm))
    app.add_typer(files_app, name="files")
