"""The pieces every ``pycti`` command shares: the Typer application, the cycler and credential
options, channel selection, confirmation, consoles, and how errors become exit codes.

Command modules import from here and register their commands with ``register(app)``.

Exit codes (stable, documented in docs/cli.md):

==  ==========================================================================================
0   success
1   the cycler refused (a control command on at least one channel, a file command)
2   usage or configuration error: bad option, unknown cycler name, no credentials, bad file
3   cannot talk to the cycler: connection refused or lost, timeout, unreadable answer
4   the cycler refused the login (wrong user name or password, no CTI permission)
70  internal error (a bug: run again with ``--debug`` and report the traceback)
130 interrupted (Ctrl-C), or a confirmation was declined
==  ==========================================================================================
"""

# No ``from __future__ import annotations`` here: the shared options are built as real
# ``Annotated`` objects and spliced into command signatures at run time (see cycler_command).

import contextlib
import enum
import functools
import inspect
import logging
import os
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Concatenate, ParamSpec, TypeVar, cast

import typer
from rich.console import Console

from ..config import (
    CONFIG_ENV_VAR,
    ConfigError,
    CyclerAddress,
    LabConfig,
    default_file_port,
    host_ports,
    load_lab_config,
    resolve_cycler,
    resolve_lab_credentials,
)
from ..credentials import Credentials
from ..errors import (
    CommandRejected,
    CtiConnectionError,
    CtiError,
    CtiTimeout,
    EncodeError,
    LoginError,
    ProtocolError,
    UnexpectedFeedback,
)
from ..shared import DEFAULT_PORT, ChannelSpecError, parse_channel_spec

if TYPE_CHECKING:
    from ..client import ChannelStatus, CyclerClient
    from ..logger import CyclerSpec

__all__ = [
    "CONNECTION_PANEL",
    "LOGGER_DB_HELP",
    "MULTI_CYCLER_PANEL",
    "AllOption",
    "ChannelsOption",
    "CliError",
    "ConfigOption",
    "CyclerOptions",
    "DurationOption",
    "EnvFileOption",
    "ExitCode",
    "UserOption",
    "YesOption",
    "channel_target",
    "confirm_whole_cycler",
    "create_app",
    "cycler_command",
    "cycler_specs",
    "cyclers_option",
    "database_option",
    "describe_error",
    "err_console",
    "group_app",
    "not_a_control_port_hint",
    "optional_lab_config",
    "out_console",
    "parse_channels",
    "read_every_channel",
    "seconds_option",
    "settings",
    "usage_errors",
]

log = logging.getLogger("pyctiarbin.cli")

P = ParamSpec("P")
R = TypeVar("R")

CONNECTION_PANEL = "Cycler and credentials"
DEBUG_ENV_VAR = "PYCTI_DEBUG"


class ExitCode(enum.IntEnum):
    """The exit codes of ``pycti`` (see the module docstring)."""

    OK = 0
    REFUSED = 1
    USAGE = 2
    CONNECTION = 3
    LOGIN = 4
    INTERNAL = 70
    INTERRUPTED = 130


class CliError(Exception):
    """An error the command reports in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.exit_code = int(exit_code)


@dataclass
class Settings:
    """Process-wide settings from the root options (one ``pycti`` run is one process)."""

    debug: bool = False


settings = Settings(debug=os.environ.get(DEBUG_ENV_VAR, "") not in ("", "0"))


# ------------------------------------------------------------------------------------------
# Consoles: Rich on a terminal, plain text otherwise.


def out_console() -> Console:
    """A console on stdout. Not a terminal: no colours, no wrapping (lines stay whole)."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=100_000, no_color=True)
    return console


def err_console() -> Console:
    """A console on stderr (progress bars, prompts, notes)."""
    return Console(stderr=True, highlight=False)


# ------------------------------------------------------------------------------------------
# Errors


