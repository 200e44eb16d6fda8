"""Running the simulator as a program: ``python -m pyctiarbin.simulator`` and ``pycti sim``.

:func:`run` blocks until Ctrl-C (or SIGTERM), printing where it listens and where its
credentials came from. :func:`build_arg_parser` / :func:`config_from_args` map the ``pycti sim``
options of DESIGN.md onto :class:`SimulatorConfig`; :func:`config_from_options` does the same
from plain keyword values, for a CLI built with another argument library.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import TextIO

from ..shared import DEFAULT_PORT
from .config import DEFAULT_PASSWORD, DEFAULT_USERNAME, Faults, SimulatorConfig, resolve_users
from .lifecycle import Simulator
from .listener import PortBindError

__all__ = [
    "build_arg_parser",
    "config_from_args",
    "config_from_options",
    "describe_port_error",
    "main",
    "run",
]


def _file_port(port: int, file_port: int | None, no_file_port: bool) -> int | None:
    if no_file_port:
        return None
    if file_port is not None:
        return file_port
    if port == 0:
        return 0
    if port >= 0xFFFF:
        raise ValueError(
            f"--port {port} leaves no port for files (default: --port + 1): give --file-port"
        )
    return port + 1


def describe_port_error(exc: PortBindError, *, file_port_given: bool) -> str:
    """One line saying which option chose the port that could not be bound, and what to do.

    ``file_port_given`` tells whether ``--file-port`` was on the command line (else the file
    port was ``--port + 1``).
    """
    why = exc.strerror or "cannot be bound"
    if exc.role == "file":
        option = f"--file-port {exc.port}" + ("" if file_port_given else " (default: --port + 1)")
        hint = "give another --file-port (0: any free port), or --no-file-port"
    else:
        option, hint = f"--port {exc.port}", "give another --port (0: any free port)"
    return f"{option} on {exc.host}: {why}; {hint}"


def config_from_options(
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    file_port: int | None = None,
    no_file_port: bool = False,
    channels: int = 16,
    users: str | None = None,
    env_file: str | os.PathLike[str] | None = None,
    speed: float = 1.0,
    root: str | os.PathLike[str] | None = None,
    answer_all: bool = False,
    serial_number: str | None = None,
    memory_budget_mib: float = 128.0,
    login_timeout: float = 30.0,
    latency: float = 0.0,
    drop_after: int | None = None,
    corrupt_every: int | None = None,
    split_writes: int | None = None,
    stray_bytes: int = 0,
    silent: bool = False,
) -> tuple[SimulatorConfig, str]:
    """The configuration for the ``pycti sim`` options, and where the users came from.

    The file port is ``file_port``, else ``port + 1`` (9031 -> 9032; 0 when ``port`` is 0), or
    none with ``no_file_port``. Without ``serial_number`` the serial is derived from the bound
    control port (``SIM09031``; see :class:`~.config.SimulatorConfig`).
    ``users`` is ``USER:PASS,...``; without it the users come from ``ARBIN_CTI_USERNAME`` /
    ``ARBIN_CTI_PASSWORD`` in the environment, then from ``env_file`` (default ``./.env``),
    then ``admin:admin`` (see :func:`~.config.resolve_users`). ``memory_budget_mib`` is the
    budget of partial frames and unfinished uploads in MiB; ``login_timeout`` the seconds a
    connection may stay without a LOGIN (0: no limit).

    Raises:
        ValueError: if an option is malformed or out of range.
    """
    user_map, source = resolve_users(users, env_path=env_file)
    faults = Faults(
        latency_s=latency,
        drop_after_frames=drop_after,
        corrupt_checksum_every=corrupt_every,
        split_writes=split_writes,
        stray_bytes=stray_bytes,
        silent=silent,
    )
    config = SimulatorConfig(
        host=host,
        port=port,
        file_port=_file_port(port, file_port, no_file_port),
        channels=channels,
        users=user_map,
        speed=speed,
        root=root,
        answer_all=answer_all,
        serial_number=serial_number,
        faults=faults,
        memory_budget_bytes=_mib_to_bytes(memory_budget_mib),
        login_timeout_s=login_timeout if login_timeout > 0 else None,
    )
    return config, source


def _mib_to_bytes(mib: float) -> int:
    if not (mib >= 0 and mib * 1024 * 1024 < 2**62):  # also refuses NaN
        raise ValueError(f"the memory budget must be a number of MiB >= 0, got {mib!r}")
    return int(mib * 1024 * 1024)


def build_arg_parser(prog: str = "python -m pyctiarbin.simulator") -> argparse.ArgumentParser:
    """The argument parser of the ``pycti sim`` form in DESIGN.md."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a simulated Arbin cycler that serves CTI (MITS Pro-like).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help="control port (0: any free port)"
    )
    parser.add_argument(
        "--file-port",
        type=int,
        help="file-command port (default: --port + 1, any free port when --port is 0)",
    )
    parser.add_argument("--no-file-port", action="store_true", help="serve no file commands")
    parser.add_argument("--channels", type=int, default=16, help="number of IV channels")
    parser.add_argument(
        "--users",
        help="USER:PASS,... (default: ARBIN_CTI_USERNAME/PASSWORD from the environment or "
        ".env, else admin:admin)",
    )
    parser.add_argument("--env-file", help="the .env file to read credentials from")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second"
    )
    parser.add_argument(
        "--root",
        help="directory of the file commands; user schedules go in ROOT/Work "
        "(default: a temporary directory removed at exit)",
    )
    parser.add_argument(
        "--answer-all",
        action="store_true",
        help="answer a one-channel status request with every channel, as MITS 10 does",
    )
    parser.add_argument(
        "--serial-number",
        help="cycler serial number (default: SIM and the control port, e.g. SIM09031)",
    )
    parser.add_argument(
        "--memory-budget",
        type=float,
        default=128.0,
        metavar="MIB",
        help="most memory (MiB) all clients together may make the simulator hold in partial "
        "frames and unfinished uploads; beyond it the connection is closed or the upload "
        "refused (default 128)",
    )
    parser.add_argument(
        "--login-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="close a connection that has not logged in within this time (0: never; default 30)",
    )
    faults = parser.add_argument_group("fault injection (for testing clients)")
    faults.add_argument("--latency", type=float, default=0.0, help="seconds before each answer")
    faults.add_argument(
        "--drop-after", type=int, help="drop a connection after answering N requests"
    )
    faults.add_argument(
        "--corrupt-every", type=int, help="corrupt the checksum of every N-th frame sent"
    )
    faults.add_argument("--split-writes", type=int, help="send answers in pieces of N bytes")
    faults.add_argument(
        "--stray-bytes", type=int, default=0, help="N garbage bytes after each frame"
    )
    faults.add_argument("--silent", action="store_true", help="never answer")
    return parser


