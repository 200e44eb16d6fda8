"""``pycti sim``: run a simulated cycler (the same as ``python -m pyctiarbin.simulator``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..protocol.codes import ServerVersion
from ..shared import DEFAULT_PORT
from .common import CliError, ExitCode, seconds_option

if TYPE_CHECKING:
    from ..simulator.config import SimulatorConfig

__all__ = ["register"]

_FAULTS = "Fault injection (for testing clients)"


def _fault_count(flag: str, help_text: str, minimum: int) -> Any:
    # A fault option that counts something (requests, frames, bytes): N, at least ``minimum``.
    return typer.Option(flag, help=help_text, min=minimum, metavar="N", rich_help_panel=_FAULTS)


def sim(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[
        int,
        typer.Option("--port", help="CTI control port (0: any free port).", min=0, max=65535),
    ] = DEFAULT_PORT,
    file_port: Annotated[
        int | None,
        typer.Option(
            "--file-port",
            help="CTI file port (0: any free port). Default: --port + 1 (9031 -> 9032), any "
            "free port when --port is 0.",
            min=0,
            max=65535,
            show_default=False,
        ),
    ] = None,
    no_file_port: Annotated[
        bool, typer.Option("--no-file-port", help="Serve no file commands.")
    ] = False,
    channels: Annotated[
        int, typer.Option("--channels", help="Number of IV channels.", min=1, max=65535)
    ] = 16,
    users: Annotated[
        str | None,
        typer.Option(
            "--users",
            help=(
                "USER:PASS,... that may log in. Other users of this machine can see command "
                "lines: prefer ARBIN_CTI_USERNAME/ARBIN_CTI_PASSWORD or --env-file. Default: "
                "those, else admin:admin."
            ),
            metavar="USER:PASS,...",
        ),
    ] = None,
    env_file: Annotated[
        Path | None,
        typer.Option(
            "--env-file",
            help="A .env file with ARBIN_CTI_USERNAME/ARBIN_CTI_PASSWORD (default: ./.env).",
            metavar="FILE",
        ),
    ] = None,
    speed: Annotated[
        float,
        typer.Option("--speed", help="Simulated seconds per real second (60: a minute a second)."),
    ] = 1.0,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            help="Folder of the file commands; user schedules go in ROOT/Work (default: a "
            "temporary folder, removed at exit).",
            file_okay=False,
            metavar="DIR",
        ),
    ] = None,
    answer_all: Annotated[
        bool,
        typer.Option(
            "--answer-all",
            help="Answer a one-channel status request with every channel, as MITS 10 does.",
        ),
    ] = False,
    serial_number: Annotated[
        str | None,
        typer.Option(
            "--serial-number",
            help="Serial number reported at login (default: SIM and the control port, SIM09031: "
            "simulators side by side differ).",
            show_default=False,
        ),
    ] = None,
    memory_budget: Annotated[
        float,
        typer.Option(
            "--memory-budget",
            help="Most memory (MiB) all clients together may make the simulator hold in "
            "partial frames and unfinished uploads; beyond it the connection is closed, or the "
            "upload refused with result 2.",
            min=0.0,
            metavar="MIB",
        ),
    ] = 128.0,
    login_timeout: Annotated[
        float,
        seconds_option(
            "--login-timeout",
            "Close a connection that has not logged in within this many seconds (0: never).",
            minimum=0.0,
        ),
    ] = 30.0,
    latency: Annotated[
        float,
        typer.Option(
            "--latency",
            help="Seconds to wait before each answer.",
            min=0.0,
            rich_help_panel=_FAULTS,
        ),
    ] = 0.0,
    drop_after: Annotated[
        int | None,
        _fault_count("--drop-after", "Close a connection after answering N requests.", 0),
    ] = None,
    corrupt_every: Annotated[
        int | None,
        _fault_count("--corrupt-every", "Send every N-th frame with a wrong checksum.", 1),
    ] = None,
    split_writes: Annotated[
        int | None,
        _fault_count(
            "--split-writes", "Send answers in pieces of N bytes (separate TCP writes).", 1
        ),
    ] = None,
    stray_bytes: Annotated[
        int, _fault_count("--stray-bytes", "Send N garbage bytes after each frame.", 0)
    ] = 0,
    silent: Annotated[
        bool,
        typer.Option("--silent", help="Read requests, never answer.", rich_help_panel=_FAULTS),
    ] = False,
    server_version: Annotated[
        str,
        typer.Option(
            "--server-version",
            help="Answer as this server version (the login reports it): Pro7, Pro8, Pro8_2, "
            "MitsX_1..MitsX_8, SPTT (MitsX_SPTT), Pro7_MVUD, TY_Pro7_2..4, TY_Pro8_1/2/4, "
            "TY_Pro8_SPTT, ZY_Pro8_GX. Newer versions are sent VLS, JSON or resume-by-MV "
            "variants; commands a version lacks are answered with UNKNOWN_CODE_FEEDBACK.",
            metavar="NAME",
        ),
    ] = "Pro8",
    cells: Annotated[
        list[str] | None,
        typer.Option(
            "--cell",
            help="Cell of every channel: a preset (nmc, lfp) or a TOML file; CH=NAME|FILE sets"
            " one channel's (1-based). Repeatable.",
        ),
    ] = None,
) -> None:
    """Run a simulated Arbin cycler serving CTI until Ctrl-C: schedules, cell model, files,
    fault injection. Prints its ports (useful with --port 0) and where its users came from."""
    from ..simulator import PortBindError, config_from_options, run
    from ..simulator.runner import describe_port_error

    config, source = config_from_options(
        host=host,
        port=port,
        file_port=file_port,
        no_file_port=no_file_port,
        channels=channels,
        users=users,
        env_file=env_file,
        speed=speed,
        root=root,
        answer_all=answer_all,
        serial_number=serial_number,
        memory_budget_mib=memory_budget,
        login_timeout=login_timeout,
        latency=latency,
        drop_after=drop_after,
        corrupt_every=corrupt_every,
        split_writes=split_writes,
        stray_bytes=stray_bytes,
        silent=silent,
    )
    try:
        config = dataclasses.replace(config, server_version=ServerVersion.from_name(server_version))
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--server-version") from exc
    if cells:
        config = _with_cells(config, cells)
    try:
        run(config, users_source=source)
    except PortBindError as exc:
        message = describe_port_error(exc, file_port_given=file_port is not None)
        raise CliError(message, ExitCode.CONNECTION) from exc
    except OSError as exc:
        raise CliError(
            f"cannot start the simulator on {host}: {exc.strerror or exc}", ExitCode.CONNECTION
        ) from exc


def _with_cells(config: SimulatorConfig, specs: list[str]) -> SimulatorConfig:
    from ..simulator.cell import load_cell_parameters

    default = config.cell
    per_channel = dict(config.channel_cells)
    for spec in specs:
        channel_text, equals, cell_spec = spec.partition("=")
        try:
            if equals and channel_text.strip().isdigit():
                per_channel[int(channel_text)] = load_cell_parameters(cell_spec.strip())
            else:
                default = load_cell_parameters(spec.strip())
        except (ValueError, OSError) as exc:
            raise typer.BadParameter(str(exc), param_hint="--cell") from exc
    try:
        return dataclasses.replace(config, cell=default, channel_cells=per_channel)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--cell") from exc


def register(app: typer.Typer) -> None:
    """Add ``pycti sim`` to ``app``."""
    app.command("sim")(sim)