def describe_error(exc: BaseException) -> tuple[int, str]:
    """The exit code and the one-line message for an error that ends a command."""
    if isinstance(exc, CliError):
        return exc.exit_code, str(exc)
    if isinstance(exc, LoginError):
        return ExitCode.LOGIN, f"login refused: {exc}"
    if isinstance(exc, CtiTimeout):
        return ExitCode.CONNECTION, f"timeout: {exc}"
    if isinstance(exc, CtiConnectionError):
        return ExitCode.CONNECTION, f"connection failed: {exc}"
    if isinstance(exc, (ProtocolError, UnexpectedFeedback)):
        return ExitCode.CONNECTION, f"the cycler's answer could not be understood: {exc}"
    if isinstance(exc, CommandRejected):
        return ExitCode.REFUSED, str(exc)
    if isinstance(exc, EncodeError):
        # A value that cannot go on the wire is the caller's mistake, not the connection's.
        return ExitCode.USAGE, f"invalid argument: {exc}"
    if isinstance(exc, CtiError):
        return ExitCode.CONNECTION, str(exc)
    if isinstance(exc, ConfigError):
        return ExitCode.USAGE, str(exc)
    if isinstance(exc, ValueError):
        return ExitCode.USAGE, f"invalid argument: {exc}"
    if isinstance(exc, OSError):
        where = f" {exc.filename}" if exc.filename else ""
        return ExitCode.USAGE, f"{exc.strerror or exc}{':' if where else ''}{where}"
    return ExitCode.INTERNAL, (
        f"internal error: {type(exc).__name__}: {exc} (run 'pycti --debug ...' for the traceback)"
    )


@contextlib.contextmanager
def usage_errors(*kinds: type[Exception]) -> Iterator[None]:
    """Inside this block, an error of ``kinds`` (a bad rules or plan file: the message names
    the file and the entry) ends the command as a usage error, with its message as it is.

    Raises CliError (usage) in place of those errors.
    """
    try:
        yield
    except kinds as exc:
        raise CliError(str(exc), ExitCode.USAGE) from None


def optional_lab_config(path: Path | None) -> LabConfig | None:
    """The lab config file at ``path`` (``--config``), or None when none is given.

    Raises ConfigError if it cannot be loaded.
    """
    return load_lab_config(path) if path is not None else None


# ------------------------------------------------------------------------------------------
# The application


# The settings of the application and of every command group: plain help, no shell
# completion, no pretty tracebacks, and a callback when called bare.
_APP_SETTINGS: Mapping[str, Any] = MappingProxyType(
    {
        "add_completion": False,
        "pretty_exceptions_enable": False,
        "rich_markup_mode": None,
        "invoke_without_command": True,
    }
)


def _typer_app(name: str, help_text: str) -> typer.Typer:
    # -h as well as --help; each application gets its own context settings (click keeps them).
    context_settings = {"help_option_names": ["-h", "--help"]}
    return typer.Typer(
        name=name, help=help_text, context_settings=context_settings, **_APP_SETTINGS
    )


def _help_when_bare(ctx: typer.Context) -> None:
    if ctx.invoked_subcommand is None:
        typer.echo(ctx.get_help())
        raise typer.Exit(0)


def create_app() -> typer.Typer:
    """The root ``pycti`` application, without commands (see ``pyctiarbin.cli.build_app``)."""
    app = _typer_app(
        "pycti",
        "Arbin cyclers over CTI from a terminal: channel status, test control, files, "
        "logging, alerts, plans, the dashboard, schedule dry runs and a simulator. "
        "Exit codes: 0 ok, 1 refused by the cycler, 2 usage or "
        "configuration error, 3 connection/timeout, 4 login refused, 130 interrupted.",
    )

    @app.callback()
    def root(
        ctx: typer.Context,
        debug: Annotated[
            bool,
            typer.Option(
                "--debug",
                help=f"Show tracebacks and debug logs on stderr (or set {DEBUG_ENV_VAR}=1).",
            ),
        ] = False,
        version: Annotated[
            bool, typer.Option("--version", help="Print the pycti-arbin version and exit.")
        ] = False,
    ) -> None:
        """Arbin cyclers over CTI from a terminal."""
        if debug:
            settings.debug = True
        logging.basicConfig(
            level=logging.DEBUG if settings.debug else logging.WARNING,
            format="%(levelname)s %(name)s: %(message)s",
        )
        if version:
            from .. import __version__

            typer.echo(f"pycti-arbin {__version__}")
            raise typer.Exit(0)
        _help_when_bare(ctx)

    return app


def group_app(name: str, help_text: str) -> typer.Typer:
    """A sub-command group (``pycti files ...``) that prints its help when called bare."""
    group = _typer_app(name, help_text)

    @group.callback()
    def show_help(ctx: typer.Context) -> None:
        _help_when_bare(ctx)

    show_help.__doc__ = help_text
    return group


def seconds_option(flag: str, help_text: str, *, minimum: float, panel: str | None = None) -> Any:
    """A ``typer.Option`` for a duration in seconds of at least ``minimum``."""
    return typer.Option(flag, help=help_text, min=minimum, metavar="SECONDS", rich_help_panel=panel)