def config_from_args(args: argparse.Namespace) -> tuple[SimulatorConfig, str]:
    """The configuration for parsed arguments of :func:`build_arg_parser`.

    Raises:
        ValueError: if an option is malformed or out of range.
    """
    return config_from_options(
        host=args.host,
        port=args.port,
        file_port=args.file_port,
        no_file_port=args.no_file_port,
        channels=args.channels,
        users=args.users,
        env_file=args.env_file,
        speed=args.speed,
        root=args.root,
        answer_all=args.answer_all,
        serial_number=args.serial_number,
        memory_budget_mib=args.memory_budget,
        login_timeout=args.login_timeout,
        latency=args.latency,
        drop_after=args.drop_after,
        corrupt_every=args.corrupt_every,
        split_writes=args.split_writes,
        stray_bytes=args.stray_bytes,
        silent=args.silent,
    )


def _describe_users(config: SimulatorConfig, source: str | None) -> str:
    users = dict(config.users)
    if users == {DEFAULT_USERNAME: DEFAULT_PASSWORD}:
        return (
            f"users: {DEFAULT_USERNAME}:{DEFAULT_PASSWORD} (default; set --users or "
            "ARBIN_CTI_USERNAME/ARBIN_CTI_PASSWORD)"
        )
    names = ", ".join(sorted(users))
    return f"users: {names} (from {source or 'the configuration'}; passwords not shown)"


def run(
    config: SimulatorConfig | None = None,
    *,
    users_source: str | None = None,
    out: TextIO | None = None,
) -> None:
    """Run a simulator until Ctrl-C or SIGTERM, printing its ports and credentials source.

    The password is printed only for the default ``admin:admin``.

    Raises:
        OSError: if a port cannot be bound.
    """
    stream = sys.stdout if out is None else out
    simulator = Simulator(config)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        with contextlib.suppress(NotImplementedError, AttributeError, ValueError):
            loop.add_signal_handler(signal.SIGTERM, stop.set)
        async with simulator:
            cfg = simulator.config
            files = (
                f"{simulator.host}:{simulator.file_port}"
                if simulator.file_port is not None
                else "off"
            )
            lines = [
                f"pycti-arbin simulator: {cfg.channels} channels, serial {cfg.serial_number}, "
                f"speed {cfg.speed:g}x",
                f"control port: {simulator.host}:{simulator.port}",
                f"file port: {files}",
                f"root: {simulator.root} (user schedules in {simulator.work_dir})",
                _describe_users(cfg, users_source),
                f"server version: {cfg.server_version.name}",
            ]
            if cfg.faults.active:
                lines.append(f"faults: {cfg.faults}")
            lines.append("press Ctrl-C to stop")
            print("\n".join(lines), file=stream, flush=True)
            await stop.wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    print("simulator stopped", file=stream, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m pyctiarbin.simulator``; returns the exit code."""
    parser = build_arg_parser()
    args = parser.parse_args(argv)
    try:
        config, source = config_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        run(config, users_source=source)
    except PortBindError as exc:
        message = describe_port_error(exc, file_port_given=args.file_port is not None)
        print(f"error: {message}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
