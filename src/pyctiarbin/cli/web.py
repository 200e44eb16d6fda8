"""``pycti web``: the lab dashboard over the logger's database (a thin layer over
:mod:`pyctiarbin.web`)."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer

from .common import LOGGER_DB_HELP, CliError, ConfigOption, database_option

__all__ = ["register"]


def web(
    db: Annotated[str | None, database_option(LOGGER_DB_HELP)] = None,
    config_path: ConfigOption = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: the whole network).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=0, max=65535)
    ] = 8050,
    allow_control: Annotated[
        bool,
        typer.Option(
            "--allow-control",
            help="Let logged-in users (the [web.users] of --config) start, stop, resume and set "
            "MVs from the channel page. Without it the dashboard is read-only.",
        ),
    ] = False,
    duration: Annotated[
        float | None,
        typer.Option("--duration", help="Stop after this many seconds.", min=0.0, metavar="S"),
    ] = None,
    hash_password: Annotated[
        bool,
        typer.Option(
            "--hash-password",
            help="Ask for a password (not echoed) and print the line for [web.users.NAME].",
        ),
    ] = False,
) -> None:
    """Serve the lab dashboard: fleet, channel plots, alerts; control only with --allow-control.

    Everything the pages need is served by this process (no internet access needed).
    Ctrl-C stops it.
    """
    if hash_password:
        from ..web.auth import hash_password as make_hash

        first = getpass.getpass("password: ")
        if first != getpass.getpass("again: "):
            raise CliError("the two passwords differ")
        try:
            typer.echo(f'password = "{make_hash(first)}"')
        except ValueError as exc:
            raise CliError(str(exc)) from None
        return
    if db is None:
        raise CliError("--db URL is required (sqlite:///lab.db or postgresql://...)")
    try:
        from ..web import WebSettings, serve
    except ImportError as exc:
        raise CliError(str(exc)) from None
    settings = WebSettings(
        db,
        config_path=Path(config_path) if config_path is not None else None,
        allow_control=allow_control,
    )
    if allow_control:
        from ..web.auth import load_web_config

        try:
            users = load_web_config(settings.config_path).users
        except ValueError as exc:
            raise CliError(str(exc)) from None
        if not users:
            raise CliError(
                "--allow-control needs users: add [web.users.NAME] to the --config file "
                "(see pycti web --hash-password)"
            )
    try:
        serve(
            settings,
            host=host,
            port=port,
            duration_s=duration,
            on_ready=lambda url: typer.echo(f"pycti web: serving {url}", err=True),
        )
    except (FileNotFoundError, ValueError) as exc:
        raise CliError(str(exc)) from None
    except KeyboardInterrupt:
        pass


def register(app: typer.Typer) -> None:
    """Add ``pycti web`` to ``app``."""
    app.command("web")(web)