# ------------------------------------------------------------------------------------------
# Cycler and credential options


@dataclass(frozen=True)
class CyclerOptions:
    """The cycler and credential options of a command, as given."""

    cycler: str | None = None
    host: str | None = None
    port: int | None = None
    file_port: int | None = None
    config_path: Path | None = None
    env_file: Path | None = None
    user: str | None = None
    timeout_s: float = 10.0

    @functools.cached_property
    def config(self) -> LabConfig | None:
        """The lab config file, if one was given (``--config`` or PYCTI_CONFIG).

        Raises ConfigError if it cannot be loaded.
        """
        return optional_lab_config(self.config_path)

    def address(self) -> CyclerAddress:
        """The cycler to talk to.

        Raises CliError (usage) when none or two conflicting ones are given; ConfigError for
        an unknown name or a malformed spec.
        """
        if self.cycler is not None and self.host is not None:
            raise CliError("give the cycler either with --cycler or with --host, not both")
        if self.host is not None:
            env_port, env_file_port = host_ports()
            port = self.port if self.port is not None else env_port
            if self.file_port is not None:
                file_port = self.file_port
            elif self.port is not None:
                file_port = default_file_port(port)
            else:
                file_port = env_file_port
            return CyclerAddress(self.host, port, file_port)
        elif self.cycler is not None:
            address = resolve_cycler(self.cycler, self.config)
        else:
            config = self.config
            if config is not None and len(config.cyclers) == 1:
                address = next(iter(config.cyclers.values()))
            else:
                names = ", ".join(sorted(config.cyclers)) if config is not None else ""
                hint = f" (the config names {names})" if names else ""
                raise CliError(
                    "which cycler? give --host HOST [--port PORT], or --cycler NAME|HOST:PORT"
                    + hint
                )
        return CyclerAddress(
            address.host,
            self.port if self.port is not None else address.port,
            self.file_port if self.file_port is not None else address.file_port,
            address.name,
        )

    def credentials(self) -> Credentials:
        """The credentials to log in with (see config.resolve_lab_credentials).

        Raises ConfigError when none are found or a named env file is missing.
        """
        return resolve_lab_credentials(self.config, username=self.user, env_file=self.env_file)

    def client(self) -> "CyclerClient":
        """A client for the cycler (not connected yet).

        Raises CliError/ConfigError as address() and credentials() do.
        """
        from ..client import CyclerClient

        address = self.address()
        credentials = self.credentials()
        log.debug("cycler %s, credentials from %s", address, credentials.source)
        return CyclerClient(
            address.host,
            address.port,
            file_port=address.file_port,
            username=credentials.username,
            password=credentials.password,
            timeout=self.timeout_s,
            retries=1,
        )

    @contextlib.contextmanager
    def connect(self) -> Iterator["CyclerClient"]:
        """A connected, logged-in client, closed at the end.

        Raises CtiConnectionError, CtiTimeout or LoginError when connecting fails.
        """
        client = self.client()
        with client:
            if client.login_info.num_channels == 0:
                raise CliError(
                    f"{self.address()} logged in but reports no channels: "
                    + not_a_control_port_hint(self.address()),
                    ExitCode.CONNECTION,
                )
            yield client


def not_a_control_port_hint(address: CyclerAddress) -> str:
    """Why a cycler may answer without channels, and what to check."""
    return (
        f"is {address.port} its CTI control port? (MITS listens on {DEFAULT_PORT} for control "
        "and on the next port for files; give the control port with --port)"
    )


def read_every_channel(client: "CyclerClient", address: CyclerAddress) -> list["ChannelStatus"]:
    """Every channel of the cycler, read in one request.

    Raises CliError (connection) when the answer holds no channel, as the file port or
    something else than a CTI control port answers.
    """
    from ..protocol import AuxOptions

    statuses = client.read_channels(None, aux=int(AuxOptions.AUX))
    if not statuses:
        raise CliError(
            f"{address} answered a read of every channel with no channel: "
            + not_a_control_port_hint(address),
            ExitCode.CONNECTION,
        )
    return statuses


def _option(annotation: Any, *decls: str, help_text: str, **extra: Any) -> Any:
    return Annotated[
        annotation, typer.Option(*decls, help=help_text, rich_help_panel=CONNECTION_PANEL, **extra)
    ]


def _positive(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise typer.BadParameter("must be a positive number of seconds")
    return value


_CONNECTION_PARAMETERS: tuple[inspect.Parameter, ...] = tuple(
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, default, annotation in (
        (
            "cycler",
            None,
            _option(
                str | None,
                "--cycler",
                help_text=(
                    "The cycler: a NAME from the config file, HOST:PORT, or NAME=HOST:PORT. "
                    "Default: the only cycler of the config file."
                ),
                metavar="CYCLER",
            ),
        ),
        (
            "host",
            None,
            _option(
                str | None,
                "--host",
                help_text="Host name or IP address of the cycler.",
                metavar="HOST",
            ),
        ),
        (
            "port",
            None,
            _option(
                int | None,
                "--port",
                help_text=(
                    "CTI control port of the cycler (default 9031; with --host, $PYCTI_PORT)."
                ),
                min=1,
                max=65535,
                metavar="PORT",
            ),
        ),
        (
            "file_port",
            None,
            _option(
                int | None,
                "--file-port",
                help_text=(
                    "CTI file port of the cycler (default: the control port + 1, so 9032; with "
                    "--host alone, $PYCTI_FILE_PORT when set)."
                ),
                min=1,
                max=65535,
                metavar="PORT",
            ),
        ),
        (
            "config_path",
            None,
            _option(
                Path | None,
                "--config",
                help_text=(
                    "Lab config file (TOML) naming cyclers and where credentials are "
                    f"(default: ${CONFIG_ENV_VAR})."
                ),
                envvar=CONFIG_ENV_VAR,
                metavar="FILE",
            ),
        ),
        (
            "env_file",
            None,
            _option(
                Path | None,
                "--env-file",
                help_text=(
                    "A .env file with ARBIN_CTI_USERNAME and ARBIN_CTI_PASSWORD (default: "
                    "./.env when present). The environment variables win over it."
                ),
                metavar="FILE",
            ),
        ),
        (
            "user",
            None,
            _option(
                str | None,
                "--user",
                help_text=(
                    "CTI user name (the password always comes from the environment, an env "
                    "file or the config file, never from the command line)."
                ),
                metavar="NAME",
            ),
        ),
        (
            "timeout_s",
            10.0,
            _option(
                float,
                "--timeout",
                help_text="Seconds to wait for the cycler to connect and answer.",
                callback=_positive,
                metavar="SECONDS",
            ),
        ),
    )
)
_CONNECTION_NAMES = frozenset(p.name for p in _CONNECTION_PARAMETERS)


def cycler_command(
    func: Callable[Concatenate[CyclerOptions, P], R],
) -> Callable[P, R]:
    """Give a command the shared cycler and credential options.

    The decorated function takes a :class:`CyclerOptions` first, then its own parameters; the
    command line gets its own options plus ``--cycler --host --port --file-port --config
    --env-file --user --timeout`` (in their own help panel).
    """
    signature = inspect.signature(func, eval_str=True)
    own = list(signature.parameters.values())[1:]
    clash = _CONNECTION_NAMES & {p.name for p in own}
    if clash:
        raise TypeError(f"{func.__name__}: parameters {sorted(clash)} clash with shared options")

    @functools.wraps(func)
    def command(**kwargs: Any) -> R:
        shared = {name: kwargs.pop(name) for name in _CONNECTION_NAMES}
        body = cast(Callable[..., R], func)
        return body(CyclerOptions(**shared), **kwargs)

    parameters = [*own, *_CONNECTION_PARAMETERS]
    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {
        **{p.name: p.annotation for p in parameters},
        "return": signature.return_annotation,
    }
    del command.__wrapped__
    return cast(Callable[P, R], command)


# ------------------------------------------------------------------------------------------
# Options of the commands that work on several cyclers at once (log, alerts, plan)

MULTI_CYCLER_PANEL = "Cyclers and credentials"

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help=f"Lab config file (TOML) naming cyclers and credentials (default: ${CONFIG_ENV_VAR}).",
        envvar=CONFIG_ENV_VAR,
        metavar="FILE",
        rich_help_panel=MULTI_CYCLER_PANEL,
    ),
]
EnvFileOption = Annotated[
    Path | None,
    typer.Option(
        "--env-file",
        help="A .env file with ARBIN_CTI_USERNAME and ARBIN_CTI_PASSWORD.",
        metavar="FILE",
        rich_help_panel=MULTI_CYCLER_PANEL,
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        help="CTI user name (never the password).",
        metavar="NAME",
        rich_help_panel=MULTI_CYCLER_PANEL,
    ),
]


#: The help of ``--db`` for the commands that read what ``pycti log`` wrote.
LOGGER_DB_HELP = "The logger database: sqlite:///lab.db or postgresql://..."


def database_option(
    help_text: str = "Database URL: sqlite:///path.db or postgresql://...",
    *,
    panel: str | None = None,
) -> Any:
    """The ``--db URL`` option (``sqlite:///...`` or ``postgresql://...``)."""
    return typer.Option("--db", help=help_text, metavar="URL", rich_help_panel=panel)


def cyclers_option(verb: str) -> Any:
    """The ``--cycler`` option of a command run on several cyclers; ``verb`` says what it does to
    each one (``"log"``, ``"watch"``). :func:`cycler_specs` reads its values."""
    return typer.Option(
        "--cycler",
        help=f"A cycler to {verb}: [NAME=]HOST:PORT, or a NAME from the config file. Repeat it. "
        "Default: every cycler of the config file.",
        metavar="[NAME=]HOST:PORT",
        rich_help_panel=MULTI_CYCLER_PANEL,
    )


DurationOption = Annotated[
    float | None,
    seconds_option(
        "--duration",
        "Stop after this many seconds (default: run until Ctrl-C or SIGTERM).",
        minimum=0.0,
    ),
]


def cycler_specs(
    cyclers: Sequence[str] | None,
    config: LabConfig | None,
    env_file: Path | None,
    user: str | None,
) -> "list[CyclerSpec]":
    """The cyclers a multi-cycler command works on (``--cycler`` values, else every cycler of
    the config file), each with the credentials and the name rules and rows use.

    Raises CliError or ConfigError (usage errors) for no cycler, a bad spec or no credentials.
    """
    from ..logger import CyclerSpec

    if cyclers:
        addresses = [resolve_cycler(text, config) for text in cyclers]
    elif config is not None and config.cyclers:
        addresses = list(config.cyclers.values())
    else:
        raise CliError(
            "which cyclers? give --cycler [NAME=]HOST:PORT (repeat it), or --config FILE "
            "naming them"
        )
    credentials = resolve_lab_credentials(config, username=user, env_file=env_file)
    return [
        CyclerSpec(
            address.name or f"{address.host}_{address.port}".replace(":", "_"),
            address.host,
            address.port,
            username=credentials.username,
            password=credentials.password,
        )
        for address in addresses
    ]


# ------------------------------------------------------------------------------------------
# Channels

ChannelsOption = Annotated[
    list[str] | None,
    typer.Option(
        "--channel",
        "-c",
        help=(
            "Channel number as MITS shows it (1-based); repeat it, or give ranges and lists: "
            "-c 1 -c 4, -c 1-8, -c 1,3,5."
        ),
        metavar="N|A-B",
    ),
]
AllOption = Annotated[
    bool, typer.Option("--all", help="Every channel of the cycler (asks for confirmation).")
]
YesOption = Annotated[
    bool,
    typer.Option("--yes", "-y", help="Do not ask for confirmation of whole-cycler actions."),
]


def parse_channels(values: Sequence[str] | None) -> list[int]:
    """Channel numbers from ``--channel`` values (``3``, ``1-8``, ``1,3,5``), sorted, unique.

    Raises CliError (usage) for anything else.
    """
    channels: set[int] = set()
    for value in values or ():
        if not value.strip(" ,"):
            continue
        try:
            channels |= parse_channel_spec(value, what=f"--channel {value!r}")
        except ChannelSpecError as exc:
            raise CliError(str(exc)) from None
    return sorted(channels)


def channel_target(values: Sequence[str] | None, every: bool) -> list[int] | None:
    """The channels of ``--channel`` / ``--all``: a list, or None for every channel.

    Raises CliError (usage) when neither or both are given.
    """
    channels = parse_channels(values)
    if every and channels:
        raise CliError("give either --channel or --all, not both")
    if not every and not channels:
        raise CliError("which channels? give --channel N (repeat it, or a range A-B) or --all")
    return None if every else channels


def confirm_whole_cycler(action: str, address: CyclerAddress, yes: bool) -> None:
    """Ask before ``action`` runs on every channel, unless ``yes``.

    Raises CliError (usage) when there is no terminal to ask on, and typer.Abort (exit 130)
    when the user declines.
    """
    if yes:
        return
    if not sys.stdin.isatty():
        raise CliError(
            f"{action} on every channel of {address} needs confirmation: add --yes "
            "(there is no terminal to ask on)"
        )
    typer.confirm(f"{action} on every channel of {address}?", abort=True, err=True)
